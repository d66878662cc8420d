"""Title matching and mention parsing: the quirks people and MovieLens bring."""

from __future__ import annotations

import pytest

from recommender.catalog import Catalog, MatchKind, split_year
from recommender.mentions import MAX_MENTIONS, parse_mentions
from recommender.movielens import load_movielens
from recommender.titles import (
    display_title,
    front_article,
    normalize,
    split_alternatives,
)
from recommender.train import build_catalog
from tests.conftest import REAL_DATA


@pytest.fixture(scope="module")
def catalog(tiny_movielens) -> Catalog:
    return Catalog(build_catalog(load_movielens(tiny_movielens)))


@pytest.fixture(scope="module")
def real_catalog() -> Catalog:
    return Catalog(build_catalog(load_movielens(REAL_DATA)))


def test_normalize_folds_case_accents_symbols_and_numerals():
    assert normalize("Amélie & Nino: Part II!") == "amelie and nino part 2"
    assert normalize("ROCKY  2") == normalize("Rocky II")
    assert normalize("Schindler's List") == "schindlers list"
    assert normalize("🍿🎬") == ""


def test_titles_as_movielens_writes_them():
    assert front_article("Matrix, The") == "The Matrix"
    assert front_article("Fabuleux destin d'Amélie Poulain, Le").startswith("Le ")
    assert split_alternatives("Seven (a.k.a. Se7en)") == ("Seven", ["Se7en"])
    assert split_alternatives("(500) Days of Summer") == ("(500) Days of Summer", [])
    assert (
        display_title("Godfather: Part II, The", 1974)
        == "The Godfather: Part II (1974)"
    )


@pytest.mark.parametrize(
    ("query", "movie_id"),
    [
        ("The Matrix", 1),  # article in front
        ("matrix", 1),  # article missing
        ("Matrix, The", 1),  # as MovieLens writes it
        ("tHe MaTrIx", 1),  # case
        ("Amélie", 9),
        ("amelie", 9),  # accents
        ("Le fabuleux destin d'Amelie Poulain", 9),  # alternative title
        ("Se7en", 8),
        ("Seven", 8),
        ("Incepton", 10),  # typo
        ("pulp fictoin", 21),
        ("Heat 1995", 2),  # year given by the person
        ("Heat (1995)", 2),
        ("The Heat 2013", 3),
        ("Rocky 2", 12),  # numerals
        ("Rocky II", 12),
        ("Godfather 2", 24),  # numeral, article and subtitle
        ("Shawshank", 25),  # a distinctive word of a longer title
        ("Up", 13),  # short titles match only exactly
        ("Her", 14),
        ("I, Robot", 26),
    ],
)
def test_match_quirks(catalog, query, movie_id):
    match = catalog.match(query)
    assert match.kind is MatchKind.MATCHED, match
    assert match.movie.movie_id == movie_id


def test_same_title_asks_which_one(catalog):
    match = catalog.match("Sabrina")
    assert match.kind is MatchKind.AMBIGUOUS
    assert [m.year for m in match.candidates] == [1954, 1995]


def test_far_better_known_movie_is_taken_and_others_named(catalog):
    match = catalog.match("Titanic")
    assert match.kind is MatchKind.MATCHED and match.movie.year == 1997
    assert [m.year for m in match.others] == [1953]


def test_unknown_title_gets_closest(catalog):
    match = catalog.match("Alienz from Mars")
    assert match.kind is MatchKind.NOT_FOUND
    assert match.candidates and all(m.movie_id in catalog for m in match.candidates)
    assert catalog.match("qwzxv").kind is MatchKind.NOT_FOUND
    assert catalog.match("").kind is MatchKind.NOT_FOUND
    assert catalog.match("😀😀").kind is MatchKind.NOT_FOUND


def test_split_year():
    assert split_year("Heat 1995") == ("Heat", 1995)
    assert split_year("Heat from 1995") == ("Heat", 1995)
    assert split_year("1995") == ("1995", None)


