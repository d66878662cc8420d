"""How the bot words its answers; no state, no I/O."""

from __future__ import annotations

from typing import Any

from recommender.catalog import Movie
from recommender.service import Pick, Picks

# MovieLens' mark for a movie without genres.
_NO_GENRES = "(no genres listed)"

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


def genres(movie: Movie, limit: int = 3) -> list[str]:
    """The first few genres, as MovieLens lists them."""
    return [g for g in movie.genres if g != _NO_GENRES][:limit]


def predicted_rating(pick: Pick) -> float:
    """The autoencoder's score as stars on MovieLens' scale."""
    return round(min(max(pick.score, 0.5), 5.0), 1)


def movie_line(movie: Movie) -> str:
    named = ", ".join(genres(movie))
    return f"{movie.display} — {named}" if named else movie.display


def pick_list(picks: Picks, *, predicted: bool = False) -> str:
    """A numbered plain-text list, one movie a line, its link at the end."""
    lines = []
    for number, pick in enumerate(picks.picks, start=1):
        line = f"{number}. {movie_line(pick.movie)}"
        if predicted:
            line += f" (predicted {predicted_rating(pick):.1f}★)"
        lines.append(f"{line} — {pick.movie.url}")
    return "\n".join(lines)


def slack_pick_list(picks: Picks, *, predicted: bool = False) -> str:
    """A numbered list in Slack's mrkdwn, each title a link to the movie's page."""
    lines = []
    for number, pick in enumerate(picks.picks, start=1):
        movie = pick.movie
        line = f"{number}. <{movie.url}|{slack_escape(movie.display)}>"
        named = ", ".join(genres(movie))
        if named:
            line += f" — {slack_escape(named)}"
        if predicted:
            line += f" (predicted {predicted_rating(pick):.1f}★)"
        lines.append(line)
    return "\n".join(lines)


def slack_escape(text: str) -> str:
    """Text shown as is in Slack's mrkdwn: its three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def pick_items(picks: Picks, *, predicted: bool = False) -> list[dict[str, Any]]:
    """The picks as data a page renders: title, year, genres and link of each."""
    items = []
    for pick in picks.picks:
        movie = pick.movie
        item: dict[str, Any] = {
            "id": movie.movie_id,
            "title": movie.display,
            "year": movie.year,
            "genres": genres(movie),
            "url": movie.url,
            "site": movie.site,
        }
        if predicted:
            item["predicted"] = predicted_rating(pick)
        items.append(item)
    return items


def recommendations(
    intro: str, picks: Picks, channel: str | None, *, predicted: bool = False
) -> dict[str, Any]:
    """The arguments of ``dispatcher.utter_message`` that show ``intro`` and the
    picks as a list the person's ``channel`` renders.

    The web chat page (the ``socketio`` channel) gets data, which it shows as a
    list of links; a socket.io client that knows nothing of ``movies`` still
    shows ``text``. Slack gets mrkdwn links; every other channel a numbered
    plain-text list.
    """
    if channel == "socketio":
        movies = pick_items(picks, predicted=predicted)
        # Rasa's socket.io channel passes a custom message's keys to its emit():
        # what is under "data" is what the page receives.
        return {"json_message": {"data": {"text": intro, "movies": movies}}}
    if channel == "slack":
        return {"text": f"{intro}\n{slack_pick_list(picks, predicted=predicted)}"}
    return {"text": f"{intro}\n{pick_list(picks, predicted=predicted)}"}


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
