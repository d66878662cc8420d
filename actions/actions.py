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
from functools import lru_cache
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, Restarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import replies, requests
from actions.choices import Skip, is_choice_answer, number_answer, resolve_choice
from recommender.catalog import MatchKind, Movie, split_year
from recommender.errors import ArtifactError
from recommender.mentions import MAX_CHARS, MAX_MENTIONS, Mention, parse_mentions
from recommender.profiles import Change, Person, ProfileStore, Saved
from recommender.service import Recommender
from recommender.titles import normalize

logger = logging.getLogger(__name__)

PENDING = "pending_choices"
FORGET = "forget_requested"
# Less known movies of a title just taken, which the person may pick instead by
# giving the year ("Heat 2013" after "Heat (1995), not The Heat (2013)?").
OFFERED = "offered_alternatives"
# A which-movie question left unanswered is asked this many times in all, then
# dropped, so that it does not follow every later message.
MAX_ASKS = 2
# The actions that may ask "are you sure?" before deleting a profile; a yes
# counts only right after one of them.
ASKING_ACTIONS = frozenset(
    {"action_forget_me", "action_record_movies", "action_remove_movie"}
)
NOTHING_TO_CHOOSE = (
    "There is nothing to choose right now. Tell me a movie you watched, or ask what "
    "to watch next."
)
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


# Where a conversation's latest message came from, when Rasa recorded none (an
# action run without any message from the person).
UNKNOWN_CHANNEL = "unknown"


def person(tracker: Tracker) -> Person:
    """Whose profile this turn is about: the sender on the channel they write from.

    Rasa records the channel on every message the person sends, and sends the
    action server every event of the conversation so far, so the channel is there
    from the first message on, after a restart of either server too.
    """
    channel = tracker.get_latest_input_channel()
    if not channel:
        logger.warning(
            "no channel recorded for sender %s; using %r",
            tracker.sender_id,
            UNKNOWN_CHANNEL,
        )
    return Person(tracker.sender_id, channel or UNKNOWN_CHANNEL)


