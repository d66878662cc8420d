"""Train/validation/test splits of a ratings frame."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.models.base import check_ratings


def leave_last_out(
    ratings: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per user by time: last rating -> test, second-to-last -> valid, rest -> train.

    Each user's ratings are ordered by timestamp with a stable sort (ties keep file
    order). Users with fewer than 3 ratings stay entirely in train. The three
    frames come back in that per-user time order with a fresh index.
    """
    check_ratings(ratings)
    ordered = ratings.sort_values(["user_id", "timestamp"], kind="stable")
    from_end = ordered.groupby("user_id", sort=False).cumcount(ascending=False)
    size = ordered.groupby("user_id", sort=False)["movie_id"].transform("size")
    eligible = size >= 3
    test = ordered[eligible & (from_end == 0)]
    valid = ordered[eligible & (from_end == 1)]
    train = ordered[~eligible | (from_end >= 2)]
    return tuple(f.reset_index(drop=True) for f in (train, valid, test))


def random_split(
    ratings: pd.DataFrame, test_fraction: float = 0.1, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out a random `test_fraction` of rows; both parts keep file order.

    Users or movies that end up only in the test part are kept there: models skip
    what they do not know and the metrics count such rows separately.
    """
    check_ratings(ratings, need_timestamp=False)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    n_test = round(len(ratings) * test_fraction)
    is_test = np.zeros(len(ratings), dtype=bool)
    is_test[rng.permutation(len(ratings))[:n_test]] = True
    return (
        ratings[~is_test].reset_index(drop=True),
        ratings[is_test].reset_index(drop=True),
    )
