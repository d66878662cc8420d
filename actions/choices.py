"""Read which of several same-named movies a person picked.

People answer "2", "the second one", "1995", "the older one", "Sabrina 1954" or
"none"; buttons send the number as the ``choice`` entity.
"""

from __future__ import annotations

import re
from enum import Enum

from rapidfuzz import fuzz

from recommender.catalog import Movie, split_year
from recommender.titles import normalize

_ORDINALS = {
    "first": 1, "1st": 1, "one": 1, "second": 2, "2nd": 2, "two": 2,
    "third": 3, "3rd": 3, "three": 3, "fourth": 4, "4th": 4, "four": 4,
    "fifth": 5, "5th": 5, "five": 5,
}  # fmt: skip
_NUMBER = re.compile(
    r"^\s*(?:#|no\.?|number|option|nr\.?)?\s*(\d{1,2})\s*[.)]?\s*\W*$", re.I
)
_CANCEL = re.compile(
    r"^\s*(?:none|neither|nope|no|cancel|skip|never\s*mind|nevermind|forget it|"
    r"none of (?:them|those|these))\b",
    re.IGNORECASE,
)
_OLDER = re.compile(r"\b(?:older|oldest|original|earlier|first one made)\b", re.I)
_NEWER = re.compile(r"\b(?:newer|newest|latest|recent|remake|later)\b", re.I)


# Words that only make sense as an answer to a which-movie question.
_CHOICE_WORDS = set(_ORDINALS) | {
    "last", "older", "oldest", "newer", "newest", "latest", "earlier", "later",
    "original", "remake", "recent", "none", "neither",
}  # fmt: skip
_CHOICE_FILLER = {
    "the", "a", "please", "i", "meant", "mean", "number", "option", "nr", "no",
    "from", "that", "this", "film", "movie", "made", "in", "of", "them", "those",
}  # fmt: skip


def is_choice_answer(text: str) -> bool:
    """True for "the second", "2", "the 1995 one": a pick and nothing else."""
    words = normalize(text).split()
    picks = [w for w in words if w in _CHOICE_WORDS or w.isdigit() or w == "one"]
    return bool(picks) and all(w in _CHOICE_FILLER or w in picks for w in words)


def number_answer(text: str) -> int | None:
    """The number in "2", "#2", "option 2)", which answers a which-movie question
    whatever else it could mean ("9" is also a movie of 2009); else None."""
    number = _NUMBER.match(text)
    return int(number.group(1)) if number else None


class Skip(Enum):
    """The person wants none of the offered movies."""

    NONE = "none"


def resolve_choice(
    text: str, options: list[Movie], choice: str | None = None
) -> Movie | Skip | None:
    """The movie picked from ``options``, ``Skip.NONE``, or None if unclear."""
    if choice is not None:
        text = str(choice)

    # What names a movie wins over a leading "no": "no, the 1995 one".
    years = [int(y) for y in re.findall(r"\b(1[89]\d\d|20\d\d)\b", text)]
    for year in years:
        same = [m for m in options if m.year == year]
        if len(same) == 1:
            return same[0]
    by_year = sorted(options, key=lambda m: m.year or 0)
    if _OLDER.search(text):
        return by_year[0]
    if _NEWER.search(text):
        return by_year[-1]

    index = number_answer(text)
    if index is not None:
        return options[index - 1] if 1 <= index <= len(options) else None
    words = normalize(text).split()
    for word in words:
        # "one" alone is no ordinal: "the second one".
        if word in _ORDINALS and (word != "one" or len(words) == 1) and len(words) <= 4:
            index = _ORDINALS[word]
            return options[index - 1] if index <= len(options) else None
    if "last" in words and len(words) <= 4:
        return options[-1]
    if _CANCEL.match(text):
        return Skip.NONE

    title, _ = split_year(text)
    scored = [
        (fuzz.ratio(normalize(title), normalize(m.display.rsplit(" (", 1)[0])), m)
        for m in options
    ]
    scored.sort(key=lambda pair: -pair[0])
    distinct_titles = len({normalize(m.title) for m in options}) > 1
    if scored and scored[0][0] >= 85 and distinct_titles:
        if len(scored) == 1 or scored[0][0] - scored[1][0] >= 5:
            return scored[0][1]
    return None
