"""The launcher behind `make serve` and `make chat`: what it says before starting."""

from __future__ import annotations

import socket

from bot import launcher


def test_busy_port_is_reported_before_anything_starts(caplog, monkeypatch):
    started = []
    monkeypatch.setattr(launcher, "start_actions", lambda *a, **k: started.append(a))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = launcher.main(["chat", "--port", str(port), "--action-port", "1"])
    assert code == 1
    assert f"port {port} is already in use" in caplog.text
    assert "RASA_PORT=... ACTION_PORT=... make chat" in caplog.text
    assert started == []


def test_help_names_the_ports_and_the_profile_name(capsys):
    for command in ("serve", "chat"):
        try:
            launcher.main([command, "--help"])
        except SystemExit as done:
            assert done.code == 0
        out = capsys.readouterr().out
        assert "$RASA_PORT" in out and "$ACTION_PORT" in out
    try:
        launcher.main(["chat", "--help"])
    except SystemExit:
        pass
    assert "profile is kept under this name" in capsys.readouterr().out
