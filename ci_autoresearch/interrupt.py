"""One signal path: SIGINT, SIGTERM and SIGHUP all end a command the same way.

What sends them: Ctrl-C (SIGINT), a cancelled Actions job (SIGINT, then SIGTERM), ``timeout`` and
``docker stop`` (SIGTERM), a closed terminal or SSH session (SIGHUP). Each becomes an
:class:`Interrupted` exception in the main thread, which unwinds through the same ``finally`` blocks as
Ctrl-C: the running command's whole process tree is killed (:mod:`ci_autoresearch.measure.procs`),
checkouts and temporary folders are removed, what was measured is written as a partial result, and the
CLI prints one line and exits with ``128 + signal number`` (130, 143, 129; README "Exit codes").

Only the first signal raises; later ones while the tool cleans up are noted and ignored, so that a
second Ctrl-C or the SIGTERM that follows a job cancellation cannot cut the cleanup short.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal. ``partial`` names the partial result written, if any."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.partial: str | None = None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """``128 + signal number``, as shells report a process killed by that signal."""
        return 128 + self.signum


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """While inside, the first SIGINT / SIGTERM / SIGHUP raises :class:`Interrupted` in the main thread;
    the handlers before are restored afterwards. Outside the main thread this does nothing (Python
    delivers signals to the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        fired.append(signum)
        if len(fired) == 1:
            raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in HANDLED}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


__all__ = ["HANDLED", "Interrupted", "signals_interrupt"]
