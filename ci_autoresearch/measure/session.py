"""A measuring session: worktrees, setup, gate, warm-up and interleaved rounds.

``compare_refs`` measures both sides in the same run, one round = one run of each side (or, in worker
mode, fresh worker processes timing blocks of calls: :mod:`ci_autoresearch.measure.worker`), in ABBA or seeded
random order, so slow drifts of the machine hit both sides alike and rounds pair up. The rounds give
samples; at the looks of ``sequential.look_schedule`` the decision comes from
:func:`~ci_autoresearch.decide.verdict.decide`, and rounds are added while it is inconclusive, up to
``decision.max_rounds``. ``measure_ref`` (:mod:`ci_autoresearch.measure.single`) measures one ref on its own.
The sides and their runner are :mod:`ci_autoresearch.measure.sides`, the gate
:mod:`ci_autoresearch.measure.gate`.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ci_autoresearch import git
from ci_autoresearch.artifacts import comparison_to_json, write_json
from ci_autoresearch.config.model import Config
from ci_autoresearch.decide.sequential import look_schedule, paired_estimate
from ci_autoresearch.decide.stopping import next_look_in_time, rounds_to_add, rounds_within
from ci_autoresearch.decide.verdict import Decision, comparison_of, decide, resolution_text
from ci_autoresearch.errors import MeasurementError
from ci_autoresearch.history import recover
from ci_autoresearch.measure import overlay, sandbox
from ci_autoresearch.measure.environment import detect_environment, now_iso
from ci_autoresearch.measure.gate import protected_paths_gate, run_gate
from ci_autoresearch.measure.sides import (
    CandidateFailed,
    Side,
    SideName,
    SideRunner,
    Tampered,
    measure_side,
    output_tail,
    worker_round,
)
from ci_autoresearch.measure.worker import WorkerPlan, WorkerRounds
from ci_autoresearch.measure.worker_process import available_cpus
from ci_autoresearch.model import (
    BenchmarkFiles,
    Comparison,
    Estimate,
    GateResult,
    Measurement,
    RefInfo,
    Result,
)


@dataclass(frozen=True, kw_only=True)
class Progress:
    """What a session reports while it runs; the CLI draws it (a bar on a TTY, a line per round in CI)."""

    phase: Literal["setup", "gate", "warmup", "round", "extend", "note", "done"]
    round: int = 0
    total: int = 0
    estimate: Estimate | None = None
    message: str = ""


ProgressFn = Callable[[Progress], None]

GLANCE_SECONDS = 0.5
"""Between looks, the progress line shows the estimate at most this often: an estimate costs O(n²)
(the Walsh averages) and a repeated p-value, which at a few hundred short worker rounds would
otherwise take more CPU than the rounds themselves."""


def ignore_progress(_: Progress) -> None:
    """The default progress callback: reports nothing."""
    return


@dataclass(frozen=True, kw_only=True)
class _Frame:
    """What a comparison says besides its decision, known before the first run."""

    config: Config
    env: Mapping[str, str]
    baseline: RefInfo
    candidate: RefInfo
    stored: Result | None
    started: str
    notes: tuple[str, ...]
    benchmark: BenchmarkFiles | None
    measured_by: str

    def finish(
        self,
        decision: Decision,
        rounds: int,
        gate: GateResult | None,
        *,
        workers: WorkerRounds | None = None,
        output: str = "",
    ) -> Comparison:
        """The comparison of ``rounds`` rounds that ended with ``decision``."""
        paired = self.stored is None
        comparison = comparison_of(
            self.config,
            decision,
            baseline=self.baseline,
            candidate=self.candidate,
            gate=gate,
            rounds=rounds,
            environment=detect_environment(self.env),
            started_at=self.started,
            finished_at=now_iso(),
            paired=paired,
            order=self.config.decision.order if paired else "candidate only",
            notes=self.notes,
            measurement=_measurement(self.config, rounds, 2 if paired else 1, workers),
        )
        return dataclasses.replace(
            comparison, benchmark=self.benchmark, measured_by=self.measured_by, failure_output=output
        )


@dataclass(kw_only=True)
class _Session:
    """The state of one comparison while it measures: the sides and their samples, the rounds so far."""

    config: Config
    runner: SideRunner
    sides: dict[str, Side]
    workers: WorkerRounds | None
    paired: bool
    looks: tuple[int, ...]
    progress: ProgressFn
    rounds: int = 0
    gate: GateResult | None = None
    glanced: float = -math.inf  # when the progress line last showed an estimate (time.monotonic)

    @property
    def measured(self) -> list[Side]:
        """The sides measured in this job: both, or the candidate only against a stored baseline."""
        return list(self.sides.values()) if self.paired else [self.sides["candidate"]]

    def decide(self) -> Decision:
        """The decision on the samples so far (:func:`~ci_autoresearch.decide.verdict.decide`)."""
        return decide(
            self.config,
            self.sides["baseline"].samples,
            self.sides["candidate"].samples,
            paired=self.paired,
            looks=self.looks,
        )


@dataclass(frozen=True, kw_only=True)
class _Ending:
    """How a session ended: its decision, the line shown for it, the gate and a failing command's output."""

    decision: Decision
    message: str
    gate: GateResult | None
    output: str = ""


