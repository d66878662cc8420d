"""The GRU and autoencoder recommenders, the baselines, splits and metrics."""

from __future__ import annotations

import logging
import math
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import torch

from recommender.errors import ModelError, NotFittedError, TrainingDivergedError
from recommender.metrics import (
    evaluate_next_movie,
    evaluate_rating,
    hit_rate_at_k,
    ndcg_at_k,
    rmse,
)
from recommender.models.autoencoder import AutoencoderConfig, AutoencoderRecommender
from recommender.models.baselines import (
    BiasBaseline,
    EASEConfig,
    EASERecommender,
    ItemKNNConfig,
    ItemKNNRecommender,
    PopularityRecommender,
)
from recommender.models.gru import GRUConfig, GRUNet, GRURecommender
from recommender.splits import leave_last_out, random_split

CYCLE = 8  # movies 1..8 watched in cyclic order


def frame(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])
    return df.astype(
        {
            "user_id": "int64",
            "movie_id": "int64",
            "rating": "float32",
            "timestamp": "int64",
        }
    )


def cyclic_ratings(n_users: int = 40, length: int = 5, seed: int = 0) -> pd.DataFrame:
    """Each user watches `length` consecutive movies of the cycle 1..8; shuffled."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(1, n_users + 1):
        start = int(rng.integers(CYCLE))
        for step in range(length):
            movie = (start + step) % CYCLE + 1
            rows.append((user, movie, 4.0, 1000 * user + step))
    return frame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


GROUP_A, GROUP_B = list(range(1, 11)), list(range(11, 21))


def checkerboard_ratings(n_users: int = 60, seed: int = 0) -> pd.DataFrame:
    """Half the users love movies 1-10 and hate 11-20, the other half the reverse."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(1, n_users + 1):
        likes_a = user % 2 == 0
        for movie in GROUP_A + GROUP_B:
            if rng.random() < 0.7:
                liked = (movie in GROUP_A) == likes_a
                rows.append((user, movie, 5.0 if liked else 1.0, movie))
    return frame(rows)


def fit_gru(**overrides) -> GRURecommender:
    cfg = dict(embedding_dim=8, hidden_size=16, epochs=40, lr=0.02, dropout=0.0)
    return GRURecommender(GRUConfig(**{**cfg, **overrides})).fit(cyclic_ratings())


def fit_ae(**overrides) -> AutoencoderRecommender:
    cfg = dict(layers=(16, 8), epochs=60, dropout=0.2, lr=0.01, batch_size=16)
    config = AutoencoderConfig(**{**cfg, **overrides})
    return AutoencoderRecommender(config).fit(checkerboard_ratings())


@pytest.fixture(scope="module")
def gru() -> GRURecommender:
    return fit_gru()


@pytest.fixture(scope="module")
def ae() -> AutoencoderRecommender:
    return fit_ae()


# ---------------------------------------------------------------- known answers


def test_gru_learns_the_cycle(gru):
    assert gru.recommend([1, 2, 3], k=1)[0][0] == 4
    assert gru.recommend([6, 7, 8], k=1)[0][0] == 1
    scores = gru.score([1, 2, 3])
    assert scores.shape == (CYCLE,)
    assert np.isclose(np.exp(scores).sum(), 1.0, atol=1e-4)
    assert gru.movie_ids.tolist() == list(range(1, CYCLE + 1))


def test_gru_is_deterministic():
    a = fit_gru(epochs=3).score([1, 2])
    b = fit_gru(epochs=3).score([1, 2])
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bf16", [True, False])
def test_gru_learns_in_either_precision_and_serves_float32(bf16):
    # bfloat16 is emulated where the CPU lacks it: slower, but the same model.
    model = fit_gru(bf16=bf16)
    assert model.training_metrics["bf16"] is bf16
    assert all(p.dtype == torch.float32 for p in model._net.parameters())
    assert model.recommend([1, 2, 3], k=1)[0][0] == 4
    assert model.recommend([6, 7, 8], k=1)[0][0] == 1


