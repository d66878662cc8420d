"""Baselines the neural models must beat: popularity, item-item k-NN, EASE, biases.

The three ranking baselines share one interface with the GRU: `fit(ratings)`,
`movie_ids`, `score(history)` (a numpy array aligned with `movie_ids`) and
`recommend(history, k, exclude)`. k-NN and EASE also score many histories at once
with `score_many`, which the evaluation uses to run quickly.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

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


def _check_history(history: object) -> list[int]:
    """A history as a list of movie ids; a mapping counts by its keys."""
    if isinstance(history, (str, bytes)) or not isinstance(history, Iterable):
        raise ModelError(
            f"history must be a sequence of movie ids, got {type(history).__name__}"
        )
    return list(history)


class _ItemItemRecommender:
    """Shared parts of the item-item baselines: the binary user x movie matrix,
    history lookup and ranking. Subclasses implement `_fit_weights`, `score_many`."""

    _weights_attr = "_index"

    def __init__(self) -> None:
        self._index: MovieIndex | None = None
        self.training_metrics: dict = {}

    @property
    def movie_ids(self) -> np.ndarray:
        require_fitted(self, self._weights_attr)
        return self._index.movie_ids

    def fit(self, ratings: pd.DataFrame, **_: object) -> _ItemItemRecommender:
        """Fit on who rated what; the rating values themselves are ignored."""
        check_ratings(ratings, need_timestamp=False)
        start = time.perf_counter()
        index = MovieIndex(ratings["movie_id"].to_numpy())
        pairs = pd.DataFrame(
            {
                "user": pd.factorize(ratings["user_id"])[0],
                "movie": index.indices(ratings["movie_id"].to_numpy()),
            }
        ).drop_duplicates()
        users, movies = pairs["user"].to_numpy(), pairs["movie"].to_numpy()
        self._fit_weights(users, movies, int(users.max()) + 1, len(index))
        self._index = index
        self.training_metrics = {
            "n_users": int(users.max()) + 1,
            "n_movies": len(index),
            "n_ratings": len(pairs),
            "fit_seconds": round(time.perf_counter() - start, 2),
        }
        logger.info(
            "%s fitted in %.1fs on %d users, %d movies",
            type(self).__name__,
            self.training_metrics["fit_seconds"],
            self.training_metrics["n_users"],
            len(index),
        )
        return self

    def _fit_weights(
        self, users: np.ndarray, movies: np.ndarray, n_users: int, n_movies: int
    ) -> None:
        """Learn the weights from the cells (users[i], movies[i]) of X that are 1."""
        raise NotImplementedError

    def score_many(self, histories: Sequence[Iterable[int]]) -> np.ndarray:
        raise NotImplementedError

    def _history_cells(
        self, histories: Sequence[Iterable[int]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(row, movie index) of every known movie of every history, deduplicated.

        Unknown ids are skipped with one warning for the whole batch.
        """
        require_fitted(self, self._weights_attr)
        lists = [_check_history(h) for h in histories]
        ids = np.fromiter((int(m) for h in lists for m in h), dtype=np.int64)
        rows = np.repeat(np.arange(len(lists)), [len(h) for h in lists])
        pos = np.minimum(self._index.indices(ids), len(self._index) - 1)
        known = self._index.movie_ids[pos] == ids
        if not known.all():
            unknown = np.unique(ids[~known])
            logger.warning(
                "skipped %d movie id(s) in history that the model never saw in "
                "training: %s",
                len(unknown),
                ", ".join(map(str, unknown[:10].tolist())),
            )
        cells = np.unique(rows[known] * len(self._index) + pos[known])
        return cells // len(self._index), cells % len(self._index)

    def score(self, history: Iterable[int] = ()) -> np.ndarray:
        """Score of every movie in `movie_ids` given one history."""
        return self.score_many([_check_history(history)])[0]

    def recommend(
        self, history: Iterable[int], k: int = 10, exclude: Iterable[int] = ()
    ) -> list[tuple[int, float]]:
        """The k best-scored movies outside the history and `exclude`, best first."""
        history = _check_history(history)
        scores = self.score(history)
        return topk_items(
            scores, self._index.movie_ids, self._index, k, [*history, *exclude]
        )


