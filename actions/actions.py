"""The custom actions: read the turn, ask the recommender, answer.

They stay thin: parsing and matching live in ``recommender.mentions`` and
``recommender.catalog``, models in ``recommender.service``, profiles in
``recommender.profiles``. Each action answers even when something fails (models
not trained, database down): the person is told, and nothing they said is lost.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import re
from functools import lru_cache
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import replies
from actions.choices import Skip, resolve_choice
from recommender.catalog import MatchKind, Movie
from recommender.errors import ArtifactError
from recommender.mentions import MAX_MENTIONS, parse_mentions
from recommender.profiles import Change, ProfileStore
from recommender.service import Recommender

logger = logging.getLogger(__name__)

PENDING = "pending_choices"
FORGET = "forget_requested"
# How a line confirming a newly added movie starts.
ADDED = "✓"
# How many picks an answer lists.
PICKS = 10


# Channels whose client shows buttons as a menu that a typed number does not
# answer (`rasa shell`): there the numbered list in the text is the choice.
TYPED_CHOICE_CHANNELS = frozenset({"cmdline"})


def buttons_for(tracker: Tracker, buttons: list[dict]) -> list[dict]:
    """``buttons``, unless the person's channel answers choices by typing."""
    if tracker.get_latest_input_channel() in TYPED_CHOICE_CHANNELS:
        return []
    return buttons


@lru_cache(maxsize=1)
def recommender() -> Recommender:
    return Recommender()


@lru_cache(maxsize=1)
def store() -> ProfileStore:
    return ProfileStore()


class MovieAction(Action, abc.ABC):
    """Runs the work off the event loop and turns failures into a plain answer.

    Abstract, so that the action server registers only its subclasses.
    """

    @abc.abstractmethod
    def name(self) -> str: ...

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[EventType]:
        try:
            return await asyncio.to_thread(self.answer, dispatcher, tracker)
        except ArtifactError as error:
            logger.error("%s: %s", self.name(), error)
            dispatcher.utter_message(
                text="My recommendation models are not trained yet, so I can't answer "
                "that. Whoever runs me should run `make train`. Your movies are saved."
            )
        except Exception:
            logger.exception("%s failed for sender %s", self.name(), tracker.sender_id)
            dispatcher.utter_message(
                text="Sorry, something went wrong on my side. What you told me before "
                "is saved; please try again in a moment."
            )
        return []

    @abc.abstractmethod
    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list:
        """Reply through ``dispatcher``; return the events to apply."""


