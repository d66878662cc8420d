"""Start the action server and the Rasa server together, and stop both together.

    python -m bot.launcher serve   # REST and socket.io on :5005 until Ctrl-C/SIGTERM
    python -m bot.launcher chat    # a terminal chat; both servers stop on exit

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

from bot import terminal

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
    url: str, process: subprocess.Popen | None, what: str, stopping=lambda: False
) -> None:
    """Poll ``url`` until it answers; fail early if ``process`` (when it is ours)
    died. Says what it waits for, and again every half minute."""
    start = time.monotonic()
    deadline = start + START_TIMEOUT
    announced = None
    while time.monotonic() < deadline:
        if stopping():
            raise Interrupted(f"stopped while waiting for the {what}")
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the {what} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                logger.info("the %s is up at %s", what, url)
                return
        except (urllib.error.URLError, OSError):
            if announced is None:
                logger.info("waiting for the %s to start (%s)...", what, url)
                announced = time.monotonic()
            elif time.monotonic() - announced >= 30:
                waited = time.monotonic() - start
                logger.info("still waiting for the %s (%.0f s)...", what, waited)
                announced = time.monotonic()
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


SLACK_VARIABLES = ("SLACK_TOKEN", "SLACK_SIGNING_SECRET")
# Rasa fills ${...} in from the environment: the file names the secrets only.
SLACK_CHANNEL = """
# Added by bot/launcher.py because SLACK_TOKEN and SLACK_SIGNING_SECRET are set.
bot.slack.SlackInput:
  slack_token: ${SLACK_TOKEN}
  slack_signing_secret: ${SLACK_SIGNING_SECRET}
