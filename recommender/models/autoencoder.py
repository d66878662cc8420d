"""Rating predictor: a deep autoencoder over each person's vector of ratings.

Kuchaiev & Ginsburg (2017), "Training Deep AutoEncoders for Collaborative
Filtering", arXiv:1708.01715, with one change for small data: the network predicts
the residual on top of a global mean, regularised movie biases and a user bias
computed from the input, and learns to fill in ratings hidden from its input.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from recommender.errors import ModelError
from recommender.models.base import (
    MovieIndex,
    check_finite,
    check_ratings,
    fit_biases,
    load_artifact,
    plain,
    require_fitted,
    save_artifact,
    seeded,
    topk_items,
)

logger = logging.getLogger(__name__)

MIN_RATING, MAX_RATING = 0.5, 5.0


@dataclass
class AutoencoderConfig:
    layers: tuple[int, ...] = (512,)  # encoder widths; the decoder mirrors them
    dropout: float = 0.8  # dropout on the code (the narrowest layer)
    hide: float = 0.25  # share of a user's observed ratings hidden from each input
    visible_weight: float = 0.1  # loss weight of visible ratings (hidden ones: 1)
    refeed: bool = False  # dense re-feeding: also fit f(f(x)) to f(x)
    reg_user: float = 5.0  # shrinkage of the user bias computed from the input
    reg_item: float = 5.0  # shrinkage of the movie biases learned in fit
    batch_size: int = 32  # users per optimiser step
    epochs: int = 30  # passes over all users
    lr: float = 1e-4  # Adam learning rate
    weight_decay: float = 1e-4  # Adam L2 penalty
    min_ratings: int = 5  # known rated movies needed before predict answers
    seed: int = 0  # seeds weight init, dropout, hiding and shuffling

    def __post_init__(self) -> None:
        self.layers = tuple(self.layers)
        if not self.layers or any(
            not isinstance(w, int) or isinstance(w, bool) or w < 1 for w in self.layers
        ):
            raise ValueError(
                "AutoencoderConfig.layers must be a non-empty list of positive "
                f"integers, got {self.layers!r}"
            )
        for name in ("batch_size", "epochs", "min_ratings"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(
                    f"AutoencoderConfig.{name} must be a positive integer, "
                    f"got {value!r}"
                )
        for name in ("dropout", "hide"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(
                    f"AutoencoderConfig.{name} must be in [0, 1), "
                    f"got {getattr(self, name)}"
                )
        for name in ("visible_weight", "reg_user", "reg_item", "weight_decay"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"AutoencoderConfig.{name} must be >= 0, got {getattr(self, name)}"
                )
        if self.hide == 0 and self.visible_weight == 0:
            raise ValueError(
                "AutoencoderConfig: with hide=0 nothing is hidden, so visible_weight "
                "must be > 0 or the loss is empty"
            )
        if not self.lr > 0:
            raise ValueError(f"AutoencoderConfig.lr must be positive, got {self.lr}")
        if not isinstance(self.seed, int):
            raise ValueError(
                f"AutoencoderConfig.seed must be an int, got {self.seed!r}"
            )

    @classmethod
    def from_dict(cls, values: dict) -> AutoencoderConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown AutoencoderConfig fields {unknown}; known: {known}"
            )
        return cls(**values)

    def to_dict(self) -> dict:
        return {**asdict(self), "layers": list(self.layers)}


class AutoencoderNet(nn.Module):
    """SELU encoder -> dropout on the code -> SELU decoder -> linear output."""

    def __init__(self, n_movies: int, config: AutoencoderConfig) -> None:
        super().__init__()
        widths = [n_movies, *config.layers]
        enc = [_layer(a, b) for a, b in itertools.pairwise(widths)]
        dec = [_layer(a, b) for a, b in itertools.pairwise(widths[::-1])]
        enc, dec = [m for pair in enc for m in pair], [m for pair in dec for m in pair]
        self.encoder = nn.Sequential(*enc)
        self.drop = nn.Dropout(config.dropout)
        self.decoder = nn.Sequential(*dec[:-1])  # no SELU on the output residual
        nn.init.zeros_(self.decoder[-1].weight)  # start out as the bias baseline
        nn.init.zeros_(self.decoder[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = self.drop(self.encoder(x))  # (B, layers[-1])
        return self.decoder(code)  # (B, n_movies), residual over the biases


class AutoencoderRecommender:
    """Predicts a person's rating of every known movie from the ratings they gave."""

    def __init__(self, config: AutoencoderConfig | None = None) -> None:
        self.config = config if config is not None else AutoencoderConfig()
        if not isinstance(self.config, AutoencoderConfig):
            raise ModelError(
                f"expected an AutoencoderConfig, got {type(self.config).__name__}; "
                "build one with AutoencoderConfig(...)"
            )
        self._net: AutoencoderNet | None = None
        self._index: MovieIndex | None = None
        self._mean = 0.0
        self._movie_bias: torch.Tensor | None = None
        self.training_metrics: dict = {}

    @property
    def min_ratings(self) -> int:
        return self.config.min_ratings

    @property
    def movie_ids(self) -> np.ndarray:
        require_fitted(self)
        return self._index.movie_ids

    def fit(
        self,
        ratings: pd.DataFrame,
        *,
        progress: bool = False,
        on_epoch: Callable[[int, AutoencoderRecommender], None] | None = None,
    ) -> AutoencoderRecommender:
        """Train on every user's ratings.

        `on_epoch(epoch, model)`, when given, is called after every epoch with the
        model ready to predict (used to follow validation figures while tuning).
        """
        check_ratings(ratings, need_timestamp=False)
        cfg = self.config
        start = time.perf_counter()
        index = MovieIndex(ratings["movie_id"].to_numpy())
        users, u_idx = np.unique(ratings["user_id"].to_numpy(), return_inverse=True)
        m_idx = index.indices(ratings["movie_id"].to_numpy())
        values = ratings["rating"].to_numpy(dtype=np.float64)
        mean, _, b_i = fit_biases(
            u_idx,
            m_idx,
            values,
            len(users),
            len(index),
            reg_user=cfg.reg_user,
            reg_item=cfg.reg_item,
            sweeps=10,
        )
        self._mean, self._movie_bias = mean, torch.tensor(b_i, dtype=torch.float32)
        order = np.argsort(u_idx, kind="stable")
        bounds = np.flatnonzero(np.diff(u_idx[order])) + 1
        rows = [
            (torch.from_numpy(m_idx[o]), torch.tensor(values[o], dtype=torch.float32))
            for o in np.split(order, bounds)
        ]
        logger.info(
            "training autoencoder on %d users, %d movies, %d ratings",
            len(users),
            len(index),
            len(ratings),
        )
        self._index = index
        with seeded(cfg.seed) as rng:
            net = AutoencoderNet(len(index), cfg)
            optim = torch.optim.Adam(
                net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
            )
            losses = []
            for epoch in tqdm(
                range(1, cfg.epochs + 1), desc="AE", unit="epoch", disable=not progress
            ):
                losses.append(self._epoch(net, optim, rows, rng, epoch))
                logger.info("AE epoch %d/%d loss %.4f", epoch, cfg.epochs, losses[-1])
                if on_epoch is not None:
                    self._net = net.eval()
                    with torch.random.fork_rng(devices=[]):
                        on_epoch(epoch, self)
        self._net = net.eval()
        self.training_metrics = plain(
            {
                "final_loss": losses[-1],
                "loss_history": losses,
                "epochs": cfg.epochs,
                "n_users": len(users),
                "n_movies": len(index),
                "n_ratings": len(ratings),
                "global_mean": mean,
                "fit_seconds": round(time.perf_counter() - start, 2),
            }
        )
        logger.info(
            "autoencoder trained in %.1fs, final loss %.4f",
            self.training_metrics["fit_seconds"],
            losses[-1],
        )
        return self

    def _epoch(self, net, optim, rows, rng, epoch: int) -> float:
        cfg = self.config
        net.train()
        order = rng.permutation(len(rows))
        total, count = 0.0, 0
        for step, lo in enumerate(range(0, len(order), cfg.batch_size)):
            batch = [rows[i] for i in order[lo : lo + cfg.batch_size]]
            dense, observed = self._dense(batch)  # (B, n) ratings, (B, n) bool
            hidden = observed & torch.from_numpy(rng.random(dense.shape) < cfg.hide)
            visible = observed & ~hidden
            x, target, _ = self._residuals(dense, visible, observed)
            out = net(x)  # (B, n)
            weight = hidden.float() + cfg.visible_weight * visible.float()
            loss = (weight * (out - target) ** 2).sum() / weight.sum().clamp_min(1e-9)
            if cfg.refeed:
                again = net(out.detach())
                loss = loss + ((again - out.detach()) ** 2).mean()
            check_finite(loss, epoch=epoch, step=step, lr=cfg.lr)
            optim.zero_grad()
            loss.backward()
            optim.step()
            total += loss.item() * len(batch)
            count += len(batch)
        return total / count

    def _dense(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        dense = torch.zeros(len(batch), len(self._index))
        observed = torch.zeros(len(batch), len(self._index), dtype=torch.bool)
        for row, (idx, vals) in enumerate(batch):
            dense[row, idx] = vals
            observed[row, idx] = True
        return dense, observed

    def _residuals(
        self, dense: torch.Tensor, visible: torch.Tensor, observed: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Input residuals (visible only), target residuals, user bias (B, 1)."""
        centred = (dense - self._mean - self._movie_bias) * observed  # (B, n)
        n_visible = visible.sum(1, keepdim=True)  # (B, 1)
        user_bias = (centred * visible).sum(1, keepdim=True) / (
            n_visible + self.config.reg_user
        )  # (B, 1)
        target = (centred - user_bias) * observed
        return target * visible, target, user_bias

    @torch.no_grad()
    def _predict_all(self, ratings: Mapping[int, float]) -> np.ndarray:
        """Clipped predicted rating of every movie in `movie_ids`."""
        require_fitted(self)
        if not isinstance(ratings, Mapping):
            raise ModelError(
                "ratings must map movie id -> rating, got "
                f"{type(ratings).__name__}; e.g. {{318: 5.0, 1: 3.5}}"
            )
        _, idx = self._index.split_known(ratings, what="ratings", log=logger)
        if len(idx) < self.config.min_ratings:
            raise ModelError(
                f"need at least {self.config.min_ratings} rated movies the model "
                f"knows, got {len(idx)}; ask the person to rate more movies"
            )
        known = [m for m in ratings if int(m) in self._index]
        vals = torch.tensor([float(ratings[m]) for m in known], dtype=torch.float32)
        if not torch.isfinite(vals).all() or (vals < 0).any() or (vals > 10).any():
            raise ModelError(
                "ratings must be finite numbers between 0 and 10 (MovieLens uses "
                f"0.5..5), got {vals.tolist()}"
            )
        dense, observed = self._dense([(torch.tensor(idx), vals)])
        x, _, user_bias = self._residuals(dense, observed, observed)
        pred = self._mean + self._movie_bias + user_bias[0] + self._net(x)[0]  # (n,)
        return pred.clamp(MIN_RATING, MAX_RATING).numpy()

    def predict(
        self, ratings: Mapping[int, float], movie_ids: Sequence[int] | None = None
    ) -> dict[int, float]:
        """Predicted rating (0.5..5) per movie; all known movies when movie_ids=None.

        Raises ModelError with fewer than `min_ratings` rated movies the model knows;
        unknown ids in `ratings` or `movie_ids` are skipped with a logged warning.
        """
        pred = self._predict_all(ratings)
        if movie_ids is None:
            return dict(zip(self._index.movie_ids.tolist(), pred.tolist(), strict=True))
        known, idx = self._index.split_known(movie_ids, what="movie_ids", log=logger)
        return {m: float(pred[i]) for m, i in zip(known, idx, strict=True)}

    def recommend(
        self, ratings: Mapping[int, float], k: int = 10, exclude: Iterable[int] = ()
    ) -> list[tuple[int, float]]:
        """The k unrated movies with the highest predicted rating, best first."""
        pred = self._predict_all(ratings)
        return topk_items(
            pred, self._index.movie_ids, self._index, k, [*ratings, *exclude]
        )

    def save(self, path: str | Path) -> None:
        require_fitted(self)
        save_artifact(
            path,
            "autoencoder",
            {
                "config": self.config.to_dict(),
                "state_dict": self._net.state_dict(),
                "movie_ids": torch.from_numpy(self._index.movie_ids),
                "movie_bias": self._movie_bias,
                "global_mean": self._mean,
                "training_metrics": self.training_metrics,
            },
        )

    @classmethod
    def load(cls, path: str | Path) -> AutoencoderRecommender:
        keys = ["config", "state_dict", "movie_ids", "movie_bias", "global_mean"]
        data = load_artifact(path, "autoencoder", [*keys, "training_metrics"])
        model = cls(AutoencoderConfig.from_dict(data["config"]))
        model._index = MovieIndex(data["movie_ids"].tolist())
        net = AutoencoderNet(len(model._index), model.config)
        net.load_state_dict(data["state_dict"])
        model._net = net.eval()
        model._mean = float(data["global_mean"])
        model._movie_bias = data["movie_bias"]
        model.training_metrics = data["training_metrics"]
        return model


def _layer(n_in: int, n_out: int) -> tuple[nn.Module, nn.Module]:
    return nn.Linear(n_in, n_out), nn.SELU()
