"""Baselines the neural models must beat: popularity ranking and rating biases."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.errors import ModelError
from recommender.models.base import (
    MovieIndex,
    check_ratings,
    fit_biases,
    require_fitted,
    topk_items,
)

logger = logging.getLogger(__name__)


class PopularityRecommender:
    """Recommends the most-rated movies the person has not seen yet.

    `score` returns a numpy array aligned with `movie_ids`: each movie's number of
    ratings in the training data, whatever the history.
    """

    def __init__(self) -> None:
        self._counts: np.ndarray | None = None
        self._index: MovieIndex | None = None

    @property
    def movie_ids(self) -> np.ndarray:
        require_fitted(self, "_counts")
        return self._index.movie_ids

    def fit(self, ratings: pd.DataFrame, **_: object) -> PopularityRecommender:
        check_ratings(ratings, need_timestamp=False)
        movies = ratings["movie_id"].to_numpy()
        self._index = MovieIndex(movies)
        self._counts = np.bincount(
            self._index.indices(movies), minlength=len(self._index)
        ).astype(np.float64)
        logger.info("popularity baseline fitted on %d ratings", len(ratings))
        return self

    def score(self, history: Sequence[int] = ()) -> np.ndarray:
        require_fitted(self, "_counts")
        return self._counts.copy()

    def recommend(
        self, history: Sequence[int], k: int = 10, exclude: Iterable[int] = ()
    ) -> list[tuple[int, float]]:
        require_fitted(self, "_counts")
        return topk_items(
            self._counts, self._index.movie_ids, self._index, k, [*history, *exclude]
        )


@dataclass
class BiasConfig:
    reg_user: float = 10.0  # shrinks user biases towards zero (ratings' worth)
    reg_item: float = 3.0  # shrinks movie biases towards zero (ratings' worth)
    sweeps: int = 10  # alternating least-squares sweeps over users then movies

    def __post_init__(self) -> None:
        if self.reg_user < 0 or self.reg_item < 0:
            raise ValueError(
                f"BiasConfig regularisation must be >= 0, got reg_user="
                f"{self.reg_user}, reg_item={self.reg_item}"
            )
        if not isinstance(self.sweeps, int) or self.sweeps < 1:
            raise ValueError(f"BiasConfig.sweeps must be >= 1, got {self.sweeps!r}")


class BiasBaseline:
    """Predicts mean + user bias + movie bias (Koren 2008, sec. 2.1).

    Unknown users or movies get a zero bias; predictions are clipped to 0.5..5.
    """

    def __init__(self, config: BiasConfig | None = None) -> None:
        self.config = config if config is not None else BiasConfig()
        self.global_mean: float | None = None
        self._user_bias: dict[int, float] = {}
        self._movie_bias: dict[int, float] = {}

    def fit(self, ratings: pd.DataFrame, **_: object) -> BiasBaseline:
        check_ratings(ratings, need_timestamp=False)
        users, u_idx = np.unique(ratings["user_id"].to_numpy(), return_inverse=True)
        movies, m_idx = np.unique(ratings["movie_id"].to_numpy(), return_inverse=True)
        cfg = self.config
        mu, b_u, b_i = fit_biases(
            u_idx,
            m_idx,
            ratings["rating"].to_numpy(dtype=np.float64),
            len(users),
            len(movies),
            reg_user=cfg.reg_user,
            reg_item=cfg.reg_item,
            sweeps=cfg.sweeps,
        )
        self.global_mean = mu
        self._user_bias = dict(zip(users.tolist(), b_u.tolist(), strict=True))
        self._movie_bias = dict(zip(movies.tolist(), b_i.tolist(), strict=True))
        logger.info("bias baseline fitted on %d ratings, mean %.3f", len(ratings), mu)
        return self

    def predict_pairs(
        self, user_ids: Sequence[int], movie_ids: Sequence[int]
    ) -> np.ndarray:
        require_fitted(self, "global_mean")
        user_ids, movie_ids = np.asarray(user_ids), np.asarray(movie_ids)
        if user_ids.shape != movie_ids.shape or user_ids.ndim != 1:
            raise ModelError(
                "predict_pairs needs two 1-d sequences of equal length, got shapes "
                f"{user_ids.shape} and {movie_ids.shape}"
            )
        b_u = np.array([self._user_bias.get(int(u), 0.0) for u in user_ids])
        b_i = np.array([self._movie_bias.get(int(m), 0.0) for m in movie_ids])
        return np.clip(self.global_mean + b_u + b_i, 0.5, 5.0)
