"""The action and the workflows validate against GitHub's schemas (as vendored by check-jsonschema)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
