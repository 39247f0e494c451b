"""examples/propose/agent_propose.py driving a stand-in coding agent inside the real loop.

The stand-in (tests/fixtures/agents/stand_in_agent.py) makes a deterministic edit — a new factor file,
with the factor the hypothesis names — and reports a cost of 0.25 per call, as agents' CLIs do.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import FIXTURES, ROOT, cli, make_repo

GENERATOR = ROOT / "examples" / "propose" / "agent_propose.py"
AGENT = FIXTURES / "agents" / "stand_in_agent.py"
BENCH = """\
import math, pathlib
factors = [float(p.read_text()) for p in sorted(pathlib.Path("factors").glob("*.txt"))]
print(f"METRIC score={100 * math.prod(factors):.6f}")
"""


def repo_with_agent(tmp_path: Path, *, flags: str = "--max-cost 0.5 --timeout 60") -> Path:
    config = f"""\
objective: {{metric: score, direction: minimize}}
benchmark: {{command: python3 bench.py, timeout_seconds: 30}}
metrics: {{collection: {{warmup_runs: 0, measurement_runs: 6}}}}
decision: {{max_rounds: 6}}
candidates: {{branches: ["none/*"]}}
hypotheses:
  - {{branch: autoresearch/agent-idea, expected_gain: 0.3, description: "scale by a factor 0.8"}}
propose:
  command: python3 {GENERATOR} --agent 'python3 {AGENT}' {flags}
  timeout_seconds: 120
  pass_env: [STAND_IN_SLEEP, STAND_IN_NOTHING]
"""
    return make_repo(
        tmp_path / "r", {".autoresearch.yml": config, "bench.py": BENCH, "factors/base.txt": "1.0\n"}
    )


def history(repo: Path) -> list[dict]:
    return json.loads(cli(["history", "--json"], cwd=repo).stdout)["evaluations"]


def test_hypothesis_first_then_free_ideas_until_the_budget_is_spent(tmp_path: Path) -> None:
    repo = repo_with_agent(tmp_path)
    res = cli(["run"], cwd=repo)
    assert res.returncode == 0, res.stderr
    rows = history(repo)
    assert [(r["source"], r["verdict"], r["decision"]) for r in rows] == [
        ("propose:autoresearch/agent-idea", "improved", "kept"),  # the hypothesis, as its branch
        ("propose:autoresearch/agent-1", "improved", "kept"),  # then a free idea
    ]
    assert [r["objective"]["value"] for r in rows] == [80.0, 72.0]
    assert "stopped: no untried candidates left" in res.stdout  # 0.5 of 0.5 spent: no third call
    ledger = json.loads((repo / ".git" / "autoresearch" / "agent-propose-ledger.json").read_text())
    assert [(c["branch"], c["cost"], c["status"]) for c in ledger["calls"]] == [
        ("autoresearch/agent-idea", 0.25, 0),
        ("autoresearch/agent-1", 0.25, 0),
    ]
    log = (repo / ".git" / "autoresearch" / "runs").rglob("propose.stderr.log")
    assert any("cost budget used: 0.5 of 0.5 over 2 calls; no proposal" in p.read_text() for p in log)


def test_the_agents_time_limit(tmp_path: Path) -> None:
    repo = repo_with_agent(tmp_path, flags="--timeout 1")
    res = cli(["run"], cwd=repo, env={"STAND_IN_SLEEP": "10"})
    assert res.returncode == 3
    assert "agent_propose: the agent timed out after 1 s (--timeout); nothing proposed" in res.stderr
    assert history(repo) == []


def test_an_agent_that_changes_nothing_proposes_nothing(tmp_path: Path) -> None:
    repo = repo_with_agent(tmp_path)
    res = cli(["run"], cwd=repo, env={"STAND_IN_NOTHING": "1"})
    assert res.returncode == 0, res.stderr
    assert "stopped: no untried candidates left" in res.stdout
    assert history(repo) == []
