"""The autoresearch loop: pick candidates, measure each against the current best, keep real wins.

Order of effects for every candidate, so that a kill at any moment loses nothing and duplicates nothing:
1. measure (nothing is written; a kill here means the candidate is measured again next time),
2. record the evaluation as a git note (the checkpoint),
3. advance the working line (a merge commit with ``Autoresearch-*`` trailers) or archive the discard,
4. push notes and branch when a remote is configured, then tell the forge.
A restart reads the notes, finishes step 3 for a kept evaluation that did not get there, and goes on.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ci_autoresearch import git
from ci_autoresearch.actions import runtime as gha
from ci_autoresearch.artifacts import evaluation_from_json, parse_document
from ci_autoresearch.candidates import branches, generator, pool
from ci_autoresearch.config.model import Config
from ci_autoresearch.decide import keep
from ci_autoresearch.decide.verdict import pct
from ci_autoresearch.errors import ArtifactError
from ci_autoresearch.forge import Forge, Publication
from ci_autoresearch.history import notes as history
from ci_autoresearch.history import recover
from ci_autoresearch.history.convergence import LoopState, StopReason, state_from, stop_reason
from ci_autoresearch.history.recorded import is_standalone, key_for, provenance
from ci_autoresearch.measure.environment import detect_environment, now_iso
from ci_autoresearch.measure.progress import ProgressFn
from ci_autoresearch.measure.session import compare_refs
from ci_autoresearch.model import BenchmarkFiles, Candidate, Change, Comparison, Evaluation, RefInfo
from ci_autoresearch.report.markdown import evaluation_markdown, pull_request_body


@dataclass(frozen=True, kw_only=True)
class LoopOptions:
    branch: str  # the working line: where the best so far lives
    advance: bool = True  # move the working line on a keep (local); on GitHub a PR is opened instead
    max_evaluations: int | None = None  # stop this invocation after so many new evaluations


@dataclass(frozen=True, kw_only=True)
class LoopOutcome:
    evaluations: tuple[Evaluation, ...]  # made (or finished) by this invocation
    stop: StopReason | None
    exhausted: bool
    state: LoopState
    changes: tuple[Change, ...] = ()  # pull requests opened / closed by this invocation

    @property
    def reason(self) -> str:
        if self.stop is not None:
            return self.stop.message
        if self.exhausted:
            return "no untried candidates left"
        return "evaluation budget of this invocation used"


class CompareFn(Protocol):
    """How the loop measures a trial against the best: :func:`compare_refs` (a test passes a fake)."""

    def __call__(
        self,
        repo: Path,
        config: Config,
        base_ref: str,
        cand_ref: str,
        *,
        env: Mapping[str, str],
        log_dir: Path,
        progress: ProgressFn,
        labels: tuple[str, str] | None,
        benchmark_files: BenchmarkFiles | None,
        measured_by: str,
    ) -> Comparison: ...


def _say_nothing(_: str) -> None:
    return None


class Loop:
    def __init__(
        self,
        repo: Path,
        config: Config,
        *,
        env: Mapping[str, str],
        forge: Forge,
        options: LoopOptions,
        log_root: Path,
        say: Callable[[str], None] = _say_nothing,
        progress: ProgressFn | None = None,
        compare: CompareFn = compare_refs,
    ) -> None:
        self.repo = repo
        self.config = config
        self.env = env
        self.forge = forge
        self.options = options
        self.log_root = log_root
        self._say = say
        self.progress = progress
        self.compare = compare
        self.remote = config.checkpoint.remote
        self.changes: list[Change] = []

    def say(self, line: str) -> None:
        """Reasons quote candidate output: in Actions a line never acts as a workflow command."""
        self._say(gha.inert(line, env=self.env))

    # --- state -------------------------------------------------------------------------------------

    def best(self) -> str:
        return git.resolve(self.repo, self.options.branch)

    def _history(self) -> history.History:
        return history.load(self.repo)

    def _state(self, hist: history.History) -> LoopState:
        return state_from(hist.latest(), direction=self.config.objective.direction)

    def _resume(self, hist: history.History) -> None:
        """Finish a keep that was recorded but whose branch move was cut off."""
        kept = [ev for ev in hist.latest() if ev.decision == "kept" and ev.new_best]
        if not kept or not self.options.advance:
            return
        last = kept[-1]
        assert last.new_best is not None
        if self.best() == last.comparison.baseline.sha:
            self.say(f"resuming: moving {self.options.branch} to the kept {git.short(last.new_best)}")
            self._advance(last.new_best)
            if self.remote:
                git.push(self.repo, self.remote, f"refs/heads/{self.options.branch}")

    # --- candidates --------------------------------------------------------------------------------

    def _pool(self, best: str, hist: history.History) -> list[Candidate]:
        latest = [ev for ev in hist.latest() if ev.decision != "pending"]
        tried_heads = {ev.candidate_head for ev in latest}
        tried_sources = {ev.source for ev in latest if ev.source.startswith("search:")}
        everything = pool.gather(
            self.repo, self.config, base_sha=best, exclude=[self.options.branch], env=self.env
        )
        candidates = [c for c in everything if c.source not in tried_sources]  # search points: by value
        best_tree = git.tree_of(self.repo, best)
        fresh = []
        for c in candidates:
            if c.sha in tried_heads or git.is_ancestor(self.repo, c.sha, best):
                continue
            if git.tree_of(self.repo, c.sha) == best_tree:
                continue  # a no-op on the best (e.g. a search value equal to the current one)
            fresh.append(c)
        if not fresh and self.config.propose is not None:
            payload = self._propose_payload(best, hist)
            fresh = [
                c
                for c in generator.run_propose(
                    self.repo,
                    self.config.propose,
                    payload,
                    best_sha=best,
                    env=self.env,
                    log_dir=self.log_root / "propose",
                )
                if c.sha not in tried_heads
            ][: self.config.propose.max_proposals]
        return fresh

    def _propose_payload(self, best: str, hist: history.History) -> dict[str, Any]:
        return generator.propose_payload(
            self.repo,
            self.config,
            hist.latest(),
            best=best,
            branch=self.options.branch,
            state=self._state(hist),
        )

    # --- one candidate -----------------------------------------------------------------------------

    def _measure(
        self, best: str, cand: Candidate, hist: history.History, iteration: int, round_no: int
    ) -> Evaluation:
        trial = branches.trial_commit(self.repo, best, cand)
        label = cand.branch or cand.source
        if trial is None:
            comparison = keep.conflict(
                self.config,
                best=RefInfo(ref=self.options.branch, sha=best),
                candidate=cand,
                environment=detect_environment(self.env),
                now=now_iso(),
            )
            key = history.evaluation_key(cand.sha, best, self.config.hash)
            return keep.pending(
                comparison, cand, key=key, iteration=iteration, round_no=round_no, seconds=0.0
            )
        key, files = key_for(self.repo, self.config, best, trial, env=self.env)
        known = hist.find(key)
        if known is not None and is_standalone(known):  # measured by `compare`: taken up as this candidate
            self.say(
                f"#{iteration} {label}: {known.comparison.verdict}, {provenance(known)}; not measuring again"
            )
            return _replace(
                known, iteration=iteration, round=round_no, source=cand.source, candidate_head=cand.sha
            )
        if known is not None:
            self.say(
                f"#{known.iteration} {label}: already measured ({known.comparison.verdict}); "
                "not measuring again"
            )
            return known
        t0 = time.monotonic()
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:60]
        comparison = self.compare(
            self.repo,
            self.config,
            best,
            trial,
            env=self.env,
            log_dir=self.log_root / f"{iteration:04d}-{safe}",
            progress=self.progress or (lambda _: None),
            labels=(self.options.branch, label),
            benchmark_files=files,
            measured_by="run",
        )
        return keep.pending(
            comparison, cand, key=key, iteration=iteration, round_no=round_no, seconds=time.monotonic() - t0
        )

    # --- decisions ---------------------------------------------------------------------------------

    def _merge_commit(self, ev: Evaluation, cand: Candidate, best: str) -> Evaluation:
        """A kept evaluation gets the commit the working line moves to: the measured tree, with the best
        and the candidate as parents and the ``Autoresearch-*`` trailers."""
        c = ev.comparison
        obj = c.objective_metric
        delta = pct(obj.estimate.delta) if obj and obj.estimate else "?"
        message = (
            f"autoresearch: keep {cand.branch or cand.source} ({c.objective} {delta})\n\n{c.reason}\n\n"
            f"Autoresearch-Metric: {c.objective}\nAutoresearch-Delta: {delta.replace('−', '-')}\n"
            f"Autoresearch-Source: {cand.source}\nAutoresearch-Candidate: {cand.sha}\n"
        )
        new_best = git.commit_tree(
            self.repo, git.tree_of(self.repo, c.candidate.sha), [best, cand.sha], message
        )
        return _replace(ev, new_best=new_best)

    def _advance(self, new_best: str) -> None:
        branch = self.options.branch
        if git.current_branch(self.repo) == branch:
            git.merge_ff_only(self.repo, new_best)
        else:
            git.update_ref(self.repo, f"refs/heads/{branch}", new_best)

    def _after(self, ev: Evaluation, cand: Candidate) -> None:
        """Effects after the note: move the line or archive, push, tell the forge."""
        if ev.decision == "kept" and ev.new_best and self.options.advance:
            self._advance(ev.new_best)
        elif ev.decision == "discarded":
            git.update_ref(self.repo, archive_ref(ev), ev.candidate_head)
        if self.remote:
            history.push_notes(self.repo, self.remote)
            if ev.decision == "kept" and self.options.advance:
                git.push(self.repo, self.remote, f"refs/heads/{self.options.branch}")
        pub = Publication(evaluation=ev, markdown=evaluation_markdown(ev), branch=cand.branch)
        self.forge.publish(pub)
        c = ev.comparison
        if ev.decision == "kept" and cand.branch and self.config.github.open_prs:
            obj = c.objective_metric
            delta = pct(obj.estimate.delta) if obj and obj.estimate else ""
            url = self.forge.open_change(
                branch=cand.branch,
                base=self.options.branch,
                title=f"autoresearch: {c.objective} {delta} ({cand.branch})",
                body=pull_request_body(ev, base=self.options.branch, candidate=cand.branch),
                report=pub.markdown,
            )
            self.changes.append(Change(key=ev.key, branch=cand.branch, action="opened", url=url))
        elif keep.closes(ev) and cand.branch and self.config.github.close_discarded:
            closed = self.forge.close_change(branch=cand.branch, reason=ev.decision_reason)
            if closed:
                link = closed if isinstance(closed, str) else None
                self.changes.append(Change(key=ev.key, branch=cand.branch, action="closed", url=link))

    def _announce(self, ev: Evaluation, cand: Candidate) -> None:
        c = ev.comparison
        self.say(f"#{ev.iteration} {cand.branch or cand.source}: {c.verdict} — {c.reason} → {ev.decision}")

    # --- the loop ----------------------------------------------------------------------------------

    def _recover(self) -> None:
        """Before anything is measured: remove what a killed run left behind, and name (or clear) a
        stale lock that would make the first note fail after a full measurement."""
        recover.prune_stale(self.repo, say=self.say)
        recover.prune_logs(self.log_root)
        recover.check_ref_locks(self.repo, [git.NOTES_REF, f"refs/heads/{self.options.branch}"], say=self.say)

    def _record_kept_line(self, line: str) -> bool:
        """Record an evaluation an earlier run measured but could not write (False: already there)."""
        try:
            _, doc = parse_document(line, source=f"{recover.unrecorded_dir(self.repo)}")
        except ArtifactError as err:
            self.say(f"warning: {err}")
            return False
        ev = evaluation_from_json(doc)
        known = self._history().find(ev.key)
        if known is not None and known.decision == ev.decision:
            return False
        history.record(self.repo, ev)
        return True

    def _reconcile(self, hist: history.History) -> None:
        """Bring the refs in line with the notes: a run killed between the note of a discard and its
        archive ref left that ref missing (only the last decision can have been cut short)."""
        decided = [ev for ev in hist.latest() if ev.decision != "pending"]
        if not decided or decided[-1].decision != "discarded":
            return
        last = decided[-1]
        ref = archive_ref(last)
        if git.try_resolve(self.repo, ref) is None and git.try_resolve(self.repo, last.candidate_head):
            self.say(f"resuming: archiving the discarded {last.comparison.candidate.ref} as {ref}")
            git.update_ref(self.repo, ref, last.candidate_head)

    def run(self) -> LoopOutcome:
        with recover.repo_lock(self.repo):  # one measuring process per repository (see repo_lock)
            return self._run()

    def _run(self) -> LoopOutcome:
        self._recover()
        if self.remote:
            history.fetch_notes(self.repo, self.remote)
        recover.replay_unrecorded(self.repo, self._record_kept_line, say=self.say)
        hist = self._history()
        self._reconcile(hist)
        self._resume(hist)
        if self.remote and git.try_resolve(self.repo, git.NOTES_REF) != git.try_resolve(
            self.repo, history.REMOTE_TRACKING
        ):
            history.push_notes(self.repo, self.remote)  # notes recorded by a run killed before its push
        made: list[Evaluation] = []
        round_no = max((ev.round for ev in hist.evaluations), default=0)
        parallel = self.config.branching.strategy == "parallel"
        width = max(1, self.config.branching.max_branches) if parallel else 1
        while True:
            hist = self._history()
            state = self._state(hist)
            stop = stop_reason(state, self.config.constraints, self.config.objective)
            if stop is not None:
                return self._outcome(made, stop=stop, exhausted=False, state=state)
            budget = self.options.max_evaluations
            if budget is not None and len(made) >= budget:
                return self._outcome(made, stop=None, exhausted=False, state=state)
            best = self.best()
            pool = self._pool(best, hist)
            if not pool:
                return self._outcome(made, stop=None, exhausted=True, state=state)
            batch = pool[:width]
            if budget is not None:
                batch = batch[: max(1, budget - len(made))]
            if self.config.constraints.max_iterations is not None:
                batch = batch[: max(1, self.config.constraints.max_iterations - state.iterations)]
            round_no += 1
            measured: list[tuple[Evaluation, Candidate]] = []
            iteration = hist.next_iteration()
            for cand in batch:
                ev = self._measure(best, cand, hist, iteration, round_no)
                if ev.decision == "pending":
                    if parallel and len(batch) > 1:
                        history.record(self.repo, ev)  # nothing measured is lost if we are killed now
                    iteration = max(iteration, ev.iteration) + 1
                measured.append((ev, cand))
            for ev, cand in self._decide(measured, best):
                if ev.decision == "pending":
                    continue
                history.record(self.repo, ev)
                self._announce(ev, cand)
                self._after(ev, cand)
                made.append(ev)

    def _outcome(
        self, made: Sequence[Evaluation], *, stop: StopReason | None, exhausted: bool, state: LoopState
    ) -> LoopOutcome:
        return LoopOutcome(
            evaluations=tuple(made), stop=stop, exhausted=exhausted, state=state, changes=tuple(self.changes)
        )

    def _decide(
        self, measured: Sequence[tuple[Evaluation, Candidate]], best: str
    ) -> list[tuple[Evaluation, Candidate]]:
        """Keep the best significant winner of the batch (:func:`keep.decide_batch`); the kept one gets
        its merge commit."""
        for ev, cand in measured:
            if ev.decision != "pending":
                self.say(f"#{ev.iteration} {cand.branch or cand.source}: decided earlier ({ev.decision})")
        decided = keep.decide_batch([ev for ev, _ in measured], direction=self.config.objective.direction)
        out = []
        for (before, cand), ev in zip(measured, decided, strict=True):
            kept_now = before.decision == "pending" and ev.decision == "kept"
            out.append((self._merge_commit(ev, cand, best) if kept_now else ev, cand))
        return out


def archive_ref(ev: Evaluation) -> str:
    """``refs/autoresearch/discarded/<name>``: where a discarded candidate's head is kept, named after
    its branch (or its source, for candidates without one), derived from the evaluation alone."""
    label = ev.comparison.candidate.ref
    name = label.replace(":", "/") if label == ev.source else label
    return git.DISCARDED_PREFIX + re.sub(r"[^A-Za-z0-9_./-]+", "_", name)


def _replace(ev: Evaluation, **changes: Any) -> Evaluation:
    return dataclasses.replace(ev, **changes)
