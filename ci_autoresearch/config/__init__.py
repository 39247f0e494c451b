"""Read ``.autoresearch.yml``: YAML safe load → the shipped JSON Schema → checks → frozen dataclasses.

Every problem is reported as one line naming the file, the key path (``benchmark.metrics[1].source``)
and what was expected, with a hint when one helps (``did you mean 'command'?``). :func:`validate_config`
returns all problems in document order; :func:`load_config` raises the first as a :class:`ConfigError`.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import yaml

from ci_autoresearch import bounds
from ci_autoresearch.config.model import (
    BUILTIN_UNITS,
    WORKER_METRICS,
    BenchmarkConfig,
    BranchingConfig,
    CandidatesConfig,
    CheckpointConfig,
    CollectionConfig,
    Config,
    ConstraintsConfig,
    DecisionConfig,
    GateConfig,
    GithubConfig,
    GithubLabels,
    GuardConfig,
    Hypothesis,
    MetricSpec,
    ObjectiveConfig,
    PlateauConfig,
    ProposeConfig,
    SearchParameter,
    SearchSpaceConfig,
    WorkerConfig,
)
from ci_autoresearch.errors import ConfigError
from ci_autoresearch.measure.scrub import never_passed
from ci_autoresearch.schemacheck import Check, compile_schema

if TYPE_CHECKING:
    import jsonschema

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "Problem",
    "config_hash",
    "config_schema",
    "load_config",
    "runnability_problems",
    "starter_config",
    "validate_config",
]

DEFAULT_CONFIG_FILE = ".autoresearch.yml"

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 100_000  # YAML values, aliases counted each time they are used (no "billion laughs")
MAX_RANGE_VALUES = 10_000

# Metrics the tool measures itself: a declared metric may not reuse these names for something else.
RESERVED_METRICS = ("wall_time", "cpu_time", "max_rss", "instructions")
HARNESS_SOURCES = ("pytest-benchmark", "hyperfine", "google-benchmark", "github-action-benchmark")
FILE_SOURCES = ("json", *HARNESS_SOURCES)
# The statistics ``field`` may name, per harness format (as :mod:`ci_autoresearch.measure.metrics` reads them;
# Google Benchmark also takes any counter, so it is not checked here).
HARNESS_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "pytest-benchmark": (
            *("median", "mean", "min", "max", "stddev", "iqr", "q1", "q3"),
            *("ld15iqr", "hd15iqr", "ops", "total"),
        ),
        "hyperfine": ("median", "mean", "min", "max", "stddev", "user", "system"),
        "github-action-benchmark": ("value",),
    }
)

KeyPath = tuple[str | int, ...]  # a key path inside the document: ("benchmark", "metrics", 1, "source")


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One thing wrong with a configuration file; ``str()`` is the one-line form the CLI prints."""

    file: str
    key: str | None
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        return str(self.to_error())

    def to_error(self) -> ConfigError:
        return ConfigError(self.file, self.key, self.message, hint=self.hint)


# --- public API -------------------------------------------------------------------------------------


def load_config(path: Path) -> Config:
    """The configuration in ``path``; raises :class:`ConfigError` with the first problem found."""
    problems, doc = _check(path)
    if problems:
        raise problems[0].to_error()
    return _build(doc, path=str(path), hash=config_hash(doc))


def load_config_text(text: str, *, source: str) -> Config:
    """The configuration in ``text`` (e.g. a file of a trusted commit), named ``source`` in messages."""
    problems, doc = _check(Path(source), text=text)
    if problems:
        raise problems[0].to_error()
    return _build(doc, path=source, hash=config_hash(doc))


def validate_config(path: Path) -> list[Problem]:
    """Every problem of the configuration in ``path``, in document order (empty when it is valid)."""
    return _check(path)[0]


def runnability_problems(config: Config) -> list[str]:
    """What a valid configuration still lacks to run a benchmark (one line each)."""
    problems = []
    if not config.benchmark.command and config.benchmark.mode != "worker":
        problems.append(
            "benchmark.command is needed to run (the command that runs your benchmark), "
            "or benchmark.callable for worker mode"
        )
    return problems


def starter_config() -> str:
    """The commented configuration ``ci-autoresearch init`` writes; it validates and runs as it is."""
    return _resource_text("starter.yml")


# The sections that change what a measurement means; labels, budgets or PR settings do not, so editing
# them keeps every recorded evaluation valid (the hash is part of an evaluation's key).
MEASUREMENT_SECTIONS = ("objective", "benchmark", "gate", "guards", "metrics", "decision")


