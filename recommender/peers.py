"""Peer models the evaluation sets ours beside: RecTools SASRec, Surprise SVD.

They run in their own environment (``make peers`` builds .venv-peers) so their
libraries never pin the product's; the evaluation calls this module there as a
subprocess and the two sides exchange files:

    .venv-peers/bin/python -m recommender.peers sasrec --train train.csv \\
        --users users.csv --k 20 --out recs.json
    .venv-peers/bin/python -m recommender.peers svd --train train.csv \\
        --test test.csv --out preds.json

Only numpy, pandas, the peer libraries and the standard library are imported,
never other modules of this package (they need the product's extras), and the
peer libraries only when a command runs, so ``--help`` works anywhere.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

RATING_SCALE = (0.5, 5.0)
TRAIN_COLUMNS = ("user_id", "movie_id", "rating", "timestamp")
# Warnings RecTools 0.19 and Lightning give on every SASRec fit that say nothing
# about this run (cold users are counted and logged here instead).
SASREC_NOISE = (
    r"Pydantic serializer warnings",
    r"You defined a `validation_step` but have no `val_dataloader`",
    r".*LeafSpec.* is deprecated",
    r"\d+ target users were considered cold",
)


class PeerError(Exception):
    """Bad input or a missing peer library; the message says what to do."""


@dataclass(frozen=True)
class SASRecSettings:
    """RecTools SASRec, sized to fit ml-latest-small in about 5 minutes on 2 CPU
    cores (its defaults with 30 epochs over sequences of 200 take 17).

    Kang & McAuley, "Self-Attentive Sequential Recommendation" (ICDM 2018),
    trained with the full softmax loss as Klenitskiy & Vasilev, "Turning Dross
    Into Gold Loss: is BERT4Rec really better than SASRec?" (RecSys 2023) show
    it ranks best. Tuned on the leave-one-out validation items: batches of 32 and
    a learning rate of 0.002 reach HR@10 0.084 in 30 epochs and 0.087 in 50,
    where batches of 128 at 0.001 stay below popularity within the time budget
    (610 users make only 5 steps an epoch).
    """

    epochs: int = 50  # at most; the time budget may stop it earlier
    max_len: int = 100  # most recent movies of a user trained on and attended to
    factors: int = 64  # embedding and hidden size
    blocks: int = 2  # transformer blocks
    heads: int = 1  # attention heads
    dropout: float = 0.2
    loss: str = "softmax"  # or "sampled_softmax", "BCE", "gBCE"
    negatives: int = 256  # sampled negatives, for every loss but softmax
    batch_size: int = 32  # user sequences a step
    lr: float = 0.002
    # Lightning precision: "bf16-mixed" runs the layers in bfloat16, about 1.5
    # times faster where the CPU computes it natively; None: bf16-mixed only there.
    precision: str | None = None
    time_budget: float | None = 330.0  # seconds of training, None for no limit


@dataclass(frozen=True)
class SVDSettings:
    """Surprise's SVD with its own defaults (Funk's biased matrix factorisation)."""

    epochs: int = 20
    factors: int = 100


def read_frame(path: Path, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    """Read a CSV and check it has `columns` (others are ignored)."""
    if not path.is_file():
        raise PeerError(f"{what} file {path} does not exist")
    frame = pd.read_csv(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PeerError(
            f"{what} file {path} lacks the column(s) {', '.join(missing)}: expected "
            f"{', '.join(columns)}, found {', '.join(map(str, frame.columns))}"
        )
    if frame.empty:
        raise PeerError(f"{what} file {path} has no rows")
    return frame[list(columns)]


def _peer_library(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError as error:
        raise PeerError(
            f"{name} is not installed in {sys.prefix}: run this module with the "
            "peers environment (`make peers`, then .venv-peers/bin/python)"
        ) from error


def _sasrec_trainer(
    epochs: int, seconds: float | None, deterministic: bool, precision: str = "32-true"
) -> Any:
    """A Lightning trainer that stops after `epochs` or `seconds`, logging each
    epoch's loss (RecTools' own trainer has no time limit)."""
    import pytorch_lightning as pl

    class EpochLog(pl.Callback):
        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            loss = trainer.callback_metrics.get("train_loss")
            loss = float("nan") if loss is None else float(loss)
            if not np.isfinite(loss):
                raise PeerError(
                    f"SASRec's training loss is {loss} at epoch "
                    f"{trainer.current_epoch + 1}: lower --lr"
                )
            logger.info(
                "SASRec epoch %d/%d: loss %.4f", trainer.current_epoch + 1, epochs, loss
            )

    return pl.Trainer(
        max_epochs=epochs,
        max_time=None if seconds is None else timedelta(seconds=seconds),
        deterministic=deterministic,
        precision=precision,
        callbacks=[EpochLog()],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        logger=False,
        devices=1,
    )


def _interactions(ratings: pd.DataFrame) -> pd.DataFrame:
    """Ratings as RecTools interactions: each one an implicit event at its time."""
    return pd.DataFrame(
        {
            "user_id": ratings["user_id"].to_numpy(),
            "item_id": ratings["movie_id"].to_numpy(),
            "weight": 1.0,
            "datetime": pd.to_datetime(ratings["timestamp"], unit="s"),
        }
    )


def _native_bf16(torch: Any) -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX), as
    recommender.models.gru.native_bf16 asks, which this module may not import."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def recommend_sasrec(
    train: pd.DataFrame,
    users: list[int],
    k: int,
    settings: SASRecSettings,
    seed: int = 0,
    history: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Fit SASRec on every rating in `train` as an implicit interaction ordered
    by timestamp (ties keep file order), then rank all movies in `train` for
    each of `users`, their own movies removed ("recommendations").

    With `history` (the training ratings plus later ones), the fitted model ranks
    again reading those longer histories, without refitting ("with_history"):
    the leave-one-out protocol fits once and asks for the validation item, then
    for the test item after the validation one.

    Users without a movie the model knows get an empty list ("cold_users").
    """
    rectools = _peer_library("rectools")
    torch = _peer_library("torch")
    import pytorch_lightning as pl
    from rectools.dataset import Dataset
    from rectools.models import SASRecModel
    from rectools.models.nn.item_net import IdEmbeddingsItemNet

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    pl.seed_everything(seed, workers=True, verbose=False)
    interactions = _interactions(train)
    dataset = Dataset.construct(interactions)
    precision = settings.precision or (
        "bf16-mixed" if _native_bf16(torch) else "32-true"
    )
    model = SASRecModel(
        n_blocks=settings.blocks,
        n_heads=settings.heads,
        n_factors=settings.factors,
        dropout_rate=settings.dropout,
        session_max_len=settings.max_len,
        loss=settings.loss,
        n_negatives=settings.negatives,
        lr=settings.lr,
        batch_size=settings.batch_size,
        item_net_block_types=(IdEmbeddingsItemNet,),
        get_trainer_func=_sasrec_trainer,
        get_trainer_func_kwargs={
            "epochs": settings.epochs,
            "seconds": settings.time_budget,
            "deterministic": True,
            "precision": precision,
        },
    )

    logger.info(
        "SASRec: fitting on %d interactions of %d users, %d movies, %s",
        len(interactions),
        interactions["user_id"].nunique(),
        interactions["item_id"].nunique(),
        settings,
    )
    tick = time.perf_counter()
    with warnings.catch_warnings():
        for message in SASREC_NOISE:
            warnings.filterwarnings("ignore", message=message)
        model.fit(dataset)
    fit_seconds = time.perf_counter() - tick
    epochs_run = model.fit_trainer.current_epoch
    logger.info("SASRec: fitted %d epochs in %.1f s", epochs_run, fit_seconds)
    if epochs_run < settings.epochs:
        logger.warning(
            "SASRec: the time budget of %s s stopped training after %d of %d "
            "epochs; results depend on this machine's speed",
            settings.time_budget,
            epochs_run,
            settings.epochs,
        )

    lists, cold = _rank_sasrec(model, dataset, interactions, users, k)
    result = {
        "model": "RecTools SASRec",
        "version": rectools.__version__,
        "params": {**asdict(settings), "precision": precision, "seed": seed, "k": k},
        "fit_seconds": round(fit_seconds, 1),
        "epochs_run": epochs_run,
        "cold_users": cold,
        "recommendations": lists,
    }
    if history is not None:
        longer = _interactions(history)
        # Movies the model never saw cannot be read or ranked.
        longer = longer[longer["item_id"].isin(interactions["item_id"])]
        result["with_history"], _ = _rank_sasrec(
            model, Dataset.construct(longer), longer, users, k
        )
    return result