def _parsed(catalog, message):
    mentions, truncated = parse_mentions(message, catalog.is_title)
    return [(m.title, m.rating) for m in mentions], truncated


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "I loved The Matrix, Heat was ok, and I didn't like Titanic",
            [("The Matrix", 5.0), ("Heat", 3.0), ("Titanic", 2.0)],
        ),
        ("I watched Inception", [("Inception", None)]),
        ("hated titanic", [("titanic", 1.0)]),
        ("I really liked Up", [("Up", 4.5)]),
        ("Fargo 4/5", [("Fargo", 4.0)]),
        ("Jaws - 3.5 stars", [("Jaws", 3.5)]),
        ("Heat ★★★★", [("Heat", 4.0)]),
        ("Alien was meh", [("Alien", 3.0)]),
        ("Rocky 2 wasn't bad", [("Rocky 2", 3.0)]),
        ("Casablanca is my favorite movie", [("Casablanca", 5.0)]),
        # A feeling word inside a title stays in the title.
        ("I loved Love Actually", [("Love Actually", 5.0)]),
        ("Good Will Hunting was great", [("Good Will Hunting", 4.5)]),
        # "and" and commas inside a known title keep it whole.
        (
            "I watched Harry Potter and the Chamber of Secrets and Up",
            [("Harry Potter and the Chamber of Secrets", None), ("Up", None)],
        ),
        ("I, Robot was boring", [("I, Robot", 2.0)]),
        # One feeling for several titles.
        ("I loved Heat and Up", [("Heat", 5.0), ("Up", 5.0)]),
        ("Heat and Up were both great", [("Heat", 4.5), ("Up", 4.5)]),
        ("Incepton was amazing!! 😍🍿", [("Incepton", 5.0)]),
        ("4 stars for Heat", [("Heat", 4.0)]),
        ("I give Fargo 2/5", [("Fargo", 2.0)]),
        ("Heat was great but Titanic sucked", [("Heat", 4.5), ("Titanic", 1.0)]),
        # A feeling alone after "but" qualifies the movie before it.
        ("Jaws was boring but ok", [("Jaws", 3.0)]),
        ("Titanic was not for me", [("Titanic", 2.0)]),
        ("", []),
        ("   ", []),
        ("🍿🍿🍿", []),
    ],
)
def test_parse_mentions(catalog, message, expected):
    assert _parsed(catalog, message) == (expected, False)


@pytest.fixture(scope="module")
def quirky_titles(catalog):
    """The tiny catalogue plus titles that start with filler words or hold
    abbreviations, as ml-latest-small has them."""
    extra = {
        "yes man",
        "no country for old men",
        "dr strangelove",
        "kramer vs kramer",
        "mr deeds",
    }
    return lambda text: catalog.is_title(text) or normalize(text) in extra


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("I didn't watch Titanic", [("Titanic", True)]),
        ("I haven't seen Up yet", [("Up", True)]),
        ("never saw Jaws", [("Jaws", True)]),
        ("I loved Heat and haven't seen Up", [("Heat", False), ("Up", True)]),
        ("I didn't like Heat", [("Heat", False)]),
    ],
)
def test_parse_mentions_movies_not_seen(message, expected):
    mentions, _ = parse_mentions(message)
    assert [(m.title, m.unseen) for m in mentions] == expected
    assert all(m.rating is None for m in mentions if m.unseen)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # A title that starts with yes/no keeps it.
        ("Yes Man was ok", [("Yes Man", 3.0)]),
        ("I liked Yes Man", [("Yes Man", 4.0)]),
        ("yes, I liked Yes Man", [("Yes Man", 4.0)]),
        ("No Country for Old Men was great", [("No Country for Old Men", 4.5)]),
        # ...while the same words before another title are dropped.
        ("yes I loved the movie Heat too", [("Heat", 5.0)]),
        ("no, I meant Heat 2013", [("Heat 2013", None)]),
        ("I meant The Heat 2013", [("The Heat 2013", None)]),
        # An interjection the message opens with is no title.
        ("lol I loved Heat", [("Heat", 5.0)]),
        ("hey, Jaws was ok", [("Jaws", 3.0)]),
        ("wow! Up was great", [("Up", 4.5)]),
        # A pronoun names no movie; the movie "It" has a capital.
        ("I loved it", []),
        ("I give it a 5", []),
        ("I loved It", [("It", 5.0)]),
        # Other ways of saying how much.
        ("I give Jaws a 4", [("Jaws", 4.0)]),
        ("Heat gets a 2.5", [("Heat", 2.5)]),
        ("Heat: 2.5, Up - 4", [("Heat", 2.5), ("Up", 4.0)]),
        ("Jaws was 2/5, Heat is 4 stars", [("Jaws", 2.0), ("Heat", 4.0)]),
        ("Up was a 3", [("Up", 3.0)]),
        ("my favourite movie is Up", [("Up", 5.0)]),
        ("I loved both Heat and Up", [("Heat", 5.0), ("Up", 5.0)]),
        # An abbreviation's full stop ends no sentence.
        (
            "I loved Dr. Strangelove and Fight Club",
            [("Dr. Strangelove", 5.0), ("Fight Club", 5.0)],
        ),
        (
            "Kramer vs. Kramer was ok. Mr. Deeds was boring",
            [("Kramer vs. Kramer", 3.0), ("Mr. Deeds", 2.0)],
        ),
        ("I loved Up. Jaws was ok!", [("Up", 5.0), ("Jaws", 3.0)]),
        # Code is no title; the words beside it may be.
        ("Robert'); DROP TABLE profiles;--", [("DROP TABLE profiles", None)]),
        ("<script>alert(1)</script>", []),
    ],
)
def test_parse_mentions_filler_abbreviations_and_code(quirky_titles, message, expected):
    mentions, _ = parse_mentions(message, quirky_titles)
    assert [(m.title, m.rating) for m in mentions] == expected


