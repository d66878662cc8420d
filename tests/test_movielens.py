"""Tests of recommender.movielens: every layout, zips, validation and downloads.

All data is written to tmp_path; only the RecBole fallback test goes online (PyPI).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import logging
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from recommender.errors import DataError, DataWarning, DownloadError
from recommender.movielens import (
    KNOWN_DATASETS,
    MovieLens,
    detect_layout,
    fetch_movielens,
    fingerprint,
    load_movielens,
    resolve_source,
)
from tests.conftest import REAL_DATA

MOVIES_CSV = """movieId,title,genres
1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy
2,"Matrix, The (1999)",Action|Sci-Fi|Thriller
3,"Seven (a.k.a. Se7en) (1995)",Mystery|Thriller
4,Babylon 5 ,Sci-Fi
5,Fawlty Towers (1975-1979),(no genres listed)
6,"Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)",Comedy|Romance
"""
RATINGS_CSV = """userId,movieId,rating,timestamp
1,1,4.0,964982703
1,2,5.0,964981247
2,2,0.5,964982224
2,5,3.5,964983815
3,6,4.5,964982931
"""
LINKS_CSV = """movieId,imdbId,tmdbId
1,0114709,862
2,133093,603
3,0114369,
"""


def write_csv_dataset(folder: Path, ratings: str = RATINGS_CSV) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "movies.csv").write_text(MOVIES_CSV, encoding="utf-8")
    (folder / "ratings.csv").write_text(ratings, encoding="utf-8")
    (folder / "links.csv").write_text(LINKS_CSV, encoding="utf-8")
    return folder


def write_dat_dataset(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    movies = (
        "1::Toy Story (1995)::Animation|Children's|Comedy\n"
        "2::Star Wars: Episode IV - A New Hope (1977)::Action|Sci-Fi\n"
        "3::Amélie (2001)::Comedy|Romance\n"
    )
    # ml-1m ships Latin-1; the reader must not choke on the é.
    (folder / "movies.dat").write_bytes(movies.encode("latin-1"))
    (folder / "ratings.dat").write_text(
        "1::1::5::978300760\n1::2::3::978302109\n2::3::4::978301968\n",
        encoding="ascii",
    )
    return folder


def write_100k_dataset(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    flags_toy = "0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0"
    flags_noir = "0|0|0|0|0|0|1|0|0|0|1|0|0|0|0|0|0|0|0"
    flags_unknown = "1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0"
    items = (
        f"1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy|"
        f"{flags_toy}\n"
        f"2|Cité des enfants perdus|01-Jan-1995||http://us.imdb.com/x|{flags_noir}\n"
        f"3|unknown|||http://us.imdb.com/y|{flags_unknown}\n"
    )
    (folder / "u.item").write_bytes(items.encode("latin-1"))
    (folder / "u.data").write_text(
        "196\t1\t3\t881250949\n186\t2\t5\t891717742\n22\t3\t1\t878887116\n",
        encoding="ascii",
    )
    return folder


def write_recbole_dataset(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    # Columns deliberately out of the usual order: they must be read by name.
    (folder / "ml-100k.inter").write_text(
        "item_id:token\tuser_id:token\ttimestamp:float\trating:float\n"
        "1\t196\t881250949\t3\n"
        "2\t186\t891717742\t5\n",
        encoding="utf-8",
    )
    (folder / "ml-100k.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "1\tToy Story\t1995\tAnimation Children's Comedy\n"
        "2\tLand Before Time III (1995)\tV\tAnimation\n"
        "3\tunkonwn\tunkonwn\tunknown\n",
        encoding="utf-8",
    )
    return folder


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted(folder.rglob("*")):
            zf.write(file, file.relative_to(folder.parent).as_posix())
    return archive


def movie(data: MovieLens, movie_id: int) -> pd.Series:
    return data.movies.set_index("movie_id").loc[movie_id]


def assert_schema(data: MovieLens) -> None:
    assert list(data.ratings.columns) == ["user_id", "movie_id", "rating", "timestamp"]
    assert [str(t) for t in data.ratings.dtypes] == [
        "int64",
        "int64",
        "float32",
        "int64",
    ]
    assert list(data.movies.columns) == ["movie_id", "title", "year", "genres"]
    assert str(data.movies["movie_id"].dtype) == "int64"
    assert str(data.movies["year"].dtype) == "Int64"
    assert all(isinstance(t, str) for t in data.movies["title"])
    assert all(isinstance(g, str) for g in data.movies["genres"])
    if data.links is not None:
        assert list(data.links.columns) == ["movie_id", "imdb_id", "tmdb_id"]
        assert str(data.links["tmdb_id"].dtype) == "Int64"


# --------------------------------------------------------------------------- #
# Layouts
# --------------------------------------------------------------------------- #


def test_csv_layout(tmp_path: Path) -> None:
    folder = write_csv_dataset(tmp_path / "ml-latest-small")
    assert detect_layout(folder) == "csv"
    data = load_movielens(folder)
    assert_schema(data)
    assert data.name == "ml-latest-small"
    assert len(data.ratings) == 5
    assert (movie(data, 2).title, movie(data, 2).year) == ("Matrix, The", 1999)
    assert movie(data, 3).title == "Seven (a.k.a. Se7en)"
    assert movie(data, 6).title == "Amelie (Fabuleux destin d'Amélie Poulain, Le)"
    assert movie(data, 6).year == 2001
    assert movie(data, 4).title == "Babylon 5"
    assert pd.isna(movie(data, 4).year)
    assert movie(data, 5).title == "Fawlty Towers"
    assert movie(data, 5).year == 1975
    assert movie(data, 5).genres == ""
    assert movie(data, 1).genres == "Adventure|Animation|Children|Comedy|Fantasy"
    links = data.links.set_index("movie_id")
    assert links.loc[2, "imdb_id"] == "0133093"  # zero padded back to 7 digits
    assert links.loc[1, "tmdb_id"] == 862
    assert pd.isna(links.loc[3, "tmdb_id"])


def test_dat_layout_latin1(tmp_path: Path) -> None:
    folder = write_dat_dataset(tmp_path / "ml-1m")
    assert detect_layout(folder) == "dat"
    data = load_movielens(folder)
    assert_schema(data)
    assert data.name == "ml-1m"
    assert data.links is None
    assert movie(data, 3).title == "Amélie"
    assert movie(data, 2).title == "Star Wars: Episode IV - A New Hope"
    assert movie(data, 1).genres == "Animation|Children|Comedy"
    assert data.ratings["rating"].tolist() == [5.0, 3.0, 4.0]
    assert data.ratings["timestamp"].iloc[0] == 978300760


def test_dat_layout_utf8_is_named_like_grouplens(tmp_path: Path) -> None:
    folder = tmp_path / "ml-10M100K"
    folder.mkdir()
    (folder / "movies.dat").write_text(
        "1::Amélie (2001)::(no genres listed)\n", encoding="utf-8"
    )
    (folder / "ratings.dat").write_text("1::1::3.5::1\n", encoding="ascii")
    data = load_movielens(folder)
    assert data.name == "ml-10m"
    assert movie(data, 1).title == "Amélie"
    assert movie(data, 1).genres == ""
    assert data.ratings["rating"].iloc[0] == pytest.approx(3.5)


def test_100k_layout(tmp_path: Path) -> None:
    folder = write_100k_dataset(tmp_path / "ml-100k")
    assert detect_layout(folder) == "100k"
    data = load_movielens(folder)
    assert_schema(data)
    assert data.name == "ml-100k"
    assert data.links is None
    assert (movie(data, 1).title, movie(data, 1).year) == ("Toy Story", 1995)
    assert movie(data, 1).genres == "Animation|Children|Comedy"
    # No year in the title: it comes from the release date.
    assert movie(data, 2).title == "Cité des enfants perdus"
    assert movie(data, 2).year == 1995
    assert movie(data, 2).genres == "Crime|Film-Noir"
    assert movie(data, 3).genres == ""
    assert pd.isna(movie(data, 3).year)
    assert len(data.ratings) == 3


def test_recbole_layout(tmp_path: Path) -> None:
    folder = write_recbole_dataset(tmp_path / "ml-100k-recbole")
    assert detect_layout(folder) == "recbole"
    data = load_movielens(folder)
    assert_schema(data)
    assert data.name == "ml-100k"
    ratings = data.ratings.set_index("movie_id")
    assert ratings.loc[1, "user_id"] == 196
    assert ratings.loc[2, "rating"] == 5.0
    assert ratings.loc[1, "timestamp"] == 881250949
    assert (movie(data, 1).title, movie(data, 1).year) == ("Toy Story", 1995)
    assert movie(data, 1).genres == "Animation|Children|Comedy"
    # A bad release_year falls back to the year still in the title.
    assert (movie(data, 2).title, movie(data, 2).year) == ("Land Before Time III", 1995)
    assert pd.isna(movie(data, 3).year)
    assert movie(data, 3).genres == ""


# --------------------------------------------------------------------------- #
# Where the data is: parent folders and zips
# --------------------------------------------------------------------------- #


def test_parent_folder_holding_one_dataset(tmp_path: Path) -> None:
    write_dat_dataset(tmp_path / "parent" / "ml-1m")
    (tmp_path / "parent" / "notes").mkdir()
    assert detect_layout(tmp_path / "parent") == "dat"
    assert load_movielens(tmp_path / "parent").name == "ml-1m"


def test_parent_folder_with_two_datasets_is_ambiguous(tmp_path: Path) -> None:
    write_dat_dataset(tmp_path / "parent" / "ml-1m")
    write_100k_dataset(tmp_path / "parent" / "ml-100k")
    with pytest.raises(DataError, match="found 2"):
        load_movielens(tmp_path / "parent")


def test_zip_is_extracted_once(tmp_path: Path) -> None:
    folder = write_csv_dataset(tmp_path / "src" / "ml-latest-small")
    archive = zip_folder(folder, tmp_path / "ml-latest-small.zip")
    assert detect_layout(archive) == "csv"
    assert not (tmp_path / "ml-latest-small.zip.extracted").exists()  # only listed
    data = load_movielens(archive)
    assert data.name == "ml-latest-small"
    assert len(data.ratings) == 5
    extracted = tmp_path / "ml-latest-small.zip.extracted" / "ml-latest-small"
    ratings_file = extracted / "ratings.csv"
    # A second load reuses the extraction instead of unzipping again.
    mtime = ratings_file.stat().st_mtime_ns
    load_movielens(archive)
    assert ratings_file.stat().st_mtime_ns == mtime
    assert fingerprint(archive) == fingerprint(folder)


def test_not_a_zip_file(tmp_path: Path) -> None:
    bogus = tmp_path / "ratings.txt"
    bogus.write_text("hello")
    with pytest.raises(DataError, match="not a zip"):
        load_movielens(bogus)


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #


def test_missing_files_message(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "ratings.csv").write_text(RATINGS_CSV)  # movies.csv is missing
    with pytest.raises(DataError) as info:
        load_movielens(folder)
    message = str(info.value)
    assert str(folder) in message
    assert "ratings.csv + movies.csv" in message
    assert "u.data + u.item" in message
    assert "MOVIELENS_DIR" in message


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nothing is there"):
        load_movielens(tmp_path / "nope")


def test_ratings_of_unknown_movies_are_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = write_csv_dataset(
        tmp_path / "ds", ratings=RATINGS_CSV + "4,999,3.0,964982931\n"
    )
    with caplog.at_level(logging.WARNING), pytest.warns(DataWarning, match="999"):
        data = load_movielens(folder)
    assert len(data.ratings) == 5
    assert 999 not in set(data.ratings["movie_id"])
    assert any("Dropped 1 ratings" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("bad", ["0.0", "5.5", "-1"])
def test_ratings_out_of_range(tmp_path: Path, bad: str) -> None:
    folder = write_csv_dataset(
        tmp_path / "ds", ratings=RATINGS_CSV + f"4,1,{bad},964982931\n"
    )
    with pytest.raises(DataError, match=r"between 0\.5 and 5\.0"):
        load_movielens(folder)


def test_missing_column_is_a_data_error(tmp_path: Path) -> None:
    folder = write_csv_dataset(
        tmp_path / "ds", ratings="userId,movieId,rating\n1,1,4.0\n"
    )
    with pytest.raises(DataError, match="timestamp"):
        load_movielens(folder)


def test_fingerprint_changes_with_ratings(tmp_path: Path) -> None:
    folder = write_csv_dataset(tmp_path / "ds")
    first = fingerprint(folder)
    assert first == fingerprint(folder)
    # Same size, different content: only the hash can tell.
    ratings = folder / "ratings.csv"
    ratings.write_text(RATINGS_CSV.replace("4.0,964982703", "3.0,964982703"))
    second = fingerprint(folder)
    assert second != first
    # A copy elsewhere is the same data.
    copy = write_csv_dataset(tmp_path / "copy" / "ds", ratings=ratings.read_text())
    assert fingerprint(copy) == second


# --------------------------------------------------------------------------- #
# Obtaining data
# --------------------------------------------------------------------------- #


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests_seen: list[str]

    def do_GET(self) -> None:
        self.requests_seen.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest output clean


@pytest.fixture
def http_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, str, list[str]]]:
    """A local HTTP server on 127.0.0.1: (served folder, base URL, paths fetched)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    root = tmp_path / "www"
    root.mkdir()
    seen: list[str] = []
    handler = type("Handler", (_CountingHandler,), {"requests_seen": seen})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def publish(root: Path, tmp_path: Path, md5: str | None = None) -> str:
    """Put ml-latest-small.zip (+ .md5) in `root`, GroupLens style; returns md5."""
    folder = write_csv_dataset(tmp_path / "build" / "ml-latest-small")
    archive = zip_folder(folder, root / "ml-latest-small.zip")
    real = hashlib.md5(archive.read_bytes()).hexdigest()
    (root / "ml-latest-small.zip.md5").write_text(
        f"{md5 or real}  ml-latest-small.zip\n"
    )
    return real