def _rank_sasrec(
    model: Any, dataset: Any, interactions: pd.DataFrame, users: list[int], k: int
) -> tuple[dict[str, list[int]], int]:
    """Each user's top k unseen movies, reading their histories in `dataset`."""
    present = set(interactions["user_id"].tolist())
    known = [u for u in users if u in present]
    tick = time.perf_counter()
    with warnings.catch_warnings():
        for message in SASREC_NOISE:
            warnings.filterwarnings("ignore", message=message)
        recos = model.recommend(
            users=known,
            dataset=dataset,
            k=k,
            filter_viewed=True,
            on_unsupported_targets="warn",
        )
    by_user = recos.groupby("user_id", sort=False)["item_id"].agg(list).to_dict()
    lists = {str(u): [int(m) for m in by_user.get(u, [])] for u in users}
    cold = sum(1 for u in users if u not in by_user)
    if cold:
        logger.warning("SASRec: %d of %d users have no known movie", cold, len(users))
    logger.info(
        "SASRec: top %d for %d users in %.1f s",
        k,
        len(users),
        time.perf_counter() - tick,
    )
    return lists, cold


def predict_svd(
    train: pd.DataFrame,
    test: pd.DataFrame,
    settings: SVDSettings,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit Surprise's SVD on `train` ratings and predict each `test` row, in
    order; unknown users or movies get what Surprise gives them (the mean)."""
    surprise = _peer_library("surprise")

    reader = surprise.Reader(rating_scale=RATING_SCALE)
    data = surprise.Dataset.load_from_df(
        train[["user_id", "movie_id", "rating"]], reader
    )
    algo = surprise.SVD(
        n_factors=settings.factors, n_epochs=settings.epochs, random_state=seed
    )
    logger.info("SVD: fitting on %d ratings, %s", len(train), settings)
    tick = time.perf_counter()
    algo.fit(data.build_full_trainset())
    fit_seconds = time.perf_counter() - tick
    logger.info("SVD: fitted in %.1f s", fit_seconds)

    pairs = zip(test["user_id"].tolist(), test["movie_id"].tolist(), strict=True)
    predictions = [float(algo.predict(u, m).est) for u, m in pairs]
    logger.info("SVD: predicted %d ratings", len(predictions))
    return {
        "model": "Surprise SVD",
        "version": surprise.__version__,
        "params": {**asdict(settings), "seed": seed, "rating_scale": RATING_SCALE},
        "fit_seconds": round(fit_seconds, 1),
        "predictions": predictions,
    }


def _write_json(result: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(json.dumps(result))
    partial.replace(out)  # a reader never sees half a file
    logger.info("wrote %s", out)


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recommender.peers",
        description="Fit a peer model on CSV files and write its output as JSON.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    sas, svd = SASRecSettings(), SVDSettings()

    rec = commands.add_parser(
        "sasrec",
        help="RecTools SASRec: top-k next movies per user",
        description="Fit RecTools' SASRec on every rating as an implicit "
        "interaction ordered by time; write each user's top k among all movies "
        "in the training file, their own movies removed.",
    )
    rec.add_argument(
        "--train",
        type=Path,
        required=True,
        help="CSV with user_id,movie_id,rating,timestamp: the histories",
    )
    rec.add_argument(
        "--history",
        type=Path,
        help="CSV like --train with later ratings added: rank a second time "
        "reading these histories, without refitting (written as with_history)",
    )
    rec.add_argument(
        "--users",
        type=Path,
        required=True,
        help="CSV with a user_id column: the users to recommend for",
    )
    rec.add_argument(
        "--k",
        type=_positive(int),
        default=20,
        help="movies per user (default %(default)s)",
    )
    rec.add_argument(
        "--out",
        type=Path,
        required=True,
        help="JSON to write: model, version, params, fit_seconds, "
        "recommendations {user id: [movie id, ...]}",
    )
    rec.add_argument(
        "--epochs",
        type=_positive(int),
        default=sas.epochs,
        help="training epochs at most (default %(default)s)",
    )
    rec.add_argument(
        "--max-len",
        type=_positive(int),
        default=sas.max_len,
        help="most recent movies per user the model reads (default %(default)s)",
    )
    rec.add_argument(
        "--factors",
        type=_positive(int),
        default=sas.factors,
        help="embedding size (default %(default)s)",
    )
    rec.add_argument(
        "--blocks",
        type=_positive(int),
        default=sas.blocks,
        help="transformer blocks (default %(default)s)",
    )
    rec.add_argument(
        "--heads",
        type=_positive(int),
        default=sas.heads,
        help="attention heads, dividing --factors (default %(default)s)",
    )
    rec.add_argument(
        "--dropout",
        type=float,
        default=sas.dropout,
        help="dropout rate (default %(default)s)",
    )
    rec.add_argument(
        "--loss",
        choices=("softmax", "sampled_softmax", "BCE", "gBCE"),
        default=sas.loss,
        help="training loss (default %(default)s)",
    )
    rec.add_argument(
        "--negatives",
        type=_positive(int),
        default=sas.negatives,
        help="sampled negatives for losses other than softmax (default %(default)s)",
    )
    rec.add_argument(
        "--batch-size",
        type=_positive(int),
        default=sas.batch_size,
        help="user sequences per step (default %(default)s)",
    )
    rec.add_argument(
        "--lr",
        type=_positive(float),
        default=sas.lr,
        help="Adam learning rate (default %(default)s)",
    )
    rec.add_argument(
        "--precision",
        choices=("32-true", "bf16-mixed"),
        default=sas.precision,
        help="training precision (default: bf16-mixed where the CPU computes "
        "bfloat16 natively, else 32-true)",
    )
    rec.add_argument(
        "--time-budget",
        type=float,
        default=sas.time_budget,
        metavar="SECONDS",
        help="stop training after this many seconds even if epochs "
        "remain; 0 for no limit (default %(default)s)",
    )
    rec.add_argument(
        "--seed", type=int, default=0, help="random seed (default %(default)s)"
    )

    rating = commands.add_parser(
        "svd",
        help="Surprise SVD: a rating for each test row",
        description="Fit Surprise's SVD (ratings 0.5 to 5) and predict the "
        "rating of every row of the test file, in its order.",
    )
    rating.add_argument(
        "--train", type=Path, required=True, help="CSV with user_id,movie_id,rating"
    )
    rating.add_argument(
        "--test",
        type=Path,
        required=True,
        help="CSV with user_id,movie_id: the pairs to predict",
    )
    rating.add_argument(
        "--out",
        type=Path,
        required=True,
        help="JSON to write: model, version, params, fit_seconds, "
        "predictions [one float per test row]",
    )
    rating.add_argument(
        "--epochs",
        type=_positive(int),
        default=svd.epochs,
        help="SGD epochs (default %(default)s)",
    )
    rating.add_argument(
        "--factors",
        type=_positive(int),
        default=svd.factors,
        help="latent factors (default %(default)s)",
    )
    rating.add_argument(
        "--seed", type=int, default=0, help="random seed (default %(default)s)"
    )
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.command == "sasrec":
        options = {f.name: getattr(args, f.name) for f in fields(SASRecSettings)}
        if not options["time_budget"] or options["time_budget"] <= 0:
            options["time_budget"] = None
        train = read_frame(args.train, TRAIN_COLUMNS, "train")
        users = read_frame(args.users, ("user_id",), "users")
        history = (
            read_frame(args.history, TRAIN_COLUMNS, "history")
            if args.history is not None
            else None
        )
        return recommend_sasrec(
            train,
            list(dict.fromkeys(users["user_id"].tolist())),
            args.k,
            SASRecSettings(**options),
            seed=args.seed,
            history=history,
        )
    train = read_frame(args.train, TRAIN_COLUMNS[:3], "train")
    test = read_frame(args.test, TRAIN_COLUMNS[:2], "test")
    settings = SVDSettings(epochs=args.epochs, factors=args.factors)
    return predict_svd(train, test, settings, seed=args.seed)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)
    # Lightning announces the hardware it found at info level, every fit.
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    try:
        _write_json(run(args), args.out)
    except PeerError as error:
        logger.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
