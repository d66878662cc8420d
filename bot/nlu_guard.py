"""A Rasa NLU component that catches messages no classifier should guess about.

An empty message, or one of emoji and punctuation alone, gets the intent
``empty_message``; a very long one is read as a list of movies (the action reads
the first titles and says so), rather than being forced into whichever intent its
character n-grams happen to resemble.
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

EMPTY = "empty_message"
LONG = "inform_movies"
_WORDS = re.compile(r"\w")


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class MessageGuard(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # Messages longer than this are read as lists of movies.
        return {"max_chars": 500}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MessageGuard:
        return cls(config)

    def __init__(self, config: dict[str, Any]) -> None:
        self.max_chars = int(config["max_chars"])

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if not _WORDS.search(text):
                self._set(message, EMPTY)
            elif len(text) > self.max_chars:
                self._set(message, LONG)
        return messages

    def process_training_data(self, training_data):
        return training_data

    @staticmethod
    def _set(message: Message, intent: str) -> None:
        guessed = {"name": intent, "confidence": 1.0}
        message.set(INTENT, guessed, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [guessed], add_to_output=True)
