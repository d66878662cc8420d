"""Measure both models beside baselines and peer libraries on published protocols.

    python -m recommender.evaluate --data ../shared/data/ml-latest-small

Writes ``reports/evaluation.json`` (every figure), ``reports/evaluation.md`` (the
tables) and PNG plots under ``reports/``. Protocols (see DESIGN.md):

* next movie, leave-one-out by time: every model is fitted on each user's history
  but their last two movies; the second-to-last is the validation item, the last
  the test item (history: everything before it). Full ranking against all movies,
  already-seen ones removed. GRU, popularity, item-item k-NN, EASE and the peer
  SASRec (RecTools, in its own environment) see exactly the same data.
* Devooght & Bersini: held-out users, each sequence cut in half; sps@10,
  recall@10, user and item coverage.
* best for me: RMSE on random 90/10 splits of ratings (three seeds) for the
  autoencoder, a user-and-movie bias baseline and the peer SVD (Surprise); and a
  top-10 check on the held-out ratings of 4 or more.
* beyond accuracy, on every top-10 list: catalogue coverage, genre diversity,
  popularity bias.

Model settings come from `GRUConfig` and `AutoencoderConfig` defaults, which are
the tuned ones the product serves (see `recommender.tune`); the test items are
read once per run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from recommender import movielens
from recommender.errors import MovieBotError
from recommender.metrics import (
    beyond_accuracy,
    evaluate_half_sequences,
    evaluate_top_n,
    ndcg_at_k,
    rmse,
    user_sequences,
    wilson_interval,
)
from recommender.models.autoencoder import AutoencoderConfig, AutoencoderRecommender
from recommender.models.baselines import (
    BiasBaseline,
    EASERecommender,
    ItemKNNRecommender,
    PopularityRecommender,
)
from recommender.models.gru import GRUConfig, GRURecommender
from recommender.splits import half_sequence_split, leave_last_out, random_split

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
RATING_SEEDS = (0, 1, 2)
HALF_SPLIT_SEED = 0
K = 10
DEPTH = 20  # list length kept per user: enough for HR@20


class PeerUnavailable(MovieBotError):
    """The peer environment is missing or a peer run failed."""


# --------------------------------------------------------------------------- lists


def top_lists(
    model: Any,
    histories: Sequence[Sequence[int]],
    k: int = DEPTH,
    batch_size: int = 512,
) -> list[list[int]]:
    """Each history's top k movie ids, its own movies removed, best first."""
    if not hasattr(model, "score_many"):
        return [[m for m, _ in model.recommend(list(h), k=k)] for h in histories]
    ids = np.asarray(model.movie_ids)
    position = {int(m): i for i, m in enumerate(ids)}
    lists: list[list[int]] = []
    for lo in range(0, len(histories), batch_size):
        chunk = histories[lo : lo + batch_size]
        scores = np.asarray(model.score_many([list(h) for h in chunk]), np.float64)
        for row, history in enumerate(chunk):
            seen = [position[m] for m in history if m in position]
            scores[row, seen] = -np.inf
        k_here = min(k, scores.shape[1])
        top = np.argpartition(-scores, k_here - 1, axis=1)[:, :k_here]
        order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, 1)
        for row, columns in enumerate(top):
            # Fewer unseen movies than k: the seen ones (at -inf) are not picks.
            kept = columns[np.isfinite(scores[row, columns])]
            lists.append(ids[kept].tolist())
    return lists


def list_ranks(lists: Sequence[Sequence[int]], targets: Sequence[int]) -> np.ndarray:
    """1-based rank of each target in its list, inf when absent."""
    ranks = np.full(len(targets), np.inf)
    for row, (items, target) in enumerate(zip(lists, targets, strict=True)):
        if target in items:
            ranks[row] = items.index(target) + 1
    return ranks


