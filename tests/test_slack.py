"""Slack: signed events and button clicks to the real Rasa server, the bot's answers
caught by a Slack Web API on loopback.

The servers are started once for the module, as `make serve` starts them, with a
test token and signing secret in their environment and ``SLACK_API_URL`` pointing
at the fake. A message the bot must not answer is followed by one it must answer,
from the same person: Rasa handles one person's messages in order, so once the
second is answered, an answer to the first would have come already.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot import launcher
from tests.test_e2e import Bot

TOKEN = "xoxb-test-token"
SECRET = "test-signing-secret"
BOT_USER = "UMOVIEBOT"
# Slack gives up on an answer after 3 seconds, and retries.
SLACK_WAIT = 3.0
# What "show my movies" starts with: the answer that closes a check for silence.
PROFILE = ("Your profile is empty", "Your movies, in the order")


def on_servers(test):
    """Marks a test that starts the real servers, like test_e2e.py's."""
    return pytest.mark.slow(pytest.mark.e2e(test))


class FakeSlack:
    """The Slack Web API on loopback: records each call, answers ``ok``."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.slow_channels: dict[str, float] = {}
        self.changed = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self):
        fake = self
        stamps = itertools.count(1)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    body = json.loads(raw or b"{}")
                else:
                    body = dict(urllib.parse.parse_qsl(raw.decode()))
                time.sleep(fake.slow_channels.get(body.get("channel"), 0))
                call = {
                    "method": self.path.rsplit("/", 1)[-1],
                    "body": body,
                    "auth": self.headers.get("Authorization"),
                    "answered": time.monotonic(),
                }
                with fake.changed:
                    fake.calls.append(call)
                    fake.changed.notify_all()
                answer = json.dumps(
                    {
                        "ok": True,
                        "channel": body.get("channel"),
                        "ts": f"{next(stamps)}.0",
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        return Handler

    def posts(self, channel: str, method: str = "chat.postMessage") -> list[dict]:
        with self.changed:
            return [
                call["body"]
                for call in self.calls
                if call["method"] == method and call["body"].get("channel") == channel
            ]

    def wait_for(self, channel: str, words: str | tuple[str, ...]) -> dict:
        """The first message posted to ``channel`` with any of ``words`` in it."""
        words = (words,) if isinstance(words, str) else words
        deadline = time.monotonic() + 60
        with self.changed:
            while time.monotonic() < deadline:
                for post in self.posts(channel):
                    if any(word in post.get("text", "") for word in words):
                        return post
                self.changed.wait(0.5)
        pytest.fail(f"no message with {words} in {channel}: {self.posts(channel)}")


def signed(body: bytes, secret: str = SECRET, at: float | None = None) -> dict:
    """Slack's signature headers: HMAC-SHA256 of ``v0:<timestamp>:<body>``."""
    timestamp = str(int(time.time() if at is None else at))
    base = f"v0:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"}


class Person:
    """Someone writing to the bot in a direct message, as Slack delivers it."""

    stamps = itertools.count(1)

    def __init__(self, bot: Bot, slack: FakeSlack, name: str) -> None:
        self.url = f"http://127.0.0.1:{bot.rasa_port}/webhooks/slack/webhook"
        self.slack = slack
        self.user, self.channel = f"U{name.upper()}", f"D{name.upper()}"

    def event(self, text: str, **fields) -> dict:
        stamp = next(self.stamps)
        return {
            "type": "event_callback",
            "team_id": "TMOVIES",
            "event_id": f"Ev{stamp:08d}",
            "event_time": int(time.time()),
            "authorizations": [{"user_id": BOT_USER, "is_bot": True}],
            "event": {
                "type": "message",
                "channel_type": "im",
                "channel": self.channel,
                "user": self.user,
                "text": text,
                "ts": f"{int(time.time())}.{stamp:06d}",
                **fields,
            },
        }

    def send(
        self, body: bytes, content_type: str, headers: dict | None = None
    ) -> tuple[int, bytes, float]:
        """Status, answer and seconds taken, as Slack sees them."""
        request = urllib.request.Request(
            self.url,
            data=body,
            headers={"Content-Type": content_type, **(headers or {})},
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, answer = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, answer = error.code, error.read()
        return status, answer, time.monotonic() - started

    def post_event(self, event: dict, headers: dict | None = None) -> int:
        """Deliver a signed event; Slack must get 200 within 3 seconds."""
        body = json.dumps(event).encode()
        status, _, seconds = self.send(
            body, "application/json", {**signed(body), **(headers or {})}
        )
        assert status == 200 and seconds < SLACK_WAIT, (status, seconds)
        return status

    def says(self, text: str) -> dict:
        event = self.event(text)
        self.post_event(event)
        return event

    def clicks(self, question: dict, label: str) -> None:
        """Click the button labelled ``label`` under ``question``."""
        (actions,) = [b for b in question["blocks"] if b["type"] == "actions"]
        (button,) = [e for e in actions["elements"] if e["text"]["text"] == label]
        payload = {
            "type": "block_actions",
            "user": {"id": self.user},
            "channel": {"id": self.channel},
            "container": {"type": "message", "channel_id": self.channel},
            "message": {
                "ts": "1.0",
                "text": question["text"],
                "blocks": question["blocks"],
            },
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "text": button["text"],
                    "value": button["value"],
                }
            ],
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        status, _, seconds = self.send(
            body, "application/x-www-form-urlencoded", signed(body)
        )
        assert status == 200 and seconds < SLACK_WAIT, (status, seconds)

    def profile(self) -> str:
        """Ask for the profile and wait for it: every earlier message is handled."""
        count = len(self.slack.posts(self.channel))
        self.says("show my movies")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for post in self.slack.posts(self.channel)[count:]:
                if post["text"].startswith(PROFILE):
                    return post["text"]
            time.sleep(0.2)
        pytest.fail(f"no profile in {self.slack.posts(self.channel)[count:]}")

    def texts(self) -> str:
        return "\n".join(
            post.get("text", "") for post in self.slack.posts(self.channel)
        )


