"""`init` on repositories laid out like real projects of each kind: what it finds, that the proposal
validates, and — where the harness runs here — that `bench` measures with it as written.

Layouts follow what such projects usually have: a `src/` Python package with `tests/` and a
`benchmarks/` folder of pytest-benchmark tests; an asv suite (`asv.conf.json`, `benchmarks/benchmarks.py`
with a `TimeSuite` class); a Rust command-line tool benchmarked with hyperfine from its Makefile; a CMake
C++ library with Google Benchmark and ctest.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

from ci_autoresearch.config import load_config
from ci_autoresearch.measure import metrics
from ci_autoresearch.measure.runner import RunResult
from tests.helpers import FIXTURES, cli, git, make_repo

# `python` in a proposed command is the one on PATH: make it this interpreter (it has pytest and
# pytest-benchmark, the [test] extra)
VENV_PATH = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def init(repo: Path, *args: str) -> list[str]:
    res = cli(["init", *args], cwd=repo, env=VENV_PATH)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def validate(repo: Path) -> list[str]:
    res = cli(["validate"], cwd=repo, env=VENV_PATH)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout.splitlines()


def proposed(repo: Path) -> dict:
    return yaml.safe_load((repo / ".autoresearch.yml").read_text())


def run_of(stdout: str) -> RunResult:
    return RunResult(
        command="",
        returncode=0,
        wall_time=1.0,
        cpu_time=1.0,
        max_rss=1,
        stdout=stdout,
        stderr="",
        stdout_path=Path("/dev/null"),
        stderr_path=Path("/dev/null"),
        timed_out=False,
    )


def test_pytest_benchmark_project(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "fastsort",
        {
            "pyproject.toml": (
                '[project]\nname = "fastsort"\nversion = "0.1"\n'
                '[project.optional-dependencies]\ntest = ["pytest", "pytest-benchmark"]\n'
                '[tool.pytest.ini_options]\npythonpath = ["src"]\n'
            ),
            "src/fastsort/__init__.py": "def sort(xs):\n    return sorted(xs)\n",
            "tests/test_sort.py": (
                "from fastsort import sort\n\ndef test_sort():\n    assert sort([2, 1]) == [1, 2]\n"
            ),
            "benchmarks/test_bench_sort.py": (
                "import pytest\nfrom fastsort import sort\n\n"
                "def test_sort_reversed(benchmark):\n"
                "    benchmark.pedantic(sort, args=(list(range(2000, 0, -1)),), rounds=3, iterations=1)\n\n"
                "@pytest.mark.parametrize('n', [10, 100])\n"
                "def test_sort_n(benchmark, n):\n"
                "    benchmark.pedantic(sort, args=(list(range(n)),), rounds=3, iterations=1)\n"
            ),
        },
    )
    out = init(repo)
    assert out[0] == (
        "found pytest-benchmark: test_sort_reversed in benchmarks/test_bench_sort.py → objective "
        "test_sort_reversed (its median, in seconds)"
    )
    assert (
        "found test command: python -m pytest -q -p no:cacheprovider --benchmark-skip (pytest) → gate.command"
        in out
    )
    doc = proposed(repo)
    assert doc["objective"] == {"metric": "test_sort_reversed", "direction": "minimize"}
    assert doc["benchmark"]["metrics"][0]["source"] == "pytest-benchmark"
    assert doc["gate"]["protected_paths"] == ["benchmarks/", "tests/"]
    assert "# other benchmarks there: test_sort_n" in (repo / ".autoresearch.yml").read_text()
    assert validate(repo)[-1] == ".autoresearch.yml: valid"
    # it runs as proposed, and what it writes stays out of `git status`
    git(repo, "add", ".autoresearch.yml")
    git(repo, "commit", "-q", "-m", "autoresearch")
    res = cli(["bench", "--runs", "2", "--json"], cwd=repo, env=VENV_PATH)
    assert res.returncode == 0, res.stderr
    samples = json.loads(res.stdout)["metrics"]["test_sort_reversed"]["samples"]
    assert len(samples) == 2 and all(0 < s < 1 for s in samples)
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


ASV_CONF = """\
{
    // The version of the config file format.
    "version": 1,
    "project": "tinydict",
    "repo": ".",
    "environment_type": "virtualenv",
    "benchmark_dir": "benchmarks",
}
"""


def test_asv_project(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "tinydict",
        {
            "asv.conf.json": ASV_CONF.replace(",\n}", "\n}"),
            "setup.py": "from setuptools import setup\nsetup(name='tinydict')\n",
            "tinydict/__init__.py": "",
            "tests/test_basic.py": "def test_ok():\n    assert True\n",
            "benchmarks/__init__.py": "",
            "benchmarks/benchmarks.py": (
                "class Params:\n    params = [1, 2]\n    def time_p(self, n):\n        pass\n\n"
                "class TimeSuite:\n"
                "    def setup(self):\n        self.d = {i: i for i in range(20000)}\n"
                "    def time_keys(self):\n        for _ in self.d.keys():\n            pass\n"
                "    def time_values(self):\n        list(self.d.values())\n"
            ),
        },
    )
    out = init(repo)
    assert out[0].startswith(
        "found asv: TimeSuite.time_keys in benchmarks/benchmarks.py → objective TimeSuite.time_keys"
    )
    doc = proposed(repo)
    assert doc["objective"]["metric"] == "TimeSuite.time_keys"
    assert doc["gate"] == {
        "command": "python -m pytest -q -p no:cacheprovider",
        "protected_paths": ["benchmarks/", "asv.conf.json", "tests/"],
    }
    assert validate(repo)[-1] == ".autoresearch.yml: valid"
    res = cli(["bench", "--runs", "2", "--json"], cwd=repo, env=VENV_PATH)
    assert res.returncode == 0, res.stderr
    samples = json.loads(res.stdout)["metrics"]["TimeSuite.time_keys"]["samples"]
    assert len(samples) == 2 and all(0 < s < 1 for s in samples)


def test_hyperfine_project(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "fastgrep",
        {
            "Cargo.toml": '[package]\nname = "fastgrep"\nversion = "0.1.0"\nedition = "2021"\n',
            "src/main.rs": "fn main() {}\n",
            "tests/cli.rs": "#[test]\nfn runs() {}\n",
            "Makefile": (
                "BIN := target/release/fastgrep\n\n.PHONY: bench\n"
                "bench:\n\thyperfine -N --warmup 1 --runs 5 --export-markdown bench.md 'sleep 0.01' 'true'\n"
            ),
        },
    )
    out = init(repo)
    assert (
        out[0]
        == "found hyperfine: `sleep 0.01` in Makefile → objective command_time (its median, in seconds)"
    )
    doc = proposed(repo)
    assert doc["benchmark"]["setup"] == "cargo build --release"
    assert doc["benchmark"]["command"] == (
        "hyperfine -N --warmup 1 --runs 5 --export-json .autoresearch-hyperfine.json 'sleep 0.01' true"
    )
    assert doc["gate"] == {"command": "cargo test --release", "protected_paths": ["Makefile", "tests/"]}
    # the metric as proposed reads hyperfine's real output (a file its --export-json writes)
    config = load_config(repo / ".autoresearch.yml")
    spec = config.metric("command_time")
    (tmp_path / ".autoresearch-hyperfine.json").write_text(
        (FIXTURES / "harness" / "hyperfine.json").read_text()
    )
    value = metrics.extract([spec], run_of(""), workdir=tmp_path)["command_time"]
    assert 0.01 < value < 0.05
    assert ".autoresearch-hyperfine.json" in (repo / ".git" / "info" / "exclude").read_text()


def test_google_benchmark_project(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "vecsort",
        {
            "CMakeLists.txt": (
                "cmake_minimum_required(VERSION 3.16)\nproject(vecsort CXX)\n"
                "find_package(benchmark REQUIRED)\nenable_testing()\nadd_subdirectory(bench)\n"
                "add_executable(unit_tests tests/unit_tests.cc)\nadd_test(NAME unit COMMAND unit_tests)\n"
            ),
            "bench/CMakeLists.txt": (
                "add_executable(sort_bench sort_bench.cc)\n"
                "target_link_libraries(sort_bench PRIVATE benchmark::benchmark)\n"
            ),
            "bench/sort_bench.cc": (FIXTURES / "harness" / "google-benchmark.cc").read_text(),
            "tests/unit_tests.cc": "int main() { return 0; }\n",
            "include/vecsort.h": "#pragma once\n",
        },
    )
    out = init(repo)
    assert out[0] == (
        "found Google Benchmark: BM_StringCopy in bench/sort_bench.cc (target sort_bench) → objective "
        "BM_StringCopy (real time, s)"
    )
    doc = proposed(repo)
    assert (
        doc["benchmark"]["setup"] == "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build"
    )
    assert (
        doc["benchmark"]["command"] == "./build/bench/sort_bench --benchmark_filter='^BM_StringCopy$' "
        "--benchmark_out=.autoresearch-google-benchmark.json --benchmark_out_format=json"
    )
    assert doc["gate"] == {
        "command": "ctest --test-dir build --output-on-failure",
        "protected_paths": ["bench/", "tests/"],
    }
    assert validate(repo)[-1] == ".autoresearch.yml: valid"
    # the metric as proposed reads Google Benchmark's real JSON report
    spec = load_config(repo / ".autoresearch.yml").metric("BM_StringCopy")
    report = (FIXTURES / "harness" / "google-benchmark.json").read_text()
    (tmp_path / ".autoresearch-google-benchmark.json").write_text(report)
    assert 0 < metrics.extract([spec], run_of(""), workdir=tmp_path)["BM_StringCopy"] < 1e-6


def test_valgrind_is_mentioned_when_installed(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "r", {"benchmarks/test_b.py": "def test_b(benchmark):\n    benchmark(len, [])\n"}
    )
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "valgrind").write_text("#!/bin/sh\n")
    (fake_bin / "valgrind").chmod(0o755)
    res = cli(["init"], cwd=repo, env={"PATH": f"{fake_bin}{os.pathsep}{VENV_PATH['PATH']}"})
    assert (
        "found valgrind is installed: see the note about the `instructions` metric at the end" in res.stdout
    )
    assert "#   objective: {metric: instructions}" in (repo / ".autoresearch.yml").read_text()


def test_nothing_found_writes_the_starter_and_refuses_to_overwrite(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"README.md": "hello\n"})
    out = init(repo)
    assert out == [
        "wrote "
        + str(repo / ".autoresearch.yml")
        + "; edit benchmark.command, then run `ci-autoresearch validate`"
    ]
    res = cli(["init"], cwd=repo)
    assert res.returncode == 2 and "already exists" in res.stderr


def test_init_github_writes_every_shipped_workflow(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"README.md": "hello\n"})
    shipped = sorted(
        p.name for p in (Path(__file__).resolve().parents[2] / "examples" / "workflows").glob("*.yml")
    )
    assert shipped
    out = init(repo, "--github")
    written = sorted(p.name for p in (repo / ".github" / "workflows").iterdir())
    assert written == shipped
    assert [line for line in out if line.startswith("wrote ") and "workflows" in line] == [
        f"wrote {repo / '.github' / 'workflows' / name}" for name in shipped
    ]
    # the config is there already: --github alone keeps it and refuses to overwrite workflows
    again = cli(["init", "--github"], cwd=repo)
    assert again.returncode == 2 and "already exists" in again.stderr and "--force" in again.stderr
    assert cli(["init", "--github", "--force"], cwd=repo).returncode == 0
