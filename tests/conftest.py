"""Shared fixtures: a tiny MovieLens with the title quirks people hit, and models
trained on it in seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REAL_DATA = Path(
    os.environ.get("MOVIEBOT_TEST_DATA")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-latest-small"
)

# Titles as MovieLens writes them, with the quirks the matcher must survive.
TINY_MOVIES = [
    (1, "Matrix, The (1999)", "Action|Sci-Fi|Thriller"),
    (2, "Heat (1995)", "Action|Crime|Thriller"),
    (3, "Heat, The (2013)", "Action|Comedy|Crime"),
    (4, "Titanic (1997)", "Drama|Romance"),
    (5, "Titanic (1953)", "Action|Drama"),
    (6, "Sabrina (1954)", "Comedy|Romance"),
    (7, "Sabrina (1995)", "Comedy|Romance"),
    (8, "Seven (a.k.a. Se7en) (1995)", "Mystery|Thriller"),
    (9, "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)", "Comedy|Romance"),
    (10, "Inception (2010)", "Action|Crime|Drama|Mystery|Sci-Fi|Thriller|IMAX"),
    (11, "Rocky (1976)", "Drama"),
    (12, "Rocky II (1979)", "Action|Drama"),
    (13, "Up (2009)", "Adventure|Animation|Children|Drama"),
    (14, "Her (2013)", "Drama|Romance|Sci-Fi"),
    (15, "Love Actually (2003)", "Comedy|Drama|Romance"),
    (16, "Good Will Hunting (1997)", "Drama|Romance"),
    (17, "Harry Potter and the Chamber of Secrets (2002)", "Adventure|Fantasy"),
    (18, "Toy Story (1995)", "Adventure|Animation|Children|Comedy|Fantasy"),
    (19, "Alien (1979)", "Horror|Sci-Fi"),
    (20, "Aliens (1986)", "Action|Adventure|Horror|Sci-Fi"),
    (21, "Pulp Fiction (1994)", "Comedy|Crime|Drama|Thriller"),
    (22, "Fargo (1996)", "Comedy|Crime|Drama|Thriller"),
    (23, "Godfather, The (1972)", "Crime|Drama"),
    (24, "Godfather: Part II, The (1974)", "Crime|Drama"),
    (25, "Shawshank Redemption, The (1994)", "Crime|Drama"),
    (26, "I, Robot (2004)", "Action|Adventure|Sci-Fi|Thriller"),
    (27, "Jaws (1975)", "Action|Horror"),
    (28, "Casablanca (1942)", "Drama|Romance"),
    (29, "Fight Club (1999)", "Action|Crime|Drama|Thriller"),
    (30, "Forrest Gump (1994)", "Comedy|Drama|Romance|War"),
]
# Popular ones get many ratings, so "Titanic" and "Heat" mean the famous ones.
POPULAR = {1, 2, 4, 10, 18, 21, 25, 29, 30, 23}
# Same-named movies few people saw.
OBSCURE = {3, 5, 6, 7}


def tiny_ratings(seed: int = 0) -> pd.DataFrame:
    """Two tastes: action and crime fans, drama and romance fans."""
    rng = np.random.default_rng(seed)
    genres = {m: g for m, _, g in TINY_MOVIES}
    rows = []
    for user in range(1, 81):
        likes_action = user % 2 == 0
        movies = [
            m
            for m, _, _ in TINY_MOVIES
            if m in POPULAR or (m not in OBSCURE and rng.random() < 0.25)
        ]
        if user <= 3:
            movies += sorted(OBSCURE)
        rng.shuffle(movies)
        for position, movie in enumerate(dict.fromkeys(movies)):
            action = any(g in genres[movie] for g in ("Action", "Crime", "Thriller"))
            base = 4.5 if action == likes_action else 2.0
            rating = float(
                np.clip(np.round((base + rng.normal(0, 0.5)) * 2) / 2, 0.5, 5)
            )
            rows.append((user, movie, rating, 1_000_000 + user * 1000 + position))
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])


def write_tiny_movielens(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    movies = pd.DataFrame(TINY_MOVIES, columns=["movieId", "title", "genres"])
    movies.to_csv(folder / "movies.csv", index=False)
    tiny_ratings().to_csv(folder / "ratings.csv", index=False)
    links = pd.DataFrame(
        {
            "movieId": [m for m, _, _ in TINY_MOVIES],
            "imdbId": [100000 + m for m, _, _ in TINY_MOVIES],
            "tmdbId": [200 + m for m, _, _ in TINY_MOVIES],
        }
    )
    links.to_csv(folder / "links.csv", index=False)
    return folder


@pytest.fixture(scope="session")
def tiny_movielens(tmp_path_factory) -> Path:
    return write_tiny_movielens(tmp_path_factory.mktemp("data") / "ml-tiny")


@pytest.fixture(scope="session")
def tiny_artifacts(tiny_movielens, tmp_path_factory) -> Path:
    """Both models trained on the tiny data, written as the action server reads them."""
    from recommender.models.autoencoder import AutoencoderConfig
    from recommender.models.gru import GRUConfig
    from recommender.train import train

    out = tmp_path_factory.mktemp("artifacts")
    train(
        tiny_movielens,
        out,
        GRUConfig(epochs=3, hidden_size=32, embedding_dim=16, window=20),
        AutoencoderConfig(epochs=5, layers=(32, 16)),
        progress=False,
    )
    return out


@pytest.fixture(scope="session")
def real_artifacts(real_data) -> Path:
    """Both models trained on the real ml-latest-small by the training command,
    as `make train` trains them; kept in .cache/ and skipped when up to date."""
    out = Path(__file__).resolve().parents[1] / ".cache" / "test-artifacts"
    command = [sys.executable, "-m", "recommender.train", "--data", str(real_data)]
    subprocess.run([*command, "--out", str(out), "--quiet"], check=True)
    return out


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not (REAL_DATA / "ratings.csv").exists():
        pytest.fail(
            f"the real MovieLens test data is not at {REAL_DATA}: "
            "set MOVIEBOT_TEST_DATA to an ml-latest-small folder"
        )
    return REAL_DATA
