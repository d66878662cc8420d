"""MovieBot on Slack: Rasa's Slack connector with what a public webhook needs.

Rasa 3.6's ``SlackInput`` checks Slack's request signature (and rejects timestamps
over five minutes old), and hands each message to the bot in the background, so
Slack gets its answer at once even while a recommendation takes longer. This
channel keeps all of that and adds:

- a request without a valid signature gets 401 (Rasa answers 400, which Slack
  reports as a failure of ours rather than a refusal);
- a message is answered once: a retry of it (``X-Slack-Retry-Num``) is
  acknowledged and dropped, whatever Slack's reason (Rasa drops retries after a
  timeout only, and answers the others a second time), and so is its second
  delivery as a mention and as a channel message; a retry of a message this
  server never got (it was down) is answered;
- edits, deletions, joins and the bot's own messages are not read as someone
  talking (Rasa answers an edit when it carries text);
- ``&``, ``<`` and ``>``, which Slack escapes, reach the bot as typed;
- a choice of up to 25 buttons is sent as buttons (Rasa sends more than 5 as text
  only); after a click, the buttons are replaced by the pick, so that it cannot be
  clicked twice;
- ``SLACK_API_URL`` replaces the Slack Web API's address, and no message is
  posted with ``as_user``, which Slack apps made since 2020 may not use.

In ``credentials.yml`` (secrets through environment variables only)::

    bot.slack.SlackInput:
      slack_token: ${SLACK_TOKEN}
      slack_signing_secret: ${SLACK_SIGNING_SECRET}

Events and button clicks both arrive at ``/webhooks/slack/webhook``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import OrderedDict
from http import HTTPStatus
from typing import Any

import aiohttp
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.slack import SlackBot
from rasa.core.channels.slack import SlackInput as RasaSlackInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

logger = logging.getLogger(__name__)

# Slack's limits: buttons in one actions block, characters in a button's label.
MAX_BUTTONS = 25
MAX_BUTTON_LABEL = 75
# Message subtypes that are someone writing something new; every other subtype
# (message_changed, message_deleted, bot_message, channel_join, ...) is not.
PERSON_SUBTYPES = frozenset({"file_share", "thread_broadcast"})
# How many recent messages are remembered to answer each only once.
REMEMBERED = 1000


def _label(text: str) -> str:
    return text if len(text) <= MAX_BUTTON_LABEL else text[: MAX_BUTTON_LABEL - 1] + "…"


SLACK_FAILURES = (SlackApiError, aiohttp.ClientError, asyncio.TimeoutError)


def _why(error: Exception) -> str:
    """Slack's error code (``not_in_channel``, ``missing_scope``...), or the error."""
    if isinstance(error, SlackApiError):
        return str(error.response.get("error", error))
    return f"{type(error).__name__}: {error}"


def _unescape(text: str) -> str:
    """Slack escapes these three in message text, and only these."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class SlackOutput(SlackBot):
    """Posts the bot's messages with the Slack Web API (``chat.postMessage``)."""

    def __init__(
        self,
        token: str,
        slack_channel: str | None = None,
        thread_id: str | None = None,
        proxy: str | None = None,
        api_url: str | None = None,
    ) -> None:
        super().__init__(token, slack_channel, thread_id, proxy)
        if api_url:
            self.client = AsyncWebClient(token, base_url=api_url, proxy=proxy)

    async def _post_message(self, channel: str, **kwargs: Any) -> None:
        # Apps made since 2020 get `invalid_arguments` for any as_user.
        kwargs.pop("as_user", None)
        try:
            await super()._post_message(channel, **kwargs)
        except SLACK_FAILURES as error:
            # The turn goes on: the person sees what could be posted.
            logger.error("could not post to Slack (%s): %s", channel, _why(error))

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        if not buttons or len(buttons) > MAX_BUTTONS:
            # The text names the choices too: they can be typed.
            await self.send_text_message(recipient_id, text, **kwargs)
            return
        elements = [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": _label(button["title"])},
                "value": button["payload"],
                "action_id": f"choice-{number}",
            }
            for number, button in enumerate(buttons, start=1)
        ]
        await self._post_message(
            channel=self.slack_channel or recipient_id,
            text=text,
            blocks=[
                {"type": "section", "text": {"type": "mrkdwn", "text": text}},
                {"type": "actions", "elements": elements},
            ],
        )

    async def show_pick(self, payload: dict[str, Any]) -> None:
        """Replace the buttons of a clicked question by what was picked."""
        message = payload.get("message") or {}
        channel = (payload.get("channel") or {}).get("id")
        if not message.get("ts") or not channel:
            return  # an ephemeral message, or one Slack did not send back
        picked = payload["actions"][0].get("text", {}).get("text", "")
        kept = [b for b in message.get("blocks", []) if b.get("type") != "actions"]
        kept.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"You picked *{picked}*"}],
            }
        )
        try:
            await self.client.chat_update(
                channel=channel, ts=message["ts"], text=message.get("text"), blocks=kept
            )
        except SLACK_FAILURES as error:
            logger.warning("could not mark the pick on Slack: %s", _why(error))