def _gram(
    users: np.ndarray, movies: np.ndarray, n_movies: int, chunk: int = 2048
) -> np.ndarray:
    """X^T X of the binary user x movie matrix X, dense float32 (n_movies, n_movies).

    Built a block of users at a time so X is never dense in full. Counts are exact
    in float32 up to 2^24 users. Memory is 4 n_movies^2 bytes: 0.4 GB for the 9.7k
    movies of ml-latest-small; catalogues above about 25k movies need a sparse
    implementation, which these baselines do not have.
    """
    gram = np.zeros((n_movies, n_movies), dtype=np.float32)
    order = np.argsort(users, kind="stable")
    users, movies = users[order], movies[order]
    bounds = np.searchsorted(users, np.arange(0, users.max() + 1 + chunk, chunk))
    for lo, hi in itertools.pairwise(bounds):
        if lo == hi:
            continue
        block_users = users[lo:hi] - users[lo]
        block = np.zeros((block_users[-1] + 1, n_movies), dtype=np.float32)
        block[block_users, movies[lo:hi]] = 1.0
        gram += block.T @ block
    return gram


@dataclass
class ItemKNNConfig:
    """Defaults: best HR@10 on the leave-last-out validation item of ml-latest-small
    among neighbours 20/30/50/75/100/200 x shrink 0/10 (within noise of the rest)."""

    neighbours: int = 50  # most similar movies kept per movie
    shrink: float = 0.0  # added to the cosine denominator; damps rare co-occurrence

    def __post_init__(self) -> None:
        n = self.neighbours
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(
                f"ItemKNNConfig.neighbours must be a positive integer, got {n!r}"
            )
        if not self.shrink >= 0:
            raise ValueError(f"ItemKNNConfig.shrink must be >= 0, got {self.shrink}")


