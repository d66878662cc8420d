"""Read every published MovieLens layout, and obtain a dataset when none is given.

Layouts understood (see `detect_layout`):

* ``csv``: ml-latest-small, ml-latest, ml-20m, ml-25m, ml-32m
  (``ratings.csv``, ``movies.csv``, optional ``links.csv``)
* ``dat``: ml-1m, ml-10m (``ratings.dat``, ``movies.dat``, ``::`` separated)
* ``100k``: ml-100k (``u.data``, ``u.item``)
* ``recbole``: the ml-100k atomic files shipped in the RecBole wheel
  (``<name>.inter``, ``<name>.item``)

Whatever the layout, `load_movielens` returns the same `MovieLens` frames, so the
rest of MovieBot never has to know where the data came from.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import requests
from tqdm import tqdm

from recommender.errors import DataError, DataWarning, DownloadError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_CACHE_DIR",
    "KNOWN_DATASETS",
    "RECBOLE_VERSION",
    "KnownDataset",
    "MovieLens",
    "detect_layout",
    "fetch_movielens",
    "fingerprint",
    "load_movielens",
    "resolve_source",
]

DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens"
# Inside the repository but git-ignored (/.cache/ in .gitignore), so downloads
# survive between runs without ever being committed.
DEFAULT_CACHE_DIR = Path(__file__).resolve().parents[1] / ".cache" / "movielens"

# Pinned so the fallback data is always the same 100K ratings; the wheel is the
# only MovieLens copy reachable from machines that can reach PyPI but not GroupLens.
RECBOLE_VERSION = "1.2.1"
_RECBOLE_MEMBER_DIR = "recbole/dataset_example/ml-100k/"
_RECBOLE_FOLDER = "ml-100k-recbole"

MIN_RATING = 0.5
MAX_RATING = 5.0

_HINT = (
    "Set MOVIELENS_DIR to a folder (or .zip) holding ratings.csv/movies.csv, "
    "ratings.dat/movies.dat or u.data/u.item."
)


@dataclass(frozen=True)
class KnownDataset:
    """Where a GroupLens dataset lives: the archive to download, the folder inside."""

    archive: str
    folder: str
    layout: str


KNOWN_DATASETS: dict[str, KnownDataset] = {
    "ml-100k": KnownDataset("ml-100k.zip", "ml-100k", "100k"),
    "ml-1m": KnownDataset("ml-1m.zip", "ml-1m", "dat"),
    # The 10M archive is the one whose folder name differs from its archive name.
    "ml-10m": KnownDataset("ml-10m.zip", "ml-10M100K", "dat"),
    "ml-20m": KnownDataset("ml-20m.zip", "ml-20m", "csv"),
    "ml-25m": KnownDataset("ml-25m.zip", "ml-25m", "csv"),
    "ml-32m": KnownDataset("ml-32m.zip", "ml-32m", "csv"),
    "ml-latest-small": KnownDataset("ml-latest-small.zip", "ml-latest-small", "csv"),
    "ml-latest": KnownDataset("ml-latest.zip", "ml-latest", "csv"),
}

# Fixed-name files each layout needs; "recbole" is matched by suffix instead.
_LAYOUT_FILES: dict[str, tuple[str, str]] = {
    "csv": ("ratings.csv", "movies.csv"),
    "dat": ("ratings.dat", "movies.dat"),
    "100k": ("u.data", "u.item"),
}
_LAYOUTS = ("csv", "dat", "100k", "recbole")

# Genre flag columns of u.item, in file order (documented in the ml-100k README).
_GENRES_100K = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
# Older releases (100K, 1M) spell a genre differently from the later ones; we
# normalise to the later spelling so models see one vocabulary. "unknown" in the
# 100K files means the same as "(no genres listed)" later: no genre at all.
_GENRE_RENAMES = {"Children's": "Children"}
_NO_GENRE = {"(no genres listed)", "unknown", ""}

# A trailing "(1995)" or "(1995-1996)" / "(2007-)" / "(1995–1996)", with any stray
# spaces around it; only the first year is kept.
_YEAR_RE = re.compile(r"\s*\((\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$")

# What each layout reader returns: ratings, movies, links (None without links).
_Frames = tuple[pd.DataFrame, pd.DataFrame, "pd.DataFrame | None"]

_MARKER = ".extracted"  # written last, so its presence means extraction finished


@dataclass(frozen=True)
class MovieLens:
    """One MovieLens dataset, normalised to the same columns whatever its layout.

    ratings: user_id int64, movie_id int64, rating float32, timestamp int64
    movies: movie_id int64, title str, year Int64 (nullable), genres str
    links: movie_id int64, imdb_id str (zero padded to 7 digits), tmdb_id Int64;
        None when the layout has no links file.
    """

    name: str
    ratings: pd.DataFrame
    movies: pd.DataFrame
    links: pd.DataFrame | None


# --------------------------------------------------------------------------- #
# Locating the dataset folder
# --------------------------------------------------------------------------- #


def _layout_of(names: Iterable[str]) -> str | None:
    """The layout whose files are all among `names` (base names), or None."""
    present = set(names)
    for layout, required in _LAYOUT_FILES.items():
        if all(f in present for f in required):
            return layout
    if _recbole_stems(present):
        return "recbole"
    return None


def _recbole_stems(names: set[str]) -> list[str]:
    return sorted(
        n[: -len(".inter")]
        for n in names
        if n.endswith(".inter") and n[: -len(".inter")] + ".item" in names
    )


def _skip_dir(name: str) -> bool:
    # macOS zips carry a __MACOSX/ shadow tree; hidden folders are never datasets.
    return name.startswith(".") or name == "__MACOSX"


def _choose(candidates: dict[str, set[str]], where: str) -> tuple[str, str]:
    """Pick the dataset among `candidates` ({"": top level, "sub": one level down}).

    Returns (sub folder or "", layout). The top level wins; otherwise exactly one
    sub folder may hold a dataset, as in the GroupLens zips (ml-1m.zip -> ml-1m/).
    """
    top = _layout_of(candidates.get("", set()))
    if top is not None:
        return "", top
    found = {
        sub: layout
        for sub, names in sorted(candidates.items())
        if sub and (layout := _layout_of(names)) is not None
    }
    if len(found) == 1:
        return next(iter(found.items()))
    if len(found) > 1:
        raise DataError(
            f"Expected one MovieLens dataset in {where}, found {len(found)}: "
            f"{', '.join(sorted(found))}. Point MOVIELENS_DIR at one of them."
        )
    looked_for = "; ".join(
        [" + ".join(files) for files in _LAYOUT_FILES.values()]
        + ["<name>.inter + <name>.item (RecBole)"]
    )
    raise DataError(
        f"No MovieLens dataset found in {where} (looked there and in its sub "
        f"folders for: {looked_for}). {_HINT}"
    )


def _candidates_in_dir(folder: Path) -> dict[str, set[str]]:
    candidates: dict[str, set[str]] = {"": set()}
    for entry in folder.iterdir():
        if entry.is_file():
            candidates[""].add(entry.name)
        elif entry.is_dir() and not _skip_dir(entry.name):
            candidates[entry.name] = {p.name for p in entry.iterdir() if p.is_file()}
    return candidates


def _candidates_in_zip(archive: Path) -> dict[str, set[str]]:
    candidates: dict[str, set[str]] = {"": set()}
    with _open_zip(archive) as zf:
        for member in zf.namelist():
            parts = [p for p in member.split("/") if p]
            if member.endswith("/") or not parts:
                continue
            if len(parts) == 1:
                candidates[""].add(parts[0])
            elif len(parts) == 2 and not _skip_dir(parts[0]):
                candidates.setdefault(parts[0], set()).add(parts[1])
    return candidates


def _open_zip(archive: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(
            f"Expected {archive} to be a readable .zip archive, but opening it "
            f"failed: {exc}. Download it again. {_HINT}"
        ) from exc


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise DataError(
            f"Expected a MovieLens folder or .zip at {path}, but nothing is there. "
            f"{_HINT}"
        )


def detect_layout(path: str | os.PathLike[str]) -> str:
    """Return the layout of the dataset at `path`: "csv", "dat", "100k" or "recbole".

    `path` may be the dataset folder, a folder holding exactly one dataset folder,
    or a .zip of either; a zip is only listed, not extracted.
    """
    path = Path(path).expanduser()
    _check_exists(path)
    if path.is_file() and zipfile.is_zipfile(path):
        return _choose(_candidates_in_zip(path), str(path))[1]
    if not path.is_dir():
        raise DataError(
            f"Expected a MovieLens folder or .zip at {path}, but it is neither. {_HINT}"
        )
    return _choose(_candidates_in_dir(path), str(path))[1]


def _dataset_dir(path: Path) -> tuple[Path, str]:
    """The folder holding the data files (extracting a zip if needed) and layout."""
    path = path.expanduser()
    _check_exists(path)
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise DataError(
                f"Expected a MovieLens folder or .zip at {path}, but it is a file "
                f"that is not a zip archive. {_HINT}"
            )
        # Listing first means a zip without a dataset fails before any extraction.
        _choose(_candidates_in_zip(path), str(path))
        path = _extract_zip_cached(path)
    sub, layout = _choose(_candidates_in_dir(path), str(path))
    return (path / sub if sub else path), layout


def _data_files(folder: Path, layout: str) -> dict[str, Path]:
    """Paths of the ratings/movies (and links, when present) files of a dataset."""
    if layout == "recbole":
        stems = _recbole_stems({p.name for p in folder.iterdir()})
        if len(stems) != 1:
            raise DataError(
                f"Expected exactly one <name>.inter/<name>.item pair in {folder}, "
                f"found {len(stems)}: {', '.join(stems)}. Keep one pair per folder."
            )
        return {
            "ratings": folder / f"{stems[0]}.inter",
            "movies": folder / f"{stems[0]}.item",
        }
    ratings, movies = _LAYOUT_FILES[layout]
    files = {"ratings": folder / ratings, "movies": folder / movies}
    if layout == "csv" and (folder / "links.csv").is_file():
        files["links"] = folder / "links.csv"
    return files


def _dataset_name(folder: Path, layout: str, files: dict[str, Path]) -> str:
    if layout == "recbole":
        # The folder is ours ("ml-100k-recbole"); the file stem is the real name.
        return files["ratings"].stem
    for name, known in KNOWN_DATASETS.items():
        if folder.name == known.folder:
            return name
    return folder.name


# --------------------------------------------------------------------------- #
# Zip extraction
# --------------------------------------------------------------------------- #


def _zip_stamp(archive: Path) -> str:
    stat = archive.stat()
    return f"{archive.name} {stat.st_size} {stat.st_mtime_ns}\n"


def _extract_zip(archive: Path, dest: Path, members: list[str] | None = None) -> None:
    """Extract `archive` (or some `members`) into `dest`, atomically.

    Extraction goes into a temporary sibling which is renamed at the end, so an
    interrupted run never leaves a half-extracted folder that looks complete.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with _open_zip(archive) as zf:
            # ZipFile.extractall drops ".." and absolute prefixes, so members
            # cannot escape `tmp`.
            zf.extractall(tmp, members=members)
        (tmp / _MARKER).write_text(_zip_stamp(archive), encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _extract_zip_cached(archive: Path) -> Path:
    """Extract a user-given zip once, next to it (or in the cache if read-only)."""
    dest = archive.with_name(f"{archive.name}.extracted")
    try:
        return _extract_once(archive, dest)
    except OSError as exc:
        digest = hashlib.sha256(str(archive.resolve()).encode()).hexdigest()[:12]
        fallback = DEFAULT_CACHE_DIR / "extracted" / f"{archive.stem}-{digest}"
        logger.info(
            "Cannot extract %s next to it (%s); extracting to %s",
            archive,
            exc,
            fallback,
        )
        return _extract_once(archive, fallback)


def _extract_once(archive: Path, dest: Path) -> Path:
    marker = dest / _MARKER
    if marker.is_file() and marker.read_text(encoding="utf-8") == _zip_stamp(archive):
        logger.debug("Reusing %s, already extracted from %s", dest, archive)
        return dest
    logger.info("Extracting %s to %s", archive, dest)
    _extract_zip(archive, dest)
    return dest


# --------------------------------------------------------------------------- #
# Parsing helpers
# --------------------------------------------------------------------------- #


def _decode(raw: bytes, source: Path) -> str:
    # ml-10m and later are UTF-8; ml-100k and ml-1m are Latin-1. Latin-1 accepts
    # any byte, so it is the safe second try.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        logger.debug("%s is not UTF-8, reading it as Latin-1", source)
        return raw.decode("latin-1")


def _split_titles(raw_titles: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Split "Matrix, The (1999)" into ("Matrix, The", 1999); no year -> NA."""
    titles = raw_titles.fillna("").astype(str)
    years = titles.str.extract(_YEAR_RE, expand=False)
    stripped = titles.str.replace(_YEAR_RE, "", regex=True).str.strip()
    return stripped, pd.to_numeric(years, errors="coerce").astype("Int64")


def _normalise_genres(genres: pd.Series, sep: str = "|") -> pd.Series:
    def fix(value: object) -> str:
        if not isinstance(value, str):
            return ""
        parts = [_GENRE_RENAMES.get(g, g) for g in value.strip().split(sep)]
        return "|".join(g for g in parts if g not in _NO_GENRE)

    return genres.map(fix).astype(str)


def _movies_frame(
    movie_ids: pd.Series,
    raw_titles: pd.Series,
    genres: pd.Series,
    fallback_years: pd.Series | None = None,
) -> pd.DataFrame:
    titles, years = _split_titles(raw_titles)
    if fallback_years is not None:
        years = years.fillna(fallback_years.astype("Int64"))
    return pd.DataFrame(
        {
            "movie_id": movie_ids.to_numpy(dtype=np.int64),
            "title": titles.to_numpy(dtype=object),
            "year": years.to_numpy(),
            "genres": genres.to_numpy(dtype=object),
        }
    ).astype({"title": str, "genres": str, "year": "Int64"})


def _ratings_frame(
    users: pd.Series, movies: pd.Series, ratings: pd.Series, stamps: pd.Series
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": users.to_numpy(dtype=np.int64),
            "movie_id": movies.to_numpy(dtype=np.int64),
            "rating": ratings.to_numpy(dtype=np.float32),
            # RecBole writes timestamps as floats; the value is whole seconds.
            "timestamp": stamps.to_numpy(dtype=np.float64).astype(np.int64)
            if stamps.dtype.kind == "f"
            else stamps.to_numpy(dtype=np.int64),
        }
    )


def _nullable_ints(values: pd.Series) -> pd.Series:
    """Parse integer strings where "" means missing (e.g. tmdbId in links.csv)."""
    stripped = values.astype(str).str.strip()
    return pd.to_numeric(stripped.where(stripped != "")).astype("Int64")


def _require_columns(frame: pd.DataFrame, needed: Iterable[str], source: Path) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns))
        raise DataError(
            f"Expected columns {', '.join(needed)} in {source}, but "
            f"{', '.join(missing)} missing (found: {found}). Use the file as "
            f"GroupLens publishes it. {_HINT}"
        )


# --------------------------------------------------------------------------- #
# Readers, one per layout
# --------------------------------------------------------------------------- #


def _read_csv_layout(files: dict[str, Path]) -> _Frames:
    ratings = pd.read_csv(
        files["ratings"],
        dtype={
            "userId": "int64",
            "movieId": "int64",
            "rating": "float32",
            "timestamp": "int64",
        },
    )
    _require_columns(
        ratings, ("userId", "movieId", "rating", "timestamp"), files["ratings"]
    )
    ratings = _ratings_frame(
        ratings["userId"], ratings["movieId"], ratings["rating"], ratings["timestamp"]
    )
    # keep_default_na=False: a film titled "NA" or "None" must stay a title.
    movies = pd.read_csv(
        files["movies"], dtype=str, keep_default_na=False, encoding="utf-8"
    )
    _require_columns(movies, ("movieId", "title", "genres"), files["movies"])
    movies = _movies_frame(
        pd.to_numeric(movies["movieId"]),
        movies["title"],
        _normalise_genres(movies["genres"]),
    )
    links = None
    if "links" in files:
        raw = pd.read_csv(files["links"], dtype=str, keep_default_na=False)
        _require_columns(raw, ("movieId", "imdbId", "tmdbId"), files["links"])
        links = pd.DataFrame(
            {
                "movie_id": pd.to_numeric(raw["movieId"]).to_numpy(dtype=np.int64),
                # imdb ids lose their leading zeros when a spreadsheet touches the
                # file; IMDb URLs need them ("tt0133093").
                "imdb_id": raw["imdbId"]
                .str.strip()
                .str.zfill(7)
                .to_numpy(dtype=object),
                "tmdb_id": _nullable_ints(raw["tmdbId"]).to_numpy(),
            }
        ).astype({"imdb_id": str, "tmdb_id": "Int64"})
        links.loc[links["imdb_id"] == "0000000", "imdb_id"] = ""
    return ratings, movies, links


def _read_dat_layout(files: dict[str, Path]) -> _Frames:
    # "::" is not a valid C-engine separator and the python engine takes minutes
    # on ml-10m; splitting on ":" leaves empty columns between the fields.
    raw = pd.read_csv(
        files["ratings"],
        sep=":",
        header=None,
        usecols=[0, 2, 4, 6],
        dtype={0: "int64", 2: "int64", 4: "float32", 6: "int64"},
    )
    ratings = _ratings_frame(raw[0], raw[2], raw[4], raw[6])
    text = _decode(files["movies"].read_bytes(), files["movies"])
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        # Titles contain single colons ("Star Wars: Episode IV"), never "::".
        parts = line.split("::")
        if len(parts) != 3:
            raise DataError(
                f"Expected MovieID::Title::Genres on line {lineno} of "
                f"{files['movies']}, got {line!r}. Use the file as GroupLens "
                f"publishes it. {_HINT}"
            )
        rows.append(parts)
    frame = pd.DataFrame(rows, columns=["movie_id", "title", "genres"], dtype=object)
    movies = _movies_frame(
        pd.to_numeric(frame["movie_id"]),
        frame["title"],
        _normalise_genres(frame["genres"]),
    )
    return ratings, movies, None


def _read_100k_layout(files: dict[str, Path]) -> _Frames:
    raw = pd.read_csv(
        files["ratings"],
        sep="\t",
        header=None,
        names=["user_id", "movie_id", "rating", "timestamp"],
    )
    ratings = _ratings_frame(
        raw["user_id"], raw["movie_id"], raw["rating"], raw["timestamp"]
    )
    columns = ["movie_id", "title", "release_date", "video_release_date", "imdb_url"]
    items = pd.read_csv(
        io.StringIO(_decode(files["movies"].read_bytes(), files["movies"])),
        sep="|",
        header=None,
        names=[*columns, *_GENRES_100K],
        dtype=str,
        keep_default_na=False,
        quoting=csv.QUOTE_NONE,
    )
    flags = items[list(_GENRES_100K)].apply(pd.to_numeric).to_numpy(dtype=bool)
    genres = pd.Series(
        [
            "|".join(g for g, on in zip(_GENRES_100K, row, strict=True) if on)
            for row in flags
        ],
        index=items.index,
        dtype=object,
    )
    # Release dates look like "01-Jan-1995"; used when the title has no year.
    release_years = pd.to_numeric(
        items["release_date"].str.extract(r"(\d{4})\s*$", expand=False), errors="coerce"
    )
    movies = _movies_frame(
        pd.to_numeric(items["movie_id"]),
        items["title"],
        _normalise_genres(genres),
        fallback_years=release_years,
    )
    return ratings, movies, None


def _read_atomic(path: Path) -> pd.DataFrame:
    """Read a RecBole atomic file; columns renamed from "item_id:token" to "item_id"."""
    frame = pd.read_csv(
        io.StringIO(_decode(path.read_bytes(), path)),
        sep="\t",
        dtype=str,
        keep_default_na=False,
        quoting=csv.QUOTE_NONE,
    )
    return frame.rename(columns=lambda c: str(c).split(":", 1)[0].strip())


def _read_recbole_layout(files: dict[str, Path]) -> _Frames:
    inter = _read_atomic(files["ratings"])
    _require_columns(
        inter, ("user_id", "item_id", "rating", "timestamp"), files["ratings"]
    )
    ratings = _ratings_frame(
        pd.to_numeric(inter["user_id"]),
        pd.to_numeric(inter["item_id"]),
        pd.to_numeric(inter["rating"]),
        pd.to_numeric(inter["timestamp"]).astype("float64"),
    )
    items = _read_atomic(files["movies"])
    _require_columns(items, ("item_id", "movie_title"), files["movies"])
    # RecBole strips the year from titles into release_year ("unkonwn" or "V" for
    # a few rows, hence the coercion); genres are space-separated tokens, which is
    # safe because no MovieLens genre contains a space.
    years = (
        pd.to_numeric(items["release_year"], errors="coerce")
        if "release_year" in items
        else None
    )
    genres = items["class"] if "class" in items else pd.Series("", index=items.index)
    movies = _movies_frame(
        pd.to_numeric(items["item_id"]),
        items["movie_title"],
        _normalise_genres(genres, sep=" "),
        fallback_years=years,
    )
    return ratings, movies, None


_READERS = {
    "csv": _read_csv_layout,
    "dat": _read_dat_layout,
    "100k": _read_100k_layout,
    "recbole": _read_recbole_layout,
}


# --------------------------------------------------------------------------- #
# Validation and the public loader
# --------------------------------------------------------------------------- #


def _validate(
    ratings: pd.DataFrame, movies: pd.DataFrame, files: dict[str, Path]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if ratings.empty:
        raise DataError(
            f"Expected ratings in {files['ratings']}, but it holds none. {_HINT}"
        )
    bad = ~ratings["rating"].between(MIN_RATING, MAX_RATING)
    if bad.any():
        examples = ratings.loc[bad, "rating"].unique()[:5].tolist()
        raise DataError(
            f"Expected ratings between {MIN_RATING} and {MAX_RATING} in "
            f"{files['ratings']}, but {int(bad.sum())} are outside (e.g. {examples})."
            " Fix or remove those rows, or use the file as GroupLens publishes it."
        )
    duplicated = movies["movie_id"].duplicated()
    if duplicated.any():
        message = (
            f"{int(duplicated.sum())} movie ids appear more than once in "
            f"{files['movies']}; keeping the first row of each."
        )
        warnings.warn(message, DataWarning, stacklevel=3)
        logger.warning(message)
        movies = movies.loc[~duplicated].reset_index(drop=True)
    known = ratings["movie_id"].isin(movies["movie_id"])
    if not known.all():
        unknown = ratings.loc[~known, "movie_id"].unique()
        message = (
            f"Dropped {int((~known).sum())} ratings of {len(unknown)} movies that "
            f"are not in {files['movies']} (e.g. movie ids {unknown[:5].tolist()})."
        )
        warnings.warn(message, DataWarning, stacklevel=3)
        logger.warning(message)
        ratings = ratings.loc[known].reset_index(drop=True)
    return ratings, movies


def load_movielens(path: str | os.PathLike[str]) -> MovieLens:
    """Load the MovieLens dataset at `path` (dataset folder, its parent, or a .zip).

    Raises DataError when the files are missing or malformed; ratings of movies
    absent from the movie list are dropped with a DataWarning.
    """
    folder, layout = _dataset_dir(Path(path))
    files = _data_files(folder, layout)
    logger.info("Loading MovieLens (%s layout) from %s", layout, folder)
    try:
        ratings, movies, links = _READERS[layout](files)
    except DataError:
        raise
    except (ValueError, KeyError, pd.errors.ParserError) as exc:
        raise DataError(
            f"Could not parse the {layout} layout files in {folder} "
            f"({', '.join(p.name for p in files.values())}): {exc}. Use the files "
            f"as GroupLens publishes them. {_HINT}"
        ) from exc
    ratings, movies = _validate(ratings, movies, files)
    dataset = MovieLens(
        name=_dataset_name(folder, layout, files),
        ratings=ratings,
        movies=movies,
        links=links,
    )
    logger.info(
        "Loaded %s: %d ratings, %d users, %d movies",
        dataset.name,
        len(ratings),
        ratings["user_id"].nunique(),
        len(movies),
    )
    return dataset


def fingerprint(path: str | os.PathLike[str]) -> str:
    """A stable id of the data at `path`, to skip retraining when it did not change.

    Hashes the data files' names and sizes plus the full content of the ratings
    file; mtimes and the folder's location are left out so a copy keeps its id.
    """
    folder, layout = _dataset_dir(Path(path))
    files = _data_files(folder, layout)
    digest = hashlib.sha256(f"layout={layout}\n".encode())
    for role in sorted(files):
        file = files[role]
        digest.update(f"{role}={file.name}:{file.stat().st_size}\n".encode())
    ratings_hash = hashlib.sha256()
    with files["ratings"].open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            ratings_hash.update(chunk)
    digest.update(ratings_hash.hexdigest().encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------- #
# Obtaining a dataset
# --------------------------------------------------------------------------- #


def _md5_of(path: Path) -> str:
    md5 = hashlib.md5()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            md5.update(chunk)
    return md5.hexdigest()


def _parse_md5(text: str) -> str | None:
    # GroupLens writes "<hex>  name.zip" or just the hex; BSD md5 writes
    # "MD5 (name.zip) = <hex>". Any 32-hex token will do.
    match = re.search(r"\b([0-9a-fA-F]{32})\b", text)
    return match.group(1).lower() if match else None


def _cached_zip_ok(archive: Path, md5_file: Path) -> bool:
    if not (archive.is_file() and md5_file.is_file()):
        return False
    expected = _parse_md5(md5_file.read_text(encoding="utf-8", errors="replace"))
    return expected is not None and _md5_of(archive) == expected


def _download(url: str, target: Path, timeout: float, expected_md5: str | None) -> str:
    """Stream `url` to `target` via a .part file; returns the md5 of what came."""
    part = target.with_name(target.name + ".part")
    md5 = hashlib.md5()
    try:
        with requests.get(url, stream=True, timeout=timeout) as response:
            response.raise_for_status()
            total = int(response.headers.get("Content-Length") or 0) or None
            with (
                part.open("wb") as out,
                tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=target.name,
                    disable=None,  # no bar when stderr is not a terminal (CI logs)
                ) as bar,
            ):
                for chunk in response.iter_content(chunk_size=1 << 16):
                    out.write(chunk)
                    md5.update(chunk)
                    bar.update(len(chunk))
        actual = md5.hexdigest()
        if expected_md5 is not None and actual != expected_md5:
            raise DownloadError(
                f"Expected {url} to have md5 {expected_md5}, but the download has "
                f"md5 {actual}; it is corrupt or was changed. Run again to retry, "
                f"or download it by hand and set MOVIELENS_DIR to it."
            )
        part.replace(target)
        return actual
    finally:
        part.unlink(missing_ok=True)


def _fetch_grouplens(
    name: str, known: KnownDataset, cache_dir: Path, base_url: str, timeout: float
) -> Path:
    archive = cache_dir / known.archive
    md5_file = cache_dir / f"{known.archive}.md5"
    url = f"{base_url.rstrip('/')}/{known.archive}"
    if _cached_zip_ok(archive, md5_file):
        logger.info("Using cached %s (checksum matches)", archive)
    else:
        expected: str | None = None
        md5_response = requests.get(f"{url}.md5", timeout=timeout)
        if md5_response.ok:
            expected = _parse_md5(md5_response.text)
        if expected is None:
            # A mirror without checksums still works; the cache then records the
            # md5 of what we got so later corruption is still noticed.
            logger.warning(
                "No usable checksum at %s.md5 (HTTP %s); downloading %s unverified",
                url,
                md5_response.status_code,
                url,
            )
        logger.info("Downloading %s to %s", url, archive)
        actual = _download(url, archive, timeout, expected)
        md5_file.write_text(f"{actual}  {known.archive}\n", encoding="utf-8")
    folder = _extract_once(archive, cache_dir / f"{name}.extracted")
    return _dataset_dir(folder)[0]


def _fetch_recbole(cache_dir: Path) -> Path:
    """The MovieLens 100K atomic files from the RecBole wheel on PyPI."""
    dest = cache_dir / _RECBOLE_FOLDER
    wheel_dir = cache_dir / "recbole"
    wheels = sorted(wheel_dir.glob(f"recbole-{RECBOLE_VERSION}-*.whl"))
    if not wheels:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            f"recbole=={RECBOLE_VERSION}",
            "-d",
            str(wheel_dir),
        ]
        logger.info("Running %s", " ".join(command))
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=600, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DownloadError(f"pip download of recbole failed: {exc}") from exc
        wheels = sorted(wheel_dir.glob(f"recbole-{RECBOLE_VERSION}-*.whl"))
        if result.returncode != 0 or not wheels:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise DownloadError(
                f"pip download of recbole=={RECBOLE_VERSION} failed "
                f"(exit {result.returncode}): {' / '.join(tail)}"
            )
    wheel = wheels[-1]
    marker = dest / _MARKER
    if marker.is_file() and marker.read_text(encoding="utf-8") == _zip_stamp(wheel):
        return dest
    with _open_zip(wheel) as zf:
        members = [
            m
            for m in zf.namelist()
            if m.startswith(_RECBOLE_MEMBER_DIR) and not m.endswith("/")
        ]
    if not members:
        raise DownloadError(
            f"Expected {_RECBOLE_MEMBER_DIR} in {wheel}, but it is not there."
        )
    tmp_dest = cache_dir / f"{_RECBOLE_FOLDER}.tmp"
    _extract_zip(wheel, tmp_dest, members)
    # Flatten recbole/dataset_example/ml-100k/* into dest/ so dest is the folder.
    staging = Path(tempfile.mkdtemp(prefix=f".{_RECBOLE_FOLDER}.", dir=cache_dir))
    try:
        for member in members:
            source = tmp_dest / member
            shutil.move(str(source), staging / source.name)
        (staging / _MARKER).write_text(_zip_stamp(wheel), encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(tmp_dest, ignore_errors=True)
    return dest


def fetch_movielens(
    name: str = "ml-latest-small",
    cache_dir: Path = DEFAULT_CACHE_DIR,
    *,
    base_url: str = DEFAULT_BASE_URL,
    timeout: float = 30,
) -> Path:
    """Download (once) and extract a GroupLens dataset; return its folder.

    The archive's md5 is checked against the ``.md5`` file GroupLens publishes
    beside it. When GroupLens cannot be reached at all, falls back to the
    MovieLens 100K copy in the RecBole wheel on PyPI, with a warning.
    """
    known = KNOWN_DATASETS.get(name)
    if known is None:
        raise DataError(
            f"Expected a MovieLens dataset name, one of {', '.join(KNOWN_DATASETS)};"
            f" got {name!r}. Pick one of those, or set MOVIELENS_DIR to a local copy."
        )
    cache_dir = Path(cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    url = f"{base_url.rstrip('/')}/{known.archive}"
    try:
        return _fetch_grouplens(name, known, cache_dir, base_url, timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        # Only "cannot reach the server" falls back: a 404 or a bad checksum means
        # something is wrong that the user should hear about, not paper over.
        logger.warning(
            "GroupLens at %s could not be reached (%s). Falling back to the "
            "MovieLens 100K copy in the RecBole %s wheel on PyPI, so the data is "
            "ml-100k, not %s. To avoid this, set MOVIELENS_DIR to a MovieLens "
            "folder or .zip.",
            url,
            type(exc).__name__,
            RECBOLE_VERSION,
            name,
        )
        grouplens_error = exc
    except requests.HTTPError as exc:
        raise DownloadError(
            f"Expected {url} to be downloadable, but the server answered: {exc}. "
            f"Check the name and base URL, or set MOVIELENS_DIR to a local copy."
        ) from exc
    except requests.RequestException as exc:
        # Reached the server but the transfer broke (reset mid-stream, bad chunk).
        raise DownloadError(
            f"Downloading {url} failed part way: {exc}. Run again to retry, or "
            f"set MOVIELENS_DIR to a local copy."
        ) from exc
    try:
        return _fetch_recbole(cache_dir)
    except (DownloadError, OSError) as exc:
        raise DownloadError(
            f"Could not get MovieLens: GroupLens at {url} could not be reached "
            f"({grouplens_error}) and the RecBole fallback from PyPI failed too "
            f"({exc}). Download {url} on a machine that can reach it and set "
            f"MOVIELENS_DIR to the zip or its folder."
        ) from exc


def resolve_source(movielens_dir: str | None, name: str, cache_dir: Path) -> Path:
    """The data to load: MOVIELENS_DIR when given (folder or zip), else a download."""
    if movielens_dir:
        path = Path(movielens_dir).expanduser()
        if not path.exists():
            raise DataError(
                f"MOVIELENS_DIR is set to {movielens_dir!r}, which does not exist. "
                f"{_HINT} Or unset it to download {name}."
            )
        logger.info("Using MovieLens from MOVIELENS_DIR=%s", path)
        return path
    return fetch_movielens(name, cache_dir)


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """--data, --dataset and --cache, as every command that reads MovieLens takes
    them; `resolve_source(args.data, args.dataset, args.cache)` reads them."""
    parser.add_argument(
        "--data",
        default=os.environ.get("MOVIELENS_DIR") or None,
        help="a MovieLens folder or zip, any layout (default: $MOVIELENS_DIR; "
        "when unset, --dataset is downloaded)",
    )
    parser.add_argument(
        "--dataset",
        default=os.environ.get("MOVIELENS") or "ml-latest-small",
        choices=sorted(KNOWN_DATASETS),
        help="which MovieLens to download when --data is not given "
        "(default: $MOVIELENS or ml-latest-small)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=DEFAULT_CACHE_DIR,
        help="where downloads are kept (default: %(default)s)",
    )
