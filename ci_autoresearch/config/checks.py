"""The checks the schema cannot express: settings that depend on each other (a metric's source and the
keys it needs, the objective and the guards, worker mode's keys, rounds and runs, one label under two
names, search-space values). Each check adds its problems to a :class:`Found`; :func:`check_document`
runs them all, in an order that decides which problem a key reports when two apply. Pure."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ci_autoresearch.config.explain import either, show
from ci_autoresearch.config.model import (
    BUILTIN_UNITS,
    HYPERFINE_FIELDS,
    PYTEST_BENCHMARK_FIELDS,
    WORKER_METRICS,
    CollectionConfig,
    DecisionConfig,
)
from ci_autoresearch.config.problems import Found, KeyPath
from ci_autoresearch.measure.scrub import never_passed

MAX_RANGE_VALUES = 10_000

# Metrics the tool measures itself: a declared metric may not reuse these names for something else.
RESERVED_METRICS = tuple(BUILTIN_UNITS)
HARNESS_SOURCES = ("pytest-benchmark", "hyperfine", "google-benchmark", "github-action-benchmark")
FILE_SOURCES = ("json", *HARNESS_SOURCES)
# The statistics ``field`` may name, per harness format: the parsers' own lists (Google Benchmark also
# takes any counter, so it is not checked here).
HARNESS_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "pytest-benchmark": PYTEST_BENCHMARK_FIELDS,
        "hyperfine": HYPERFINE_FIELDS,
        "github-action-benchmark": ("value",),
    }
)
# The keys of a metric and the sources that use them.
_KEY_SOURCES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "pattern": ("stdout",),
        "file": FILE_SOURCES,
        "path": FILE_SOURCES,
        "field": HARNESS_SOURCES,
        "tool": ("instructions",),
    }
)
_NON_CAPTURING = "write other groups as (?:...)"


def check_document(doc: Mapping[str, Any], found: Found) -> None:
    """Every cross-field problem of ``doc``, a document that passed the schema."""
    declared = _metric_problems(doc, found)
    _pass_env_problems(doc, found)
    objective_metric = (doc.get("objective") or {}).get("metric", "wall_time")
    _worker_problems(doc, objective_metric, found)
    _objective_problems(doc, objective_metric, declared, found)
    _guard_problems(doc, objective_metric, declared, found)
    _rounds_problems(doc, found)
    _branching_problems(doc, found)
    _hypothesis_problems(doc, found)
    _search_space_problems(doc, found)
    _label_problems(doc, found)
    _benchmark_files_problems(doc, found)


def source_of(metric: Mapping[str, Any]) -> str:
    """A declared metric's source: as given, else the built-in of its name, else ``stdout``."""
    if "source" in metric:
        return str(metric["source"])
    return str(metric["name"]) if metric["name"] in RESERVED_METRICS else "stdout"


# --- metrics, the objective and the guards ----------------------------------------------------------


def _metric_problems(doc: Mapping[str, Any], found: Found) -> dict[str, int]:
    """``benchmark.metrics``: unique names, each with what its source needs; returns each declared name
    with the index of its first declaration."""
    declared: dict[str, int] = {}
    for i, metric in enumerate((doc.get("benchmark") or {}).get("metrics") or []):
        at: KeyPath = ("benchmark", "metrics", i)
        name = metric["name"]
        if name in declared:
            found.add(
                (*at, "name"), f"duplicate metric name {name!r} (also benchmark.metrics[{declared[name]}])"
            )
        declared.setdefault(name, i)
        _metric_source_problems(metric, at, found)
    return declared


