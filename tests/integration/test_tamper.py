"""Candidate code cannot reach the repository's git directory, and what it writes there is not used.

A real attack, as found by the attacker's pass: a candidate's benchmark writes a hook and
``core.fsmonitor`` into the repository, creates a branch, and forges a "discarded" note for a rival
candidate whose real −20 % win would then never be measured.
"""

from __future__ import annotations

import json
from pathlib import Path

from ci_autoresearch.artifacts import evaluation_to_json
from ci_autoresearch.model import Evaluation, RefInfo
from tests.factories import stub_comparison
from tests.helpers import cli, commit_branch, git, make_repo

BENCH = """\
import pathlib
print(f"METRIC score={float(pathlib.Path('score.txt').read_text()):g}")
"""

EVIL = """\
import os, pathlib, subprocess
repo = os.environ["VICTIM"]  # a candidate can find it (/proc/<tool>/cwd); the test just hands it over
hook = pathlib.Path(repo, ".git", "hooks", "post-checkout")
hook.write_text("#!/bin/sh\\ntouch " + os.environ["PWNED"] + "\\n")
hook.chmod(0o755)
def g(*args):
    return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True).stdout.strip()
g("config", "core.fsmonitor", "touch " + os.environ["PWNED"])
g("branch", "autoresearch/zzz-planted", "HEAD")
rival = g("rev-parse", "autoresearch/b")
pathlib.Path("forged.json").write_text(os.environ["FORGED"].replace("RIVAL", rival))
g("notes", "--ref=refs/notes/autoresearch", "add", "-f", "-F", os.path.abspath("forged.json"), rival)
print("METRIC score=50")
"""

PROBE = """\
import os, pathlib, subprocess
git_dir = pathlib.Path(".git")
links = max((p.stat().st_nlink for p in git_dir.rglob("*") if p.is_file()), default=1)
facts = {
    "git_dir_is_a_folder": git_dir.is_dir(),
    "alternates": (git_dir / "objects/info/alternates").exists(),
    "fetch_head": (git_dir / "FETCH_HEAD").exists(),
    "remotes": subprocess.run(["git", "remote"], capture_output=True, text=True).stdout.split(),
    "most_links": links,
}
subprocess.run(["git", "config", "core.fsmonitor", "touch " + os.environ["PWNED"]])
subprocess.run(["git", "branch", "planted"])
pathlib.Path(os.environ["FACTS"]).write_text(__import__("json").dumps(facts))
print("METRIC score=100")
"""

CONFIG = """\
objective: {metric: score}
benchmark: {command: python3 bench.py, timeout_seconds: 30, pass_env: [VICTIM, PWNED, FORGED, FACTS]}
metrics: {collection: {warmup_runs: 0, measurement_runs: 6}}
decision: {max_rounds: 10}
"""


def forged_note(main_sha: str) -> str:
    comparison = stub_comparison(
        baseline=RefInfo(ref="main", sha=main_sha),
        candidate=RefInfo(ref="autoresearch/b", sha="RIVAL"),
        verdict="regressed",
        reason="forged",
    )
    ev = Evaluation(
        comparison=comparison,
        decision="discarded",
        decision_reason="regressed: forged",
        iteration=1,
        key=f"RIVAL:{main_sha}:{comparison.config_hash}",
        source="branch:autoresearch/b",
        candidate_head="RIVAL",
        objective_value=None,
        measured_seconds=1.0,
    )
    return json.dumps(evaluation_to_json(ev), separators=(",", ":"))


def test_a_candidate_that_tampers_is_invalid_and_the_rival_is_still_measured(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "r",
        {
            ".autoresearch.yml": CONFIG,
            "bench.py": BENCH,
            "score.txt": "100\n",
            ".gitignore": ".autoresearch/\n",
        },
    )
    commit_branch(repo, "autoresearch/a-evil", {"bench.py": EVIL})
    commit_branch(repo, "autoresearch/b", {"score.txt": "80\n"})
    before_config = (repo / ".git" / "config").read_text()
    env = {
        "VICTIM": str(repo),
        "PWNED": str(tmp_path / "pwned"),
        "FORGED": forged_note(git(repo, "rev-parse", "main")),
    }
    res = cli(["run"], cwd=repo, env=env)
    assert res.returncode == 0, res.stderr
    rows = json.loads(cli(["history", "--json"], cwd=repo).stdout)["evaluations"]
    assert [(r["source"], r["verdict"], r["decision"]) for r in rows] == [
        ("branch:autoresearch/a-evil", "invalid", "discarded"),
        ("branch:autoresearch/b", "improved", "kept"),  # the forged note did not hide the real win
    ]
    assert rows[0]["reason"] == (
        "invalid: the candidate's round1 changed the repository's .git/config (+3 more) while it ran; "
        "put back, nothing it wrote is used"
    )
    assert (repo / ".git" / "config").read_text() == before_config
    assert not (repo / ".git" / "hooks" / "post-checkout").exists()
    assert "zzz-planted" not in git(repo, "branch", "--list")
    assert "forged" not in git(repo, "notes", "--ref=autoresearch", "show", "autoresearch/b")


def test_the_checkout_is_a_private_clone_that_knows_nothing_of_the_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".autoresearch.yml": CONFIG, "bench.py": BENCH, "score.txt": "100\n"})
    commit_branch(repo, "probe", {"bench.py": PROBE})
    facts_file = tmp_path / "facts.json"
    before = (repo / ".git" / "config").read_text()
    res = cli(
        ["compare", "main", "probe"],
        cwd=repo,
        env={"PWNED": str(tmp_path / "pwned"), "FACTS": str(facts_file)},
    )
    assert res.returncode == 0, res.stderr
    assert "verdict: UNCHANGED" in res.stdout  # what it did to its own clone is its own business
    facts = json.loads(facts_file.read_text())
    assert facts == {
        "git_dir_is_a_folder": True,
        "alternates": False,
        "fetch_head": False,
        "remotes": [],
        "most_links": 1,  # no object file shares an inode with the repository's
    }
    assert (repo / ".git" / "config").read_text() == before
    assert "planted" not in git(repo, "branch", "--list")
    assert not (tmp_path / "pwned").exists()
