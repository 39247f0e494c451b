"""What a measuring session reports while it runs, for the CLI to draw (a bar on a TTY, a line per
round in CI)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ci_autoresearch.model import Estimate


@dataclass(frozen=True, kw_only=True)
class Progress:
    """What a session reports while it runs; the CLI draws it (a bar on a TTY, a line per round in CI)."""

    phase: Literal["setup", "gate", "warmup", "round", "extend", "note", "done"]
    round: int = 0
    total: int = 0
    estimate: Estimate | None = None
    message: str = ""


ProgressFn = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    """The default progress callback: reports nothing."""
    return
