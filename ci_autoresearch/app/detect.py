"""``init``: look at a repository and propose a configuration that runs as it is. Pure.

The caller gives the repository's file list and a way to read a file
(:class:`~ci_autoresearch.app.harnesses.RepoView`); this module finds what the project already has
and turns it into ``.autoresearch.yml`` text with comments:

* a benchmark harness becomes the metric source (pytest-benchmark, asv, hyperfine or Google Benchmark:
  see :mod:`ci_autoresearch.app.harnesses`);
* the test command becomes the gate (pytest, cargo, go, npm, ctest, make);
* the benchmark's files become protected, with the test folder;
* valgrind on ``PATH`` adds a note about the near-deterministic ``instructions`` metric.

Nothing found: :attr:`Proposal.kind` is None and the caller writes the generic starter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ci_autoresearch.app.harnesses import (
    DEPENDENCY_FILES,
    Harness,
    RepoView,
    find_harness,
    has_pytest,
    text_of,
    yaml_str,
)

DOCS = "https://github.com/ci-autoresearch/ci-autoresearch/blob/main/docs/configuration.md"


@dataclass(frozen=True, kw_only=True)
class Proposal:
    """The proposed configuration: its text, one line per finding, and the result files the benchmark
    writes (to keep out of ``git status``). ``kind`` is None when no harness was found."""

    kind: str | None
    config: str
    findings: tuple[str, ...] = ()
    ignore: tuple[str, ...] = field(default_factory=tuple)


# --- the gate ----------------------------------------------------------------------------------------------


def _make_targets(text: str) -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, re.M))


def _gate(view: RepoView, harness: Harness | None) -> tuple[str, str] | None:
    """The test command and why it was chosen."""
    files = set(view.files)
    python = any(DEPENDENCY_FILES.search(p) for p in files) or any(p.endswith(".py") for p in files)
    if python and has_pytest(view):
        extra = " --benchmark-skip" if harness is not None and harness.kind == "pytest-benchmark" else ""
        return f"python -m pytest -q -p no:cacheprovider{extra}", "pytest"
    if "Cargo.toml" in files:
        return "cargo test --release", "Cargo.toml"
    if "go.mod" in files:
        return "go test ./...", "go.mod"
    if "package.json" in files:
        try:
            scripts = json.loads(text_of(view, "package.json")).get("scripts", {})
        except (ValueError, AttributeError):
            scripts = {}
        if isinstance(scripts, dict) and "test" in scripts:
            return "npm test", "package.json's test script"
    if harness is not None and harness.kind == "google-benchmark":
        cmake = "\n".join(text_of(view, p) for p in files if p.endswith("CMakeLists.txt"))
        if re.search(r"enable_testing\s*\(|add_test\s*\(", cmake):
            return "ctest --test-dir build --output-on-failure", "CMake tests (enable_testing)"
    for makefile in ("Makefile", "GNUmakefile"):
        targets = _make_targets(text_of(view, makefile)) if makefile in files else set()
        for target in ("test", "check"):
            if target in targets:
                return f"make {target}", f"{makefile} target {target}"
    return None


def _test_folders(view: RepoView) -> tuple[str, ...]:
    tops = {p.split("/", 1)[0] for p in view.files if "/" in p}
    return tuple(f"{d}/" for d in ("tests", "test") if d in tops)


# --- the proposal ------------------------------------------------------------------------------------------


def propose_config(view: RepoView) -> Proposal:
    """What ``init`` writes for this repository (see the module docstring)."""
    harness = find_harness(view)
    gate = _gate(view, harness)
    if harness is None:
        found = (f"test command: {gate[0]} ({gate[1]}) → gate.command",) if gate else ()
        return Proposal(kind=None, config="", findings=found)
    protected = _dedupe([*harness.protected, *_test_folders(view)])
    findings = [harness.found]
    if gate:
        findings.append(f"test command: {gate[0]} ({gate[1]}) → gate.command")
    findings.append(f"protected: {', '.join(protected)} (a candidate may add files there, not change them)")
    if view.has_valgrind:
        findings.append("valgrind is installed: see the note about the `instructions` metric at the end")
    lines = _config_lines(harness, gate, protected, findings)
    if view.has_valgrind:
        lines += [
            "",
            "# valgrind is installed: for CPU-bound code an instruction count is near-deterministic, so a",
            "# 1 % change is found in a few rounds. To optimise it instead of time:",
            "#   objective: {metric: instructions}",
            "#   and under benchmark.metrics: - {name: instructions, source: instructions}",
        ]
    return Proposal(
        kind=harness.kind, config="\n".join(lines) + "\n", findings=tuple(findings), ignore=harness.ignore
    )


def _config_lines(
    harness: Harness, gate: tuple[str, str] | None, protected: Sequence[str], findings: Sequence[str]
) -> list[str]:
    """The configuration's lines: the findings as its header, then every section."""
    return [
        "# ci-autoresearch configuration, proposed by `ci-autoresearch init` from this repository:",
        *(f"#   - {f}" for f in findings),
        "# Check it with `ci-autoresearch validate`, try it with `ci-autoresearch bench`.",
        f"# Every key, its default and its meaning: {DOCS}",
        "version: 1",
        "",
        "objective:",
        f"  metric: {harness.metric}",
        "  direction: minimize",
        "",
        *(f"# {note}" for note in harness.notes),
        "benchmark:",
        *([f"  setup: {yaml_str(harness.setup)}"] if harness.setup else []),
        f"  command: {yaml_str(harness.command)}",
        "  timeout_seconds: 600",
        "  metrics:",
        *harness.metric_lines,
        "",
        "metrics:",
        "  collection:",
        "    warmup_runs: 1 # runs of each side before measuring, not counted",
        "    measurement_runs: 10 # rounds (one run of each side) before the first decision",
        "",
        "decision:",
        "  min_effect: 0.01 # the smallest relative change that counts (1 %)",
        "  max_rounds: 30 # rounds added while the answer is inconclusive",
        "",
        "# A candidate must pass the tests and leave the benchmark alone (git pathspec globs: `*` stays",
        "# within one folder, `**` crosses folders; adding new files under a protected folder is allowed).",
        "gate:",
        *([f"  command: {yaml_str(gate[0])}"] if gate else ["  # command: your test command"]),
        f"  protected_paths: [{', '.join(yaml_str(p) for p in protected)}]",
        "",
        "candidates:",
        '  branches: ["autoresearch/*"] # branches to evaluate; pull requests need the label below',
        '  label: "autoresearch:candidate"',
    ]


def _dedupe(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
