"""metrics.py on real runs: valgrind instruction counts, and metrics read from real output."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ci_autoresearch.config.model import MetricSpec
from ci_autoresearch.errors import ToolMissingError
from ci_autoresearch.measure.metrics import extract
from ci_autoresearch.measure.metrics.instructions import instructions_out_file, read_instruction_count
from ci_autoresearch.measure.runner import run_measured
from ci_autoresearch.measure.scrub import scrub_env
from ci_autoresearch.measure.valgrind import require_valgrind, wrap_for_instructions

needs_valgrind = pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")

# Small and C-only: a shell loop plus two tiny programs (one in a child process).
WORKLOAD = "i=0; while [ $i -lt 200 ]; do i=$((i+1)); done; /bin/true; echo METRIC loops=$i"


def env() -> dict[str, str]:
    return scrub_env({"PATH": os.environ["PATH"], "LC_ALL": "C"})


def measure_instructions(tool: str, tmp_path: Path, name: str) -> tuple[float, str, str]:
    spec = MetricSpec(name="ir", source="instructions", tool=tool)  # type: ignore[arg-type]
    valgrind = require_valgrind(env(), "ir")
    log_dir = tmp_path / "logs"
    out = instructions_out_file(log_dir, name, spec.tool)
    command = wrap_for_instructions(WORKLOAD, spec, out, valgrind)
    result = run_measured(command, cwd=tmp_path, env=env(), timeout=60, log_dir=log_dir, name=name)
    assert result.ok, result.stderr
    loops = MetricSpec(name="loops", source="stdout")
    values = extract([spec, loops], result, workdir=tmp_path)
    assert values["loops"] == 200
    return values["ir"], result.stdout, result.stderr


@needs_valgrind
@pytest.mark.parametrize("tool", ["callgrind", "cachegrind"])
def test_instruction_counts_are_positive_and_stable(tool: str, tmp_path: Path) -> None:
    first, stdout, stderr = measure_instructions(tool, tmp_path, "round-1")
    second, _, _ = measure_instructions(tool, tmp_path, "round-2")
    assert first > 100_000  # the shell and /bin/true: hundreds of thousands of instructions
    assert abs(first - second) <= 0.001 * first
    # valgrind's own messages stay out of the benchmark's output
    assert stdout == "METRIC loops=200\n"
    assert "==" not in stderr
    # one output file per process: the shell and its /bin/true child
    assert len(list((tmp_path / "logs").glob(f"round-1.{tool}.*.out"))) >= 2


@needs_valgrind
def test_rerun_with_the_same_name_replaces_old_files(tmp_path: Path) -> None:
    first, _, _ = measure_instructions("callgrind", tmp_path, "same")
    files = len(list((tmp_path / "logs").glob("same.callgrind.*.out")))
    second, _, _ = measure_instructions("callgrind", tmp_path, "same")
    assert len(list((tmp_path / "logs").glob("same.callgrind.*.out"))) == files
    assert abs(first - second) <= 0.001 * first  # not summed with the first run's files


@needs_valgrind
def test_instructions_into_a_directory(tmp_path: Path) -> None:
    """The form measure.py uses: one directory per run."""
    spec = MetricSpec(name="ir", source="instructions")
    out_dir = tmp_path / "logs" / "run.valgrind"
    out_dir.mkdir(parents=True)
    command = wrap_for_instructions("/bin/true", spec, out_dir, require_valgrind(env()))
    result = run_measured(command, cwd=tmp_path, env=env(), timeout=60, log_dir=tmp_path / "logs", name="run")
    assert result.ok, result.stderr
    assert read_instruction_count(out_dir, "callgrind") > 10_000


def test_require_valgrind_without_it_on_path(tmp_path: Path) -> None:
    with pytest.raises(ToolMissingError) as info:
        require_valgrind({"PATH": str(tmp_path)}, "ir")
    assert str(info.value) == (
        "metric 'ir' (source instructions) needs valgrind, which is not on PATH "
        "(install it, e.g. `apt-get install valgrind`)"
    )


@needs_valgrind
def test_require_valgrind_finds_it() -> None:
    found = require_valgrind({"PATH": os.environ["PATH"]})
    assert Path(found).name == "valgrind"
    assert os.access(found, os.X_OK)


def test_json_written_by_a_real_run(tmp_path: Path) -> None:
    command = (
        "mkdir -p out && printf '{\"results\": [{\"time\": 0.125}]}' > out/r.json && echo 'METRIC score=7'"
    )
    result = run_measured(command, cwd=tmp_path, env=env(), timeout=30, log_dir=tmp_path / "logs", name="j")
    specs = [
        MetricSpec(name="t", source="json", file="out/r.json", path="results.0.time"),
        MetricSpec(name="score", source="stdout"),
        MetricSpec(name="wall_time", source="wall_time"),
        MetricSpec(name="max_rss", source="max_rss"),
    ]
    values = extract(specs, result, workdir=tmp_path)
    assert values["t"] == 0.125
    assert values["score"] == 7.0
    assert values["wall_time"] > 0
    assert values["max_rss"] > 0
