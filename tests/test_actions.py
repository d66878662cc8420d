"""The custom actions, run without servers: a tracker from a dict, a dispatcher, a
domain, and exact checks on what the person is told and what is saved."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import Restarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from ruamel.yaml import YAML

from actions import actions, requests
from recommender.catalog import Catalog
from recommender.profiles import Person, ProfileStore

DOMAIN: dict = {
    "slots": {
        "pending_choices": {"type": "any"},
        "forget_requested": {"type": "bool"},
        "offered_alternatives": {"type": "any"},
    }
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
        self.offered = None
        # What the bot ran last: a yes to "are you sure?" counts right after it.
        self.last_action = "action_listen"

    def say(self, action, text: str, intent: str = "inform_movies", entities=()):
        tracker = Tracker.from_dict(
            {
                "sender_id": self.sender,
                "slots": {
                    "pending_choices": self.pending,
                    "forget_requested": self.forget,
                    "offered_alternatives": self.offered,
                },
                "latest_message": {
                    "text": text,
                    "intent": {"name": intent, "confidence": 0.9},
                    "entities": list(entities),
                },
                "events": [
                    {"event": "action", "name": self.last_action},
                    {"event": "action", "name": "action_listen"},
                    {"event": "user", "text": text, "input_channel": self.channel},
                ],
                "paused": False,
                "followup_action": None,
                "active_loop": {},
                "latest_action_name": "action_listen",
            }
        )
        dispatcher = CollectingDispatcher()
        events = asyncio.run(action.run(dispatcher, tracker, DOMAIN))
        slots = {"pending_choices": "pending", "forget_requested": "forget"}
        slots["offered_alternatives"] = "offered"
        for event in events:
            if event["event"] == "slot" and event["name"] in slots:
                setattr(self, slots[event["name"]], event["value"])
        self.last_action = action.name()
        return dispatcher.messages, events

    def text(self, action, text: str, **kwargs) -> str:
        messages, _ = self.say(action, text, **kwargs)
        return "\n".join(m.get("text") or "" for m in messages)


def history(sender="ann", channel="rest"):
    profile = actions.store().history(Person(sender, channel))
    return [(e.movie_id, e.rating) for e in profile]


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
    assert history(channel="cmdline") == [(7, 4.5)]

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


@pytest.mark.parametrize("answer", ["9", "3", "0", "#9"])
def test_a_number_out_of_range_is_no_movie_and_keeps_the_question(more_titles, answer):
    # "9" is also a movie of 2009; while "which Sabrina?" is open it is a number.
    chat = Chat()
    chat.say(RECORD, "Sabrina")
    messages, _ = chat.say(RECORD, answer, intent="inform_movies")
    number = answer.lstrip("#")
    assert messages[0]["text"] == (
        f"There is no number {number} here: answer with the number of one of the "
        "movies listed, its year or its title (or “none”)."
    )
    assert "Which “Sabrina”" in messages[-1]["text"]
    assert history() == []
    assert "✓ Sabrina (1954)" in chat.text(RECORD, "1", intent="choose_movie")


@pytest.mark.parametrize(
    ("payload", "intent", "entities"),
    [
        (
            '/choose_movie{"choice": "1"}',
            "choose_movie",
            [{"entity": "choice", "value": "1"}],
        ),
        ("/affirm", "affirm", []),
        ("/deny", "deny", []),
    ],
)
def test_a_button_pressed_again_is_no_title(payload, intent, entities):
    chat = Chat()
    chat.say(RECORD, "Sabrina")
    chat.say(RECORD, "2", intent="choose_movie")
    reply = chat.text(RECORD, payload, intent=intent, entities=entities)
    assert reply == actions.NOTHING_TO_CHOOSE
    assert history() == [(7, None)]


def test_a_movie_not_seen_is_not_added():
    chat = Chat()
    reply = chat.text(RECORD, "I loved Heat but I haven't seen Up yet")
    assert "✓ Heat (1995): loved (5★)" in reply
    assert "OK, you haven't seen Up (2009): I leave it out of your profile." in reply
    assert history() == [(2, 5.0)]
    reply = chat.text(RECORD, "I never saw Heat")
    assert reply == (
        "Heat (1995) is in your profile although you haven't seen it: say "
        "“delete Heat” to take it out."
    )
    assert history() == [(2, 5.0)]


def test_a_numeric_title_is_a_movie_when_nothing_is_asked(more_titles):
    assert "✓ 9 (2009)" in Chat().text(RECORD, "I liked 9", intent="inform_movies")


@pytest.mark.parametrize("again", ["Sabrina", "sabrina", " Sabrina "])
def test_the_title_again_while_its_question_is_open_asks_again(again):
    chat = Chat()
    chat.say(RECORD, "I loved Sabrina")
    for _ in range(3):
        messages, _ = chat.say(RECORD, again)
        assert len(messages) == 1
        assert messages[0]["text"].startswith("Which “Sabrina” did you mean?")
    reply = chat.text(RECORD, "the older one", intent="choose_movie")
    assert "✓ Sabrina (1954): loved (5★)" in reply
    assert history() == [(6, 5.0)]


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
    assert (
        "That was a long message: I read only its first part (the first 2,000 "
        "characters, at most 25 titles). Send the rest in another message."
    ) in reply
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
    assert (
        "deletes your profile (1 movie) and our conversation and cannot be undone"
        in messages[0]["text"]
    )
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


REMOVE = actions.ActionRemoveMovie()
HELP_DOMAIN = Path(__file__).resolve().parents[1] / "domain.yml"


@pytest.fixture
def more_titles():
    """The tiny catalogue plus titles that start with yes/no or hold an
    abbreviation, as ml-latest-small has them."""
    catalog = actions.recommender().catalog
    rows = [
        {
            "movie_id": m.movie_id,
            "title": m.title,
            "year": m.year,
            "genres": "|".join(m.genres),
            "popularity": m.popularity,
        }
        for m in catalog
    ]
    for movie_id, title, year in [
        (101, "Yes Man", 2008),
        (102, "Man, The", 2005),
        (103, "No Country for Old Men", 2007),
        (105, "9", 2009),
        (
            104,
            "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb",
            1964,
        ),
    ]:
        rows.append(
            {
                "movie_id": movie_id,
                "title": title,
                "year": year,
                "genres": "Comedy",
                "popularity": 30,
            }
        )
    actions.recommender().__dict__["catalog"] = Catalog(pd.DataFrame(rows))


@pytest.mark.parametrize(
    "text",
    [
        "I loved Everything Everywhere All at Once",
        "I loved Everything Everywhere",
        "Heat was great",
    ],
)
def test_a_message_classified_as_forget_me_but_naming_movies_deletes_nothing(text):
    chat = Chat()
    chat.say(RECORD, "I loved Heat and Up")
    reply = chat.text(FORGET, text, intent="forget_me")
    assert "Are you sure?" not in reply
    assert not chat.forget
    assert chat.text(FORGET, "yes", intent="affirm") == (
        "OK! Tell me a movie you watched, or ask what to watch next."
    )
    assert [m for m, _ in history()] == [2, 13]


def test_everything_everywhere_is_read_as_a_movie():
    chat = Chat()
    reply = chat.text(FORGET, "I loved Everything Everywhere", intent="forget_me")
    assert reply.startswith(
        "I couldn't find “Everything Everywhere” in the MovieLens catalogue."
    )


@pytest.mark.parametrize(
    "text",
    [
        "forget me",
        "delete my profile",
        "erase my data",
        "please forget everything about me",
        "can you delete all my movies",
        "start over",
    ],
)
def test_a_clear_request_to_be_forgotten_asks_first(text):
    chat = Chat()
    chat.say(RECORD, "I loved Heat")
    # Whatever the classifier guessed, the words decide.
    for action, intent in [(FORGET, "forget_me"), (RECORD, "inform_movies")]:
        assert chat.text(action, text, intent=intent) == (
            "That deletes your profile (1 movie) and our conversation and cannot be "
            "undone. Are you sure?"
        )
        assert chat.forget is True
        assert "keep your profile" in chat.text(FORGET, "no", intent="deny")
    assert history() == [(2, 5.0)]


def test_asking_again_after_are_you_sure_is_a_yes():
    chat = Chat()
    chat.say(RECORD, "I loved Heat")
    chat.say(FORGET, "forget me", intent="forget_me")
    reply = chat.text(RECORD, "delete my profile", intent="inform_movies")
    assert reply == (
        "Done: I deleted your profile (1 movie) and our conversation. We start afresh."
    )
    assert history() == []


def test_yes_counts_only_right_after_are_you_sure():
    chat = Chat()
    chat.say(RECORD, "I loved Heat")
    chat.say(FORGET, "forget me", intent="forget_me")
    chat.say(RECORD, "Up was ok")
    assert chat.forget is False
    chat.text(FORGET, "yes", intent="affirm")
    assert history() == [(2, 5.0), (13, 3.0)]

    # A reply from a template in between ("help") withdraws the question too.
    chat.say(FORGET, "forget me", intent="forget_me")
    chat.last_action = "utter_help"
    assert chat.text(FORGET, "yes", intent="affirm") == (
        "OK! Tell me a movie you watched, or ask what to watch next."
    )
    assert len(history()) == 2


def test_a_movie_after_are_you_sure_keeps_the_profile(more_titles):
    chat = Chat()
    chat.say(RECORD, "I loved Heat")
    chat.say(FORGET, "forget me", intent="forget_me")
    reply = chat.text(FORGET, "Yes Man was great", intent="affirm")
    assert reply.startswith(
        "OK, I keep your profile as it is.\n✓ Yes Man (2008): really liked (4.5★)"
    )
    assert history() == [(2, 5.0), (101, 4.5)]


def test_forget_me_with_an_empty_profile_still_deletes_the_conversation():
    chat = Chat()
    messages, events = chat.say(FORGET, "forget me", intent="forget_me")
    assert messages[0]["text"] == (
        "That deletes our conversation (I have no movies of yours) and cannot be "
        "undone. Are you sure?"
    )
    assert SlotSet("forget_requested", True) in events

    chat.forget = True
    messages, events = chat.say(FORGET, "yes", intent="affirm")
    assert messages[0]["text"] == "Done: I deleted our conversation. We start afresh."
    assert Restarted() in events


def test_forget_me_with_an_empty_profile_answered_no_keeps_the_conversation():
    chat = Chat()
    chat.say(FORGET, "forget me", intent="forget_me")
    chat.forget = True
    messages, events = chat.say(FORGET, "no", intent="deny")
    assert messages[0]["text"] == "OK, I keep our conversation as it is."
    assert Restarted() not in events


@pytest.mark.parametrize(
    ("text", "intent", "left"),
    [
        ("delete Heat", "remove_movie", [13, 4]),
        ("delete Heat", "forget_me", [13, 4]),  # classified as forget me
        ("remove Titanic from my list", "remove_movie", [2, 13]),
        ("remove Titanic from my list", "inform_movies", [2, 13]),
    ],
)
def test_remove_one_movie_keeps_the_others(text, intent, left):
    chat = Chat()
    chat.say(RECORD, "I loved Heat, Up and Titanic")
    reply = chat.text(
        REMOVE if intent == "remove_movie" else RECORD, text, intent=intent
    )
    gone = "Titanic (1997)" if "Titanic" in text else "Heat (1995)"
    assert reply == (
        f"Removed {gone} from your profile.\nYou have 2 movies in your profile now."
    )
    assert [m for m, _ in history()] == left
    assert chat.forget is False


def test_remove_finds_the_movie_the_profile_has():
    chat = Chat()
    chat.say(RECORD, "The Heat 2013, Sabrina 1954, Sabrina 1995")
    # "Heat" is the 1995 one, but the profile has the 2013 one.
    assert chat.text(REMOVE, "delete Heat", intent="remove_movie").startswith(
        "Removed The Heat (2013) from your profile."
    )
    assert chat.text(REMOVE, "remove Sabrina", intent="remove_movie") == (
        "Your profile has Sabrina (1954) and Sabrina (1995): add the year to say "
        "which, e.g. “delete Sabrina 1995”."
    )
    assert chat.text(REMOVE, "remove Fargo", intent="remove_movie") == (
        "Fargo (1996) is not in your profile."
    )
    assert chat.text(REMOVE, "delete Sabrina 1995", intent="remove_movie") == (
        "Removed Sabrina (1995) from your profile.\n"
        "You have 1 movie in your profile now."
    )
    assert history() == [(6, None)]


def test_remove_intent_on_a_plain_movie_records_it():
    chat = Chat()
    assert "✓ Up (2009): loved (5★)" in chat.text(
        REMOVE, "I loved Up", intent="remove_movie"
    )
    assert history() == [(13, 5.0)]


HEAT_HINT = (
    "✓ Heat (1995): loved (5★) (not The Heat (2013)? add the year, e.g. “Heat 2013”)"
)


@pytest.mark.parametrize(
    ("answer", "action", "intent"),
    [
        ("Heat 2013", RECORD, "inform_movies"),
        ("I meant Heat 2013", RECORD, "choose_movie"),
        ("no, I meant Heat 2013", FORGET, "deny"),
    ],
)
def test_the_year_of_the_offered_alternative_replaces_the_match(answer, action, intent):
    chat = Chat()
    chat.say(RECORD, "Up was ok")
    assert HEAT_HINT in chat.text(RECORD, "I loved Heat")
    reply = chat.text(action, answer, intent=intent)
    assert reply.startswith("✓ The Heat (2013): loved (5★) (instead of Heat (1995))")
    assert history() == [(13, 3.0), (3, 5.0)]


def test_the_offered_alternative_with_its_own_feeling_takes_that_feeling():
    chat = Chat()
    chat.say(RECORD, "I liked Titanic")
    reply = chat.text(RECORD, "Titanic 1953 was boring")
    assert reply.startswith(
        "✓ Titanic (1953): didn't like (2★) (instead of Titanic (1997))"
    )
    assert history() == [(5, 2.0)]


def test_a_movie_already_in_the_profile_is_not_replaced():
    chat = Chat()
    chat.say(RECORD, "I loved Heat")
    reply = chat.text(RECORD, "Heat was ok")
    assert reply.startswith("✓ Heat (1995): ok (3★) (was loved (5★))")
    assert "add the year" not in reply
    chat.say(RECORD, "The Heat 2013")
    assert history() == [(2, 3.0), (3, None)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes Man was ok", "✓ Yes Man (2008): ok (3★)"),
        ("I liked Yes Man", "✓ Yes Man (2008): liked (4★)"),
        ("yes, I liked Yes Man", "✓ Yes Man (2008): liked (4★)"),
    ],
)
def test_titles_starting_with_yes_keep_it(more_titles, text, expected):
    assert Chat().text(RECORD, text).startswith(expected)
    assert history() == [(101, float(expected[-3]))]


def test_a_title_starting_with_no_is_no_answer_to_a_question(more_titles):
    chat = Chat()
    chat.say(RECORD, "Sabrina")
    messages, _ = chat.say(FORGET, "No Country for Old Men was great", intent="deny")
    assert messages[0]["text"].startswith(
        "✓ No Country for Old Men (2007): really liked (4.5★)"
    )
    assert "Which “Sabrina”" in messages[-1]["text"]
    assert history() == [(103, 4.5)]


def test_code_asks_no_question():
    chat = Chat()
    reply = chat.text(RECORD, "Robert'); DROP TABLE profiles;--")
    assert reply.startswith("I couldn't find “DROP TABLE profiles”")
    assert "Which" not in reply
    assert chat.pending is None and history() == []


def test_an_unanswered_question_is_asked_once_more_then_dropped():
    chat = Chat()
    chat.say(RECORD, "Sabrina")
    messages, _ = chat.say(RECORD, "I loved Up")
    assert messages[-1]["text"].startswith("Which “Sabrina” did you mean?")
    reply = chat.text(RECORD, "Fargo was ok")
    assert reply.splitlines()[:2] == [
        "✓ Fargo (1996): ok (3★)",
        "I left out “Sabrina” for now; name it again with its year when you want it "
        "in your profile.",
    ]
    assert "Which" not in reply and chat.pending is None
    assert "Which" not in chat.text(RECORD, "Jaws")


def test_a_failed_answer_to_the_question_does_not_use_it_up():
    chat = Chat()
    chat.say(RECORD, "Sabrina")
    for _ in range(3):
        messages, _ = chat.say(RECORD, "the fifth", intent="choose_movie")
        assert "couldn't tell which one" in messages[0]["text"]
        assert messages[-1]["text"].startswith("Which “Sabrina” did you mean?")
    chat.say(RECORD, "2", intent="choose_movie")
    assert history() == [(7, None)]


@pytest.mark.parametrize("text", ["the second", "2", "the older one", "the 1995 one"])
def test_a_choice_with_nothing_to_choose_gets_one_answer(text):
    chat = Chat()
    assert chat.text(RECORD, text, intent="choose_movie") == actions.NOTHING_TO_CHOOSE
    assert chat.pending is None and history() == []


@pytest.mark.parametrize(
    ("text", "written", "title", "movie_id"),
    [("Inception 6/5", "6/5", "Inception", 10), ("Alien -1/5", "-1/5", "Alien", 19)],
)
def test_a_rating_off_the_scale_is_said_and_not_saved(text, written, title, movie_id):
    reply = Chat().text(RECORD, text)
    assert reply.splitlines()[0].endswith(
        f": watched (no rating) — “{written}” is off the scale, so I saved no rating: "
        f"ratings go from 0 to 5 stars (or out of 10), e.g. “{title} 4/5”"
    )
    assert history() == [(movie_id, None)]


def test_abbreviations_do_not_split_a_list(more_titles):
    reply = Chat().text(RECORD, "I loved Dr. Strangelove and Fight Club")
    assert "couldn't find" not in reply
    assert history() == [(104, 5.0), (29, 5.0)]


def _domain() -> dict:
    return YAML(typ="safe").load(HELP_DOMAIN.read_text())


def test_help_puts_each_bullet_on_its_own_line():
    text = _domain()["responses"]["utter_help"][0]["text"]
    lines = text.splitlines()
    assert lines[0] == "Here is what I can do:"
    assert len(lines) == 7
    assert all(line.startswith("• ") for line in lines[1:])
    assert "•" not in lines[0]


def test_every_intent_and_action_is_wired():
    root = HELP_DOMAIN.parent
    domain = _domain()
    rules = YAML(typ="safe").load((root / "data" / "rules.yml").read_text())
    nlu = YAML(typ="safe").load((root / "data" / "nlu.yml").read_text())
    steps = [step for rule in rules["rules"] for step in rule["steps"]]
    trained = {item["intent"] for item in nlu["nlu"] if "intent" in item}
    assert trained | {"empty_message"} == set(domain["intents"])
    ruled = {s["intent"] for s in steps if "intent" in s} - {"nlu_fallback"}
    assert ruled <= set(domain["intents"])
    custom = {s["action"] for s in steps if s.get("action", "").startswith("action_")}
    assert custom == set(domain["actions"])
    served = {
        cls().name()
        for cls in vars(actions).values()
        if isinstance(cls, type)
        and issubclass(cls, actions.MovieAction)
        and cls is not actions.MovieAction
    }
    assert served == set(domain["actions"])


def test_the_yes_button_deletes_the_profile():
    chat = Chat()
    chat.say(RECORD, "I loved Heat")
    chat.say(FORGET, "forget me", intent="forget_me")
    reply = chat.text(FORGET, requests.YES_PAYLOAD, intent="affirm")
    assert reply == (
        "Done: I deleted your profile (1 movie) and our conversation. We start afresh."
    )
    assert history() == []


@pytest.mark.parametrize(
    ("text", "titles"),
    [
        ("forget it", None),
        ("delete that", None),
        ("forget about it", None),
        ("forget about Alien", "Alien"),
        ("delete Heat", "Heat"),
    ],
)
def test_forget_it_is_no_movie_to_remove(text, titles):
    assert requests.titles_to_remove(text) == titles


def test_naming_an_alternative_already_in_the_profile_keeps_both():
    chat = Chat()
    chat.say(RECORD, "I loved Heat and Heat 2013")
    chat.say(RECORD, "Heat 2013 was awful")
    assert sorted(history()) == [(2, 5.0), (3, 1.0)]


def test_also_adds_the_alternative_beside_the_first():
    chat = Chat()
    chat.say(RECORD, "I loved Heat")
    reply = chat.text(RECORD, "I also watched Heat 2013")
    assert "instead of" not in reply
    assert history() == [(2, 5.0), (3, None)]