@pytest.fixture(scope="module")
def slack():
    fake = FakeSlack()
    yield fake
    fake.server.shutdown()


@pytest.fixture(scope="module")
def bot(real_artifacts, tmp_path_factory, slack):
    bot = Bot(real_artifacts, tmp_path_factory.mktemp("slack"))
    bot.env.update(
        SLACK_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=slack.url
    )
    # The Slack client takes a proxy from these even for loopback.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        bot.env.pop(name, None)
    bot.start()
    yield bot
    bot.stop()
    log = bot.log.read_text()
    assert "Traceback" not in log, log[-5000:]
    assert TOKEN not in log and SECRET not in log


# Turning Slack on and off: what the launcher gives the Rasa server.


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    (tmp_path / "var").mkdir()
    (tmp_path / "credentials.yml").write_text(
        (launcher.ROOT / "credentials.yml").read_text()
    )
    monkeypatch.setattr(launcher, "ROOT", tmp_path)
    return tmp_path


def test_slack_is_off_without_its_variables(checkout, caplog):
    caplog.set_level(logging.INFO)
    assert launcher.channels({}, 5005) == checkout / "credentials.yml"
    assert "Slack is off (set SLACK_TOKEN and SLACK_SIGNING_SECRET" in caplog.text


@pytest.mark.parametrize("given", ["SLACK_TOKEN", "SLACK_SIGNING_SECRET"])
def test_one_slack_variable_alone_says_which_is_missing(checkout, caplog, given):
    missing = ({"SLACK_TOKEN", "SLACK_SIGNING_SECRET"} - {given}).pop()
    assert launcher.channels({given: "x"}, 5005) == checkout / "credentials.yml"
    assert f"Slack is off: {given} is set but {missing} is not" in caplog.text


