"""`make chat`: the terminal client, run in a real terminal (a pty) against the
real Rasa and action servers, as a person uses it.

The recommender models are the tiny ones of ``conftest``; the Rasa model is the
one `make train` builds.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pexpect
import pytest
from sqlalchemy import create_engine, text

from bot import terminal
from bot.launcher import start_actions, stop
from recommender.profiles import Entry, Person, ProfileStore
from tests.test_e2e import (
    RASA_MODEL,
    RASA_PYTHON,
    ROOT,
    free_port,
    port_open,
    signal_action_server,
)

PROMPT = terminal.PROMPT
SABRINA_1995, HEAT, UP = 7, 2, 13  # in the tiny MovieLens

SABRINA_QUESTION = {
    "text": "Which “Sabrina” did you mean? Answer with the number, the year or the "
    "title (or “none”):\n1. Sabrina (1954)\n2. Sabrina (1995)",
    "buttons": [
        {"title": "Sabrina (1954)", "payload": '/choose_movie{"choice": "1"}'},
        {"title": "Sabrina (1995)", "payload": '/choose_movie{"choice": "2"}'},
        {"title": "None of these", "payload": '/choose_movie{"choice": "none"}'},
    ],
}


def test_choices_are_numbered_once_and_a_number_presses_its_button():
    shown, choices = terminal.render([{"text": "Sorry."}, SABRINA_QUESTION])
    assert shown[0] == ["Sorry."]
    # The question numbers its movies itself; only the third choice is added.
    assert shown[1][1:] == [
        "1. Sabrina (1954)",
        "2. Sabrina (1995)",
        "3. None of these",
    ]

    assert terminal.message_for("2", choices) == (
        '/choose_movie{"choice": "2"}',
        terminal.Choice("Sabrina (1995)", '/choose_movie{"choice": "2"}'),
    )
    assert terminal.message_for("3", choices)[0] == '/choose_movie{"choice": "none"}'
    # Anything else goes as typed: a number out of range, the year, words.
    for typed in ("4", "0", "1995", "the older one"):
        assert terminal.message_for(typed, choices) == (typed, None)
    assert terminal.message_for("2", []) == ("2", None)


def test_buttons_without_numbered_text_are_listed():
    shown, choices = terminal.render(
        [
            {
                "text": "That deletes your profile (3 movies). Are you sure?",
                "buttons": [
                    {"title": "Yes, forget me", "payload": "/affirm"},
                    {"title": "No, keep it", "payload": "/deny"},
                ],
            }
        ]
    )
    assert shown == [
        [
            "That deletes your profile (3 movies). Are you sure?",
            "1. Yes, forget me",
            "2. No, keep it",
        ]
    ]
    assert terminal.message_for("1", choices)[0] == "/affirm"


@pytest.mark.parametrize("ending", ["/stop", "/quit", EOFError, KeyboardInterrupt])
def test_empty_lines_are_skipped_and_the_chat_ends_cleanly(ending):
    # Nothing listens on this port: had the chat sent anything, it would report
    # the server gone and end with 1.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    lines = iter(["", "   ", ending])

    def read(prompt: str) -> str:
        assert prompt == PROMPT
        line = next(lines)
        if isinstance(line, type):
            raise line
        return line

    written: list[str] = []
    client = terminal.RestClient(f"http://127.0.0.1:{port}/webhooks/rest/webhook", "x")
    chat = terminal.TerminalChat(client, read=read, write=written.append)
    assert chat.run() == 0
    assert written[-1].startswith("Bye!")


# --- the real client against the real servers -----------------------------------


class Chat:
    """`python -m bot.launcher chat` in a pty, as `make chat` runs it; under make
    itself with ``via_make``."""

    def __init__(
        self,
        artifacts: Path,
        state: Path,
        sender: str,
        *options: str,
        via_make: bool = False,
    ):
        if not RASA_MODEL.exists() or not RASA_PYTHON.exists():
            pytest.fail("run `make install rasa-model` first (make test does)")
        self.state = state
        self.sender = sender
        self.rasa_port, self.action_port = free_port(), free_port()
        self.profiles = f"sqlite:///{state / 'profiles.db'}"
        self.tracker_db = state / "tracker.db"
        self.env = {
            **os.environ,
            "MOVIEBOT_ARTIFACTS": str(artifacts),
            "DATABASE_URL": self.profiles,
            "TRACKER_DB": str(self.tracker_db),
        }
        self.env.pop("ACTION_ENDPOINT_URL", None)
        command = [
            str(RASA_PYTHON),
            "-m",
            "bot.launcher",
            "chat",
            "--as",
            sender,
            "--port",
            str(self.rasa_port),
            "--action-port",
            str(self.action_port),
            "--log-dir",
            str(state),
            *options,
        ]
        if via_make:
            # The recipe of `make chat`, without its set-up prerequisites.
            makefile = state / "Makefile"
            makefile.write_text(f"chat:\n\t@{shlex.join(command)}\n")
            command = ["make", "--no-print-directory", "-f", str(makefile), "chat"]
        self.child = pexpect.spawn(
            command[0],
            command[1:],
            cwd=ROOT,
            env=self.env,
            encoding="utf-8",
            timeout=60,
            dimensions=(50, 250),
        )
        # Shown by pytest when a test fails.
        self.child.logfile_read = sys.stdout

    def say(self, line: str, expect: str, timeout: float = 60) -> str:
        """Type ``line``; returns everything shown up to the next prompt."""
        self.child.sendline(line)
        self.child.expect_exact(expect, timeout=timeout)
        shown = self.child.before + expect
        self.child.expect_exact(PROMPT, timeout=timeout)
        return (shown + self.child.before).replace("\r\n", "\n")

    def profile(self, channel: str) -> list[Entry]:
        return ProfileStore(self.profiles).history(Person(self.sender, channel))

    def events(self) -> list[tuple[str, dict]]:
        """The conversation as Rasa's tracker store keeps it."""
        engine = create_engine(f"sqlite:///{self.tracker_db}")
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT type_name, data FROM events WHERE sender_id = :sender "
                    "ORDER BY id"
                ),
                {"sender": self.sender},
            ).all()
        engine.dispose()
        return [(kind, json.loads(data)) for kind, data in rows]

    def ended(self, timeout: float = 60) -> int:
        self.child.expect(pexpect.EOF, timeout=timeout)
        self.child.close()
        return self.child.exitstatus

    def close(self) -> None:
        if self.child.isalive():
            # As a closed terminal does: the chat stops its servers first.
            self.child.kill(signal.SIGTERM)
            self.child.expect(pexpect.EOF, timeout=60)
        self.child.close()


