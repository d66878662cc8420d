"""The custom actions, run without servers: a tracker from a dict, a dispatcher, a
domain, and exact checks on what the person is told and what is saved."""

from __future__ import annotations

import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import actions
from recommender.profiles import ProfileStore

DOMAIN: dict = {
    "slots": {"pending_choices": {"type": "any"}, "forget_requested": {"type": "bool"}}
}


@pytest.fixture(autouse=True)
def served(tiny_artifacts, tmp_path, monkeypatch):
    monkeypatch.setenv("MOVIEBOT_ARTIFACTS", str(tiny_artifacts))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'profiles.db'}")
    actions.recommender.cache_clear()
    actions.store.cache_clear()
    yield
    actions.recommender.cache_clear()
    actions.store.cache_clear()


class Chat:
    """One person talking to the actions, with the slot carried between turns."""

    def __init__(self, sender: str = "ann", channel: str = "rest"):
        self.sender = sender
        self.channel = channel
        self.pending = None
        self.forget = False

    def say(self, action, text: str, intent: str = "inform_movies", entities=()):
        tracker = Tracker.from_dict(
            {
                "sender_id": self.sender,
                "slots": {
                    "pending_choices": self.pending,
                    "forget_requested": self.forget,
                },
                "latest_message": {
                    "text": text,
                    "intent": {"name": intent, "confidence": 0.9},
                    "entities": list(entities),
                },
                "events": [
                    {"event": "user", "text": text, "input_channel": self.channel}
                ],
                "paused": False,
                "followup_action": None,
                "active_loop": {},
                "latest_action_name": "action_listen",
            }
        )
        dispatcher = CollectingDispatcher()
        events = asyncio.run(action.run(dispatcher, tracker, DOMAIN))
        for event in events:
            if event["event"] == "slot" and event["name"] == "pending_choices":
                self.pending = event["value"]
        return dispatcher.messages, events

    def text(self, action, text: str, **kwargs) -> str:
        messages, _ = self.say(action, text, **kwargs)
        return "\n".join(m.get("text") or "" for m in messages)


def history(sender="ann"):
    return [(e.movie_id, e.rating) for e in actions.store().history(sender)]


RECORD = actions.ActionRecordMovies()
NEXT = actions.ActionRecommendNext()
BEST = actions.ActionRecommendBest()


def test_three_movies_with_feelings_are_confirmed_and_saved():
    reply = Chat().text(
        RECORD, "I loved The Matrix, Heat was ok, and I didn't like Titanic"
    )
    assert "✓ The Matrix (1999): loved (5★)" in reply
    assert "✓ Heat (1995): ok (3★)" in reply
    assert "✓ Titanic (1997): didn't like (2★)" in reply
    assert "Titanic 1953" in reply  # the other Titanic is named, with how to pick it
    assert history() == [(1, 5.0), (2, 3.0), (4, 2.0)]


def test_ambiguous_title_asks_with_buttons_and_takes_a_number():
    chat = Chat()
    messages, _ = chat.say(RECORD, "I really liked Sabrina")
    question = messages[-1]
    assert "Which “Sabrina” did you mean?" in question["text"]
    assert [b["title"] for b in question["buttons"]][:2] == [
        "Sabrina (1954)",
        "Sabrina (1995)",
    ]
    assert question["buttons"][1]["payload"] == '/choose_movie{"choice": "2"}'
    assert history() == []
    assert chat.pending and chat.pending[0]["options"] == [6, 7]

    reply = chat.text(RECORD, "2", intent="choose_movie")
    assert "✓ Sabrina (1995): really liked (4.5★)" in reply
    assert history() == [(7, 4.5)]
    assert chat.pending is None


def test_the_terminal_gets_a_numbered_question_without_a_menu():
    # `rasa shell` turns buttons into a menu that ignores a typed "2"; there the
    # numbered lines of the question are the choice.
    chat = Chat(channel="cmdline")
    messages, _ = chat.say(RECORD, "I really liked Sabrina")
    question = messages[-1]
    assert not question["buttons"]
    assert "1. Sabrina (1954)\n2. Sabrina (1995)" in question["text"]

    assert "✓ Sabrina (1995): really liked (4.5★)" in chat.text(RECORD, "2")
    assert history() == [(7, 4.5)]

    messages, _ = chat.say(actions.ActionForgetMe(), "forget me", intent="forget_me")
    assert "Are you sure?" in messages[-1]["text"] and not messages[-1]["buttons"]


