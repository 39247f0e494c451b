"""Turn a finished run into numbers. Parsing only: this module reads files the run wrote, starts nothing.

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
  wrapped by :func:`wrap_for_instructions`.

Units: pytest-benchmark, hyperfine and Google Benchmark times are returned in seconds (Google
Benchmark's ``time_unit`` is applied), ``max_rss`` in bytes. When ``spec.unit`` names a time unit
(``s``, ``ms``, ``us``/``µs``, ``ns``) for a time-valued metric, or a size unit (``B``/``bytes``, ``KB``,
``KiB``, ``MB``, ``MiB``, ``GB``, ``GiB``) for ``max_rss``, the value is converted to that unit.
Values of ``stdout``, ``json`` and ``github-action-benchmark`` are taken as they are.

Every failure is a :class:`~ci_autoresearch.errors.MeasurementError` whose message is one line
naming the metric, where it was looked for and what was expected.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import shlex
import shutil
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ci_autoresearch import bounds
from ci_autoresearch.config.model import MetricSpec
from ci_autoresearch.errors import MeasurementError, ToolMissingError
from ci_autoresearch.measure.runner import RunResult

NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
"""A plain decimal number (exponent allowed; no units, no thousands separators)."""
_NUMBER_RE = re.compile(rf"\A{NUMBER}\Z")
_NONFINITE_RE = re.compile(r"\A[+-]?(?:nan|inf|infinity)\Z", re.IGNORECASE)

MAX_FILE_BYTES = 64 * 1024 * 1024
"""Result files larger than this are refused (benchmark output is untrusted)."""

Tool = Literal["callgrind", "cachegrind"]

TIME_UNITS: Mapping[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
SIZE_UNITS: Mapping[str, float] = {
    "B": 1.0,
    "bytes": 1.0,
    "KB": 1e3,
    "KiB": 1024.0,
    "MB": 1e6,
    "MiB": 1024.0**2,
    "GB": 1e9,
    "GiB": 1024.0**3,
}

# Sources whose values are times, sizes or counts: a negative value is an error there.
_NON_NEGATIVE = frozenset(
    {"wall_time", "cpu_time", "max_rss", "instructions", "pytest-benchmark", "hyperfine", "google-benchmark"}
)


class ParseError(ValueError):
    """The text does not hold what was asked for. ``str()`` is a message fragment, without the metric."""


class NotFoundError(ParseError):
    """The value is absent (as opposed to present but malformed)."""


# --------------------------------------------------------------------------------------------------
# small helpers


def _quote(value: str, limit: int = 40) -> str:
    """``'value'`` for a message, shortened: benchmark output is untrusted and may be long."""
    text = value if len(value) <= limit else value[: limit - 1] + "…"
    return "'" + text.replace("\n", "\\n") + "'"


def _names(names: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def to_number(value: object, what: str) -> float:
    """``value`` (a JSON value or a token of text) as a finite float, else :class:`ParseError`."""
    if isinstance(value, bool):
        raise ParseError(f"{what} is {json.dumps(value)}, not a number")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        shown = str(value)
    elif isinstance(value, str):
        token = value.strip()
        if _NUMBER_RE.match(token) or _NONFINITE_RE.match(token):
            number = float(token)
        else:
            raise ParseError(f"{what} is {_quote(value)}, not a number")
        shown = token
    elif value is None:
        raise ParseError(f"{what} is null, not a number")
    else:
        kind = "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else "a value"
        raise ParseError(f"{what} is {kind}, not a number")
    if not math.isfinite(number):
        raise ParseError(f"{what} is {shown}, not a finite number")
    return number


def _load_json(text: str) -> Any:
    try:
        return bounds.loads_json(text, lenient_numbers=True)  # nesting capped before parsing
    except json.JSONDecodeError as exc:
        raise ParseError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except bounds.BoundsError as exc:
        raise ParseError(f"not valid JSON ({exc})") from None


def _select(entries: Sequence[tuple[Sequence[str], Any]], name: str | None, *, what: str) -> Any:
    """The item whose aliases include ``name`` (the only item when ``name`` is None).

    ``entries``: ``(aliases, item)``; ``aliases[0]`` is the name shown in messages.
    """
    shown = [aliases[0] for aliases, _ in entries]
    if name is None:
        if len(entries) == 1:
            return entries[0][1]
        if not entries:
            raise NotFoundError(f"holds no {what}")
        raise ParseError(f"holds {len(entries)} {what}s; set `path:` to one of: {_names(shown)}")
    matches = [(aliases, item) for aliases, item in entries if name in aliases]
    if len(matches) == 1:
        return matches[0][1]
    if not matches:
        available = f"available: {_names(shown)}" if shown else f"it holds no {what}"
        raise NotFoundError(f"no {what} named {_quote(name, 80)}; {available}")
    full = [aliases[-1] for aliases, _ in matches]
    raise ParseError(
        f"{len(matches)} {what}s are named {_quote(name, 80)}; set `path:` to one of: {_names(full)}"
    )


def _field(stats: Mapping[str, Any], field: str, *, allowed: Sequence[str], what: str) -> float:
    if field not in stats:
        raise ParseError(f"{field!r} is not a statistic of {what}; expected one of: {', '.join(allowed)}")
    return to_number(stats[field], f"{field!r} of {what}")


# --------------------------------------------------------------------------------------------------
# stdout


def default_stdout_pattern(name: str) -> str:
    """The regex for ``METRIC <name>=<value>`` lines; the group is the value's token."""
    return rf"^[ \t]*METRIC[ \t]+{re.escape(name)}[ \t]*=[ \t]*(\S*)"


