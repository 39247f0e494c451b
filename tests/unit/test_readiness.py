"""readiness.py: what `validate` warns about beyond validity (pure: lookups are passed in)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from ci_autoresearch.config.model import BenchmarkConfig, CheckpointConfig, Config, GateConfig
from ci_autoresearch.config.readiness import ineffective_settings, missing_programs


def cfg(
    command: str | None = None, *, gate: str | None = None, setup: str | None = None, **kw: object
) -> Config:
    bench = BenchmarkConfig(command=command, setup=setup, **kw)  # type: ignore[arg-type]
    return Config(path="c.yml", hash="0" * 16, benchmark=bench, gate=GateConfig(command=gate))


def check(
    config: Config,
    repo: Iterable[str] = ("bench.py", "scripts/run.sh"),
    path: Iterable[str] = ("python3", "make"),
) -> list[str]:
    files, programs = set(repo), set(path)
    return missing_programs(
        config, exists=lambda p: p in files, which=lambda p: f"/usr/bin/{p}" if p in programs else None
    )


def test_checkpoint_settings_without_effect_say_why() -> None:
    assert ineffective_settings(Config(path="c", hash="h")) == []
    notes = ineffective_settings(
        Config(
            path="c", hash="h", checkpoint=CheckpointConfig(enabled=False, interval_minutes=5, path="s.json")
        )
    )
    assert [n.split(" has no effect")[0] for n in notes] == [
        "checkpoint.enabled: false",
        "checkpoint.interval_minutes",
        "checkpoint.path",
    ]
    assert all("git notes" in n and "\n" not in n for n in notes)
    remote_only = Config(path="c", hash="h", checkpoint=CheckpointConfig(remote="origin"))
    assert ineffective_settings(remote_only) == []


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("python3 bench.py", []),
        (
            "python3 bench2.py --fast",
            ["benchmark.command: bench2.py (run by python3) is not in the repository"],
        ),
        ("python3 -X importtime bench.py", []),
        ("python3 -m pyperf run", []),
        ("python3 -c 'print(1)'", []),
        ("PYTHONHASHSEED=0 python3 ./bench.py", []),
        (
            "env A=1 python3 missing.py",
            ["benchmark.command: missing.py (run by python3) is not in the repository"],
        ),
        ("hyperfine 'x'", ["benchmark.command: 'hyperfine' is neither in the repository nor on PATH"]),
        ("./scripts/run.sh && make", []),
        ("./scripts/gone.sh | tee log", ["benchmark.command: ./scripts/gone.sh is not in the repository"]),
        ("cd sub && ./anything", []),
        ("$BENCH --quick", []),
        ("make bench", []),
        ("'unterminated", []),
    ],
)
def test_benchmark_programs(command: str, expected: list[str]) -> None:
    assert check(cfg(command)) == expected


def test_gate_and_setup_programs() -> None:
    config = cfg("python3 bench.py", gate="pytest -q", setup="cmake -B build")
    assert check(config) == [
        "benchmark.setup: 'cmake' is neither in the repository nor on PATH",
        "gate.command: 'pytest' is neither in the repository nor on PATH",
    ]


def test_a_program_the_setup_builds_is_not_reported() -> None:
    assert check(cfg("./build/bench --benchmark_out=x.json", setup="make")) == []
    assert check(cfg("./build/bench")) == ["benchmark.command: ./build/bench is not in the repository"]


def test_benchmark_files_from_elsewhere_are_not_looked_for_in_the_tree() -> None:
    config = cfg("python3 new_bench.py", source="main", files=("new_bench.py",))
    assert check(config) == []
    config = cfg("python3 new_bench.py", source="working-tree", files=("new_bench.py",))
    assert check(config) == ["benchmark.command: new_bench.py (run by python3) is not in the repository"]
