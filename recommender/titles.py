"""How MovieLens writes titles, and how people type them.

MovieLens moves leading articles to the end (``Matrix, The``), keeps alternative
titles in trailing parentheses (``Seven (a.k.a. Se7en)``) and writes sequels with
roman numerals (``Rocky II``). People write ``the matrix``, ``se7en``, ``Rocky 2``,
``Amélie`` or ``amelie``. Both sides go through :func:`normalize`, so that matching
compares like with like.
"""

from __future__ import annotations

import re
import unicodedata

# Articles MovieLens moves to the end of a title, in the languages it uses them.
ARTICLES = (
    "the", "a", "an", "les", "le", "la", "l'", "il", "el", "los", "las", "lo",
    "die", "der", "das", "den", "det", "de", "het", "une", "un", "gli", "i", "o",
)  # fmt: skip

_TRAILING_ARTICLE = re.compile(
    r"^(?P<rest>.+),\s*(?P<article>" + "|".join(re.escape(a) for a in ARTICLES) + r")$",
    re.IGNORECASE,
)
_LEADING_ARTICLE = re.compile(
    r"^(?:" + "|".join(re.escape(a) for a in ARTICLES if a != "i") + r")\s+"
)
_TRAILING_GROUP = re.compile(r"\s*\(([^()]*)\)\s*$")
_AKA = re.compile(r"^(?:a\.k\.a\.|aka)\s*", re.IGNORECASE)
_ROMAN = {
    "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7",
    "viii": "8", "ix": "9", "x": "10", "xi": "11", "xii": "12",
}  # fmt: skip
_NOT_WORD = re.compile(r"[^0-9a-z]+")


def normalize(text: str) -> str:
    """Fold a title to lower-case ASCII words with arabic numerals.

    >>> normalize("Amélie & Nino: Part II!")
    'amelie and nino part 2'
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("&", " and ").replace("'", "").replace("’", "")
    words = _NOT_WORD.sub(" ", text).split()
    return " ".join(_ROMAN.get(word, word) for word in words)


def strip_article(normalized: str) -> str:
    """Drop one leading article from an already normalized title."""
    stripped = _LEADING_ARTICLE.sub("", normalized, count=1)
    return stripped or normalized


def front_article(title: str) -> str:
    """``Matrix, The`` becomes ``The Matrix``; other titles are unchanged."""
    match = _TRAILING_ARTICLE.match(title.strip())
    if not match:
        return title.strip()
    article = match["article"]
    separator = "" if article.endswith("'") else " "
    return f"{article}{separator}{match['rest']}"


def split_alternatives(title: str) -> tuple[str, list[str]]:
    """Split ``Seven (a.k.a. Se7en)`` into ``("Seven", ["Se7en"])``.

    Only trailing parenthesised groups are alternatives: ``(500) Days of Summer``
    keeps its leading number.
    """
    alternatives = []
    main = title.strip()
    while True:
        match = _TRAILING_GROUP.search(main)
        if not match or match.start() == 0:
            break
        alternatives.insert(0, _AKA.sub("", match.group(1)).strip())
        main = main[: match.start()].strip()
    return main, [alt for alt in alternatives if alt]


def display_title(title: str, year: int | None) -> str:
    """How the bot shows a movie: article in front, the year in parentheses."""
    main, _ = split_alternatives(title)
    shown = front_article(main)
    return f"{shown} ({year})" if year else shown


def aliases(title: str) -> tuple[set[str], set[str]]:
    """Every normalized way of writing one MovieLens title.

    Returns ``(full, short)``: ``full`` holds the whole title and each alternative,
    with and without the article; ``short`` holds the part before a subtitle
    (``Star Wars`` for ``Star Wars: Episode IV - A New Hope``), which matches only
    when no full title does.
    """
    main, alternatives = split_alternatives(title)
    full: set[str] = set()
    for name in [main, *alternatives]:
        normalized = normalize(front_article(name))
        if normalized:
            full.update({normalized, strip_article(normalized)})
    short: set[str] = set()
    for name in [main, *alternatives]:
        head = re.split(r":| - ", front_article(name), maxsplit=1)[0]
        normalized = normalize(head)
        if normalized and normalized not in full:
            short.update({normalized, strip_article(normalized)})
    return full, short - full