def parse_stdout(text: str, name: str, pattern: str | None = None) -> float:
    """The metric ``name`` from benchmark output: the last ``METRIC name=value`` line, or the last
    match of ``pattern`` (exactly one group, the value; matched with ``re.MULTILINE``)."""
    regex_text = pattern if pattern is not None else default_stdout_pattern(name)
    try:
        regex = re.compile(regex_text, re.MULTILINE)
    except re.error as exc:
        raise ParseError(f"pattern /{regex_text}/ is not a valid regular expression ({exc})") from None
    if regex.groups != 1:
        raise ParseError(
            f"pattern /{regex_text}/ must have exactly one group (the value); it has {regex.groups}"
        )
    last: str | None = None
    for match in regex.finditer(text):
        last = match.group(1)
    if last is None:
        if pattern is None:
            raise NotFoundError(f"no line `METRIC {name}=<number>` in the benchmark's stdout")
        raise NotFoundError(f"pattern /{regex_text}/ matched nothing in the benchmark's stdout")
    return to_number(last, "the value")


# --------------------------------------------------------------------------------------------------
# json


def parse_json_path(text: str, path: str) -> float:
    """The number at dotted ``path`` (``a.b.0.c``; list indices may be negative) of a JSON document."""
    node: Any = _load_json(text)
    walked: list[str] = []
    for segment in path.split("."):
        where = ".".join(walked) or "the document"
        if isinstance(node, dict):
            if segment not in node:
                keys = [str(k) for k in node]
                hint = f"keys: {_names(keys)}" if keys else "it is empty"
                raise NotFoundError(f"no key {path!r}: {where!r} has no key {segment!r} ({hint})")
            node = node[segment]
        elif isinstance(node, list):
            try:
                index = int(segment)
            except ValueError:
                raise NotFoundError(
                    f"no key {path!r}: {where!r} is a list, {segment!r} is not an index"
                ) from None
            if not -len(node) <= index < len(node):
                raise NotFoundError(f"no key {path!r}: {where!r} has {len(node)} items, no index {index}")
            node = node[index]
        else:
            raise NotFoundError(f"no key {path!r}: {where!r} is not an object or a list")
        walked.append(segment)
    return to_number(node, repr(path))


# --------------------------------------------------------------------------------------------------
# harness formats

PYTEST_BENCHMARK_FIELDS = (
    "median", "mean", "min", "max", "stddev", "iqr", "q1", "q3", "ld15iqr", "hd15iqr", "ops", "total",
)  # fmt: skip
PYTEST_BENCHMARK_TIME_FIELDS = frozenset(PYTEST_BENCHMARK_FIELDS) - {"ops"}


def parse_pytest_benchmark(text: str, name: str | None = None, field: str | None = None) -> float:
    """A statistic (seconds; ``ops`` per second) of one benchmark of pytest-benchmark's JSON.

    ``name`` matches a benchmark's ``name`` (``test_sort[100]``) or ``fullname``
    (``tests/test_x.py::test_sort[100]``); ``field`` defaults to ``median``.
    """
    data = _load_json(text)
    benchmarks = data.get("benchmarks") if isinstance(data, dict) else None
    if not isinstance(benchmarks, list):
        raise ParseError("not pytest-benchmark output (expected an object with a 'benchmarks' list)")
    entries: list[tuple[Sequence[str], Any]] = []
    for bench in benchmarks:
        if isinstance(bench, dict) and isinstance(bench.get("stats"), dict):
            short = str(bench.get("name", ""))
            entries.append(((short, str(bench.get("fullname", short))), bench))
    bench = _select(entries, name, what="benchmark")
    chosen = field or "median"
    if chosen not in PYTEST_BENCHMARK_FIELDS:
        raise ParseError(
            f"{chosen!r} is not a statistic of pytest-benchmark; "
            f"expected one of: {', '.join(PYTEST_BENCHMARK_FIELDS)}"
        )
    return _field(bench["stats"], chosen, allowed=PYTEST_BENCHMARK_FIELDS, what=f"{bench.get('name')!r}")


