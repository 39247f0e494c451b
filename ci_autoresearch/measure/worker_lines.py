"""The lines of the worker protocol (``docs/worker-protocol.md``), read. Pure.

A worker announces itself with ``ready ci-autoresearch-worker/1`` (and, holding both sides, their
names), answers ``run N`` with ``done WALL CPU`` (``-`` for a CPU time it cannot measure) and reports a
failure as ``error [TARGET] MESSAGE``. The conversation is in :mod:`ci_autoresearch.measure.worker`,
the processes in :mod:`ci_autoresearch.measure.worker_process`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

PROTOCOL = "ci-autoresearch-worker/1"


@dataclass(frozen=True, kw_only=True)
class Block:
    """One block: ``calls`` calls took ``wall`` seconds (``cpu`` CPU seconds; None if not reported)."""

    calls: int
    wall: float
    cpu: float | None


def parse_ready(line: str) -> tuple[str, ...] | None:
    """The targets a ``ready`` line announces (empty: one side), or None when it is not one."""
    words = line.split()
    if len(words) < 2 or words[0] != "ready" or words[1] != PROTOCOL:
        return None
    return tuple(words[2:])


def parse_done(line: str, calls: int) -> Block | None:
    """The block a ``done WALL CPU`` line reports, or None when it is not a valid one."""
    words = line.split()
    if len(words) != 3 or words[0] != "done":
        return None
    try:
        wall = float(words[1])
        cpu = None if words[2] == "-" else float(words[2])
    except ValueError:
        return None
    if not (math.isfinite(wall) and wall > 0.0):
        return None
    if cpu is not None and not (math.isfinite(cpu) and cpu >= 0.0):
        return None
    return Block(calls=calls, wall=wall, cpu=cpu)


def error_of(line: str, targets: Sequence[str]) -> tuple[str | None, str] | None:
    """``error [TARGET] MESSAGE`` → (the target named, if one of ``targets``; the message), else None."""
    words = line.split(maxsplit=2)
    if not words or words[0] != "error":
        return None
    if len(words) >= 2 and words[1] in targets:
        return words[1], (words[2] if len(words) == 3 else "")
    return None, line.split(maxsplit=1)[1] if len(words) > 1 else ""
