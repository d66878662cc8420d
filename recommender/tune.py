"""Try model settings on validation data only, and log what each one scores.

    python -m recommender.tune gru --set hidden_size=256 --set epochs=30
    python -m recommender.tune autoencoder --set layers=512,256 --set dropout=0.5

The GRU is trained on the leave-last-out training part and scored on each user's
second-to-last movie (their last one, the test item, is never read). The
autoencoder is trained on 90% of the training part of the rating split
`evaluate` uses (seed 0) and scored on the other 10%: the test ratings are never
read either. Validation figures are computed after every epoch, so one run shows
the whole curve; each run is appended to ``reports/tuning.jsonl``. The settings
that win here become the defaults in `GRUConfig` and `AutoencoderConfig`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from recommender import movielens
from recommender.errors import MovieBotError
from recommender.metrics import evaluate_rating, ndcg_at_k, user_sequences
from recommender.models.autoencoder import AutoencoderConfig, AutoencoderRecommender
from recommender.models.gru import GRUConfig, GRURecommender
from recommender.splits import leave_last_out, random_split

logger = logging.getLogger(__name__)

# The rating split `evaluate` reports on first; validation is carved from its train.
RATING_SPLIT_SEED = 0
VALIDATION_SEED = 1000


def parse_setting(text: str, config_type: type) -> tuple[str, object]:
    """'name=value' -> (name, value converted to the field's type)."""
    name, sep, raw = text.partition("=")
    fields = {f.name: f for f in dataclasses.fields(config_type)}
    if not sep or name not in fields:
        raise ValueError(
            f"--set expects name=value with a name among {sorted(fields)}, got {text!r}"
        )
    default = getattr(config_type(), name)
    if raw.lower() == "none":
        value: object = None
    elif default is None:  # the optional counts: a number turns them on
        value = int(raw)
    elif isinstance(default, bool):
        value = raw.lower() in ("1", "true", "yes")
    elif isinstance(default, tuple):
        value = tuple(int(w) for w in raw.split(","))
    else:
        value = type(default)(raw)
    return name, value


def ranks_of_targets(scores: np.ndarray, target_idx: np.ndarray) -> np.ndarray:
    """1-based rank of each row's target among that row's scores (ties: optimistic)."""
    target_scores = scores[np.arange(len(scores)), target_idx]
    return 1 + (scores > target_scores[:, None]).sum(axis=1)


def next_movie_validation(
    model: GRURecommender, histories: list[list[int]], targets: list[int]
) -> dict[str, float]:
    """HR@10, NDCG@10 and HR@20 of the targets, seen movies removed, full ranking."""
    scores = model.score_many(histories).astype(np.float64)
    index = {int(m): i for i, m in enumerate(model.movie_ids)}
    keep = [i for i, t in enumerate(targets) if t in index]
    for row in keep:
        seen = [index[m] for m in histories[row] if m in index and m != targets[row]]
        scores[row, seen] = -np.inf
    ranks = np.full(len(targets), np.inf)
    target_idx = np.array([index[targets[i]] for i in keep], dtype=np.int64)
    ranks[keep] = ranks_of_targets(scores[keep], target_idx)
    return {
        "hr@10": float(np.mean(ranks <= 10)),
        "ndcg@10": ndcg_at_k(ranks, 10),
        "hr@20": float(np.mean(ranks <= 20)),
    }


def tune_gru(data: movielens.MovieLens, config: GRUConfig) -> dict:
    train, valid, _test = leave_last_out(data.ratings)
    sequences = user_sequences(train)
    users = valid["user_id"].tolist()
    histories = [sequences.get(int(u), []) for u in users]
    targets = valid["movie_id"].astype(int).tolist()
    curve = []

    def check(epoch: int, model: GRURecommender) -> None:
        figures = next_movie_validation(model, histories, targets)
        curve.append({"epoch": epoch, **figures})
        logger.info("epoch %d validation %s", epoch, _fmt(figures))

    GRURecommender(config).fit(train, progress=sys.stderr.isatty(), on_epoch=check)
    best = max(curve, key=lambda row: row["hr@10"])
    return {
        "model": "gru",
        "config": dataclasses.asdict(config),
        "curve": curve,
        "best": best,
        "n_users": len(users),
    }


def tune_autoencoder(data: movielens.MovieLens, config: AutoencoderConfig) -> dict:
    train, _test = random_split(data.ratings, 0.1, seed=RATING_SPLIT_SEED)
    fit_part, valid = random_split(train, 0.1, seed=VALIDATION_SEED)
    curve = []

    def check(epoch: int, model: AutoencoderRecommender) -> None:
        figures = evaluate_rating(model, fit_part, valid)
        curve.append({"epoch": epoch, "rmse": figures["rmse"]})
        logger.info("epoch %d validation RMSE %.4f", epoch, figures["rmse"])

    model = AutoencoderRecommender(config)
    model.fit(fit_part, progress=sys.stderr.isatty(), on_epoch=check)
    best = min(curve, key=lambda row: row["rmse"])
    return {
        "model": "autoencoder",
        "config": config.to_dict(),
        "curve": curve,
        "best": best,
        "n_ratings": len(valid),
    }


def _fmt(figures: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in figures.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recommender.tune",
        description="Train one model with the given settings and print its "
        "validation figures after every epoch (test data is never read). Each run "
        "is appended to reports/tuning.jsonl.",
    )
    parser.add_argument("model", choices=["gru", "autoencoder"])
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one setting of GRUConfig or AutoencoderConfig "
        "(repeatable; lists as 512,256)",
    )
    movielens.add_source_arguments(parser)
    parser.add_argument(
        "--log",
        type=Path,
        default=Path("reports/tuning.jsonl"),
        help="JSON lines file each run is appended to (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config_type = GRUConfig if args.model == "gru" else AutoencoderConfig
    try:
        config = config_type(**dict(parse_setting(s, config_type) for s in args.set))
        source = movielens.resolve_source(args.data, args.dataset, args.cache)
        data = movielens.load_movielens(source)
        started = time.perf_counter()
        tune = tune_gru if args.model == "gru" else tune_autoencoder
        result = tune(data, config)
    except (MovieBotError, ValueError) as error:
        logger.error("%s", error)
        return 1
    result.update(
        dataset=data.name,
        seconds=round(time.perf_counter() - started, 1),
        when=time.strftime("%Y-%m-%d %H:%M"),
    )
    args.log.parent.mkdir(parents=True, exist_ok=True)
    with args.log.open("a") as log:
        log.write(json.dumps(result) + "\n")
    print(f"best epoch {result['best']}; settings {result['config']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
