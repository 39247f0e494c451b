"""Property-based fuzzing of everything that enters: configurations, result files, event payloads and
benchmark output. Whatever comes in, the CLI ends with exit 0, 2 or 3, one error line, never a traceback,
never a hang.

The CLI runs in this process (Click's runner: fast), in real git repositories, with real benchmark
processes for the benchmark output. Inputs are built from valid documents by mutation (a value replaced
at a random place by an edge case: 1e400, a 400-digit integer, NaN, 1e308, 1e-300, a NUL byte, a string
starting with '-', 5 000-deep nesting, a wrong type, 100 000 samples), or written from scratch. The
examples are derandomized: every run tries the same inputs, so the suite cannot be flaky. Counts are
written to ``$AUTORESEARCH_FUZZ_REPORT`` when it is set.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ci_autoresearch.artifacts import dumps, result_to_json
from ci_autoresearch.cli import cli as main
from ci_autoresearch.config import config_schema
from ci_autoresearch.model import MetricSamples, RefInfo
from ci_autoresearch.model import Result as MeasuredResult
from tests.factories import ENV
from tests.helpers import FIXTURES, GIT_ENV, make_repo

EXAMPLE_SECONDS = 60
COUNTS: dict[str, dict[str, int]] = {}
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


class Hang(BaseException):
    """An example ran longer than :data:`EXAMPLE_SECONDS`: a hang, never swallowed by the CLI."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def fire(*_: object) -> None:
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_cli(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> Result:
    clean = {k: None for k in os.environ if k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    clean.update({"CI": None, **GIT_ENV, **(env or {})})  # type: ignore[dict-item]
    old = Path.cwd()
    os.chdir(cwd)
    try:
        with time_limit(EXAMPLE_SECONDS):
            return CliRunner().invoke(main, args, env=clean, catch_exceptions=True)  # type: ignore[arg-type]
    finally:
        os.chdir(old)


def check(
    suite: str, result: Result, *, allowed: tuple[int, ...] = (0, 2, 3), lines_per_problem: bool = False
) -> None:
    """Exit 0, 2 or 3; one error line (validate: one per problem), never a traceback."""
    counts = COUNTS.setdefault(suite, {"inputs": 0, "exit_0": 0, "exit_2": 0, "exit_3": 0, "other_exits": 0})
    counts["inputs"] += 1
    code = result.exit_code
    if code in (0, 2, 3):
        counts[f"exit_{code}"] += 1
    else:
        counts["other_exits"] += 1
    err = result.stderr
    shown = f"exit {code}; stderr: {err[-2000:]}; exception: {result.exception!r}"
    assert code in allowed, shown
    assert "Traceback" not in err + result.stdout and "internal error" not in err, shown
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    if code in (2, 3) and not lines_per_problem:
        lines = [line for line in err.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error: ")]
        assert errors == [lines[-1]], shown


# --- edge cases --------------------------------------------------------------------------------------

DEEP = 5000
NUMBERS = (
    st.sampled_from(
        [
            0,
            -1,
            1,
            2,
            7,
            1000,
            1001,
            2**53,
            2**63,
            10**400,
            -(10**400),
            1e308,
            -1e308,
            1e-300,
            5e-324,
            0.5,
            1e13,
        ]
    )
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers()
)
TEXTS = st.sampled_from(
    [
        "",
        "-",
        "--upload-pack=touch /tmp/pwned",
        "a\x00b",
        "@octocat",
        "::error::x",
        "x" * 5000,
        "main",
        "../x",
    ]
) | st.text(max_size=30)
SCALARS = NUMBERS | TEXTS | st.booleans() | st.none()
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXTS, inner, max_size=4),
    max_leaves=12,
)


class Text(str):
    """Generated input text, shown shortened when an example fails (some are megabytes long)."""

    def __repr__(self) -> str:
        head = str.__repr__(self[:300])
        return f"Text({len(self)} chars: {head}{'…' if len(self) > 300 else ''})"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # hypothesis prints examples this way
        p.text(repr(self))


def deep(value: str = "1") -> str:
    return "[" * DEEP + value + "]" * DEEP


def json_text(doc: Any) -> str:
    """JSON as an attacker writes it: NaN, Infinity, 1e400 and 400-digit integers allowed."""
    return json.dumps(doc, allow_nan=True, default=str)


def paths_of(doc: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths_of(v, (*here, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:5]):
            out += paths_of(v, (*here, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> str:
    """``base`` with 1-3 values replaced by edge cases, as JSON text (sometimes made deep or huge)."""
    doc = copy.deepcopy(base)
    marker = "__DEEP__"
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 3]))):
        places = paths_of(doc)
        path = draw(st.sampled_from(places))
        value = draw(
            JSON_VALUES | st.just(marker) | st.just([1.0] * 100_000) | st.just({"x": "y"}) | st.just([])
        )
        if not path:
            doc = value
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = value
    text = json_text(doc).replace(f'"{marker}"', deep())
    how = draw(st.sampled_from(["as is"] * 6 + ["truncated", "garbage", "empty"]))
    if how == "truncated":
        return Text(text[: draw(st.integers(0, max(0, len(text) - 1)))])
    if how == "garbage":
        return Text(draw(st.text(max_size=200)))
    return Text("" if how == "empty" else text)