def round_order(order: str, rounds: int, rng: random.Random) -> Iterator[tuple[SideName, SideName]]:
    """The order of the two sides in each round: ABBA alternates, random flips a seeded coin."""
    for i in range(rounds):
        if order == "random":
            first_base = rng.random() < 0.5
        else:
            first_base = i % 2 == 0
        yield ("baseline", "candidate") if first_base else ("candidate", "baseline")


@contextmanager
def checkouts(repo: Path, shas: Mapping[SideName, str]) -> Iterator[dict[SideName, Path]]:
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
    progress: ProgressFn = ignore_progress,
    labels: tuple[str, str] | None = None,
    stored: Result | None = None,
    benchmark_files: BenchmarkFiles | None = None,
    measured_by: str = "",
    runner: SideRunner | None = None,
) -> Comparison:
    """Measure ``cand_ref`` against ``base_ref``, interleaved, and decide.

    ``labels`` name the two sides in reports when the refs are bare commits (the loop's trial merges).
    ``stored``: a stored result of ``base_ref`` (the baseline artifact) used as the baseline's samples;
    then only the candidate is measured and the statistics are unpaired (``decision.baseline: artifact``).
    ``benchmark_files``: the benchmark files resolved by the caller (it keys the evaluation with them);
    resolved here from ``benchmark.from`` when not given. ``measured_by`` names the command in the result.
    ``runner`` runs each side (default: a :class:`SideRunner` of ``config``, ``env`` and ``log_dir``).
    """
    started = now_iso()
    base_name, cand_name = labels or (base_ref, cand_ref)
    base = RefInfo(ref=base_name, sha=git.resolve(repo, base_ref))
    cand = RefInfo(ref=cand_name, sha=git.resolve(repo, cand_ref))
    log_dir.mkdir(parents=True, exist_ok=True)
    runner = runner or SideRunner(config, env, log_dir)
    frame = _Frame(
        config=config,
        env=env,
        baseline=base,
        candidate=cand,
        stored=stored,
        started=started,
        notes=_dirty_notes(repo, base, cand),
        benchmark=benchmark_files
        or overlay.resolve(repo, config.benchmark, base_sha=base.sha, cand_sha=cand.sha, env=env),
        measured_by=measured_by,
    )
    touched = protected_paths_gate(repo, config, base.sha, cand.sha)
    if touched is not None:
        invalid = Decision(verdict="invalid", reason=f"candidate {touched.reason}", metrics={})
        return frame.finish(invalid, 0, touched)
    if stored is not None:
        frame = dataclasses.replace(frame, notes=(*frame.notes, _stored_note(base, stored)))
    checkout: dict[SideName, str] = (
        {"candidate": cand.sha} if stored else {"baseline": base.sha, "candidate": cand.sha}
    )
    with recover.repo_lock(repo), checkouts(repo, checkout) as paths:
        runner.guard = sandbox.RepoGuard(repo, env)  # under the lock: nobody else writes meanwhile
        for name, path in paths.items():
            overlay.apply(repo, frame.benchmark, path, checkout[name], env=env)
        session = _open_session(frame, runner, paths, progress, repo=repo)
        ending = _run_session(session, frame, log_dir)
    rounds = session.rounds
    progress(Progress(phase="done", round=rounds, total=rounds, message=ending.message))
    return frame.finish(ending.decision, rounds, ending.gate, workers=session.workers, output=ending.output)


