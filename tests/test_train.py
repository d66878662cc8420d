"""The training command: artifacts written, held-out check printed, reruns skipped."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from recommender import train
from recommender.service import Recommender


def test_artifacts_hold_what_the_action_server_needs(tiny_artifacts):
    names = {p.name for p in tiny_artifacts.iterdir()}
    assert {
        "catalog.csv",
        "gru.pt",
        "autoencoder.pt",
        "metrics.json",
        "manifest.json",
    } <= names
    metrics = json.loads((tiny_artifacts / "metrics.json").read_text())
    for key in ("hr@10", "ndcg@10"):
        assert 0 <= metrics["next_movie"]["gru"][key] <= 1
        assert 0 <= metrics["next_movie"]["popularity"][key] <= 1
    assert metrics["rating"]["autoencoder"]["rmse"] > 0
    assert metrics["rating"]["bias_baseline"]["rmse"] > 0

    served = Recommender(tiny_artifacts)
    assert len(served.catalog) == 30
    matrix = served.catalog.match("The Matrix").movie
    assert matrix.imdb_id == "0100001" and matrix.popularity == 80
    assert served.gru.training_metrics  # hyper-parameters and metrics travel along


def test_second_run_with_same_data_is_skipped(tiny_movielens, tiny_artifacts, caplog):
    before = (tiny_artifacts / "gru.pt").stat().st_mtime_ns
    caplog.set_level("INFO")
    manifest = json.loads((tiny_artifacts / "manifest.json").read_text())
    from recommender.models.autoencoder import AutoencoderConfig
    from recommender.models.gru import GRUConfig

    train.train(
        tiny_movielens,
        tiny_artifacts,
        GRUConfig(**manifest["settings"]["gru"]),
        AutoencoderConfig.from_dict(manifest["settings"]["autoencoder"]),
        progress=False,
    )
    assert "up to date" in caplog.text
    assert (tiny_artifacts / "gru.pt").stat().st_mtime_ns == before


def test_report_names_the_winner():
    metrics = {
        "dataset": "ml-x",
        "ratings": 10,
        "users": 2,
        "next_movie": {
            "gru": {"hr@10": 0.2, "n_users": 2},
            "popularity": {"hr@10": 0.1},
        },
        "rating": {
            "autoencoder": {"rmse": 0.95, "n_ratings": 3},
            "bias_baseline": {"rmse": 0.9},
        },
    }
    table, both = train.report(metrics)
    assert "GRU wins" in table and "autoencoder LOSES" in table
    assert not both


def test_help_explains_the_options():
    result = subprocess.run(
        [sys.executable, "-m", "recommender.train", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for option in ("--data", "--dataset", "--out", "--force", "MOVIELENS_DIR"):
        assert option in result.stdout


def test_missing_data_folder_is_a_clear_error(tmp_path, caplog):
    code = train.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path)])
    assert code == 1
    assert "nowhere" in caplog.text


@pytest.mark.parametrize("name", ["ml-latest-small", "ml-100k", "ml-1m"])
def test_dataset_choices(name):
    assert name in train.movielens.KNOWN_DATASETS


@pytest.mark.slow
def test_models_trained_on_real_movielens_beat_their_baselines(real_artifacts):
    """The held-out check `make train` prints, on the real ml-latest-small."""
    metrics = json.loads((real_artifacts / "metrics.json").read_text())
    assert metrics["dataset"] == "ml-latest-small" and metrics["users"] == 610
    next_movie, rating = metrics["next_movie"], metrics["rating"]
    assert next_movie["gru"]["n_users"] == 610
    # 610 test users: a GRU barely above popularity would be noise, so ask for more.
    assert next_movie["gru"]["hr@10"] > 1.5 * next_movie["popularity"]["hr@10"]
    assert rating["autoencoder"]["rmse"] < rating["bias_baseline"]["rmse"]
    assert rating["autoencoder"]["n_ratings"] > 9000
