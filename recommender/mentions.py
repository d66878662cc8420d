"""Find the movies a person names in a message, and how they felt about each.

"I loved The Matrix, Heat was ok, and I didn't like Titanic" holds three mentions:
``The Matrix`` (5 stars), ``Heat`` (3) and ``Titanic`` (2). A message is cut into
clauses at commas, "and", "but" and sentence ends; clauses are joined back when
together they form a known title ("Harry Potter and the Chamber of Secrets"). A
feeling counts only at the edges of a clause, so that the words of a title stay
whole: "Good Will Hunting was great" keeps "Good".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

# The most mentions read from one message; the rest is named in the answer.
MAX_MENTIONS = 25
# Longer messages are cut to this many characters before parsing.
MAX_CHARS = 2000

# Feeling words, most specific first, each with the stars it stands for.
_VERB_FEELINGS: list[tuple[str, float | None]] = [
    (r"(?:did\s*n[o']?t|didnt|do\s*n[o']?t|dont)\s+(?:really\s+)?(?:like|enjoy)", 2.0),
    (r"(?:was\s*n[o']?t|wasnt)\s+(?:a\s+)?(?:big\s+)?fan\s+of", 2.0),
    (r"(?:am\s+)?not\s+(?:a\s+)?(?:big\s+)?fan\s+of", 2.0),
    (r"(?:did\s*n[o']?t|didnt)\s+love", 3.0),
    (r"(?:really\s+)?(?:hated|hate|loathed|detested|despised)", 1.0),
    (r"(?:could\s*n[o']?t|couldnt|can\s*n?[o']?t|cant)\s+stand", 1.0),
    (r"disliked|dislike", 2.0),
    (r"(?:absolutely\s+|really\s+|totally\s+)?(?:loved|love|adored|adore)", 5.0),
    (r"really\s+(?:liked|like|enjoyed|enjoy)", 4.5),
    (r"(?:liked|like|enjoyed|enjoy)", 4.0),
    (
        r"my\s+(?:all[-\s]time\s+)?(?:favou?rite|fave)\s+(?:movie|film)?\s*"
        r"(?:is|was|ever\s+is)",
        5.0,
    ),
    (r"(?:re-?)?watched|saw|have\s+seen|ve\s+seen|seen|watch", None),
    # "I give Heat 4 stars": the stars come from the end of the clause.
    (r"give|gave|rate|rated", None),
]
_NOT = r"(?:was\s*n[o']?t|wasnt|is\s*n[o']?t|isnt|not)\s+(?:that\s+|very\s+|so\s+)?"
_ADJECTIVE_FEELINGS: list[tuple[str, float]] = [
    (_NOT + r"bad", 3.0),
    (_NOT + r"(?:good|great|fun|funny)", 2.0),
    (r"(?:my\s+)?(?:all[-\s]time\s+)?(?:favou?rite|fave)(?:\s+movie|\s+film)?", 5.0),
    (
        r"amazing|incredible|a\s+masterpiece|masterpiece|fantastic|brilliant|perfect"
        r"|awesome|outstanding|superb|excellent|the\s+best",
        5.0,
    ),
    (r"loved(?:\s+it)?|adored(?:\s+it)?", 5.0),
    (
        r"great|really\s+good|very\s+good|wonderful|beautiful|stunning"
        r"|hilarious|gripping|moving",
        4.5,
    ),
    (
        r"good|fun|funny|enjoyable|nice|solid|liked(?:\s+it)?|enjoyed(?:\s+it)?|cool"
        r"|lovely|entertaining"
        r"|interesting|worth\s+(?:it|watching|a\s+watch)|scary|creepy|exciting",
        4.0,
    ),
    (
        r"ok|okay|o\.k\.|fine|decent|alright|all\s+right|meh|so[-\s]so|average"
        r"|mediocre|not\s+bad",
        3.0,
    ),
    (
        r"boring|bad|poor|weak|disappointing|dull|overrated|didn'?t\s+like\s+it"
        r"|not\s+for\s+me|lame|silly|stupid|dumb|too\s+long",
        2.0,
    ),
    (
        r"terrible|awful|horrible|the\s+worst|worst|garbage|trash|hated(?:\s+it)?"
        r"|sucked|sucks|a\s+waste\s+of\s+time|unwatchable",
        1.0,
    ),
]
# Lazy before the number, so that a minus sign stuck to it ("-1/5") is read as
# one rather than as a dash between title and rating ("Alien - 1/5").
_STARS = re.compile(
    r"[\s,(:\-–—]*?(?:(?:i\s+)?(?:rated?|gave)\s+(?:it\s+)?"
    r"|(?:was|is|were|are|gets?|got)\s+(?:a\s+)?)?"
    r"(?P<stars>-?\d{1,3}(?:[.,]\d)?)\s*"
    r"(?P<scale>/\s*5|out\s+of\s+5|stars?|★|/\s*10|out\s+of\s+10)\)?\s*$",
    re.IGNORECASE,
)
_LEADING_STARS = re.compile(
    r"^(?:i\s+(?:give|gave|rate|rated)\s+)?(?P<stars>-?\d{1,3}(?:[.,]\d)?)\s*"
    r"(?P<scale>/\s*5|out\s+of\s+5|stars?|★)\s+(?:for|to)\s+",
    re.IGNORECASE,
)
# "I give Alien a 4", "Heat gets a 3.5", "Seven: 2.5", "Up - 4": stars out of
# 5, the scale unsaid.
_GRADE = re.compile(
    r"(?:\s+(?:(?:gets?|got|was|is)\s+)?an?\s+|\s*[:=]\s*|\s+[-–—]\s+)"
    r"(?P<stars>[0-5](?:[.,]5)?)\s*[!.]*$",
    re.IGNORECASE,
)
_STAR_SYMBOLS = re.compile(r"[\s,(:\-–—]*(?P<symbols>★{1,5}(?:½)?)\)?\s*$")

_SUBJECT = (
    r"(?:(?:i|we)(?:'ve|'d)?\s+)?(?:(?:have|ve|had|just|also|really|totally|kinda)\s+)*"
)
_COPULA = (
    r"(?:\s*[,:\-–—=]\s*|\s+)(?:(?:which|that|and\s+it|it|this\s+one|this|"
    r"they|both|all)\s+)*(?:(?:was|is|were|are|s)\s+)?(?:(?:both|all|really|very"
    r"|pretty|quite|so|just|kind\s+of|kinda|sort\s+of|absolutely|totally)\s+)*"
)
_UNSEEN = re.compile(
    rf"^{_SUBJECT}(?:did\s*n[o']?t|didnt|have\s*n[o']?t|havent|ve\s+not|never|not)"
    r"\s+(?:yet\s+|even\s+)?(?:watch(?:ed)?|see|seen|saw)\s+",
    re.IGNORECASE,
)
_PREFIX_FEELINGS = [
    # "I loved both Up and Heat": the "both" is no title's.
    (re.compile(rf"^{_SUBJECT}(?:{pattern})\s+(?:both\s+)?", re.IGNORECASE), stars)
    for pattern, stars in _VERB_FEELINGS
]
_SUFFIX_FEELINGS = [
    (re.compile(rf"{_COPULA}(?:{pattern})\s*[!.]*$", re.IGNORECASE), stars)
    for pattern, stars in _ADJECTIVE_FEELINGS
]
# A clause that is a feeling alone ("Se7en was creepy but good") qualifies the
# movie before it rather than naming one.
_BARE_FEELINGS = [
    (
        re.compile(rf"^(?:it\s+was\s+|was\s+)?(?:{pattern})[\s!.]*$", re.IGNORECASE),
        stars,
    )
    for pattern, stars in _ADJECTIVE_FEELINGS
]
# Characters and pairs that code and markup use and titles hardly ever do.
_CODE = re.compile(r"[;{}<>=`|\\]|--|/\*|\*/")
_ARTICLES_ALONE = {"the", "a", "an", "le", "la", "les", "el", "il", "die", "der", "das"}
# Words that stand for a movie without naming it, as people write them.
_PRONOUNS = {"it", "that", "this", "this one", "that one", "them", "those"}
_PLURAL = re.compile(r"\b(?:were|are|both|all|they)\b", re.IGNORECASE)

# A full stop after an abbreviation or an initial ("Dr. Strangelove", "Kramer vs.
# Kramer", "E.T.") ends no sentence. Python's look-behinds have a fixed width,
# hence one per length.
_NOT_ABBREVIATION = (
    r"(?<!\b[a-z])"
    r"(?<!\b(?:dr|mr|ms|st|jr|sr|vs|mt|ft))"
    r"(?<!\b(?:mrs|sgt|col|gen|vol))"
    r"(?<!\bprof)"
)
_SEPARATOR = re.compile(
    r"(\s*(?:[,;\n]|[!?](?:\s+|$)|" + _NOT_ABBREVIATION + r"\.(?:\s+|$)"
    r"|\s+(?:and|but|also|plus|then|as\s+well\s+as)\s+)\s*)",
    re.IGNORECASE,
)
# Words that lead a clause without being part of a title; one at a time, since
# some titles start with them ("Yes Man", "No Country for Old Men").
_FILLER = re.compile(
    r"^(?:and|but|also|plus|then|oh|so|well|too|yes|yeah|no|nope|sorry|oops|lately|"
    r"recently|actually|hmm+|honestly|i\s+think|i\s+guess|anyway|ok\s+so|okay\s+so|"
    r"i\s+meant|i\s+mean|meant|i\s+said|"
    r"yesterday|today|last\s+night|the\s+movie|the\s+film|movie|film)\b[\s,:]*",
    re.IGNORECASE,
)
_TRAILING_FILLER = re.compile(
    r"(?:[\s,]+(?:too|as\s+well|also|a\s+lot|lol|haha|very\s+much|so\s+much|"
    r"yesterday|last\s+night|recently|again|yet|movie|film))+[\s!.?]*$",
    re.IGNORECASE,
)
# Interjections a message may open with ("lol", "hey,"); see parse_mentions.
_OPENER = re.compile(
    r"^\s*(?:lol|lmao|haha+|hey+|hi|hello|wow|omg|btw|um+|uh+|hmm+|ah+|oh)\b[\s,!.:;-]*",
    re.IGNORECASE,
)
_QUOTES = re.compile(r"^[\"'“”‘’«»\s]+|[\"'“”‘’«»\s]+$")
# Emoji, pictographs and other symbols carry no title; they go before parsing.
_SYMBOLS = re.compile(
    r"[\U0001F000-\U0001FAFF\u2600-\u2604\u2606-\u26FF\u2700-\u27BF\uFE0F\u200D\u2B00-\u2BFF]"
)


@dataclass(frozen=True)
class Mention:
    """One movie named in a message."""

    title: str  # as the person wrote it, feeling words removed
    rating: float | None  # 0.5-5 stars, None when only "watched"
    feeling: str | None  # the words that gave the rating, e.g. "loved"
    # True when the feeling came before the title ("I loved X"), so that it
    # carries on to titles named right after it ("I loved X and Y").
    leading: bool = False
    # A rating off the scale ("6/5", "-1/5") as written; ``rating`` is then None,
    # so that no made-up rating is saved.
    bad_rating: str | None = None
    # "I haven't seen Avatar": named as a movie the person has not watched.
    unseen: bool = False


def parse_mentions(
    message: str, is_title: Callable[[str], bool] = lambda _: False
) -> tuple[list[Mention], bool]:
    """Split ``message`` into mentions.

    ``is_title`` tells whether a piece of text is a known title; it keeps titles
    that contain "and" or a comma whole. Returns the mentions and whether the
    message held more than :data:`MAX_MENTIONS` (or :data:`MAX_CHARS`).

    A message that opens with an interjection ("lol I loved Heat", "hey, Up was
    ok") is read with and without it, and the reading that names more known
    titles and fewer unknown ones wins; so titles that start with one ("Hey
    Arnold!", "Wow! A Talking Fish!", "LOL") stay whole.
    """
    read = _parse_message(message, is_title)
    opener = _OPENER.match(message)
    if opener and opener.end() < len(message):
        without = _parse_message(message[opener.end() :], is_title)
        if _known(without[0], is_title) > _known(read[0], is_title):
            return without
    return read


def _known(mentions: list[Mention], is_title: Callable[[str], bool]) -> int:
    """Known titles less unknown ones: how well a reading fits the catalogue."""
    return sum(1 if is_title(m.title) else -1 for m in mentions)


def _parse_message(
    message: str, is_title: Callable[[str], bool]
) -> tuple[list[Mention], bool]:
    text = _SYMBOLS.sub(" ", message[:MAX_CHARS]).replace("’", "'")
    truncated = len(message) > MAX_CHARS
    pieces = _SEPARATOR.split(text)
    clauses, separators = pieces[0::2], pieces[1::2]

    mentions: list[Mention] = []
    i = 0
    while i < len(clauses):
        # Join a clause with the next ones while together they form a title.
        end = i
        for j in range(min(len(clauses), i + 6) - 1, i, -1):
            joined = _join(clauses, separators, i, j)
            if is_title(_parse_clause(joined).title):
                end = j
                break
        clause = _join(clauses, separators, i, end)
        i = end + 1
        bare = _bare_feeling(clause)
        if bare is not None and mentions and not is_title(clause.strip()):
            last = mentions[-1]
            mentions[-1] = Mention(last.title, bare, clause.strip(), last.leading)
            continue
        mention = _parse_clause(clause, is_title)
        if mention.title and not _is_noise(mention.title, is_title):
            mentions.append(mention)

    mentions = _share_feelings(mentions)
    if len(mentions) > MAX_MENTIONS:
        return mentions[:MAX_MENTIONS], True
    return mentions, truncated


def _join(clauses: list[str], separators: list[str], start: int, end: int) -> str:
    parts = [clauses[start]]
    for k in range(start, end):
        parts += [separators[k], clauses[k + 1]]
    return "".join(parts)


def _parse_clause(
    clause: str, is_title: Callable[[str], bool] = lambda _: False
) -> Mention:
    text = _QUOTES.sub("", clause.strip())
    text, rating, feeling, bad_rating = _read_stars(text)

    # A whole title is never cut for feelings: "Love Actually", "Good Will Hunting".
    if is_title(text):
        return Mention(text.strip(), rating, feeling, bad_rating=bad_rating)

    # Drop leading filler one word at a time; the first reading that leaves a
    # known title wins, so that "Yes Man was ok" keeps its "Yes".
    readings = [text]
    while found := _FILLER.match(readings[-1]):
        if found.end() == 0:
            break
        readings.append(readings[-1][found.end() :])
    mention = None
    for reading in readings:
        mention = _read_feelings(reading, rating, feeling, is_title)
        if is_title(mention.title):
            break
    return replace(mention, bad_rating=bad_rating)


def _read_stars(text: str) -> tuple[str, float | None, str | None, str | None]:
    """Take a star rating off either end of ``text``.

    Returns the rest of the text, the rating, the words that gave it, and the
    rating as written when it is off the scale (then the rating is None).
    """
    leading_stars = _LEADING_STARS.match(text)
    if leading_stars and leading_stars.end() < len(text):
        rating, bad = _stars_on_scale(leading_stars["stars"], leading_stars["scale"])
        feeling = None if rating is None else f"{_format_stars(rating)} stars"
        return text[leading_stars.end() :], rating, feeling, bad
    stars = _STARS.search(text) or _STAR_SYMBOLS.search(text)
    grade = None if stars else _GRADE.search(text)
    if grade and grade.start() > 0:
        rating, bad = _stars_on_scale(grade["stars"], "/5")
        return text[: grade.start()], rating, f"{_format_stars(rating)} stars", bad
    if not stars or stars.start() == 0:
        return text, None, None, None
    if stars.groupdict().get("stars"):
        rating, bad = _stars_on_scale(stars["stars"], stars["scale"])
    else:
        symbols = stars["symbols"]
        rating = _on_scale(symbols.count("★") + (0.5 if "½" in symbols else 0.0))
        bad = None
    feeling = None if rating is None else f"{_format_stars(rating)} stars"
    return text[: stars.start()], rating, feeling, bad


def _stars_on_scale(written: str, scale: str) -> tuple[float | None, str | None]:
    """``("4", "/5")`` -> ``(4.0, None)``; ``("6", "/5")`` -> ``(None, "6/5")``."""
    value = float(written.replace(",", "."))
    top = 10.0 if "10" in scale else 5.0
    if not 0.0 <= value <= top:
        gap = "" if scale.startswith("/") or scale == "★" else " "
        return None, f"{written}{gap}{' '.join(scale.split())}"
    return _on_scale(value / 2 if top == 10.0 else value), None


def _read_feelings(
    text: str,
    rating: float | None,
    feeling: str | None,
    is_title: Callable[[str], bool],
) -> Mention:
    """The title in ``text`` with the feeling words at its edges taken off."""
    leading = False
    unseen = _UNSEEN.match(text)
    if unseen and unseen.end() < len(text):
        title = _TRAILING_FILLER.sub("", text[unseen.end() :].strip())
        return Mention(
            _QUOTES.sub("", title).strip(" ,.!?:;-"), None, None, unseen=True
        )
    for pattern, value in _PREFIX_FEELINGS:
        found = pattern.match(text)
        if found and found.end() < len(text):
            if rating is None and value is not None:
                rating, feeling = value, found.group(0).strip()
                leading = True
            text = text[found.end() :]
            break

    if rating is None:
        for pattern, value in _SUFFIX_FEELINGS:
            found = pattern.search(text)
            if found and found.start() > 0:
                rating, feeling = value, found.group(0).strip(" ,:-–—=")
                text = text[: found.start()]
                break

    text = text.strip()
    while not _names_title(text, is_title) and (found := _FILLER.match(text)):
        if found.end() == 0:
            break
        text = text[found.end() :]
    text = _TRAILING_FILLER.sub("", text)
    return Mention(_QUOTES.sub("", text).strip(" ,.!?:;-"), rating, feeling, leading)


def _names_title(text: str, is_title: Callable[[str], bool]) -> bool:
    return is_title(text) or is_title(_TRAILING_FILLER.sub("", text))


def _share_feelings(mentions: list[Mention]) -> list[Mention]:
    """ "I loved Heat and Up" rates both; "Heat and Up were great" too."""
    shared: list[Mention] = []
    for mention in mentions:
        if (
            mention.rating is None
            and mention.bad_rating is None
            and not mention.unseen
            and shared
            and shared[-1].leading
        ):
            previous = shared[-1]
            mention = Mention(mention.title, previous.rating, previous.feeling, True)
        shared.append(mention)
    if (
        shared
        and shared[-1].rating is not None
        and _PLURAL.search(shared[-1].feeling or "")
    ):
        last = shared[-1]
        shared = [
            Mention(m.title, last.rating, last.feeling)
            if m.rating is None and m.bad_rating is None
            else m
            for m in shared
        ]
    return shared


def _on_scale(stars: float) -> float:
    """MovieLens ratings go from 0.5 to 5 in half stars: "0/5" is the lowest."""
    return min(max(round(stars * 2) / 2, 0.5), 5.0)


def _bare_feeling(clause: str) -> float | None:
    for pattern, stars in _BARE_FEELINGS:
        if pattern.match(clause.strip()):
            return stars
    return None


def _is_noise(title: str, is_title: Callable[[str], bool] = lambda _: False) -> bool:
    """A clause left with no letters or digits, an article alone, or a fragment of
    code (``Robert')``) names no movie."""
    if not re.search(r"\w", title) or title.lower() in _ARTICLES_ALONE:
        return True
    if title.strip() in _PRONOUNS:
        return True  # "I loved it"; "It" (1990, 2017) is written with a capital

    return looks_like_code(title) and not is_title(title)


def looks_like_code(text: str) -> bool:
    """True for text made of code or markup rather than words: ``x'); DROP --``.

    Titles have balanced brackets and few symbols, so this errs towards words.
    """
    if _CODE.search(text) or text.count("(") != text.count(")"):
        return True
    if text.count('"') % 2 or text.count("[") != text.count("]"):
        return True
    plain = sum(ch.isalnum() or ch.isspace() for ch in text)
    return plain < 0.6 * len(text)


def _format_stars(rating: float) -> str:
    return f"{rating:g}"
