"""Measuring one ref on its own (``bench``, the baseline artifact): setup, warm-up, then ``runs`` runs.

The working tree is measured as it is; a ref is checked out privately like a side of a comparison
(:func:`~ci_autoresearch.measure.session.checkouts`), under the repository's lock.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path

from ci_autoresearch import git
from ci_autoresearch.artifacts import result_to_json
from ci_autoresearch.config.model import Config
from ci_autoresearch.errors import MeasurementError
from ci_autoresearch.history import recover
from ci_autoresearch.measure import overlay, sandbox
from ci_autoresearch.measure.environment import detect_environment, now_iso
from ci_autoresearch.measure.progress import Progress, ProgressFn, ignore_progress
from ci_autoresearch.measure.session import checkouts, keep_partial
from ci_autoresearch.measure.sides import Side, SideRunner, add_samples, worker_run
from ci_autoresearch.measure.worker import WorkerPlan, WorkerRounds
from ci_autoresearch.measure.worker_process import available_cpus
from ci_autoresearch.model import BenchmarkFiles, MetricSamples, RefInfo, Result


def measure_ref(
    repo: Path,
    config: Config,
    ref: str | None,
    *,
    env: Mapping[str, str],
    log_dir: Path,
    runs: int | None = None,
    progress: ProgressFn = ignore_progress,
) -> Result:
    """Measure one ref (``None``: the working tree as it is) ``runs`` times after warm-up.

    On failure, the :class:`MeasurementError` carries the runs measured so far as ``partial``.
    """
    started = now_iso()
    log_dir.mkdir(parents=True, exist_ok=True)
    runner = SideRunner(config, env, log_dir)
    n = runs if runs is not None else config.collection.measurement_runs
    with ExitStack() as stack:
        side, dirty, bench_files = _ref_side(stack, repo, ref, runner=runner, env=env)
        workers = (
            stack.enter_context(
                WorkerRounds(
                    WorkerPlan.from_config(config),
                    runner.launch,
                    {"baseline": side.workdir},
                    cpus=available_cpus(),
                )
            )
            if config.benchmark.mode == "worker"
            else None
        )

        def result(error: str | None) -> Result:
            return _ref_result(
                config, env, side, dirty=dirty, benchmark=bench_files, started=started, error=error
            )

        try:
            _measure_runs(runner, side, workers, n, progress)
        except MeasurementError as err:
            err.partial = result(err.message)
            raise
        except KeyboardInterrupt as stop:  # a signal: keep the runs measured so far
            what = f"interrupted by {getattr(stop, 'name', 'Ctrl-C')} after {side.runs} runs"
            keep_partial(stop, log_dir / "partial.result.json", lambda _: result_to_json(result(what)))
            raise
        progress(Progress(phase="done", round=n, total=n))
        return result(None)


def _ref_side(
    stack: ExitStack, repo: Path, ref: str | None, *, runner: SideRunner, env: Mapping[str, str]
) -> tuple[Side, bool, BenchmarkFiles | None]:
    """The side ``measure_ref`` measures, whether its tree is dirty, and its benchmark files: the
    working tree as it is, or a checkout of ``ref`` (under the repository's lock, guarded)."""
    if ref is None:  # the working tree runs its own benchmark: nothing is written into it
        info = RefInfo(ref="WORKTREE", sha=git.try_resolve(repo, "HEAD") or "")
        return Side(name="baseline", ref=info, workdir=repo, samples={}), git.is_dirty(repo), None
    stack.enter_context(recover.repo_lock(repo))
    runner.guard = sandbox.RepoGuard(repo, env)
    info = RefInfo(ref=ref, sha=git.resolve(repo, ref))
    workdir = stack.enter_context(checkouts(repo, {"baseline": info.sha}))["baseline"]
    bench_files = overlay.resolve(
        repo, runner.config.benchmark, base_sha=info.sha, cand_sha=info.sha, env=env
    )
    overlay.apply(repo, bench_files, workdir, info.sha, env=env)
    return Side(name="baseline", ref=info, workdir=workdir, samples={}), False, bench_files


def _measure_runs(
    runner: SideRunner, side: Side, workers: WorkerRounds | None, n: int, progress: ProgressFn
) -> None:
    """Setup, warm-up (process mode) and ``n`` measured runs of one side."""
    config = runner.config
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
        add_samples(side, runner.once(side, f"run{i + 1}") if workers is None else worker_run(workers, i, n))
        progress(Progress(phase="round", round=i + 1, total=n, message=f"{time.perf_counter() - t0:.1f} s"))


def _ref_result(
    config: Config,
    env: Mapping[str, str],
    side: Side,
    *,
    dirty: bool,
    benchmark: BenchmarkFiles | None,
    started: str,
    error: str | None,
) -> Result:
    """The result of ``measure_ref`` with the samples measured so far (``error``: why it stopped)."""
    specs = {s.name: s for s in config.measured_metrics()}
    return Result(
        ref=side.ref,
        dirty=dirty,
        config_hash=config.hash,
        environment=detect_environment(env),
        metrics={
            k: MetricSamples(name=k, unit=specs[k].unit, direction=specs[k].direction, samples=tuple(v))
            for k, v in side.samples.items()
        },
        runs=side.runs,
        warmup_runs=config.collection.warmup_runs,
        started_at=started,
        finished_at=now_iso(),
        error=error,
        benchmark=benchmark,
    )


__all__ = ["measure_ref"]
