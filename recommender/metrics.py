"""Ranking and rating metrics, and the two evaluation protocols.

Next-movie protocol: any model with `recommend(history, k, exclude)` (the GRU,
the popularity baseline) is asked for its top k among ALL movies minus the ones
the user has already seen (full ranking, no sampled negatives).

Rating protocol: any model with `predict_pairs(user_ids, movie_ids)` (the bias
baseline), `predict(ratings, movie_ids)` (the autoencoder) or a plain function
`fn(user_id, known_ratings, movie_ids) -> sequence of ratings`.

Also Devooght & Bersini's half-sequence protocol on held-out users
(`evaluate_half_sequences`), a top-N check of liked held-out ratings
(`evaluate_top_n`), coverage, genre diversity and popularity bias of top-k lists
(`beyond_accuracy`), and confidence intervals (`wilson_interval`,
`mean_interval`). Models with `score_many` (k-NN, EASE) are scored in batches.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from statistics import NormalDist
from typing import Any, Protocol

import numpy as np
import pandas as pd

from recommender.errors import ModelError
from recommender.models.base import MovieIndex, topk_items

logger = logging.getLogger(__name__)


class Ranker(Protocol):
    def recommend(
        self, history: Sequence[int], k: int = 10, exclude: Sequence[int] = ()
    ) -> list[tuple[int, float]]: ...


def hit_rate_at_k(ranks: Sequence[float], k: int = 10) -> float:
    """Share of targets ranked within the top k (ranks are 1-based, inf = missed)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        raise ValueError("hit_rate_at_k needs at least one rank, got none")
    return float(np.mean(ranks <= k))


def ndcg_at_k(ranks: Sequence[float], k: int = 10) -> float:
    """Mean NDCG@k with one relevant item per target: 1/log2(rank + 1) if rank <= k."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        raise ValueError("ndcg_at_k needs at least one rank, got none")
    gains = np.zeros_like(ranks)
    hit = ranks <= k
    gains[hit] = 1.0 / np.log2(ranks[hit] + 1.0)
    return float(gains.mean())


def rmse(predicted: Sequence[float], actual: Sequence[float]) -> float:
    """Root mean squared error between two equally long sequences."""
    predicted = np.asarray(predicted, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if predicted.shape != actual.shape or predicted.size == 0:
        raise ValueError(
            "rmse needs two non-empty sequences of the same length, got "
            f"{predicted.shape} and {actual.shape}"
        )
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def user_sequences(ratings: pd.DataFrame) -> dict[int, list[int]]:
    """Each user's movie ids ordered by timestamp (stable: ties keep file order)."""
    ordered = ratings.sort_values(["user_id", "timestamp"], kind="stable")
    return {
        int(u): g.tolist()
        for u, g in ordered.groupby("user_id", sort=False)["movie_id"]
    }


def evaluate_next_movie(
    model: Ranker,
    train: pd.DataFrame | Mapping[int, Sequence[int]],
    test: pd.DataFrame,
    k: int = 10,
) -> dict[str, float]:
    """HR@k and NDCG@k of each test (user, movie) against a full ranking.

    `train` gives each user's history: a ratings frame (ordered by timestamp) or
    a mapping user id -> ordered movie ids. Seen movies are excluded from the
    ranking. Returns {"hr@k", "ndcg@k", "n_users", "n_targets"}.
    """
    histories = user_sequences(train) if isinstance(train, pd.DataFrame) else train
    ranks = []
    for user, targets in test.groupby("user_id", sort=True)["movie_id"]:
        history = list(histories.get(int(user), []))
        recs = [m for m, _ in model.recommend(history, k=k, exclude=history)]
        position = {m: i + 1 for i, m in enumerate(recs)}
        ranks.extend(position.get(int(t), np.inf) for t in targets)
    if not ranks:
        raise ValueError("evaluate_next_movie got an empty test frame")
    result = {
        f"hr@{k}": hit_rate_at_k(ranks, k),
        f"ndcg@{k}": ndcg_at_k(ranks, k),
        "n_users": int(test["user_id"].nunique()),
        "n_targets": len(ranks),
    }
    logger.info("next-movie evaluation of %s: %s", type(model).__name__, result)
    return result