def intent_of(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def previous_action(tracker: Tracker) -> str | None:
    """The last action the bot ran before the person's latest message."""
    events = list(tracker.events)
    for index in range(len(events) - 1, -1, -1):
        if events[index].get("event") == "user":
            break
    else:
        return None
    for event in reversed(events[:index]):
        if event.get("event") == "user":
            return None
        if event.get("event") == "action" and event.get("name") != "action_listen":
            return event.get("name")
    return None


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
            events = await asyncio.to_thread(self.answer, dispatcher, tracker)
            # "Are you sure?" holds only for the next message: anything else
            # said in between withdraws it.
            asked = any(e.get("name") == FORGET for e in events)
            if tracker.get_slot(FORGET) and not asked:
                events.append(SlotSet(FORGET, False))
            return events
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
        # The classifier may take a request for a movie list; the words decide.
        if requests.asks_to_forget(text):
            return ActionForgetMe().answer(dispatcher, tracker)
        if requests.titles_to_remove(text) and not catalog.is_title(text):
            return ActionRemoveMovie().answer(dispatcher, tracker)

        intent = intent_of(tracker)
        entities = tracker.latest_message.get("entities")
        pending: list[dict] = [dict(p) for p in tracker.get_slot(PENDING) or []]
        offered: list[dict] = list(tracker.get_slot(OFFERED) or [])
        sender = person(tracker)
        lines: list[str] = []
        offers: list[dict] = []  # alternatives named in this answer
        open_question = pending[0] if pending else None
        attempt = False  # an answer to the open question that could not be read

        if pending:
            options = [catalog[m] for m in pending[0]["options"] if m in catalog]
            choice = next(tracker.get_latest_entity_values("choice"), None)
            number = number_answer(text) if choice is None else None
            # "No Country for Old Men" names another movie: no "no" to the question.
            # A bare number answers it, even one that is also a title ("9").
            other = (
                choice is None
                and number is None
                and self._names_other_movie(text, options)
            )
            picked = None if other else resolve_choice(text, options, choice)
            if picked is None and self._repeats_query(text, pending[0]["query"]):
                # "Sabrina" again, to "which Sabrina?": the question stands.
                attempt = True
            elif picked is None and number is not None:
                lines.append(
                    f"There is no number {number} here: answer with the number of "
                    "one of the movies listed, its year or its title (or “none”)."
                )
                attempt = True
            elif picked is Skip.NONE:
                lines.append(f"OK, I left out “{pending.pop(0)['query']}”.")
            elif isinstance(picked, Movie):
                asked = pending.pop(0)
                lines.append(self._save(sender, picked, asked["rating"]))
            elif intent in ("choose_movie", "affirm", "deny") and not other:
                lines.append("Sorry, I couldn't tell which one you meant.")
                attempt = True
            else:
                lines += self._record(sender, text, pending, offered, offers)
        elif text.startswith("/"):
            # A button pressed again, or a payload typed: no question is open.
            lines.append(NOTHING_TO_CHOOSE)
        elif (
            intent == "choose_movie"
            and not entities
            and is_choice_answer(text)
            and not catalog.is_title(text)
        ):
            lines.append(NOTHING_TO_CHOOSE)
        elif intent == "choose_movie" and not entities:
            lines += self._record(sender, text, pending, offered, offers, quiet=True)
            if not lines and not pending:
                lines.append(NOTHING_TO_CHOOSE)
        else:
            lines += self._record(sender, text, pending, offered, offers)

        if pending and pending[0] is open_question and not attempt:
            # Asked before and not answered now: ask once more, then let it go.
            asks = open_question.get("asks", 1)
            if asks >= MAX_ASKS:
                pending.pop(0)
                lines.append(replies.dropped_question(open_question["query"]))
            else:
                open_question["asks"] = asks + 1

        if lines:
            dispatcher.utter_message(text="\n".join(lines))
        if pending:
            self._ask(dispatcher, tracker, pending[0])
        elif any(line.startswith(ADDED) for line in lines):
            count = len(store().history(sender))
            dispatcher.utter_message(
                text=f"You have {replies.movies(count)} in your profile. Name more, "
                "or ask “what should I watch next?” or “what is best for me?”."
            )
        return [
            SlotSet(PENDING, pending or None),
            SlotSet(OFFERED, offers or None),
        ]

    @staticmethod
    def _repeats_query(text: str, query: str) -> bool:
        """True when ``text`` is the title the open question is about, as asked."""
        title, year = split_year(text)
        return year is None and normalize(title) == normalize(query)

    def _names_other_movie(self, text: str, options: list[Movie]) -> bool:
        """True when ``text`` names a known title that is none of ``options``."""
        catalog = recommender().catalog
        mentions, _ = parse_mentions(text, catalog.is_title)
        for mention in mentions:
            if catalog.is_title(mention.title):
                match = catalog.match(mention.title)
                if match.kind is MatchKind.MATCHED and match.movie not in options:
                    return True
        return False

    def _record(
        self,
        sender: Person,
        text: str,
        pending: list[dict],
        offered: list[dict],
        offers: list[dict],
        quiet: bool = False,
    ) -> list[str]:
        """Save the movies named in ``text``; returns the lines to say.

        Same-named movies to ask about go to ``pending``; ``offered`` holds the
        alternatives named in the answer before, ``offers`` gets this answer's.
        """
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
            if mention.unseen:
                lines.append(self._unseen_line(sender, mention, match))
                continue
            if match.kind is MatchKind.MATCHED:
                movie = match.movie
                instead = self._offered_instead(
                    sender, movie, mention, offered, requests.adds_another(text)
                )
                if instead is not None:
                    said[movie.movie_id] = len(lines)
                    lines.append(instead)
                    continue
                if movie.movie_id in said:
                    # Named twice in one message: the later feeling wins.
                    lines[said[movie.movie_id]] = self._save(
                        sender, movie, mention.rating, again=True
                    )
                    continue
                said[movie.movie_id] = len(lines)
                saved = store().save(sender, movie.movie_id, mention.rating)
                line = self._saved_line(movie, saved)
                if mention.bad_rating:
                    line += replies.off_the_scale(mention.bad_rating, mention.title)
                elif match.others and saved.change is Change.ADDED:
                    other = match.others[0]
                    line += f" (not {other.display}? add the year, e.g. "
                    line += f"“{split_year(mention.title)[0]} {other.year}”)"
                    offers.append(
                        {
                            "taken": movie.movie_id,
                            "others": [m.movie_id for m in match.others],
                            "rating": saved.rating,
                        }
                    )
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
                "That was a long message: I read only its first part (the first "
                f"{MAX_CHARS:,} characters, at most {MAX_MENTIONS} titles). Send "
                "the rest in another message."
            )
        return lines

    def _unseen_line(self, sender: Person, mention: Mention, match) -> str:
        """What to say of a movie the person has not watched: it is not added."""
        if match.kind is not MatchKind.MATCHED:
            return (
                f"OK, you haven't seen {replies.quoted(mention.title)}; nothing added."
            )
        movie = match.movie
        if any(e.movie_id == movie.movie_id for e in store().history(sender)):
            return (
                f"{movie.display} is in your profile although you haven't seen it: "
                f"say “delete {split_year(mention.title)[0]}” to take it out."
            )
        return f"OK, you haven't seen {movie.display}: I leave it out of your profile."

    def _offered_instead(
        self,
        sender: Person,
        movie: Movie,
        mention: Mention,
        offered: list[dict],
        adds: bool = False,
    ) -> str | None:
        """Put ``movie`` in place of the one taken just before, when the bot had
        offered it as the other movie of that title; None when it had not.

        Never when the message adds it beside the first ("I also watched Heat
        2013") or the person already has it: both movies stay.
        """
        if adds:
            return None
        for offer in offered:
            if movie.movie_id not in offer["others"]:
                continue
            taken = recommender().catalog.get(offer["taken"])
            in_profile = {e.movie_id for e in store().history(sender)}
            if taken is None or taken.movie_id not in in_profile:
                return None
            if movie.movie_id in in_profile:
                return None
            offered.remove(offer)
            rating = offer["rating"] if mention.rating is None else mention.rating
            saved = store().replace(sender, taken.movie_id, movie.movie_id, rating)
            return (
                f"{ADDED} {movie.display}: {replies.feeling(saved.rating)} "
                f"(instead of {taken.display})"
            )
        return None

    def _save(
        self, sender: Person, movie: Movie, rating: float | None, again: bool = False
    ) -> str:
        saved = store().save(sender, movie.movie_id, rating)
        if again:
            return f"✓ {movie.display}: {replies.feeling(saved.rating)} (named twice)"
        return self._saved_line(movie, saved)

    @staticmethod
    def _saved_line(movie: Movie, saved: Saved) -> str:
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
        history = [entry.movie_id for entry in store().history(person(tracker))]
        model = recommender()
        channel = tracker.get_latest_input_channel()
        if not history:
            picks = model.popular(PICKS)
            intro = (
                "I don't know any movies of yours yet, so the sequence model has "
                "nothing to go on. Tell me a few you watched (e.g. “I loved Heat”). "
                f"Meanwhile, the {picks.model}:"
            )
            dispatcher.utter_message(**replies.recommendations(intro, picks, channel))
            return []
        picks = model.next_movies(history, PICKS)
        intro = (
            f"Watch next — from the {picks.model}, which reads the order of "
            f"your {replies.movies(len(history))}:"
        )
        dispatcher.utter_message(**replies.recommendations(intro, picks, channel))
        return []


