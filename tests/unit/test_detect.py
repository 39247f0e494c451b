"""detect.py: what `init` finds in a repository and proposes (pure: the repository is in memory)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import yaml

from ci_autoresearch.app.detect import Proposal, propose_config
from ci_autoresearch.app.harnesses import RepoView


def propose(files: Mapping[str, str], *, valgrind: bool = False) -> Proposal:
    return propose_config(RepoView(files=tuple(sorted(files)), read=files.get, has_valgrind=valgrind))


def doc(p: Proposal) -> dict:
    return yaml.safe_load(p.config)


def test_nothing_found_still_names_the_test_command() -> None:
    p = propose({"go.mod": "module x\n", "main.go": "package main\n"})
    assert p.kind is None and p.config == ""
    assert p.findings == ("test command: go test ./... (go.mod) → gate.command",)


def test_google_benchmark_with_an_argument_is_named_as_it_reports() -> None:
    p = propose(
        {
            "CMakeLists.txt": (
                "find_package(benchmark)\nadd_executable(b b.cpp)\n"
                "target_link_libraries(b benchmark::benchmark)\n"
            ),
            "b.cpp": "BENCHMARK(BM_Sort)\n    ->Arg(64)->Arg(4096);\nBENCHMARK(BM_Copy);\n",
        }
    )
    bench = doc(p)["benchmark"]
    assert bench["command"].startswith("./build/b --benchmark_filter='^BM_Sort/64$' ")
    assert (
        bench["setup"] == "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build --target b"
    )
    assert bench["metrics"][0] == {
        "name": "BM_Sort_64",
        "source": "google-benchmark",
        "file": ".autoresearch-google-benchmark.json",
        "path": "BM_Sort/64",
        "field": "real_time",
        "unit": "s",
    }
    assert doc(p)["gate"] == {"protected_paths": ["b.cpp"]}  # no test command found
    assert "  # command: your test command" in p.config


def test_hyperfine_in_a_workflow_and_make_variables() -> None:
    p = propose(
        {
            "Makefile": "bench:\n\thyperfine $(BIN)\ntest:\n\t./run-tests\n",
            ".github/workflows/b.yml": "steps:\n  - run: hyperfine --runs 10 -n fast './tool -f' './tool'\n",
        }
    )
    bench = doc(p)["benchmark"]
    assert (
        bench["command"]
        == "hyperfine --runs 10 -n fast --export-json .autoresearch-hyperfine.json './tool -f' ./tool"
    )
    assert bench["metrics"][0]["path"] == "fast"
    assert doc(p)["gate"]["command"] == "make test"
    assert p.ignore == (".autoresearch-hyperfine.json",)


def test_asv_module_level_benchmark_with_setup() -> None:
    p = propose(
        {
            "bench/asv.conf.json": '{"benchmark_dir": "suite"}',
            "bench/suite/io.py": "def setup():\n    pass\n\ndef time_read():\n    pass\n",
            "package.json": '{"scripts": {"test": "jest"}}',
        }
    )
    command = doc(p)["benchmark"]["command"]
    assert 'sys.path.insert(0, "bench/suite"); import io as m; m.setup(); f = m.time_read;' in command
    assert doc(p)["gate"] == {
        "command": "npm test",
        "protected_paths": ["bench/suite/", "bench/asv.conf.json"],
    }


@pytest.mark.parametrize("valgrind", [True, False])
def test_valgrind_note(valgrind: bool) -> None:
    p = propose({"tests/test_x.py": "def test_x(benchmark):\n    benchmark(len, [])\n"}, valgrind=valgrind)
    assert ("#   objective: {metric: instructions}" in p.config) is valgrind
    assert doc(p)["gate"]["command"] == "python -m pytest -q -p no:cacheprovider --benchmark-skip"
    assert doc(p)["gate"]["protected_paths"] == ["tests/"]
