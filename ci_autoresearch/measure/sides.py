"""The two sides of a measuring session and the runner that measures one side at a time.

A :class:`Side` is one ref checked out on its own, with the samples measured so far. The
:class:`SideRunner` runs that side's setup, gate and benchmark (under valgrind for ``instructions``)
through :func:`~ci_autoresearch.measure.runner.run_measured`, checks that the run left the
repository's git directory alone, and turns each run into metric values. A failure of the candidate
is :class:`CandidateFailed` (the comparison ends ``invalid``); of the baseline, a
:class:`~ci_autoresearch.errors.MeasurementError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ci_autoresearch.config.model import Config, MetricSpec
from ci_autoresearch.errors import MeasurementError
from ci_autoresearch.measure import metrics, sandbox, valgrind
from ci_autoresearch.measure.runner import RunResult, last_line, run_measured
from ci_autoresearch.measure.scrub import scrub_env
from ci_autoresearch.measure.worker import WorkerFailed, WorkerRounds
from ci_autoresearch.measure.worker_process import WorkerProcess, start_worker
from ci_autoresearch.model import GateResult, RefInfo

SideName = Literal["baseline", "candidate"]


class Tampered(MeasurementError):
    """Code of one side changed the repository's git directory (hooks, config, refs) while it ran.

    The change was put back (:class:`sandbox.RepoGuard`); for the candidate the comparison ends as
    ``invalid`` and none of its samples are used, for the baseline the measurement fails.
    """

    def __init__(self, side: str, phase: str, changed: list[str]) -> None:
        self.side = side
        more = f" (+{len(changed) - 1} more)" if len(changed) > 1 else ""
        super().__init__(
            f"the {side}'s {phase} changed the repository's {changed[0]}{more} while it ran; "
            "put back, nothing it wrote is used"
        )
        self.changed = tuple(changed)


class CandidateFailed(Exception):
    """The candidate side failed; the comparison ends as ``invalid`` with this reason."""

    def __init__(self, reason: str, gate: GateResult | None = None, output: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.gate = gate
        self.output = output  # the last lines of the failing command's output


@dataclass
class Side:
    """One side of a session: its ref, its checkout and the samples measured so far, per metric."""

    name: SideName
    ref: RefInfo
    workdir: Path
    samples: dict[str, list[float]]
    runs: int = 0


class SideRunner:
    """Runs the benchmark on one side and turns each run into metric values (or starts its workers)."""

    def __init__(
        self, config: Config, env: Mapping[str, str], log_dir: Path, guard: sandbox.RepoGuard | None = None
    ) -> None:
        self.config = config
        self.env = {**scrub_env(env, config.benchmark.pass_env), **config.benchmark.env}
        self.log_dir = log_dir
        self.guard = guard
        self.specs: tuple[MetricSpec, ...] = config.measured_metrics()
        self.instructions = [s for s in self.specs if s.source == "instructions"]
        self.valgrind = (
            valgrind.require_valgrind(self.env, self.instructions[0].name) if self.instructions else None
        )
        command = config.benchmark.command
        if not command and config.benchmark.mode == "process":
            raise MeasurementError("benchmark.command is needed to run; add it to the configuration")
        self.command: str = command or ""

    def _run(self, side: Side, command: str, *, timeout: float, name: str) -> RunResult:
        """Run untrusted code of one side; then check it left the repository's git directory alone."""
        run = run_measured(
            command, cwd=side.workdir, env=self.env, timeout=timeout, log_dir=self.log_dir, name=name
        )
        changed = self.guard.check() if self.guard else []  # against the snapshot of the session's start
        if changed:
            raise Tampered(side.name, name.split(".", 1)[-1], changed)
        return run

    def setup(self, side: Side) -> RunResult | None:
        if not self.config.benchmark.setup:
            return None
        return self._run(
            side,
            self.config.benchmark.setup,
            timeout=self.config.benchmark.timeout_seconds,
            name=f"{side.name}.setup",
        )

    def launch(self, command: str, cwd: Path, name: str) -> WorkerProcess:
        """Start a worker with the benchmark's environment (worker mode)."""
        return start_worker(command, cwd=cwd, env=self.env, log_dir=self.log_dir, name=name)

    def gate(self, side: Side) -> RunResult | None:
        if not self.config.gate.command:
            return None
        return self._run(
            side, self.config.gate.command, timeout=self.config.gate.timeout_seconds, name=f"{side.name}.gate"
        )

    def once(self, side: Side, label: str) -> dict[str, float]:
        """One benchmark run; raises MeasurementError with one clear line when it fails."""
        name = f"{side.name}.{label}"
        command = self.command
        out_dir = self.log_dir / f"{name}.valgrind"
        if self.instructions and self.valgrind:
            out_dir.mkdir(parents=True, exist_ok=True)
            command = valgrind.wrap_for_instructions(
                self.command, self.instructions[0], out_dir, self.valgrind
            )
        run = self._run(side, command, timeout=self.config.benchmark.timeout_seconds, name=name)
        if run.timed_out:
            err = MeasurementError(
                f"{side.name} {side.ref.ref}: the benchmark timed out after "
                f"{self.config.benchmark.timeout_seconds:g} s "
                f"(benchmark.timeout_seconds); its output is in {run.stdout_path}"
            )
            err.output = output_tail(run)
            raise err
        if run.returncode != 0:
            tail = last_line(run.stderr, run.stdout)[:200]
            what = "command not found" if run.returncode == 127 else f"exit {run.returncode}"
            err = MeasurementError(
                f"{side.name} {side.ref.ref}: the benchmark failed ({what}){': ' + tail if tail else ''}; "
                f"logs in {run.stderr_path}"
            )
            err.output = output_tail(run)
            raise err
        try:
            values = metrics.extract(
                [s for s in self.specs if s.source != "instructions"], run, workdir=side.workdir
            )
        except MeasurementError as err:
            err.output = output_tail(run)
            raise
        for spec in self.instructions:
            values[spec.name] = metrics.read_instruction_count(out_dir, spec.tool)
        return values


