"""A measuring session: worktrees, setup, gate, warm-up and interleaved rounds.

``compare_refs`` measures both sides in the same run, one round = one run of each side (or, in worker
mode, fresh worker processes timing blocks of calls: :mod:`ci_autoresearch.worker`), in ABBA or seeded
random order, so slow drifts of the machine hit both sides alike and rounds pair up. It adds rounds
while the verdict is inconclusive, at the looks of ``stats.look_schedule``, up to
``decision.max_rounds``. ``measure_ref`` measures one
ref on its own (``bench``, the baseline artifact).
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ci_autoresearch import git, metrics, stats
from ci_autoresearch.config_model import Config, MetricSpec
from ci_autoresearch.decide import Decision, comparison_of, decide, resolution_text
from ci_autoresearch.environment import detect_environment, now_iso
from ci_autoresearch.errors import MeasurementError
from ci_autoresearch.model import (
    Comparison,
    Estimate,
    GateResult,
    Measurement,
    MetricSamples,
    RefInfo,
    Result,
)
from ci_autoresearch.runner import RunResult, WorkerProcess, run_measured, scrub_env, start_worker
from ci_autoresearch.stats import paired_estimate, rounds_to_add
from ci_autoresearch.worker import WorkerFailed, WorkerPlan, WorkerRounds

SideName = Literal["baseline", "candidate"]


@dataclass(frozen=True, kw_only=True)
class Progress:
    """What a session reports while it runs; the CLI draws it (a bar on a TTY, a line per round in CI)."""

    phase: Literal["setup", "gate", "warmup", "round", "extend", "note", "done"]
    round: int = 0
    total: int = 0
    estimate: Estimate | None = None
    message: str = ""


ProgressFn = Callable[[Progress], None]


def _ignore(_: Progress) -> None:
    return None


class CandidateFailed(Exception):
    """The candidate side failed; the comparison ends as ``invalid`` with this reason."""

    def __init__(self, reason: str, gate: GateResult | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.gate = gate


@dataclass
class _Side:
    name: SideName
    ref: RefInfo
    workdir: Path
    samples: dict[str, list[float]]
    runs: int = 0


class _Runner:
    """Runs the benchmark on one side and turns each run into metric values (or starts its workers)."""

    def __init__(self, config: Config, env: Mapping[str, str], log_dir: Path) -> None:
        self.config = config
        self.env = {**scrub_env(env), **config.benchmark.env}
        self.log_dir = log_dir
        self.specs: tuple[MetricSpec, ...] = config.measured_metrics()
        self.instructions = [s for s in self.specs if s.source == "instructions"]
        self.valgrind = (
            metrics.require_valgrind(self.env, self.instructions[0].name) if self.instructions else None
        )
        command = config.benchmark.command
        if not command and config.benchmark.mode == "process":
            raise MeasurementError("benchmark.command is needed to run; add it to the configuration")
        self.command: str = command or ""

    def setup(self, side: _Side) -> RunResult | None:
        if not self.config.benchmark.setup:
            return None
        return run_measured(
            self.config.benchmark.setup,
            cwd=side.workdir,
            env=self.env,
            timeout=self.config.benchmark.timeout_seconds,
            log_dir=self.log_dir,
            name=f"{side.name}.setup",
        )

    def launch(self, command: str, cwd: Path, name: str) -> WorkerProcess:
        """Start a worker with the benchmark's environment (worker mode)."""
        return start_worker(command, cwd=cwd, env=self.env, log_dir=self.log_dir, name=name)

    def gate(self, side: _Side) -> RunResult | None:
        if not self.config.gate.command:
            return None
        return run_measured(
            self.config.gate.command,
            cwd=side.workdir,
            env=self.env,
            timeout=self.config.gate.timeout_seconds,
            log_dir=self.log_dir,
            name=f"{side.name}.gate",
        )

    def once(self, side: _Side, label: str) -> dict[str, float]:
        """One benchmark run; raises MeasurementError with one clear line when it fails."""
        name = f"{side.name}.{label}"
        command = self.command
        out_dir = self.log_dir / f"{name}.valgrind"
        if self.instructions and self.valgrind:
            out_dir.mkdir(parents=True, exist_ok=True)
            command = metrics.wrap_for_instructions(
                self.command, self.instructions[0], out_dir, self.valgrind
            )
        run = run_measured(
            command,
            cwd=side.workdir,
            env=self.env,
            timeout=self.config.benchmark.timeout_seconds,
            log_dir=self.log_dir,
            name=name,
        )
        if run.timed_out:
            raise MeasurementError(
                f"{side.name} {side.ref.ref}: the benchmark timed out after "
                f"{self.config.benchmark.timeout_seconds:g} s "
                f"(benchmark.timeout_seconds); its output is in {run.stdout_path}"
            )
        if run.returncode != 0:
            tail = _last_line(run.stderr) or _last_line(run.stdout)
            what = "command not found" if run.returncode == 127 else f"exit {run.returncode}"
            raise MeasurementError(
                f"{side.name} {side.ref.ref}: the benchmark failed ({what}){': ' + tail if tail else ''}; "
                f"logs in {run.stderr_path}"
            )
        values = metrics.extract(
            [s for s in self.specs if s.source != "instructions"], run, workdir=side.workdir
        )
        for spec in self.instructions:
            values[spec.name] = metrics.read_instruction_count(out_dir, spec.tool)
        return values


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _record(side: _Side, values: Mapping[str, float]) -> None:
    for k, v in values.items():
        side.samples.setdefault(k, []).append(v)
    side.runs += 1


