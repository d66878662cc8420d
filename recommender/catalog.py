"""The movie catalogue and fuzzy title matching.

A person's words go through three tiers, each tried only when the one before found
nothing: the whole title (or an alternative title) exactly, the title before its
subtitle, then a typo-tolerant fuzzy match with rapidfuzz. A year the person gives
("Heat 1995") narrows every tier. When several movies fit equally well, the match is
ambiguous and the bot asks which one was meant.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

import pandas as pd
from rapidfuzz import fuzz, process

from recommender.titles import aliases, display_title, front_article, normalize

logger = logging.getLogger(__name__)

_YEAR = re.compile(
    r"^(?P<title>.+?)[\s,]*(?:\(|from\s+|in\s+)?(?P<year>(?:18|19|20)\d\d)\)?$"
)

# A fuzzy score (0-100, rapidfuzz's ratio) this high is taken as the same title.
ACCEPT_SCORE = 86.0
# Two fuzzy candidates closer than this are too close to choose between.
TIE_MARGIN = 4.0
# How many movies an ambiguous match or a "did you mean" offers.
MAX_CHOICES = 5
# A title shared by several movies means the best known one when it has this many
# times the ratings of the next ("Titanic" is the 1997 one); else the bot asks.
DOMINANCE = 10
# ...and at least this many ratings, so that two obscure movies are not told apart
# by chance.
DOMINANT_MIN_RATINGS = 20
# A query whose words are in more titles than this is too vague for word matching.
MAX_WORD_HITS = 20


@dataclass(frozen=True)
class Movie:
    movie_id: int
    title: str  # as MovieLens writes it, without the year
    year: int | None
    genres: tuple[str, ...]
    popularity: int = 0  # how many ratings the movie has in the training data
    imdb_id: str | None = None
    tmdb_id: int | None = None

    @property
    def display(self) -> str:
        return display_title(self.title, self.year)

    @property
    def url(self) -> str:
        """The movie's page: IMDb, else TMDb (from MovieLens' links), else
        MovieLens' own, which the MovieLens ids of the CSV layouts point to."""
        if self.imdb_id:
            return f"https://www.imdb.com/title/tt{self.imdb_id}/"
        if self.tmdb_id is not None:
            return f"https://www.themoviedb.org/movie/{self.tmdb_id}"
        return f"https://movielens.org/movies/{self.movie_id}"

    @property
    def site(self) -> str:
        """The name of the site ``url`` points to, as people know it."""
        if self.imdb_id:
            return "IMDb"
        return "TMDb" if self.tmdb_id is not None else "MovieLens"


class MatchKind(str, Enum):
    MATCHED = "matched"
    AMBIGUOUS = "ambiguous"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class Match:
    query: str
    kind: MatchKind
    movie: Movie | None = None  # set when MATCHED
    candidates: tuple[Movie, ...] = field(default=())  # choices or closest titles
    score: float = 0.0
    # Less known movies of the same name, when the best known one was taken.
    others: tuple[Movie, ...] = field(default=())