def output_tail(run: RunResult, lines: int = 20) -> str:
    """The last ``lines`` lines a run printed (stdout, then stderr), for a report."""
    return "\n".join((run.stdout.rstrip() + "\n" + run.stderr.rstrip()).strip().splitlines()[-lines:])


def add_samples(side: Side, values: Mapping[str, float]) -> None:
    for k, v in values.items():
        side.samples.setdefault(k, []).append(v)
    side.runs += 1


def measure_side(runner: SideRunner, side: Side, label: str, *, record: bool) -> None:
    try:
        values = runner.once(side, label)
    except Tampered:
        raise
    except MeasurementError as err:
        if side.name == "candidate":
            raise CandidateFailed(err.message, output=err.output) from None
        raise
    if record:
        add_samples(side, values)


def worker_round(
    workers: WorkerRounds, sides: Mapping[str, Side], names: list[SideName], label: str, *, then: str
) -> None:
    """One round of worker mode: every side's values, or the failure of one side as a failed run.
    ``then``: the label of the round that may come next (its workers may start meanwhile)."""
    try:
        values = workers.round(names, label, then=then)
    except WorkerFailed as failed:
        if failed.side == "candidate":
            raise CandidateFailed(failed.message) from None
        raise MeasurementError(failed.message) from None
    wanted = {spec.name for spec in workers.plan.metrics}
    for name in names:
        add_samples(sides[name], {k: v for k, v in values[name].items() if k in wanted})


def worker_run(workers: WorkerRounds, i: int, n: int) -> dict[str, float]:
    """Run ``i`` of the ``n`` of ``measure_ref`` in worker mode: a fresh worker process, its blocks'
    values."""
    try:
        then = f"run{i + 2}" if i + 1 < n else None
        values = workers.round(["baseline"], f"run{i + 1}", then=then)["baseline"]
    except WorkerFailed as failed:
        raise MeasurementError(failed.message) from None
    wanted = {spec.name for spec in workers.plan.metrics}
    return {k: v for k, v in values.items() if k in wanted}


__all__ = [
    "CandidateFailed",
    "Side",
    "SideName",
    "SideRunner",
    "Tampered",
    "add_samples",
    "measure_side",
    "output_tail",
    "worker_round",
    "worker_run",
]
