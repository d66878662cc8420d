"""A whole conversation over REST with both real servers, including a restart.

The recommender models are trained on the real ml-latest-small with the settings
the product uses (see the ``real_artifacts`` fixture); the Rasa model is the one
`make train` builds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RASA_MODEL = ROOT / "models" / "moviebot.tar.gz"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def signal_action_server(port: int, signum: signal.Signals) -> None:
    """Send ``signum`` to the action server on ``port`` and all it started."""
    found = subprocess.run(
        ["pgrep", "-f", f"rasa_sdk --actions actions --port {port}"],
        capture_output=True,
        text=True,
    )
    pids = [int(pid) for pid in found.stdout.split()]
    assert pids, "no action server process found"
    for pid in pids:
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            pass


class Bot:
    """`python -m bot.launcher serve` as `make serve` runs it, on free ports."""

    def __init__(self, artifacts: Path, state: Path):
        if not RASA_MODEL.exists() or not RASA_PYTHON.exists():
            pytest.fail("run `make install rasa-model` first (make test does)")
        self.rasa_port, self.action_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "MOVIEBOT_ARTIFACTS": str(artifacts),
            "DATABASE_URL": f"sqlite:///{state / 'profiles.db'}",
            "TRACKER_DB": str(state / "tracker.db"),
        }
        self.env.pop("ACTION_ENDPOINT_URL", None)
        self.log = state / "servers.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [
                    str(RASA_PYTHON),
                    "-m",
                    "bot.launcher",
                    "serve",
                    "--port",
                    str(self.rasa_port),
                    "--action-port",
                    str(self.action_port),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            if "MovieBot is ready" in self.log.read_text()[offset:]:
                return
            time.sleep(1)
        pytest.fail(
            "the servers did not start in 240 s:\n" + self.log.read_text()[-3000:]
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)

    def wait_for_log(self, text: str, count: int = 1, timeout: float = 180) -> None:
        """Wait until the servers' log holds ``text`` ``count`` times, while
        `serve` keeps running."""
        deadline = time.monotonic() + timeout
        while self.log.read_text().count(text) < count:
            assert time.monotonic() < deadline, self.log.read_text()[-3000:]
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            time.sleep(1)

    def say(self, sender: str, text: str) -> list[dict]:
        body = json.dumps({"sender": sender, "message": text}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/webhook",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def text(self, sender: str, text: str) -> str:
        return "\n".join(m.get("text", "") for m in self.say(sender, text))


@pytest.fixture
def bot(real_artifacts, tmp_path):
    bot = Bot(real_artifacts, tmp_path)
    bot.start()
    yield bot
    bot.stop()
    log = bot.log.read_text()
    assert "Traceback" not in log, log[-5000:]


def picks(reply: str) -> list[str]:
    return [line.split(". ", 1)[1] for line in reply.splitlines() if line[:1].isdigit()]


def test_whole_conversation_with_a_restart(bot):
    me = "e2e-person"
    assert "MovieBot" in bot.text(me, "hello")

    reply = bot.text(me, "I loved The Matrix, Heat was ok, and I didn't like Titanic")
    assert "The Matrix (1999): loved (5★)" in reply
    assert "Heat (1995): ok (3★)" in reply
    assert "Titanic (1997): didn't like (2★)" in reply

    messages = bot.say(me, "I really liked Sabrina")
    question = messages[-1]
    assert "Which “Sabrina” did you mean?" in question["text"]
    titles = [b["title"] for b in question["buttons"]]
    assert titles[:2] == ["Sabrina (1954)", "Sabrina (1995)"]
    # Pressing a button sends its payload.
    assert "Sabrina (1995): really liked" in bot.text(
        me, question["buttons"][1]["payload"]
    )

    reply = bot.text(me, "Incepton was amazing, Rocky 2 wasn't bad")
    assert "Inception (2010): loved (5★)" in reply
    assert "Rocky II (1979): ok (3★)" in reply

    assert "couldn't find “Zzyzx Qwerty Flarp”" in bot.text(
        me, "I saw Zzyzx Qwerty Flarp"
    )

    seen = [
        "The Matrix",
        "Heat (1995)",
        "Titanic (1997)",
        "Sabrina (1995)",
        "Inception",
    ]
    reply = bot.text(me, "what should I watch next?")
    assert "GRU" in reply
    assert len(picks(reply)) >= 5
    assert not any(title in pick for pick in picks(reply) for title in seen)

    reply = bot.text(me, "what is best for me?")
    assert "autoencoder" in reply
    assert len(picks(reply)) >= 5
    assert not any(title in pick for pick in picks(reply) for title in seen)

    assert "I got no words there" in bot.text(me, "")
    assert "I got no words there" in bot.text(me, "😀🎬🍿")
    reply = bot.text(me, "x" * 5000)
    assert "couldn't find “xxx" in reply and "long message" in reply
    assert "I only know about movies" in bot.text(me, "what's the weather in Paris?")
    assert "Are you sure?" in bot.text(me, "forget me")
    assert "keep your profile" in bot.text(me, "no")
    # Text that looks like SQL is only text: whatever intent it gets, it answers.
    reply = bot.text(me, "'; DROP TABLE watched_movies; --")
    assert reply and "went wrong" not in reply
    # Nothing was lost.
    assert "Heat (1995): already in your profile, ok (3★)" in bot.text(
        me, "Heat was ok"
    )

    # Both servers stop on SIGTERM, and nothing is left listening.
    bot.stop()
    assert bot.process.returncode == 0
    assert not port_open(bot.rasa_port) and not port_open(bot.action_port)

    bot.start()
    reply = bot.text(me, "what should I watch next?")
    assert "your 6 movies" in reply
    assert len(picks(reply)) >= 5
    profile = bot.text(me, "show my movies")
    assert "Sabrina (1995)" in profile and "The Matrix (1999)" in profile


def test_a_new_person_gets_help_before_recommendations(bot):
    reply = bot.text("e2e-newcomer", "what is best for me?")
    assert "needs at least 5 rated movies" in reply
    assert len(picks(reply)) >= 5


REFUSED = [
    ({"message": "I loved Heat"}, '"sender" must be a non-empty string'),
    ({"sender": "", "message": "I loved Heat"}, '"sender" must be'),
    ({"sender": 42, "message": "I loved Heat"}, '"sender" must be'),
    ({"sender": "x" * 300, "message": "hi"}, "at most 255 characters"),
    ({"sender": "e2e-odd", "message": 42}, '"message" must be a string'),
    ({"sender": "e2e-odd", "message": ["a"]}, '"message" must be a string'),
    (["I loved Heat"], "send a JSON object"),
    ({"sender": "e2e-odd", "message": "hi", "metadata": "x"}, '"metadata" must be'),
    ({"sender": "e2e-odd", "message": "hi", "input_channel": ["x"]}, "must be a"),
]


def test_a_rest_request_for_no_one_is_refused(bot):
    for body, why in REFUSED:
        request = urllib.request.Request(
            f"http://127.0.0.1:{bot.rasa_port}/webhooks/rest/webhook",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=60)
        assert refused.value.code == 400, body
        assert why in json.loads(refused.value.read())["message"], body
    # Nothing was filed under Rasa's stand-in sender id.
    assert bot.text("default", "show my movies") == (
        "Your profile is empty: tell me a movie you watched."
    )
    # A message of null is an empty one, which gets an answer.
    assert bot.say("e2e-odd", None)


def test_a_crashed_action_server_is_started_again_and_nothing_is_lost(
    real_artifacts, tmp_path
):
    bot = Bot(real_artifacts, tmp_path)
    bot.start()
    try:
        me = "crash-person"
        assert "Heat (1995): loved (5★)" in bot.text(me, "I loved Heat")
        # As the kernel's out-of-memory killer would.
        signal_action_server(bot.action_port, signal.SIGKILL)
        bot.wait_for_log("the action server is back")
        reply = bot.text(me, "show my movies")
        assert "Heat (1995)" in reply

        # Now it hangs: it still holds its port but answers nothing, which
        # only its health shows.
        signal_action_server(bot.action_port, signal.SIGSTOP)
        bot.wait_for_log("the action server is back", count=2, timeout=240)
        assert "Jaws (1975)" in bot.text(me, "Jaws was ok")
        assert "Heat (1995)" in bot.text(me, "show my movies")
    finally:
        bot.stop()
    log = bot.log.read_text()
    assert "the action server stopped (killed by SIGKILL); starting it again" in log
    assert "the action server has not answered at" in log, log[-3000:]