class ActionRecommendBest(MovieAction):
    """The movies the autoencoder predicts the person will rate highest."""

    def name(self) -> str:
        return "action_recommend_best"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list:
        history = store().history(person(tracker))
        rated = {e.movie_id: e.rating for e in history if e.rating is not None}
        seen = [e.movie_id for e in history]
        model = recommender()
        channel = tracker.get_latest_input_channel()
        needed = model.min_ratings - len(rated)
        if needed <= 0:
            picks = model.best_movies(rated, PICKS, exclude=seen)
            intro = (
                f"Best for you — from the {picks.model}, which reads your "
                f"{len(rated)} ratings:"
            )
            dispatcher.utter_message(
                **replies.recommendations(intro, picks, channel, predicted=True)
            )
            return []

        meanwhile = model.next_movies(seen, PICKS) if seen else model.popular(PICKS)
        intro = (
            f"The autoencoder needs at least {model.min_ratings} rated movies to "
            f"judge your taste; you have rated {len(rated)}, so {needed} more, please "
            "(say how you liked them: “loved X”, “Y was ok”, “Z 2/5”). "
            f"Meanwhile, from the {meanwhile.model}:"
        )
        dispatcher.utter_message(**replies.recommendations(intro, meanwhile, channel))
        return []


class ActionShowProfile(MovieAction):
    def name(self) -> str:
        return "action_show_profile"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list:
        catalog = recommender().catalog
        history = store().history(person(tracker))
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
    """Delete the person's profile, once they have said yes to it.

    Only a message that clearly asks for it opens the question, whatever intent
    the classifier guessed; anything else is read as movies.
    """

    def name(self) -> str:
        return "action_forget_me"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list:
        intent = intent_of(tracker)
        text = (tracker.latest_message.get("text") or "").strip()
        sender = person(tracker)
        asked = (
            bool(tracker.get_slot(FORGET))
            and previous_action(tracker) in ASKING_ACTIONS
        )

        if asked:
            if (
                text == requests.YES_PAYLOAD
                or requests.is_plain_yes(text)
                or requests.asks_to_forget(text)
            ):
                removed = store().forget(sender)
                deleted = (
                    f"your profile ({replies.movies(removed)}) and our conversation"
                    if removed
                    else "our conversation"
                )
                dispatcher.utter_message(
                    text=f"Done: I deleted {deleted}. We start afresh."
                )
                # The restart empties the conversation on the Rasa side, and the
                # tracker store (bot/tracker_store.py) deletes what was said.
                return [
                    SlotSet(FORGET, False),
                    SlotSet(PENDING, None),
                    SlotSet(OFFERED, None),
                    Restarted(),
                ]
            kept = "your profile" if store().history(sender) else "our conversation"
            dispatcher.utter_message(text=f"OK, I keep {kept} as it is.")
            events: list = [SlotSet(FORGET, False)]
            if intent != "deny" and _names_movies(text):
                # "Yes Man was great" is no yes, but it is a movie.
                events += ActionRecordMovies().answer(dispatcher, tracker)
            return events

        if tracker.get_slot(PENDING) and intent in ("affirm", "deny"):
            # "no" to "which Sabrina?" is about the movie, not the profile.
            return ActionRecordMovies().answer(dispatcher, tracker)
        if requests.refuses_to_forget(text):
            dispatcher.utter_message(text="Don't worry: I keep your profile.")
            return [SlotSet(FORGET, False)]
        if requests.asks_to_forget(text):
            count = len(store().history(sender))
            # With no movies there is still what was said, kept on the Rasa side.
            what = (
                f"your profile ({replies.movies(count)}) and our conversation"
                if count
                else "our conversation (I have no movies of yours)"
            )
            dispatcher.utter_message(
                text=f"That deletes {what} and cannot be undone. Are you sure?",
                buttons=buttons_for(
                    tracker,
                    [
                        {"title": "Yes, forget me", "payload": requests.YES_PAYLOAD},
                        {"title": "No, keep it", "payload": requests.NO_PAYLOAD},
                    ],
                ),
            )
            return [SlotSet(FORGET, True)]
        if intent in ("affirm", "deny") and not _names_movies(text):
            dispatcher.utter_message(
                text="OK! Tell me a movie you watched, or ask what to watch next."
            )
            return []
        # Not a request to forget ("I loved Everything Everywhere", "delete Heat"):
        # the movie actions read it.
        return ActionRecordMovies().answer(dispatcher, tracker)


