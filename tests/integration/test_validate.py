"""`validate` and the global `-c`: the real CLI on a real repository."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import cli, make_repo


def test_config_before_the_subcommand(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "r",
        {"bench.py": "print('METRIC x=1')\n", "alt.yml": "benchmark: {command: python3 bench.py}\n"},
    )
    before = cli(["-c", "alt.yml", "validate"], cwd=repo)
    after = cli(["validate", "-c", "alt.yml"], cwd=repo)
    assert before.returncode == after.returncode == 0, before.stderr
    assert before.stdout == after.stdout == "alt.yml: valid\n"
    # after the subcommand wins over before it
    both = cli(["-c", "missing.yml", "validate", "-c", "alt.yml"], cwd=repo)
    assert both.returncode == 0 and both.stdout == "alt.yml: valid\n"
    missing = cli(["-c", "missing.yml", "validate"], cwd=repo)
    assert missing.returncode == 2
    assert missing.stderr.startswith("missing.yml: no configuration found")


def test_validate_warns_about_what_is_still_needed(tmp_path: Path) -> None:
    config = (
        "benchmark: {command: python3 benchmarks/bench.py}\n"
        "gate: {command: not-a-real-tool-xyz -q}\n"
        "checkpoint: {enabled: true, interval_minutes: 5, path: ./autoresearch_state.json}\n"
    )
    repo = make_repo(tmp_path / "r", {".autoresearch.yml": config, "bench.py": ""})
    res = cli(["validate"], cwd=repo)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[-1] == ".autoresearch.yml: valid"
    warnings = [line for line in lines if ": warning: " in line]
    assert [w.split(": warning: ")[1].split(" ")[0] for w in warnings] == [
        "checkpoint.interval_minutes",
        "checkpoint.path",
        "benchmark.command:",
        "gate.command:",
    ]
    bench = "benchmark.command: benchmarks/bench.py (run by python3) is not in the repository"
    assert f".autoresearch.yml: warning: {bench}" in lines
    gate = "gate.command: 'not-a-real-tool-xyz' is neither in the repository nor on PATH"
    assert f".autoresearch.yml: warning: {gate}" in lines