def test_gru_trains_on_the_last_movies_only_when_asked():
    # Everyone alternates 1, 2 for a long time, then 1, 3 lately: trained on the
    # last four movies only, the GRU knows 3 follows 1 and has never seen a 2.
    rows = [
        (user, movie, 4.0, t)
        for user in range(1, 31)
        for t, movie in enumerate([1, 2] * 8 + [1, 3, 1, 3])
    ]
    recent = dict(embedding_dim=8, hidden_size=16, epochs=40, lr=0.02, dropout=0.0)
    model = GRURecommender(GRUConfig(**recent, train_history=4)).fit(frame(rows))
    probabilities = dict(zip(model.movie_ids, np.exp(model.score([3, 1])), strict=True))
    assert probabilities[3] > 0.9
    assert probabilities[2] < 0.05


@pytest.mark.parametrize("bad", [0, 1, -5, 2.5, True])
def test_gru_train_history_must_be_a_count_of_movies(bad):
    with pytest.raises(ValueError, match="train_history"):
        GRUConfig(train_history=bad)


def test_autoencoder_learns_the_checkerboard(ae):
    person = {1: 5.0, 2: 5.0, 3: 4.5, 4: 5.0, 5: 5.0}
    top = [m for m, _ in ae.recommend(person, k=5)]
    assert set(top) == {6, 7, 8, 9, 10}
    pred = ae.predict(person)
    assert min(pred[m] for m in range(6, 11)) > max(pred[m] for m in GROUP_B)
    assert all(0.5 <= v <= 5.0 for v in pred.values())
    assert set(ae.predict(person, movie_ids=[6, 15])) == {6, 15}


def test_autoencoder_needs_min_ratings(ae):
    with pytest.raises(ModelError, match="at least 5"):
        ae.predict({1: 5.0, 2: 5.0, 3: 5.0, 999: 4.0})
    with pytest.raises(ModelError, match="at least 5"):
        ae.recommend({1: 5.0})


# ---------------------------------------------------------- the common contract


class GRUAdapter:
    name = "gru"
    cls = GRURecommender
    history: ClassVar = [1, 2, 3]

    def model(self, gru, ae):
        return gru

    def fit(self, **overrides):
        return fit_gru(**overrides)

    def scores(self, model, history):
        return model.score(history)

    def with_unknown(self, history):
        return [*history, 424242]

    def diverge(self, monkeypatch):
        # A GRU's saturating gates keep even lr=1e30 finite: poison the output.
        forward = GRUNet.forward
        monkeypatch.setattr(GRUNet, "forward", lambda net, t: forward(net, t) * np.nan)
        fit_gru(epochs=2)

    def bad_config(self):
        return GRUConfig(hidden_size=-4)


class AEAdapter:
    name = "autoencoder"
    cls = AutoencoderRecommender
    history: ClassVar = {1: 5.0, 2: 5.0, 3: 5.0, 4: 4.0, 5: 5.0}

    def model(self, gru, ae):
        return ae

    def fit(self, **overrides):
        return fit_ae(**overrides)

    def scores(self, model, history):
        return np.array(list(model.predict(history).values()))

    def with_unknown(self, history):
        return {**history, 424242: 5.0}

    def diverge(self, monkeypatch):
        fit_ae(lr=1e30, epochs=2)

    def bad_config(self):
        return AutoencoderConfig(layers=(16, -4))


@pytest.fixture(params=[GRUAdapter(), AEAdapter()], ids=lambda a: a.name)
def adapter(request):
    return request.param