class Catalog:
    """Every movie the models know, indexed for matching people's titles."""

    def __init__(self, movies: pd.DataFrame):
        required = {"movie_id", "title", "year", "genres"}
        missing = required - set(movies.columns)
        if missing:
            raise ValueError(
                f"the movies table needs columns {sorted(required)}, "
                f"but {sorted(missing)} are missing"
            )
        self._movies: dict[int, Movie] = {}
        self._full: dict[str, list[int]] = defaultdict(list)
        self._short: dict[str, list[int]] = defaultdict(list)
        for row in movies.itertuples(index=False):
            movie = Movie(
                movie_id=int(row.movie_id),
                title=str(row.title),
                year=None if pd.isna(row.year) else int(row.year),
                genres=tuple(g for g in str(row.genres or "").split("|") if g),
                popularity=int(getattr(row, "popularity", 0) or 0),
                imdb_id=_optional_str(getattr(row, "imdb_id", None)),
                tmdb_id=_optional_int(getattr(row, "tmdb_id", None)),
            )
            self._movies[movie.movie_id] = movie
            full, short = aliases(movie.title)
            for alias in full:
                self._full[alias].append(movie.movie_id)
            for alias in short:
                self._short[alias].append(movie.movie_id)
        self._fuzzy_keys = list(self._full)
        self._words: dict[str, set[str]] = defaultdict(set)
        for key in self._fuzzy_keys:
            for word in key.split():
                self._words[word].add(key)
        logger.info(
            "catalogue of %d movies, %d titles to match",
            len(self._movies),
            len(self._fuzzy_keys),
        )

    def __len__(self) -> int:
        return len(self._movies)

    def __iter__(self) -> Iterator[Movie]:
        return iter(self._movies.values())

    def __contains__(self, movie_id: object) -> bool:
        return movie_id in self._movies

    def __getitem__(self, movie_id: int) -> Movie:
        return self._movies[movie_id]

    def get(self, movie_id: int) -> Movie | None:
        return self._movies.get(movie_id)

    def is_title(self, text: str) -> bool:
        """True when ``text`` names a movie exactly (with or without its year)."""
        title, year = split_year(text)
        if normalize(front_article(text)) in self._full:
            return True
        return year is not None and bool(self._by_year(self._full, title, year))

    def match(self, query: str) -> Match:
        """Find the movie a person means by ``query``."""
        normalized = normalize(front_article(query))
        if not normalized:
            return Match(query, MatchKind.NOT_FOUND)

        # "1917" and "Blade Runner 2049" are titles, not a title and a year.
        exact = self._full.get(normalized)
        if exact:
            # "Lord of the Rings" is a 1978 film, but people mostly mean the later
            # ones that start with that title: offer them all.
            longer = self._short.get(normalized, [])
            if longer and self._fame(longer) >= DOMINANCE * max(self._fame(exact), 1):
                return self._decide(query, exact + longer, 100.0)
            return self._decide(query, exact, 100.0)

        title, year = split_year(query)
        if year is not None:
            for index in (self._full, self._short):
                hits = self._by_year(index, title, year)
                if hits:
                    return self._decide(query, hits, 100.0)
        else:
            hits = self._short.get(normalized)
            if hits:
                return self._decide(query, hits, 95.0)

        title = normalize(front_article(title))
        hits = self._containing(title, year)
        if hits:
            return self._decide(query, hits, 90.0)
        return self._fuzzy(query, title, year)

    def _containing(self, title: str, year: int | None) -> list[int]:
        """Movies whose title holds every word of ``title`` ("Shawshank")."""
        words = title.split()
        if not words or len(title) < 4:
            return []
        keys = set.intersection(*(self._words.get(w, set()) for w in words))
        ids = {
            movie_id
            for key in keys
            for movie_id in self._full[key]
            if self._year_fits(movie_id, year)
        }
        return sorted(ids) if len(ids) <= MAX_WORD_HITS else []

    def _by_year(self, index: dict[str, list[int]], title: str, year: int) -> list[int]:
        ids = index.get(normalize(title), [])
        same = [i for i in ids if self._movies[i].year == year]
        # People misremember release years by one more often than by more.
        return same or [i for i in ids if abs((self._movies[i].year or 0) - year) == 1]

    def _decide(self, query: str, movie_ids: list[int], score: float) -> Match:
        movies = self._ranked(movie_ids)
        if len(movies) == 1:
            return Match(query, MatchKind.MATCHED, movies[0], score=score)
        by_fame = sorted(movies, key=lambda m: -m.popularity)
        top, runner_up = by_fame[0], by_fame[1]
        if (
            top.popularity >= DOMINANT_MIN_RATINGS
            and top.popularity >= DOMINANCE * runner_up.popularity
        ):
            others = tuple(m for m in movies if m is not top)
            return Match(query, MatchKind.MATCHED, top, score=score, others=others)
        return Match(query, MatchKind.AMBIGUOUS, candidates=movies, score=score)

    def _fuzzy(self, query: str, title: str, year: int | None) -> Match:
        if not title:
            return Match(query, MatchKind.NOT_FOUND)
        results = process.extract(
            title, self._fuzzy_keys, scorer=fuzz.ratio, limit=50, score_cutoff=60
        )
        best: dict[int, float] = {}
        for key, score, _ in results:
            for movie_id in self._full[key]:
                if (
                    year is not None
                    and abs((self._movies[movie_id].year or 0) - year) > 1
                ):
                    continue
                best[movie_id] = max(best.get(movie_id, 0.0), score)
        ranked = sorted(
            best.items(), key=lambda kv: (-kv[1], -self._movies[kv[0]].popularity)
        )
        if ranked and ranked[0][1] >= ACCEPT_SCORE:
            top = ranked[0][1]
            close = [m for m, s in ranked if top - s < TIE_MARGIN]
            return self._decide(query, close, top)
        return Match(query, MatchKind.NOT_FOUND, candidates=self.closest(title, year))

    def closest(self, title: str, year: int | None = None) -> tuple[Movie, ...]:
        """The titles nearest to ``title``, for a 'did you mean' answer."""
        results = process.extract(
            normalize(title),
            self._fuzzy_keys,
            scorer=fuzz.WRatio,
            limit=30,
            score_cutoff=50,
        )
        seen: dict[int, float] = {}
        for key, score, _ in results:
            for movie_id in self._full[key]:
                movie = self._movies[movie_id]
                if not self._year_fits(movie_id, year):
                    continue
                # Among equally close titles, the better known one is the likelier.
                seen.setdefault(movie_id, score + min(movie.popularity, 300) / 100)
        ranked = sorted(seen, key=lambda m: -seen[m])
        return tuple(self._movies[m] for m in ranked[:3])

    def _fame(self, movie_ids: list[int]) -> int:
        return max(self._movies[m].popularity for m in movie_ids)

    def _year_fits(self, movie_id: int, year: int | None) -> bool:
        # People misremember release years by one more often than by more.
        return year is None or abs((self._movies[movie_id].year or 0) - year) <= 1

    def _ranked(self, movie_ids: list[int]) -> tuple[Movie, ...]:
        unique = [self._movies[m] for m in dict.fromkeys(movie_ids)]
        # Offer the best known few, then show them in release order.
        known = sorted(unique, key=lambda m: -m.popularity)[:MAX_CHOICES]
        return tuple(sorted(known, key=lambda m: (m.year or 0, m.movie_id)))


def split_year(text: str) -> tuple[str, int | None]:
    """Split a trailing year off: ``"Heat (1995)"`` -> ``("Heat", 1995)``."""
    match = _YEAR.match(text.strip())
    if not match or not normalize(match["title"]):
        return text, None
    return match["title"], int(match["year"])


def _optional_str(value: object) -> str | None:
    return None if value is None or pd.isna(value) or value == "" else str(value)


def _optional_int(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)