HYPERFINE_FIELDS = ("median", "mean", "min", "max", "stddev", "user", "system")


def parse_hyperfine(text: str, name: str | None = None, field: str | None = None) -> float:
    """A statistic (seconds) of one command of hyperfine's ``--export-json``.

    ``name`` matches ``command`` (the command line, or its ``--command-name``); ``field`` defaults to
    ``median`` (``mean`` with hyperfine versions that do not write a median).
    """
    data = _load_json(text)
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise ParseError("not hyperfine output (expected an object with a 'results' list)")
    entries = [((str(r.get("command", "")),), r) for r in results if isinstance(r, dict)]
    result = _select(entries, name, what="command")
    chosen = field or ("median" if "median" in result else "mean")
    if chosen not in HYPERFINE_FIELDS:
        raise ParseError(
            f"{chosen!r} is not a statistic of hyperfine; expected one of: {', '.join(HYPERFINE_FIELDS)}"
        )
    return _field(result, chosen, allowed=HYPERFINE_FIELDS, what=repr(result.get("command")))


GOOGLE_BENCHMARK_TIME_FIELDS = ("real_time", "cpu_time")
_AGGREGATE_SUFFIXES = ("_mean", "_median", "_stddev", "_cv")


def parse_google_benchmark(text: str, name: str | None = None, field: str | None = None) -> float:
    """A time (seconds) or counter of one benchmark of Google Benchmark's JSON output.

    ``name`` matches a benchmark's ``run_name`` (``BM_Sort/64``) — or, to pick one aggregate
    explicitly, an aggregate's full ``name`` (``BM_Sort/64_mean``). ``field``: ``real_time``
    (default) or ``cpu_time``, converted from the entry's ``time_unit`` to seconds; any other numeric
    key (a user counter such as ``items_per_second``) is returned as it is.

    With ``--benchmark_repetitions`` the ``median`` aggregate is used; without it (or when only
    repetitions and no median were reported) the median over the repetitions.
    """
    data = _load_json(text)
    benchmarks = data.get("benchmarks") if isinstance(data, dict) else None
    if not isinstance(benchmarks, list):
        raise ParseError("not Google Benchmark output (expected an object with a 'benchmarks' list)")
    runs: dict[str, list[dict[str, Any]]] = {}
    by_full_name: dict[str, dict[str, Any]] = {}
    for entry in benchmarks:
        if not isinstance(entry, dict) or "name" not in entry:
            continue
        full = str(entry["name"])
        run_name = str(entry.get("run_name") or _strip_aggregate_suffix(full, entry))
        runs.setdefault(run_name, []).append(entry)
        if _is_aggregate(entry):
            by_full_name[full] = entry
    chosen = field or "real_time"
    if name is not None and name not in runs and name in by_full_name:
        return _google_value(by_full_name[name], chosen, name)
    run_name = _select([((n,), n) for n in runs], name, what="benchmark")
    entries = runs[run_name]
    failed = [e for e in entries if e.get("error_occurred")]
    if failed:
        message = str(failed[0].get("error_message", "")).strip() or "no message"
        raise ParseError(f"benchmark {run_name!r} reported an error: {_quote(message, 80)}")
    medians = [e for e in entries if _is_aggregate(e) and _aggregate_name(e) == "median"]
    if medians:
        return _google_value(medians[0], chosen, run_name)
    repetitions = [e for e in entries if not _is_aggregate(e)]
    if repetitions:
        return statistics.median(_google_value(e, chosen, run_name) for e in repetitions)
    means = [e for e in entries if _aggregate_name(e) == "mean"]
    if means:
        return _google_value(means[0], chosen, run_name)
    raise NotFoundError(f"benchmark {run_name!r} has no repetition and no median or mean aggregate")


