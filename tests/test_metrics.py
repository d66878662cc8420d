"""The evaluation protocols and beyond-accuracy metrics, on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recommender.errors import ModelError
from recommender.metrics import (
    beyond_accuracy,
    evaluate_half_sequences,
    evaluate_top_n,
    mean_interval,
    wilson_interval,
)
from recommender.models.baselines import EASERecommender, PopularityRecommender
from recommender.splits import half_sequence_split


def frame(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])
    return df.astype({"user_id": "int64", "movie_id": "int64", "timestamp": "int64"})


class FixedRanker:
    """Always ranks the movies in one fixed order, minus the excluded ones."""

    def __init__(self, order):
        self.order = list(order)
        self.movie_ids = np.array(sorted(self.order))
        self.asked = []

    def recommend(self, history, k=10, exclude=()):
        self.asked.append(history)
        skip = {*history, *exclude}
        return [(m, -i) for i, m in enumerate(self.order) if m not in skip][:k]


# ------------------------------------------------------------- half sequences


def test_half_sequences_by_hand():
    model = FixedRanker([10, 20, 30, 40, 50, 60])
    sequences = {
        1: [10, 30, 20, 70],  # history [10, 30], goal [20, 70]; top 2 [20, 40]
        2: [40, 50, 60],  # history [40], goal [50, 60]; top 2 [10, 20]
        3: [60, 10, 30, 20, 50],  # history [60, 10], goal [30, 20, 50]; [20, 30]
        4: [10],  # too short to cut
    }
    got = evaluate_half_sequences(model, sequences, k=2, return_lists=True)
    assert got["sps@2"] == pytest.approx(2 / 3)
    assert got["recall@2"] == pytest.approx((1 / 2 + 0 + 2 / 3) / 3)
    assert got["capped_recall@2"] == pytest.approx((1 / 2 + 0 + 2 / 2) / 3)
    assert got["precision@2"] == pytest.approx((1 / 2 + 0 + 2 / 2) / 3)
    assert got["user_coverage@2"] == pytest.approx(2 / 3)
    assert got["item_coverage@2"] == 2  # 20 and 30
    assert got["item_coverage_share@2"] == pytest.approx(2 / 6)
    assert (got["n_users"], got["n_sps_hits"], got["n_covered_users"]) == (3, 2, 2)
    assert got["n_skipped"] == 1
    assert got["lists"] == {1: [20, 40], 2: [10, 20], 3: [20, 30]}
    assert model.asked == [[10, 30], [40], [60, 10]]
    assert got["recall_per_user"][3] == pytest.approx(2 / 3)
    other = evaluate_half_sequences(model, sequences, k=2, catalogue_size=20)
    assert other["item_coverage_share@2"] == pytest.approx(2 / 20)
    assert "lists" not in other


def test_half_sequences_fast_path_matches_recommend():
    rng = np.random.default_rng(0)
    rows = [(u, m, 4.0, m) for u in range(30) for m in range(20) if rng.random() < 0.4]
    ease = EASERecommender().fit(frame(rows))
    sequences = {u: rng.permutation(20)[:8].tolist() for u in range(5)}

    class OneByOne:  # the same model without score_many
        movie_ids = ease.movie_ids
        recommend = staticmethod(ease.recommend)

    fast = evaluate_half_sequences(ease, sequences, k=5, return_lists=True)
    slow = evaluate_half_sequences(OneByOne(), sequences, k=5, return_lists=True)
    assert fast["lists"] == slow["lists"]
    for user, top in fast["lists"].items():
        assert not set(top) & set(sequences[user][:4])


def test_half_sequences_needs_a_sequence():
    with pytest.raises(ValueError, match="at least one sequence"):
        evaluate_half_sequences(FixedRanker([1, 2]), {1: [1]})


def test_half_sequence_split_invariants():
    rng = np.random.default_rng(1)
    rows = [
        (u, int(m), 4.0, int(t))
        for u in range(1, 51)
        for t, m in enumerate(rng.permutation(30)[: rng.integers(2, 12)])
    ]
    rows.append((99, 5, 4.0, 0))  # one rating: cannot be cut, stays in train
    rows.append((1, 777, 4.0, 100))  # a movie no training user saw
    ratings = frame(rows).sample(frac=1.0, random_state=0)  # file order != time
    train, valid, test = half_sequence_split(ratings, 0.2, 0.1, seed=3)

    train_users = set(train["user_id"])
    assert not train_users & set(valid) and not train_users & set(test)
    assert not set(valid) & set(test)
    assert 99 in train_users
    assert len(test) == round(50 * 0.2) and len(valid) == round(50 * 0.1)
    assert train_users | set(valid) | set(test) == set(ratings["user_id"])
    for user, sequence in {**valid, **test}.items():
        mine = ratings[ratings["user_id"] == user].sort_values("timestamp")
        expected = [m for m in mine["movie_id"] if m in set(train["movie_id"])]
        assert sequence == expected and len(sequence) >= 2
    assert 777 not in {m for s in {**valid, **test}.values() for m in s}
    again = half_sequence_split(ratings, 0.2, 0.1, seed=3)
    assert again[2] == test and again[1] == valid
    with pytest.raises(ValueError, match="fraction"):
        half_sequence_split(ratings, 0.7, 0.5)


# ------------------------------------------------------------------- top-N


def top_n_case():
    train = frame(
        [(1, m, 3.0, m) for m in range(1, 6)]
        + [(2, m, 3.0, m) for m in (1, 2, 3, 4, 5, 10)]
        + [(3, 1, 3.0, 1), (3, 2, 3.0, 2)]
        + [(4, m, 3.0, m) for m in range(6, 13)]
    )
    test = frame(
        [
            (1, 6, 5.0, 9),
            (1, 7, 4.0, 9),
            (1, 8, 2.0, 9),
            (1, 99, 5.0, 9),
            (2, 11, 4.5, 9),
            (3, 6, 5.0, 9),
        ]
    )
    return train, test


def test_top_n_by_hand():
    train, test = top_n_case()
    order = [8, 6, 11, 9, 10, 7, 12, 1, 2, 3, 4, 5]

    def ranked(user, known):
        return [m for m in order if m not in known]

    got = evaluate_top_n(ranked, train, test, k=3, return_lists=True)
    # User 1 likes {6, 7}: top 3 [8, 6, 11], a hit at rank 2 of min(3, 2) = 2.
    # User 2 likes {11}: top 3 [8, 6, 11], a hit at rank 3 of min(3, 1) = 1.
    # User 3 has 2 train ratings (< 5): skipped. Movie 99 is unseen: cold.
    ndcg_1 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    ndcg_2 = (1 / math.log2(4)) / 1
    assert got["recall@3"] == pytest.approx((1 / 2 + 1 / 1) / 2)
    assert got["ndcg@3"] == pytest.approx((ndcg_1 + ndcg_2) / 2)
    assert (got["n_users"], got["n_skipped_users"], got["n_cold"]) == (2, 1, 1)
    assert got["n_refused"] == 0
    assert got["lists"] == {1: [8, 6, 11], 2: [8, 6, 11]}
    assert got["ndcg_per_user"][2] == pytest.approx(0.5)


def test_top_n_asks_models_with_ratings_and_counts_refusals():
    train, test = top_n_case()

    class NeedsSix:  # like the autoencoder: ratings in, refuses short profiles
        def recommend(self, ratings, k=10, exclude=()):
            assert isinstance(ratings, dict)
            if len(ratings) < 6:
                raise ModelError("need at least 6 rated movies")
            return [(m, 1.0) for m in (11, 6, 7) if m not in ratings][:k]

    got = evaluate_top_n(NeedsSix(), train, test, k=2)
    # User 1 (5 ratings) refused: 0. User 2: [11, 6], hit at rank 1.
    assert got["n_refused"] == 1 and got["n_users"] == 2
    assert got["recall@2"] == pytest.approx(0.5)
    assert got["ndcg@2"] == pytest.approx(0.5)


def test_top_n_excludes_train_movies_for_rankers():
    train, test = top_n_case()
    for model in (PopularityRecommender().fit(train), EASERecommender().fit(train)):
        got = evaluate_top_n(model, train, test, k=4, return_lists=True)
        known = train.groupby("user_id")["movie_id"].agg(set)
        for user, top in got["lists"].items():
            assert len(top) == 4 and not set(top) & known[user]


def test_top_n_needs_users():
    train, test = top_n_case()
    with pytest.raises(ValueError, match="no user"):
        evaluate_top_n(lambda u, k: [], train, test, min_train=50)


# ----------------------------------------------------------- beyond accuracy


def test_beyond_accuracy_by_hand():
    movies = pd.DataFrame(
        {
            "movie_id": [1, 2, 3, 4, 5],
            "genres": ["Action|Comedy", "Action", "(no genres listed)", "Drama", ""],
        }
    )
    popularity = {1: 10, 2: 5, 3: 5, 4: 1, 5: 0}
    lists = {1: [1, 2], 2: [3, 4], 3: [4]}
    got = beyond_accuracy(lists, movies, popularity, return_percentiles=True)
    assert got["catalogue_coverage"] == pytest.approx(4 / 5)
    assert got["n_distinct"] == 4
    # {A, C} vs {A}: 1 - 1/2; {} vs {D}: 1 - 0/1; a one-movie list has no pairs.
    assert got["genre_diversity"] == pytest.approx((0.5 + 1.0) / 2)
    # Counts sorted 0, 1, 5, 5, 10 -> ranks 1, 2, 3.5, 3.5, 5 -> 100 (r - 1) / 4.
    np.testing.assert_allclose(got["popularity_percentiles"], [100, 62.5, 62.5, 25, 25])
    assert got["popularity_percentile_mean"] == pytest.approx(55.0)
    assert got["popularity_percentile_median"] == pytest.approx(62.5)
    assert got["n_lists"] == 3
    wider = beyond_accuracy(lists, movies, popularity, catalogue_size=10)
    assert wider["catalogue_coverage"] == pytest.approx(0.4)
    assert "popularity_percentiles" not in wider


def test_two_genreless_movies_are_alike():
    movies = pd.DataFrame({"movie_id": [1, 2], "genres": ["", "(no genres listed)"]})
    got = beyond_accuracy({1: [1, 2]}, movies, {1: 1, 2: 2})
    assert got["genre_diversity"] == 0.0


# ---------------------------------------------------------- confidence intervals


def test_wilson_interval_by_hand():
    # z = 1.96: 5/10 -> 0.5 -/+ 1.96 sqrt(0.025 + 1.96^2 / 400) / (1 + 1.96^2 / 10)
    low, high = wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    # 0/10 -> [0, z^2 / (n + z^2)]
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)


def test_mean_interval_by_hand():
    # mean 3, sample std sqrt(2.5), 1.96 * sqrt(2.5 / 5) = 1.3859
    assert mean_interval([1, 2, 3, 4, 5]) == pytest.approx((1.6141, 4.3859), abs=1e-4)
    low, high = mean_interval([1, 2, 3, 4, 5], method="bootstrap")
    assert 1 < low < 3 < high < 5
    assert mean_interval([1, 2, 3, 4, 5], method="bootstrap") == (low, high)
    assert mean_interval([2.0, 2.0, 2.0], method="bootstrap") == (2.0, 2.0)
    with pytest.raises(ValueError, match="method"):
        mean_interval([1, 2], method="exact")