class TestContract:
    def test_recommend_excludes_history_and_exclude(self, adapter, gru, ae):
        model = adapter.model(gru, ae)
        recs = model.recommend(adapter.history, k=3, exclude=[4, 11])
        ids = [m for m, _ in recs]
        assert len(ids) == 3 == len(set(ids))
        assert not set(ids) & {*adapter.history, 4, 11}
        scores = [s for _, s in recs]
        assert scores == sorted(scores, reverse=True)

    def test_recommend_returns_k_items(self, adapter, gru, ae):
        model = adapter.model(gru, ae)
        assert len(model.recommend(adapter.history, k=2)) == 2
        n_left = len(model.movie_ids) - len(adapter.history)
        assert len(model.recommend(adapter.history, k=100)) == n_left
        with pytest.raises(ModelError, match="positive integer"):
            model.recommend(adapter.history, k=0)

    def test_save_load_round_trip(self, adapter, gru, ae, tmp_path):
        model = adapter.model(gru, ae)
        path = tmp_path / "model.pt"
        model.save(path)
        loaded = adapter.cls.load(path)
        np.testing.assert_array_equal(
            adapter.scores(model, adapter.history),
            adapter.scores(loaded, adapter.history),
        )
        np.testing.assert_array_equal(model.movie_ids, loaded.movie_ids)
        assert loaded.training_metrics == model.training_metrics
        assert loaded.config == model.config

    def test_unknown_movie_ids_are_skipped_with_a_warning(
        self, adapter, gru, ae, caplog
    ):
        model = adapter.model(gru, ae)
        expected = adapter.scores(model, adapter.history)
        with caplog.at_level(logging.WARNING):
            got = adapter.scores(model, adapter.with_unknown(adapter.history))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        assert "424242" in caplog.text

    def test_nan_loss_raises(self, adapter, monkeypatch):
        with pytest.raises(TrainingDivergedError, match="learning rate"):
            adapter.diverge(monkeypatch)

    def test_not_fitted(self, adapter):
        model = adapter.cls()
        with pytest.raises(NotFittedError, match="fit"):
            model.recommend(adapter.history)
        with pytest.raises(NotFittedError):
            model.save("never-written.pt")

    def test_config_validation(self, adapter):
        with pytest.raises(ValueError, match="positive integer"):
            adapter.bad_config()

    def test_bad_ratings_frame(self, adapter):
        with pytest.raises(ModelError, match="user_id"):
            adapter.cls().fit(pd.DataFrame({"userId": [1], "movieId": [2]}))
        bad = checkerboard_ratings()
        bad.loc[0, "rating"] = np.nan
        with pytest.raises(ModelError, match="NaN"):
            adapter.cls().fit(bad)


# -------------------------------------------------------------------- baselines


def test_popularity_ranks_most_rated_unseen():
    ratings = frame([(1, 10, 4, 1), (2, 10, 3, 1), (3, 10, 5, 1), (1, 20, 4, 2)])
    ratings = pd.concat([ratings, frame([(2, 20, 1, 2), (1, 30, 2, 3)])])
    pop = PopularityRecommender().fit(ratings)
    assert [m for m, _ in pop.recommend([], k=3)] == [10, 20, 30]
    assert [m for m, _ in pop.recommend([10], k=2, exclude=[30])] == [20]


