"""Train both recommenders on MovieLens and write what the action server serves.

    python -m recommender.train --data ../shared/data/ml-latest-small

Writes into the artifacts folder: ``catalog.csv`` (the movies the bot can match),
``gru.pt``, ``autoencoder.pt``, ``metrics.json`` and ``manifest.json`` (written
last: a folder without it is incomplete). Training is skipped when the manifest
says the same data and settings were trained already.

Each model is checked on data it did not see, beside its baseline: the GRU on each
user's last movie (leave-last-out, ranked against all movies) beside popularity,
the autoencoder on a random 10% of ratings beside a user-and-movie bias baseline.
The models served are the ones checked: trained without those held-out ratings.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from tqdm.contrib.logging import logging_redirect_tqdm

from recommender import movielens
from recommender.errors import MovieBotError
from recommender.metrics import evaluate_next_movie, evaluate_rating
from recommender.models.autoencoder import AutoencoderConfig, AutoencoderRecommender
from recommender.models.baselines import BiasBaseline, PopularityRecommender
from recommender.models.gru import GRUConfig, GRURecommender
from recommender.service import (
    AUTOENCODER_FILE,
    CATALOG_FILE,
    GRU_FILE,
    MANIFEST_FILE,
    artifacts_dir,
)
from recommender.splits import leave_last_out, random_split

logger = logging.getLogger(__name__)

# Bumped when the artifacts change shape, so that old ones are retrained.
FORMAT_VERSION = 1
SPLIT_SEED = 0


def build_catalog(data: movielens.MovieLens) -> pd.DataFrame:
    """The movies table the bot matches titles against, with popularity."""
    counts = data.ratings.groupby("movie_id")["rating"].agg(["size", "mean"])
    movies = data.movies.set_index("movie_id")
    movies["popularity"] = counts["size"].reindex(movies.index).fillna(0).astype(int)
    movies["mean_rating"] = counts["mean"].reindex(movies.index).round(3)
    if data.links is not None:
        links = data.links.set_index("movie_id")
        movies["imdb_id"] = links["imdb_id"].reindex(movies.index)
        movies["tmdb_id"] = links["tmdb_id"].reindex(movies.index)
    else:
        movies["imdb_id"] = pd.NA
        movies["tmdb_id"] = pd.NA
    return movies.reset_index()


def train(
    source: Path,
    out: Path,
    gru_config: GRUConfig,
    ae_config: AutoencoderConfig,
    *,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Train, check and save both models; returns the metrics written."""
    fingerprint = movielens.fingerprint(source)
    settings = {
        "format": FORMAT_VERSION,
        "fingerprint": fingerprint,
        "gru": asdict(gru_config),
        "autoencoder": ae_config.to_dict(),
        "split_seed": SPLIT_SEED,
    }
    manifest_path = out / MANIFEST_FILE
    if not force and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("settings") == json.loads(json.dumps(settings)):
            logger.info(
                "models in %s are up to date with %s; nothing to do", out, source
            )
            return json.loads((out / "metrics.json").read_text())

    started = time.perf_counter()
    data = movielens.load_movielens(source)
    ratings = data.ratings
    logger.info(
        "loaded %s: %d ratings, %d users, %d movies",
        data.name,
        len(ratings),
        ratings["user_id"].nunique(),
        len(data.movies),
    )
    out.mkdir(parents=True, exist_ok=True)
    manifest_path.unlink(missing_ok=True)
    build_catalog(data).to_csv(out / CATALOG_FILE, index=False)

    logger.info("GRU: training on each user's history but their last movie")
    train_part, valid, test = leave_last_out(ratings)
    seen = pd.concat([train_part, valid])
    tick = time.perf_counter()
    gru = GRURecommender(gru_config).fit(seen, progress=progress)
    gru_seconds = time.perf_counter() - tick
    gru_check = evaluate_next_movie(gru, seen, test, k=10)
    popular_check = evaluate_next_movie(
        PopularityRecommender().fit(seen), seen, test, k=10
    )
    gru.save(out / GRU_FILE)

    logger.info("autoencoder: training on a random 90% of the ratings")
    ae_train, ae_test = random_split(ratings, test_fraction=0.1, seed=SPLIT_SEED)
    tick = time.perf_counter()
    autoencoder = AutoencoderRecommender(ae_config).fit(ae_train, progress=progress)
    ae_seconds = time.perf_counter() - tick
    ae_check = evaluate_rating(autoencoder, ae_train, ae_test)
    bias_check = evaluate_rating(BiasBaseline().fit(ae_train), ae_train, ae_test)
    autoencoder.save(out / AUTOENCODER_FILE)

    metrics = {
        "dataset": data.name,
        "source": str(source),
        "ratings": len(ratings),
        "users": int(ratings["user_id"].nunique()),
        "movies": len(data.movies),
        "next_movie": {
            "protocol": "leave-last-out by time, full ranking, seen movies removed",
            "gru": gru_check,
            "popularity": popular_check,
            "gru_fit_seconds": round(gru_seconds, 1),
        },
        "rating": {
            "protocol": f"random 90/10 split of ratings, seed {SPLIT_SEED}",
            "autoencoder": ae_check,
            "bias_baseline": bias_check,
            "autoencoder_fit_seconds": round(ae_seconds, 1),
        },
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    manifest = {"settings": settings, "dataset": data.name, "source": str(source)}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    logger.info("wrote models and metrics to %s", out)
    return metrics


def report(metrics: dict) -> tuple[str, bool]:
    """A short table of the held-out checks, and whether both models win."""
    nxt, rating = metrics["next_movie"], metrics["rating"]
    gru_hr, pop_hr = nxt["gru"]["hr@10"], nxt["popularity"]["hr@10"]
    ae_rmse, bias_rmse = rating["autoencoder"]["rmse"], rating["bias_baseline"]["rmse"]
    gru_wins, ae_wins = gru_hr > pop_hr, ae_rmse < bias_rmse
    lines = [
        f"Held-out check on {metrics['dataset']} ({metrics['ratings']:,} ratings, "
        f"{metrics['users']} users):",
        f"  next movie   GRU HR@10 {gru_hr:.4f}  vs popularity {pop_hr:.4f}  "
        f"({nxt['gru']['n_users']} users, last movie held out)  "
        + ("GRU wins" if gru_wins else "GRU LOSES"),
        f"  best for me  autoencoder RMSE {ae_rmse:.4f}  vs bias baseline "
        f"{bias_rmse:.4f}  ({rating['autoencoder']['n_ratings']:,} held-out ratings)  "
        + ("autoencoder wins" if ae_wins else "autoencoder LOSES"),
    ]
    return "\n".join(lines), gru_wins and ae_wins


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recommender.train",
        description="Train MovieBot's GRU (next movie) and autoencoder (best for me) "
        "on MovieLens, check both on held-out data beside a baseline, and save them "
        "for the action server.",
    )
    movielens.add_source_arguments(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=artifacts_dir(),
        help="where to write the models (default: $MOVIEBOT_ARTIFACTS or %(default)s)",
    )
    parser.add_argument(
        "--gru-epochs",
        type=int,
        default=GRUConfig.epochs,
        help="passes of the GRU over the data (default: %(default)s, tuned)",
    )
    parser.add_argument(
        "--ae-epochs",
        type=int,
        default=AutoencoderConfig.epochs,
        help="passes of the autoencoder over the data (default: %(default)s, tuned)",
    )
    parser.add_argument(
        "--force", action="store_true", help="retrain even if up to date"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        # Log lines go above the progress bars instead of through them.
        with logging_redirect_tqdm():
            source = movielens.resolve_source(args.data, args.dataset, args.cache)
            metrics = train(
                source,
                args.out,
                GRUConfig(epochs=args.gru_epochs),
                AutoencoderConfig(epochs=args.ae_epochs),
                force=args.force,
                progress=not args.quiet and sys.stderr.isatty(),
            )
    except (MovieBotError, ValueError) as error:
        logger.error("%s", error)
        return 1
    table, both_win = report(metrics)
    print(table)
    if not both_win:
        logger.warning("a model does not beat its baseline on held-out data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
