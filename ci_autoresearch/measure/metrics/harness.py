"""The JSON reports of benchmark harnesses: pytest-benchmark, hyperfine, Google Benchmark and
github-action-benchmark's custom format. Times are returned in seconds."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ci_autoresearch.config.model import HYPERFINE_FIELDS, PYTEST_BENCHMARK_FIELDS
from ci_autoresearch.measure.metrics.numbers import (
    TIME_UNITS,
    NotFoundError,
    ParseError,
    load_json,
    quote,
    select_one,
    statistic,
    to_number,
)

PYTEST_BENCHMARK_TIME_FIELDS = frozenset(PYTEST_BENCHMARK_FIELDS) - {"ops"}


def parse_pytest_benchmark(text: str, name: str | None = None, field: str | None = None) -> float:
    """A statistic (seconds; ``ops`` per second) of one benchmark of pytest-benchmark's JSON.

    ``name`` matches a benchmark's ``name`` (``test_sort[100]``) or ``fullname``
    (``tests/test_x.py::test_sort[100]``); ``field`` defaults to ``median``.
    """
    data = load_json(text)
    benchmarks = data.get("benchmarks") if isinstance(data, dict) else None
    if not isinstance(benchmarks, list):
        raise ParseError("not pytest-benchmark output (expected an object with a 'benchmarks' list)")
    entries: list[tuple[Sequence[str], Any]] = []
    for bench in benchmarks:
        if isinstance(bench, dict) and isinstance(bench.get("stats"), dict):
            short = str(bench.get("name", ""))
            entries.append(((short, str(bench.get("fullname", short))), bench))
    bench = select_one(entries, name, what="benchmark")
    chosen = field or "median"
    if chosen not in PYTEST_BENCHMARK_FIELDS:
        raise ParseError(
            f"{chosen!r} is not a statistic of pytest-benchmark; "
            f"expected one of: {', '.join(PYTEST_BENCHMARK_FIELDS)}"
        )
    return statistic(bench["stats"], chosen, allowed=PYTEST_BENCHMARK_FIELDS, what=f"{bench.get('name')!r}")


def parse_hyperfine(text: str, name: str | None = None, field: str | None = None) -> float:
    """A statistic (seconds) of one command of hyperfine's ``--export-json``.

    ``name`` matches ``command`` (the command line, or its ``--command-name``); ``field`` defaults to
    ``median`` (``mean`` with hyperfine versions that do not write a median).
    """
    data = load_json(text)
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise ParseError("not hyperfine output (expected an object with a 'results' list)")
    entries = [((str(r.get("command", "")),), r) for r in results if isinstance(r, dict)]
    result = select_one(entries, name, what="command")
    chosen = field or ("median" if "median" in result else "mean")
    if chosen not in HYPERFINE_FIELDS:
        raise ParseError(
            f"{chosen!r} is not a statistic of hyperfine; expected one of: {', '.join(HYPERFINE_FIELDS)}"
        )
    return statistic(result, chosen, allowed=HYPERFINE_FIELDS, what=repr(result.get("command")))


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
    data = load_json(text)
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
    run_name = select_one([((n,), n) for n in runs], name, what="benchmark")
    entries = runs[run_name]
    failed = [e for e in entries if e.get("error_occurred")]
    if failed:
        message = str(failed[0].get("error_message", "")).strip() or "no message"
        raise ParseError(f"benchmark {run_name!r} reported an error: {quote(message, 80)}")
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
    data = load_json(text)
    if not isinstance(data, list):
        raise ParseError(
            "not github-action-benchmark custom output (expected a list of {name, unit, value} objects)"
        )
    if field not in (None, "value"):
        raise ParseError(f"{field!r} is not a field of github-action-benchmark entries; expected: value")
    entries = [((str(e.get("name", "")),), e) for e in data if isinstance(e, dict)]
    entry = select_one(entries, name, what="benchmark")
    if "value" not in entry:
        raise ParseError(f"benchmark {entry.get('name')!r} has no 'value'")
    return to_number(entry["value"], f"'value' of {entry.get('name')!r}")


HARNESS_PARSERS: Mapping[str, Callable[[str, str | None, str | None], float]] = {
    "pytest-benchmark": parse_pytest_benchmark,
    "hyperfine": parse_hyperfine,
    "google-benchmark": parse_google_benchmark,
    "github-action-benchmark": parse_github_action_benchmark,
}