def config_hash(document: Any) -> str:
    """Identifies what a measurement depends on: sha256 of the canonical JSON of the measurement
    sections (``MEASUREMENT_SECTIONS``; ``objective.target`` excluded), first 16 hex digits."""
    doc = document if isinstance(document, dict) else {}
    relevant = {k: doc[k] for k in MEASUREMENT_SECTIONS if k in doc}
    if isinstance(relevant.get("objective"), dict):
        relevant["objective"] = {k: v for k, v in relevant["objective"].items() if k != "target"}
    canonical = json.dumps(relevant, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


@functools.cache
def config_schema() -> Mapping[str, Any]:
    """The configuration's JSON Schema (draft 2020-12), shipped as package data."""
    schema: dict[str, Any] = json.loads(_resource_text("config.schema.json"))
    return schema


# --- reading and parsing -----------------------------------------------------------------------------


def _resource_text(name: str) -> str:
    return resources.files("ci_autoresearch").joinpath("schemas").joinpath(name).read_text(encoding="utf-8")


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    """jsonschema, imported only to explain a configuration that failed the compiled check."""
    import jsonschema  # noqa: PLC0415 - keeps `validate` of a good config fast

    return jsonschema.Draft202012Validator(config_schema())


@functools.cache
def _fast_check() -> Check:
    return compile_schema(config_schema())


class _Found:
    """Problems keyed by path, one per key path, and the line of each key (for document order)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[KeyPath, int] = {}
        self.items: list[tuple[KeyPath, Problem]] = []
        self._keys: set[str | None] = set()

    def add(self, path: KeyPath | None, message: str, hint: str | None = None) -> None:
        key = None if path is None else _key(path)
        if key in self._keys:
            return
        self._keys.add(key)
        self.items.append((path or (), Problem(file=self.file, key=key, message=message, hint=hint)))

    def line(self, path: KeyPath) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 0)

    def sorted(self) -> list[Problem]:
        order = sorted(range(len(self.items)), key=lambda i: (self.line(self.items[i][0]), i))
        return [self.items[i][1] for i in order]


def _check(path: Path, text: str | None = None) -> tuple[list[Problem], Any]:
    found = _Found(str(path))
    if text is None:
        text = _read(path, found)
    if text is None:
        return found.sorted(), None
    doc = _parse(text, found)
    if found.items:
        return found.sorted(), doc
    for where, message in bounds.problems(doc):  # NUL bytes, 1.0e+400, 400-digit integers
        found.add(where, message)
    if found.items:
        return found.sorted(), doc
    if doc is None:
        found.add(
            None,
            "empty configuration",
            "write some settings, or run `ci-autoresearch init --force` for a commented starter",
        )
        return found.sorted(), doc
    if not _fast_check()(doc):
        for error in _validator().iter_errors(doc):
            _schema_problem(error, found)
    if found.items:
        return found.sorted(), doc
    _semantic_problems(doc, found)
    _setting_problems(doc, found)
    return found.sorted(), doc


def _read(path: Path, found: _Found) -> str | None:
    try:
        data = bounds.read_limited(path, MAX_FILE_BYTES)  # a FIFO or /dev/zero is refused, not read
    except FileNotFoundError:
        found.add(None, "no configuration found", "run `ci-autoresearch init` to write a starter one")
        return None
    except bounds.BoundsError as exc:
        found.add(None, str(exc).replace("a regular file", "a YAML file"))
        return None
    except OSError as exc:
        found.add(None, f"cannot be read: {exc.strerror or exc}")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        found.add(None, f"not UTF-8 text (byte {exc.start})")
        return None


def _parse(text: str, found: _Found) -> Any:
    """``yaml.safe_load``, plus duplicate keys, non-finite numbers and recursive aliases as problems."""
    try:
        loader = bounds.DepthLimitedLoader(text)  # 5 000 nested lists fail cleanly, not with RecursionError
    except yaml.YAMLError as exc:  # the reader refuses control characters before anything is parsed
        found.add(None, f"invalid YAML: {' '.join(str(exc).split())}")
        return None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if not _walk_nodes(node, (), found, [], [0]):
            return None
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = exc.problem or exc.context or "syntax error"
        if exc.context and what.startswith("but "):
            what = f"{exc.context}, {what}"
        found.add(None, f"invalid YAML{where}: {what}", _yaml_hint(what))
        return None
    except yaml.YAMLError as exc:
        found.add(None, f"invalid YAML: {' '.join(str(exc).split())}")
        return None
    finally:
        loader.dispose()


def _yaml_hint(problem: str) -> str | None:
    if "'\\t'" in problem:
        return "indent with spaces, not tabs"
    if "<block" in problem:
        return "check the indentation of this line and the lines above"
    return None


_MERGE_TAG = "tag:yaml.org,2002:merge"
_FLOAT_TAG = "tag:yaml.org,2002:float"


def _walk_nodes(node: yaml.Node, path: KeyPath, found: _Found, stack: list[int], count: list[int]) -> bool:
    """Record key lines and node-level problems; False when the document must not be constructed."""
    count[0] += 1
    if count[0] > MAX_NODES:
        found.add(None, f"too many values (more than {MAX_NODES}, aliases counted each time they are used)")
        return False
    if id(node) in stack:
        found.add(path, "refers to itself (a recursive YAML alias)")
        return False
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _FLOAT_TAG and node.value.lower().lstrip("+-") in (".inf", ".nan"):
            found.add(path, f"expected a finite number, got {node.value}")
        return True
    stack.append(id(node))
    try:
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                found.lines.setdefault((*path, i), item.start_mark.line + 1)
                if not _walk_nodes(item, (*path, i), found, stack, count):
                    return False
        elif isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    if not _walk_nodes(value_node, path, found, stack, count):
                        return False
                    continue
                line = key_node.start_mark.line + 1
                name: str | int = key_node.value if isinstance(key_node, yaml.ScalarNode) else f"<{line}>"
                child = (*path, name)
                ident = (key_node.tag, str(name))
                if ident in first:
                    found.lines.setdefault(child, line)
                    found.add(child, f"duplicate key (first on line {first[ident]}, again on line {line})")
                    continue
                first[ident] = line
                found.lines.setdefault(child, line)
                if not _walk_nodes(value_node, child, found, stack, count):
                    return False
        return True
    finally:
        stack.pop()


# --- schema errors in plain words ---------------------------------------------------------------------

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "nothing",
}
_TYPE_PLURALS = {
    "string": "strings",
    "integer": "integers",
    "number": "numbers",
    "boolean": "true/false values",
    "object": "mappings",
    "array": "lists",
}


def _schema_problem(error: jsonschema.ValidationError, found: _Found) -> None:
    path: KeyPath = tuple(error.absolute_path)
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    instance = error.instance
    if "propertyNames" in error.absolute_schema_path:
        found.add((*path, _key_part(instance)), f"expected {_describe(schema)}, got {_show(instance)}")
        return
    if error.validator == "additionalProperties" and isinstance(instance, Mapping):
        allowed = list(schema.get("properties", {}))
        for name in instance:
            if name not in allowed:
                found.add(
                    (*path, _key_part(name)),
                    f"unknown key {_show(name)}",
                    _unknown_key_hint(name, allowed, path),
                )
        return
    if error.validator == "required" and isinstance(instance, Mapping):
        properties = schema.get("properties", {})
        for name in schema["required"]:
            if name not in instance:
                expected = _describe(properties.get(name, {}))
                found.add((*path, name), f"missing; expected {expected}")
        return
    if error.validator in ("oneOf", "anyOf") and error.context:
        # When the value's type fits one alternative only, the problem lies inside that alternative.
        alternatives = schema[str(error.validator)]
        fitting = [i for i, alt in enumerate(alternatives) if _json_type(instance) in _types(alt)]
        if len(fitting) == 1:
            inner = [e for e in error.context if e.relative_schema_path[0] == fitting[0]]
            if inner:
                for e in inner:
                    _schema_problem(e, found)
                return
    if error.validator not in _PLAIN_KEYWORDS:
        found.add(path, error.message)
        return
    found.add(path, f"expected {_describe(schema)}, got {_show(instance)}", _value_hint(schema, instance))


_PLAIN_KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "minItems",
        "pattern",
        "oneOf",
        "anyOf",
    }
)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "other"


def _types(schema: Mapping[str, Any]) -> list[str]:
    """The JSON types a schema accepts (an integer is a number too)."""
    if "const" in schema or "enum" in schema:
        values = [schema["const"]] if "const" in schema else schema["enum"]
        types = [_json_type(v) for v in values]
    elif "anyOf" in schema or "oneOf" in schema:
        types = [t for alt in schema.get("anyOf", schema.get("oneOf", [])) for t in _types(alt)]
    else:
        declared = schema.get("type", [])
        types = [declared] if isinstance(declared, str) else list(declared)
    if "number" in types:
        types.append("integer")
    return types


def _describe(schema: Mapping[str, Any]) -> str:
    """What a schema expects, in words: ``a number between 0.5 and 1 (exclusive)``."""
    if "x-expect" in schema:
        return str(schema["x-expect"])
    if "const" in schema:
        return _show(schema["const"])
    if "enum" in schema:
        return _either([_show(v) for v in schema["enum"]])
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        return _either([_describe(alt) for alt in alternatives])
    declared = schema.get("type", [])
    types = [t for t in ([declared] if isinstance(declared, str) else declared) if t != "null"]
    if len(types) != 1:
        return _either([_TYPE_WORDS[t] for t in types]) if types else "a value"
    kind = types[0]
    if kind in ("integer", "number"):
        return _TYPE_WORDS[kind] + _bounds(schema)
    if kind == "string":
        if "pattern" in schema:
            return f"a string matching {schema['pattern']}"
        return "a non-empty string" if schema.get("minLength", 0) >= 1 else "a string"
    if kind == "array":
        items = schema.get("items")
        text = "a non-empty list" if schema.get("minItems", 0) >= 1 else "a list"
        if isinstance(items, Mapping):
            plural = [_TYPE_PLURALS[t] for t in _types(items) if t in _TYPE_PLURALS and t != "integer"]
            plural = plural or [_TYPE_PLURALS[t] for t in _types(items) if t in _TYPE_PLURALS]
            if plural:
                text += " of " + _either(plural)
        return text
    return _TYPE_WORDS[kind]


def _bounds(schema: Mapping[str, Any]) -> str:
    low, low_open = (
        (schema["exclusiveMinimum"], True) if "exclusiveMinimum" in schema else (schema.get("minimum"), False)
    )
    high, high_open = (
        (schema["exclusiveMaximum"], True) if "exclusiveMaximum" in schema else (schema.get("maximum"), False)
    )
    if low is not None and high is not None:
        if low_open == high_open:
            return f" between {_show(low)} and {_show(high)}" + (" (exclusive)" if low_open else "")
        return f" {'>' if low_open else '>='} {_show(low)} and {'<' if high_open else '<='} {_show(high)}"
    if low is not None:
        return f" {'>' if low_open else '>='} {_show(low)}"
    if high is not None:
        return f" {'<' if high_open else '<='} {_show(high)}"
    return ""


def _either(words: Sequence[str]) -> str:
    words = list(dict.fromkeys(words))
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _show(value: Any) -> str:
    """A value as the user wrote it, roughly: ``'text'``, ``95``, ``true``, ``a list``."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= 60 else text[:56] + "…" + text[0]
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    return f"{value} (a {type(value).__name__})"


def _key_part(name: Any) -> str:
    """A mapping key as a part of a key path (a YAML key may be a number or a boolean)."""
    return name if isinstance(name, str) else _show(name)


def _key(path: KeyPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _value_hint(schema: Mapping[str, Any], value: Any) -> str | None:
    if isinstance(value, str) and "enum" in schema:
        choices = [v for v in schema["enum"] if isinstance(v, str)]
        close = difflib.get_close_matches(value, choices, n=1) or [
            c for c in choices if c.lower() == value.lower()
        ]
        if close:
            return f"did you mean {close[0]!r}?"
    if not isinstance(value, str) and _json_type(value) not in ("null", "array", "object"):
        types = _types(schema)
        if "string" in types and _json_type(value) not in types:
            return "put the value in quotes to keep it as text"
    return None


def _unknown_key_hint(name: Any, allowed: Sequence[str], path: KeyPath) -> str | None:
    if isinstance(name, bool):
        return "YAML reads unquoted on/off/yes/no/true/false as true or false; put the key in quotes"
    here = _generic_key(path)
    elsewhere = [p for p in _key_places().get(str(name), ()) if p != here]
    if elsewhere:  # a real key in the wrong place: where it belongs beats a look-alike here
        places = " or ".join(p or "the top level" for p in elsewhere[:3])
        return f"{name!r} belongs under {places}"
    close = difflib.get_close_matches(str(name), allowed, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    if allowed:
        return "allowed here: " + ", ".join(allowed)
    return None


def _generic_key(path: KeyPath) -> str:
    """``benchmark.metrics[i]`` for ``benchmark.metrics[3]``: a place in the schema."""
    return re.sub(r"\[\d+\]", "[i]", _key(path))


@functools.cache
def _key_places() -> Mapping[str, tuple[str, ...]]:
    """Every key of the schema → the (dotted) places it is allowed, for "belongs under" hints."""
    places: dict[str, list[str]] = {}

    def visit(schema: Mapping[str, Any], where: str) -> None:
        for name, sub in schema.get("properties", {}).items():
            places.setdefault(name, []).append(where)
            visit(sub, f"{where}.{name}" if where else name)
        items = schema.get("items")
        if isinstance(items, Mapping):
            visit(items, f"{where}[i]")
        for alt in schema.get("anyOf", []):
            visit(alt, where)

    visit(config_schema(), "")
    return {name: tuple(dict.fromkeys(where)) for name, where in places.items()}


# --- checks the schema cannot express --------------------------------------------------------------


def _regex_problem(pattern: str, what: str) -> str | None:
    try:
        groups = re.compile(pattern).groups
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        return f"not a valid regular expression: {exc.msg}{where}"
    if groups != 1:
        return f"expected a regular expression with exactly one group ({what}), got {groups} groups"
    return None


_NON_CAPTURING = "write other groups as (?:...)"


def _semantic_problems(doc: Mapping[str, Any], found: _Found) -> None:
    benchmark = doc.get("benchmark") or {}
    metrics: list[Mapping[str, Any]] = benchmark.get("metrics") or []
    declared: dict[str, int] = {}
    for i, metric in enumerate(metrics):
        at: KeyPath = ("benchmark", "metrics", i)
        name = metric["name"]
        source = _source(metric)
        if name in declared:
            found.add(
                (*at, "name"), f"duplicate metric name {name!r} (also benchmark.metrics[{declared[name]}])"
            )
        declared.setdefault(name, i)
        if name in RESERVED_METRICS and source != name:
            found.add(
                (*at, "name"),
                f"{name!r} is a built-in metric, measured with source {name!r}",
                "give your metric another name",
            )
        for key in _unused_keys(metric, source):
            found.add((*at, key), f"not used with source {source!r}", _used_with(key))
        if source == "stdout" and metric.get("pattern") is not None:
            problem = _regex_problem(metric["pattern"], "the value")
            if problem:
                found.add((*at, "pattern"), problem, _NON_CAPTURING if "one group" in problem else None)
        if source in FILE_SOURCES and metric.get("file") is None:
            found.add((*at, "file"), f"required with source {source!r}", "the file your benchmark writes")
        if source == "json" and metric.get("path") is None:
            found.add(
                (*at, "path"), "required with source 'json'", "a dotted path to the number, e.g. a.b.0.c"
            )
        allowed_fields = HARNESS_FIELDS.get(source)
        if allowed_fields and metric.get("field") is not None and metric["field"] not in allowed_fields:
            close = difflib.get_close_matches(metric["field"], allowed_fields, n=1)
            found.add(
                (*at, "field"),
                f"expected {_either([repr(f) for f in allowed_fields])} with source {source!r}, "
                f"got {_show(metric['field'])}",
                f"did you mean {close[0]!r}?" if close else None,
            )

    for section in ("benchmark", "propose"):
        for i, name in enumerate((doc.get(section) or {}).get("pass_env") or []):
            if never_passed(name):
                found.add(
                    (section, "pass_env", i),
                    f"{name!r} is never passed to candidate code (tokens, the Actions runtime and the "
                    "runner's command files stay with the tool)",
                )

    objective = doc.get("objective") or {}
    objective_metric = objective.get("metric", "wall_time")
    _worker_problems(doc, objective_metric, found)
    if objective_metric in declared and "direction" in objective:
        spec = metrics[declared[objective_metric]]
        if "direction" in spec and spec["direction"] != objective["direction"]:
            found.add(
                ("benchmark", "metrics", declared[objective_metric], "direction"),
                f"{spec['direction']!r} contradicts objective.direction {objective['direction']!r}",
            )
    _check_metric_use(("objective", "metric"), objective_metric, declared, found)
    guarded: dict[str, int] = {}
    for i, guard in enumerate(doc.get("guards") or []):
        at = ("guards", i, "metric")
        name = guard["metric"]
        if name == objective_metric:
            found.add(at, f"{name!r} is the objective", "a guard watches another metric")
        elif name in guarded:
            found.add(at, f"duplicate guard for {name!r} (also guards[{guarded[name]}])")
        guarded.setdefault(name, i)
        _check_metric_use(at, name, declared, found)

    collection = (doc.get("metrics") or {}).get("collection") or {}
    decision = doc.get("decision") or {}
    runs = collection.get("measurement_runs", CollectionConfig.measurement_runs)
    max_rounds = decision.get("max_rounds", DecisionConfig.max_rounds)
    if max_rounds < runs:
        found.add(
            ("decision", "max_rounds"),
            f"expected at least metrics.collection.measurement_runs ({runs}), got {max_rounds}",
        )

    branching = doc.get("branching") or {}
    if branching.get("strategy", "sequential") == "sequential" and branching.get("max_branches", 1) > 1:
        found.add(
            ("branching", "max_branches"),
            f"expected 1 with strategy 'sequential', got {branching['max_branches']}",
            "set branching.strategy: parallel to evaluate several candidates per round",
        )

    branches: dict[str, int] = {}
    for i, hypothesis in enumerate(doc.get("hypotheses") or []):
        branch = hypothesis["branch"]
        if branch in branches:
            found.add(
                ("hypotheses", i, "branch"),
                f"duplicate branch {branch!r} (also hypotheses[{branches[branch]}])",
            )
        branches.setdefault(branch, i)

    search = doc.get("search_space")
    if search:
        names: dict[str, int] = {}
        for i, parameter in enumerate(search["parameters"]):
            at = ("search_space", "parameters", i)
            name = parameter["name"]
            if name in names:
                found.add(
                    (*at, "name"),
                    f"duplicate parameter {name!r} (also search_space.parameters[{names[name]}])",
                )
            names.setdefault(name, i)
            problem = _regex_problem(parameter["pattern"], "the text replaced by each value")
            if problem:
                found.add((*at, "pattern"), problem, _NON_CAPTURING if "one group" in problem else None)
            if "values" in parameter and "range" in parameter:
                found.add((*at, "range"), "give either values or range, not both")
                continue
            if "values" not in parameter and "range" not in parameter:
                found.add(
                    at,
                    "expected values or range, got neither",
                    "e.g. values: [1, 2, 4] or range: {start: 1, stop: 10, step: 1}",
                )
                continue
            values = _parameter_values(parameter, at, found)
            if values is not None:
                seen: set[str] = set()
                for j, value in enumerate(values):
                    if value in seen:
                        found.add((*at, "values", j), f"duplicate value {value!r}")
                    seen.add(value)


def _pathspec_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a repository-relative git pathspec glob (None when it is one)."""
    parts = pattern.split("/")
    if pattern.startswith("/") or ".." in parts:
        return f"expected a path relative to the repository root, got {pattern!r}"
    if pattern.startswith(":"):
        return f"expected a plain glob (git pathspec magic is added by the tool), got {pattern!r}"
    return None


def _setting_problems(doc: Mapping[str, Any], found: _Found) -> None:
    """Settings that belong together: one label under two names, benchmark.from with its files."""
    label = (doc.get("candidates") or {}).get("label")
    other = ((doc.get("github") or {}).get("labels") or {}).get("candidate")
    if label is not None and other is not None and label != other:
        found.add(
            ("github", "labels", "candidate"),
            f"{other!r} differs from candidates.label {label!r}; they are one setting",
            "give the candidate label once, in candidates.label",
        )
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


def _worker_problems(doc: Mapping[str, Any], objective_metric: str, found: _Found) -> None:
    """Worker mode's keys: which go together, which exclude each other, which metrics it yields."""
    benchmark = doc.get("benchmark") or {}
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
    if not (target or own):
        return
    yields = [m for m in WORKER_METRICS if m != "max_rss" or worker.get("sides") != "together"]
    used: list[tuple[KeyPath, str]] = [(("objective", "metric"), objective_metric)]
    used += [(("guards", i, "metric"), g["metric"]) for i, g in enumerate(doc.get("guards") or [])]
    used += [
        (("benchmark", "metrics", i, "name"), m["name"]) for i, m in enumerate(benchmark.get("metrics") or [])
    ]
    for at, name in used:
        if name not in yields:
            found.add(
                at,
                f"worker mode measures {_either([repr(m) for m in yields])}, not {name!r}",
                "use benchmark.command (a process per run) for other metrics",
            )


def _check_metric_use(at: KeyPath, name: str, declared: Mapping[str, int], found: _Found) -> None:
    # Undeclared names are read from `METRIC <name>=<value>` lines, except `instructions`, which only
    # a declaration turns on (it runs the benchmark under valgrind).
    if name == "instructions" and name not in declared:
        found.add(
            at,
            "'instructions' must be declared in benchmark.metrics",
            "add {name: instructions, source: instructions}; it runs the benchmark under valgrind",
        )


def _source(metric: Mapping[str, Any]) -> str:
    if "source" in metric:
        return str(metric["source"])
    return str(metric["name"]) if metric["name"] in RESERVED_METRICS else "stdout"


_KEY_SOURCES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "pattern": ("stdout",),
        "file": FILE_SOURCES,
        "path": FILE_SOURCES,
        "field": HARNESS_SOURCES,
        "tool": ("instructions",),
    }
)


def _unused_keys(metric: Mapping[str, Any], source: str) -> Iterator[str]:
    for key, sources in _KEY_SOURCES.items():
        if metric.get(key) is not None and source not in sources:
            yield key


def _used_with(key: str) -> str:
    sources = _KEY_SOURCES[key]
    return f"{key} is used with source {_either([repr(s) for s in sources])}"


def _parameter_values(parameter: Mapping[str, Any], at: KeyPath, found: _Found) -> list[str] | None:
    if "values" in parameter:
        return [_scalar_text(v) for v in parameter["values"]]
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
            f"expected at least one value, got none from {_show(start)} to {_show(stop)} (excluded)"
            f" by {_show(step)}",
        )
        return None
    if count > MAX_RANGE_VALUES:
        found.add((*at, "range"), f"gives {count} values, expected at most {MAX_RANGE_VALUES}")
        return None
    integers = all(isinstance(x, int) for x in (start, stop, step))
    values = (first + i * increment for i in range(count))
    return [str(int(v)) if integers else repr(float(v)) for v in values]


