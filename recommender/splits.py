"""Train/validation/test splits of a ratings frame."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from recommender.models.base import check_ratings

logger = logging.getLogger(__name__)


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


def half_sequence_split(
    ratings: pd.DataFrame,
    test_fraction: float = 0.2,
    valid_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[int, list[int]], dict[int, list[int]]]:
    """Hold out whole users for Devooght & Bersini's half-sequence protocol.

    Users with at least 2 ratings are shuffled with `seed`; the first
    round(n * test_fraction) become test users, the next round(n * valid_fraction)
    validation users, the rest (and every user with fewer than 2 ratings, who cannot
    be cut in two) training users. Returns (the training users' ratings in file
    order, valid sequences, test sequences), a sequence being a held-out user's
    movie ids ordered by timestamp (stable: ties keep file order).

    Movies that no training user rated are dropped from the held-out sequences
    (no model can know them), and a sequence left with fewer than 2 movies is
    dropped too; both are logged. `metrics.evaluate_half_sequences` cuts each
    sequence in half.
    """
    check_ratings(ratings)
    for name, value in (("test", test_fraction), ("valid", valid_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name}_fraction must be in [0, 1), got {value}")
    if not 0.0 < test_fraction + valid_fraction < 1.0:
        raise ValueError(
            "test_fraction + valid_fraction must be in (0, 1), got "
            f"{test_fraction} + {valid_fraction}"
        )
    sizes = ratings.groupby("user_id")["movie_id"].size()
    cuttable = np.sort(sizes.index[sizes >= 2].to_numpy())
    shuffled = np.random.default_rng(seed).permutation(cuttable)
    n_test = round(len(shuffled) * test_fraction)
    n_valid = round(len(shuffled) * valid_fraction)
    test_users = set(shuffled[:n_test].tolist())
    valid_users = set(shuffled[n_test : n_test + n_valid].tolist())

    held_out = ratings["user_id"].isin(test_users | valid_users)
    train = ratings[~held_out].reset_index(drop=True)
    known = ratings["movie_id"].isin(train["movie_id"])
    ordered = ratings[held_out & known].sort_values(
        ["user_id", "timestamp"], kind="stable"
    )
    sequences = {
        int(u): g.tolist()
        for u, g in ordered.groupby("user_id", sort=True)["movie_id"]
        if len(g) >= 2
    }
    logger.info(
        "half-sequence split: %d train users, %d valid, %d test; dropped %d "
        "held-out ratings of movies unseen in training and %d users left too short",
        train["user_id"].nunique(),
        len(valid_users),
        len(test_users),
        int((held_out & ~known).sum()),
        len(test_users | valid_users) - len(sequences),
    )
    valid = {u: s for u, s in sequences.items() if u in valid_users}
    test = {u: s for u, s in sequences.items() if u in test_users}
    return train, valid, test