def _dirty_notes(repo: Path, base: RefInfo, cand: RefInfo) -> tuple[str, ...]:
    """A note when one side is the checked-out commit and the working tree has uncommitted changes."""
    head = git.try_resolve(repo, "HEAD")
    if head in (base.sha, cand.sha) and git.is_dirty(repo):
        return (
            "the working tree has uncommitted changes; they are not measured (commit them, or use "
            "`bench` to measure the working tree)",
        )
    return ()


def _stored_note(base: RefInfo, stored: Result) -> str:
    return (
        f"baseline: the stored result of {base.ref} @ {base.sha[:8]} ({stored.runs} runs, "
        f"{stored.finished_at}); only the candidate was measured, statistics unpaired"
    )


def _open_session(
    frame: _Frame, runner: SideRunner, paths: Mapping[SideName, Path], progress: ProgressFn, *, repo: Path
) -> _Session:
    """The sides of a comparison in their checkouts (the baseline's samples from the stored result,
    if any, in ``repo``) and, in worker mode, their workers."""
    config, stored = frame.config, frame.stored
    sides: dict[str, Side] = {
        "baseline": Side(
            name="baseline",
            ref=frame.baseline,
            workdir=paths.get("baseline", repo),
            samples={k: list(m.samples) for k, m in stored.metrics.items()} if stored else {},
        ),
        "candidate": Side(name="candidate", ref=frame.candidate, workdir=paths["candidate"], samples={}),
    }
    session = _Session(
        config=config,
        runner=runner,
        sides=sides,
        workers=None,
        paired=stored is None,
        looks=look_schedule(config.collection.measurement_runs, config.decision.max_rounds),
        progress=progress,
    )
    if config.benchmark.mode == "worker":
        session.workers = WorkerRounds(
            WorkerPlan.from_config(config),
            runner.launch,
            {s.name: s.workdir for s in session.measured},
            cpus=available_cpus(),
        )
    return session


def _run_session(session: _Session, frame: _Frame, log_dir: Path) -> _Ending:
    """Set up, gate, warm up and measure rounds until decided; a failing or tampering candidate ends
    the session ``invalid``; a signal leaves what was measured in ``log_dir``."""
    try:
        _prepare(session)
        decision = _measure_until_decided(session)
        return _Ending(decision=decision, message=decision.verdict, gate=session.gate)
    except Tampered as tampered:
        if tampered.side != "candidate":
            raise
        invalid = Decision(verdict="invalid", reason=tampered.message, metrics={})
        return _Ending(decision=invalid, message=tampered.message, gate=session.gate)
    except KeyboardInterrupt as stop:  # a signal: keep what was measured, then go on unwinding
        keep_partial(
            stop,
            log_dir / "partial.comparison.json",
            lambda why: comparison_to_json(
                frame.finish(
                    _partial_decision(session.config, session.sides, session.paired, why, session.rounds),
                    session.rounds,
                    session.gate,
                    workers=session.workers,
                )
            ),
        )
        raise
    except CandidateFailed as failed:
        partial = session.decide()
        invalid = Decision(verdict="invalid", reason=failed.reason, metrics=partial.metrics)
        return _Ending(
            decision=invalid, message=failed.reason, gate=failed.gate or session.gate, output=failed.output
        )


def _prepare(session: _Session) -> None:
    """Setup on every measured side, the gate on the candidate, then the warm-up runs."""
    config, runner, progress = session.config, session.runner, session.progress
    if config.benchmark.setup:
        progress(Progress(phase="setup", message=config.benchmark.setup))
    for side in session.measured:
        run = runner.setup(side)
        if run is not None and not run.ok:
            msg = (
                f"setup failed on the {side.name} ({side.ref.ref}, exit {run.returncode}); "
                f"logs in {run.stderr_path}"
            )
            if side.name == "candidate":
                raise CandidateFailed(msg, output=output_tail(run))
            raise MeasurementError(msg)
    if config.gate.command:
        progress(Progress(phase="gate", message=config.gate.command))
    session.gate = run_gate(runner, session.sides["candidate"])
    if not session.gate.passed:
        raise CandidateFailed(f"gate failed: {session.gate.reason}", session.gate)
    for i in range(config.collection.warmup_runs if session.workers is None else 0):
        progress(Progress(phase="warmup", round=i + 1, total=config.collection.warmup_runs))
        for side in session.measured:
            measure_side(runner, side, f"warmup{i + 1}", record=False)


