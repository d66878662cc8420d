"""The peer runner on tiny synthetic data with a known right answer.

Runs only in the peers environment (`make peers`); the product's environment has
neither RecTools nor Surprise and skips this module:

    .venv-peers/bin/python -m pip install pytest
    .venv-peers/bin/python -m pytest tests/test_peers.py
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

NO_PEERS = "the peer libraries live in .venv-peers (make peers), not in this env"
pytest.importorskip("rectools", reason=NO_PEERS)
pytest.importorskip("surprise", reason=NO_PEERS)

from recommender import peers  # noqa: E402

N_MOVIES = 12


def cycle_ratings(n_users: int = 24, length: int = 8) -> pd.DataFrame:
    """User u watches `length` movies in a row of a cycle, starting at u: the
    next movie is always the one after the last."""
    rows = [
        (user, 1 + (user + step) % N_MOVIES, 4.0, 1_000 * user + step)
        for user in range(n_users)
        for step in range(length)
    ]
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])


def taste_ratings(seed: int = 0) -> pd.DataFrame:
    """Even users love movies 1-10 and hate 11-20, odd users the other way."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(40):
        for movie in range(1, 21):
            if rng.random() < 0.7:
                loves = (movie <= 10) == (user % 2 == 0)
                rows.append((user, movie, 5.0 if loves else 1.0, movie))
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])


TINY_SASREC = peers.SASRecSettings(
    epochs=3, max_len=8, factors=16, heads=1, batch_size=8, time_budget=None
)


def test_sasrec_writes_top_k_unseen_movies(tmp_path):
    train = cycle_ratings()
    train.to_csv(tmp_path / "train.csv", index=False)
    users = [*range(0, 24, 3), 999]  # 999 has no history
    pd.DataFrame({"user_id": users}).to_csv(tmp_path / "users.csv", index=False)
    out = tmp_path / "recs.json"

    code = peers.main(
        [
            "sasrec",
            f"--train={tmp_path / 'train.csv'}",
            f"--users={tmp_path / 'users.csv'}",
            "--k=3",
            f"--out={out}",
            "--epochs=2",
            "--max-len=8",
            "--factors=16",
            "--batch-size=8",
        ]
    )

    assert code == 0
    result = json.loads(out.read_text())
    assert result["model"] == "RecTools SASRec"
    assert result["version"]
    assert result["params"]["max_len"] == 8 and result["params"]["k"] == 3
    assert result["fit_seconds"] >= 0 and result["epochs_run"] == 2
    recs = result["recommendations"]
    assert list(recs) == [str(u) for u in users]
    assert recs["999"] == [] and result["cold_users"] == 1
    seen = train.groupby("user_id")["movie_id"].agg(set)
    for user in users[:-1]:
        assert len(recs[str(user)]) == 3
        assert all(isinstance(m, int) for m in recs[str(user)])
        assert not set(recs[str(user)]) & seen[user]
        assert set(recs[str(user)]) <= set(train["movie_id"])


def test_sasrec_learns_a_repeating_sequence():
    train = cycle_ratings(n_users=48)
    settings = peers.SASRecSettings(
        epochs=40,
        max_len=8,
        factors=32,
        heads=1,
        batch_size=16,
        lr=0.01,
        dropout=0.0,
        time_budget=None,
    )

    # Each user then watched the movie the model should have predicted.
    later = pd.DataFrame(
        {
            "user_id": range(48),
            "movie_id": [1 + (u + 8) % N_MOVIES for u in range(48)],
            "rating": 4.0,
            "timestamp": [1_000 * u + 8 for u in range(48)],
        }
    )
    history = pd.concat([train, later], ignore_index=True)

    result = peers.recommend_sasrec(
        train, list(range(48)), 1, settings, history=history
    )

    hits = [
        result["recommendations"][str(u)] == [1 + (u + 8) % N_MOVIES] for u in range(48)
    ]
    assert np.mean(hits) >= 0.8
    # Reading the longer history, the same model moves one step on.
    hits = [
        result["with_history"][str(u)] == [1 + (u + 9) % N_MOVIES] for u in range(48)
    ]
    assert np.mean(hits) >= 0.8


def test_sasrec_is_deterministic_for_a_seed():
    train = cycle_ratings()
    first = peers.recommend_sasrec(train, [0, 5], 4, TINY_SASREC, seed=3)
    again = peers.recommend_sasrec(train, [0, 5], 4, TINY_SASREC, seed=3)
    assert first["recommendations"] == again["recommendations"]


def test_svd_beats_the_mean_on_two_tastes(tmp_path):
    ratings = taste_ratings()
    test = ratings.sample(frac=0.2, random_state=0)
    train = ratings.drop(test.index)
    train.to_csv(tmp_path / "train.csv", index=False)
    test[["user_id", "movie_id"]].to_csv(tmp_path / "test.csv", index=False)
    out = tmp_path / "preds.json"

    code = peers.main(
        [
            "svd",
            f"--train={tmp_path / 'train.csv'}",
            f"--test={tmp_path / 'test.csv'}",
            f"--out={out}",
            "--epochs=60",
            "--factors=4",
        ]
    )

    assert code == 0
    result = json.loads(out.read_text())
    assert result["model"] == "Surprise SVD" and result["version"]
    assert result["params"]["factors"] == 4
    predictions = np.asarray(result["predictions"])
    assert predictions.shape == (len(test),)
    assert ((predictions >= 0.5) & (predictions <= 5.0)).all()
    actual = test["rating"].to_numpy()
    model_rmse = np.sqrt(np.mean((predictions - actual) ** 2))
    mean_rmse = np.sqrt(np.mean((train["rating"].mean() - actual) ** 2))
    assert model_rmse < 0.5 * mean_rmse


def test_missing_column_is_reported(tmp_path, caplog):
    cycle_ratings().drop(columns="timestamp").to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame({"user_id": [1]}).to_csv(tmp_path / "users.csv", index=False)
    caplog.set_level(logging.ERROR)

    code = peers.main(
        [
            "sasrec",
            f"--train={tmp_path / 't.csv'}",
            f"--users={tmp_path / 'users.csv'}",
            f"--out={tmp_path / 'recs.json'}",
        ]
    )

    assert code == 2
    assert "lacks the column(s) timestamp" in caplog.text
    assert not (tmp_path / "recs.json").exists()
