"""What a message clearly asks for, beyond naming movies.

Deleting a whole profile cannot be undone, so it is offered only when the whole
message asks for it ("forget me", "delete my profile", "erase my data"), whatever
intent the classifier guessed: "I loved Everything Everywhere" or "delete Heat"
never open that question. "delete Heat" and "remove Titanic from my list" ask to
take one movie out.
"""

from __future__ import annotations

import re

from recommender.titles import normalize

# Politeness before a request: "please", "can you", "I want you to".
_POLITE = (
    r"(?:(?:please|pls|just|ok(?:ay)?|now|so|yes|yeah)[\s,]+"
    r"|(?:can|could|would|will)\s+you\s+(?:please\s+)?"
    r"|i\s+(?:want|would\s+like|'?d\s+like)\s+(?:you\s+)?to\s+)*"
)
_MINE = (
    r"(?:profile|data|account|movies|films|ratings|history|info|information|list"
    r"|watch\s*list|details|stuff)"
)
_FORGET = re.compile(
    rf"^{_POLITE}(?:"
    # forget me / delete everything / erase all my data / remove my movies
    r"(?:forget|delete|erase|remove|wipe|clear|reset|purge|destroy)\s+"
    r"(?:me|everything|it\s+all|all"
    rf"|(?:all\s+(?:of\s+)?)?(?:my|the)\s+(?:whole\s+|entire\s+)?{_MINE}"
    rf"(?:\s+(?:and|&)\s+(?:my\s+)?{_MINE})*)"
    r"(?:\s+(?:you\s+(?:know|have|keep|saved|stored)|i\s+(?:told|gave)\s+you))?"
    r"(?:\s+(?:about|on|of)\s+me)?"
    r"|start\s+(?:over|again|afresh|from\s+scratch)"
    r")(?:[\s,]+(?:please|now|completely|entirely|for\s+good))*[\s.!]*$",
    re.IGNORECASE,
)
# "delete Heat", "remove Titanic from my list", "take Up off my profile".
_REMOVE = re.compile(
    rf"^{_POLITE}(?:delete|remove|erase|drop|forget|scratch|get\s+rid\s+of|take)\s+"
    r"(?P<titles>.+?)"
    r"(?P<place>\s+(?:from|off|out\s+of)\s+(?:my\s+|the\s+)?(?:profile|list|movies"
    r"|films|watch\s*list|history|ratings|watched(?:\s+movies)?))?"
    r"(?:[\s,]+please)?[\s.!]*$",
    re.IGNORECASE,
)
_NEGATED = re.compile(r"\b(?:don'?t|do\s+not|never|dont)\b", re.IGNORECASE)
_FORGET_WORD = re.compile(r"\b(?:forget|delete|erase|remove|wipe)\b", re.IGNORECASE)

# What the "are you sure?" buttons send.
YES_PAYLOAD, NO_PAYLOAD = "/affirm", "/deny"
# "forget it", "delete that": a cancel, not a movie called It.
_NO_TITLE = {"it", "that", "this", "them", "about it", "about that", "all that"}
# "I also watched Heat 2013": one more movie, not a correction of the last one.
_ADDS = re.compile(r"\b(?:also|too|as\s+well|both|another)\b", re.IGNORECASE)

# A yes to "are you sure?" is made of these words only, with one that says yes:
# "Yes Man was great" is no yes.
_YES = {"yes", "yeah", "yep", "yup", "y", "sure", "ok", "okay", "correct", "do"}
_YES |= {"absolutely", "definitely", "confirm", "confirmed", "go"}
_YES_FILLER = {"please", "i", "im", "am", "it", "ahead", "really", "delete", "forget"}
_YES_FILLER |= {"me", "everything", "my", "profile", "data", "all", "of", "course"}


def asks_to_forget(text: str) -> bool:
    """True when the message asks to delete the whole profile, and nothing else."""
    return bool(_FORGET.match(text.strip()))


def refuses_to_forget(text: str) -> bool:
    """ "don't forget me", "do not delete my profile"."""
    return bool(_NEGATED.search(text) and _FORGET_WORD.search(text))


def titles_to_remove(text: str) -> str | None:
    """The titles in "delete Heat" or "remove Up from my list"; None otherwise."""
    text = text.strip()
    if asks_to_forget(text):
        return None
    found = _REMOVE.match(text)
    if not found:
        return None
    # "take" alone is no removal ("take Heat"): it needs "off my list".
    if found.group(0).lower().lstrip().startswith("take") and not found["place"]:
        return None
    titles = re.sub(r"^(?:about|of)\s+", "", found["titles"].strip(), flags=re.I)
    if normalize(titles) in _NO_TITLE:
        return None
    return titles


def adds_another(text: str) -> bool:
    """True when the message adds a movie beside those named before."""
    return bool(_ADDS.search(text))


def is_plain_yes(text: str) -> bool:
    words = normalize(text).split()
    return bool(words) and bool(set(words) & _YES) and set(words) <= _YES | _YES_FILLER