class ActionRemoveMovie(MovieAction):
    """Take single movies out of the profile: "delete Heat", "remove Up from my
    list". The rest of the profile stays."""

    def name(self) -> str:
        return "action_remove_movie"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list:
        catalog = recommender().catalog
        text = (tracker.latest_message.get("text") or "").strip()
        if requests.asks_to_forget(text):
            return ActionForgetMe().answer(dispatcher, tracker)
        titles = None if catalog.is_title(text) else requests.titles_to_remove(text)
        if titles is None:
            return ActionRecordMovies().answer(dispatcher, tracker)

        sender = person(tracker)
        mentions, _ = parse_mentions(titles, catalog.is_title)
        lines: list[str] = []
        removed = False
        for mention in mentions:
            in_profile = {e.movie_id for e in store().history(sender)}
            match = catalog.match(mention.title)
            if match.kind is MatchKind.MATCHED:
                fits = [match.movie, *match.others]
            elif match.kind is MatchKind.AMBIGUOUS:
                fits = list(match.candidates)
            else:
                fits = []
            mine = [m for m in fits if m.movie_id in in_profile]
            title = replies.quoted(split_year(mention.title)[0])
            if len(mine) == 1:
                store().remove(sender, mine[0].movie_id)
                removed = True
                lines.append(f"Removed {mine[0].display} from your profile.")
            elif mine:
                names = " and ".join(m.display for m in mine)
                lines.append(
                    f"Your profile has {names}: add the year to say which, e.g. "
                    f"“delete {split_year(mention.title)[0]} {mine[-1].year}”."
                )
            elif match.kind is MatchKind.MATCHED:
                lines.append(f"{match.movie.display} is not in your profile.")
            else:
                lines.append(f"I found no {title} in your profile.")
        if not lines:
            lines.append("Which movie should I remove? Say e.g. “delete Heat”.")
        if removed:
            count = len(store().history(sender))
            lines.append(f"You have {replies.movies(count)} in your profile now.")
        dispatcher.utter_message(text="\n".join(lines))
        return []


def _names_movies(text: str) -> bool:
    """True when ``text`` names anything that could be a movie."""
    mentions, _ = parse_mentions(text, recommender().catalog.is_title)
    return bool(mentions)
