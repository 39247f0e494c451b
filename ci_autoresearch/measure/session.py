"""A measuring session: worktrees, setup, gate, warm-up and interleaved rounds.

``compare_refs`` measures both sides in the same run, one round = one run of each side (or, in worker
mode, fresh worker processes timing blocks of calls: :mod:`ci_autoresearch.measure.worker`), in ABBA or seeded
random order, so slow drifts of the machine hit both sides alike and rounds pair up. It adds rounds
while the verdict is inconclusive, at the looks of ``sequential.look_schedule``, up to
``decision.max_rounds``. ``measure_ref`` measures one
ref on its own (``bench``, the baseline artifact).
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ci_autoresearch import git
from ci_autoresearch.artifacts import comparison_to_json, result_to_json, write_json
from ci_autoresearch.config.model import Config, MetricSpec
from ci_autoresearch.decide.sequential import look_schedule, paired_estimate
from ci_autoresearch.decide.stopping import rounds_to_add
from ci_autoresearch.decide.verdict import Decision, comparison_of, decide, resolution_text
from ci_autoresearch.errors import MeasurementError
from ci_autoresearch.history import recover
from ci_autoresearch.measure import metrics, overlay, sandbox
from ci_autoresearch.measure.environment import detect_environment, now_iso
from ci_autoresearch.measure.protect import protected_changes
from ci_autoresearch.measure.runner import RunResult, WorkerProcess, run_measured, scrub_env, start_worker
from ci_autoresearch.measure.worker import WorkerFailed, WorkerPlan, WorkerRounds
from ci_autoresearch.model import (
    BenchmarkFiles,
    Comparison,
    Estimate,
    GateResult,
    Measurement,
    MetricSamples,
    RefInfo,
    Result,
)

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
class _Side:
    name: SideName
    ref: RefInfo
    workdir: Path
    samples: dict[str, list[float]]
    runs: int = 0


class _Runner:
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
            metrics.require_valgrind(self.env, self.instructions[0].name) if self.instructions else None
        )
        command = config.benchmark.command
        if not command and config.benchmark.mode == "process":
            raise MeasurementError("benchmark.command is needed to run; add it to the configuration")
        self.command: str = command or ""

    def _run(self, side: _Side, command: str, *, timeout: float, name: str) -> RunResult:
        """Run untrusted code of one side; then check it left the repository's git directory alone."""
        run = run_measured(
            command, cwd=side.workdir, env=self.env, timeout=timeout, log_dir=self.log_dir, name=name
        )
        changed = self.guard.check() if self.guard else []  # against the snapshot of the session's start
        if changed:
            raise Tampered(side.name, name.split(".", 1)[-1], changed)
        return run

    def setup(self, side: _Side) -> RunResult | None:
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

    def gate(self, side: _Side) -> RunResult | None:
        if not self.config.gate.command:
            return None
        return self._run(
            side, self.config.gate.command, timeout=self.config.gate.timeout_seconds, name=f"{side.name}.gate"
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
            tail = _last_line(run.stderr) or _last_line(run.stdout)
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
    """A private clone per side (:func:`sandbox.checkout`: no git directory shared with ``repo``) in a
    temporary folder owned by this process; removed afterwards, even on a signal, or by the next run
    after a ``kill -9`` (:func:`recover.prune_stale`)."""
    with ExitStack() as stack:
        tmp = stack.enter_context(recover.owned_tempdir())
        paths: dict[SideName, Path] = {}
        for name, sha in shas.items():
            paths[name] = stack.enter_context(sandbox.checkout(repo, sha, tmp / name))
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
    benchmark_files: BenchmarkFiles | None = None,
    measured_by: str = "",
) -> Comparison:
    """Measure ``cand_ref`` against ``base_ref``, interleaved, and decide.

    ``labels`` name the two sides in reports when the refs are bare commits (the loop's trial merges).
    ``stored``: a stored result of ``base_ref`` (the baseline artifact) used as the baseline's samples;
    then only the candidate is measured and the statistics are unpaired (``decision.baseline: artifact``).
    ``benchmark_files``: the benchmark files resolved by the caller (it keys the evaluation with them);
    resolved here from ``benchmark.from`` when not given. ``measured_by`` names the command in the result.
    """
    started = now_iso()
    base_name, cand_name = labels or (base_ref, cand_ref)
    base = RefInfo(ref=base_name, sha=git.resolve(repo, base_ref))
    cand = RefInfo(ref=cand_name, sha=git.resolve(repo, cand_ref))
    log_dir.mkdir(parents=True, exist_ok=True)
    runner = _Runner(config, env, log_dir)
    bench_files = benchmark_files or overlay.resolve(
        repo, config.benchmark, base_sha=base.sha, cand_sha=cand.sha
    )

    def finish(decision: Decision, rounds: int, gate: GateResult | None, output: str = "") -> Comparison:
        sides_measured = 1 if stored is not None else 2
        comparison = comparison_of(
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
        return dataclasses.replace(
            comparison, benchmark=bench_files, measured_by=measured_by, failure_output=output
        )

    notes: tuple[str, ...] = ()
    workers: WorkerRounds | None = None
    looks = look_schedule(config.collection.measurement_runs, config.decision.max_rounds)
    head = git.try_resolve(repo, "HEAD")
    if head in (base.sha, cand.sha) and git.is_dirty(repo):
        notes = (
            "the working tree has uncommitted changes; they are not measured (commit them, or use "
            "`bench` to measure the working tree)",
        )
    touched = protected_changes(repo, base.sha, cand.sha, config.gate.protected_paths)
    if touched:
        gate = GateResult(
            command=config.gate.command,
            passed=False,
            protected_paths_touched=tuple(touched),
            reason=f"changes protected file {touched[0]}"
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
    with recover.repo_lock(repo), _checkouts(repo, checkout) as paths:
        runner.guard = sandbox.RepoGuard(repo, env)  # under the lock: nobody else writes meanwhile
        for name, path in paths.items():
            overlay.apply(repo, bench_files, path, checkout[name])
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
                        raise CandidateFailed(msg, output=output_tail(run))
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
        except Tampered as tampered:
            if tampered.side != "candidate":
                raise
            progress(Progress(phase="done", round=rounds, total=rounds, message=tampered.message))
            return finish(
                Decision(verdict="invalid", reason=tampered.message, metrics={}), rounds, gate_result
            )
        except KeyboardInterrupt as stop:  # a signal: keep what was measured, then go on unwinding
            _keep_partial(
                stop,
                log_dir / "partial.comparison.json",
                lambda why: comparison_to_json(
                    finish(_partial_decision(config, sides, stored is None, why, rounds), rounds, gate_result)
                ),
            )
            raise
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
                failed.output,
            )
    progress(Progress(phase="done", round=rounds, total=rounds, message=decision.verdict))
    return finish(decision, rounds, gate_result)


def _partial_decision(
    config: Config, sides: Mapping[str, _Side], paired: bool, stop: BaseException, rounds: int
) -> Decision:
    """The samples of the complete rounds, judged, but said to be partial: an interrupted comparison
    never claims a verdict."""
    base, cand = sides["baseline"].samples, sides["candidate"].samples
    if paired:
        base = {k: v[: min(len(v), len(cand.get(k, [])))] for k, v in base.items()}
        cand = {k: v[: len(base.get(k, []))] for k, v in cand.items()}
    judged = decide(config, base, cand, paired=paired)
    what = getattr(stop, "name", "Ctrl-C")
    return Decision(
        verdict="inconclusive",
        reason=f"interrupted by {what} after {rounds} rounds; partial: {judged.reason}",
        metrics=judged.metrics,
    )


def _keep_partial(
    stop: BaseException, path: Path, document: Callable[[BaseException], dict[str, Any]]
) -> None:
    """Write what was measured before a signal to ``path`` and name it on the exception; a failure to
    do so must not hide the interruption."""
    try:
        write_json(path, document(stop))
    except Exception:  # best effort while unwinding from a signal
        return
    if hasattr(stop, "partial"):
        stop.partial = str(path)


def _measure_side(runner: _Runner, side: _Side, label: str, *, record: bool) -> None:
    try:
        values = runner.once(side, label)
    except Tampered:
        raise
    except MeasurementError as err:
        if side.name == "candidate":
            raise CandidateFailed(err.message, output=err.output) from None
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
    bench_files: BenchmarkFiles | None = None
    with ExitStack() as stack:
        if ref is not None:
            stack.enter_context(recover.repo_lock(repo))
            runner.guard = sandbox.RepoGuard(repo, env)
        if ref is None:  # the working tree runs its own benchmark: nothing is written into it
            info = RefInfo(ref="WORKTREE", sha=git.try_resolve(repo, "HEAD") or "")
            dirty = git.is_dirty(repo)
            workdir = repo
        else:
            info = RefInfo(ref=ref, sha=git.resolve(repo, ref))
            dirty = False
            workdir = stack.enter_context(_checkouts(repo, {"baseline": info.sha}))["baseline"]
            bench_files = overlay.resolve(repo, config.benchmark, base_sha=info.sha, cand_sha=info.sha)
            overlay.apply(repo, bench_files, workdir, info.sha)
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
                benchmark=bench_files,
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
        except KeyboardInterrupt as stop:  # a signal: keep the runs measured so far
            what = f"interrupted by {getattr(stop, 'name', 'Ctrl-C')} after {side.runs} runs"
            _keep_partial(stop, log_dir / "partial.result.json", lambda _: result_to_json(result(what)))
            raise
        progress(Progress(phase="done", round=n, total=n))
        return result(None)