def test_slack_secrets_stay_in_the_environment(checkout, caplog):
    caplog.set_level(logging.INFO)
    env = {"SLACK_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET}
    path = launcher.channels(env, 5123)
    written = path.read_text()
    assert path == checkout / "var" / "credentials.yml"
    assert written.startswith((checkout / "credentials.yml").read_text().rstrip())
    assert "bot.slack.SlackInput:" in written
    assert "slack_token: ${SLACK_TOKEN}" in written
    assert "slack_signing_secret: ${SLACK_SIGNING_SECRET}" in written
    assert TOKEN not in written and SECRET not in written
    assert "Slack is on" in caplog.text
    assert "http://localhost:5123/webhooks/slack/webhook" in caplog.text
    assert TOKEN not in caplog.text and SECRET not in caplog.text


# The real servers.


@on_servers
def test_slack_checks_the_request_url(bot):
    person = Person(bot, None, "verify")
    body = json.dumps({"type": "url_verification", "challenge": "c-42"}).encode()
    status, answer, _ = person.send(body, "application/json", signed(body))
    assert status == 200 and json.loads(answer) == {"challenge": "c-42"}
    # Only Slack may verify the address, too.
    status, _, _ = person.send(body, "application/json", signed(body, "not-it"))
    assert status == 401


@on_servers
def test_a_message_is_answered_in_its_channel_with_the_token(bot, slack):
    person = Person(bot, slack, "ann")
    person.says("I loved The Matrix and Heat was ok")
    reply = slack.wait_for(person.channel, "The Matrix (1999): loved")
    assert "Heat (1995): ok" in reply["text"]
    (call,) = [c for c in slack.calls if c["body"] is reply]
    assert call["auth"] == f"Bearer {TOKEN}"
    assert "as_user" not in reply

    # Slack escapes &, < and >; the bot reads them as typed.
    person.says("Dumb &amp; Dumber was ok")
    assert "Dumb & Dumber" in slack.wait_for(person.channel, "Dumb & Dumber")["text"]


@on_servers
def test_choices_are_buttons_and_a_click_answers(bot, slack):
    person = Person(bot, slack, "bea")
    person.says("I really liked Sabrina")
    question = slack.wait_for(person.channel, "Which “Sabrina” did you mean?")
    (actions,) = [b for b in question["blocks"] if b["type"] == "actions"]
    labels = [e["text"]["text"] for e in actions["elements"]]
    assert labels[:2] == ["Sabrina (1954)", "Sabrina (1995)"]
    assert labels[-1] == "None of these"

    person.clicks(question, "Sabrina (1995)")
    slack.wait_for(person.channel, "Sabrina (1995): really liked")
    profile = person.profile()
    assert "Sabrina (1995)" in profile and "Sabrina (1954)" not in profile
    # The question now shows the pick instead of its buttons.
    (update,) = slack.posts(person.channel, "chat.update")
    assert update["ts"] == "1.0"
    assert [b["type"] for b in update["blocks"]] == ["section", "context"]
    assert "Sabrina (1995)" in update["blocks"][-1]["elements"][0]["text"]


@on_servers
def test_requests_not_signed_by_slack_are_refused_and_unanswered(bot, slack):
    person = Person(bot, slack, "eve")
    now = time.time()
    for text, headers in [
        ("I loved Heat", {}),
        ("I loved Heat", "wrong secret"),
        ("I loved Heat", "other body"),
        ("I loved Heat", now - 6 * 60),
        ("I loved Heat", now + 6 * 60),
    ]:
        body = json.dumps(person.event(text)).encode()
        if headers == "wrong secret":
            headers = signed(body, "not-the-secret")
        elif headers == "other body":
            headers = signed(json.dumps(person.event("I loved Up")).encode())
        elif isinstance(headers, float):
            headers = signed(body, at=headers)
        status, _, _ = person.send(body, "application/json", headers)
        assert status == 401, headers

    click = {
        "type": "block_actions",
        "user": {"id": person.user},
        "channel": {"id": person.channel},
        "actions": [{"type": "button", "value": "I loved Heat"}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(click)}).encode()
    headers = signed(body, "not-the-secret")
    status, _, _ = person.send(body, "application/x-www-form-urlencoded", headers)
    assert status == 401

    assert person.profile().startswith("Your profile is empty")
    assert "Heat" not in person.texts()


@on_servers
def test_a_retry_gets_no_second_reply(bot, slack):
    person = Person(bot, slack, "rex")
    event = person.says("I loved Heat")
    slack.wait_for(person.channel, "Heat (1995): loved")
    for reason in ("http_timeout", "http_error", "connection_failed"):
        person.post_event(
            event, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": reason}
        )
    # The same message as a mention too, as Slack sends it in a channel.
    mention = {**event, "event": {**event["event"], "type": "app_mention"}}
    person.post_event(mention)

    assert "Heat (1995)" in person.profile()
    assert person.texts().count("✓ Heat (1995): loved") == 1
    assert "already in your profile" not in person.texts()

    # A retry of a message the server never got is the only delivery.
    lost = person.event("Up was ok")
    person.post_event(lost, {"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "x"})
    slack.wait_for(person.channel, "Up (2009): ok")


@on_servers
def test_edits_and_bot_messages_are_not_read(bot, slack):
    person = Person(bot, slack, "ida")
    heat = {"type": "message", "text": "I loved Heat", "user": person.user}
    for fields in [
        {"bot_id": "BMOVIEBOT", "subtype": "bot_message", "user": BOT_USER},
        {"bot_id": "BMOVIEBOT", "user": BOT_USER},
        {"subtype": "message_changed", "message": heat, "previous_message": heat},
        {"subtype": "message_deleted", "previous_message": heat},
        {"subtype": "channel_join"},
    ]:
        person.post_event(person.event("I loved Heat", **fields))
    assert person.profile().startswith("Your profile is empty")
    assert "Heat" not in person.texts()


@on_servers
def test_a_mention_in_a_channel_is_answered_there(bot, slack):
    person = Person(bot, slack, "max")
    event = person.event(f"<@{BOT_USER}> Up was ok", type="app_mention")
    event["event"].update(channel="CMOVIES", channel_type="channel")
    person.post_event(event)
    assert "Up (2009): ok" in slack.wait_for("CMOVIES", "Up (2009)")["text"]
    # A channel message not addressed to the bot is not for it.
    chatter = person.event("Heat was ok")
    chatter["event"].update(channel="CMOVIES", channel_type="channel")
    person.post_event(chatter)
    profile = person.profile()
    assert "Up (2009)" in profile and "Heat" not in profile


@on_servers
def test_slack_gets_its_answer_before_a_slow_turn_ends(bot, slack):
    person = Person(bot, slack, "sam")
    # Each message the bot posts takes Slack 4 s: the turn outlasts Slack's wait.
    slack.slow_channels[person.channel] = SLACK_WAIT + 1
    started = time.monotonic()
    person.says("what should I watch next?")
    acknowledged = time.monotonic()
    reply = slack.wait_for(person.channel, ("Watch next", "any movies of yours"))
    (call,) = [c for c in slack.calls if c["body"] is reply]
    assert acknowledged - started < SLACK_WAIT
    assert call["answered"] - started > SLACK_WAIT
    # The picks come as a list of links Slack shows as titles.
    picks = [line for line in reply["text"].splitlines() if line[:1].isdigit()]
    assert len(picks) >= 5
    assert all(re.match(r"\d+\. <https://[^|>]+\|[^>]+>", line) for line in picks)
    slack.slow_channels.clear()