@pytest.mark.parametrize(
    ("answer", "intent", "entities", "movie_id"),
    [
        ("1954", "choose_movie", [], 6),
        ("the older one", "choose_movie", [], 6),
        ("the newer one", "choose_movie", [], 7),
        ("no, the 1995 one", "choose_movie", [], 7),
        ("one", "choose_movie", [], 6),
        ("the second one", "choose_movie", [], 7),
        ("Sabrina 1995", "inform_movies", [], 7),
        ("/choose_movie", "choose_movie", [{"entity": "choice", "value": "1"}], 6),
    ],
)
def test_choice_by_year_words_title_or_button(answer, intent, entities, movie_id):
    chat = Chat()
    chat.say(RECORD, "Sabrina")
    chat.say(RECORD, answer, intent=intent, entities=entities)
    assert history() == [(movie_id, None)]


def test_none_of_them_drops_the_question():
    chat = Chat()
    chat.say(RECORD, "Sabrina")
    reply = chat.text(RECORD, "none of them", intent="choose_movie")
    assert "left out “Sabrina”" in reply
    assert history() == [] and chat.pending is None


def test_new_movies_while_a_question_is_open_are_saved_and_the_question_kept():
    chat = Chat()
    chat.say(RECORD, "Sabrina")
    messages, _ = chat.say(RECORD, "I loved Up")
    assert history() == [(13, 5.0)]
    assert "Which “Sabrina”" in messages[-1]["text"]


def test_zero_stars_is_the_lowest_rating():
    reply = Chat().text(RECORD, "Fargo 0/5, Jaws 10/10")
    assert "✓ Fargo (1996): hated (0.5★)" in reply
    assert "✓ Jaws (1975): loved (5★)" in reply


def test_title_written_as_movielens_writes_it():
    reply = Chat().text(RECORD, "I loved Matrix, The")
    assert "✓ The Matrix (1999): loved (5★)" in reply
    assert "couldn't find" not in reply


def test_unknown_title_is_said_with_closest_matches():
    reply = Chat().text(RECORD, "I loved Alienz from Marz")
    assert "I couldn't find “Alienz from Marz” in the MovieLens catalogue." in reply
    assert "Closest:" in reply
    assert history() == []


def test_movie_named_twice_is_saved_once_with_the_last_feeling():
    reply = Chat().text(RECORD, "I liked Heat, and Heat was amazing")
    assert history() == [(2, 5.0)]
    assert reply.count("Heat (1995)") == 1


def test_movie_named_again_later_updates_its_rating():
    chat = Chat()
    chat.say(RECORD, "Heat was ok")
    reply = chat.text(RECORD, "actually I loved Heat")
    assert "✓ Heat (1995): loved (5★) (was ok (3★))" in reply
    assert history() == [(2, 5.0)]


@pytest.mark.parametrize(
    "text", ["", "   ", "😀🎬🍿", "'; DROP TABLE watched_movies; --", "x" * 5000]
)
def test_bad_input_gets_an_answer_and_loses_nothing(text):
    chat = Chat()
    chat.say(RECORD, "I loved Up")
    reply = chat.text(RECORD, text)
    assert reply  # always an answer
    assert history() == [(13, 5.0)]


def test_huge_message_reads_the_first_titles_and_says_so():
    reply = Chat().text(RECORD, ("Heat, Up, Fargo, Jaws, " * 300)[:5000])
    assert "long message" in reply
    assert sorted(m for m, _ in history()) == [2, 13, 22, 27]


def test_next_movies_come_from_the_gru_and_skip_the_profile():
    chat = Chat()
    chat.say(RECORD, "I loved Heat, Pulp Fiction and Fargo")
    reply = chat.text(NEXT, "what should I watch next?", intent="ask_next")
    assert "GRU" in reply
    lines = [line for line in reply.splitlines() if line[:1].isdigit()]
    assert len(lines) >= 5
    for seen in ("Heat (1995)", "Pulp Fiction (1994)", "Fargo (1996)"):
        assert seen not in reply