@pytest.mark.parametrize(
    ("message", "bad"),
    [
        ("Inception 6/5", "6/5"),
        ("Alien -1/5", "-1/5"),
        ("Heat 12/10", "12/10"),
        ("Jaws 7 stars", "7 stars"),
        ("7 stars for Fargo", "7 stars"),
    ],
)
def test_rating_off_the_scale_is_no_rating(catalog, message, bad):
    (mention,), _ = parse_mentions(message, catalog.is_title)
    assert (mention.rating, mention.bad_rating) == (None, bad)


def test_rating_on_the_scale_and_a_dash_before_it(catalog):
    mentions, _ = parse_mentions("Alien - 1/5, Up 0/5, Jaws 10/10", catalog.is_title)
    assert [(m.title, m.rating, m.bad_rating) for m in mentions] == [
        ("Alien", 1.0, None),
        ("Up", 0.5, None),
        ("Jaws", 5.0, None),
    ]


def test_a_feeling_does_not_cover_a_rating_off_the_scale(catalog):
    mentions, _ = parse_mentions("I loved Heat and Up 6/5", catalog.is_title)
    assert [(m.title, m.rating, m.bad_rating) for m in mentions] == [
        ("Heat", 5.0, None),
        ("Up", None, "6/5"),
    ]


def test_huge_message_is_cut_and_said(catalog):
    mentions, truncated = parse_mentions("Heat, " * 1000, catalog.is_title)
    assert truncated
    assert len(mentions) <= MAX_MENTIONS


@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("The Matrix", "The Matrix (1999)"),
        ("Matrix, The", "The Matrix (1999)"),
        ("se7en", "Seven (1995)"),
        ("Amélie", "Amelie (2001)"),
        ("Incepton", "Inception (2010)"),
        ("Heat 1995", "Heat (1995)"),
        ("Rocky 2", "Rocky II (1979)"),
        ("Up", "Up (2009)"),
        ("Her", "Her (2013)"),
        ("Shawshank", "The Shawshank Redemption (1994)"),
        ("Godfather 2", "The Godfather: Part II (1974)"),
    ],
)
def test_real_catalogue(real_catalog, query, expected):
    match = real_catalog.match(query)
    assert match.kind is MatchKind.MATCHED, match
    assert match.movie.display == expected


@pytest.mark.slow
def test_real_catalogue_old_film_does_not_hide_the_famous_ones(real_catalog):
    match = real_catalog.match("Lord of the rings")
    assert match.kind is MatchKind.AMBIGUOUS
    shown = [m.display for m in match.candidates]
    assert "The Lord of the Rings (1978)" in shown
    assert "The Lord of the Rings: The Fellowship of the Ring (2001)" in shown


@pytest.mark.slow
def test_real_catalogue_sabrina_is_ambiguous(real_catalog):
    match = real_catalog.match("Sabrina")
    assert match.kind is MatchKind.AMBIGUOUS
    assert {m.display for m in match.candidates} == {"Sabrina (1954)", "Sabrina (1995)"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Yes Man was ok", "Yes Man (2008)"),
        ("I liked Yes Man", "Yes Man (2008)"),
        ("I loved Dr. Strangelove", "Dr. Strangelove or: How I Learned to Stop"),
        ("lol I loved Heat", "Heat (1995)"),
        ("hey, I loved Heat", "Heat (1995)"),
        # Titles that open with an interjection keep it.
        ("Wow! A Talking Fish! was great", "Wow! A Talking Fish! (1983)"),
        ("Hello, Dolly! was great", "Hello, Dolly! (1969)"),
        ("LOL was ok", "LOL (2012)"),
    ],
)
def test_real_catalogue_filler_and_abbreviations(real_catalog, message, expected):
    (mention,), _ = parse_mentions(message, real_catalog.is_title)
    match = real_catalog.match(mention.title)
    assert match.kind is MatchKind.MATCHED, match
    assert match.movie.display.startswith(expected)