class SlackInput(RasaSlackInput):
    """Receives Slack's events and button clicks; see the module's docstring."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> SlackInput:
        channel = super().from_credentials(credentials)
        channel.api_url = os.environ.get("SLACK_API_URL") or None
        return channel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api_url: str | None = None
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()

    def get_output_channel(
        self, channel: str | None = None, thread_id: str | None = None
    ) -> OutputChannel:
        return SlackOutput(
            self.slack_token,
            channel or self.slack_channel,
            thread_id,
            self.proxy,
            self.api_url,
        )

    def get_metadata(self, request: Request) -> dict[str, Any]:
        """Where to answer and who the bot is, from an event or a click."""
        media_type = _media_type(request)
        if media_type == "application/json":
            return _event_metadata(request.json or {})
        if media_type == "application/x-www-form-urlencoded":
            return _click_metadata(json.loads(request.form.get("payload") or "{}"))
        return {}

    def blueprint(self, on_new_message) -> Blueprint:
        slack_webhook = Blueprint("slack_webhook", __name__)

        @slack_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @slack_webhook.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            if not self.is_request_from_slack_authentic(request):
                logger.warning(
                    "refused a request to the Slack webhook: its X-Slack-Signature "
                    "is missing or wrong, or its X-Slack-Request-Timestamp is more "
                    "than 5 minutes off (is SLACK_SIGNING_SECRET the app's?)"
                )
                return response.text(
                    "The request is not signed with this app's signing secret.",
                    status=HTTPStatus.UNAUTHORIZED,
                )
            media_type = _media_type(request)
            if media_type == "application/json":
                return self._on_event(request, on_new_message)
            if media_type == "application/x-www-form-urlencoded":
                return self._on_click(request, on_new_message)
            return response.text(
                f"Expected JSON or a form, got {media_type or 'no content type'}.",
                status=HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            )

        return slack_webhook

    def _on_event(self, request: Request, on_new_message) -> HTTPResponse:
        body = request.json or {}
        if body.get("type") == "url_verification":
            return response.json({"challenge": body.get("challenge", "")})
        event = body.get("event") or {}
        if body.get("type") != "event_callback" or not _is_person_writing(event):
            logger.debug("skipped a Slack event that is no one writing to the bot")
            return response.text("")

        metadata = _event_metadata(body)
        if not self._is_supported_channel(body, metadata):
            logger.debug("skipped a message in %s: not for the bot", event["channel"])
            return response.text("")
        retry = request.headers.get(self.retry_num_header)
        if not self._first_time(event):
            logger.info(
                "Slack sent a message again (retry %s, %s): it is answered once",
                retry or "none",
                request.headers.get(self.retry_reason_header) or "no reason given",
            )
            return response.text("", headers={"X-Slack-No-Retry": "1"})
        if retry:
            logger.warning(
                "Slack's retry #%s brought a message this server had not received "
                "(was it down?): answering it",
                retry,
            )

        text = self._sanitize_user_message(event["text"], metadata["users"])
        sender = self._get_conversation_id(
            event["user"], metadata["out_channel"], metadata["thread_id"]
        )
        self._hand_over(on_new_message, _unescape(text), sender, metadata)
        return response.text("")

    def _on_click(self, request: Request, on_new_message) -> HTTPResponse:
        if request.headers.get(self.retry_num_header):
            return response.text("", headers={"X-Slack-No-Retry": "1"})
        try:
            payload = json.loads(request.form.get("payload") or "")
        except json.JSONDecodeError:
            return response.text(
                "Expected a `payload` form field holding JSON.",
                status=HTTPStatus.BAD_REQUEST,
            )
        if not self._is_interactive_message(payload):
            return response.text("")
        text = self._get_interactive_response(payload["actions"][0])
        user = (payload.get("user") or {}).get("id")
        if text is None or not user:
            return response.text("")  # a link button: Slack opens the link itself

        metadata = _click_metadata(payload)
        output = self.get_output_channel(metadata["out_channel"])
        self._in_background(output.show_pick(payload))
        sender = self._get_conversation_id(
            user, metadata["out_channel"], metadata["thread_id"]
        )
        self._hand_over(on_new_message, text, sender, metadata)
        return response.text("")

    def _first_time(self, event: dict[str, Any]) -> bool:
        """False for a message already handed to the bot."""
        key = (event.get("channel", ""), event.get("ts", ""))
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)
        return True

    def _hand_over(
        self, on_new_message, text: str, sender: str, metadata: dict[str, Any]
    ) -> None:
        """Give the bot the message, and answer Slack without waiting for it."""
        thread = metadata["thread_id"] if self.use_threads else None
        message = UserMessage(
            text,
            self.get_output_channel(metadata["out_channel"], thread),
            sender,
            input_channel=self.name(),
            metadata=metadata,
        )
        self._in_background(on_new_message(message))

    def _in_background(self, coroutine) -> None:
        # A reference is kept until it is done: asyncio keeps weak ones only.
        task = asyncio.create_task(coroutine)
        self._background_tasks.add(task)
        task.add_done_callback(self._background_tasks.discard)


def _media_type(request: Request) -> str:
    return (request.content_type or "").split(";")[0].strip().lower()


def _is_person_writing(event: dict[str, Any]) -> bool:
    subtype = event.get("subtype")
    return (
        event.get("type") in ("message", "app_mention")
        and (subtype is None or subtype in PERSON_SUBTYPES)
        and not event.get("bot_id")
        and bool(event.get("user"))
        and bool(event.get("text", "").strip())
    )


def _event_metadata(body: dict[str, Any]) -> dict[str, Any]:
    event = body.get("event") or {}
    authorizations = body.get("authorizations") or [{}]
    users = body.get("authed_users") or [authorizations[0].get("user_id")]
    return {
        "out_channel": event.get("channel"),
        "thread_id": event.get("thread_ts", event.get("ts")),
        "users": [user for user in users if user],
    }


def _click_metadata(payload: dict[str, Any]) -> dict[str, Any]:
    message = payload.get("message") or {}
    user = (payload.get("user") or {}).get("id")
    return {
        "out_channel": (payload.get("channel") or {}).get("id"),
        "thread_id": message.get("thread_ts", message.get("ts")),
        "users": [user] if user else [],
    }