def _metric_source_problems(metric: Mapping[str, Any], at: KeyPath, found: Found) -> None:
    """A metric's keys against its source: a built-in's name, keys it ignores, keys it needs."""
    name = metric["name"]
    source = source_of(metric)
    if name in RESERVED_METRICS and source != name:
        found.add(
            (*at, "name"),
            f"{name!r} is a built-in metric, measured with source {name!r}",
            "give your metric another name",
        )
    for key in _unused_keys(metric, source):
        found.add((*at, key), f"not used with source {source!r}", _used_with(key))
    if source == "stdout" and metric.get("pattern") is not None:
        _regex_problem(metric["pattern"], "the value", (*at, "pattern"), found)
    if source in FILE_SOURCES and metric.get("file") is None:
        found.add((*at, "file"), f"required with source {source!r}", "the file your benchmark writes")
    if source == "json" and metric.get("path") is None:
        found.add((*at, "path"), "required with source 'json'", "a dotted path to the number, e.g. a.b.0.c")
    allowed_fields = HARNESS_FIELDS.get(source)
    if allowed_fields and metric.get("field") is not None and metric["field"] not in allowed_fields:
        close = difflib.get_close_matches(metric["field"], allowed_fields, n=1)
        found.add(
            (*at, "field"),
            f"expected {either([repr(f) for f in allowed_fields])} with source {source!r}, "
            f"got {show(metric['field'])}",
            f"did you mean {close[0]!r}?" if close else None,
        )


def _unused_keys(metric: Mapping[str, Any], source: str) -> Iterator[str]:
    for key, sources in _KEY_SOURCES.items():
        if metric.get(key) is not None and source not in sources:
            yield key


def _used_with(key: str) -> str:
    sources = _KEY_SOURCES[key]
    return f"{key} is used with source {either([repr(s) for s in sources])}"


def _regex_problem(pattern: str, what: str, at: KeyPath, found: Found) -> None:
    """``pattern`` must compile and have exactly one group: the part that is ``what``."""
    try:
        groups = re.compile(pattern).groups
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        found.add(at, f"not a valid regular expression: {exc.msg}{where}")
        return
    if groups != 1:
        found.add(
            at,
            f"expected a regular expression with exactly one group ({what}), got {groups} groups",
            _NON_CAPTURING,
        )


def _objective_problems(
    doc: Mapping[str, Any], objective_metric: str, declared: Mapping[str, int], found: Found
) -> None:
    """The objective's direction agrees with its metric's declaration; ``instructions`` is declared."""
    objective = doc.get("objective") or {}
    if objective_metric in declared and "direction" in objective:
        index = declared[objective_metric]
        spec = doc["benchmark"]["metrics"][index]
        if "direction" in spec and spec["direction"] != objective["direction"]:
            found.add(
                ("benchmark", "metrics", index, "direction"),
                f"{spec['direction']!r} contradicts objective.direction {objective['direction']!r}",
            )
    _check_metric_use(("objective", "metric"), objective_metric, declared, found)


def _guard_problems(
    doc: Mapping[str, Any], objective_metric: str, declared: Mapping[str, int], found: Found
) -> None:
    """Each guard watches a metric of its own, other than the objective."""
    guarded: dict[str, int] = {}
    for i, guard in enumerate(doc.get("guards") or []):
        at: KeyPath = ("guards", i, "metric")
        name = guard["metric"]
        if name == objective_metric:
            found.add(at, f"{name!r} is the objective", "a guard watches another metric")
        elif name in guarded:
            found.add(at, f"duplicate guard for {name!r} (also guards[{guarded[name]}])")
        guarded.setdefault(name, i)
        _check_metric_use(at, name, declared, found)


def _check_metric_use(at: KeyPath, name: str, declared: Mapping[str, int], found: Found) -> None:
    # Undeclared names are read from `METRIC <name>=<value>` lines, except `instructions`, which only
    # a declaration turns on (it runs the benchmark under valgrind).
    if name == "instructions" and name not in declared:
        found.add(
            at,
            "'instructions' must be declared in benchmark.metrics",
            "add {name: instructions, source: instructions}; it runs the benchmark under valgrind",
        )


# --- worker mode -------------------------------------------------------------------------------------


def _worker_problems(doc: Mapping[str, Any], objective_metric: str, found: Found) -> None:
    """Worker mode's keys: which go together, which exclude each other, which metrics it yields."""
    benchmark = doc.get("benchmark") or {}
    _worker_key_problems(benchmark, found)
    if benchmark.get("callable") or (benchmark.get("worker") or {}).get("command"):
        _worker_metric_problems(doc, objective_metric, found)


