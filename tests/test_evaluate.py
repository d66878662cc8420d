"""The evaluation harness on the tiny MovieLens: every protocol, every output file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recommender import evaluate as ev
from recommender.models.autoencoder import AutoencoderConfig
from recommender.models.baselines import PopularityRecommender
from recommender.models.gru import GRUConfig

SMALL_GRU = GRUConfig(epochs=3, hidden_size=32, embedding_dim=16, window=20)
SMALL_AE = AutoencoderConfig(epochs=5, layers=(32, 16))


@pytest.fixture(scope="module")
def report(tiny_movielens, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    result = ev.evaluate(
        tiny_movielens,
        out,
        peers_python=None,
        gru_config=SMALL_GRU,
        ae_config=SMALL_AE,
        progress=False,
    )
    return result, out


def test_writes_json_markdown_and_plots(report):
    result, out = report
    on_disk = json.loads((out / "evaluation.json").read_text())
    assert on_disk["dataset"] == result["dataset"]
    for name in ("next_movie.png", "rating_rmse.png", "popularity_bias.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    text = (out / "evaluation.md").read_text()
    for heading in ("leave-one-out", "Devooght", "rating prediction", "Beyond"):
        assert heading in text


def test_json_holds_each_protocol_model_and_metric(report):
    result, _ = report
    assert result["users"] == 80 and result["movies"] == 30
    assert result["split_seeds"]["rating"] == [0, 1, 2]
    next_movie = result["next_movie"]["models"]
    assert set(next_movie) == {"GRU", "popularity", "item k-NN", "EASE"}
    for entry in next_movie.values():
        assert {"hr@10", "ndcg@10", "hr@20"} <= set(entry["test"])
        assert entry["test"]["n_users"] == 80
        assert entry["seconds"] >= 0
    half = result["half_sequences"]["models"]
    for entry in half.values():
        assert {"sps@10", "recall@10", "user_coverage", "item_coverage"} <= set(entry)
    rating = result["rating"]["models"]
    assert set(rating) == {"autoencoder", "bias baseline"}
    for entry in rating.values():
        assert [r["seed"] for r in entry["runs"]] == [0, 1, 2]
        assert entry["rmse_std"] >= 0
    assert set(result["top_n"]["models"]) == {"autoencoder", "EASE", "popularity"}
    beyond = result["beyond_accuracy"]
    assert set(beyond["next_movie"]) == set(next_movie)
    assert set(beyond["top_n"]) == {"autoencoder", "EASE", "popularity"}


def test_without_peers_the_report_says_so(report):
    result, out = report
    assert any("peers switched off" in e for e in result["peer_errors"])
    assert "did not run" in (out / "evaluation.md").read_text()


def test_missing_peer_environment_is_a_clear_error(tmp_path):
    with pytest.raises(ev.PeerUnavailable, match="make peers"):
        ev.run_peer(tmp_path / "no-python", ["svd"], "SVD")


def test_top_lists_keep_the_model_order_and_drop_seen_movies():
    # Movie 10 is rated by three people, 20 by two, 30 by one.
    ratings = pd.DataFrame(
        {
            "user_id": [1, 2, 3, 1, 2, 1],
            "movie_id": [10, 10, 10, 20, 20, 30],
            "rating": [4.0] * 6,
            "timestamp": range(6),
        }
    )
    model = PopularityRecommender().fit(ratings)
    lists = ev.top_lists(model, [[], [10], [20, 10]], k=2)
    assert lists[0] == [10, 20]
    assert lists[1] == [20, 30]
    assert lists[2] == [30]  # nothing seen fills the list up


def test_list_ranks_are_one_based_and_inf_when_missed():
    ranks = ev.list_ranks([[5, 6, 7], [1, 2]], [7, 3])
    assert ranks[0] == 3 and np.isinf(ranks[1])
    figures = ev.next_movie_figures(ranks)
    assert figures["hr@10"] == 0.5 and figures["n_users"] == 2
    assert figures["ndcg@10"] == pytest.approx(0.5 / np.log2(4))