def evaluate_rating(
    model: Any | Callable[[int, dict[int, float], list[int]], Sequence[float]],
    train: pd.DataFrame,
    test: pd.DataFrame,
) -> dict[str, float]:
    """RMSE on test ratings whose user and movie both appear in `train`.

    Rows with a user or movie unseen in `train` are left out for every model
    alike (counted in "n_cold"); users the model refuses (ModelError, e.g. too
    few ratings) are counted in "n_refused". Returns {"rmse", "n_ratings",
    "n_cold", "n_refused"}.
    """
    warm = test["user_id"].isin(train["user_id"]) & test["movie_id"].isin(
        train["movie_id"]
    )
    rows = test[warm]
    if rows.empty:
        raise ValueError("no test rating has both its user and movie in train")
    if hasattr(model, "predict_pairs"):
        preds = np.asarray(model.predict_pairs(rows["user_id"], rows["movie_id"]))
        actual, refused = rows["rating"].to_numpy(), 0
    else:
        known_by_user = {
            int(u): dict(zip(g["movie_id"].tolist(), g["rating"].tolist(), strict=True))
            for u, g in train[train["user_id"].isin(rows["user_id"])].groupby("user_id")
        }
        preds, actual, refused = [], [], 0
        for user, group in rows.groupby("user_id", sort=True):
            movies = group["movie_id"].tolist()
            known = known_by_user[int(user)]
            try:
                if hasattr(model, "predict"):
                    got = model.predict(known, movie_ids=movies)
                    values = [got[m] for m in movies]
                else:
                    values = list(model(int(user), known, movies))
            except ModelError:
                refused += len(group)
                continue
            preds.extend(values)
            actual.extend(group["rating"].tolist())
    result = {
        "rmse": rmse(preds, actual),
        "n_ratings": len(actual),
        "n_cold": int((~warm).sum()),
        "n_refused": refused,
    }
    logger.info("rating evaluation of %s: %s", type(model).__name__, result)
    return result


# ------------------------------------------------------------ ranked top-k lists


def _top_k_lists(
    model: Any, histories: Sequence[Sequence[int]], k: int, batch: int = 256
) -> list[list[int]]:
    """Each history's top k movie ids, best first, the history itself excluded.

    Models with `score_many` (k-NN, EASE) are scored a batch at a time and ranked
    by the same `topk_items` as their `recommend`; others are asked one by one.
    """
    if not hasattr(model, "score_many"):
        return [[m for m, _ in model.recommend(h, k=k, exclude=h)] for h in histories]
    index = MovieIndex(model.movie_ids)
    lists = []
    for lo in range(0, len(histories), batch):
        chunk = histories[lo : lo + batch]
        scores = model.score_many(chunk)  # (len(chunk), n_movies)
        for row, history in zip(scores, chunk, strict=True):
            top = topk_items(row, index.movie_ids, index, k, history)
            lists.append([m for m, _ in top])
    return lists


# ------------------------------------------- Devooght & Bersini's half sequences