def _is_aggregate(entry: Mapping[str, Any]) -> bool:
    if "run_type" in entry:
        return bool(entry["run_type"] == "aggregate")
    return str(entry.get("name", "")).endswith(_AGGREGATE_SUFFIXES)


def _aggregate_name(entry: Mapping[str, Any]) -> str:
    if "aggregate_name" in entry:
        return str(entry["aggregate_name"])
    full = str(entry.get("name", ""))
    for suffix in _AGGREGATE_SUFFIXES:
        if full.endswith(suffix):
            return suffix[1:]
    return ""


def _strip_aggregate_suffix(full: str, entry: Mapping[str, Any]) -> str:
    """The run name of an entry of an old Google Benchmark version (no ``run_name`` key)."""
    if _is_aggregate(entry):
        for suffix in _AGGREGATE_SUFFIXES:
            if full.endswith(suffix):
                return full[: -len(suffix)]
    return full


def _google_value(entry: Mapping[str, Any], field: str, run_name: str) -> float:
    if field not in entry:
        numeric = [k for k, v in entry.items() if isinstance(v, int | float) and not isinstance(v, bool)]
        raise ParseError(
            f"{field!r} is not a field of benchmark {run_name!r}; expected one of: {', '.join(numeric)}"
        )
    value = to_number(entry[field], f"{field!r} of {run_name!r}")
    if field in GOOGLE_BENCHMARK_TIME_FIELDS:
        unit = str(entry.get("time_unit", "ns"))
        if unit not in TIME_UNITS:
            raise ParseError(f"time_unit {unit!r} of {run_name!r} is not one of ns, us, ms, s")
        value *= TIME_UNITS[unit]
    return value


def parse_github_action_benchmark(text: str, name: str | None = None, field: str | None = None) -> float:
    """``value`` of one entry of github-action-benchmark's custom format (a list of
    ``{name, unit, value, range?, extra?}``, as for ``customSmallerIsBetter`` / ``customBiggerIsBetter``),
    taken as it is (in the entry's own ``unit``)."""
    data = _load_json(text)
    if not isinstance(data, list):
        raise ParseError(
            "not github-action-benchmark custom output (expected a list of {name, unit, value} objects)"
        )
    if field not in (None, "value"):
        raise ParseError(f"{field!r} is not a field of github-action-benchmark entries; expected: value")
    entries = [((str(e.get("name", "")),), e) for e in data if isinstance(e, dict)]
    entry = _select(entries, name, what="benchmark")
    if "value" not in entry:
        raise ParseError(f"benchmark {entry.get('name')!r} has no 'value'")
    return to_number(entry["value"], f"'value' of {entry.get('name')!r}")


_HARNESS_PARSERS = {
    "pytest-benchmark": parse_pytest_benchmark,
    "hyperfine": parse_hyperfine,
    "google-benchmark": parse_google_benchmark,
    "github-action-benchmark": parse_github_action_benchmark,
}


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


# --------------------------------------------------------------------------------------------------
# instructions (valgrind)


def require_valgrind(env: Mapping[str, str], metric: str = "instructions") -> str:
    """The path of ``valgrind`` on ``env``'s PATH, else :class:`ToolMissingError` naming ``metric``."""
    found = shutil.which("valgrind", path=env.get("PATH", os.defpath))
    if found is None:
        raise ToolMissingError(
            f"metric '{metric}' (source instructions) needs valgrind, which is not on PATH",
            hint="install it, e.g. `apt-get install valgrind`",
        )
    return found


def instructions_out_file(log_dir: Path, name: str, tool: Tool) -> Path:
    """Where the valgrind output of run ``name`` goes (``%p``: one file per process)."""
    return log_dir / f"{name}.{tool}.%p.out"


def _output_pattern(out_file: Path, tool: str) -> Path:
    """The valgrind output path with its ``%p``: ``out_file`` itself when it has one; for an existing
    directory, ``<dir>/<tool>.%p.out``; otherwise ``.%p`` inserted before the suffix."""
    if out_file.is_dir():
        return out_file / f"{tool}.%p.out"
    if "%p" in out_file.name:
        return out_file
    return out_file.with_name(f"{out_file.stem}.%p{out_file.suffix}")


def _log_file(out_file: Path) -> Path:
    return out_file.with_name(out_file.stem + ".log")


def _valgrind_path(path: Path) -> str:
    """``path`` in valgrind's file-name syntax: ``%`` doubled except the ``%p`` it must expand."""
    return str(path).replace("%", "%%").replace("%%p", "%p")