@pytest.fixture
def chats(tiny_artifacts, tmp_path):
    started: list[Chat] = []

    def start(sender: str, *options: str, via_make: bool = False) -> Chat:
        started.append(
            Chat(tiny_artifacts, tmp_path, sender, *options, via_make=via_make)
        )
        return started[-1]

    yield start
    for chat in started:
        chat.close()
        assert not port_open(chat.rasa_port), "the Rasa server outlived the chat"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def rest(chat: Chat, message: str) -> str:
    """``message`` from the chat's sender id, over the plain REST channel."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{chat.rasa_port}/webhooks/rest/webhook",
        data=json.dumps({"sender": chat.sender, "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return "\n".join(m.get("text", "") for m in json.loads(response.read()))


def user_texts(events: list[tuple[str, dict]]) -> list[str]:
    return [data.get("text") for kind, data in events if kind == "user"]


@pytest.mark.slow
@pytest.mark.e2e
def test_a_slow_action_server_is_waited_for_then_choices_and_forgetting_work(
    chats, tiny_artifacts, tmp_path
):
    action_port = free_port()
    chat = chats(
        "ann-at-the-terminal", "--action-server", f"http://127.0.0.1:{action_port}"
    )
    chat.child.expect_exact("waiting for the action server", timeout=30)

    # The Rasa server comes up; with no action server yet, the chat keeps waiting.
    deadline = time.monotonic() + 180
    while not answers(f"http://127.0.0.1:{chat.rasa_port}/"):
        assert time.monotonic() < deadline, "the Rasa server did not start"
        assert chat.child.isalive()
        time.sleep(1)
    assert chat.child.expect_exact([PROMPT, pexpect.TIMEOUT], timeout=3) == 1
    assert chat.child.isalive()

    actions = start_actions(action_port, chat.env, tmp_path / "late-action-server.log")
    try:
        chat.child.expect_exact("MovieBot is ready", timeout=180)
        chat.child.expect_exact(PROMPT)

        # An ambiguous title: numbered options, each once, then the number.
        shown = chat.say("I really liked Sabrina", "Which “Sabrina” did you mean?")
        for option in ("1. Sabrina (1954)", "2. Sabrina (1995)", "3. None of these"):
            assert shown.count(option) == 1, shown
        shown = chat.say("2", "Sabrina (1995): really liked (4.5★)")
        assert "→ Sabrina (1995)" in shown
        assert chat.profile("terminal") == [Entry(SABRINA_1995, 4.5, 1)]

        # The same sender id over REST is another person, with another profile.
        assert "Heat (1995): loved (5★)" in rest(chat, "I loved Heat")
        assert chat.profile("rest") == [Entry(HEAT, 5.0, 1)]
        assert chat.profile("terminal") == [Entry(SABRINA_1995, 4.5, 1)]

        # An empty line is no message.
        chat.child.sendline("")
        chat.child.expect_exact(PROMPT)

        shown = chat.say("forget me", "Are you sure?")
        assert "1. Yes, forget me" in shown and "2. No, keep it" in shown
        assert "Done: I deleted your profile (1 movie)" in chat.say("1", "afresh")
        assert chat.profile("terminal") == []
        assert chat.profile("rest") == [Entry(HEAT, 5.0, 1)]
        # Nothing said before is kept; Rasa's conversation starts anew.
        events = chat.events()
        assert user_texts(events) == []
        assert "Sabrina" not in json.dumps(events)
        assert [(kind, data.get("name")) for kind, data in events] == [
            ("action", "action_session_start"),
            ("session_started", None),
            ("action", "action_listen"),
        ]

        shown = chat.say("show my movies", "Your profile is empty")
        assert user_texts(chat.events()) == ["show my movies"]
        assert "I got no words" not in shown
        chat.say("Up was ok", "Up (2009): ok (3★)")
        assert chat.profile("terminal") == [Entry(UP, 3.0, 1)]

        # The action server dies mid-chat: the chat says so and ends.
        stop(actions, "action server")
        chat.child.sendline("I loved Jaws")
        chat.child.expect_exact("MovieBot stopped answering: the action server")
        chat.child.expect_exact(f"http://127.0.0.1:{action_port}/health")
        assert chat.ended() == 1
    finally:
        stop(actions, "action server")


@pytest.mark.slow
@pytest.mark.e2e
def test_make_chat_starts_both_servers_quietly_and_ctrl_c_stops_them(chats, tmp_path):
    chat = chats("bob-at-the-terminal", via_make=True)
    chat.child.expect_exact("waiting for the action server", timeout=30)
    chat.child.expect_exact("MovieBot is ready", timeout=240)
    chat.child.expect_exact(PROMPT)
    # The servers' own start-up lines went to their logs, not to the chat.
    start_up = chat.child.before
    assert "Rasa server is up and running" not in start_up
    assert "Rasa server is up and running" in (tmp_path / "rasa-server.log").read_text()
    assert (
        "Action endpoint is up and running"
        in (tmp_path / "action-server.log").read_text()
    )

    assert "Heat (1995): loved (5★)" in chat.say("I loved Heat", "loved (5★)")
    assert chat.profile("terminal") == [Entry(HEAT, 5.0, 1)]

    # Ctrl-C reaches the chat alone: make reports no interrupted target.
    chat.child.sendintr()
    chat.child.expect_exact("Bye!")
    assert chat.ended() == 0
    assert "Interrupt" not in chat.child.before
    assert not port_open(chat.rasa_port) and not port_open(chat.action_port)


@pytest.mark.slow
@pytest.mark.e2e
def test_a_crashed_action_server_is_started_again_and_the_message_answered(chats):
    chat = chats("carol-at-the-terminal")
    chat.child.expect_exact("MovieBot is ready", timeout=240)
    chat.child.expect_exact(PROMPT)
    assert "Heat (1995): loved (5★)" in chat.say("I loved Heat", "loved (5★)")

    # As the kernel's out-of-memory killer would.
    signal_action_server(chat.action_port, signal.SIGKILL)

    shown = chat.say("show my movies", "Heat (1995)", timeout=180)
    assert "starting it again" in shown
    assert "it is back, so once more" in shown
    assert chat.profile("terminal") == [Entry(HEAT, 5.0, 1)]
    assert chat.child.isalive()


@pytest.mark.slow
@pytest.mark.e2e
def test_ctrl_c_while_waiting_stops_the_starting_rasa_server(chats):
    nowhere = free_port()
    chat = chats("carol", "--action-server", f"http://127.0.0.1:{nowhere}")
    chat.child.expect_exact("waiting for the action server", timeout=30)
    chat.child.sendintr()
    chat.child.expect_exact("stopping the Rasa server")
    assert chat.ended() == 0
    assert not rasa_servers_of(chat), "the Rasa server outlived the chat"


@pytest.mark.slow
@pytest.mark.e2e
def test_an_action_server_that_never_comes_is_a_clear_error(chats, monkeypatch):
    monkeypatch.setenv("MOVIEBOT_START_TIMEOUT", "3")
    nowhere = free_port()
    chat = chats("dan", "--action-server", f"http://127.0.0.1:{nowhere}")
    chat.child.expect_exact(
        f"the action server did not answer at http://127.0.0.1:{nowhere}/health in 3 s"
    )
    assert chat.ended() == 1
    assert not rasa_servers_of(chat), "the Rasa server outlived the chat"


def rasa_servers_of(chat: Chat) -> list[int]:
    """Processes of a Rasa server on the chat's port, still running."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # not a process, or gone
        if b"bot.rasa_cli" in command and str(chat.rasa_port).encode() in command:
            found.append(int(entry.name))
    return found