def _scalar_text(value: Any) -> str:
    """A YAML scalar as the text it stands for (numbers without float noise)."""
    if isinstance(value, float):
        return repr(value)
    return str(value)


# --- building the dataclasses ----------------------------------------------------------------------


def _build(doc: Mapping[str, Any], *, path: str, hash: str) -> Config:
    objective = doc.get("objective") or {}
    benchmark = doc.get("benchmark") or {}
    metric_docs: list[Mapping[str, Any]] = benchmark.get("metrics") or []
    objective_metric = objective.get("metric", ObjectiveConfig.metric)
    direction = objective.get("direction")
    if direction is None:
        declared = [m for m in metric_docs if m["name"] == objective_metric and "direction" in m]
        direction = declared[0]["direction"] if declared else ObjectiveConfig.direction
    collection = (doc.get("metrics") or {}).get("collection") or {}
    constraints = doc.get("constraints") or {}
    plateau = constraints.get("plateau")
    search = doc.get("search_space")
    propose = doc.get("propose")
    github = doc.get("github") or {}
    branches = (doc.get("candidates") or {}).get("branches", CandidatesConfig.branches)
    return Config(
        path=path,
        hash=hash,
        objective=ObjectiveConfig(
            metric=objective_metric, direction=direction, target=_float_or_none(objective.get("target"))
        ),
        benchmark=BenchmarkConfig(
            command=benchmark.get("command"),
            setup=benchmark.get("setup"),
            timeout_seconds=float(benchmark.get("timeout_seconds", BenchmarkConfig.timeout_seconds)),
            env=MappingProxyType({k: _scalar_text(v) for k, v in (benchmark.get("env") or {}).items()}),
            pass_env=tuple(benchmark.get("pass_env") or ()),
            metrics=tuple(_metric(m) for m in metric_docs),
            source=benchmark.get("from"),
            files=tuple(benchmark.get("files") or ()),
            **_callable(benchmark),
        ),
        gate=GateConfig(
            **_pick(doc.get("gate"), "command"),
            protected_paths=tuple((doc.get("gate") or {}).get("protected_paths") or ()),
            **_floats(doc.get("gate"), "timeout_seconds"),
        ),
        guards=tuple(
            GuardConfig(metric=g["metric"], **_floats(g, "max_regression")) for g in doc.get("guards") or []
        ),
        collection=CollectionConfig(
            **_ints(collection, "warmup_runs", "measurement_runs"), **_pick(collection, "aggregate")
        ),
        decision=DecisionConfig(
            **_floats(doc.get("decision"), "min_effect", "confidence"),
            **_ints(doc.get("decision"), "max_rounds", "seed"),
            **_pick(doc.get("decision"), "order", "baseline"),
        ),
        constraints=ConstraintsConfig(
            max_iterations=_int_or_none(constraints.get("max_iterations")),
            max_time_hours=_float_or_none(constraints.get("max_time_hours")),
            no_improvement_limit=_int_or_none(constraints.get("no_improvement_limit")),
            plateau=None
            if plateau is None
            else PlateauConfig(**_ints(plateau, "window"), **_floats(plateau, "threshold")),
        ),
        branching=BranchingConfig(
            **_pick(doc.get("branching"), "strategy"), **_ints(doc.get("branching"), "max_branches")
        ),
        checkpoint=CheckpointConfig(
            **_pick(doc.get("checkpoint"), "enabled", "path", "remote"),
            interval_minutes=_float_or_none((doc.get("checkpoint") or {}).get("interval_minutes")),
        ),
        candidates=CandidatesConfig(
            label=_labels(doc).get("candidate", CandidatesConfig.label),
            branches=(branches,) if isinstance(branches, str) else tuple(branches),
        ),
        hypotheses=tuple(
            Hypothesis(branch=h["branch"], **_floats(h, "expected_gain"), **_pick(h, "description"))
            for h in doc.get("hypotheses") or []
        ),
        search_space=None
        if search is None
        else SearchSpaceConfig(
            parameters=tuple(
                SearchParameter(
                    name=p["name"],
                    file=p["file"],
                    pattern=p["pattern"],
                    values=tuple(_parameter_values(p, (), _Found("")) or ()),
                )
                for p in search["parameters"]
            ),
            **_pick(search, "order", "branch_prefix"),
            **_ints(search, "seed"),
            limit=_int_or_none(search.get("limit")),
        ),
        propose=None
        if propose is None
        else ProposeConfig(
            command=propose["command"],
            pass_env=tuple(propose.get("pass_env") or ()),
            **_floats(propose, "timeout_seconds"),
            **_ints(propose, "max_proposals"),
        ),
        github=GithubConfig(
            **_pick(
                github,
                "base_branch",
                "open_prs",
                "close_discarded",
                "auto_merge",
                "baseline_artifact",
                "status",
            ),
            labels=GithubLabels(**_labels(doc)),
        ),
    )