# --- configurations ------------------------------------------------------------------------------------


def _from_schema(schema: dict[str, Any], draw: st.DrawFn, depth: int = 0) -> Any:
    if depth > 4 or draw(st.integers(0, 19)) == 0:
        return draw(JSON_VALUES)
    props = schema.get("properties")
    if props:
        keys = draw(st.lists(st.sampled_from(sorted(props)), max_size=3, unique=True))
        out = {k: _from_schema(props[k], draw, depth + 1) for k in keys}
        if draw(st.integers(0, 9)) == 0:
            out[draw(TEXTS)] = draw(SCALARS)
        return out
    items = schema.get("items")
    if isinstance(items, dict):
        return [_from_schema(items, draw, depth + 1) for _ in range(draw(st.integers(0, 3)))]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return _from_schema(draw(st.sampled_from(schema[key])), draw, depth + 1)
    if "enum" in schema:
        return draw(st.sampled_from(schema["enum"]))
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if ("integer" in kinds or "number" in kinds) and draw(st.booleans()):  # often a value that fits
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        high = schema.get("maximum", schema.get("exclusiveMaximum", low + 100))
        if "integer" in kinds:
            return draw(st.integers(int(low) + 1, max(int(low) + 1, int(high) - 1)))
        return draw(st.floats(low, high, exclude_min=True, exclude_max=True))
    if "integer" in kinds or "number" in kinds:
        return draw(NUMBERS)
    if "boolean" in kinds:
        return draw(st.booleans())
    return draw(st.sampled_from(["x", "echo METRIC score=1", "score"]) | TEXTS)


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    doc = _from_schema(dict(config_schema()), draw)
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except (yaml.YAMLError, RecursionError, OverflowError):
        text = str(doc)
    extra = draw(
        st.sampled_from(
            ["", f"deep: {deep()}\n", "x: 1.0e+400\n", "y: " + "9" * 400 + "\n", 'z: "\\0"\n', "a: &a [*a]\n"]
        )
    )
    text += extra
    how = draw(st.sampled_from(["as is"] * 8 + ["truncated", "garbage"]))
    if how == "truncated":
        return Text(text[: draw(st.integers(0, max(0, len(text) - 1)))])
    return Text(draw(st.text(max_size=300)) if how == "garbage" else text)


@pytest.fixture(scope="module")
def files_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_repo(tmp_path_factory.mktemp("fuzz") / "repo", {"README": "x\n"})
    for name, samples in (
        ("a.json", (1.0, 1.1, 0.9, 1.0, 1.05, 0.95)),
        ("b.json", (0.8, 0.85, 0.8, 0.82, 0.79, 0.81)),
    ):
        (repo / name).write_text(dumps(result_to_json(result_of(samples))))
    os.mkfifo(repo / "fifo.yml")
    return repo


def result_of(samples: tuple[float, ...]) -> MeasuredResult:
    return MeasuredResult(
        ref=RefInfo(ref="main", sha="c" * 40),
        dirty=False,
        config_hash="cafe0123cafe0123",
        environment=ENV,
        metrics={"score": MetricSamples(name="score", unit="s", direction="minimize", samples=samples)},
        runs=len(samples),
        warmup_runs=1,
        started_at="2026-11-26T10:00:00Z",
        finished_at="2026-11-26T10:00:05Z",
    )


@settings(FUZZ, max_examples=150)
@given(text=config_texts())
def test_fuzz_configurations(files_repo: Path, text: str) -> None:
    path = files_repo / "fuzz.yml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    check(
        "configurations",
        run_cli(["validate", "-c", str(path)], cwd=files_repo),
        allowed=(0, 2),
        lines_per_problem=True,
    )
    # a valid one is used for real: an offline comparison under its decision settings
    check(
        "configurations",
        run_cli(["compare", "-c", str(path), "a.json", "b.json"], cwd=files_repo),
        allowed=(0, 2),
    )


@pytest.mark.parametrize("path", ["/dev/zero", "fifo.yml", ".", "/nonexistent.yml"])
def test_fuzz_configuration_files_that_are_not_files(files_repo: Path, path: str) -> None:
    check(
        "configurations",
        run_cli(["validate", "-c", path], cwd=files_repo),
        allowed=(2,),
        lines_per_problem=True,
    )


# --- result files --------------------------------------------------------------------------------------

RESULT_DOC = result_to_json(result_of((1.0, 1.1, 0.9, 1.0, 1.05, 0.95)))


@settings(FUZZ, max_examples=100)
@given(text=mutated(RESULT_DOC), first=st.booleans())
def test_fuzz_result_files(files_repo: Path, text: str, first: bool) -> None:
    path = files_repo / "fuzz.json"
    path.write_text(text)
    args = ["compare", "fuzz.json", "b.json"] if first else ["compare", "a.json", "fuzz.json"]
    check("result files", run_cli(args, cwd=files_repo), allowed=(0, 2))


# --- event payloads ------------------------------------------------------------------------------------

