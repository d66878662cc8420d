"""Recommendations as each channel shows them: a list the web chat page renders,
Slack mrkdwn links, a numbered plain-text list elsewhere; each movie with its
title, year, genres and link."""

from __future__ import annotations

import pytest

from actions import actions, replies
from recommender.catalog import Movie
from recommender.service import Pick, Picks

# `served` (autouse) gives every test here the action server's tiny models and
# a database of its own, as in the action tests.
from tests.test_actions import BEST, NEXT, RECORD, Chat, served  # noqa: F401

HEAT = Movie(2, "Heat", 1995, ("Action", "Crime", "Thriller"), imdb_id="0113277")
TMDB_ONLY = Movie(3, "Heat, The", 2013, ("Action", "Comedy"), tmdb_id=136795)
NO_LINKS = Movie(5, "Tom & Jerry <3", None, ("(no genres listed)",))


def picks(*movies: Movie) -> Picks:
    return Picks("GRU sequence model", [Pick(m, 4.26) for m in movies])


def test_each_movie_links_to_imdb_else_tmdb_else_movielens():
    assert HEAT.url == "https://www.imdb.com/title/tt0113277/"
    assert HEAT.site == "IMDb"
    assert TMDB_ONLY.url == "https://www.themoviedb.org/movie/136795"
    assert TMDB_ONLY.site == "TMDb"
    assert NO_LINKS.url == "https://movielens.org/movies/5"
    assert NO_LINKS.site == "MovieLens"


def test_the_catalogue_reads_the_links_of_the_data_set(tiny_artifacts):
    # conftest's links.csv gives movie m the IMDb id 100000 + m.
    heat = actions.recommender().catalog[2]
    assert heat.url == "https://www.imdb.com/title/tt0100002/"


def test_plain_text_is_a_numbered_list_with_genres_and_links():
    message = replies.recommendations("Watch next:", picks(HEAT, NO_LINKS), "rest")
    assert message == {
        "text": "Watch next:\n"
        "1. Heat (1995) — Action, Crime, Thriller — "
        "https://www.imdb.com/title/tt0113277/\n"
        "2. Tom & Jerry <3 — https://movielens.org/movies/5"
    }


def test_predicted_ratings_are_shown_in_stars():
    message = replies.recommendations("Best:", picks(HEAT), "cmdline", predicted=True)
    assert (
        "1. Heat (1995) — Action, Crime, Thriller (predicted 4.3★) — https://"
        in (message["text"])
    )


def test_slack_gets_mrkdwn_links_with_its_characters_escaped():
    message = replies.recommendations("Watch next:", picks(HEAT, NO_LINKS), "slack")
    assert message == {
        "text": "Watch next:\n"
        "1. <https://www.imdb.com/title/tt0113277/|Heat (1995)> — Action, Crime, "
        "Thriller\n"
        "2. <https://movielens.org/movies/5|Tom &amp; Jerry &lt;3>"
    }


def test_the_web_chat_gets_the_list_as_data_and_no_text_twice():
    message = replies.recommendations(
        "Best:", picks(HEAT, TMDB_ONLY), "socketio", predicted=True
    )
    assert set(message) == {"json_message"}
    data = message["json_message"]["data"]
    assert data["text"] == "Best:"
    assert data["movies"][0] == {
        "id": 2,
        "title": "Heat (1995)",
        "year": 1995,
        "genres": ["Action", "Crime", "Thriller"],
        "url": "https://www.imdb.com/title/tt0113277/",
        "site": "IMDb",
        "predicted": 4.3,
    }
    assert data["movies"][1]["site"] == "TMDb"


@pytest.mark.parametrize("channel", ["socketio", "slack", "rest", "cmdline"])
def test_both_answers_list_the_picks_on_every_channel(channel):
    chat = Chat(channel=channel)
    chat.say(RECORD, "I loved Heat, Pulp Fiction and Fargo, Up was ok, hated Jaws")
    for action, text in ((NEXT, "what next?"), (BEST, "what is best for me?")):
        (message,), _ = chat.say(action, text)
        if channel == "socketio":
            assert not message["text"]
            data = message["custom"]["data"]
            assert data["text"].startswith(("Watch next", "Best for you"))
            assert len(data["movies"]) >= 5
            assert all(m["url"].startswith("https://") for m in data["movies"])
        else:
            lines = [line for line in message["text"].splitlines() if line[:2] == "1."]
            assert len(lines) == 1
            link = "<https://" if channel == "slack" else "— https://"
            assert link in lines[0]
