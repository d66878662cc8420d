"""How the bot words its answers; no state, no I/O."""

from __future__ import annotations

from recommender.catalog import Movie
from recommender.service import Picks

_FEELINGS = [
    (5.0, "loved"),
    (4.5, "really liked"),
    (4.0, "liked"),
    (3.0, "ok"),
    (2.0, "didn't like"),
    (0.5, "hated"),
]


def movies(count: int) -> str:
    return f"{count} movie" if count == 1 else f"{count} movies"


def stars(rating: float) -> str:
    return f"{rating:g}★"


def feeling(rating: float | None) -> str:
    """``4.0`` -> ``liked (4★)``; ``None`` -> ``watched``."""
    if rating is None:
        return "watched (no rating)"
    for threshold, words in _FEELINGS:
        if rating >= threshold:
            return f"{words} ({stars(rating)})"
    return stars(rating)


def movie_line(movie: Movie) -> str:
    genres = ", ".join(movie.genres[:3])
    return f"{movie.display} — {genres}" if genres else movie.display


def pick_list(picks: Picks, *, predicted: bool = False) -> str:
    lines = []
    for number, pick in enumerate(picks.picks, start=1):
        line = f"{number}. {movie_line(pick.movie)}"
        if predicted:
            line += f" (predicted {min(max(pick.score, 0.5), 5.0):.1f}★)"
        lines.append(line)
    return "\n".join(lines)


def choice_question(query: str, options: list[Movie]) -> str:
    numbered = "\n".join(f"{i}. {m.display}" for i, m in enumerate(options, start=1))
    return (
        f"Which “{query}” did you mean? Answer with the number, the year or the "
        f"title (or “none”):\n{numbered}"
    )


def quoted(text: str, limit: int = 60) -> str:
    """A piece of what the person wrote, cut to fit in a sentence."""
    text = " ".join(text.split())
    return f"“{text[: limit - 1]}…”" if len(text) > limit else f"“{text}”"


def closest(query: str, options: list[Movie]) -> str:
    query = quoted(query)
    if not options:
        return f"I couldn't find {query} in the MovieLens catalogue."
    names = ", ".join(m.display for m in options)
    return f"I couldn't find {query} in the MovieLens catalogue. Closest: {names}."


def dropped_question(query: str) -> str:
    return (
        f"I left out {quoted(query)} for now; name it again with its year when you "
        "want it in your profile."
    )


def off_the_scale(written: str, title: str) -> str:
    """What follows a saved movie whose rating was off the scale."""
    return (
        f" — {quoted(written)} is off the scale, so I saved no rating: ratings go "
        f"from 0 to 5 stars (or out of 10), e.g. {quoted(title + ' 4/5')}"
    )