def next_movie_figures(ranks: np.ndarray) -> dict[str, Any]:
    hits = int((ranks <= K).sum())
    low, high = wilson_interval(hits, len(ranks))
    return {
        "hr@10": float(np.mean(ranks <= 10)),
        "ndcg@10": ndcg_at_k(ranks, 10),
        "hr@20": float(np.mean(ranks <= 20)),
        "hr@10_ci95": [low, high],
        "n_users": len(ranks),
    }


# --------------------------------------------------------------------------- peers


def run_peer(python: Path | None, args: list[str], what: str) -> dict:
    """Run `python -m recommender.peers ARGS --out FILE` and return its JSON;
    `python` None means the peers are switched off."""
    if python is None:
        raise PeerUnavailable("peers switched off (--no-peers)")
    if not python.exists():
        raise PeerUnavailable(
            f"{what}: no peer environment at {python}; run `make peers` to create it"
        )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        command = [str(python), "-m", "recommender.peers", *args, "--out", str(out)]
        logger.info("%s: %s", what, " ".join(command[1:]))
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0 or not out.exists():
            tail = "\n".join(done.stderr.strip().splitlines()[-15:])
            raise PeerUnavailable(f"{what} failed (exit {done.returncode}):\n{tail}")
        return json.loads(out.read_text())


def write_frame(frame: pd.DataFrame, folder: Path, name: str) -> str:
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    return str(path)


# ----------------------------------------------------------------------- protocols


