"""Chat with MovieBot in a terminal, over the Rasa server's REST channel.

    python -m bot.launcher chat    # starts both servers, then this chat

Messages go out as the "terminal" channel, so a terminal profile is its own (see
``recommender.profiles``). Choices the bot offers as buttons are numbered, and
typing the number presses the button; anything else typed is sent as it is.
Standard library only: it runs under either virtual environment.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

logger = logging.getLogger(__name__)

CHANNEL = "terminal"
STOP_COMMANDS = frozenset({"/stop", "/quit", "/exit"})
PROMPT = "you> "
BOT = "bot> "
INDENT = " " * len(BOT)
# A recommendation on a small machine takes seconds; a first one loads a model.
REPLY_TIMEOUT = 300.0


@dataclass(frozen=True)
class Choice:
    title: str
    payload: str


class ServerGone(RuntimeError):
    """The Rasa server did not answer a message."""


class RestClient:
    """Sends one person's messages to Rasa's REST webhook, as the terminal."""

    def __init__(self, url: str, sender: str, timeout: float = REPLY_TIMEOUT):
        self.url = url
        self.sender = sender
        self.timeout = timeout

    def send(self, message: str) -> list[dict]:
        """The bot's answers to ``message``, in order."""
        body = {"sender": self.sender, "message": message, "input_channel": CHANNEL}
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise ServerGone(f"no answer from {self.url}: {error}") from error


def render(messages: list[dict]) -> tuple[list[list[str]], list[Choice]]:
    """The lines of each message, and the choices the last one with buttons offers.

    Buttons become numbered lines, except those the text numbers already (the
    which-movie question lists its movies itself).
    """
    shown: list[list[str]] = []
    choices: list[Choice] = []
    for message in messages:
        text = message.get("text") or ""
        lines = text.splitlines()
        if message.get("image"):
            lines.append(f"[image] {message['image']}")
        if message.get("custom"):
            lines.append(json.dumps(message["custom"], ensure_ascii=False))
        buttons = message.get("buttons") or []
        if buttons:
            choices = [
                Choice(b.get("title") or b["payload"], b.get("payload") or b["title"])
                for b in buttons
            ]
            listed = {line.strip() for line in lines}
            for number, choice in enumerate(choices, start=1):
                if f"{number}. {choice.title}" not in listed:
                    lines.append(f"{number}. {choice.title}")
        if lines:
            shown.append(lines)
    return shown, choices


def message_for(line: str, choices: list[Choice]) -> tuple[str, Choice | None]:
    """What to send for a typed ``line``: a choice's payload for its number,
    else the line itself."""
    if line.isdigit() and 1 <= int(line) <= len(choices):
        choice = choices[int(line) - 1]
        return choice.payload, choice
    return line, None


class TerminalChat:
    """Reads lines, sends them, prints the answers, until /stop, Ctrl-D or Ctrl-C.

    ``trouble`` says what is wrong when an answer does not come (a server that
    stopped, say), or None when nothing is. ``mend`` starts again what stopped,
    and says whether it did: the message is then sent once more.
    """

    def __init__(
        self,
        client: RestClient,
        trouble: Callable[[], str | None] = lambda: None,
        read: Callable[[str], str] = input,
        write: Callable[[str], None] | None = None,
        mend: Callable[[], bool] = lambda: False,
    ):
        self.client = client
        self.trouble = trouble
        self.mend = mend
        self.read = read
        self.write = write or self._print

    @staticmethod
    def _print(text: str) -> None:
        print(text, flush=True)

    def run(self) -> int:
        """Chat until the person leaves (0) or a server stops answering (1)."""
        if self.read is input and sys.stdin.isatty():
            import readline  # noqa: F401  (line editing and history for input())

        self.write(
            f"MovieBot is ready. You are “{self.client.sender}”: your movies are kept "
            "under this name.\nName movies you watched, ask “what should I watch "
            "next?”, or say “help”. Answer a numbered choice with its number; "
            "/stop or Ctrl-D leaves."
        )
        choices: list[Choice] = []
        try:
            while True:
                try:
                    line = self.read(PROMPT).strip()
                except EOFError:
                    self.write("")
                    break
                if not line:
                    continue
                if line.lower() in STOP_COMMANDS:
                    break
                message, choice = message_for(line, choices)
                if choice is not None:
                    self.write(f"  → {choice.title}")
                try:
                    answers = self._answers(message)
                except ServerGone as error:
                    return self._stopped(str(error))
                if not answers:
                    self.write(f"{BOT}(no answer)")
                shown, choices = render(answers)
                for lines in shown:
                    self.write(
                        "\n".join([BOT + lines[0], *(INDENT + x for x in lines[1:])])
                    )
        except KeyboardInterrupt:
            self.write("")
        self.write("Bye! `make chat` brings you back.")
        return 0

    def _answers(self, message: str) -> list[dict]:
        """The bot's answers; a message that met a stopped server is sent again
        once that server is back. Raises ServerGone saying what is wrong."""
        for first in (True, False):
            try:
                answers: list[dict] | None = self.client.send(message)
                failure = None
            except ServerGone as error:
                answers, failure = None, str(error)
            if answers:
                return answers
            if first and self.mend():
                self.write(f"{BOT}(a server had stopped; it is back, so once more)")
                continue
            problem = self.trouble()
            if problem or failure:
                raise ServerGone(problem or failure)
            return []
        return []

    def _stopped(self, problem: str) -> int:
        self.write(f"MovieBot stopped answering: {problem}.")
        return 1


@contextmanager
def owning_the_terminal() -> Iterator[None]:
    """Take the terminal's keys for this process alone while the chat runs.

    Under `make chat`, Ctrl-C reaches make as well as the chat, and make reports
    an interrupted target even though the chat ended cleanly. As a shell does for
    a job, the chat moves into a process group of its own and makes it the
    terminal's foreground one; Ctrl-Z is ignored meanwhile, since no shell would
    know to resume the chat. Elsewhere (no terminal, or the chat already leads
    its group, as when started from a shell) nothing changes.
    """
    try:
        fd = sys.stdin.fileno()
        before = os.tcgetpgrp(fd)
    except (OSError, ValueError):
        yield
        return
    if os.getpgrp() == os.getpid() or before != os.getpgrp():
        yield
        return

    stops = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)
    previous = {signum: signal.getsignal(signum) for signum in stops}
    for signum in stops:
        signal.signal(signum, signal.SIG_IGN)
    try:
        os.setpgid(0, 0)
        try:
            os.tcsetpgrp(fd, os.getpgrp())
        except OSError:
            os.setpgid(0, before)  # back where the terminal listens
            raise
    except OSError as error:
        logger.debug("keeping the terminal shared: %s", error)
    try:
        yield
    finally:
        try:
            os.tcsetpgrp(fd, before)
        except OSError as error:
            logger.debug("could not hand the terminal back: %s", error)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