def _labels(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``github.labels``, with ``candidates.label`` as the candidate label when that is not given there
    (they are one setting; the semantic checks refuse two different values)."""
    labels = dict((doc.get("github") or {}).get("labels") or {})
    label = (doc.get("candidates") or {}).get("label")
    if label is not None:
        labels.setdefault("candidate", label)
    return labels


def _callable(benchmark: Mapping[str, Any]) -> dict[str, Any]:
    """Worker mode's part of ``BenchmarkConfig``: the callable, its arguments and the worker settings."""
    args = benchmark.get("args")
    worker = benchmark.get("worker")
    return {
        **_pick(benchmark, "callable", "args_from", "python"),
        "args": tuple(args) if isinstance(args, list) else (MappingProxyType(dict(args)) if args else None),
        "worker": None
        if worker is None
        else WorkerConfig(
            **_pick(worker, "command", "sides"),
            **_floats(worker, "block_seconds"),
            **_ints(worker, "warmup_blocks", "blocks"),
        ),
    }


def _metric(doc: Mapping[str, Any]) -> MetricSpec:
    source = _source(doc)
    return MetricSpec(
        name=doc["name"],
        source=source,  # type: ignore[arg-type]  # checked by the schema
        unit=doc.get("unit", BUILTIN_UNITS.get(source, "")),
        **_pick(doc, "direction", "pattern", "file", "path", "field", "tool"),
    )


def _pick(doc: Mapping[str, Any] | None, *keys: str) -> dict[str, Any]:
    """The keys present in ``doc`` (absent ones keep the dataclass default)."""
    return {k: doc[k] for k in keys if k in doc} if doc else {}


def _floats(doc: Mapping[str, Any] | None, *keys: str) -> dict[str, Any]:
    return {k: float(v) for k, v in _pick(doc, *keys).items()}


def _ints(doc: Mapping[str, Any] | None, *keys: str) -> dict[str, Any]:
    return {k: int(v) for k, v in _pick(doc, *keys).items()}


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
