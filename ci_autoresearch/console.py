"""The terminal side of every command: text that may hold untrusted parts printed inert, the progress line,
and how a command ends when it fails or is interrupted: one line and its exit code.

Imported by the CLI before any command runs: only light imports at the top (``--help`` start-up).
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, TextIO

import click

from ci_autoresearch.errors import EXIT_INTERRUPTED, AutoresearchError
from ci_autoresearch.interrupt import Interrupted, signals_interrupt

if TYPE_CHECKING:
    from ci_autoresearch.measure.progress import Progress


def last_word(line: str) -> None:
    """The one line a failed or interrupted command ends with: line breaks in quoted commands or
    output are shown as ``\\n`` (so no second line can pass for a workflow command), and a terminal
    that went away (SIGHUP) does not turn it into a second failure."""
    flat = line.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    flat = flat.replace("##[", "##\u200b[")  # nor a legacy `##[command]` of the Actions runner
    with contextlib.suppress(OSError):
        click.echo(flat, err=True)


@contextlib.contextmanager
def exit_codes(ctx: click.Context, *, debug: bool) -> Iterator[None]:
    """Around the whole command (the CLI's one place that catches errors): an :class:`AutoresearchError`
    ends it with one line and its exit code, a signal with ``128 + signal number``; anything else is a bug
    (exit 1), with the traceback only under ``debug``."""
    try:
        with signals_interrupt():  # SIGINT, SIGTERM, SIGHUP: one path, see interrupt.py
            yield
    except Interrupted as stop:
        kept = f"; what was measured is in {stop.partial}" if stop.partial else ""
        last_word(f"interrupted by {stop.name}: its processes were stopped and checkouts removed{kept}")
        ctx.exit(stop.exit_code)
    except AutoresearchError as err:
        if debug:
            traceback.print_exc()
        last_word(f"error: {err}")
        ctx.exit(err.exit_code)
    except KeyboardInterrupt:
        last_word("interrupted; its processes were stopped and checkouts removed")
        ctx.exit(EXIT_INTERRUPTED)
    except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
        raise
    except Exception as err:  # a bug: say so in one line unless --debug
        if debug:
            raise
        last_word(
            f"internal error: {type(err).__name__}: {err} (rerun with --debug for the traceback; "
            "please report it)"
        )
        ctx.exit(1)


def echo(
    text: str, *, env: Mapping[str, str], err: bool = False, nl: bool = True, is_json: bool = False
) -> None:
    """Print text that may hold untrusted parts (candidate output, reasons, branch names, notes read
    from a remote): in Actions none of it can act as a workflow command (see :func:`gha.inert`)."""
    from ci_autoresearch.actions import runtime as gha  # noqa: PLC0415 - not needed for --help

    safe = gha.inert_json(text, env=env) if is_json else gha.inert(text, env=env)
    click.echo(safe, err=err, nl=nl)


def say_err(line: str) -> None:
    """A line of the tool's own on stderr (what it cleaned up, where it wrote)."""
    click.echo(line, err=True)


class ProgressPrinter:
    """Round i of n and the current estimate: a redrawn line on a terminal, one line per round in CI."""

    def __init__(self, stream: TextIO, *, env: Mapping[str, str], quiet: bool = False) -> None:
        self.stream = stream
        self.tty = stream.isatty() and not env.get("CI")
        self.quiet = quiet
        self.env = env

    def __call__(self, p: Progress) -> None:
        if self.quiet:
            return
        from ci_autoresearch.decide.verdict import describe  # noqa: PLC0415 - not needed for --help

        if p.phase == "round":
            est = f"  {describe(p.estimate)}" if p.estimate is not None else ""
            text = f"round {p.round}/{p.total}{est}{'  ' + p.message if p.message else ''}"
        elif p.phase == "warmup":
            text = f"warm-up {p.round}/{p.total}"
        elif p.phase == "done":
            if self.tty:
                self.stream.write("\r\033[K")
                self.stream.flush()
            return
        else:
            text = f"{p.phase}: {p.message}" if p.message else p.phase
        if self.tty:
            self.stream.write("\r\033[K" + " ".join(text.split())[:200])
        else:  # echoed setup and gate commands are untrusted: never workflow commands in Actions
            from ci_autoresearch.actions.runtime import inert  # noqa: PLC0415

            self.stream.write(inert(text + "\n", env=self.env))
        self.stream.flush()


def progress_printer(env: Mapping[str, str]) -> ProgressPrinter:
    """The progress line every measuring command draws, on stderr."""
    return ProgressPrinter(sys.stderr, env=env)
