"""The gate: what a candidate must pass before it is measured (``gate.command``, ``gate.protected_paths``).

A candidate that changes a protected file, or whose gate command fails or times out, is ``invalid``
whatever its numbers (anti metric-gaming: the benchmark and the tests must stay as they are).
"""

from __future__ import annotations

from pathlib import Path

from ci_autoresearch.config.model import Config
from ci_autoresearch.measure.protect import protected_changes
from ci_autoresearch.measure.sides import Side, SideRunner
from ci_autoresearch.model import GateResult


def protected_paths_gate(repo: Path, config: Config, base_sha: str, cand_sha: str) -> GateResult | None:
    """The failed gate of a candidate that changed protected paths since ``base_sha``; None if it did not."""
    touched = protected_changes(repo, base_sha, cand_sha, config.gate.protected_paths)
    if not touched:
        return None
    return GateResult(
        command=config.gate.command,
        passed=False,
        protected_paths_touched=tuple(touched),
        reason=f"changes protected file {touched[0]}"
        + (f" (+{len(touched) - 1} more)" if len(touched) > 1 else ""),
    )


def run_gate(runner: SideRunner, side: Side) -> GateResult:
    """Run ``gate.command`` on ``side`` (passed when none is configured) and say how it went."""
    command = runner.config.gate.command
    if not command:
        return GateResult(command=None, passed=True, reason="no gate configured")
    run = runner.gate(side)
    assert run is not None
    tail = "\n".join((run.stdout + run.stderr).strip().splitlines()[-20:])
    if run.timed_out:
        reason = f"`{command}` timed out after {runner.config.gate.timeout_seconds:g} s"
    elif run.returncode != 0:
        reason = f"`{command}` exited {run.returncode}"
    else:
        reason = f"`{command}` passed"
    return GateResult(
        command=command,
        passed=run.ok,
        returncode=run.returncode,
        seconds=run.wall_time,
        log=tail,
        reason=reason,
    )


__all__ = ["protected_paths_gate", "run_gate"]
