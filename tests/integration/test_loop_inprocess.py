"""The loop's orchestration in-process: a real git repository, a fake measurement.

The fake stands in for :func:`compare_refs`: it reads ``score = 100 × product of factors/*.txt`` of
each side from git and decides with the real statistics on deterministic samples, so what is checked
here is the loop itself — the order of candidates, the keep / discard path, the working line, the
archive refs, the forge, the budget and resuming from the notes — without running a benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ci_autoresearch import git as tool_git
from ci_autoresearch.app.loop import Loop, LoopOptions
from ci_autoresearch.config import load_config
from ci_autoresearch.config.model import Config
from ci_autoresearch.decide.verdict import comparison_of, decide
from ci_autoresearch.forge.local import LocalForge
from ci_autoresearch.history import notes as history
from ci_autoresearch.measure.progress import ProgressFn
from ci_autoresearch.model import BenchmarkFiles, Comparison, GateResult, RefInfo
from tests.factories import ENV
from tests.helpers import base_env, commit_branch, git, make_repo

CONFIG = """\
objective: {metric: score, direction: minimize}
benchmark: {command: python3 bench.py, timeout_seconds: 30}
metrics: {collection: {warmup_runs: 0, measurement_runs: 6}}
decision: {max_rounds: 10}
"""
ROUNDS = 12


def score_at(repo: Path, sha: str) -> float:
    names = git(repo, "ls-tree", "--name-only", sha, "factors/").splitlines()
    return 100 * math.prod(float(git(repo, "show", f"{sha}:{name}")) for name in names)


@dataclass
class FakeCompare:
    """Measures nothing: the samples are the score of each side, with the same small wobble."""

    calls: list[dict[str, object]] = field(default_factory=list)

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
    ) -> Comparison:
        self.calls.append({"base": base_ref, "cand": cand_ref, "labels": labels, "log_dir": log_dir})
        wobble = [1 + 0.001 * (i % 3) for i in range(ROUNDS)]
        base = [score_at(repo, base_ref) * w for w in wobble]
        cand = [score_at(repo, cand_ref) * w for w in wobble]
        decision = decide(config, {"score": base}, {"score": cand}, paired=True)
        names = labels or (base_ref, cand_ref)
        return comparison_of(
            config,
            decision,
            baseline=RefInfo(ref=names[0], sha=base_ref),
            candidate=RefInfo(ref=names[1], sha=cand_ref),
            gate=GateResult(command=None, passed=True, reason="no gate"),
            rounds=ROUNDS,
            environment=ENV,
            started_at="2026-11-29T10:00:00Z",
            finished_at="2026-11-29T10:01:00Z",
        )


def loop_repo(path: Path, extra: str = "") -> Path:
    repo = make_repo(path, {".autoresearch.yml": CONFIG + extra, "bench.py": "", "factors/base.txt": "1.0\n"})
    commit_branch(repo, "autoresearch/a", {"factors/a.txt": "0.8\n"})
    commit_branch(repo, "autoresearch/b", {"factors/b.txt": "0.9\n"})
    commit_branch(repo, "autoresearch/c", {"factors/c.txt": "1.1\n"})
    commit_branch(repo, "autoresearch/d", {"README": "a no-op\n"})
    return repo


def make_loop(repo: Path, fake: FakeCompare, *, max_evaluations: int | None = None) -> Loop:
    return Loop(
        repo,
        load_config(repo / ".autoresearch.yml"),
        env=base_env(),
        forge=LocalForge(repo / ".git" / "autoresearch", say=lambda _: None),
        options=LoopOptions(branch="main", max_evaluations=max_evaluations),
        log_root=repo / ".git" / "autoresearch" / "runs",
        compare=fake,
    )


def decisions(repo: Path) -> list[tuple[str, str, str]]:
    return [(ev.source, ev.comparison.verdict, ev.decision) for ev in history.load(repo).latest()]


def test_keeps_the_wins_in_order_archives_the_rest_and_tells_the_forge(tmp_path: Path) -> None:
    repo = loop_repo(tmp_path / "r")
    start = tool_git.resolve(repo, "main")
    fake = FakeCompare()
    outcome = make_loop(repo, fake).run()
    assert outcome.exhausted and outcome.reason == "no untried candidates left"
    assert decisions(repo) == [
        ("branch:autoresearch/a", "improved", "kept"),
        ("branch:autoresearch/b", "improved", "kept"),
        ("branch:autoresearch/c", "regressed", "discarded"),
        ("branch:autoresearch/d", "unchanged", "discarded"),
    ]
    # each candidate measured once, against the best of its time, under its branch's name
    assert [c["labels"] for c in fake.calls] == [("main", f"autoresearch/{x}") for x in "abcd"]
    assert fake.calls[0]["base"] == start and fake.calls[1]["base"] != start
    assert round(score_at(repo, tool_git.resolve(repo, "main")), 6) == 72.0
    assert tool_git.resolve(repo, "refs/autoresearch/discarded/autoresearch/c") == tool_git.resolve(
        repo, "autoresearch/c"
    )
    assert [c.branch for c in outcome.changes if c.action == "opened"] == ["autoresearch/a", "autoresearch/b"]
    actions = LocalForge(repo / ".git" / "autoresearch").actions()
    assert sum(a["action"] == "publish" for a in actions) == 4


def test_a_budget_stops_early_and_the_next_run_resumes_from_the_notes(tmp_path: Path) -> None:
    repo = loop_repo(tmp_path / "r")
    first = FakeCompare()
    outcome = make_loop(repo, first, max_evaluations=1).run()
    assert not outcome.exhausted and outcome.reason == "evaluation budget of this invocation used"
    assert len(first.calls) == 1 and len(outcome.evaluations) == 1
    second = FakeCompare()
    make_loop(repo, second).run()
    assert [c["labels"] for c in second.calls] == [("main", f"autoresearch/{x}") for x in "bcd"]
    assert [d for _, _, d in decisions(repo)] == ["kept", "kept", "discarded", "discarded"]


def test_parallel_keeps_only_the_best_of_a_round(tmp_path: Path) -> None:
    repo = loop_repo(tmp_path / "r", "branching: {strategy: parallel, max_branches: 2}\n")
    fake = FakeCompare()
    make_loop(repo, fake).run()
    rows = history.load(repo).latest()
    assert [(ev.source, ev.decision, ev.round) for ev in rows] == [
        ("branch:autoresearch/a", "kept", 1),
        ("branch:autoresearch/b", "discarded", 1),
        ("branch:autoresearch/c", "discarded", 2),
        ("branch:autoresearch/d", "discarded", 2),
    ]
    assert "improved more" in rows[1].decision_reason
    assert fake.calls[0]["base"] == fake.calls[1]["base"]  # both against the same best
    assert round(score_at(repo, tool_git.resolve(repo, "main")), 6) == 80.0