def two_clusters(n_users: int = 40, seed: int = 0) -> pd.DataFrame:
    """Odd users watch only movies 1-5, even users only 6-10 (each movie w.p. 0.8)."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(1, n_users + 1):
        movies = range(1, 6) if user % 2 else range(6, 11)
        rows += [(user, m, 4.0, m) for m in movies if rng.random() < 0.8]
    return frame(rows)


RANKERS = {
    "knn": lambda **kw: ItemKNNRecommender(ItemKNNConfig(**kw)),
    "ease": lambda **kw: EASERecommender(EASEConfig(**kw)),
}


@pytest.fixture(params=sorted(RANKERS))
def ranker_name(request) -> str:
    return request.param


class TestItemItemBaselines:
    def test_recommends_what_is_watched_together(self, ranker_name):
        model = RANKERS[ranker_name]().fit(two_clusters())
        assert {m for m, _ in model.recommend([1, 2], k=3)} == {3, 4, 5}
        assert {m for m, _ in model.recommend([9], k=4)} == {6, 7, 8, 10}

    def test_recommend_excludes_history_and_exclude(self, ranker_name):
        model = RANKERS[ranker_name]().fit(two_clusters())
        recs = model.recommend([1, 2], k=4, exclude=[3])
        ids = [m for m, _ in recs]
        assert len(ids) == 4 == len(set(ids))
        assert not set(ids) & {1, 2, 3}
        scores = [s for _, s in recs]
        assert scores == sorted(scores, reverse=True)
        assert len(model.recommend([1, 2], k=100)) == 8
        with pytest.raises(ModelError, match="positive integer"):
            model.recommend([1], k=0)

    def test_score_many_matches_score(self, ranker_name):
        model = RANKERS[ranker_name]().fit(two_clusters())
        histories = [[1, 2], [], [6, 7, 8], [5]]
        many = model.score_many(histories)
        assert many.shape == (4, 10)
        for row, history in zip(many, histories, strict=True):
            np.testing.assert_array_equal(row, model.score(history))
        assert not many[1].any()  # nothing seen, nothing scored
        assert model.movie_ids.tolist() == list(range(1, 11))

    def test_unknown_ids_are_skipped_with_a_warning(self, ranker_name, caplog):
        model = RANKERS[ranker_name]().fit(two_clusters())
        with caplog.at_level(logging.WARNING):
            got = model.score([1, 424242, 2])
        np.testing.assert_array_equal(got, model.score([1, 2]))
        assert "424242" in caplog.text
        with pytest.raises(ModelError, match="sequence of movie ids"):
            model.score("1, 2")

    def test_not_fitted_and_bad_input(self, ranker_name):
        with pytest.raises(NotFittedError, match="fit"):
            RANKERS[ranker_name]().recommend([1])
        with pytest.raises(ModelError, match="user_id"):
            RANKERS[ranker_name]().fit(pd.DataFrame({"userId": [1], "movieId": [2]}))

    def test_config_validation(self):
        with pytest.raises(ValueError, match="positive integer"):
            ItemKNNConfig(neighbours=0)
        with pytest.raises(ValueError, match="shrink"):
            ItemKNNConfig(shrink=-1.0)
        with pytest.raises(ValueError, match="positive"):
            EASEConfig(l2=0.0)
        with pytest.raises(ValueError, match="dtype"):
            EASEConfig(dtype="float16")
        with pytest.raises(ModelError, match="EASEConfig"):
            EASERecommender(ItemKNNConfig())


def test_item_knn_similarities_by_hand():
    # Users 1 and 2 saw movies 10 and 20, user 3 saw 10 and 30:
    # cos(10, 20) = 2 / sqrt(3 * 2), cos(10, 30) = 1 / sqrt(3 * 1), cos(20, 30) = 0.
    ratings = frame([(1, 10, 4, 0), (1, 20, 4, 0), (2, 10, 4, 0), (2, 20, 4, 0)])
    ratings = pd.concat([ratings, frame([(3, 10, 4, 0), (3, 30, 4, 0)])])
    knn = ItemKNNRecommender(ItemKNNConfig(neighbours=5)).fit(ratings)
    np.testing.assert_allclose(knn.score([10]), [0, 2 / 6**0.5, 1 / 3**0.5], rtol=1e-6)
    np.testing.assert_allclose(
        knn.score([20, 30]), [2 / 6**0.5 + 1 / 3**0.5, 0, 0], rtol=1e-6
    )
    # One neighbour each: 10 keeps only 20, so 30 no longer scores from 10.
    knn1 = ItemKNNRecommender(ItemKNNConfig(neighbours=1)).fit(ratings)
    np.testing.assert_allclose(knn1.score([10]), [0, 2 / 6**0.5, 0], rtol=1e-6)
    shrunk = ItemKNNRecommender(ItemKNNConfig(neighbours=5, shrink=1.0)).fit(ratings)
    assert shrunk.score([10])[1] == pytest.approx(2 / (6**0.5 + 1), rel=1e-6)


def test_ease_weights_by_hand():
    # Two users, two movies (the users >= movies branch): X = [[1, 1], [1, 0]],
    # l2 = 1. Each column is a ridge regression on the other one:
    # b(10 -> 20) = x10.x20 / (x10.x10 + 1) = 1/3, b(20 -> 10) = 1 / (1 + 1) = 1/2.
    ratings = frame([(1, 10, 4, 0), (1, 20, 4, 0), (2, 10, 4, 0)])
    ease = EASERecommender(EASEConfig(l2=1.0)).fit(ratings)
    np.testing.assert_allclose(ease.weights, [[0, 1 / 3], [1 / 2, 0]], rtol=1e-6)
    np.testing.assert_allclose(ease.score([10]), [0, 1 / 3], rtol=1e-6)
    # One user, two movies (the Woodbury branch): both weights 1 / (1 + 1).
    one = EASERecommender(EASEConfig(l2=1.0)).fit(ratings[ratings["user_id"] == 1])
    np.testing.assert_allclose(one.weights, [[0, 0.5], [0.5, 0]], rtol=1e-6)


@pytest.mark.parametrize("n_users", [5, 30])  # fewer and more users than movies
def test_ease_matches_the_closed_form(n_users):
    rng = np.random.default_rng(n_users)
    rows = [
        (u, m, 4.0, 0) for u in range(n_users) for m in range(12) if rng.random() < 0.4
    ]
    ratings = frame(rows)
    model = EASERecommender(EASEConfig(l2=3.0)).fit(ratings)
    movies = np.unique(ratings["movie_id"])
    x = np.zeros((n_users, len(movies)))
    x[ratings["user_id"], np.searchsorted(movies, ratings["movie_id"])] = 1.0
    p = np.linalg.inv(x.T @ x + 3.0 * np.eye(len(movies)))
    expected = -p / np.diag(p)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.weights, expected, rtol=1e-4, atol=1e-6)
    assert not np.diag(model.weights).any()


def test_bias_baseline_recovers_biases():
    rows = [(u, m, 3.0 + (u == 1) - (m == 20), 0) for u in (1, 2) for m in (10, 20)]
    bias = BiasBaseline().fit(frame(rows * 50))
    pred = bias.predict_pairs([1, 2, 1, 99], [10, 20, 20, 10])
    assert pred[0] > pred[1]
    assert pred[0] - pred[2] == pytest.approx(1.0, abs=0.05)
    assert pred[3] == pytest.approx(bias.global_mean + bias._movie_bias[10])


# ---------------------------------------------------------------- metrics/splits


def test_hit_rate_and_ndcg_by_hand():
    ranks = [1, 3, 11, math.inf]
    assert hit_rate_at_k(ranks, k=10) == 0.5
    assert ndcg_at_k(ranks, k=10) == pytest.approx((1.0 + 0.5) / 4)
    assert hit_rate_at_k([2], k=1) == 0.0


def test_rmse_by_hand():
    assert rmse([1.0, 2.0, 3.0], [1.0, 2.0, 5.0]) == pytest.approx(math.sqrt(4 / 3))
    with pytest.raises(ValueError, match="same length"):
        rmse([1.0], [1.0, 2.0])


def test_leave_last_out_on_a_tiny_frame():
    rows = [(1, 10, 4, 5), (1, 11, 4, 1), (1, 12, 4, 3), (1, 13, 4, 3), (2, 20, 3, 1)]
    rows += [(2, 21, 3, 2)]
    train, valid, test = leave_last_out(frame(rows))
    assert test[["user_id", "movie_id"]].values.tolist() == [[1, 10]]
    assert valid[["user_id", "movie_id"]].values.tolist() == [
        [1, 13]
    ]  # tie: file order
    assert train[["user_id", "movie_id"]].values.tolist() == [
        [1, 11],
        [1, 12],
        [2, 20],
        [2, 21],
    ]


def test_random_split_is_seeded_and_complete():
    ratings = checkerboard_ratings()
    train, test = random_split(ratings, 0.1, seed=0)
    again, _ = random_split(ratings, 0.1, seed=0)
    assert len(train) + len(test) == len(ratings)
    assert len(test) == round(0.1 * len(ratings))
    pd.testing.assert_frame_equal(train, again)


def test_evaluate_next_movie_on_the_cycle(gru):
    history = frame([(1, 1, 4, 1), (1, 2, 4, 2), (1, 3, 4, 3), (2, 5, 4, 1)])
    test = frame([(1, 4, 4, 4), (2, 1, 4, 2)])
    result = evaluate_next_movie(gru, history, test, k=1)
    assert result["n_users"] == 2
    assert result["hr@1"] == 0.5
    pop_result = evaluate_next_movie(
        PopularityRecommender().fit(cyclic_ratings()), history, test, k=10
    )
    assert pop_result["hr@10"] == 1.0


def test_evaluate_rating_skips_cold_rows(ae):
    train = checkerboard_ratings()
    test = frame([(2, 1, 5.0, 0), (2, 11, 1.0, 0), (999, 1, 5.0, 0), (2, 555, 3.0, 0)])
    ae_result = evaluate_rating(ae, train, test)
    bias_result = evaluate_rating(BiasBaseline().fit(train), train, test)
    assert ae_result["n_ratings"] == bias_result["n_ratings"] == 2
    assert ae_result["n_cold"] == 2
    assert ae_result["rmse"] < bias_result["rmse"]


@pytest.mark.slow
def test_item_item_baselines_beat_popularity_on_real_movielens(real_data):
    from recommender.movielens import load_movielens

    train, valid, _ = leave_last_out(load_movielens(real_data).ratings)
    hr = {
        name: evaluate_next_movie(model.fit(train), train, valid)["hr@10"]
        for name, model in [
            ("popularity", PopularityRecommender()),
            ("knn", ItemKNNRecommender()),
            ("ease", EASERecommender()),
        ]
    }
    # Measured: popularity 0.031, k-NN 0.054, EASE 0.092 (610 users, +-0.02).
    assert hr["ease"] > hr["popularity"] + 0.03
    assert hr["knn"] > hr["popularity"]