def test_next_with_an_empty_profile_says_so_and_still_helps():
    reply = Chat().text(NEXT, "what should I watch next?", intent="ask_next")
    assert "don't know any movies of yours yet" in reply
    assert "most rated on MovieLens" in reply
    assert len([line for line in reply.splitlines() if line[:1].isdigit()]) >= 5


def test_best_with_too_few_ratings_says_how_many_more_and_gives_gru_picks():
    chat = Chat()
    chat.say(RECORD, "I loved Heat and Up")
    reply = chat.text(BEST, "what is best for me?", intent="ask_best")
    assert "needs at least 5 rated movies" in reply
    assert "you have rated 2, so 3 more" in reply
    assert "GRU sequence model" in reply


def test_best_from_the_autoencoder_once_enough_ratings():
    chat = Chat()
    chat.say(RECORD, "I loved Heat, Pulp Fiction, Fargo and Fight Club, Up was boring")
    reply = chat.text(BEST, "what is best for me?", intent="ask_best")
    assert "deep autoencoder" in reply
    assert "predicted" in reply
    for seen in ("Heat (1995)", "Pulp Fiction", "Fargo", "Fight Club", "Up (2009)"):
        assert seen not in reply


def test_profile_survives_a_restart_of_the_action_server(tmp_path):
    Chat("bob").say(RECORD, "I loved Heat")
    actions.store.cache_clear()
    actions.recommender.cache_clear()
    assert history("bob") == [(2, 5.0)]


FORGET = actions.ActionForgetMe()


def test_forget_me_asks_first_then_deletes_the_profile():
    chat = Chat()
    chat.say(RECORD, "I loved Heat")
    messages, events = chat.say(FORGET, "forget me", intent="forget_me")
    assert "deletes your profile (1 movie) and cannot be undone" in messages[0]["text"]
    assert SlotSet("forget_requested", True) in events
    assert history() == [(2, 5.0)]

    chat.forget = True
    messages, events = chat.say(FORGET, "yes", intent="affirm")
    assert "deleted your profile (1 movie)" in messages[0]["text"]
    assert SlotSet("pending_choices", None) in events
    assert history() == []


def test_forget_me_answered_no_keeps_the_profile():
    chat = Chat()
    chat.say(RECORD, "I loved Heat")
    chat.say(FORGET, "forget me", intent="forget_me")
    chat.forget = True
    assert "keep your profile" in chat.text(FORGET, "no", intent="deny")
    assert history() == [(2, 5.0)]


def test_dont_forget_me_keeps_the_profile():
    chat = Chat()
    chat.say(RECORD, "I loved Heat")
    reply = chat.text(FORGET, "don't forget me", intent="forget_me")
    assert "I keep your profile" in reply
    assert history() == [(2, 5.0)]


def test_yes_to_a_movie_question_asks_again():
    chat = Chat()
    chat.say(RECORD, "Sabrina")
    messages, _ = chat.say(FORGET, "yes", intent="affirm")
    assert "couldn't tell which one you meant" in messages[0]["text"]
    assert "Which “Sabrina”" in messages[-1]["text"]
    assert history() == []


def test_no_to_a_movie_question_is_about_the_movie():
    chat = Chat()
    chat.say(RECORD, "Sabrina")
    assert "left out “Sabrina”" in chat.text(FORGET, "no", intent="deny")
    assert chat.pending is None


def test_untrained_models_are_said_plainly(tmp_path, monkeypatch):
    monkeypatch.setenv("MOVIEBOT_ARTIFACTS", str(tmp_path / "nothing"))
    actions.recommender.cache_clear()
    reply = Chat().text(NEXT, "what next", intent="ask_next")
    assert "not trained yet" in reply and "make train" in reply


def test_store_is_a_real_database(tmp_path):
    assert isinstance(actions.store(), ProfileStore)
    assert actions.store().url.startswith("sqlite:///")
