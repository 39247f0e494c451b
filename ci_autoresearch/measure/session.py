"""A measuring session: worktrees, setup, gate, warm-up, the rounds, and how it ended.

``compare_refs`` measures both sides in the same run, each in a private clone: setup on each side, the
gate on the candidate, warm-up runs, then interleaved rounds until decided
(:mod:`ci_autoresearch.measure.rounds`: the order, the looks, the time plan). A failing or tampering
candidate ends the comparison ``invalid`` with what was measured; a signal leaves the partial result in
the log directory. ``measure_ref`` (:mod:`ci_autoresearch.measure.single`) measures one ref on its own.
The sides and their runner are :mod:`ci_autoresearch.measure.sides`, the gate
:mod:`ci_autoresearch.measure.gate`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci_autoresearch import git
from ci_autoresearch.artifacts import comparison_to_json, write_json
from ci_autoresearch.config.model import Config
from ci_autoresearch.decide.sequential import look_schedule
from ci_autoresearch.decide.verdict import Decision, comparison_of, decide
from ci_autoresearch.errors import MeasurementError
from ci_autoresearch.history import recover
from ci_autoresearch.measure import overlay, sandbox
from ci_autoresearch.measure.environment import detect_environment, now_iso
from ci_autoresearch.measure.gate import protected_paths_gate, run_gate
from ci_autoresearch.measure.progress import Progress, ProgressFn, ignore_progress
from ci_autoresearch.measure.rounds import Session, measure_until_decided
from ci_autoresearch.measure.sides import (
    CandidateFailed,
    Side,
    SideName,
    SideRunner,
    Tampered,
    measure_side,
    output_tail,
)
from ci_autoresearch.measure.worker import WorkerPlan, WorkerRounds
from ci_autoresearch.measure.worker_process import available_cpus
from ci_autoresearch.model import (
    BenchmarkFiles,
    Comparison,
    GateResult,
    Measurement,
    RefInfo,
    Result,
)


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


@dataclass(frozen=True, kw_only=True)
class _Ending:
    """How a session ended: its decision, the line shown for it, the gate and a failing command's output."""

    decision: Decision
    message: str
    gate: GateResult | None
    output: str = ""


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
        with session.workers or nullcontext():  # no worker outlives its checkout
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
) -> Session:
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
    session = Session(
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


def _run_session(session: Session, frame: _Frame, log_dir: Path) -> _Ending:
    """Set up, gate, warm up and measure rounds until decided; a failing or tampering candidate ends
    the session ``invalid``; a signal leaves what was measured in ``log_dir``."""
    try:
        _prepare(session)
        decision = measure_until_decided(session)
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


def _prepare(session: Session) -> None:
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