def evaluate_half_sequences(
    model: Ranker,
    test_sequences: Mapping[int, Sequence[int]],
    k: int = 10,
    *,
    catalogue_size: int | None = None,
    return_lists: bool = False,
) -> dict[str, Any]:
    """Devooght & Bersini's protocol (arXiv:1608.07400, sec. 5) on held-out users.

    Each user's time-ordered sequence of n movies is cut as the authors' code cuts
    it: the first n // 2 movies are the history, the rest is the goal. The model
    ranks all movies minus the history and its top k is compared with the goal:

    - sps@k: share of users whose next movie (the goal's first) is in the top k;
    - recall@k: mean over users of |top k & goal| / |goal|, the authors' own
      definition (their `average_recall`), comparable with their tables;
    - capped_recall@k: the same divided by min(k, |goal|), so 1.0 is reachable;
    - precision@k: mean of |top k & goal| / k;
    - user_coverage@k: share of users with at least one goal movie in the top k;
    - item_coverage@k: number of distinct movies recommended correctly at least
      once, and item_coverage_share@k that number over `catalogue_size` (default:
      the number of movies the model knows).

    Also "n_users", "n_sps_hits" and "n_covered_users" (counts, for
    `wilson_interval`). With `return_lists`, "lists" maps user -> top k ids and
    "recall_per_user" user -> recall. Sequences shorter than 2 are skipped
    ("n_skipped").
    """
    users = [u for u, s in test_sequences.items() if len(s) >= 2]
    if not users:
        raise ValueError(
            "evaluate_half_sequences needs at least one sequence of 2 or more "
            f"movies, got {len(test_sequences)} sequence(s)"
        )
    cuts = {u: len(test_sequences[u]) // 2 for u in users}
    histories = [list(test_sequences[u][: cuts[u]]) for u in users]
    lists = _top_k_lists(model, histories, k)

    sps, recall, capped, precision, correct = [], [], [], [], set()
    for user, top in zip(users, lists, strict=True):
        goal = list(test_sequences[user][cuts[user] :])
        hits = set(top) & set(goal)
        sps.append(goal[0] in top)
        recall.append(len(hits) / len(set(goal)))
        capped.append(len(hits) / min(k, len(set(goal))))
        precision.append(len(hits) / k)
        correct |= hits
    if catalogue_size is None:
        catalogue_size = len(model.movie_ids)
    result = {
        f"sps@{k}": float(np.mean(sps)),
        f"recall@{k}": float(np.mean(recall)),
        f"capped_recall@{k}": float(np.mean(capped)),
        f"precision@{k}": float(np.mean(precision)),
        f"user_coverage@{k}": float(np.mean([c > 0 for c in recall])),
        f"item_coverage@{k}": len(correct),
        f"item_coverage_share@{k}": len(correct) / catalogue_size,
        "n_users": len(users),
        "n_sps_hits": int(np.sum(sps)),
        "n_covered_users": int(np.sum([c > 0 for c in recall])),
        "n_skipped": len(test_sequences) - len(users),
    }
    logger.info("half-sequence evaluation of %s: %s", type(model).__name__, result)
    if return_lists:
        result["lists"] = dict(zip(users, lists, strict=True))
        result["recall_per_user"] = dict(zip(users, recall, strict=True))
    return result


# ------------------------------------------------------- "best for me" top-N


def evaluate_top_n(
    model: Any | Callable[[int, dict[int, float]], Sequence[Any]],
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    *,
    min_rating: float = 4.0,
    min_train: int = 5,
    return_lists: bool = False,
) -> dict[str, Any]:
    """Recall@k and NDCG@k of the top k against each user's liked held-out movies.

    Meant for a random split of ratings (`splits.random_split`). A user's relevant
    movies are their test ratings >= `min_rating`; test rows of movies absent from
    `train` are dropped first ("n_cold"), as no model can rank them. The users
    evaluated are those with at least one relevant movie and at least `min_train`
    train ratings (default 5, the autoencoder's minimum, so that every model is
    judged on the same users); those with fewer are counted in "n_skipped_users".

    `model` is asked with the user's train ratings as a dict movie id -> rating in
    time order (file order without a timestamp column):
    `model.recommend(known, k=k)`; sequence models read the dict's keys as the
    history, the autoencoder reads the ratings. Or `model` is a function
    `fn(user_id, known) -> ranked movie ids or (id, score) pairs`. Train movies are
    never counted: they are excluded from the ranking. A user the model refuses
    (ModelError) scores 0 and is counted in "n_refused".

    recall@k = hits / min(k, n_relevant); NDCG@k uses binary gains 1/log2(rank+1)
    and an ideal DCG over min(k, n_relevant) positions. Returns {"recall@k",
    "ndcg@k", "n_users", "n_refused", "n_skipped_users", "n_cold"}, plus "lists"
    (user -> top k ids) and "recall_per_user" / "ndcg_per_user" with
    `return_lists`.
    """
    warm = test["movie_id"].isin(train["movie_id"])
    liked = test[warm & (test["rating"] >= min_rating)]
    ordered = (
        train.sort_values(["user_id", "timestamp"], kind="stable")
        if "timestamp" in train.columns
        else train
    )
    known_by_user = {
        int(u): dict(zip(g["movie_id"].tolist(), g["rating"].tolist(), strict=True))
        for u, g in ordered[ordered["user_id"].isin(liked["user_id"])].groupby(
            "user_id", sort=True
        )
    }
    relevant = {
        int(u): set(g.tolist())
        for u, g in liked.groupby("user_id", sort=True)["movie_id"]
        if len(known_by_user.get(int(u), ())) >= min_train
    }
    users = sorted(relevant)
    if not users:
        raise ValueError(
            f"no user has a held-out rating >= {min_rating} of a train movie and "
            f"at least {min_train} train ratings; check the split"
        )

    lists, refused = _top_n_lists(model, users, known_by_user, k)
    recall, ndcg = [], []
    discounts = 1.0 / np.log2(np.arange(2, k + 2))  # (k,) gain at ranks 1..k
    for user, top in zip(users, lists, strict=True):
        hits = np.array([m in relevant[user] for m in top[:k]], dtype=bool)
        ideal = min(k, len(relevant[user]))
        recall.append(hits.sum() / ideal)
        ndcg.append(discounts[: len(hits)][hits].sum() / discounts[:ideal].sum())
    result = {
        f"recall@{k}": float(np.mean(recall)),
        f"ndcg@{k}": float(np.mean(ndcg)),
        "n_users": len(users),
        "n_refused": refused,
        "n_skipped_users": int(liked["user_id"].nunique()) - len(users),
        "n_cold": int((~warm).sum()),
    }
    name = getattr(model, "__name__", type(model).__name__)
    logger.info("top-%d evaluation of %s: %s", k, name, result)
    if return_lists:
        result["lists"] = dict(zip(users, lists, strict=True))
        result["recall_per_user"] = dict(zip(users, map(float, recall), strict=True))
        result["ndcg_per_user"] = dict(zip(users, map(float, ndcg), strict=True))
    return result


def _top_n_lists(
    model: Any, users: list[int], known_by_user: dict[int, dict[int, float]], k: int
) -> tuple[list[list[int]], int]:
    """(each user's top k ids without their known movies, number refused)."""
    if hasattr(model, "score_many"):
        return _top_k_lists(model, [list(known_by_user[u]) for u in users], k), 0
    lists, refused = [], 0
    for user in users:
        known = known_by_user[user]
        try:
            if hasattr(model, "recommend"):
                got = model.recommend(known, k=k)
            else:
                got = model(user, known)
        except ModelError as exc:
            logger.debug("user %d refused: %s", user, exc)
            refused += 1
            lists.append([])
            continue
        ids = [int(g[0]) if isinstance(g, (tuple, list)) else int(g) for g in got]
        lists.append([m for m in ids if m not in known][:k])
    return lists, refused


# ------------------------------------------------------------- beyond accuracy


def beyond_accuracy(
    lists: Mapping[int, Sequence[int]],
    movies: pd.DataFrame,
    popularity: Mapping[int, float],
    catalogue_size: int | None = None,
    *,
    return_percentiles: bool = False,
) -> dict[str, Any]:
    """Catalogue coverage, genre diversity and popularity bias of top-k lists.

    - catalogue_coverage: distinct recommended movies / `catalogue_size` (default:
      the number of movies in `popularity`), with "n_distinct";
    - genre_diversity: mean over lists of 2 or more movies of the mean pairwise
      Jaccard distance 1 - |G_a & G_b| / |G_a | G_b| between the movies' genre
      sets (`movies.genres`, "|"-separated; "(no genres listed)", "unknown" and ""
      mean no genre; two genre-less movies are at distance 0);
    - popularity_percentile_mean / _median: over every recommended slot, the
      percentile of the movie's training rating count among the `popularity`
      counts (pass one for every catalogue movie, 0 for the unrated): with ranks
      1..n by increasing count, ties sharing their average rank r,
      percentile = 100 (r - 1) / (n - 1), so the least rated is 0 and the most
      rated 100. A recommended movie missing from `popularity` counts as 0
      ratings (with a warning).

    With `return_percentiles`, "popularity_percentiles" holds the per-slot
    percentiles (numpy array, list order) for a histogram.
    """
    if not lists:
        raise ValueError("beyond_accuracy needs at least one recommendation list")
    catalogue_size = len(popularity) if catalogue_size is None else catalogue_size
    recommended = [int(m) for top in lists.values() for m in top]
    distinct = set(recommended)

    genre_sets = {
        int(m): frozenset(g for g in str(gs).split("|") if g not in _NO_GENRE)
        for m, gs in zip(movies["movie_id"], movies["genres"], strict=True)
    }
    per_list = [
        _mean_jaccard_distance([genre_sets.get(int(m), frozenset()) for m in top])
        for top in lists.values()
        if len(top) >= 2
    ]

    counts = np.sort(np.fromiter(popularity.values(), dtype=np.float64))
    missing = distinct - {int(m) for m in popularity}
    if missing:
        logger.warning(
            "%d recommended movie(s) have no popularity count, taken as 0: %s",
            len(missing),
            ", ".join(map(str, sorted(missing)[:10])),
        )
    slot_counts = np.array([float(popularity.get(m, 0.0)) for m in recommended])
    below = np.searchsorted(counts, slot_counts, side="left")
    up_to = np.searchsorted(counts, slot_counts, side="right")
    average_rank = below + (up_to - below + 1) / 2  # 1-based
    percentiles = 100.0 * (average_rank - 1) / max(len(counts) - 1, 1)

    result = {
        "catalogue_coverage": len(distinct) / catalogue_size,
        "n_distinct": len(distinct),
        "genre_diversity": float(np.mean(per_list)) if per_list else float("nan"),
        "popularity_percentile_mean": float(np.mean(percentiles)),
        "popularity_percentile_median": float(np.median(percentiles)),
        "n_lists": len(lists),
    }
    if return_percentiles:
        result["popularity_percentiles"] = percentiles
    return result


_NO_GENRE = {"(no genres listed)", "unknown", ""}


def _mean_jaccard_distance(genre_sets: Sequence[frozenset]) -> float:
    """Mean Jaccard distance over all pairs of a list's genre sets."""
    distances = []
    for i, a in enumerate(genre_sets):
        for b in genre_sets[i + 1 :]:
            union = len(a | b)
            distances.append(1.0 - len(a & b) / union if union else 0.0)
    return float(np.mean(distances))


# ---------------------------------------------------------- confidence intervals


def wilson_interval(
    successes: int, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Wilson score interval of a proportion successes / n (e.g. a hit rate).

    Better than the normal interval near 0 or 1 and for small n.
    """
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n > 0, got {successes}/{n}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(
    values: Sequence[float],
    confidence: float = 0.95,
    *,
    method: str = "normal",
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Confidence interval of a mean of per-user values (recall, NDCG, ...).

    "normal": mean -/+ z * sample std / sqrt(n); "bootstrap": the percentile
    interval of `n_resamples` seeded resampled means.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        raise ValueError(f"mean_interval needs at least 2 values, got {values.size}")
    if method == "normal":
        z = NormalDist().inv_cdf(0.5 + confidence / 2)
        half = z * values.std(ddof=1) / math.sqrt(values.size)
        return float(values.mean() - half), float(values.mean() + half)
    if method == "bootstrap":
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, values.size, size=(n_resamples, values.size))
        means = values[picks].mean(axis=1)
        tail = (1 - confidence) / 2
        low, high = np.quantile(means, [tail, 1 - tail])
        return float(low), float(high)
    raise ValueError(f"method must be 'normal' or 'bootstrap', got {method!r}")