"""


def channels(env: dict[str, str], rasa_port: int) -> Path:
    """The Rasa server's channels: credentials.yml, with Slack when both of its
    variables are set (then as var/credentials.yml)."""
    base = ROOT / "credentials.yml"
    missing = [name for name in SLACK_VARIABLES if not env.get(name)]
    if len(missing) == len(SLACK_VARIABLES):
        logger.info("Slack is off (set SLACK_TOKEN and SLACK_SIGNING_SECRET for it)")
        return base
    if missing:
        (given,) = (name for name in SLACK_VARIABLES if name not in missing)
        logger.warning("Slack is off: %s is set but %s is not", given, missing[0])
        return base

    path = ROOT / "var" / "credentials.yml"
    staging = path.with_name(f".credentials-{os.getpid()}.yml")
    staging.write_text(base.read_text().rstrip("\n") + "\n" + SLACK_CHANNEL)
    staging.replace(path)  # whole, even while another server reads it
    logger.info(
        "Slack is on: give Slack https://<this host>/webhooks/slack/webhook for "
        "events and interactivity (here http://localhost:%d/webhooks/slack/webhook)%s",
        rasa_port,
        f"; the Web API is at {env['SLACK_API_URL']}"
        if env.get("SLACK_API_URL")
        else "",
    )
    return path


# A server that stops by itself, or stops answering, is started again up to
# MAX_RESTARTS times within the window; at the next stop something is wrong that
# a restart will not mend.
MAX_RESTARTS = 5
RESTART_WINDOW = 600.0
# A running server is asked for its health this often; this many unanswered
# checks in a row (a hung or killed worker behind a live parent) count as a stop.
HEALTH_EVERY = 10.0
HEALTH_MISSES = 3


class Restarts:
    """When each server was started again, within the last RESTART_WINDOW: the
    budget `make serve` and `make chat` share."""

    def __init__(self) -> None:
        self._times: dict[str, list[float]] = {}

    def recent(self, what: str) -> int:
        """Restarts of ``what`` within the window."""
        now = time.monotonic()
        times = [t for t in self._times.get(what, []) if now - t < RESTART_WINDOW]
        self._times[what] = times
        return len(times)

    def take(self, what: str) -> bool:
        """Count one more restart of ``what``; False when its budget is spent."""
        if self.recent(what) >= MAX_RESTARTS:
            return False
        self._times[what].append(time.monotonic())
        return True


def exit_status(code: int | None) -> str:
    """``-9`` -> "killed by SIGKILL", ``1`` -> "exit code 1"."""
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            pass
    return f"exit code {code}"


def serve(rasa_port: int, action_port: int) -> int:
    env = environment(action_port)
    servers: dict[str, subprocess.Popen | None] = {
        "action server": None,
        "Rasa server": None,
    }
    stopping = False
    parent = os.getppid()

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True
        logger.info("got %s, shutting down", signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    health = {
        "action server": f"http://localhost:{action_port}/health",
        "Rasa server": f"http://localhost:{rasa_port}/",
    }

    def start(what: str) -> None:
        if what == "action server":
            process = start_actions(action_port, env)
        else:
            command = rasa_command(
                "run",
                "--port",
                str(rasa_port),
                "--credentials",
                str(channels(env, rasa_port)),
                "--cors",
                "*",
            )
            logger.info("starting the Rasa server on port %d", rasa_port)
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, start_new_session=True
            )
        servers[what] = process
        wait_until_up(health[what], process, what, lambda: stopping)

    restarts = Restarts()
    misses = dict.fromkeys(servers, 0)
    try:
        check_free("serve", rasa_port, action_port)
        start("action server")
        start("Rasa server")
        logger.info(
            "MovieBot is ready: REST at http://localhost:%d/webhooks/rest/webhook, "
            "socket.io at http://localhost:%d/socket.io. Ctrl-C stops both servers.",
            rasa_port,
            rasa_port,
        )
        # The page's path is bot/webchat.py's, which imports Rasa: not here.
        logger.info(
            "chat in a browser: http://localhost:%d/webhooks/webchat/", rasa_port
        )
        checked = time.monotonic()
        while not stopping:
            if os.getppid() != parent:
                # `make serve` was killed: make passes no SIGTERM on to us.
                logger.info("the command that started MovieBot is gone, shutting down")
                return 0
            check = time.monotonic() - checked >= HEALTH_EVERY
            for what, process in servers.items():
                problem = None
                if process is None or process.poll() is not None:
                    code = None if process is None else process.returncode
                    problem = f"stopped ({exit_status(code)})"
                elif check:
                    misses[what] = 0 if _answers(health[what]) else misses[what] + 1
                    if misses[what] >= HEALTH_MISSES:
                        problem = f"has not answered at {health[what]} for a while"
                if problem is None:
                    continue
                if not restarts.take(what):
                    logger.error(
                        "the %s %s, after %d restarts in %.0f minutes: giving up "
                        "(its output is above)",
                        what,
                        problem,
                        restarts.recent(what),
                        RESTART_WINDOW / 60,
                    )
                    return 1
                logger.error(
                    "the %s %s; starting it again (profiles and conversations "
                    "are kept)",
                    what,
                    problem,
                )
                misses[what] = 0
                stop(process, what)  # whatever it started goes too
                try:
                    start(what)
                except Interrupted:
                    raise
                except RuntimeError as error:
                    # It failed while starting: the next round sees it stopped.
                    logger.error("%s", error)
                else:
                    logger.info("the %s is back", what)
            if check:
                checked = time.monotonic()
            time.sleep(0.5)
        return 0
    except Interrupted as error:
        logger.info("%s", error)
        return 0
    except RuntimeError as error:
        logger.error("%s", error)
        return 1
    finally:
        stop(servers["Rasa server"], "Rasa server")
        stop(servers["action server"], "action server")


SERVERS = ("action server", "Rasa server")


def chat(
    rasa_port: int,
    action_port: int,
    conversation_id: str,
    action_server: str | None = None,
    log_dir: Path = ROOT / "var",
) -> int:
    """A chat in this terminal (bot/terminal.py) over the Rasa server's REST
    channel, with both servers in the background and their logs in ``log_dir``.

    ``action_server`` is the URL of an action server run elsewhere, which the
    chat waits for instead of starting one. The servers stop when the chat ends:
    /stop, Ctrl-D, Ctrl-C, SIGTERM, or the terminal closing.
    """
    env = environment(action_port)
    action_url = (action_server or f"http://127.0.0.1:{action_port}").rstrip("/")
    if action_server:
        env["ACTION_ENDPOINT_URL"] = f"{action_url}/webhook"
    health = {
        "action server": f"{action_url}/health",
        "Rasa server": f"http://127.0.0.1:{rasa_port}/",
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    logs = {
        "action server": log_dir / "action-server.log",
        "Rasa server": log_dir / "rasa-server.log",
    }
    servers: dict[str, subprocess.Popen | None] = dict.fromkeys(SERVERS)

    def trouble() -> str | None:
        """What keeps the bot from answering, or None."""
        for what, process in servers.items():
            if process is not None and process.poll() is not None:
                return (
                    f"the {what} stopped ({exit_status(process.returncode)}); "
                    f"its log is {_shown(logs[what])}"
                )
        for what, url in health.items():
            if not _answers(url):
                return f"the {what} does not answer at {url}"
        return None

    def start_chat_server(what: str) -> None:
        if what == "action server":
            servers[what] = start_actions(action_port, env, logs[what])
            return
        command = rasa_command(
            "run",
            "--connector",
            "rest",
            "--interface",
            "127.0.0.1",
            "--port",
            str(rasa_port),
        )
        logger.info(
            "starting the Rasa server on port %d; its log goes to %s",
            rasa_port,
            _shown(logs[what]),
        )
        with logs[what].open("w") as log:
            servers[what] = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_for(what: str) -> None:
        try:
            wait_until_up(health[what], servers[what], what)
        except RuntimeError as error:
            if servers[what] is None:
                raise
            raise RuntimeError(f"{error}; see {_shown(logs[what])}") from error

    restarts = Restarts()

    def mend() -> bool:
        """Start again the servers of ours that stopped by themselves, as
        `make serve` does; True when one was, and all answer again."""
        mended = False
        for what, process in servers.items():
            if process is None or process.poll() is None:
                continue
            if not restarts.take(what):
                logger.error(
                    "the %s stopped (%s) after %d restarts in %.0f minutes: not "
                    "starting it again (its log is %s)",
                    what,
                    exit_status(process.returncode),
                    restarts.recent(what),
                    RESTART_WINDOW / 60,
                    _shown(logs[what]),
                )
                return False
            logger.warning(
                "the %s stopped (%s; its log is %s); starting it again",
                what,
                exit_status(process.returncode),
                _shown(logs[what]),
            )
            stop(process, what)
            start_chat_server(what)
            try:
                wait_for(what)
            except RuntimeError as error:
                logger.error("%s", error)
                return False
            mended = True
        return mended

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.getsignal(signum) for signum in signals}
    # SIGTERM (a `kill`, make stopped) and SIGHUP (the terminal closed) end the
    # chat as Ctrl-C does, so that the servers are stopped too.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _leave)
    try:
        check_free("chat", rasa_port, *([] if action_server else [action_port]))
        if not action_server:
            start_chat_server("action server")
        start_chat_server("Rasa server")
        for what in SERVERS:
            wait_for(what)
        client = terminal.RestClient(
            f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook", conversation_id
        )
        return terminal.TerminalChat(client, trouble, mend=mend).run()
    except KeyboardInterrupt:
        logger.info("stopped")
        return 0
    except RuntimeError as error:
        logger.error("%s", error)
        return 1
    finally:
        # A second Ctrl-C must not leave the servers running: they are in their
        # own sessions, which no signal from the terminal reaches.
        for signum in signals:
            signal.signal(signum, signal.SIG_IGN)
        stop(servers["Rasa server"], "Rasa server")
        stop(servers["action server"], "action server")
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _leave(signum, _frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except (urllib.error.URLError, OSError):
        return False


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.launcher",
        description="Run MovieBot: the action server beside a Rasa server (serve) or "
        "a terminal chat (chat). Both are stopped together.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser(
        "serve",
        help="REST, socket.io, the web chat page (and Slack) until Ctrl-C",
        description="Run the action server and the Rasa server in the foreground: "
        "REST at /webhooks/rest/webhook, the web chat page at /webhooks/webchat/, "
        "and Slack at /webhooks/slack/webhook when SLACK_TOKEN and "
        "SLACK_SIGNING_SECRET are set. A server that stops by itself is started "
        "again; Ctrl-C or SIGTERM stops both.",
    )
    chat_parser = sub.add_parser(
        "chat",
        help="chat in this terminal",
        description="Chat with MovieBot in this terminal. Both servers start in "
        "the background (their logs go to action-server.log and rasa-server.log "
        "in var/) and stop when you leave: /stop, Ctrl-D or Ctrl-C. "
        "When the bot offers choices, they are numbered: type the number, or "
        "answer in words.",
    )
    chat_parser.add_argument(
        "--as",
        dest="conversation_id",
        metavar="NAME",
        default=os.environ.get("MOVIEBOT_USER") or f"shell-{getpass.getuser()}",
        help="who you are: your profile is kept under this name across sessions "
        "(default: $MOVIEBOT_USER, else shell-$USER: %(default)s)",
    )
    chat_parser.add_argument(
        "--action-server",
        metavar="URL",
        help="use the action server at URL (e.g. http://localhost:5055), running "
        "or still starting elsewhere, instead of starting one; the chat waits "
        "for it",
    )
    chat_parser.add_argument(
        "--log-dir",
        metavar="DIR",
        type=Path,
        default=ROOT / "var",
        help="where the servers' logs go (default: var/)",
    )
    for sub_parser in (serve_parser, chat_parser):
        sub_parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("RASA_PORT", "5005")),
            help="the Rasa server's port ($RASA_PORT; now %(default)s)",
        )
        sub_parser.add_argument(
            "--action-port",
            type=int,
            default=int(os.environ.get("ACTION_PORT", "5055")),
            help="the action server's port ($ACTION_PORT; now %(default)s)",
        )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[moviebot] %(message)s")
    if args.command == "serve":
        return serve(args.port, args.action_port)
    with terminal.owning_the_terminal():
        return chat(
            args.port,
            args.action_port,
            args.conversation_id,
            args.action_server,
            args.log_dir.resolve(),
        )


if __name__ == "__main__":
    sys.exit(main())