class ActionRecordMovies(MovieAction):
    """Save the movies named in the message, or the pick among same-named ones."""

    def name(self) -> str:
        return "action_record_movies"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list:
        catalog = recommender().catalog
        text = (tracker.latest_message.get("text") or "").strip()
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        pending: list[dict] = list(tracker.get_slot(PENDING) or [])
        sender = tracker.sender_id
        lines: list[str] = []

        if pending:
            options = [catalog[m] for m in pending[0]["options"] if m in catalog]
            choice = next(tracker.get_latest_entity_values("choice"), None)
            picked = resolve_choice(text, options, choice)
            if picked is Skip.NONE:
                lines.append(f"OK, I left out “{pending.pop(0)['query']}”.")
            elif isinstance(picked, Movie):
                asked = pending.pop(0)
                lines.append(self._save(sender, picked, asked["rating"]))
            elif intent in ("choose_movie", "affirm", "deny"):
                lines.append("Sorry, I couldn't tell which one you meant.")
            else:
                lines += self._record(sender, text, pending)
        elif intent == "choose_movie" and not tracker.latest_message.get("entities"):
            lines += self._record(sender, text, pending, quiet=True) or [
                "There is nothing to choose right now. Tell me a movie you watched, "
                "or ask what to watch next."
            ]
        else:
            lines += self._record(sender, text, pending)

        if lines:
            dispatcher.utter_message(text="\n".join(lines))
        if pending:
            self._ask(dispatcher, tracker, pending[0])
        elif any(line.startswith("✓") for line in lines):
            count = len(store().history(sender))
            dispatcher.utter_message(
                text=f"You have {replies.movies(count)} in your profile. Name more, "
                "or ask “what should I watch next?” or “what is best for me?”."
            )
        return [SlotSet(PENDING, pending or None)]

    def _record(
        self, sender: str, text: str, pending: list[dict], quiet: bool = False
    ) -> list[str]:
        catalog = recommender().catalog
        mentions, truncated = parse_mentions(text, catalog.is_title)
        if not mentions:
            if quiet:
                return []
            return [
                "I didn't find a movie title in that. Tell me what you watched, e.g. "
                "“I loved The Matrix and Heat was ok”."
            ]

        lines: list[str] = []
        said: dict[int, int] = {}  # movie id -> index in lines, for repeats
        for mention in mentions:
            match = catalog.match(mention.title)
            if match.kind is MatchKind.MATCHED:
                movie = match.movie
                if movie.movie_id in said:
                    # Named twice in one message: the later feeling wins.
                    lines[said[movie.movie_id]] = self._save(
                        sender, movie, mention.rating, again=True
                    )
                    continue
                said[movie.movie_id] = len(lines)
                line = self._save(sender, movie, mention.rating)
                if match.others and line.startswith(ADDED):
                    other = match.others[0]
                    line += f" (not {other.display}? add the year, e.g. "
                    line += f"“{mention.title} {other.year}”)"
                lines.append(line)
            elif match.kind is MatchKind.AMBIGUOUS:
                ids = [m.movie_id for m in match.candidates]
                if not any(p["options"] == ids for p in pending):
                    if pending:
                        lines.append(
                            f"I'll ask which “{mention.title}” you meant after the "
                            "question before it."
                        )
                    pending.append(
                        {
                            "query": mention.title,
                            "rating": mention.rating,
                            "options": ids,
                        }
                    )
            else:
                lines.append(replies.closest(mention.title, list(match.candidates)))
        if truncated:
            lines.append(
                "That was a long message: I read only its first part (at most "
                f"{MAX_MENTIONS} titles). Send the rest in another message."
            )
        return lines

    def _save(
        self, sender: str, movie: Movie, rating: float | None, again: bool = False
    ) -> str:
        saved = store().save(sender, movie.movie_id, rating)
        if again:
            return f"✓ {movie.display}: {replies.feeling(saved.rating)} (named twice)"
        if saved.change is Change.ADDED:
            return f"{ADDED} {movie.display}: {replies.feeling(saved.rating)}"
        if saved.change is Change.UPDATED:
            before = replies.feeling(saved.previous_rating)
            return f"✓ {movie.display}: {replies.feeling(saved.rating)} (was {before})"
        now = replies.feeling(saved.rating)
        return f"✓ {movie.display}: already in your profile, {now}"

    def _ask(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, question: dict
    ) -> None:
        catalog = recommender().catalog
        options = [catalog[m] for m in question["options"] if m in catalog]
        buttons = [
            {"title": m.display, "payload": f'/choose_movie{{"choice": "{i}"}}'}
            for i, m in enumerate(options, start=1)
        ]
        buttons.append(
            {"title": "None of these", "payload": '/choose_movie{"choice": "none"}'}
        )
        dispatcher.utter_message(
            text=replies.choice_question(question["query"], options),
            buttons=buttons_for(tracker, buttons),
        )


class ActionRecommendNext(MovieAction):
    """What to watch next, from the GRU over the order of the person's movies."""

    def name(self) -> str:
        return "action_recommend_next"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list:
        history = [entry.movie_id for entry in store().history(tracker.sender_id)]
        model = recommender()
        if not history:
            picks = model.popular(PICKS)
            dispatcher.utter_message(
                text="I don't know any movies of yours yet, so the sequence model has "
                "nothing to go on. Tell me a few you watched (e.g. “I loved Heat”). "
                f"Meanwhile, the {picks.model}:\n{replies.pick_list(picks)}"
            )
            return []
        picks = model.next_movies(history, PICKS)
        dispatcher.utter_message(
            text=f"Watch next — from the {picks.model}, which reads the order of "
            f"your {replies.movies(len(history))}:\n"
            f"{replies.pick_list(picks)}"
        )
        return []