EVENTS = {
    "pull_request": "pull_request.labeled.json",
    "push": "push.json",
    "workflow_dispatch": "workflow_dispatch.json",
    "workflow_run": "workflow_run.completed.json",
}


@pytest.fixture(scope="module")
def ci_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(
        tmp_path_factory.mktemp("fuzz-ci") / "repo",
        {
            ".autoresearch.yml": "objective: {metric: score}\nbenchmark: {command: 'echo METRIC score=1'}\n"
            "metrics: {collection: {warmup_runs: 0, measurement_runs: 2}}\n",
            ".gitignore": ".autoresearch/\n",
        },
    )


def event_doc(name: str) -> Any:
    doc = json.loads((FIXTURES / "github-events" / EVENTS[name]).read_text())
    if name == "pull_request":
        doc["pull_request"]["labels"].append({"name": "autoresearch:candidate"})
        doc["label"] = {"name": "autoresearch:candidate"}
    return doc


@settings(FUZZ, max_examples=80)
@given(data=st.data(), name=st.sampled_from(sorted(EVENTS)))
def test_fuzz_event_payloads(
    ci_repo: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, name: str
) -> None:
    text = data.draw(mutated(event_doc(name)))
    folder = ci_repo.parent
    event = folder / "event.json"
    event.write_text(text)
    env = {
        "GITHUB_EVENT_NAME": name,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(folder / "output"),
        "GITHUB_STEP_SUMMARY": str(folder / "summary.md"),
        "RUNNER_TEMP": str(folder / "runner"),
    }
    check("event payloads", run_cli(["ci", "--dry-run"], cwd=ci_repo, env=env))


@pytest.mark.parametrize("path", ["/dev/zero", "fifo", "."])
def test_fuzz_event_payload_files_that_are_not_files(ci_repo: Path, path: str) -> None:
    fifo = ci_repo.parent / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    env = {
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(ci_repo.parent / path) if path != "/dev/zero" else path,
        "GITHUB_REPOSITORY": "o/r",
    }
    check("event payloads", run_cli(["ci", "--dry-run"], cwd=ci_repo, env=env), allowed=(2,))


# --- benchmark output ----------------------------------------------------------------------------------

BENCH_CONFIG = """\
objective: {metric: score}
benchmark:
  command: cat out.txt; cat err.txt >&2; exit $(cat code.txt)
  timeout_seconds: 20
  metrics:
    - {name: j, source: json, file: result.json, path: a.b}
    - {name: h, source: hyperfine, file: hf.json}
metrics: {collection: {warmup_runs: 0, measurement_runs: 2}}
"""
TOKENS = st.sampled_from(
    [
        "1",
        "0",
        "-1",
        "1e308",
        "-1e308",
        "1e-300",
        "1e400",
        "9" * 400,
        "nan",
        "inf",
        "-inf",
        "1_000",
        "0x10",
        "",
        "1.5",
        "2e150",
    ]
) | st.floats(allow_nan=True, allow_infinity=True).map(repr)


@st.composite
def benchmark_outputs(draw: st.DrawFn) -> dict[str, str]:
    lines = draw(st.lists(st.text(max_size=40) | TOKENS.map(lambda t: f"METRIC score={t}"), max_size=6))
    lines.append(f"METRIC score={draw(st.sampled_from(['1.5', '2', '1e-3']) | TOKENS)}")
    result = draw(
        st.just('{"a": {"b": 1.5}}')
        | mutated({"a": {"b": 1.5}})
        | st.just('{"a": {"b": NaN}}')
        | st.just(f'{{"a": {{"b": {"9" * 400}}}}}')
        | st.just('{"a": ' + deep() + "}")
    )
    valid_hf = {"results": [{"command": "x", "median": 0.5, "mean": 0.5, "times": [0.5]}]}
    hyperfine = draw(st.just(json.dumps(valid_hf)) | mutated(valid_hf))
    return {
        "out.txt": "\n".join(lines) + "\n",
        "err.txt": draw(st.text(max_size=80)),
        "code.txt": str(draw(st.sampled_from([0, 0, 0, 1, 3, 127]))),
        "result.json": result,
        "hf.json": hyperfine,
    }


@pytest.fixture(scope="module")
def bench_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("fuzz-bench") / "repo", {".autoresearch.yml": BENCH_CONFIG})


@settings(FUZZ, max_examples=50)
@given(files=benchmark_outputs())
def test_fuzz_benchmark_output(bench_repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (bench_repo / name).write_text(text, errors="surrogatepass")
    check("benchmark output", run_cli(["bench"], cwd=bench_repo), allowed=(0, 3))


def test_fuzz_zz_counts() -> None:
    """Every suite ran, and no input ended with an exit other than 0, 2 or 3."""
    assert set(COUNTS) == {"configurations", "result files", "event payloads", "benchmark output"}
    total = {
        "inputs": sum(c["inputs"] for c in COUNTS.values()),
        "other_exits": sum(c["other_exits"] for c in COUNTS.values()),
    }
    assert total["other_exits"] == 0
    report = os.environ.get("AUTORESEARCH_FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps({"suites": COUNTS, **total}, indent=2) + "\n")