def _worker_key_problems(benchmark: Mapping[str, Any], found: Found) -> None:
    worker = benchmark.get("worker") or {}
    target = benchmark.get("callable")
    own = worker.get("command")
    if benchmark.get("command") and (target or own):
        found.add(
            ("benchmark", "callable" if target else "worker"),
            "give either benchmark.command (a process per run) or worker mode "
            "(benchmark.callable or benchmark.worker.command), not both",
        )
    if target and own:
        found.add(
            ("benchmark", "worker", "command"),
            "give either benchmark.callable (the Python adapter) or benchmark.worker.command, not both",
        )
    for key in ("args", "args_from"):
        if benchmark.get(key) is not None and not target:
            found.add(("benchmark", key), "used with benchmark.callable", "add benchmark.callable")
    if benchmark.get("args") is not None and benchmark.get("args_from") is not None:
        found.add(("benchmark", "args_from"), "give either args or args_from, not both")
    if "worker" in benchmark and benchmark["worker"] is not None and not (target or own):
        found.add(
            ("benchmark", "worker"),
            "worker settings need benchmark.callable or benchmark.worker.command",
        )
    if worker.get("sides") == "together" and not target:
        found.add(
            ("benchmark", "worker", "sides"),
            "'together' needs the Python adapter (benchmark.callable): a worker of your own runs one side",
        )


def _worker_metric_problems(doc: Mapping[str, Any], objective_metric: str, found: Found) -> None:
    """Every metric the configuration names is one worker mode measures."""
    benchmark = doc.get("benchmark") or {}
    sides = (benchmark.get("worker") or {}).get("sides")
    yields = [m for m in WORKER_METRICS if m != "max_rss" or sides != "together"]
    used: list[tuple[KeyPath, str]] = [(("objective", "metric"), objective_metric)]
    used += [(("guards", i, "metric"), g["metric"]) for i, g in enumerate(doc.get("guards") or [])]
    used += [
        (("benchmark", "metrics", i, "name"), m["name"]) for i, m in enumerate(benchmark.get("metrics") or [])
    ]
    for at, name in used:
        if name not in yields:
            found.add(
                at,
                f"worker mode measures {either([repr(m) for m in yields])}, not {name!r}",
                "use benchmark.command (a process per run) for other metrics",
            )


# --- rounds, branching, hypotheses, settings that belong together --------------------------------------


def _pass_env_problems(doc: Mapping[str, Any], found: Found) -> None:
    """``pass_env`` never names what stays with the tool (tokens, the Actions runtime, command files)."""
    for section in ("benchmark", "propose"):
        for i, name in enumerate((doc.get(section) or {}).get("pass_env") or []):
            if never_passed(name):
                found.add(
                    (section, "pass_env", i),
                    f"{name!r} is never passed to candidate code (tokens, the Actions runtime and the "
                    "runner's command files stay with the tool)",
                )


def _rounds_problems(doc: Mapping[str, Any], found: Found) -> None:
    """A session may run at least the rounds one measurement takes."""
    collection = (doc.get("metrics") or {}).get("collection") or {}
    runs = collection.get("measurement_runs", CollectionConfig.measurement_runs)
    max_rounds = (doc.get("decision") or {}).get("max_rounds", DecisionConfig.max_rounds)
    if max_rounds < runs:
        found.add(
            ("decision", "max_rounds"),
            f"expected at least metrics.collection.measurement_runs ({runs}), got {max_rounds}",
        )


def _branching_problems(doc: Mapping[str, Any], found: Found) -> None:
    branching = doc.get("branching") or {}
    if branching.get("strategy", "sequential") == "sequential" and branching.get("max_branches", 1) > 1:
        found.add(
            ("branching", "max_branches"),
            f"expected 1 with strategy 'sequential', got {branching['max_branches']}",
            "set branching.strategy: parallel to evaluate several candidates per round",
        )


def _hypothesis_problems(doc: Mapping[str, Any], found: Found) -> None:
    branches: dict[str, int] = {}
    for i, hypothesis in enumerate(doc.get("hypotheses") or []):
        branch = hypothesis["branch"]
        if branch in branches:
            found.add(
                ("hypotheses", i, "branch"),
                f"duplicate branch {branch!r} (also hypotheses[{branches[branch]}])",
            )
        branches.setdefault(branch, i)


def _label_problems(doc: Mapping[str, Any], found: Found) -> None:
    """One candidate label, under one name or the other or both alike."""
    label = (doc.get("candidates") or {}).get("label")
    other = ((doc.get("github") or {}).get("labels") or {}).get("candidate")
    if label is not None and other is not None and label != other:
        found.add(
            ("github", "labels", "candidate"),
            f"{other!r} differs from candidates.label {label!r}; they are one setting",
            "give the candidate label once, in candidates.label",
        )


