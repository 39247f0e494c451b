"""One pair of commits, evaluated once: the recorded evaluation when git has one, else a measurement
that is recorded at once.

The key of an evaluation is (candidate sha, baseline sha, config hash[, benchmark tree]); ``compare``,
``run`` and the GitHub path compute it the same way (:func:`key_for`), so a pair measured by one is
reused by the others instead of being measured again with a possibly different answer. What was reused
says where it came from (``Comparison.measured_by``, ``finished_at``, the environment).

``compare`` records its evaluation as ``pending`` with the source ``compare:<candidate ref>`` and
iteration 0: a measurement, not a step of the loop (the loop's state ignores it until ``run`` takes it
up as one of its candidates and decides about it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ci_autoresearch import git
from ci_autoresearch.config.model import Config
from ci_autoresearch.decide.stats import summary
from ci_autoresearch.history import notes as history
from ci_autoresearch.measure import overlay
from ci_autoresearch.measure.progress import ProgressFn
from ci_autoresearch.measure.session import compare_refs
from ci_autoresearch.model import BenchmarkFiles, Evaluation

COMPARE_SOURCE = "compare:"


@dataclass(frozen=True, kw_only=True)
class Evaluated:
    """The evaluation of a pair, and how it was obtained.

    ``reused``: it was recorded before and not measured now. ``recorded``: this call wrote it as a note.
    ``note``: one line for the person at the terminal (where a reused verdict came from, or why a fresh
    measurement was not recorded); empty when there is nothing to say.
    """

    evaluation: Evaluation
    reused: bool
    recorded: bool
    note: str = ""


def key_for(
    repo: Path, config: Config, base_sha: str, cand_sha: str, *, env: Mapping[str, str]
) -> tuple[str, BenchmarkFiles | None]:
    """The evaluation key of measuring ``cand_sha`` against ``base_sha`` now, and the benchmark files
    (``benchmark.from``) that measurement will use."""
    files = overlay.resolve(repo, config.benchmark, base_sha=base_sha, cand_sha=cand_sha, env=env)
    return history.evaluation_key(cand_sha, base_sha, config.hash, overlay.key_part(files)), files


def provenance(ev: Evaluation) -> str:
    """Where a recorded verdict came from, in words: ``measured by run at 2026-… (#3)``."""
    c = ev.comparison
    by = f"measured by {c.measured_by}" if c.measured_by else "measured"
    where = f" (#{ev.iteration}, {ev.decision})" if ev.iteration else ""
    return f"{by} at {c.finished_at}{where}"


def is_standalone(ev: Evaluation) -> bool:
    """A ``compare`` measurement that no loop has taken up: not an iteration of the loop."""
    return ev.source.startswith(COMPARE_SOURCE)


def compare_and_record(
    repo: Path,
    config: Config,
    base: str,
    candidate: str,
    *,
    env: Mapping[str, str],
    log_dir: Path,
    progress: ProgressFn,
    fresh: bool = False,
) -> Evaluated:
    """``compare``: reuse the recorded evaluation of the pair, or measure it and record it as a note.

    ``fresh`` measures even when one is recorded; the new measurement replaces a recorded one that is
    still ``pending``, but not a decision the loop made (kept / discarded): that stays, and the note
    says so.
    """
    base_sha, cand_sha = git.resolve(repo, base), git.resolve(repo, candidate)
    key, files = key_for(repo, config, base_sha, cand_sha, env=env)
    known = history.load(repo).find(key)
    if known is not None and not fresh:
        note = f"reused: {provenance(known)} ({git.short(cand_sha)} against {git.short(base_sha)}); "
        note += "--fresh measures again"
        return Evaluated(evaluation=known, reused=True, recorded=False, note=note)
    t0 = time.monotonic()
    comparison = compare_refs(
        repo,
        config,
        base,
        candidate,
        env=env,
        log_dir=log_dir,
        progress=progress,
        benchmark_files=files,
        measured_by="compare",
    )
    obj = comparison.objective_metric
    ev = Evaluation(
        comparison=comparison,
        decision="pending",
        decision_reason="",
        iteration=0,
        key=key,
        source=f"{COMPARE_SOURCE}{candidate}",
        candidate_head=cand_sha,
        objective_value=summary(obj.candidate)["median"] if obj and obj.candidate else None,
        measured_seconds=time.monotonic() - t0,
    )
    if known is not None and known.decision != "pending":
        note = f"not recorded: this pair was decided before ({provenance(known)}); that decision stands"
        return Evaluated(evaluation=ev, reused=False, recorded=False, note=note)
    history.record(repo, ev)
    return Evaluated(
        evaluation=ev, reused=False, recorded=True, note=f"recorded as {key[:17]}… in {git.NOTES_REF}"
    )