def _measure_until_decided(session: _Session) -> Decision:
    """Rounds up to the first look, then more at each look while the objective is inconclusive."""
    config = session.config
    rng = random.Random(config.decision.seed)
    target = min(config.collection.measurement_runs, config.decision.max_rounds)
    started = time.perf_counter()
    while True:
        _play_rounds(session, target, rng)
        if session.rounds == session.looks[0] and config.decision.max_seconds is not None:
            config = _plan_within(session, time.perf_counter() - started)
        decision = session.decide()
        if decision.resolution is not None and session.rounds == session.looks[0]:
            note = resolution_text(decision.resolution, min_effect=config.decision.min_effect)
            session.progress(Progress(phase="note", round=session.rounds, message=note))
        objective = decision.metrics.get(config.objective.metric)
        more = rounds_to_add(
            objective.estimate if objective else None,
            decision.verdict,
            rounds=session.rounds,
            max_rounds=config.decision.max_rounds,
            min_effect=config.decision.min_effect,
        )
        if more <= 0 or _out_of_time(session, session.rounds + more, time.perf_counter() - started):
            return decision
        target = session.rounds + more
        message = f"inconclusive after {session.rounds} rounds; adding {more}"
        session.progress(Progress(phase="extend", round=session.rounds, total=target, message=message))


def _plan_within(session: _Session, elapsed: float) -> Config:
    """At the first look, lower ``max_rounds`` to the rounds that fit in ``decision.max_seconds`` at the
    pace so far (the looks are planned again, from durations only); the session's configuration."""
    config = session.config
    limit = config.decision.max_seconds
    assert limit is not None
    planned = rounds_within(
        limit, rounds=session.rounds, elapsed=elapsed, max_rounds=config.decision.max_rounds
    )
    if planned < config.decision.max_rounds:
        session.config = dataclasses.replace(
            config, decision=dataclasses.replace(config.decision, max_rounds=planned)
        )
        session.looks = look_schedule(session.looks[0], planned)
        message = (
            f"{session.rounds} rounds took {elapsed:.1f} s: at most {planned} rounds fit in "
            f"{limit:g} s (decision.max_seconds)"
        )
        session.progress(Progress(phase="note", round=session.rounds, message=message))
    return session.config


def _out_of_time(session: _Session, target: int, elapsed: float) -> bool:
    """Whether the next look, at ``target`` rounds, would end after ``decision.max_seconds`` at the pace
    so far: then the session ends at this look (with a note); the verdict is this look's."""
    limit = session.config.decision.max_seconds
    if limit is None or next_look_in_time(limit, rounds=session.rounds, elapsed=elapsed, target=target):
        return False
    message = (
        f"{session.rounds} rounds took {elapsed:.1f} s: the next look, at {target} rounds, would end "
        f"after {limit:g} s (decision.max_seconds); ending at this look"
    )
    session.progress(Progress(phase="note", round=session.rounds, message=message))
    return True


def _play_rounds(session: _Session, target: int, rng: random.Random) -> None:
    """Rounds until ``target``: each side once per round (the measured ones), in the configured order."""
    for order in round_order(session.config.decision.order, target - session.rounds, rng):
        names = [n for n in order if session.paired or n == "candidate"]
        label = f"round{session.rounds + 1}"
        if session.workers is not None:
            worker_round(session.workers, session.sides, names, label)
        else:
            for name in names:
                measure_side(session.runner, session.sides[name], label, record=True)
        session.rounds += 1
        estimate = None
        now = time.monotonic()
        if session.rounds in session.looks or now - session.glanced >= GLANCE_SECONDS:
            estimate = _objective_estimate(session.config, session.sides, session.looks)
            session.glanced = now
        session.progress(Progress(phase="round", round=session.rounds, total=target, estimate=estimate))


def _partial_decision(
    config: Config, sides: Mapping[str, Side], paired: bool, stop: BaseException, rounds: int
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


def keep_partial(
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


def _objective_estimate(config: Config, sides: Mapping[str, Side], looks: tuple[int, ...]) -> Estimate | None:
    name = config.objective.metric
    b, c = sides["baseline"].samples.get(name, []), sides["candidate"].samples.get(name, [])
    if len(b) < 2 or len(b) != len(c) or min(b + c) <= 0:
        return None
    return paired_estimate(b, c, confidence=config.decision.confidence, looks=looks, interim=True)


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
