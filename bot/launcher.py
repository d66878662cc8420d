"""Start the action server and the Rasa server together, and stop both together.

    python -m bot.launcher serve   # REST and socket.io on :5005 until Ctrl-C/SIGTERM
    python -m bot.launcher chat    # a terminal chat; the action server stops on exit

Standard library only: it runs under either virtual environment. Each server runs
in its own process group, so that stopping it also stops whatever it started.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

logger = logging.getLogger("moviebot")

ROOT = Path(__file__).resolve().parents[1]
RASA_VENV = ROOT / ".venv-rasa"
ACTIONS_VENV = ROOT / ".venv-actions"
MODEL = ROOT / "models" / "moviebot.tar.gz"
# Loading the models on first use and importing torch take a while on a small
# machine; the Rasa server imports TensorFlow.
START_TIMEOUT = float(os.environ.get("MOVIEBOT_START_TIMEOUT", "180"))
STOP_TIMEOUT = 15.0


def environment(action_port: int) -> dict[str, str]:
    """Variables both servers read: endpoints.yml is filled in from these."""
    env = dict(os.environ)
    env.setdefault("ACTION_ENDPOINT_URL", f"http://localhost:{action_port}/webhook")
    env.setdefault("TRACKER_DIALECT", "sqlite")
    env.setdefault("TRACKER_DB", str(ROOT / "var" / "rasa-tracker.db"))
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Rasa 3.6 and its libraries warn about their own deprecations at every start,
    # and rasa-sdk about its version; none of it is for the person chatting.
    env.setdefault("PYTHONWARNINGS", "ignore")
    (ROOT / "var").mkdir(exist_ok=True)
    return env


def check_free(target: str, *ports: int) -> None:
    """Fail with a plain message when another program already holds a port."""
    for port in ports:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                raise RuntimeError(
                    f"port {port} is already in use (another MovieBot, or another "
                    "program). Stop it, or pick free ports: "
                    f"RASA_PORT=... ACTION_PORT=... make {target}"
                )


def start_actions(
    port: int, env: dict[str, str], log: Path | None = None
) -> subprocess.Popen:
    command = [
        str(ACTIONS_VENV / "bin" / "python"),
        "-m",
        "rasa_sdk",
        "--actions",
        "actions",
        "--port",
        str(port),
    ]
    logger.info("starting the action server on port %d", port)
    if log is None:
        return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    logger.info(
        "its log goes to %s", log.relative_to(ROOT) if log.is_relative_to(ROOT) else log
    )
    with log.open("a") as output:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class Interrupted(RuntimeError):
    """Ctrl-C or SIGTERM arrived while starting."""


def wait_until_up(
    url: str, process: subprocess.Popen, what: str, stopping=lambda: False
) -> None:
    """Poll ``url`` until it answers; fail early if ``process`` died."""
    deadline = time.monotonic() + START_TIMEOUT
    announced = False
    while time.monotonic() < deadline:
        if stopping():
            raise Interrupted(f"stopped while waiting for the {what}")
        if process.poll() is not None:
            raise RuntimeError(f"the {what} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                logger.info("the %s is up at %s", what, url)
                return
        except (urllib.error.URLError, OSError):
            if not announced:
                logger.info("waiting for the %s to start (%s)...", what, url)
                announced = True
            time.sleep(0.5)
    raise RuntimeError(f"the {what} did not answer at {url} in {START_TIMEOUT:.0f} s")


def stop(process: subprocess.Popen | None, what: str) -> None:
    """SIGTERM the server, then SIGKILL whatever of its group is left.

    The server gets the signal alone first: the action server's Sanic manager
    shuts its own workers down, and fails if they are killed under it.
    """
    if process is None:
        return
    if process.poll() is None:
        logger.info("stopping the %s", what)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            logger.warning(
                "the %s did not stop in %.0f s; killing it", what, STOP_TIMEOUT
            )
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the whole group is gone already
    process.wait()


def rasa_command(*args: str) -> list[str]:
    if not MODEL.exists():
        raise RuntimeError(f"no Rasa model at {MODEL}: run `make train` first")
    return [
        str(RASA_VENV / "bin" / "python"),
        "-m",
        "bot.rasa_cli",
        *args,
        "--model",
        str(MODEL),
        "--endpoints",
        str(ROOT / "endpoints.yml"),
    ]


def serve(rasa_port: int, action_port: int) -> int:
    env = environment(action_port)
    actions = rasa = None
    stopping = False
    parent = os.getppid()

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True
        logger.info("got %s, shutting down", signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        check_free("serve", rasa_port, action_port)
        actions = start_actions(action_port, env)
        wait_until_up(
            f"http://localhost:{action_port}/health", actions, "action server"
        )
        command = rasa_command(
            "run",
            "--port",
            str(rasa_port),
            "--credentials",
            str(ROOT / "credentials.yml"),
            "--cors",
            "*",
        )
        logger.info("starting the Rasa server on port %d", rasa_port)
        rasa = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        wait_until_up(
            f"http://localhost:{rasa_port}/", rasa, "Rasa server", lambda: stopping
        )
        logger.info(
            "MovieBot is ready: REST at http://localhost:%d/webhooks/rest/webhook, "
            "socket.io at http://localhost:%d/socket.io. Ctrl-C stops both servers.",
            rasa_port,
            rasa_port,
        )
        while not stopping:
            if os.getppid() != parent:
                # `make serve` was killed: make passes no SIGTERM on to us.
                logger.info("the command that started MovieBot is gone, shutting down")
                return 0
            for process, what in ((actions, "action server"), (rasa, "Rasa server")):
                if process.poll() is not None:
                    logger.error("the %s exited with code %s", what, process.returncode)
                    return 1
            time.sleep(0.5)
        return 0
    except Interrupted as error:
        logger.info("%s", error)
        return 0
    except RuntimeError as error:
        logger.error("%s", error)
        return 1
    finally:
        stop(rasa, "Rasa server")
        stop(actions, "action server")


def chat(rasa_port: int, action_port: int, conversation_id: str) -> int:
    env = environment(action_port)
    actions = None
    try:
        check_free("chat", rasa_port, action_port)
        # The chat owns the terminal; the action server writes to a file.
        actions = start_actions(action_port, env, ROOT / "var" / "action-server.log")
        wait_until_up(
            f"http://localhost:{action_port}/health", actions, "action server"
        )
        command = rasa_command(
            "shell", "--conversation-id", conversation_id, "--port", str(rasa_port)
        )
        logger.info("starting the chat as %r (type /stop to leave)", conversation_id)
        # The shell owns the terminal: Ctrl-C goes to it, not to us.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return subprocess.call(command, cwd=ROOT, env=env)
    except RuntimeError as error:
        logger.error("%s", error)
        return 1
    finally:
        stop(actions, "action server")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.launcher",
        description="Run MovieBot: the action server beside a Rasa server (serve) or "
        "a terminal chat (chat). Both are stopped together.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser("serve", help="REST and socket.io until Ctrl-C")
    chat_parser = sub.add_parser("chat", help="chat in this terminal")
    chat_parser.add_argument(
        "--as",
        dest="conversation_id",
        default=os.environ.get("MOVIEBOT_USER") or f"shell-{getpass.getuser()}",
        help="who you are: your profile is kept under this name across sessions",
    )
    for sub_parser in (serve_parser, chat_parser):
        sub_parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("RASA_PORT", "5005")),
            help="the Rasa server's port ($RASA_PORT)",
        )
        sub_parser.add_argument(
            "--action-port",
            type=int,
            default=int(os.environ.get("ACTION_PORT", "5055")),
            help="the action server's port ($ACTION_PORT)",
        )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[moviebot] %(message)s")
    if args.command == "serve":
        return serve(args.port, args.action_port)
    return chat(args.port, args.action_port, args.conversation_id)


if __name__ == "__main__":
    sys.exit(main())
