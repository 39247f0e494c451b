"""Untrusted text in the job log, refs that look like files or options, settings that cannot decide."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import cli, commit_branch, make_repo
from tests.unit.test_bounds import processed_commands

BENCH = """\
import pathlib, sys
if pathlib.Path("fail.txt").exists():
    print("::error::pwned from stdout")
    print("::add-mask::secret @octocat ##[set-output name=verdict;]improved", file=sys.stderr)
    sys.exit(3)
print("METRIC score=100")
"""

CONFIG = """\
objective: {metric: score}
benchmark: {command: python3 bench.py, timeout_seconds: 30}
gate:
  command: |
    echo checking
    : '
    ::add-mask::from the gate command
    '
metrics: {collection: {warmup_runs: 0, measurement_runs: 2}}
decision: {max_rounds: 10}
"""

ACTIONS = {"GITHUB_ACTIONS": "true", "CI": "true"}


def test_echoed_commands_and_candidate_output_never_become_workflow_commands(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".autoresearch.yml": CONFIG, "bench.py": BENCH})
    commit_branch(repo, "bad", {"fail.txt": "x\n"})
    res = cli(["compare", "main", "bad"], cwd=repo, env=ACTIONS)
    assert res.returncode == 0, res.stderr
    assert "::add-mask::from the gate command" in res.stderr  # shown, between stop-commands markers
    assert "::add-mask::secret @octocat" in res.stdout  # the candidate's stderr line, in the reason
    assert processed_commands(res.stdout) == [] and processed_commands(res.stderr) == []
    as_json = cli(["compare", "main", "bad", "--json"], cwd=repo, env=ACTIONS)
    assert processed_commands(as_json.stdout) == []
    doc = json.loads(as_json.stdout)  # still JSON, and still says what the candidate printed
    assert doc["verdict"] == "invalid" and "##[set-output" in doc["reason"]


def test_a_file_named_like_a_ref_does_not_turn_compare_offline(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".autoresearch.yml": CONFIG, "bench.py": BENCH})
    commit_branch(repo, "feat", {"x.txt": "x\n"})
    (repo / "main").write_text("not a result file\n")
    (repo / "feat").write_text("not a result file either\n")
    res = cli(["compare", "main", "feat"], cwd=repo)
    assert res.returncode == 0, res.stderr
    assert "paired, interleaved" in res.stdout and "offline" not in res.stdout
    res = cli(["compare", "main", "feat.json"], cwd=repo)
    assert res.returncode == 2 and "unknown git ref 'feat.json'" in res.stderr
    (repo / "r.json").write_text("{}")
    res = cli(["compare", "main", "r.json"], cwd=repo)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "error: r.json: expected a git ref like main, got a file (compare two refs, or two result files "
        "from `bench --out`)"
    ]


def test_a_ref_or_remote_starting_with_a_dash_runs_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".autoresearch.yml": CONFIG, "bench.py": BENCH})
    pwned = tmp_path / "pwned"
    res = cli(["compare", "main", f"--upload-pack=touch {pwned}"], cwd=repo)
    assert res.returncode == 2 and not pwned.exists()
    (repo / ".autoresearch.yml").write_text(
        CONFIG + f"checkpoint: {{remote: '--upload-pack=touch {pwned}'}}\n"
    )
    res = cli(["run"], cwd=repo)
    assert res.returncode == 2 and "checkpoint.remote" in res.stderr and not pwned.exists()


def test_validate_warns_when_max_rounds_can_never_reach_significance(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "r",
        {".autoresearch.yml": CONFIG.replace("max_rounds: 10", "max_rounds: 5"), "bench.py": BENCH},
    )
    res = cli(["validate"], cwd=repo)
    assert res.returncode == 0
    assert res.stderr.strip().splitlines() == [
        ".autoresearch.yml: warning: decision.max_rounds: 5 rounds can never reach significance at "
        "confidence 0.95: even a steady −50.0% ends inconclusive; it takes at least 6 rounds "
        "(set max_rounds to 6 or more)"
    ]
    assert res.stdout.strip() == ".autoresearch.yml: valid"


def test_the_loop_announces_candidate_output_inertly(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "r", {".autoresearch.yml": CONFIG, "bench.py": BENCH, ".gitignore": ".autoresearch/\n"}
    )
    commit_branch(repo, "autoresearch/bad", {"fail.txt": "x\n"})
    res = cli(["run"], cwd=repo, env=ACTIONS)
    assert res.returncode == 0, res.stderr
    assert "##[set-output name=verdict;]improved" in res.stdout  # said, as text
    assert processed_commands(res.stdout) == [] and processed_commands(res.stderr) == []
