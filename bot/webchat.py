"""The web chat: a page served by the Rasa server, and the socket.io channel it
talks to.

Registered in ``credentials.yml`` in place of Rasa's own ``socketio`` channel, it
is that channel (same settings, same events, same name, so the actions see
``socketio``), with:

- the page (``web/``) and the socket.io client (from ``node_modules/``, which
  ``make install`` fills) at ``/webhooks/webchat/``, on the same origin as the
  socket;
- ``/webhooks/webchat/history/<session id>``: the conversation so far, from the
  tracker store, so that a reloaded page shows it;
- a session handshake that works: Rasa 3.6 does not await python-socketio 5's
  ``enter_room``, so with ``session_persistence`` no reply reached the browser
  (https://github.com/RasaHQ/rasa/issues/13027). The session id is one the server
  made (32 hex digits), and a socket speaks only as the session it was given, so
  that no page can write into another channel's conversation ("shell-ann").
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
WEB_DIR = ROOT / "web"
SOCKETIO_CLIENT = ROOT / "node_modules/socket.io-client/dist/socket.io.min.js"
URL_PREFIX = "webchat"
# What the other pages of a conversation get when one of them sends a message.
ECHO_EVENT = "user_echo"
# What a page that reloads gets back: the latest messages, oldest first.
HISTORY_LIMIT = 200

_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")


def answer_timeout() -> float:
    """Seconds the page waits for an answer before it offers to send again."""
    return float(os.environ.get("MOVIEBOT_WEB_ANSWER_TIMEOUT") or 60)


def page_path(route: str = "/webhooks/") -> str:
    """The page's path on the Rasa server, as ``make serve`` prints it."""
    return f"{route}{URL_PREFIX}/"


class WebChatInput(SocketIOInput):
    """Rasa's socket.io channel, serving the web chat page beside it."""

    def url_prefix(self) -> str:
        return URL_PREFIX

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        # An empty list leaves cross-origin checks to the server's --cors setting.
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
        self.sio = sio
        blueprint = SocketBlueprint(sio, self.socketio_path, "webchat", __name__)
        namespace = self.namespace

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: str, data: dict | None) -> None:
            asked = (data or {}).get("session_id")
            session_id = (
                asked
                if isinstance(asked, str) and _SESSION_ID.match(asked)
                else uuid.uuid4().hex
            )
            if self.session_persistence:
                session = await sio.get_session(sid, namespace=namespace)
                if session.get("session_id"):
                    await sio.leave_room(sid, session["session_id"], namespace)
                await sio.enter_room(sid, session_id, namespace)
                await sio.save_session(sid, {"session_id": session_id}, namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)
            logger.debug("socket %s speaks as %s", sid, session_id)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: str, data: dict) -> None:
            if self.session_persistence:
                session = await sio.get_session(sid, namespace=namespace)
                sender_id = session.get("session_id")
                if not sender_id:
                    logger.warning(
                        "a message from socket %s came before its session_request; "
                        "ignored (a client sends session_request on every connect)",
                        sid,
                    )
                    return
            else:
                sender_id = sid
            text = data.get("message", "") if isinstance(data, dict) else ""
            text = text if isinstance(text, str) else ""
            metadata = data.get(self.metadata_key) if isinstance(data, dict) else None
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    logger.warning("socket %s sent metadata that is no JSON", sid)
                    metadata = None
            metadata = metadata if isinstance(metadata, dict) else {}
            if self.session_persistence:
                # The same conversation open in another tab shows what was said,
                # as it shows the answer.
                shown = metadata.get("shown")
                await sio.emit(
                    ECHO_EVENT,
                    {"text": shown if isinstance(shown, str) else text},
                    room=sender_id,
                    skip_sid=sid,
                    namespace=namespace,
                )
            await on_new_message(
                UserMessage(
                    text,
                    SocketIOOutput(sio, self.bot_message_evt),
                    sender_id,
                    input_channel=self.name(),
                    metadata=metadata,
                )
            )

        @blueprint.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            # The page's links are relative: they need the trailing slash.
            if not request.path.endswith("/"):
                return response.redirect(request.path + "/")
            settings = {
                "answerTimeoutMs": int(answer_timeout() * 1000),
                "socketPath": self.socketio_path,
                "userEvent": self.user_message_evt,
                "botEvent": self.bot_message_evt,
            }
            text = (WEB_DIR / "index.html").read_text(encoding="utf-8")
            text = text.replace(
                "{{settings}}", html.escape(json.dumps(settings), quote=True)
            )
            return response.html(text, headers={"Cache-Control": "no-cache"})

        @blueprint.route("/history/<session_id>", methods=["GET"])
        async def history(request: Request, session_id: str) -> HTTPResponse:
            if not _SESSION_ID.match(session_id):
                return response.json({"error": "not a web chat session id"}, 404)
            store = request.app.ctx.agent.tracker_store
            tracker = await store.retrieve_full_tracker(session_id)
            events = [e.as_dict() for e in tracker.events] if tracker else []
            if any(
                e.get("event") == "user" and e.get("input_channel") != self.name()
                for e in events
            ):
                return response.json({"error": "not a web chat session id"}, 404)
            return response.json(
                {"messages": history_messages(events)[-HISTORY_LIMIT:]},
                headers={"Cache-Control": "no-store"},
            )

        blueprint.static("/static", str(WEB_DIR), name="webchat_static")
        blueprint.static(
            "/socket.io.min.js", str(SOCKETIO_CLIENT), name="webchat_socketio"
        )
        return blueprint


def history_messages(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A conversation's user and bot events as the page shows them: what the
    person said (a pressed button by its title), and each bot message as the
    socket sent it."""
    messages: list[dict[str, Any]] = []
    for event in events:
        if event.get("event") == "user":
            metadata = event.get("metadata") or {}
            shown = metadata.get("shown") if isinstance(metadata, dict) else None
            text = shown if isinstance(shown, str) else event.get("text") or ""
            if messages and messages[-1] == {"from": "user", "text": text}:
                continue  # sent again because no answer came: shown once
            messages.append({"from": "user", "text": text})
        elif event.get("event") == "bot":
            messages += [{"from": "bot", **m} for m in _as_sent(event)]
    return messages


def _as_sent(event: dict[str, Any]) -> list[dict[str, Any]]:
    """What ``SocketIOOutput`` emitted for one bot event."""
    data = event.get("data") or {}
    text = (event.get("text") or "").strip()
    parts = [{"text": part} for part in text.split("\n\n")] if text else []
    buttons = data.get("buttons") or data.get("quick_replies")
    if buttons:
        parts = parts or [{"text": ""}]
        parts[-1]["quick_replies"] = [
            {"title": b.get("title"), "payload": b.get("payload")} for b in buttons
        ]
    custom = data.get("custom")
    if isinstance(custom, dict) and isinstance(custom.get("data"), dict):
        parts.append(custom["data"])
    return parts