class ActionRecommendBest(MovieAction):
    """The movies the autoencoder predicts the person will rate highest."""

    def name(self) -> str:
        return "action_recommend_best"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list:
        history = store().history(tracker.sender_id)
        rated = {e.movie_id: e.rating for e in history if e.rating is not None}
        seen = [e.movie_id for e in history]
        model = recommender()
        needed = model.min_ratings - len(rated)
        if needed <= 0:
            picks = model.best_movies(rated, PICKS, exclude=seen)
            dispatcher.utter_message(
                text=f"Best for you — from the {picks.model}, which reads your "
                f"{len(rated)} ratings:\n{replies.pick_list(picks, predicted=True)}"
            )
            return []

        meanwhile = model.next_movies(seen, PICKS) if seen else model.popular(PICKS)
        dispatcher.utter_message(
            text=f"The autoencoder needs at least {model.min_ratings} rated movies to "
            f"judge your taste; you have rated {len(rated)}, so {needed} more, please "
            "(say how you liked them: “loved X”, “Y was ok”, “Z 2/5”). "
            f"Meanwhile, from the {meanwhile.model}:\n{replies.pick_list(meanwhile)}"
        )
        return []


class ActionShowProfile(MovieAction):
    def name(self) -> str:
        return "action_show_profile"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list:
        catalog = recommender().catalog
        history = store().history(tracker.sender_id)
        if not history:
            dispatcher.utter_message(
                text="Your profile is empty: tell me a movie you watched."
            )
            return []
        lines = [
            f"{i}. {catalog[e.movie_id].display}: {replies.feeling(e.rating)}"
            for i, e in enumerate(history, start=1)
            if e.movie_id in catalog
        ]
        dispatcher.utter_message(
            text="Your movies, in the order you told me:\n" + "\n".join(lines)
        )
        return []


class ActionForgetMe(MovieAction):
    """Delete the person's profile, once they have said yes to it."""

    def name(self) -> str:
        return "action_forget_me"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = tracker.latest_message.get("text") or ""
        asked = bool(tracker.get_slot(FORGET))
        sender = tracker.sender_id

        if not asked and tracker.get_slot(PENDING) and intent in ("affirm", "deny"):
            # "no" to "which Sabrina?" is about the movie, not the profile.
            return ActionRecordMovies().answer(dispatcher, tracker)
        if intent == "forget_me" and _NEGATED.search(text):
            dispatcher.utter_message(text="Don't worry: I keep your profile.")
            return [SlotSet(FORGET, False)]
        if intent == "forget_me":
            count = len(store().history(sender))
            dispatcher.utter_message(
                text=f"That deletes your profile ({replies.movies(count)}) and cannot "
                "be undone. Are you sure?",
                buttons=buttons_for(
                    tracker,
                    [
                        {"title": "Yes, forget me", "payload": "/affirm"},
                        {"title": "No, keep it", "payload": "/deny"},
                    ],
                ),
            )
            return [SlotSet(FORGET, True)]
        if asked and intent == "affirm":
            removed = store().forget(sender)
            dispatcher.utter_message(
                text=f"Done: I deleted your profile ({replies.movies(removed)}). "
                "We start afresh."
            )
            return [SlotSet(FORGET, False), SlotSet(PENDING, None)]
        if asked:
            dispatcher.utter_message(text="OK, I keep your profile as it is.")
            return [SlotSet(FORGET, False)]
        dispatcher.utter_message(
            text="OK! Tell me a movie you watched, or ask what to watch next."
        )
        return []


_NEGATED = re.compile(r"\b(?:don'?t|do\s+not|never|dont)\b", re.IGNORECASE)