def _benchmark_files_problems(doc: Mapping[str, Any], found: Found) -> None:
    """``benchmark.from`` with its ``files``, and every path glob relative to the repository."""
    benchmark = doc.get("benchmark") or {}
    if benchmark.get("from") is not None and not benchmark.get("files"):
        found.add(
            ("benchmark", "files"),
            "required with benchmark.from: the benchmark's own files, as git pathspec globs",
            "e.g. files: [bench.py, benchmarks/]",
        )
    if benchmark.get("files") and benchmark.get("from") is None:
        found.add(
            ("benchmark", "files"),
            "has no effect without benchmark.from",
            "set benchmark.from: candidate, base, working-tree or a git ref",
        )
    for section, key in (("benchmark", "files"), ("gate", "protected_paths")):
        for i, pattern in enumerate((doc.get(section) or {}).get(key) or ()):
            problem = _pathspec_problem(pattern)
            if problem:
                found.add((section, key, i), problem)


def _pathspec_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a repository-relative git pathspec glob (None when it is one)."""
    parts = pattern.split("/")
    if pattern.startswith("/") or ".." in parts:
        return f"expected a path relative to the repository root, got {pattern!r}"
    if pattern.startswith(":"):
        return f"expected a plain glob (git pathspec magic is added by the tool), got {pattern!r}"
    return None


# --- the search space ----------------------------------------------------------------------------------


def _search_space_problems(doc: Mapping[str, Any], found: Found) -> None:
    search = doc.get("search_space")
    if not search:
        return
    names: dict[str, int] = {}
    for i, parameter in enumerate(search["parameters"]):
        at: KeyPath = ("search_space", "parameters", i)
        name = parameter["name"]
        if name in names:
            found.add(
                (*at, "name"),
                f"duplicate parameter {name!r} (also search_space.parameters[{names[name]}])",
            )
        names.setdefault(name, i)
        _parameter_problems(parameter, at, found)


def _parameter_problems(parameter: Mapping[str, Any], at: KeyPath, found: Found) -> None:
    """A parameter's pattern, and values or a range (not both) giving distinct values."""
    _regex_problem(parameter["pattern"], "the text replaced by each value", (*at, "pattern"), found)
    if "values" in parameter and "range" in parameter:
        found.add((*at, "range"), "give either values or range, not both")
        return
    if "values" not in parameter and "range" not in parameter:
        found.add(
            at,
            "expected values or range, got neither",
            "e.g. values: [1, 2, 4] or range: {start: 1, stop: 10, step: 1}",
        )
        return
    seen: set[str] = set()
    for j, value in enumerate(parameter_values(parameter, at, found) or ()):
        if value in seen:
            found.add((*at, "values", j), f"duplicate value {value!r}")
        seen.add(value)


def parameter_values(parameter: Mapping[str, Any], at: KeyPath, found: Found) -> list[str] | None:
    """The values a search parameter stands for, as text; None (and a problem) when its range gives
    none, too many, or steps by 0."""
    if "values" in parameter:
        return [scalar_text(v) for v in parameter["values"]]
    spec = parameter["range"]
    start, stop, step = spec["start"], spec["stop"], spec.get("step", 1)
    if step == 0:
        found.add((*at, "range", "step"), "expected a number other than 0, got 0")
        return None
    first, end, increment = (Decimal(repr(x)) for x in (start, stop, step))
    count = max(0, math.ceil((end - first) / increment))
    if count == 0:
        found.add(
            (*at, "range"),
            f"expected at least one value, got none from {show(start)} to {show(stop)} (excluded)"
            f" by {show(step)}",
        )
        return None
    if count > MAX_RANGE_VALUES:
        found.add((*at, "range"), f"gives {count} values, expected at most {MAX_RANGE_VALUES}")
        return None
    integers = all(isinstance(x, int) for x in (start, stop, step))
    values = (first + i * increment for i in range(count))
    return [str(int(v)) if integers else repr(float(v)) for v in values]


def scalar_text(value: Any) -> str:
    """A YAML scalar as the text it stands for (numbers without float noise)."""
    if isinstance(value, float):
        return repr(value)
    return str(value)
