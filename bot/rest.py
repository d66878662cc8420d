"""Rasa's REST channel, refusing requests it cannot answer for someone.

Rasa 3.6 files a request without a sender under the sender id "default", so
that everyone who leaves it out shares one profile, and answers a message,
metadata or channel name of the wrong type with an empty list and a logged
traceback. Here these get 400 and a line saying what to send; a missing or null
message is an empty one, which the bot answers. The address
(/webhooks/rest/webhook), the channel's name ("rest") and everything else stay
Rasa's.
"""

from __future__ import annotations

from typing import Any

from rasa.core.channels.rest import RestInput as RasaRestInput

# Sanic 21.12 (Rasa 3.6) calls a 400 InvalidUsage; later ones call it BadRequest.
from sanic.exceptions import InvalidUsage as BadRequest
from sanic.request import Request

# Rasa's sender ids end up in database columns of this width.
MAX_SENDER = 255


def _body(request: Request) -> dict[str, Any]:
    body = request.json
    if not isinstance(body, dict):
        raise BadRequest('send a JSON object: {"sender": "...", "message": "..."}')
    return body


class RestInput(RasaRestInput):
    async def _extract_sender(self, req: Request) -> str:
        sender = _body(req).get("sender")
        if not isinstance(sender, str) or not sender.strip():
            raise BadRequest(
                '"sender" must be a non-empty string: the profile is kept under it'
            )
        if len(sender) > MAX_SENDER:
            raise BadRequest(f'"sender" must be at most {MAX_SENDER} characters')
        return sender

    def _extract_input_channel(self, req: Request) -> str:
        channel = _body(req).get("input_channel")
        if channel is not None and not isinstance(channel, str):
            raise BadRequest('"input_channel" must be a string')
        return channel or self.name()

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        metadata = _body(request).get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise BadRequest('"metadata" must be a JSON object')
        return metadata

    def _extract_message(self, req: Request) -> str:
        message = _body(req).get("message")
        if message is None:
            return ""  # an empty message, which the bot answers as such
        if not isinstance(message, str):
            raise BadRequest('"message" must be a string')
        return message