class ItemKNNRecommender(_ItemItemRecommender):
    """Item-item k-NN on the binary user x movie matrix (Deshpande & Karypis 2004,
    "Item-based top-N recommendation algorithms", ACM TOIS 22(1)).

    sim(i, j) = |U_i & U_j| / (sqrt(|U_i| |U_j|) + shrink), the cosine of the two
    movies' user sets; each movie keeps its `neighbours` most similar movies. A
    movie's score is the sum of its similarities from the history's movies:
    score(j) = sum over i in history of sim_kept(i, j). `score` returns these sums
    aligned with `movie_ids`.
    """

    _weights_attr = "_neighbours"

    def __init__(self, config: ItemKNNConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else ItemKNNConfig()
        if not isinstance(self.config, ItemKNNConfig):
            raise ModelError(
                f"expected an ItemKNNConfig, got {type(self.config).__name__}; "
                "build one with ItemKNNConfig(...)"
            )
        self._neighbours: np.ndarray | None = None  # (n_movies, K) movie indices
        self._similarity: np.ndarray | None = None  # (n_movies, K) cosine

    def _fit_weights(
        self, users: np.ndarray, movies: np.ndarray, n_users: int, n_movies: int
    ) -> None:
        gram, n, chunk = _gram(users, movies, n_movies), n_movies, 1024
        keep = min(self.config.neighbours, max(n - 1, 1))
        norms = np.sqrt(np.diag(gram)).astype(np.float32)  # (n,)
        neighbours = np.zeros((n, keep), dtype=np.int32)
        similarity = np.zeros((n, keep), dtype=np.float32)
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            sim = gram[lo:hi] / (norms[lo:hi, None] * norms[None] + self.config.shrink)
            sim[np.arange(hi - lo), np.arange(lo, hi)] = 0.0  # a movie is not its own
            top = np.argpartition(-sim, keep - 1, axis=1)[:, :keep]  # (b, K)
            neighbours[lo:hi] = top
            similarity[lo:hi] = np.take_along_axis(sim, top, axis=1)
        self._neighbours, self._similarity = neighbours, similarity

    def score_many(
        self, histories: Sequence[Iterable[int]], batch: int = 256
    ) -> np.ndarray:
        """Scores (len(histories), n_movies), row i for history i."""
        if len(histories) > batch:  # bounds the (cells, K) temporaries below
            parts = [
                self.score_many(histories[lo : lo + batch], batch)
                for lo in range(0, len(histories), batch)
            ]
            return np.concatenate(parts)
        rows, cols = self._history_cells(histories)
        n = len(self._index)
        targets = rows[:, None] * n + self._neighbours[cols]  # (cells, K)
        flat = np.bincount(
            targets.ravel(),
            weights=self._similarity[cols].ravel(),
            minlength=len(histories) * n,
        )
        return flat.reshape(len(histories), n)


@dataclass
class EASEConfig:
    """Default l2: best HR@10 on the leave-last-out validation item of
    ml-latest-small among 10..4000. It grows with the data (Steck used 500 and more
    on ML-20M) and with longer histories: retune it for another data set."""

    l2: float = 50.0  # lambda: L2 penalty on the item-item weights
    dtype: str = "float64"  # precision of the inverse; "float32" is about 2x faster

    def __post_init__(self) -> None:
        if not self.l2 > 0:
            raise ValueError(f"EASEConfig.l2 must be positive, got {self.l2}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(
                f"EASEConfig.dtype must be 'float32' or 'float64', got {self.dtype!r}"
            )


class EASERecommender(_ItemItemRecommender):
    """EASE, a linear item-item autoencoder with a closed form (Steck 2019,
    "Embarrassingly Shallow Autoencoders for Sparse Data", WWW, arXiv:1905.03375).

    On the binary user x movie matrix X: P = (X^T X + l2 I)^-1 and
    B = I - P diag(1 / diag(P)), so diag(B) = 0 and no movie predicts itself.
    `score` returns x_history @ B aligned with `movie_ids`.
    """

    _weights_attr = "_weights"

    def __init__(self, config: EASEConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else EASEConfig()
        if not isinstance(self.config, EASEConfig):
            raise ModelError(
                f"expected an EASEConfig, got {type(self.config).__name__}; "
                "build one with EASEConfig(...)"
            )
        self._weights: np.ndarray | None = None  # B, (n_movies, n_movies) float32

    @property
    def weights(self) -> np.ndarray:
        """B, rows and columns aligned with `movie_ids`."""
        require_fitted(self, "_weights")
        return self._weights

    def _fit_weights(
        self, users: np.ndarray, movies: np.ndarray, n_users: int, n_movies: int
    ) -> None:
        dtype, l2 = getattr(torch, self.config.dtype), self.config.l2
        if n_users < n_movies:
            # Woodbury: (X^T X + l2 I)^-1 = (I - X^T (X X^T + l2 I)^-1 X) / l2, which
            # inverts a users x users matrix instead (610 vs 9.7k on ml-latest-small).
            x = torch.zeros(n_users, n_movies, dtype=dtype)  # (U, n)
            x[torch.tensor(users), torch.tensor(movies)] = 1.0
            k = x @ x.T  # (U, U)
            k.diagonal().add_(l2)
            p = x.T @ torch.cholesky_solve(x, torch.linalg.cholesky(k))  # (n, n)
            del x
            p.neg_().diagonal().add_(1.0)
            p.div_(l2)
        else:
            g = torch.from_numpy(_gram(users, movies, n_movies)).to(dtype)  # (n, n)
            g.diagonal().add_(l2)
            p = torch.linalg.inv(g)  # (n, n), symmetric
            del g
        p.div_(p.diagonal().clone()[None, :]).neg_()  # B_ij = -P_ij / P_jj
        p.diagonal().zero_()
        self._weights = p.to(torch.float32).numpy()

    def score_many(self, histories: Sequence[Iterable[int]]) -> np.ndarray:
        """Scores (len(histories), n_movies), row i for history i.

        Sums the rows of B of each history's movies, as `score` does for one.
        """
        rows, cols = self._history_cells(histories)
        out = np.zeros((len(histories), len(self._index)), dtype=np.float64)
        starts = np.searchsorted(rows, np.arange(len(histories) + 1))
        for row, (lo, hi) in enumerate(itertools.pairwise(starts)):
            if hi > lo:
                out[row] = self._weights[cols[lo:hi]].sum(axis=0, dtype=np.float64)
        return out


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
