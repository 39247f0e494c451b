"""The action and the workflows validate against GitHub's schemas (as vendored by check-jsonschema)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT

WORKFLOWS = sorted([*ROOT.glob(".github/workflows/*.yml"), *ROOT.glob("examples/workflows/*.yml")])


def check(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_action_yml_is_a_valid_action() -> None:
    res = check("vendor.github-actions", ROOT / "action.yml")
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_are_valid(workflow: Path) -> None:
    res = check("vendor.github-workflows", workflow)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_schema_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "action.yml"
    broken.write_text(
        "name: x\nruns:\n  using: composite\n  steps: [{run: echo}]\n"
    )  # no shell, no description
    assert check("vendor.github-actions", broken).returncode != 0


def test_action_inputs_reach_scripts_only_through_env() -> None:
    text = (ROOT / "action.yml").read_text()
    run_blocks = text.split("run: |")[1:]
    assert run_blocks
    for block in run_blocks:
        body = block.split("\n    - ")[0]
        assert "${{" not in body, body


# --- the trust split, read off the example workflows --------------------------------------------------

EXAMPLES = sorted(ROOT.glob("examples/workflows/*.yml"))
UNTRUSTED_COMMANDS = ("evaluate", "ci")  # ci runs candidate code on pull_request and schedule


def _tool_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s
        for s in job.get("steps", [])
        if "ci-autoresearch" in str(s.get("uses", "")) or s.get("uses") == "./"
    ]


def _permissions(workflow: dict[str, Any], job: dict[str, Any]) -> dict[str, str]:
    perms = job.get("permissions", workflow.get("permissions"))
    if perms is None or perms == "write-all":
        return {"*": "write"}  # GitHub's default token may write
    if perms == "read-all":
        return {"*": "read"}
    return {str(k): str(v) for k, v in dict(perms).items()}


def workflow_problems(workflow: dict[str, Any]) -> list[str]:
    """Each job that runs candidate code must hold no write permission, no secret and no persisted
    credential; each publish job must check out no pull request code and run nothing of the repository."""
    problems = []
    for name, job in workflow.get("jobs", {}).items():
        commands = [str((s.get("with") or {}).get("command", "ci")) for s in _tool_steps(job)]
        text = yaml.safe_dump(job)
        if any(c in UNTRUSTED_COMMANDS for c in commands):
            writes = [k for k, v in _permissions(workflow, job).items() if v == "write"]
            if writes:
                problems.append(f"{name}: runs candidate code with write permission {writes}")
            if "secrets." in text:
                problems.append(f"{name}: runs candidate code with a secret")
            for step in job.get("steps", []):
                checkout = "actions/checkout" in str(step.get("uses", ""))
                persisted = (step.get("with") or {}).get("persist-credentials") is not False
                if checkout and persisted and "evaluate" in commands:
                    problems.append(f"{name}: checkout persists its credential next to candidate code")
        if "publish" in commands:
            for step in job.get("steps", []):
                uses, given = str(step.get("uses", "")), step.get("with") or {}
                if "run" in step:
                    problems.append(f"{name}: publish runs a script ({str(step['run'])[:40]!r})")
                if uses.startswith("./") and uses != "./":
                    problems.append(f"{name}: publish runs a local action {uses}")
                if "actions/checkout" in uses and any(
                    k in str(given.get("ref", ""))
                    for k in ("pull_request", "head_sha", "head_branch", "head.")
                ):
                    problems.append(f"{name}: publish checks out pull request code ({given['ref']})")
    return problems


@pytest.mark.parametrize("workflow", EXAMPLES, ids=lambda p: p.name)
def test_example_workflows_keep_candidates_away_from_tokens(workflow: Path) -> None:
    doc = yaml.safe_load(workflow.read_text())
    assert workflow_problems(doc) == []


def test_the_trust_check_catches_each_breach() -> None:
    pr = yaml.safe_load((ROOT / "examples/workflows/autoresearch.yml").read_text())
    publish = yaml.safe_load((ROOT / "examples/workflows/autoresearch-publish.yml").read_text())
    bad = copy.deepcopy(pr)
    bad["jobs"]["evaluate"]["permissions"] = {"contents": "write"}
    assert workflow_problems(bad) == ["evaluate: runs candidate code with write permission ['contents']"]
    bad = copy.deepcopy(pr)
    bad["jobs"]["evaluate"]["env"] = {"API_KEY": "${{ secrets.API_KEY }}"}
    assert workflow_problems(bad) == ["evaluate: runs candidate code with a secret"]
    bad = copy.deepcopy(pr)
    del bad["jobs"]["evaluate"]["steps"][0]["with"]["persist-credentials"]
    assert workflow_problems(bad) == ["evaluate: checkout persists its credential next to candidate code"]
    bad = copy.deepcopy(pr)
    del bad["jobs"]["evaluate"]["permissions"]
    del bad["permissions"]
    assert workflow_problems(bad) == ["evaluate: runs candidate code with write permission ['*']"]
    bad = copy.deepcopy(publish)
    bad["jobs"]["publish"]["steps"][0]["with"]["ref"] = "${{ github.event.workflow_run.head_sha }}"
    assert workflow_problems(bad) == [
        "publish: publish checks out pull request code (${{ github.event.workflow_run.head_sha }})"
    ]
    bad = copy.deepcopy(publish)
    bad["jobs"]["publish"]["steps"].insert(1, {"run": "make bench"})
    assert workflow_problems(bad) == ["publish: publish runs a script ('make bench')"]
