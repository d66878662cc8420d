"""Rasa's command line, without its libraries' deprecation warnings.

    python -m bot.rasa_cli shell --model models/moviebot.tar.gz ...

Rasa 3.6 pins old releases of SQLAlchemy, TensorFlow, setuptools and others, which
warn about their own deprecated APIs at every start. One of them (aiogram, for the
Telegram channel) turns deprecation warnings back on while Rasa imports it, so
``PYTHONWARNINGS=ignore`` alone does not hold. None of these is for the person
chatting or the one running the server; every other warning is shown as before.
"""

from __future__ import annotations

import sys
import warnings

_show = warnings.showwarning


def _show_unless_deprecation(message, category, *args, **kwargs):
    if issubclass(category, (DeprecationWarning, PendingDeprecationWarning)):
        return
    _show(message, category, *args, **kwargs)


def main() -> int:
    warnings.showwarning = _show_unless_deprecation
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
