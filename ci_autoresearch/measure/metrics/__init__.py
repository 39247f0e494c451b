"""Turn a finished run into numbers. Parsing only: this package reads files the run wrote, starts nothing.

One module per family of sources: :mod:`.text` (``stdout``, ``json``), :mod:`.harness` (harness
reports), :mod:`.instructions` (valgrind counts); :mod:`.numbers` holds what they share. This module
turns a run into the values of the configured metrics (:func:`extract`).

Sources (``MetricSpec.source``):

* ``wall_time`` / ``cpu_time`` / ``max_rss``: from the :class:`~ci_autoresearch.measure.runner.RunResult`.
* ``stdout``: the *last* line ``METRIC <name>=<number>`` of the benchmark's stdout, or the last match
  of ``spec.pattern`` (a regex with exactly one group, applied with ``re.MULTILINE``).
* ``json``: the number at the dotted ``spec.path`` (``results.0.time``; list indices may be negative)
  of ``spec.file``; without ``path``, the top-level key named like the metric.
* ``pytest-benchmark`` (``--benchmark-json``), ``hyperfine`` (``--export-json``), ``google-benchmark``
  (``--benchmark_format=json`` / ``--benchmark_out``) and ``github-action-benchmark`` (the
  ``customSmallerIsBetter`` / ``customBiggerIsBetter`` list): ``spec.path`` names the benchmark
  (optional when the file holds one), ``spec.field`` the statistic. Without ``spec.file`` these (and
  ``json``) read the benchmark's stdout instead.
* ``instructions``: the Ir count valgrind (callgrind or cachegrind) wrote while running the command
  wrapped by :func:`~ci_autoresearch.measure.valgrind.wrap_for_instructions`.

Units: pytest-benchmark, hyperfine and Google Benchmark times are returned in seconds (Google
Benchmark's ``time_unit`` is applied), ``max_rss`` in bytes. When ``spec.unit`` names a time unit
(``s``, ``ms``, ``us``/``µs``, ``ns``) for a time-valued metric, or a size unit (``B``/``bytes``, ``KB``,
``KiB``, ``MB``, ``MiB``, ``GB``, ``GiB``) for ``max_rss``, the value is converted to that unit.
Values of ``stdout``, ``json`` and ``github-action-benchmark`` are taken as they are.

Every failure is a :class:`~ci_autoresearch.errors.MeasurementError` whose message is one line
naming the metric, where it was looked for and what was expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ci_autoresearch import bounds
from ci_autoresearch.config.model import HYPERFINE_FIELDS, PYTEST_BENCHMARK_FIELDS, MetricSpec
from ci_autoresearch.errors import MeasurementError
from ci_autoresearch.measure.metrics.harness import (
    GOOGLE_BENCHMARK_TIME_FIELDS,
    HARNESS_PARSERS,
    PYTEST_BENCHMARK_TIME_FIELDS,
    parse_github_action_benchmark,
    parse_google_benchmark,
    parse_hyperfine,
    parse_pytest_benchmark,
)
from ci_autoresearch.measure.metrics.instructions import (
    Tool,
    instructions_out_file,
    parse_valgrind_output,
    read_instruction_count,
)
from ci_autoresearch.measure.metrics.numbers import (
    MAX_FILE_BYTES,
    NUMBER,
    SIZE_UNITS,
    TIME_UNITS,
    NotFoundError,
    ParseError,
    to_number,
)
from ci_autoresearch.measure.metrics.text import default_stdout_pattern, parse_json_path, parse_stdout
from ci_autoresearch.measure.runner import RunResult

# Sources whose values are times, sizes or counts: a negative value is an error there.
_NON_NEGATIVE = frozenset(
    {"wall_time", "cpu_time", "max_rss", "instructions", "pytest-benchmark", "hyperfine", "google-benchmark"}
)


def _is_time_valued(spec: MetricSpec) -> bool:
    if spec.source in ("wall_time", "cpu_time", "hyperfine"):
        return True
    if spec.source == "pytest-benchmark":
        return (spec.field or "median") in PYTEST_BENCHMARK_TIME_FIELDS
    if spec.source == "google-benchmark":
        return (spec.field or "real_time") in GOOGLE_BENCHMARK_TIME_FIELDS
    return False


def _in_spec_unit(spec: MetricSpec, value: float) -> float:
    """``value`` (seconds or bytes) converted to ``spec.unit`` when that is a time or size unit."""
    if spec.unit in TIME_UNITS and _is_time_valued(spec):
        return value / TIME_UNITS[spec.unit]
    if spec.unit in SIZE_UNITS and spec.source == "max_rss":
        return value / SIZE_UNITS[spec.unit]
    return value


def _run_name(run: RunResult) -> str:
    return run.stdout_path.name.removesuffix(".stdout.log")


def _read_result_file(spec: MetricSpec, workdir: Path, where: str) -> str:
    assert spec.file is not None
    given = Path(spec.file)
    path = given if given.is_absolute() else workdir / given
    if not given.is_absolute():
        try:
            inside = path.resolve().is_relative_to(workdir.resolve())
        except (OSError, RuntimeError):
            inside = False
        if not inside:
            raise MeasurementError(f"{where}: {spec.file} resolves outside the checkout {workdir}")
    if not path.exists():
        raise MeasurementError(
            f"{where}: the benchmark did not write {spec.file} (expected a JSON file at {path})"
        )
    try:
        return bounds.read_limited(path, MAX_FILE_BYTES).decode("utf-8", errors="replace")
    except bounds.BoundsError as exc:  # a FIFO or /dev/zero the candidate put there is never read
        raise MeasurementError(f"{where}: {spec.file} {exc}") from None
    except OSError as exc:
        raise MeasurementError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None


def extract(
    specs: Sequence[MetricSpec],
    run: RunResult,
    *,
    workdir: Path,
    instructions_file: Path | None = None,
) -> dict[str, float]:
    """The value of every metric in ``specs`` for ``run``, in the order of ``specs``.

    ``workdir`` is the checkout the command ran in (``spec.file`` is relative to it). For
    ``instructions`` the valgrind output is read from ``instructions_file``, by default
    :func:`instructions_out_file` of the run's log directory and name. The run's exit status is not
    looked at: the caller decides what a failed run means. Raises :class:`MeasurementError`.
    """
    values: dict[str, float] = {}
    texts: dict[str | None, str] = {}
    for spec in specs:
        value = _extract_one(spec, run, workdir=workdir, instructions_file=instructions_file, texts=texts)
        if value < 0 and spec.source in _NON_NEGATIVE:
            raise MeasurementError(
                f"metric '{spec.name}' ({spec.source}): the value {value:g} is negative; "
                "expected a time, size or count ≥ 0"
            )
        value = _in_spec_unit(spec, value)
        problem = bounds.metric_value_problem(value)
        if problem:  # 1e308 or 1e-300 would overflow the statistics: refused where it enters
            raise MeasurementError(f"metric '{spec.name}' ({spec.source}): the value {problem}")
        values[spec.name] = value
    return values


def _extract_one(
    spec: MetricSpec,
    run: RunResult,
    *,
    workdir: Path,
    instructions_file: Path | None,
    texts: dict[str | None, str],
) -> float:
    name, source = spec.name, spec.source
    if source == "wall_time":
        return _checked(spec, run.wall_time)
    if source == "cpu_time":
        return _checked(spec, run.cpu_time)
    if source == "max_rss":
        return _checked(spec, float(run.max_rss))
    if source == "instructions":
        out = instructions_file or instructions_out_file(run.stdout_path.parent, _run_name(run), spec.tool)
        return read_instruction_count(out, spec.tool, metric=name)
    if source == "stdout":
        where = f"metric '{name}' (stdout)"
        try:
            return parse_stdout(run.stdout, name, spec.pattern)
        except NotFoundError as exc:
            raise MeasurementError(f"{where}: {exc} (the output is in {run.stdout_path})") from None
        except ParseError as exc:
            raise MeasurementError(f"{where}: {exc}") from None
    # json and the harness formats: a JSON document from spec.file, else from stdout
    label = spec.file if spec.file is not None else "stdout"
    where = f"metric '{name}' ({source}, {label})"
    if spec.file not in texts:
        texts[spec.file] = run.stdout if spec.file is None else _read_result_file(spec, workdir, where)
    text = texts[spec.file]
    try:
        if source == "json":
            return parse_json_path(text, spec.path if spec.path is not None else name)
        return HARNESS_PARSERS[source](text, spec.path, spec.field)
    except ParseError as exc:
        raise MeasurementError(f"{where}: {exc}") from None


def _checked(spec: MetricSpec, value: float) -> float:
    try:
        return to_number(value, "the measured value")
    except ParseError as exc:  # pragma: no cover - a RunResult built by the runner is always finite
        raise MeasurementError(f"metric '{spec.name}' ({spec.source}): {exc}") from None


__all__ = [
    "HYPERFINE_FIELDS",
    "NUMBER",
    "PYTEST_BENCHMARK_FIELDS",
    "NotFoundError",
    "ParseError",
    "Tool",
    "default_stdout_pattern",
    "extract",
    "instructions_out_file",
    "parse_github_action_benchmark",
    "parse_google_benchmark",
    "parse_hyperfine",
    "parse_json_path",
    "parse_pytest_benchmark",
    "parse_stdout",
    "parse_valgrind_output",
    "read_instruction_count",
    "to_number",
]
