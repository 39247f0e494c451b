"""`benchmark.from`: one benchmark for both sides, from the candidate, the base, a ref or the working tree.

Upstream history often predates its benchmark: here `main` has no `bench.py` at all, and the candidate
adds it along with its speed-up.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import cli, commit_branch, git, make_repo

BENCH = "import pathlib\nprint(f\"METRIC score={pathlib.Path('value.txt').read_text().strip()}\")\n"


def config(source: str | None) -> str:
    extra = f"  from: {source}\n  files: [bench.py]\n" if source else ""
    return (
        f"objective: {{metric: score}}\nbenchmark:\n  command: python3 bench.py\n{extra}"
        "metrics: {collection: {warmup_runs: 0, measurement_runs: 6}}\ndecision: {max_rounds: 6}\n"
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = make_repo(tmp_path / "r", {"value.txt": "100\n", ".gitignore": "*.yml\n"})
    commit_branch(r, "fast", {"value.txt": "80\n", "bench.py": BENCH})
    return r


def compare(repo: Path, source: str | None, *args: str) -> tuple[int, dict, str]:
    (repo / "c.yml").write_text(config(source))
    res = cli(["-c", "c.yml", "compare", "main", "fast", "--json", *args], cwd=repo)
    return res.returncode, json.loads(res.stdout) if res.returncode == 0 else {}, res.stderr


def test_without_it_a_base_lacking_the_benchmark_cannot_be_measured(repo: Path) -> None:
    code, _, err = compare(repo, None)
    assert code == 3
    assert "baseline main: the benchmark failed (exit 2)" in err


def test_from_candidate_runs_the_candidates_benchmark_on_both_sides(repo: Path) -> None:
    code, doc, err = compare(repo, "candidate")
    assert code == 0, err
    assert doc["verdict"] == "improved"
    tree = git(repo, "rev-parse", "fast:bench.py")  # the blob; the recorded sha is a tree holding only it
    assert doc["benchmark"]["from"] == "candidate" and doc["benchmark"]["files"] == ["bench.py"]
    assert git(repo, "ls-tree", doc["benchmark"]["sha"]).split() == ["100644", "blob", tree, "bench.py"]
    key = json.loads(git(repo, "notes", "--ref=autoresearch", "show", "fast"))["key"]
    assert key.endswith(":" + doc["benchmark"]["sha"])
    assert git(repo, "status", "--porcelain") == ""  # the user's tree and index are untouched


def test_from_a_ref_and_from_base(repo: Path) -> None:
    code, doc, _ = compare(repo, "fast")
    assert code == 0 and doc["benchmark"]["from"] == "fast" and doc["verdict"] == "improved"
    code, _, err = compare(repo, "base")
    assert code == 2
    assert "benchmark.files: no file matches bench.py in base" in err
    code, _, err = compare(repo, "no-such-ref")
    assert code == 2 and "benchmark.from: unknown git ref 'no-such-ref'" in err


def test_from_the_working_tree_and_a_changed_benchmark_is_measured_again(repo: Path) -> None:
    (repo / "bench.py").write_text(BENCH)  # not committed on main
    code, first, err = compare(repo, "working-tree")
    assert code == 0, err
    assert first["verdict"] == "improved"
    # the same files again: reused
    assert compare(repo, "working-tree")[2].startswith("reused:")
    # another benchmark: another key, measured again
    (repo / "bench.py").write_text(BENCH + "# tuned\n")
    code, second, err = compare(repo, "working-tree")
    assert code == 0 and not err.startswith("reused:")
    assert second["benchmark"]["sha"] != first["benchmark"]["sha"]


def test_bench_of_a_ref_uses_it_too(repo: Path) -> None:
    (repo / "c.yml").write_text(config("fast"))
    res = cli(["-c", "c.yml", "bench", "main", "--json", "--runs", "2"], cwd=repo)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["metrics"]["score"]["samples"] == [100.0, 100.0]
    assert doc["benchmark"]["from"] == "fast"
