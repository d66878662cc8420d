"""Rasa's SQL tracker store, which also forgets a conversation when asked to.

When a person asks to be forgotten, the action server deletes their profile and
ends its answer with a restart. The conversation itself lives here, on the Rasa
side, and Rasa writes a turn's events only after the actions have run: rows
deleted by the action server would be written back. So this store deletes them
itself, in the same transaction that saves the turn, and keeps only what
follows the restart: a new, empty conversation.

Rasa's own restart (``/restart``, run by ``action_restart``) keeps the history,
as before; only a restart that one of the product's actions asks for forgets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.constants import ACTION_RESTART_NAME
from rasa.shared.core.events import ActionExecuted, Event, Restarted
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)


def forgotten_at(events: list[Event]) -> int | None:
    """Where in ``events`` an action forgot the person: the index of the last
    restart that a custom action returned, or None."""
    found, action = None, None
    for index, event in enumerate(events):
        if isinstance(event, ActionExecuted):
            action = event.action_name
        elif isinstance(event, Restarted) and action != ACTION_RESTART_NAME:
            found = index
    return found


class ForgettingSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` (the same tables and settings) that deletes a
    conversation's earlier events when a turn forgot the person."""

    def _additional_events(
        self, session: Session, tracker: DialogueStateTracker
    ) -> Iterator[Event]:
        # Rasa 3.6's save() writes what this returns, in ``session``, and commits.
        events = list(super()._additional_events(session, tracker))
        cut = forgotten_at(events)
        if cut is None:
            return iter(events)

        deleted = (
            session.query(self.SQLEvent)
            .filter(self.SQLEvent.sender_id == tracker.sender_id)
            .delete(synchronize_session=False)
        )
        logger.info(
            "forgot the conversation of %s: %d stored and %d new events deleted",
            tracker.sender_id,
            deleted,
            cut + 1,
        )
        return iter(events[cut + 1 :])
