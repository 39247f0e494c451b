"""metrics.py: every source, every parser and every error message (pure: no process is started)."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest

from ci_autoresearch.config.model import MetricSpec
from ci_autoresearch.errors import MeasurementError, ToolMissingError
from ci_autoresearch.measure import metrics
from ci_autoresearch.measure.metrics import extract
from ci_autoresearch.measure.metrics.harness import (
    parse_github_action_benchmark,
    parse_google_benchmark,
    parse_hyperfine,
    parse_pytest_benchmark,
)
from ci_autoresearch.measure.metrics.instructions import parse_valgrind_output, read_instruction_count
from ci_autoresearch.measure.metrics.numbers import ParseError, to_number
from ci_autoresearch.measure.metrics.text import parse_json_path, parse_stdout
from ci_autoresearch.measure.runner import RunResult
from ci_autoresearch.measure.valgrind import require_valgrind, wrap_for_instructions

HARNESS = Path(__file__).resolve().parent.parent / "fixtures" / "harness"


def fixture_text(name: str) -> str:
    return (HARNESS / name).read_text()


def make_run(tmp_path: Path, stdout: str = "", **changes: Any) -> RunResult:
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    (logs / "run1.stdout.log").write_text(stdout)
    (logs / "run1.stderr.log").write_text("")
    fields: dict[str, Any] = {
        "command": "./bench",
        "returncode": 0,
        "wall_time": 1.5,
        "cpu_time": 1.25,
        "max_rss": 50 * 1024 * 1024,
        "stdout": stdout,
        "stderr": "",
        "stdout_path": logs / "run1.stdout.log",
        "stderr_path": logs / "run1.stderr.log",
        "timed_out": False,
    }
    fields.update(changes)
    return RunResult(**fields)


def spec(name: str, source: str, **kw: Any) -> MetricSpec:
    return MetricSpec(name=name, source=source, **kw)  # type: ignore[arg-type]


def one(s: MetricSpec, run: RunResult, workdir: Path) -> float:
    return extract([s], run, workdir=workdir)[s.name]


def error_of(s: MetricSpec, run: RunResult, workdir: Path) -> str:
    with pytest.raises(MeasurementError) as info:
        extract([s], run, workdir=workdir)
    message = str(info.value)
    assert "\n" not in message
    assert info.value.exit_code == 3
    return message


# ------------------------------------------------------------------------------------------- to_number


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3.0),
        (2.5, 2.5),
        ("1e3", 1000.0),
        (" -4.5 ", -4.5),
        ("+.5", 0.5),
        ("7.", 7.0),
        (0, 0.0),
        ("1E-3", 0.001),
    ],
)
def test_to_number_accepts_plain_numbers(value: object, expected: float) -> None:
    assert to_number(value, "x") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "x is true, not a number"),
        (None, "x is null, not a number"),
        ([1], "x is a list, not a number"),
        ({"a": 1}, "x is an object, not a number"),
        ("12ms", "x is '12ms', not a number"),
        ("1,000", "x is '1,000', not a number"),
        ("1_000", "x is '1_000', not a number"),
        ("", "x is '', not a number"),
        ("nan", "x is nan, not a finite number"),
        ("-Infinity", "x is -Infinity, not a finite number"),
        (float("inf"), "x is inf, not a finite number"),
        (10**400, "x is " + str(10**400) + ", not a finite number"),
    ],
)
def test_to_number_refuses(value: object, message: str) -> None:
    with pytest.raises(ParseError) as info:
        to_number(value, "x")
    assert str(info.value) == message


def test_to_number_shortens_long_garbage() -> None:
    with pytest.raises(ParseError) as info:
        to_number("x" * 500, "v")
    assert str(info.value) == "v is '" + "x" * 39 + "…', not a number"


# ------------------------------------------------------------------------------------------- built-ins


def test_builtin_metrics_come_from_the_run(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    specs = [spec("max_rss", "max_rss"), spec("wall_time", "wall_time"), spec("cpu_time", "cpu_time")]
    values = extract(specs, run, workdir=tmp_path)
    assert values == {"max_rss": 50 * 1024 * 1024, "wall_time": 1.5, "cpu_time": 1.25}
    assert list(values) == ["max_rss", "wall_time", "cpu_time"]


def test_builtin_metrics_in_the_declared_unit(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    assert one(spec("wall_time", "wall_time", unit="ms"), run, tmp_path) == pytest.approx(1500.0)
    assert one(spec("cpu_time", "cpu_time", unit="us"), run, tmp_path) == pytest.approx(1.25e6)
    assert one(spec("max_rss", "max_rss", unit="MiB"), run, tmp_path) == pytest.approx(50.0)
    assert one(spec("max_rss", "max_rss", unit="bytes"), run, tmp_path) == 50 * 1024 * 1024
    assert one(spec("wall_time", "wall_time", unit="widgets"), run, tmp_path) == 1.5


def test_zero_is_a_value(tmp_path: Path) -> None:
    run = make_run(tmp_path, "METRIC score=0\n", wall_time=0.0, max_rss=0)
    specs = [spec("wall_time", "wall_time"), spec("max_rss", "max_rss"), spec("score", "stdout")]
    assert extract(specs, run, workdir=tmp_path) == {"wall_time": 0.0, "max_rss": 0.0, "score": 0.0}


def test_builtin_negative_and_nan_are_errors(tmp_path: Path) -> None:
    assert error_of(spec("wall_time", "wall_time"), make_run(tmp_path, wall_time=-1.0), tmp_path) == (
        "metric 'wall_time' (wall_time): the value -1 is negative; expected a time, size or count ≥ 0"
    )
    assert error_of(spec("cpu_time", "cpu_time"), make_run(tmp_path, cpu_time=float("nan")), tmp_path) == (
        "metric 'cpu_time' (cpu_time): the measured value is nan, not a finite number"
    )


# ---------------------------------------------------------------------------------------------- stdout


def test_stdout_metric_lines_last_one_wins(tmp_path: Path) -> None:
    out = (
        "warming up\n"
        "METRIC latency_p99=99\n"
        "METRIC latency_p99_other=1\n"
        "  METRIC   latency_p99 =  1.5e-3  ms\r\n"
        "done\n"
    )
    assert one(spec("latency_p99", "stdout"), make_run(tmp_path, out), tmp_path) == 0.0015


@pytest.mark.parametrize(
    ("line", "value"),
    [("METRIC x=42", 42.0), ("METRIC x=-3.5", -3.5), ("METRIC x=+2E+2", 200.0), ("METRIC x=.25", 0.25)],
)
def test_stdout_number_forms(line: str, value: float, tmp_path: Path) -> None:
    assert one(spec("x", "stdout"), make_run(tmp_path, line), tmp_path) == value


def test_stdout_metric_name_is_literal(tmp_path: Path) -> None:
    run = make_run(tmp_path, "METRIC p9909=1\nMETRIC p99.9=2\n")
    assert one(spec("p99.9", "stdout"), run, tmp_path) == 2.0


def test_stdout_metric_must_start_a_line(tmp_path: Path) -> None:
    run = make_run(tmp_path, "log: METRIC x=1\n")
    assert "no line `METRIC x=<number>`" in error_of(spec("x", "stdout"), run, tmp_path)


def test_stdout_missing_metric_says_what_and_where(tmp_path: Path) -> None:
    run = make_run(tmp_path, "METRIC other=1\n")
    assert error_of(spec("latency", "stdout"), run, tmp_path) == (
        "metric 'latency' (stdout): no line `METRIC latency=<number>` in the benchmark's stdout "
        f"(the output is in {run.stdout_path})"
    )


def test_stdout_non_numeric_value_is_quoted(tmp_path: Path) -> None:
    run = make_run(tmp_path, "METRIC latency=12ms\n")
    assert error_of(spec("latency", "stdout"), run, tmp_path) == (
        "metric 'latency' (stdout): the value is '12ms', not a number"
    )
    run = make_run(tmp_path, "METRIC latency=\n")
    assert error_of(spec("latency", "stdout"), run, tmp_path) == (
        "metric 'latency' (stdout): the value is '', not a number"
    )


def test_stdout_nan_and_inf_are_errors(tmp_path: Path) -> None:
    assert error_of(spec("x", "stdout"), make_run(tmp_path, "METRIC x=nan"), tmp_path) == (
        "metric 'x' (stdout): the value is nan, not a finite number"
    )
    assert error_of(spec("x", "stdout"), make_run(tmp_path, "METRIC x=-inf"), tmp_path) == (
        "metric 'x' (stdout): the value is -inf, not a finite number"
    )


def test_stdout_values_may_be_negative(tmp_path: Path) -> None:
    assert one(spec("score", "stdout"), make_run(tmp_path, "METRIC score=-0.5"), tmp_path) == -0.5


def test_stdout_custom_pattern_last_match(tmp_path: Path) -> None:
    out = "val_bpb: 1.20\nstep 2\nval_bpb: 0.98\n"
    s = spec("val_bpb", "stdout", pattern=r"^val_bpb:\s*(\S+)$")
    assert one(s, make_run(tmp_path, out), tmp_path) == 0.98


def test_stdout_custom_pattern_errors(tmp_path: Path) -> None:
    run = make_run(tmp_path, "val_bpb: 1.2\n")
    assert error_of(spec("v", "stdout", pattern=r"loss: (\S+)"), run, tmp_path) == (
        r"metric 'v' (stdout): pattern /loss: (\S+)/ matched nothing in the benchmark's stdout "
        f"(the output is in {run.stdout_path})"
    )
    assert error_of(spec("v", "stdout", pattern=r"val_bpb: \S+"), run, tmp_path) == (
        r"metric 'v' (stdout): pattern /val_bpb: \S+/ must have exactly one group (the value); it has 0"
    )
    assert error_of(spec("v", "stdout", pattern=r"(val)_bpb: (\S+)"), run, tmp_path) == (
        r"metric 'v' (stdout): pattern /(val)_bpb: (\S+)/ must have exactly one group (the value); it has 2"
    )
    message = error_of(spec("v", "stdout", pattern=r"val_bpb: (\S+"), run, tmp_path)
    assert message.startswith(
        r"metric 'v' (stdout): pattern /val_bpb: (\S+/ is not a valid regular expression ("
    )


def test_parse_stdout_is_pure() -> None:
    assert parse_stdout("METRIC a=1\nMETRIC a=2\n", "a") == 2.0
    with pytest.raises(metrics.NotFoundError):
        parse_stdout("", "a")


# ------------------------------------------------------------------------------------------------ json


def write_json(workdir: Path, name: str, data: Any) -> None:
    (workdir / name).write_text(json.dumps(data))


def test_json_dotted_path_with_indices(tmp_path: Path) -> None:
    write_json(tmp_path, "out.json", {"results": [{"time": 1.5}, {"time": 2.5}], "n": 3, "s": "4.5"})
    run = make_run(tmp_path)
    assert one(spec("t", "json", file="out.json", path="results.0.time"), run, tmp_path) == 1.5
    assert one(spec("t", "json", file="out.json", path="results.-1.time"), run, tmp_path) == 2.5
    assert one(spec("n", "json", file="out.json"), run, tmp_path) == 3.0  # path defaults to the name
    assert one(spec("t", "json", file="out.json", path="s"), run, tmp_path) == 4.5  # numeric string


def test_json_several_metrics_from_one_file(tmp_path: Path) -> None:
    write_json(tmp_path, "out.json", {"a": 1, "b": {"c": 2}})
    specs = [spec("a", "json", file="out.json"), spec("c", "json", file="out.json", path="b.c")]
    assert extract(specs, make_run(tmp_path), workdir=tmp_path) == {"a": 1.0, "c": 2.0}


def test_json_from_stdout_when_no_file(tmp_path: Path) -> None:
    run = make_run(tmp_path, '{"score": 0.75}')
    assert one(spec("score", "json"), run, tmp_path) == 0.75


def test_json_missing_file(tmp_path: Path) -> None:
    assert error_of(spec("t", "json", file="out/result.json", path="a"), make_run(tmp_path), tmp_path) == (
        "metric 't' (json, out/result.json): the benchmark did not write out/result.json "
        f"(expected a JSON file at {tmp_path / 'out/result.json'})"
    )


def test_json_invalid(tmp_path: Path) -> None:
    (tmp_path / "out.json").write_text('{"a": 1,\n "b": }')
    assert error_of(spec("t", "json", file="out.json", path="a"), make_run(tmp_path), tmp_path) == (
        "metric 't' (json, out.json): not valid JSON (line 2, column 7: Expecting value)"
    )


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("results.0.tme", "no key 'results.0.tme': 'results.0' has no key 'tme' (keys: time, unit)"),
        ("result", "no key 'result': 'the document' has no key 'result' (keys: results, empty)"),
        ("results.5.time", "no key 'results.5.time': 'results' has 1 items, no index 5"),
        ("results.first", "no key 'results.first': 'results' is a list, 'first' is not an index"),
        ("results.0.time.x", "no key 'results.0.time.x': 'results.0.time' is not an object or a list"),
        ("empty.x", "no key 'empty.x': 'empty' has no key 'x' (it is empty)"),
    ],
)
def test_json_path_not_found(path: str, message: str, tmp_path: Path) -> None:
    write_json(tmp_path, "out.json", {"results": [{"time": 1.0, "unit": "s"}], "empty": {}})
    assert error_of(spec("t", "json", file="out.json", path=path), make_run(tmp_path), tmp_path) == (
        f"metric 't' (json, out.json): {message}"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("fast", "'a' is 'fast', not a number"),
        (None, "'a' is null, not a number"),
        (True, "'a' is true, not a number"),
        ([1, 2], "'a' is a list, not a number"),
    ],
)
def test_json_non_numeric(value: Any, message: str, tmp_path: Path) -> None:
    write_json(tmp_path, "out.json", {"a": value})
    assert error_of(spec("t", "json", file="out.json", path="a"), make_run(tmp_path), tmp_path) == (
        f"metric 't' (json, out.json): {message}"
    )


def test_json_nan_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "out.json").write_text('{"a": NaN, "b": Infinity}')
    run = make_run(tmp_path)
    assert error_of(spec("t", "json", file="out.json", path="a"), run, tmp_path) == (
        "metric 't' (json, out.json): 'a' is nan, not a finite number"
    )
    assert error_of(spec("t", "json", file="out.json", path="b"), run, tmp_path) == (
        "metric 't' (json, out.json): 'b' is inf, not a finite number"
    )


def test_json_values_may_be_negative(tmp_path: Path) -> None:
    write_json(tmp_path, "out.json", {"delta": -2})
    assert one(spec("delta", "json", file="out.json"), make_run(tmp_path), tmp_path) == -2.0


def test_json_file_may_not_escape_the_checkout(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    write_json(tmp_path, "secret.json", {"a": 1})
    (checkout / "link.json").symlink_to(tmp_path / "secret.json")
    run = make_run(tmp_path)
    for file in ("link.json", "../secret.json"):
        assert error_of(spec("t", "json", file=file, path="a"), run, checkout) == (
            f"metric 't' (json, {file}): {file} resolves outside the checkout {checkout}"
        )
    # an absolute path is the configuration's explicit choice
    assert one(spec("t", "json", file=str(tmp_path / "secret.json"), path="a"), run, checkout) == 1.0


def test_json_file_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "MAX_FILE_BYTES", 10)
    write_json(tmp_path, "out.json", {"a": 1234567890})
    assert error_of(spec("t", "json", file="out.json", path="a"), make_run(tmp_path), tmp_path) == (
        "metric 't' (json, out.json): out.json is 17 bytes, more than the limit of 10"
    )


def test_json_file_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "out.json").mkdir()
    assert error_of(spec("t", "json", file="out.json", path="a"), make_run(tmp_path), tmp_path) == (
        "metric 't' (json, out.json): out.json is a directory, expected a regular file"
    )


def test_json_file_that_is_a_fifo_or_a_device_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "out.json")  # a candidate's trap: reading it would wait for a writer forever
    assert error_of(spec("t", "json", file="out.json", path="a"), make_run(tmp_path), tmp_path) == (
        "metric 't' (json, out.json): out.json is a FIFO (named pipe), expected a regular file"
    )
    assert error_of(spec("t", "json", file="/dev/zero", path="a"), make_run(tmp_path), tmp_path) == (
        "metric 't' (json, /dev/zero): /dev/zero is a character device, expected a regular file"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("METRIC t=1e308", "the value 1e+308 is larger in magnitude than the supported 1e+150"),
        ("METRIC t=1e-300", "the value 1e-300 is closer to zero than the supported 1e-150 (and not 0)"),
        ("METRIC t=1e400", "the value is 1e400, not a finite number"),
    ],
)
def test_metric_values_outside_the_supported_range_are_refused(
    tmp_path: Path, line: str, message: str
) -> None:
    run = make_run(tmp_path, stdout=line + "\n")
    assert message in error_of(spec("t", "stdout"), run, tmp_path)


def test_zero_is_a_supported_metric_value(tmp_path: Path) -> None:
    run = make_run(tmp_path, stdout="METRIC t=0\n")
    assert metrics.extract([spec("t", "stdout")], run, workdir=tmp_path) == {"t": 0.0}


def test_parse_json_path_deeply_nested_is_an_error() -> None:
    with pytest.raises(ParseError, match="nested 100000 levels deep, more than the limit of 64"):
        parse_json_path("[" * 100_000 + "]" * 100_000, "0")


# ------------------------------------------------------------------------------------ pytest-benchmark

PB = "pytest-benchmark.json"


def pb_stats(name: str) -> dict[str, Any]:
    data = json.loads(fixture_text(PB))
    return next(b["stats"] for b in data["benchmarks"] if b["name"] == name)


def test_pytest_benchmark_by_name_and_fullname() -> None:
    text = fixture_text(PB)
    stats = pb_stats("test_sort[100]")
    assert parse_pytest_benchmark(text, "test_sort[100]") == stats["median"]
    assert parse_pytest_benchmark(text, "test_tiny.py::test_sort[100]", "mean") == stats["mean"]
    for field in ("min", "max", "stddev", "ops", "iqr", "q1", "q3"):
        assert parse_pytest_benchmark(text, "test_sort[100]", field) == stats[field]


def test_pytest_benchmark_needs_a_name_when_several() -> None:
    with pytest.raises(ParseError) as info:
        parse_pytest_benchmark(fixture_text(PB))
    assert str(info.value) == (
        "holds 3 benchmarks; set `path:` to one of: test_fib_10, test_sort[100], test_sort[1000]"
    )


def test_pytest_benchmark_single_benchmark_needs_no_name() -> None:
    data = json.loads(fixture_text(PB))
    data["benchmarks"] = data["benchmarks"][:1]
    assert parse_pytest_benchmark(json.dumps(data)) == pb_stats("test_fib_10")["median"]


def test_pytest_benchmark_unknown_name_lists_available() -> None:
    with pytest.raises(metrics.NotFoundError) as info:
        parse_pytest_benchmark(fixture_text(PB), "test_sort")
    assert str(info.value) == (
        "no benchmark named 'test_sort'; available: test_fib_10, test_sort[100], test_sort[1000]"
    )


def test_pytest_benchmark_same_name_in_two_files_is_ambiguous() -> None:
    data = json.loads(fixture_text(PB))
    twin = json.loads(json.dumps(data["benchmarks"][0]))
    twin["fullname"] = "other/test_tiny.py::test_fib_10"
    data["benchmarks"].append(twin)
    text = json.dumps(data)
    with pytest.raises(ParseError) as info:
        parse_pytest_benchmark(text, "test_fib_10")
    assert str(info.value) == (
        "2 benchmarks are named 'test_fib_10'; set `path:` to one of: "
        "test_tiny.py::test_fib_10, other/test_tiny.py::test_fib_10"
    )
    assert (
        parse_pytest_benchmark(text, "other/test_tiny.py::test_fib_10") == pb_stats("test_fib_10")["median"]
    )


def test_pytest_benchmark_extract_errors(tmp_path: Path) -> None:
    (tmp_path / "bench.json").write_text(fixture_text(PB))
    run = make_run(tmp_path)
    assert error_of(
        spec("t", "pytest-benchmark", file="bench.json", path="test_fib_10", field="p99"), run, tmp_path
    ) == (
        "metric 't' (pytest-benchmark, bench.json): 'p99' is not a statistic of pytest-benchmark; "
        "expected one of: "
        "median, mean, min, max, stddev, iqr, q1, q3, ld15iqr, hd15iqr, ops, total"
    )
    assert error_of(spec("t", "pytest-benchmark", file="bench.json", path="nope"), run, tmp_path) == (
        "metric 't' (pytest-benchmark, bench.json): no benchmark named 'nope'; "
        "available: test_fib_10, test_sort[100], test_sort[1000]"
    )
    (tmp_path / "bench.json").write_text(fixture_text("hyperfine.json"))
    assert error_of(spec("t", "pytest-benchmark", file="bench.json"), run, tmp_path) == (
        "metric 't' (pytest-benchmark, bench.json): not pytest-benchmark output "
        "(expected an object with a 'benchmarks' list)"
    )


def test_pytest_benchmark_extract_in_unit(tmp_path: Path) -> None:
    (tmp_path / "bench.json").write_text(fixture_text(PB))
    run = make_run(tmp_path)
    median = pb_stats("test_fib_10")["median"]
    ops = pb_stats("test_fib_10")["ops"]
    s = spec("fib", "pytest-benchmark", file="bench.json", path="test_fib_10", unit="us")
    assert one(s, run, tmp_path) == pytest.approx(median * 1e6)
    s = spec("fib", "pytest-benchmark", file="bench.json", path="test_fib_10", field="ops", unit="ms")
    assert one(s, run, tmp_path) == ops  # not a time: never converted


def test_pytest_benchmark_empty_and_negative(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match=r"^holds no benchmark$"):
        parse_pytest_benchmark('{"benchmarks": []}')
    with pytest.raises(ParseError, match=r"^no benchmark named 'x'; it holds no benchmark$"):
        parse_pytest_benchmark('{"benchmarks": []}', "x")
    data = {"benchmarks": [{"name": "t", "fullname": "f::t", "stats": {"median": -1.0}}]}
    write_json(tmp_path, "b.json", data)
    assert error_of(spec("t", "pytest-benchmark", file="b.json"), make_run(tmp_path), tmp_path) == (
        "metric 't' (pytest-benchmark): the value -1 is negative; expected a time, size or count ≥ 0"
    )


# ------------------------------------------------------------------------------------------- hyperfine

HF = "hyperfine.json"


def test_hyperfine_by_command() -> None:
    text = fixture_text(HF)
    results = {r["command"]: r for r in json.loads(text)["results"]}
    assert parse_hyperfine(text, "true") == results["true"]["median"]
    for field in ("mean", "min", "max", "stddev", "user", "system"):
        assert parse_hyperfine(text, "sleep 0.01", field) == results["sleep 0.01"][field]


def test_hyperfine_errors() -> None:
    text = fixture_text(HF)
    with pytest.raises(ParseError) as info:
        parse_hyperfine(text)
    assert str(info.value) == "holds 2 commands; set `path:` to one of: sleep 0.01, true"
    with pytest.raises(ParseError) as info:
        parse_hyperfine(text, "false")
    assert str(info.value) == "no command named 'false'; available: sleep 0.01, true"
    with pytest.raises(ParseError) as info:
        parse_hyperfine(text, "true", "times")
    assert str(info.value) == (
        "'times' is not a statistic of hyperfine; "
        "expected one of: median, mean, min, max, stddev, user, system"
    )
    with pytest.raises(ParseError) as info:
        parse_hyperfine('{"benchmarks": []}')
    assert str(info.value) == "not hyperfine output (expected an object with a 'results' list)"


def test_hyperfine_single_run_has_null_stddev() -> None:
    text = json.dumps({"results": [{"command": "x", "mean": 0.5, "median": 0.5, "stddev": None}]})
    assert parse_hyperfine(text) == 0.5
    with pytest.raises(ParseError) as info:
        parse_hyperfine(text, field="stddev")
    assert str(info.value) == "'stddev' of 'x' is null, not a number"


def test_hyperfine_without_median_uses_mean() -> None:
    text = json.dumps({"results": [{"command": "x", "mean": 0.25, "min": 0.2}]})
    assert parse_hyperfine(text) == 0.25
    with pytest.raises(ParseError) as info:
        parse_hyperfine(text, field="median")
    assert str(info.value) == (
        "'median' is not a statistic of 'x'; expected one of: median, mean, min, max, stddev, user, system"
    )


def test_hyperfine_extract(tmp_path: Path) -> None:
    (tmp_path / "hf.json").write_text(fixture_text(HF))
    s = spec("startup", "hyperfine", file="hf.json", path="true", unit="ms")
    expected = {r["command"]: r for r in json.loads(fixture_text(HF))["results"]}["true"]["median"] * 1000
    assert one(s, make_run(tmp_path), tmp_path) == pytest.approx(expected)


# ------------------------------------------------------------------------------------ google-benchmark

GB = "google-benchmark.json"
GBR = "google-benchmark-repetitions.json"


def gb_entries(name: str) -> list[dict[str, Any]]:
    return list(json.loads(fixture_text(name))["benchmarks"])


def test_google_benchmark_converts_to_seconds() -> None:
    text = fixture_text(GB)
    by_name = {b["name"]: b for b in gb_entries(GB)}
    assert by_name["BM_StringCopy"]["time_unit"] == "ns"
    assert by_name["BM_Sort/64"]["time_unit"] == "us"
    assert parse_google_benchmark(text, "BM_StringCopy") == pytest.approx(
        by_name["BM_StringCopy"]["real_time"] * 1e-9
    )
    assert parse_google_benchmark(text, "BM_Sort/64", "cpu_time") == pytest.approx(
        by_name["BM_Sort/64"]["cpu_time"] * 1e-6
    )
    # counters are not times: as they are
    assert parse_google_benchmark(text, "BM_Sort/64", "iterations") == by_name["BM_Sort/64"]["iterations"]


def test_google_benchmark_prefers_the_median_aggregate() -> None:
    text = fixture_text(GBR)
    entries = [e for e in gb_entries(GBR) if e["run_name"] == "BM_Sort/64"]
    median = next(e for e in entries if e.get("aggregate_name") == "median")
    mean = next(e for e in entries if e.get("aggregate_name") == "mean")
    assert parse_google_benchmark(text, "BM_Sort/64") == pytest.approx(median["real_time"] * 1e-6)
    # an aggregate can be named explicitly
    assert parse_google_benchmark(text, "BM_Sort/64_mean") == pytest.approx(mean["real_time"] * 1e-6)


def test_google_benchmark_median_of_repetitions_without_aggregates() -> None:
    data = json.loads(fixture_text(GBR))
    data["benchmarks"] = [b for b in data["benchmarks"] if b["run_type"] == "iteration"]
    reps = sorted(b["real_time"] for b in data["benchmarks"] if b["run_name"] == "BM_StringCopy")
    assert len(reps) == 3
    assert parse_google_benchmark(json.dumps(data), "BM_StringCopy") == pytest.approx(reps[1] * 1e-9)


def test_google_benchmark_aggregates_only_uses_median_or_mean() -> None:
    data = json.loads(fixture_text(GBR))
    aggregates = [b for b in data["benchmarks"] if b["run_type"] == "aggregate"]
    data["benchmarks"] = aggregates
    median = next(b for b in aggregates if b["name"] == "BM_StringCopy_median")["real_time"]
    assert parse_google_benchmark(json.dumps(data), "BM_StringCopy") == pytest.approx(median * 1e-9)
    data["benchmarks"] = [b for b in aggregates if b["aggregate_name"] in ("mean", "stddev")]
    mean = next(b for b in aggregates if b["name"] == "BM_StringCopy_mean")["real_time"]
    assert parse_google_benchmark(json.dumps(data), "BM_StringCopy") == pytest.approx(mean * 1e-9)
    data["benchmarks"] = [b for b in aggregates if b["aggregate_name"] == "stddev"]
    with pytest.raises(ParseError) as info:
        parse_google_benchmark(json.dumps(data), "BM_StringCopy")
    assert str(info.value) == "benchmark 'BM_StringCopy' has no repetition and no median or mean aggregate"


def test_google_benchmark_old_format_without_run_type() -> None:
    text = json.dumps(
        {
            "benchmarks": [
                {"name": "BM_A", "real_time": 10, "cpu_time": 9, "time_unit": "ms"},
                {"name": "BM_A", "real_time": 30, "cpu_time": 9, "time_unit": "ms"},
                {"name": "BM_A_mean", "real_time": 20, "cpu_time": 9, "time_unit": "ms"},
                {"name": "BM_A_median", "real_time": 15, "cpu_time": 9, "time_unit": "ms"},
            ]
        }
    )
    assert parse_google_benchmark(text) == pytest.approx(0.015)


def test_google_benchmark_errors() -> None:
    text = fixture_text(GB)
    with pytest.raises(ParseError) as info:
        parse_google_benchmark(text)
    assert (
        str(info.value)
        == "holds 3 benchmarks; set `path:` to one of: BM_StringCopy, BM_Sort/64, BM_Sort/4096"
    )
    with pytest.raises(ParseError) as info:
        parse_google_benchmark(text, "BM_Sort")
    assert (
        str(info.value) == "no benchmark named 'BM_Sort'; available: BM_StringCopy, BM_Sort/64, BM_Sort/4096"
    )
    with pytest.raises(ParseError) as info:
        parse_google_benchmark(text, "BM_StringCopy", "mean")
    assert str(info.value) == (
        "'mean' is not a field of benchmark 'BM_StringCopy'; expected one of: family_index, "
        "per_family_instance_index, repetitions, repetition_index, threads, iterations, real_time, cpu_time"
    )
    bad_unit = json.dumps({"benchmarks": [{"name": "B", "real_time": 1, "time_unit": "fortnights"}]})
    with pytest.raises(ParseError) as info:
        parse_google_benchmark(bad_unit)
    assert str(info.value) == "time_unit 'fortnights' of 'B' is not one of ns, us, ms, s"
    with pytest.raises(ParseError) as info:
        parse_google_benchmark("[]")
    assert str(info.value) == "not Google Benchmark output (expected an object with a 'benchmarks' list)"


def test_google_benchmark_reported_error() -> None:
    text = json.dumps(
        {
            "benchmarks": [
                {
                    "name": "BM_Broken",
                    "run_name": "BM_Broken",
                    "run_type": "iteration",
                    "error_occurred": True,
                    "error_message": "could not open input file",
                    "iterations": 0,
                    "real_time": 0,
                    "cpu_time": 0,
                    "time_unit": "ns",
                }
            ]
        }
    )
    with pytest.raises(ParseError) as info:
        parse_google_benchmark(text)
    assert str(info.value) == "benchmark 'BM_Broken' reported an error: 'could not open input file'"


def test_google_benchmark_default_unit_is_ns() -> None:
    assert parse_google_benchmark('{"benchmarks": [{"name": "B", "real_time": 5}]}') == pytest.approx(5e-9)


def test_google_benchmark_extract_from_stdout(tmp_path: Path) -> None:
    run = make_run(tmp_path, fixture_text(GB))
    by_name = {b["name"]: b for b in gb_entries(GB)}
    s = spec("sort", "google-benchmark", path="BM_Sort/4096", unit="us")
    assert one(s, run, tmp_path) == pytest.approx(by_name["BM_Sort/4096"]["real_time"])


# ----------------------------------------------------------------------------- github-action-benchmark

GAB = "github-action-benchmark.json"
CPU = "My Custom Smaller Is Better Benchmark - CPU Load"
MEM = "My Custom Smaller Is Better Benchmark - Memory Used"


def test_github_action_benchmark_value() -> None:
    text = fixture_text(GAB)
    assert parse_github_action_benchmark(text, CPU) == 50.0
    assert parse_github_action_benchmark(text, MEM, "value") == 100.0


def test_github_action_benchmark_errors() -> None:
    text = fixture_text(GAB)
    with pytest.raises(ParseError) as info:
        parse_github_action_benchmark(text)
    assert str(info.value) == f"holds 2 benchmarks; set `path:` to one of: {CPU}, {MEM}"
    with pytest.raises(ParseError) as info:
        parse_github_action_benchmark(text, CPU, "range")
    assert str(info.value) == "'range' is not a field of github-action-benchmark entries; expected: value"
    with pytest.raises(ParseError) as info:
        parse_github_action_benchmark('{"benchmarks": []}')
    assert str(info.value) == (
        "not github-action-benchmark custom output (expected a list of {name, unit, value} objects)"
    )
    with pytest.raises(ParseError) as info:
        parse_github_action_benchmark('[{"name": "a", "unit": "x", "value": "fast"}]')
    assert str(info.value) == "'value' of 'a' is 'fast', not a number"
    with pytest.raises(ParseError) as info:
        parse_github_action_benchmark('[{"name": "a", "unit": "x"}]')
    assert str(info.value) == "benchmark 'a' has no 'value'"


def test_github_action_benchmark_extract(tmp_path: Path) -> None:
    (tmp_path / "out.json").write_text('[{"name": "score", "unit": "points", "value": -3}]')
    s = spec("score", "github-action-benchmark", file="out.json", unit="ms")
    assert one(s, make_run(tmp_path), tmp_path) == -3.0  # taken as it is: may be negative, not converted


def test_many_names_are_shortened() -> None:
    text = json.dumps([{"name": f"b{i}", "unit": "x", "value": i} for i in range(13)])
    with pytest.raises(ParseError) as info:
        parse_github_action_benchmark(text, "zz")
    assert (
        str(info.value)
        == "no benchmark named 'zz'; available: b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, … (3 more)"
    )


# ---------------------------------------------------------------------------------------- instructions


def test_parse_valgrind_output_fixtures() -> None:
    assert parse_valgrind_output(fixture_text("callgrind.out")) == 127162  # totals:
    assert parse_valgrind_output(fixture_text("cachegrind.out")) == 127757  # summary:


def test_parse_valgrind_output_prefers_totals_and_finds_ir_column() -> None:
    assert parse_valgrind_output("events: Ir\nsummary: 10\n\ntotals: 12\n") == 12
    assert parse_valgrind_output("events: Dr Ir Dw\nsummary: 1 2 3\n") == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "events: Ir\nfn=main\n0 3\n",
            "no `totals:` or `summary:` line (valgrind did not finish writing it)",
        ),
        ("events: Dr\nsummary: 5\n", "no Ir event (events: Dr)"),
        ("events: Dr Ir\nsummary: 5\n", "the totals line has no Ir column"),
        ("events: Ir\nsummary: lots\n", "Ir total 'lots' is not an integer"),
    ],
)
def test_parse_valgrind_output_errors(text: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_valgrind_output(text)
    assert str(info.value) == message


def test_read_instruction_count_sums_every_process(tmp_path: Path) -> None:
    (tmp_path / "r.callgrind.101.out").write_text(fixture_text("callgrind.out"))
    (tmp_path / "r.callgrind.102.out").write_text("events: Ir\nsummary: 1000\ntotals: 1000\n")
    (tmp_path / "other.callgrind.103.out").write_text("events: Ir\ntotals: 5\n")
    assert read_instruction_count(tmp_path / "r.callgrind.%p.out", "callgrind") == 128162.0


def test_read_instruction_count_errors(tmp_path: Path) -> None:
    with pytest.raises(MeasurementError) as info:
        read_instruction_count(tmp_path / "r.cachegrind.%p.out", "cachegrind", metric="ir")
    assert str(info.value) == (
        f"metric 'ir' (instructions, cachegrind): valgrind wrote no output matching "
        f"{tmp_path}/r.cachegrind.*.out (its messages are in {tmp_path}/r.cachegrind.*.log)"
    )
    (tmp_path / "r.cachegrind.7.out").write_text("events: Ir\n")
    with pytest.raises(MeasurementError) as info:
        read_instruction_count(tmp_path / "r.cachegrind.%p.out", "cachegrind", metric="ir")
    assert str(info.value) == (
        f"metric 'ir' (instructions, cachegrind): {tmp_path}/r.cachegrind.7.out: "
        "no `totals:` or `summary:` line (valgrind did not finish writing it)"
    )


def test_read_instruction_count_escapes_glob_characters(tmp_path: Path) -> None:
    (tmp_path / "r[1].callgrind.5.out").write_text("events: Ir\ntotals: 7\n")
    (tmp_path / "r1.callgrind.5.out").write_text("events: Ir\ntotals: 1000\n")
    assert read_instruction_count(tmp_path / "r[1].callgrind.%p.out", "callgrind") == 7.0


def test_extract_instructions_from_the_runs_log_dir(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    out = metrics.instructions_out_file(run.stdout_path.parent, "run1", "cachegrind")
    assert out == tmp_path / "logs" / "run1.cachegrind.%p.out"
    (tmp_path / "logs" / "run1.cachegrind.42.out").write_text(fixture_text("cachegrind.out"))
    s = spec("ir", "instructions", tool="cachegrind")
    assert one(s, run, tmp_path) == 127757.0
    elsewhere = tmp_path / "vg" / "x.%p.out"
    elsewhere.parent.mkdir()
    (tmp_path / "vg" / "x.9.out").write_text("events: Ir\ntotals: 3\n")
    assert extract([s], run, workdir=tmp_path, instructions_file=elsewhere) == {"ir": 3.0}


def test_wrap_for_instructions_callgrind(tmp_path: Path) -> None:
    out = tmp_path / "my logs" / "run 1.callgrind.%p.out"
    command = "./bench --name 'it''s' && echo \"$HOME\""
    wrapped = wrap_for_instructions(command, spec("ir", "instructions"), out, "/usr/bin/valgrind")
    cleanup, _, run = wrapped.partition("; exec ")
    d = f"{tmp_path}/my logs"
    assert cleanup == f"rm -f -- '{d}/run 1.callgrind.'*.out '{d}/run 1.callgrind.'*.log"
    assert shlex.split(run) == [
        "/usr/bin/valgrind",
        "--tool=callgrind",
        "--trace-children=yes",
        f"--callgrind-out-file={d}/run 1.callgrind.%p.out",
        f"--log-file={d}/run 1.callgrind.%p.log",
        "--",
        "/bin/sh",
        "-c",
        command,
    ]


def test_wrap_for_instructions_cachegrind_inserts_pid(tmp_path: Path) -> None:
    wrapped = wrap_for_instructions(
        "true", spec("ir", "instructions", tool="cachegrind"), tmp_path / "ir.out"
    )
    assert wrapped == (
        f"rm -f -- {tmp_path}/ir.*.out {tmp_path}/ir.*.log; "
        f"exec valgrind --tool=cachegrind --trace-children=yes --cachegrind-out-file={tmp_path}/ir.%p.out "
        f"--log-file={tmp_path}/ir.%p.log --cache-sim=no -- /bin/sh -c true"
    )


def test_instructions_into_a_directory(tmp_path: Path) -> None:
    out_dir = tmp_path / "a.valgrind"
    out_dir.mkdir()
    wrapped = wrap_for_instructions("true", spec("ir", "instructions"), out_dir)
    assert f"--callgrind-out-file={out_dir}/callgrind.%p.out" in wrapped
    assert f"--log-file={out_dir}/callgrind.%p.log" in wrapped
    (out_dir / "callgrind.11.out").write_text("events: Ir\ntotals: 5\n")
    (out_dir / "callgrind.12.out").write_text("events: Ir\ntotals: 6\n")
    (out_dir / "callgrind.11.log").write_text("==11== I refs: 5\n")
    assert read_instruction_count(out_dir, "callgrind") == 11.0
    with pytest.raises(MeasurementError) as info:
        read_instruction_count(out_dir, "cachegrind", metric="ir")
    assert str(info.value) == (
        f"metric 'ir' (instructions, cachegrind): valgrind wrote no output matching "
        f"{out_dir}/cachegrind.*.out (its messages are in {out_dir}/cachegrind.*.log)"
    )


def test_wrap_for_instructions_escapes_percent(tmp_path: Path) -> None:
    wrapped = wrap_for_instructions("true", spec("ir", "instructions"), tmp_path / "100%" / "r.%p.out")
    assert f"--callgrind-out-file={tmp_path}/100%%/r.%p.out" in wrapped
    assert f"rm -f -- {tmp_path}/100%/r.*.out" in wrapped


def test_require_valgrind(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "valgrind"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert require_valgrind({"PATH": f"{tmp_path / 'nothing'}{os.pathsep}{bindir}"}) == str(fake)
    with pytest.raises(ToolMissingError) as info:
        require_valgrind({"PATH": str(tmp_path / "nothing")}, "ir_count")
    assert str(info.value) == (
        "metric 'ir_count' (source instructions) needs valgrind, which is not on PATH "
        "(install it, e.g. `apt-get install valgrind`)"
    )
    assert info.value.exit_code == 2