class Run:
    """One evaluation: the data, the report being built, timings and top-10 lists."""

    def __init__(
        self,
        data: movielens.MovieLens,
        peers_python: Path | None,
        gru_config: GRUConfig,
        ae_config: AutoencoderConfig,
    ) -> None:
        self.data = data
        self.peers_python = peers_python
        self.gru_config, self.ae_config = gru_config, ae_config
        self.report: dict[str, Any] = {}
        self.lists: dict[str, dict[str, list[list[int]]]] = {}
        self.peer_errors: list[str] = []

    # next movie, leave-one-out ---------------------------------------------------
    def next_movie(self, bar: tqdm) -> None:
        ratings = self.data.ratings
        train, valid, test = leave_last_out(ratings)
        sequences = user_sequences(train)
        users = test["user_id"].astype(int).tolist()
        valid_item = dict(zip(valid["user_id"], valid["movie_id"], strict=True))
        valid_hist = [sequences.get(u, []) for u in users]
        test_hist = [[*sequences.get(u, []), int(valid_item[u])] for u in users]
        valid_targets = [int(valid_item[u]) for u in users]
        test_targets = test["movie_id"].astype(int).tolist()

        models: dict[str, Callable[[], Any]] = {
            "GRU": lambda: GRURecommender(self.gru_config).fit(train),
            "popularity": lambda: PopularityRecommender().fit(train),
            "item k-NN": lambda: ItemKNNRecommender().fit(train),
            "EASE": lambda: EASERecommender().fit(train),
        }
        results: dict[str, Any] = {}
        for name, build in models.items():
            bar.set_postfix_str(f"next movie: {name}")
            started = time.perf_counter()
            model = build()
            fit_seconds = time.perf_counter() - started
            valid_lists = top_lists(model, valid_hist)
            test_lists = top_lists(model, test_hist)
            results[name] = self._next_movie_entry(
                valid_lists, test_lists, valid_targets, test_targets, started
            )
            results[name]["fit_seconds"] = round(fit_seconds, 1)
            if name == "GRU":
                results[name]["config"] = asdict(model.config)
            self._keep_lists("next_movie", name, users, test_lists)
            logger.info("next movie, %s: %s", name, _brief(results[name]["test"]))
            bar.update()

        bar.set_postfix_str("next movie: SASRec (RecTools)")
        started = time.perf_counter()
        try:
            peer = self._sasrec(train, valid, users)
        except PeerUnavailable as error:
            self._peer_failed(error)
        else:
            results[peer["model"]] = self._next_movie_entry(
                [peer["recommendations"][str(u)] for u in users],
                [peer["with_history"][str(u)] for u in users],
                valid_targets,
                test_targets,
                started,
            )
            results[peer["model"]].update(
                fit_seconds=peer.get("fit_seconds"),
                epochs_run=peer.get("epochs_run"),
                params=peer.get("params"),
                version=peer.get("version"),
            )
            self._keep_lists(
                "next_movie",
                peer["model"],
                users,
                [peer["with_history"][str(u)] for u in users],
            )
            logger.info(
                "next movie, %s: %s",
                peer["model"],
                _brief(results[peer["model"]]["test"]),
            )
        bar.update()
        self.report["next_movie"] = {
            "protocol": "leave-one-out by time: last movie = test, second-to-last = "
            "validation; ranked against all movies, seen ones removed",
            "n_users": len(users),
            "n_movies_in_train": int(train["movie_id"].nunique()),
            "models": results,
        }

    def _next_movie_entry(
        self, valid_lists, test_lists, valid_targets, test_targets, started
    ) -> dict[str, Any]:
        return {
            "valid": next_movie_figures(list_ranks(valid_lists, valid_targets)),
            "test": next_movie_figures(list_ranks(test_lists, test_targets)),
            "seconds": round(time.perf_counter() - started, 1),
        }

    def _sasrec(self, train: pd.DataFrame, valid: pd.DataFrame, users: list[int]):
        """SASRec fitted once on `train`, asked with and without the valid item."""
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            both = pd.concat([train, valid], ignore_index=True)
            user_file = write_frame(pd.DataFrame({"user_id": users}), folder, "users")
            return run_peer(
                self.peers_python,
                [
                    "sasrec",
                    "--train",
                    write_frame(train, folder, "train"),
                    "--history",
                    write_frame(both, folder, "history"),
                    "--users",
                    user_file,
                    "--k",
                    str(DEPTH),
                ],
                "SASRec",
            )

    # Devooght & Bersini ----------------------------------------------------------
    def half_sequences(self, bar: tqdm) -> None:
        train, _valid_seqs, test_seqs = half_sequence_split(
            self.data.ratings, seed=HALF_SPLIT_SEED
        )
        models: dict[str, Callable[[], Any]] = {
            "GRU": lambda: GRURecommender(self.gru_config).fit(train),
            "popularity": lambda: PopularityRecommender().fit(train),
            "item k-NN": lambda: ItemKNNRecommender().fit(train),
            "EASE": lambda: EASERecommender().fit(train),
        }
        results = {}
        for name, build in models.items():
            bar.set_postfix_str(f"half sequences: {name}")
            started = time.perf_counter()
            model = build()
            figures = evaluate_half_sequences(model, test_seqs, k=K)
            # The report names coverage without the @10 that every figure here has.
            figures = {
                key.replace(f"_coverage@{K}", "_coverage"): value
                for key, value in figures.items()
            }
            figures["seconds"] = round(time.perf_counter() - started, 1)
            results[name] = figures
            logger.info("half sequences, %s: %s", name, _brief(figures))
            bar.update()
        self.report["half_sequences"] = {
            "protocol": "Devooght & Bersini: held-out users, first half of each "
            "time-ordered sequence as history, second half to find",
            "split_seed": HALF_SPLIT_SEED,
            "n_train_users": int(train["user_id"].nunique()),
            "n_test_users": len(test_seqs),
            "models": results,
        }

    # best for me -------------------------------------------------------------------
    def rating(self, bar: tqdm) -> None:
        per_model: dict[str, list[dict[str, Any]]] = {}
        ranking: dict[str, Any] = {}
        left_out: dict[int, int] = {}
        for seed in RATING_SEEDS:
            train, test = random_split(self.data.ratings, 0.1, seed=seed)
            # Rows every model can answer: the movie was rated in train and the
            # user has the ratings the autoencoder needs.
            known = {
                int(u): dict(zip(g["movie_id"], g["rating"], strict=True))
                for u, g in train.groupby("user_id")
            }
            need = self.ae_config.min_ratings
            enough = [u for u, r in known.items() if len(r) >= need]
            warm = test[
                test["user_id"].isin(enough) & test["movie_id"].isin(train["movie_id"])
            ].reset_index(drop=True)
            left_out[seed] = len(test) - len(warm)

            bar.set_postfix_str(f"best for me, seed {seed}: autoencoder")
            started = time.perf_counter()
            autoencoder = AutoencoderRecommender(self.ae_config).fit(train)
            values = pd.Series(np.nan, index=warm.index)
            for user, group in warm.groupby("user_id"):
                movies = group["movie_id"].tolist()
                predicted = autoencoder.predict(known[int(user)], movie_ids=movies)
                values[group.index] = [predicted[m] for m in movies]
            self._rating_entry(
                per_model, "autoencoder", seed, values.to_numpy(), warm, started
            )
            if seed == RATING_SEEDS[0]:
                ranking = self._top_n(autoencoder, train, test, bar)
            bar.update()

            bar.set_postfix_str(f"best for me, seed {seed}: bias baseline")
            started = time.perf_counter()
            bias = BiasBaseline().fit(train)
            values = bias.predict_pairs(warm["user_id"], warm["movie_id"])
            self._rating_entry(per_model, "bias baseline", seed, values, warm, started)

            bar.set_postfix_str(f"best for me, seed {seed}: SVD (Surprise)")
            started = time.perf_counter()
            try:
                peer = self._svd(train, warm, seed)
            except PeerUnavailable as error:
                self._peer_failed(error)
            else:
                values = np.asarray(peer["predictions"], dtype=np.float64)
                entry = self._rating_entry(
                    per_model, peer["model"], seed, values, warm, started
                )
                entry.update(params=peer.get("params"), version=peer.get("version"))
            bar.update()

        summary = {}
        for name, runs in per_model.items():
            values = [r["rmse"] for r in runs]
            summary[name] = {
                "rmse_mean": float(np.mean(values)),
                "rmse_std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                "runs": runs,
            }
            logger.info(
                "best for me, %s: RMSE %.4f ± %.4f over seeds %s",
                name,
                summary[name]["rmse_mean"],
                summary[name]["rmse_std"],
                [r["seed"] for r in runs],
            )
        self.report["rating"] = {
            "protocol": "random 90/10 split of ratings; RMSE on held-out ratings "
            "whose user and movie are in the training part",
            "seeds": list(RATING_SEEDS),
            "left_out_per_seed": left_out,
            "models": summary,
            "autoencoder_config": self.ae_config.to_dict(),
        }
        self.report["top_n"] = ranking

    def _rating_entry(self, per_model, name, seed, values, warm, started) -> dict:
        entry = {
            "seed": seed,
            "rmse": rmse(values, warm["rating"].to_numpy()),
            "n_ratings": len(warm),
            "seconds": round(time.perf_counter() - started, 1),
        }
        per_model.setdefault(name, []).append(entry)
        return entry

    def _svd(self, train: pd.DataFrame, test: pd.DataFrame, seed: int) -> dict:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            return run_peer(
                self.peers_python,
                [
                    "svd",
                    "--train",
                    write_frame(train, folder, "train"),
                    "--test",
                    write_frame(test, folder, "test"),
                    "--seed",
                    str(seed),
                ],
                f"SVD seed {seed}",
            )

    def _top_n(self, autoencoder, train, test, bar: tqdm) -> dict[str, Any]:
        """Top-10 of unrated movies against held-out ratings of 4 or more."""
        bar.set_postfix_str("best for me: top-10 check")
        models = {
            "autoencoder": autoencoder,
            "EASE": EASERecommender().fit(train),
            "popularity": PopularityRecommender().fit(train),
        }
        results = {}
        for name, model in models.items():
            started = time.perf_counter()
            figures = evaluate_top_n(model, train, test, k=K, return_lists=True)
            lists = figures.pop("lists")
            del figures["recall_per_user"], figures["ndcg_per_user"]
            figures["seconds"] = round(time.perf_counter() - started, 1)
            results[name] = figures
            users = list(lists)
            self._keep_lists("top_n", name, users, [lists[u] for u in users])
            logger.info("top-10 check, %s: %s", name, _brief(figures))
        return {
            "protocol": "random 90/10 split (seed 0); relevant = held-out ratings "
            ">= 4; unrated movies ranked, rated ones removed",
            "models": results,
        }

    # beyond accuracy ---------------------------------------------------------------
    def beyond(self) -> None:
        ratings = self.data.ratings
        popularity = ratings.groupby("movie_id").size()
        result: dict[str, dict[str, Any]] = {}
        for protocol, by_model in self.lists.items():
            result[protocol] = {}
            for name, lists in by_model.items():
                figures = beyond_accuracy(
                    {u: items[:K] for u, items in enumerate(lists)},
                    self.data.movies,
                    popularity.to_dict(),
                    catalogue_size=len(self.data.movies),
                    return_percentiles=True,
                )
                result[protocol][name] = figures
        self.report["beyond_accuracy"] = {
            "what": "top-10 lists: catalogue coverage (share of all movies "
            "recommended to someone), genre diversity (mean pairwise Jaccard "
            "distance of genres within a list), popularity percentile of the "
            "recommended movies (100 = the most rated)",
            **{
                p: {n: _without(f, "popularity_percentiles") for n, f in models.items()}
                for p, models in result.items()
            },
        }
        self._percentiles = {
            p: {n: f["popularity_percentiles"] for n, f in models.items()}
            for p, models in result.items()
        }

    # helpers -----------------------------------------------------------------------
    def _keep_lists(self, protocol, name, users, lists) -> None:
        self.lists.setdefault(protocol, {})[name] = [list(map(int, x)) for x in lists]

    def _peer_failed(self, error: PeerUnavailable) -> None:
        logger.warning("%s", error)
        self.peer_errors.append(str(error))


