"""Pieces every estimator shares: input checks, the movie id index, seeding, saving.

Models work on dense movie indices; `MovieIndex` maps MovieLens movie ids to them
and back, and is stored with the weights so a loaded model answers in movie ids.
Saved files hold only plain types and tensors, so `torch.load(weights_only=True)`
reads them.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from recommender.errors import (
    ArtifactError,
    ModelError,
    NotFittedError,
    TrainingDivergedError,
)

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
RATING_COLUMNS = ("user_id", "movie_id", "rating", "timestamp")


def check_ratings(ratings: pd.DataFrame, *, need_timestamp: bool = True) -> None:
    """Raise ModelError unless `ratings` is a non-empty, NaN-free ratings frame."""
    if not isinstance(ratings, pd.DataFrame):
        raise ModelError(
            f"expected a pandas DataFrame of ratings, got {type(ratings).__name__}; "
            "load ratings.csv with pandas first"
        )
    needed = RATING_COLUMNS if need_timestamp else RATING_COLUMNS[:3]
    missing = [c for c in needed if c not in ratings.columns]
    if missing:
        raise ModelError(
            f"ratings need the columns {list(needed)}, missing {missing} "
            f"(got {list(ratings.columns)}); rename userId->user_id, "
            "movieId->movie_id"
        )
    if ratings.empty:
        raise ModelError("got an empty ratings frame; fit needs at least one rating")
    bad = ratings[list(needed)].isna().any()
    if bad.any():
        raise ModelError(
            f"ratings contain NaN in columns {list(bad[bad].index)}; "
            "drop or repair those rows before fitting"
        )


class MovieIndex:
    """Two-way map between MovieLens movie ids and dense indices 0..n-1."""

    def __init__(self, movie_ids: Iterable[int]) -> None:
        ids = np.unique(np.asarray(list(movie_ids), dtype=np.int64))
        self.movie_ids: np.ndarray = ids
        self._pos = {int(m): i for i, m in enumerate(ids)}

    def __len__(self) -> int:
        return len(self.movie_ids)

    def __contains__(self, movie_id: object) -> bool:
        return movie_id in self._pos

    def index(self, movie_id: int) -> int:
        return self._pos[int(movie_id)]

    def indices(self, movie_ids: np.ndarray) -> np.ndarray:
        """Dense indices of ids that are all known (vectorised)."""
        return np.searchsorted(self.movie_ids, np.asarray(movie_ids, dtype=np.int64))

    def split_known(
        self, movie_ids: Iterable[int], *, what: str, log: logging.Logger | None
    ) -> tuple[list[int], list[int]]:
        """Return (known ids in order, their indices); log a warning for the rest
        (unless ``log`` is None: batch callers sum them up themselves)."""
        known, idx, unknown = [], [], []
        for m in movie_ids:
            pos = self._pos.get(int(m))
            if pos is None:
                unknown.append(int(m))
            else:
                known.append(int(m))
                idx.append(pos)
        if unknown and log is not None:
            shown = ", ".join(map(str, unknown[:10]))
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            log.warning(
                "skipped %d movie id(s) in %s that the model never saw in training: "
                "%s%s",
                len(unknown),
                what,
                shown,
                more,
            )
        return known, idx


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[np.random.Generator]:
    """Seed torch inside a forked RNG state (global state is restored afterwards)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield np.random.default_rng(seed)


def check_finite(loss: torch.Tensor, *, epoch: int, step: int, lr: float) -> None:
    """Raise TrainingDivergedError when the loss is NaN or infinite."""
    if not torch.isfinite(loss).item():
        raise TrainingDivergedError(
            f"training loss became {loss.item()} at epoch {epoch}, batch {step}; "
            f"expected a finite loss. Lower the learning rate (now {lr:g}) or check "
            "the ratings for extreme values"
        )


def topk_items(
    scores: np.ndarray,
    movie_ids: np.ndarray,
    index: MovieIndex,
    k: int,
    exclude: Iterable[int],
) -> list[tuple[int, float]]:
    """The k best (movie id, score) pairs, best first, skipping excluded ids."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ModelError(f"k must be a positive integer, got {k!r}")
    scores = np.asarray(scores, dtype=np.float64).copy()
    drop = [index.index(m) for m in set(map(int, exclude)) if m in index]
    if drop:
        scores[drop] = -np.inf
    available = len(scores) - len(drop)
    k = min(int(k), available)
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.lexsort((top, -scores[top]))]
    return [(int(movie_ids[i]), float(scores[i])) for i in top]


def require_fitted(model: Any, attribute: str = "_net") -> None:
    if getattr(model, attribute, None) is None:
        raise NotFittedError(
            f"{type(model).__name__} is not fitted; call fit(ratings) or "
            f"{type(model).__name__}.load(path) first"
        )


def fit_biases(
    users: np.ndarray,
    items: np.ndarray,
    values: np.ndarray,
    n_users: int,
    n_items: int,
    *,
    reg_user: float,
    reg_item: float,
    sweeps: int,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Global mean plus regularised user and item biases by alternating least squares.

    Minimises sum (r - mu - b_u - b_i)^2 + reg_user |b_u|^2 + reg_item |b_i|^2,
    one closed-form sweep over users then items at a time (Koren 2008, sec. 2.1).
    """
    mu = float(values.mean())
    b_u = np.zeros(n_users)
    b_i = np.zeros(n_items)
    n_u = np.bincount(users, minlength=n_users)
    n_i = np.bincount(items, minlength=n_items)
    for _ in range(sweeps):
        b_i = np.bincount(items, values - mu - b_u[users], n_items) / (n_i + reg_item)
        b_u = np.bincount(users, values - mu - b_i[items], n_users) / (n_u + reg_user)
    return mu, b_u, b_i


def save_artifact(path: str | Path, kind: str, payload: dict[str, Any]) -> None:
    """Write one torch file holding `payload` plus the kind and format version."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"kind": kind, "format_version": FORMAT_VERSION, **payload}, path)
    logger.info("saved %s model to %s", kind, path)


def load_artifact(path: str | Path, kind: str, keys: Sequence[str]) -> dict[str, Any]:
    """Read a file written by `save_artifact`, checking kind, version and keys."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"no model file at {path}; train one with moviebot-train")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ArtifactError(
            f"could not read {path} as a saved {kind} model ({exc}); retrain it"
        ) from exc
    if not isinstance(data, dict) or data.get("kind") != kind:
        got = data.get("kind") if isinstance(data, dict) else type(data).__name__
        raise ArtifactError(f"expected a saved {kind} model in {path}, found {got!r}")
    if data.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{path} has format version {data.get('format_version')!r}, this code "
            f"reads version {FORMAT_VERSION}; retrain the model"
        )
    missing = [k for k in keys if k not in data]
    if missing:
        raise ArtifactError(f"{path} lacks {missing}; retrain the model")
    return data


def plain(value: Any) -> Any:
    """Convert numpy scalars and containers to plain Python types for saving."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
