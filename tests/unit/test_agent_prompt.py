"""examples/propose/agent_propose.py: the prompt, the hypothesis chosen, the cost read (pure parts)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "propose" / "agent_propose.py"


def module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agent_propose", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


PAYLOAD = {
    "schema": "ci-autoresearch/propose-input@1",
    "objective": {"metric": "score", "direction": "minimize", "target": None},
    "best": {"sha": "a" * 40, "value": 80.0, "branch": "main"},
    "start_value": 100.0,
    "hypotheses": [
        {"branch": "perf/tried", "expected_gain": 0.5, "description": "done", "exists": True, "tried": True},
        {
            "branch": "perf/cache",
            "expected_gain": 0.2,
            "description": "cache parsed rows",
            "exists": False,
            "tried": False,
        },
    ],
    "history": [
        {
            "source": "branch:perf/tried",
            "verdict": "improved",
            "objective": "score",
            "metrics": {"score": {"delta": -0.2}},
            "decision": "kept",
            "decision_reason": "kept: score −20.0%",
        }
    ],
}


def test_the_highest_ranked_untried_hypothesis_is_picked() -> None:
    mod = module()
    assert mod.pick_hypothesis(PAYLOAD)["branch"] == "perf/cache"
    assert mod.pick_hypothesis({**PAYLOAD, "hypotheses": PAYLOAD["hypotheses"][:1]}) is None


def test_prompt_has_the_objective_the_history_and_the_hypothesis() -> None:
    mod = module()
    text = mod.prompt_text(PAYLOAD, mod.pick_hypothesis(PAYLOAD), 20)
    assert "Objective: minimize the metric `score`. Current best: 80.0 (start: 100.0)." in text
    assert "- branch:perf/tried: improved, -20.0%, kept — kept: score −20.0%" in text
    assert "HYPOTHESIS (expected gain 20%): cache parsed rows" in text
    assert "Do not edit the benchmark or the tests" in text


def test_cost_is_read_from_what_agents_print() -> None:
    mod = module()
    pattern = mod.DEFAULT_COST_PATTERN
    assert mod.cost_of('{"type":"result","total_cost_usd": 0.0312}', pattern) == 0.0312
    assert mod.cost_of("working...\nCOST: $1.5\n", pattern) == 1.5
    assert mod.cost_of("no cost here", pattern) is None
