"""What the action server asks of the models, behind one small interface.

Trained artifacts (written by ``recommender.train``) are read on first use: the
catalogue, the GRU, the autoencoder. Each answer says which model produced it, so
that the bot can tell the person.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from recommender.catalog import Catalog, Movie
from recommender.errors import ArtifactError

logger = logging.getLogger(__name__)

DEFAULT_ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CATALOG_FILE = "catalog.csv"
GRU_FILE = "gru.pt"
AUTOENCODER_FILE = "autoencoder.pt"
MANIFEST_FILE = "manifest.json"

GRU = "GRU sequence model"
AUTOENCODER = "deep autoencoder"
POPULARITY = "most rated on MovieLens"


def artifacts_dir() -> Path:
    """``MOVIEBOT_ARTIFACTS`` when set, else ``artifacts/`` in the project."""
    return Path(os.environ.get("MOVIEBOT_ARTIFACTS") or DEFAULT_ARTIFACTS)


@dataclass(frozen=True)
class Pick:
    movie: Movie
    score: float  # the model's own score: a logit, a predicted rating, a count


@dataclass(frozen=True)
class Picks:
    model: str  # which model chose them, as the bot names it
    picks: list[Pick]


class Recommender:
    """The catalogue and both models, loaded lazily and shared across requests."""

    def __init__(self, directory: Path | None = None):
        self.directory = Path(directory or artifacts_dir())
        self._lock = threading.Lock()

    def _path(self, name: str) -> Path:
        path = self.directory / name
        if not path.exists():
            raise ArtifactError(
                f"no trained {name} in {self.directory}: run `make train` "
                "(or set MOVIEBOT_ARTIFACTS to a folder it wrote)"
            )
        return path

    @cached_property
    def manifest(self) -> dict:
        return json.loads(self._path(MANIFEST_FILE).read_text())

    @cached_property
    def catalog(self) -> Catalog:
        movies = pd.read_csv(
            self._path(CATALOG_FILE),
            dtype={"imdb_id": "string", "genres": "string", "title": "string"},
            keep_default_na=False,
            na_values={"year": [""], "tmdb_id": [""]},
        )
        movies["year"] = movies["year"].astype("Int64")
        movies["tmdb_id"] = movies["tmdb_id"].astype("Int64")
        return Catalog(movies)

    @cached_property
    def gru(self):
        from recommender.models.gru import GRURecommender

        with self._lock:
            return GRURecommender.load(self._path(GRU_FILE))

    @cached_property
    def autoencoder(self):
        from recommender.models.autoencoder import AutoencoderRecommender

        with self._lock:
            return AutoencoderRecommender.load(self._path(AUTOENCODER_FILE))

    @property
    def min_ratings(self) -> int:
        return int(self.autoencoder.config.min_ratings)

    def warm_up(self) -> None:
        """Load everything now rather than on the first person's request."""
        _ = self.catalog, self.gru, self.autoencoder

    def next_movies(self, history: Sequence[int], k: int = 10) -> Picks:
        """What to watch next after ``history`` (oldest first), from the GRU."""
        known = [m for m in history if m in self.catalog]
        ranked = self.gru.recommend(known, k=k, exclude=history)
        return Picks(GRU, self._picks(ranked))

    def best_movies(
        self, ratings: Mapping[int, float], k: int = 10, exclude: Iterable[int] = ()
    ) -> Picks:
        """The unseen movies the autoencoder predicts the person rates highest."""
        known = {m: r for m, r in ratings.items() if m in self.catalog}
        ranked = self.autoencoder.recommend(
            known, k=k, exclude=set(exclude) | set(known)
        )
        return Picks(AUTOENCODER, self._picks(ranked))

    def popular(self, k: int = 10, exclude: Iterable[int] = ()) -> Picks:
        """The most rated movies: something to start from with no profile."""
        seen = set(exclude)
        movies = sorted(
            (m for m in self.catalog if m.movie_id not in seen),
            key=lambda m: -m.popularity,
        )
        return Picks(POPULARITY, [Pick(m, float(m.popularity)) for m in movies[:k]])

    def _picks(self, ranked: Iterable[tuple[int, float]]) -> list[Pick]:
        return [
            Pick(self.catalog[movie_id], float(score))
            for movie_id, score in ranked
            if movie_id in self.catalog
        ]