def test_fetch_downloads_verifies_and_caches(
    http_root: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    root, base_url, seen = http_root
    publish(root, tmp_path)
    cache = tmp_path / "cache"
    folder = fetch_movielens("ml-latest-small", cache, base_url=base_url, timeout=5)
    assert folder.name == "ml-latest-small"
    assert load_movielens(folder).name == "ml-latest-small"
    assert (cache / "ml-latest-small.zip").is_file()
    assert not list(cache.glob("*.part"))
    assert "/ml-latest-small.zip" in seen
    # Cached zip with a matching checksum: no network at all the second time.
    seen.clear()
    again = fetch_movielens("ml-latest-small", cache, base_url=base_url, timeout=5)
    assert again == folder
    assert seen == []


def test_fetch_accepts_bare_hex_md5(
    http_root: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    root, base_url, _ = http_root
    real = publish(root, tmp_path)
    (root / "ml-latest-small.zip.md5").write_text(real)
    folder = fetch_movielens("ml-latest-small", tmp_path / "c", base_url=base_url)
    assert (folder / "ratings.csv").is_file()


def test_fetch_checksum_mismatch(
    http_root: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    root, base_url, _ = http_root
    publish(root, tmp_path, md5="0" * 32)
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="md5"):
        fetch_movielens("ml-latest-small", cache, base_url=base_url, timeout=5)
    assert not (cache / "ml-latest-small.zip").exists()
    assert not list(cache.glob("*.part"))


def test_fetch_http_error_is_a_download_error(
    http_root: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    _, base_url, _ = http_root  # nothing published: 404
    with pytest.raises(DownloadError, match="404"):
        fetch_movielens("ml-1m", tmp_path / "cache", base_url=base_url, timeout=5)


def test_fetch_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        fetch_movielens("ml-7m", tmp_path)
    assert "ml-latest-small" in str(info.value)
    assert "ml-10m" in str(info.value)


def test_known_datasets() -> None:
    assert set(KNOWN_DATASETS) == {
        "ml-100k",
        "ml-1m",
        "ml-10m",
        "ml-20m",
        "ml-25m",
        "ml-32m",
        "ml-latest-small",
        "ml-latest",
    }
    assert KNOWN_DATASETS["ml-10m"].archive == "ml-10m.zip"
    assert KNOWN_DATASETS["ml-10m"].folder == "ml-10M100K"


def test_resolve_source_prefers_movielens_dir(tmp_path: Path) -> None:
    folder = write_csv_dataset(tmp_path / "ds")
    assert resolve_source(str(folder), "ml-latest-small", tmp_path / "c") == folder
    with pytest.raises(DataError, match="MOVIELENS_DIR"):
        resolve_source(str(tmp_path / "missing"), "ml-latest-small", tmp_path / "c")


def test_resolve_source_downloads_without_movielens_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, Path]] = []

    def fake_fetch(name: str, cache_dir: Path) -> Path:
        calls.append((name, cache_dir))
        return tmp_path / name

    monkeypatch.setattr("recommender.movielens.fetch_movielens", fake_fetch)
    got = resolve_source(None, "ml-1m", tmp_path / "c")
    assert got == tmp_path / "ml-1m"
    assert calls == [("ml-1m", tmp_path / "c")]


def _pip_reaches_index() -> bool:
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "index", "versions", "recbole"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


@pytest.mark.slow
def test_unreachable_grouplens_falls_back_to_recbole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    with caplog.at_level(logging.WARNING):
        try:
            folder = fetch_movielens(
                "ml-latest-small", cache, base_url="http://127.0.0.1:9", timeout=5
            )
        except DownloadError:
            if not _pip_reaches_index():
                pytest.skip("pip cannot reach the package index (offline)")
            raise
    assert folder == cache / "ml-100k-recbole"
    assert any(
        "could not be reached" in r.getMessage() and "MOVIELENS_DIR" in r.getMessage()
        for r in caplog.records
    )
    data = load_movielens(folder)
    assert_schema(data)
    assert data.name == "ml-100k"
    assert len(data.ratings) == 100_000
    assert data.ratings["user_id"].nunique() == 943
    assert len(data.movies) == 1682
    assert (movie(data, 1).title, movie(data, 1).year) == ("Toy Story", 1995)
    # The wheel is kept: the second fallback needs no pip run.
    wheels = list((cache / "recbole").glob("recbole-*.whl"))
    assert len(wheels) == 1
    again = fetch_movielens(
        "ml-latest-small", cache, base_url="http://127.0.0.1:9", timeout=5
    )
    assert again == folder


# --------------------------------------------------------------------------- #
# The real data
# --------------------------------------------------------------------------- #


def test_real_ml_latest_small() -> None:
    data = load_movielens(REAL_DATA)
    assert_schema(data)
    assert data.name == "ml-latest-small"
    assert len(data.ratings) == 100_836
    assert data.ratings["user_id"].nunique() == 610
    assert len(data.movies) == 9742
    assert (movie(data, 2571).title, movie(data, 2571).year) == ("Matrix, The", 1999)
    assert data.links is not None
    links = data.links.set_index("movie_id")
    assert links.loc[2571, "imdb_id"] == "0133093"