def _shell_glob(path: Path) -> str:
    """A shell word matching every file ``path`` stands for (``%p`` → ``*``), safely quoted."""
    return "*".join(shlex.quote(part) for part in str(path).split("%p"))


def wrap_for_instructions(command: str, spec: MetricSpec, out_file: Path, valgrind: str = "valgrind") -> str:
    """A shell command that runs ``command`` under valgrind and counts its instructions.

    Runs ``valgrind --tool=<spec.tool> --trace-children=yes`` on ``/bin/sh -c command`` so that every
    process of the benchmark is counted; each writes its own file, ``out_file`` with ``%p`` (its pid)
    — inserted before the suffix when ``out_file`` has none; when ``out_file`` is an existing
    directory, the files are ``<dir>/<tool>.%p.out``. Pass the same ``out_file`` to
    :func:`read_instruction_count`. Valgrind's own messages go to the matching ``.log``
    files, never to the benchmark's stdout or stderr. Files of an earlier run with the same name are
    removed first. Cachegrind runs with ``--cache-sim=no`` (only ``Ir`` is needed).

    Known limit: when a process ``exec``\\ s another program, valgrind overwrites that pid's file, so
    the instructions of the replaced image are not counted (the count stays deterministic).
    """
    out = _output_pattern(out_file, spec.tool)
    log = _log_file(out)
    options = [
        valgrind,
        f"--tool={spec.tool}",
        "--trace-children=yes",
        f"--{spec.tool}-out-file={_valgrind_path(out)}",
        f"--log-file={_valgrind_path(log)}",
    ]
    if spec.tool == "cachegrind":
        options.append("--cache-sim=no")
    cleanup = f"rm -f -- {_shell_glob(out)} {_shell_glob(log)}"
    return f"{cleanup}; exec {shlex.join(options)} -- /bin/sh -c {shlex.quote(command)}"


def parse_valgrind_output(text: str) -> int:
    """The ``Ir`` total of one callgrind or cachegrind output file (``totals:``, else ``summary:``)."""
    events: list[str] = ["Ir"]
    totals: list[str] | None = None
    summary: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("totals:"):
            totals = line.split()[1:]
        elif line.startswith("summary:"):
            summary = line.split()[1:]
    counts = totals if totals is not None else summary
    if counts is None:
        raise ParseError("no `totals:` or `summary:` line (valgrind did not finish writing it)")
    if "Ir" not in events:
        raise ParseError(f"no Ir event (events: {' '.join(events)})")
    index = events.index("Ir")
    if index >= len(counts):
        raise ParseError("the totals line has no Ir column")
    try:
        return int(counts[index])
    except ValueError:
        raise ParseError(f"Ir total {_quote(counts[index])} is not an integer") from None


def read_instruction_count(out_file: Path, tool: Tool, *, metric: str = "instructions") -> float:
    """The sum of ``Ir`` over every file valgrind wrote for ``out_file`` (one per process); ``out_file``
    as given to :func:`wrap_for_instructions` (a ``%p`` pattern, a file name or a directory)."""
    out = _output_pattern(out_file, tool)
    pattern = "*".join(glob.escape(part) for part in out.name.split("%p"))
    files = sorted(out.parent.glob(pattern))
    where = f"metric '{metric}' (instructions, {tool})"
    if not files:
        raise MeasurementError(
            f"{where}: valgrind wrote no output matching {out.parent / pattern} "
            f"(its messages are in {out.parent / _log_file(out).name.replace('%p', '*')})"
        )
    total = 0
    for file in files:
        try:
            total += parse_valgrind_output(file.read_text(encoding="utf-8", errors="replace"))
        except ParseError as exc:
            raise MeasurementError(f"{where}: {file}: {exc}") from None
        except OSError as exc:
            raise MeasurementError(f"{where}: cannot read {file}: {exc.strerror or exc}") from None
    return float(total)


# --------------------------------------------------------------------------------------------------
# extract


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
        return _HARNESS_PARSERS[source](text, spec.path, spec.field)
    except ParseError as exc:
        raise MeasurementError(f"{where}: {exc}") from None


def _checked(spec: MetricSpec, value: float) -> float:
    try:
        return to_number(value, "the measured value")
    except ParseError as exc:  # pragma: no cover - a RunResult built by the runner is always finite
        raise MeasurementError(f"metric '{spec.name}' ({spec.source}): {exc}") from None


__all__ = [
    "NUMBER",
    "ParseError",
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
    "require_valgrind",
    "to_number",
    "wrap_for_instructions",
]