def round_order(order: str, rounds: int, rng: random.Random) -> Iterator[tuple[SideName, SideName]]:
    """The order of the two sides in each round: ABBA alternates, random flips a seeded coin."""
    for i in range(rounds):
        if order == "random":
            first_base = rng.random() < 0.5
        else:
            first_base = i % 2 == 0
        yield ("baseline", "candidate") if first_base else ("candidate", "baseline")


@contextmanager
def _checkouts(repo: Path, shas: Mapping[SideName, str]) -> Iterator[dict[SideName, Path]]:
    """One worktree per side under a temporary directory; all removed afterwards, even on Ctrl-C."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="autoresearch-")))
        paths: dict[SideName, Path] = {}
        for name, sha in shas.items():
            paths[name] = stack.enter_context(git.worktree(repo, sha, tmp / name))
        yield paths


def compare_refs(
    repo: Path,
    config: Config,
    base_ref: str,
    cand_ref: str,
    *,
    env: Mapping[str, str],
    log_dir: Path,
    progress: ProgressFn = _ignore,
    labels: tuple[str, str] | None = None,
    stored: Result | None = None,
) -> Comparison:
    """Measure ``cand_ref`` against ``base_ref``, interleaved, and decide.

    ``labels`` name the two sides in reports when the refs are bare commits (the loop's trial merges).
    ``stored``: a stored result of ``base_ref`` (the baseline artifact) used as the baseline's samples;
    then only the candidate is measured and the statistics are unpaired (``decision.baseline: artifact``).
    """
    started = now_iso()
    base_name, cand_name = labels or (base_ref, cand_ref)
    base = RefInfo(ref=base_name, sha=git.resolve(repo, base_ref))
    cand = RefInfo(ref=cand_name, sha=git.resolve(repo, cand_ref))
    log_dir.mkdir(parents=True, exist_ok=True)
    runner = _Runner(config, env, log_dir)

    def finish(decision: Decision, rounds: int, gate: GateResult | None) -> Comparison:
        sides_measured = 1 if stored is not None else 2
        return comparison_of(
            config,
            decision,
            baseline=base,
            candidate=cand,
            gate=gate,
            rounds=rounds,
            environment=detect_environment(env),
            started_at=started,
            finished_at=now_iso(),
            paired=stored is None,
            order=config.decision.order if stored is None else "candidate only",
            notes=notes,
            measurement=_measurement(config, rounds, sides_measured, workers),
        )

    notes: tuple[str, ...] = ()
    workers: WorkerRounds | None = None
    looks = stats.look_schedule(config.collection.measurement_runs, config.decision.max_rounds)
    head = git.try_resolve(repo, "HEAD")
    if head in (base.sha, cand.sha) and git.is_dirty(repo):
        notes = (
            "the working tree has uncommitted changes; they are not measured (commit them, or use "
            "`bench` to measure the working tree)",
        )
    touched = git.touched_protected(git.changed_paths(repo, base.sha, cand.sha), config.gate.protected_paths)
    if touched:
        gate = GateResult(
            command=config.gate.command,
            passed=False,
            protected_paths_touched=tuple(touched),
            reason=f"touches protected path {touched[0]}"
            + (f" (+{len(touched) - 1} more)" if len(touched) > 1 else ""),
        )
        return finish(Decision(verdict="invalid", reason=f"candidate {gate.reason}", metrics={}), 0, gate)

    if stored is not None:
        notes += (
            f"baseline: the stored result of {base.ref} @ {base.sha[:8]} ({stored.runs} runs, "
            f"{stored.finished_at}); only the candidate was measured, statistics unpaired",
        )
    checkout: dict[SideName, str] = (
        {"candidate": cand.sha} if stored else {"baseline": base.sha, "candidate": cand.sha}
    )
    with _checkouts(repo, checkout) as paths:
        sides = {
            "baseline": _Side(
                name="baseline",
                ref=base,
                workdir=paths.get("baseline", repo),
                samples={k: list(m.samples) for k, m in stored.metrics.items()} if stored else {},
            ),
            "candidate": _Side(name="candidate", ref=cand, workdir=paths["candidate"], samples={}),
        }
        measured = [sides["candidate"]] if stored else list(sides.values())
        if config.benchmark.mode == "worker":
            workers = WorkerRounds(
                WorkerPlan.from_config(config), runner.launch, {s.name: s.workdir for s in measured}
            )
        gate_result: GateResult | None = None
        rounds = 0
        try:
            if config.benchmark.setup:
                progress(Progress(phase="setup", message=config.benchmark.setup))
            for side in measured:
                run = runner.setup(side)
                if run is not None and not run.ok:
                    msg = (
                        f"setup failed on the {side.name} ({side.ref.ref}, exit {run.returncode}); "
                        f"logs in {run.stderr_path}"
                    )
                    if side.name == "candidate":
                        raise CandidateFailed(msg)
                    raise MeasurementError(msg)
            gate_result = _run_gate(runner, sides["candidate"], progress)
            if not gate_result.passed:
                raise CandidateFailed(f"gate failed: {gate_result.reason}", gate_result)
            for i in range(config.collection.warmup_runs if workers is None else 0):
                progress(Progress(phase="warmup", round=i + 1, total=config.collection.warmup_runs))
                for side in measured:
                    _measure_side(runner, side, f"warmup{i + 1}", record=False)
            rng = random.Random(config.decision.seed)
            target = min(config.collection.measurement_runs, config.decision.max_rounds)
            decision: Decision | None = None
            while True:
                for order in round_order(config.decision.order, target - rounds, rng):
                    names = [n for n in order if stored is None or n == "candidate"]
                    if workers is not None:
                        _worker_round(workers, sides, names, f"round{rounds + 1}")
                    else:
                        for name in names:
                            _measure_side(runner, sides[name], f"round{rounds + 1}", record=True)
                    rounds += 1
                    progress(
                        Progress(
                            phase="round",
                            round=rounds,
                            total=target,
                            estimate=_objective_estimate(config, sides, looks),
                        )
                    )
                decision = decide(
                    config,
                    sides["baseline"].samples,
                    sides["candidate"].samples,
                    paired=stored is None,
                    looks=looks,
                )
                if decision.resolution is not None and rounds == looks[0]:
                    progress(Progress(phase="note", round=rounds, message=_resolution_note(config, decision)))
                objective = decision.metrics.get(config.objective.metric)
                more = rounds_to_add(
                    objective.estimate if objective else None,
                    decision.verdict,
                    rounds=rounds,
                    max_rounds=config.decision.max_rounds,
                    min_effect=config.decision.min_effect,
                )
                if more <= 0:
                    break
                target = rounds + more
                progress(
                    Progress(
                        phase="extend",
                        round=rounds,
                        total=target,
                        message=f"inconclusive after {rounds} rounds; adding {more}",
                    )
                )
        except CandidateFailed as failed:
            partial = decide(
                config,
                sides["baseline"].samples,
                sides["candidate"].samples,
                paired=stored is None,
                looks=looks,
            )
            progress(Progress(phase="done", round=rounds, total=rounds, message=failed.reason))
            return finish(
                Decision(verdict="invalid", reason=failed.reason, metrics=partial.metrics),
                rounds,
                failed.gate or gate_result,
            )
    progress(Progress(phase="done", round=rounds, total=rounds, message=decision.verdict))
    return finish(decision, rounds, gate_result)


def _measure_side(runner: _Runner, side: _Side, label: str, *, record: bool) -> None:
    try:
        values = runner.once(side, label)
    except MeasurementError as err:
        if side.name == "candidate":
            raise CandidateFailed(err.message) from None
        raise
    if record:
        _record(side, values)


def _run_gate(runner: _Runner, side: _Side, progress: ProgressFn) -> GateResult:
    command = runner.config.gate.command
    if not command:
        return GateResult(command=None, passed=True, reason="no gate configured")
    progress(Progress(phase="gate", message=command))
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


def _objective_estimate(
    config: Config, sides: Mapping[str, _Side], looks: tuple[int, ...]
) -> Estimate | None:
    name = config.objective.metric
    b, c = sides["baseline"].samples.get(name, []), sides["candidate"].samples.get(name, [])
    if len(b) < 2 or len(b) != len(c) or min(b + c) <= 0:
        return None
    return paired_estimate(b, c, confidence=config.decision.confidence, looks=looks)


def _resolution_note(config: Config, decision: Decision) -> str:
    assert decision.resolution is not None
    return resolution_text(decision.resolution, min_effect=config.decision.min_effect)


# --- worker mode ------------------------------------------------------------------------------------


def _worker_round(
    workers: WorkerRounds, sides: Mapping[str, _Side], names: list[SideName], label: str
) -> None:
    """One round of worker mode: every side's values, or the failure of one side as a failed run."""
    try:
        values = workers.round(names, label)
    except WorkerFailed as failed:
        if failed.side == "candidate":
            raise CandidateFailed(failed.message) from None
        raise MeasurementError(failed.message) from None
    wanted = {spec.name for spec in workers.plan.metrics}
    for name in names:
        _record(sides[name], {k: v for k, v in values[name].items() if k in wanted})


def _worker_run(workers: WorkerRounds, i: int) -> dict[str, float]:
    """One run of ``measure_ref`` in worker mode: a fresh worker process, its blocks' values."""
    try:
        values = workers.round(["baseline"], f"run{i + 1}")["baseline"]
    except WorkerFailed as failed:
        raise MeasurementError(failed.message) from None
    wanted = {spec.name for spec in workers.plan.metrics}
    return {k: v for k, v in values.items() if k in wanted}


def _measurement(config: Config, rounds: int, sides: int, workers: WorkerRounds | None) -> Measurement:
    """How the comparison measured: the mode and the processes its verdict stands on."""
    if workers is None:
        return Measurement(mode="process", processes=rounds * sides)
    w = workers.plan
    shared = w.together and sides > 1
    return Measurement(
        mode="worker",
        processes=rounds * (1 if shared else sides),
        sides_per_process=2 if shared else 1,
        blocks=w.blocks,
        warmup_blocks=w.warmup_blocks,
        calls_per_block=workers.calls,
    )


def measure_ref(
    repo: Path,
    config: Config,
    ref: str | None,
    *,
    env: Mapping[str, str],
    log_dir: Path,
    runs: int | None = None,
    progress: ProgressFn = _ignore,
) -> Result:
    """Measure one ref (``None``: the working tree as it is) ``runs`` times after warm-up.

    On failure, the :class:`MeasurementError` carries the runs measured so far as ``partial``.
    """
    started = now_iso()
    log_dir.mkdir(parents=True, exist_ok=True)
    runner = _Runner(config, env, log_dir)
    n = runs if runs is not None else config.collection.measurement_runs
    with ExitStack() as stack:
        if ref is None:
            info = RefInfo(ref="WORKTREE", sha=git.try_resolve(repo, "HEAD") or "")
            dirty = git.is_dirty(repo)
            workdir = repo
        else:
            info = RefInfo(ref=ref, sha=git.resolve(repo, ref))
            dirty = False
            workdir = stack.enter_context(_checkouts(repo, {"baseline": info.sha}))["baseline"]
        side = _Side(name="baseline", ref=info, workdir=workdir, samples={})
        workers = (
            WorkerRounds(WorkerPlan.from_config(config), runner.launch, {"baseline": workdir})
            if config.benchmark.mode == "worker"
            else None
        )

        def result(error: str | None) -> Result:
            specs = {s.name: s for s in config.measured_metrics()}
            return Result(
                ref=info,
                dirty=dirty,
                config_hash=config.hash,
                environment=detect_environment(env),
                metrics={
                    k: MetricSamples(
                        name=k, unit=specs[k].unit, direction=specs[k].direction, samples=tuple(v)
                    )
                    for k, v in side.samples.items()
                },
                runs=side.runs,
                warmup_runs=config.collection.warmup_runs,
                started_at=started,
                finished_at=now_iso(),
                error=error,
            )

        try:
            if config.benchmark.setup:
                progress(Progress(phase="setup", message=config.benchmark.setup))
            run = runner.setup(side)
            if run is not None and not run.ok:
                raise MeasurementError(f"setup failed (exit {run.returncode}); logs in {run.stderr_path}")
            for i in range(config.collection.warmup_runs if workers is None else 0):
                progress(Progress(phase="warmup", round=i + 1, total=config.collection.warmup_runs))
                runner.once(side, f"warmup{i + 1}")
            t0 = time.perf_counter()
            for i in range(n):
                _record(
                    side, runner.once(side, f"run{i + 1}") if workers is None else _worker_run(workers, i)
                )
                progress(
                    Progress(phase="round", round=i + 1, total=n, message=f"{time.perf_counter() - t0:.1f} s")
                )
        except MeasurementError as err:
            err.partial = result(err.message)
            raise
        progress(Progress(phase="done", round=n, total=n))
        return result(None)
