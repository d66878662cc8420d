"""Ranking and rating metrics, and the two evaluation protocols.

Next-movie protocol: any model with `recommend(history, k, exclude)` (the GRU,
the popularity baseline) is asked for its top k among ALL movies minus the ones
the user has already seen (full ranking, no sampled negatives).

Rating protocol: any model with `predict_pairs(user_ids, movie_ids)` (the bias
baseline), `predict(ratings, movie_ids)` (the autoencoder) or a plain function
`fn(user_id, known_ratings, movie_ids) -> sequence of ratings`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from recommender.errors import ModelError

logger = logging.getLogger(__name__)


class Ranker(Protocol):
    def recommend(
        self, history: Sequence[int], k: int = 10, exclude: Sequence[int] = ()
    ) -> list[tuple[int, float]]: ...


def hit_rate_at_k(ranks: Sequence[float], k: int = 10) -> float:
    """Share of targets ranked within the top k (ranks are 1-based, inf = missed)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        raise ValueError("hit_rate_at_k needs at least one rank, got none")
    return float(np.mean(ranks <= k))


def ndcg_at_k(ranks: Sequence[float], k: int = 10) -> float:
    """Mean NDCG@k with one relevant item per target: 1/log2(rank + 1) if rank <= k."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        raise ValueError("ndcg_at_k needs at least one rank, got none")
    gains = np.zeros_like(ranks)
    hit = ranks <= k
    gains[hit] = 1.0 / np.log2(ranks[hit] + 1.0)
    return float(gains.mean())


def rmse(predicted: Sequence[float], actual: Sequence[float]) -> float:
    """Root mean squared error between two equally long sequences."""
    predicted = np.asarray(predicted, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if predicted.shape != actual.shape or predicted.size == 0:
        raise ValueError(
            "rmse needs two non-empty sequences of the same length, got "
            f"{predicted.shape} and {actual.shape}"
        )
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def user_sequences(ratings: pd.DataFrame) -> dict[int, list[int]]:
    """Each user's movie ids ordered by timestamp (stable: ties keep file order)."""
    ordered = ratings.sort_values(["user_id", "timestamp"], kind="stable")
    return {
        int(u): g.tolist()
        for u, g in ordered.groupby("user_id", sort=False)["movie_id"]
    }


def evaluate_next_movie(
    model: Ranker,
    train: pd.DataFrame | Mapping[int, Sequence[int]],
    test: pd.DataFrame,
    k: int = 10,
) -> dict[str, float]:
    """HR@k and NDCG@k of each test (user, movie) against a full ranking.

    `train` gives each user's history: a ratings frame (ordered by timestamp) or
    a mapping user id -> ordered movie ids. Seen movies are excluded from the
    ranking. Returns {"hr@k", "ndcg@k", "n_users", "n_targets"}.
    """
    histories = user_sequences(train) if isinstance(train, pd.DataFrame) else train
    ranks = []
    for user, targets in test.groupby("user_id", sort=True)["movie_id"]:
        history = list(histories.get(int(user), []))
        recs = [m for m, _ in model.recommend(history, k=k, exclude=history)]
        position = {m: i + 1 for i, m in enumerate(recs)}
        ranks.extend(position.get(int(t), np.inf) for t in targets)
    if not ranks:
        raise ValueError("evaluate_next_movie got an empty test frame")
    result = {
        f"hr@{k}": hit_rate_at_k(ranks, k),
        f"ndcg@{k}": ndcg_at_k(ranks, k),
        "n_users": int(test["user_id"].nunique()),
        "n_targets": len(ranks),
    }
    logger.info("next-movie evaluation of %s: %s", type(model).__name__, result)
    return result


def evaluate_rating(
    model: Any | Callable[[int, dict[int, float], list[int]], Sequence[float]],
    train: pd.DataFrame,
    test: pd.DataFrame,
) -> dict[str, float]:
    """RMSE on test ratings whose user and movie both appear in `train`.

    Rows with a user or movie unseen in `train` are left out for every model
    alike (counted in "n_cold"); users the model refuses (ModelError, e.g. too
    few ratings) are counted in "n_refused". Returns {"rmse", "n_ratings",
    "n_cold", "n_refused"}.
    """
    warm = test["user_id"].isin(train["user_id"]) & test["movie_id"].isin(
        train["movie_id"]
    )
    rows = test[warm]
    if rows.empty:
        raise ValueError("no test rating has both its user and movie in train")
    if hasattr(model, "predict_pairs"):
        preds = np.asarray(model.predict_pairs(rows["user_id"], rows["movie_id"]))
        actual, refused = rows["rating"].to_numpy(), 0
    else:
        known_by_user = {
            int(u): dict(zip(g["movie_id"].tolist(), g["rating"].tolist(), strict=True))
            for u, g in train[train["user_id"].isin(rows["user_id"])].groupby("user_id")
        }
        preds, actual, refused = [], [], 0
        for user, group in rows.groupby("user_id", sort=True):
            movies = group["movie_id"].tolist()
            known = known_by_user[int(user)]
            try:
                if hasattr(model, "predict"):
                    got = model.predict(known, movie_ids=movies)
                    values = [got[m] for m in movies]
                else:
                    values = list(model(int(user), known, movies))
            except ModelError:
                refused += len(group)
                continue
            preds.extend(values)
            actual.extend(group["rating"].tolist())
    result = {
        "rmse": rmse(preds, actual),
        "n_ratings": len(actual),
        "n_cold": int((~warm).sum()),
        "n_refused": refused,
    }
    logger.info("rating evaluation of %s: %s", type(model).__name__, result)
    return result