def _without(mapping: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


def _brief(figures: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in figures.items() if isinstance(v, float))


# --------------------------------------------------------------------------- output


def plot(report: dict[str, Any], percentiles: dict, out: Path) -> list[Path]:
    """PNG plots of the main figures; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    models = report["next_movie"]["models"]
    names = list(models)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    hr = [models[n]["test"]["hr@10"] for n in names]
    ci = np.array([models[n]["test"]["hr@10_ci95"] for n in names]).T
    ax.barh(names, hr, xerr=[np.subtract(hr, ci[0]), ci[1] - hr], color="#4C72B0")
    ax.invert_yaxis()
    ax.set_xlabel("HR@10 on each user's last movie (95% interval)")
    ax.set_title(f"Next movie, {report['dataset']}: leave-one-out, full ranking")
    written.append(_save(fig, out / "next_movie.png"))

    rating = report["rating"]["models"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for row, entry in enumerate(rating.values()):
        values = [r["rmse"] for r in entry["runs"]]
        ax.scatter(values, [row] * len(values), color="#C44E52", zorder=3)
        ax.errorbar(entry["rmse_mean"], row, xerr=entry["rmse_std"], fmt="|k", ms=14)
    ax.set_yticks(range(len(rating)), list(rating))
    ax.invert_yaxis()
    ax.set_xlabel(f"RMSE on held-out ratings (seeds {report['rating']['seeds']})")
    ax.set_title(f"Best for me, {report['dataset']}: random 90/10 splits")
    written.append(_save(fig, out / "rating_rmse.png"))

    panels = [(p, by_model) for p, by_model in percentiles.items() if by_model]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3.8))
    for ax, (protocol, by_model) in zip(np.atleast_1d(axes), panels, strict=True):
        labels = list(by_model)
        ax.boxplot(
            [by_model[n] for n in labels], orientation="horizontal", showfliers=False
        )
        ax.set_yticks(range(1, len(labels) + 1), labels)
        ax.invert_yaxis()
        ax.axvline(50, color="grey", ls=":", lw=1)
        ax.set_xlim(0, 100)
        ax.set_xlabel("popularity percentile of recommended movies (100 = most rated)")
        ax.set_title(
            "next movie (top 10)"
            if protocol == "next_movie"
            else "best for me (top 10)"
        )
    fig.suptitle("Do the recommendations lean to popular movies?")
    written.append(_save(fig, out / "popularity_bias.png"))
    return written


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def markdown(report: dict[str, Any]) -> str:
    """The report's tables as Markdown."""
    lines = [
        f"# MovieBot evaluation: {report['dataset']}",
        "",
        f"{report['ratings']:,} ratings, {report['users']:,} users, "
        f"{report['movies']:,} movies. Run {report['date']} on "
        f"{report['machine']['cpus']} CPU cores in {report['total_seconds'] / 60:.1f} "
        "minutes (`make evaluate`).",
        "",
    ]
    nxt = report["next_movie"]
    lines += [
        "## Next movie: leave-one-out by time, full ranking",
        "",
        f"{nxt['n_users']} users; validation = second-to-last movie, test = last "
        "movie; every model ranks all movies, seen ones removed.",
        "",
        "| model | HR@10 | 95% interval | NDCG@10 | HR@20 | valid HR@10 | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, entry in nxt["models"].items():
        t = entry["test"]
        lines.append(
            f"| {name} | {t['hr@10']:.4f} | {t['hr@10_ci95'][0]:.3f}–"
            f"{t['hr@10_ci95'][1]:.3f} | {t['ndcg@10']:.4f} | {t['hr@20']:.4f} | "
            f"{entry['valid']['hr@10']:.4f} | {entry['seconds']:.0f} |"
        )
    half = report["half_sequences"]
    lines += [
        "",
        "## Next movie: Devooght & Bersini (held-out users, sequences cut in half)",
        "",
        f"{half['n_test_users']} held-out users, {half['n_train_users']} training "
        "users.",
        "",
        "| model | sps@10 | recall@10 | user coverage | item coverage | seconds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, f in half["models"].items():
        lines.append(
            f"| {name} | {f['sps@10']:.4f} | {f['recall@10']:.4f} | "
            f"{f['user_coverage']:.4f} | {f['item_coverage']} | {f['seconds']:.0f} |"
        )
    rating = report["rating"]
    lines += [
        "",
        "## Best for me: rating prediction (random 90/10 splits)",
        "",
        "| model | RMSE mean | spread (std) | per seed | seconds per run |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, entry in rating["models"].items():
        per_seed = ", ".join(f"{r['rmse']:.4f}" for r in entry["runs"])
        seconds = np.mean([r["seconds"] for r in entry["runs"]])
        lines.append(
            f"| {name} | {entry['rmse_mean']:.4f} | {entry['rmse_std']:.4f} | "
            f"{per_seed} | {seconds:.0f} |"
        )
    top = report["top_n"]
    lines += [
        "",
        "## Best for me: top 10 against held-out ratings of 4 or more",
        "",
        "| model | recall@10 | NDCG@10 | users |",
        "| --- | --- | --- | --- |",
    ]
    for name, f in top["models"].items():
        lines.append(
            f"| {name} | {f['recall@10']:.4f} | {f['ndcg@10']:.4f} | {f['n_users']} |"
        )
    beyond = report["beyond_accuracy"]
    lines += [
        "",
        "## Beyond accuracy (every top-10 list)",
        "",
        "| list | model | catalogue coverage | genre diversity | popularity "
        "percentile (mean / median) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for protocol in ("next_movie", "top_n"):
        for name, f in beyond.get(protocol, {}).items():
            lines.append(
                f"| {protocol.replace('_', ' ')} | {name} | "
                f"{f['catalogue_coverage']:.4f} | {f['genre_diversity']:.3f} | "
                f"{f['popularity_percentile_mean']:.1f} / "
                f"{f['popularity_percentile_median']:.1f} |"
            )
    lines += ["", "![next movie](next_movie.png)", "", "![rating](rating_rmse.png)"]
    lines += ["", "![popularity bias](popularity_bias.png)", ""]
    if report.get("peer_errors"):
        lines += ["## Peers that did not run", ""]
        lines += [f"- {e.splitlines()[0]}" for e in report["peer_errors"]]
    return "\n".join(lines) + "\n"


def evaluate(
    source: Path,
    out: Path,
    *,
    peers_python: Path | None,
    gru_config: GRUConfig | None = None,
    ae_config: AutoencoderConfig | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every protocol on the MovieLens at `source`; write the reports.

    The models use the product's settings unless configs are given.
    """
    started = time.perf_counter()
    data = movielens.load_movielens(source)
    ratings = data.ratings
    run = Run(
        data,
        peers_python,
        gru_config if gru_config is not None else GRUConfig(),
        ae_config if ae_config is not None else AutoencoderConfig(),
    )
    phases = [
        ("next movie (leave-one-out)", run.next_movie, 5),
        ("next movie (half sequences)", run.half_sequences, 4),
        ("best for me (ratings)", run.rating, 2 * len(RATING_SEEDS)),
    ]
    with tqdm(
        total=sum(n for *_, n in phases),
        desc="evaluate",
        unit="step",
        disable=not progress,
    ) as bar:
        for title, phase, _ in phases:
            logger.info("phase: %s", title)
            tick = time.perf_counter()
            phase(bar)
            logger.info("phase %s done in %.0fs", title, time.perf_counter() - tick)
    logger.info("phase: beyond accuracy")
    run.beyond()
    report = {
        "dataset": data.name,
        "source": str(source),
        "date": time.strftime("%Y-%m-%d"),
        "ratings": len(ratings),
        "users": int(ratings["user_id"].nunique()),
        "movies": len(data.movies),
        "split_seeds": {
            "leave_one_out": "none (deterministic, by time)",
            "half_sequences": HALF_SPLIT_SEED,
            "rating": list(RATING_SEEDS),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        **run.report,
        "peer_errors": run.peer_errors,
    }
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n")
    logger.info("phase: plots")
    plots = plot(report, run._percentiles, out)
    (out / "evaluation.md").write_text(markdown(report))
    logger.info(
        "wrote %s, %s and %s in %.1f minutes",
        out / "evaluation.json",
        out / "evaluation.md",
        ", ".join(p.name for p in plots),
        report["total_seconds"] / 60,
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recommender.evaluate",
        description="Measure the GRU and the autoencoder beside baselines and peer "
        "libraries (RecTools SASRec, Surprise SVD) on the published protocols; "
        "write reports/evaluation.json, reports/evaluation.md and PNG plots.",
    )
    movielens.add_source_arguments(parser)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "reports", help="where to write reports"
    )
    parser.add_argument(
        "--peers-python",
        type=Path,
        default=Path(os.environ.get("MOVIEBOT_PEERS_PYTHON") or DEFAULT_PEERS_PYTHON),
        help="Python of the peer environment (`make peers`; default: %(default)s)",
    )
    parser.add_argument(
        "--no-peers", action="store_true", help="skip RecTools SASRec and Surprise SVD"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        source = movielens.resolve_source(args.data, args.dataset, args.cache)
        evaluate(
            source,
            args.out,
            peers_python=None if args.no_peers else args.peers_python,
            progress=not args.quiet and sys.stderr.isatty(),
        )
    except (MovieBotError, ValueError) as error:
        logger.error("%s", error)
        return 1
    print((args.out / "evaluation.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
