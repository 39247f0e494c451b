"""config.py: YAML → schema → checks → dataclasses, and every one-line problem message (pure)."""

from __future__ import annotations

import dataclasses
import json
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema
import pytest

from ci_autoresearch.config import (
    Problem,
    config_hash,
    config_schema,
    load_config,
    runnability_problems,
    starter_config,
    validate_config,
)
from ci_autoresearch.config import model as config_model
from ci_autoresearch.config.model import (
    BenchmarkConfig,
    CollectionConfig,
    Config,
    DecisionConfig,
    GuardConfig,
    Hypothesis,
    MetricSpec,
    SearchParameter,
)
from ci_autoresearch.errors import ConfigError

CONFIGS = Path(__file__).resolve().parent.parent / "fixtures" / "configs"
NAME = ".autoresearch.yml"
RUN_LINE = (
    "benchmark.command is needed to run (the command that runs your benchmark), "
    "or benchmark.callable for worker mode"
)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def write(text: str, name: str = NAME) -> Path:
    path = Path(name)
    path.write_text(textwrap.dedent(text))
    return path


def lines(text: str) -> list[str]:
    return [str(p) for p in validate_config(write(text))]


def load(text: str) -> Config:
    return load_config(write(text))


# --- the article's example, the starter, a full configuration -------------------------------------


def test_article_example_loads_as_written() -> None:
    path = CONFIGS / "article.yml"
    assert validate_config(path) == []
    config = load_config(path)
    assert config.path == str(path)
    assert (config.objective.metric, config.objective.direction, config.objective.target) == (
        "latency_p99",
        "minimize",
        50.0,
    )
    assert config.constraints.max_iterations == 100
    assert config.constraints.max_time_hours == 4.0
    assert config.constraints.no_improvement_limit == 10
    assert config.constraints.plateau is None
    assert (config.branching.strategy, config.branching.max_branches) == ("parallel", 3)
    assert config.checkpoint.enabled is True
    assert config.checkpoint.interval_minutes == 5.0
    assert config.checkpoint.path == "./autoresearch_state.json"
    assert config.collection == CollectionConfig(warmup_runs=3, measurement_runs=5, aggregate="median")
    assert config.decision == DecisionConfig()
    # latency_p99 is not declared: it is read from `METRIC latency_p99=<value>` lines.
    assert config.metric("latency_p99") == MetricSpec(name="latency_p99", source="stdout")
    assert runnability_problems(config) == [RUN_LINE]


def test_article_example_plus_a_command_runs() -> None:
    text = (CONFIGS / "article.yml").read_text() + "\nbenchmark:\n  command: python bench.py\n"
    assert runnability_problems(load(text)) == []


def test_starter_config_validates_loads_and_runs() -> None:
    text = starter_config()
    path = write(text)
    assert validate_config(path) == []
    config = load_config(path)
    assert runnability_problems(config) == []
    assert config.benchmark.command == "python bench.py"
    assert (config.objective.metric, config.objective.direction) == ("wall_time", "minimize")
    # Its values are the defaults, spelled out.
    assert config.collection == CollectionConfig()
    assert config.decision == DecisionConfig()
    assert config.gate.command is None
    assert config.guards == ()
    # the common keys only; the reference has them all
    assert "docs/configuration.md" in text


def _uncomment_block(text: str, key: str) -> str:
    """Uncomment ``# key:`` and the commented, indented lines under it."""
    out, inside = [], False
    for line in text.splitlines():
        if line == f"# {key}:":
            inside = True
            out.append(line[2:])
        elif inside and line.startswith("#  "):
            out.append(line[2:])
        else:
            inside = False
            out.append(line)
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("key", ["gate", "guards", "constraints"])
def test_starter_commented_examples_are_valid(key: str) -> None:
    text = _uncomment_block(starter_config(), key)
    assert text != starter_config()
    assert lines(text) == []
    config = load(text)
    if key == "gate":
        assert config.gate.command == "python -m pytest -q"
        assert config.gate.protected_paths == ("bench.py", "tests/")
    elif key == "guards":
        assert config.guards == (GuardConfig(metric="max_rss", max_regression=0.05),)
    else:
        assert (config.constraints.max_iterations, config.constraints.no_improvement_limit) == (100, 10)


def test_full_configuration() -> None:
    path = CONFIGS / "full.yml"
    assert validate_config(path) == []
    c = load_config(path)
    assert c.objective.metric == "throughput"
    assert c.objective.direction == "maximize"  # from the declared metric
    assert c.objective.target == 1200.0
    assert c.constraints.plateau == config_model.PlateauConfig(window=6, threshold=0.01)
    assert c.checkpoint == config_model.CheckpointConfig(
        enabled=False, interval_minutes=10.0, path=".autoresearch/state.json", remote="origin"
    )
    assert c.benchmark.setup == "python -m pip install -e ."
    assert (c.benchmark.source, c.benchmark.files) == ("base", ("bench.py", "benchmarks/"))
    assert c.benchmark.timeout_seconds == 120.0
    assert dict(c.benchmark.env) == {"PYTHONHASHSEED": "0", "BENCH_SCALE": "1.5", "MODE": "fast"}
    assert isinstance(c.benchmark.env, MappingProxyType)
    assert [m.name for m in c.benchmark.metrics] == [
        "throughput",
        "latency_p99",
        "parse",
        "peak_memory",
        "instructions",
    ]
    assert c.benchmark.metrics[0] == MetricSpec(
        name="throughput",
        source="stdout",
        unit="ops/s",
        direction="maximize",
        pattern="throughput: ([0-9.]+)",
    )
    assert c.benchmark.metrics[1] == MetricSpec(
        name="latency_p99", source="json", unit="ms", file="out.json", path="latency.p99"
    )
    assert c.benchmark.metrics[2].field == "min"
    assert c.benchmark.metrics[2].unit == ""
    assert c.benchmark.metrics[3].unit == "bytes"
    assert (c.benchmark.metrics[4].unit, c.benchmark.metrics[4].tool) == ("instructions", "cachegrind")
    assert c.gate == config_model.GateConfig(
        command="python -m pytest -q", protected_paths=("bench.py", "tests/"), timeout_seconds=900.0
    )
    assert c.guards == (
        GuardConfig(metric="peak_memory", max_regression=0.1),
        GuardConfig(metric="latency_p99", max_regression=0.05),
    )
    assert c.collection == CollectionConfig(warmup_runs=2, measurement_runs=12, aggregate="mean")
    assert c.decision == DecisionConfig(
        min_effect=0.02, confidence=0.99, max_rounds=40, order="random", seed=7, baseline="artifact"
    )
    assert c.candidates == config_model.CandidatesConfig(label="perf:candidate", branches=("perf/*",))
    assert c.hypotheses == (
        Hypothesis(branch="perf/cache", expected_gain=0.1, description="cache the parsed grammar"),
        Hypothesis(branch="perf/simd"),
    )
    assert c.search_space is not None
    assert c.search_space.parameters == (
        SearchParameter(
            name="batch", file="src/config.py", pattern=r"BATCH = (\d+)", values=("16", "32", "64")
        ),
        SearchParameter(
            name="ratio",
            file="src/config.py",
            pattern="RATIO = ([0-9.]+)",
            values=("0.1", "0.2", "0.3", "0.4"),
        ),
    )
    assert (c.search_space.order, c.search_space.seed, c.search_space.limit) == ("random", 3, 10)
    assert c.search_space.branch_prefix == "perf/search/"
    assert c.propose == config_model.ProposeConfig(
        command="./agent.sh", timeout_seconds=1800.0, max_proposals=2, pass_env=("ANTHROPIC_API_KEY",)
    )
    assert c.github.base_branch == "develop"
    assert c.github.labels.improved == "perf:faster"
    assert c.github.labels.rejected == "perf:rejected"
    assert (c.github.open_prs, c.github.close_discarded, c.github.auto_merge) == (False, True, True)
    assert (c.github.baseline_artifact, c.github.status) == ("perf-baseline", "check-run")
    assert runnability_problems(c) == []


# --- defaults -------------------------------------------------------------------------------------


def test_minimal_configuration_is_all_defaults() -> None:
    config = load("version: 1\n")
    assert config == Config(path=NAME, hash=config.hash)
    assert runnability_problems(config) == [RUN_LINE]


def test_empty_sections_mean_defaults() -> None:
    config = load(
        """\
        objective:
        benchmark:
          command: ./bench
          env:
          metrics:
        gate:
          protected_paths:
        guards:
        metrics:
          collection:
        hypotheses:
        search_space:
        propose:
        github:
          labels:
        """
    )
    assert config == Config(path=NAME, hash=config.hash, benchmark=BenchmarkConfig(command="./bench"))


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json_default(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _json_default(v) for k, v in value.items()}
    return value


# Config fields that are not (or not directly) keys of the YAML document.
_CONFIG_KEYS = {"collection": ("metrics", "collection")}
_FIELD_KEYS = {(BenchmarkConfig, "source"): "from"}  # `from` is a Python keyword


def _check_defaults(cls: type, schema: Mapping[str, Any], where: str) -> int:
    """Compare each dataclass field's default with the schema's ``default``; returns how many."""
    checked = 0
    for f in dataclasses.fields(cls):
        if f.name in ("path", "hash") and cls is Config:
            continue
        sub: Mapping[str, Any] = schema
        key = _FIELD_KEYS.get((cls, f.name), f.name)
        for part in _CONFIG_KEYS.get(f.name, (f.name,)) if cls is Config else (key,):
            assert part in sub["properties"], f"{where}.{part} is not in the schema"
            sub = sub["properties"][part]
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            assert "default" not in sub, f"{where}.{f.name}: the schema has a default, the dataclass none"
            continue
        if dataclasses.is_dataclass(default):
            assert "default" not in sub
            checked += _check_defaults(type(default), sub, f"{where}.{f.name}")
            continue
        assert sub.get("default", "<none>") == _json_default(default), f"{where}.{f.name}"
        checked += 1
    return checked


def test_schema_defaults_equal_dataclass_defaults() -> None:
    schema = config_schema()
    checked = _check_defaults(Config, schema, "")
    # Optional sections: their inner defaults too.
    props = schema["properties"]
    checked += _check_defaults(
        config_model.PlateauConfig, props["constraints"]["properties"]["plateau"], "plateau"
    )
    checked += _check_defaults(config_model.SearchSpaceConfig, props["search_space"], "search_space")
    checked += _check_defaults(config_model.ProposeConfig, props["propose"], "propose")
    checked += _check_defaults(GuardConfig, props["guards"]["items"], "guards[i]")
    checked += _check_defaults(Hypothesis, props["hypotheses"]["items"], "hypotheses[i]")
    checked += _check_defaults(MetricSpec, props["benchmark"]["properties"]["metrics"]["items"], "metrics[i]")
    checked += _check_defaults(
        config_model.WorkerConfig, props["benchmark"]["properties"]["worker"], "worker"
    )
    assert checked > 60


def test_schema_is_draft_2020_12_and_closed_everywhere() -> None:
    schema = config_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)

    def visit(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "properties" in node:
                assert node.get("additionalProperties") is False, where
            for key, value in node.items():
                visit(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                visit(value, f"{where}/{i}")

    visit(schema, "#")
    assert config_schema() is schema  # loaded once


# --- values turned into dataclasses -----------------------------------------------------------------


def test_hypotheses_are_optional() -> None:
    assert load("objective: {metric: wall_time}\n").hypotheses == ()
    config = load("hypotheses:\n  - branch: perf/a\n  - {branch: perf/b, expected_gain: 0.2}\n")
    assert config.hypotheses == (Hypothesis(branch="perf/a"), Hypothesis(branch="perf/b", expected_gain=0.2))


def test_candidate_branches_string_or_list() -> None:
    assert load("candidates: {branches: 'perf/*'}\n").candidates.branches == ("perf/*",)
    assert load("candidates: {branches: ['a/*', 'b/*']}\n").candidates.branches == ("a/*", "b/*")
    assert load("candidates: {branches: []}\n").candidates.branches == ()


def test_env_values_are_strings() -> None:
    config = load("benchmark:\n  env: {N: 3, F: 0.1, BIG: 1.0e+20, S: text, E: ''}\n")
    assert dict(config.benchmark.env) == {"N": "3", "F": "0.1", "BIG": "1e+20", "S": "text", "E": ""}


def test_metric_source_and_unit_defaults() -> None:
    config = load(
        """\
        benchmark:
          metrics:
            - name: max_rss
            - name: cpu_time
            - name: score
              direction: maximize
            - {name: rss, source: max_rss}
            - {name: rss_mb, source: max_rss, unit: MiB}
            - {name: t, source: json, file: out.json, path: t}
        """
    )
    got = [(m.name, m.source, m.unit, m.direction) for m in config.benchmark.metrics]
    assert got == [
        ("max_rss", "max_rss", "bytes", "minimize"),
        ("cpu_time", "cpu_time", "s", "minimize"),
        ("score", "stdout", "", "maximize"),
        ("rss", "max_rss", "bytes", "minimize"),
        ("rss_mb", "max_rss", "MiB", "minimize"),
        ("t", "json", "", "minimize"),
    ]


def test_objective_direction_from_declared_metric() -> None:
    declared = "benchmark:\n  metrics:\n    - {name: score, direction: maximize}\n"
    assert load("objective: {metric: score}\n" + declared).objective.direction == "maximize"
    assert load("objective: {metric: other}\n" + declared).objective.direction == "minimize"
    same = "objective: {metric: score, direction: maximize}\n" + declared
    assert load(same).objective.direction == "maximize"


def test_undeclared_objective_and_guard_are_allowed() -> None:
    config = load("objective: {metric: val_bpb}\nguards:\n  - metric: cpu_time\n  - metric: tokens_per_s\n")
    assert config.metric("val_bpb").source == "stdout"
    assert config.metric("cpu_time").source == "cpu_time"
    assert [m.name for m in config.measured_metrics()] == ["val_bpb", "cpu_time", "tokens_per_s", "wall_time"]


def test_integers_and_floats_are_converted() -> None:
    config = load("benchmark: {timeout_seconds: 30}\nmetrics: {collection: {measurement_runs: 12.0}}\n")
    assert isinstance(config.benchmark.timeout_seconds, float)
    assert config.collection.measurement_runs == 12
    assert isinstance(config.collection.measurement_runs, int)


@pytest.mark.parametrize(
    ("spec", "values"),
    [
        ("{start: 1, stop: 5}", ("1", "2", "3", "4")),
        ("{start: 0, stop: 10, step: 3}", ("0", "3", "6", "9")),
        ("{start: 10, stop: 0, step: -4}", ("10", "6", "2")),
        ("{start: 0.1, stop: 0.5, step: 0.1}", ("0.1", "0.2", "0.3", "0.4")),
        ("{start: 0, stop: 1, step: 0.25}", ("0.0", "0.25", "0.5", "0.75")),
        ("{start: 1, stop: 1.3, step: 0.1}", ("1.0", "1.1", "1.2")),
        ("{start: 0.5, stop: 2}", ("0.5", "1.5")),
    ],
)
def test_range_expansion(spec: str, values: tuple[str, ...]) -> None:
    config = load(
        f"search_space:\n  parameters:\n    - {{name: p, file: f.py, pattern: 'P = (\\S+)', range: {spec}}}\n"
    )
    assert config.search_space is not None
    assert config.search_space.parameters[0].values == values


def test_values_are_stored_as_strings() -> None:
    config = load(
        "search_space:\n  parameters:\n    - {name: p, file: f.py, pattern: '(x)', values: [1, 0.1, 2.50, "
        "fast]}\n"
    )
    assert config.search_space is not None
    assert config.search_space.parameters[0].values == ("1", "0.1", "2.5", "fast")
    assert config.search_space.order == "grid"
    assert config.search_space.branch_prefix == "autoresearch/search/"


def test_yaml_merge_keys_work() -> None:
    config = load(
        """\
        benchmark:
          metrics:
            - &base {name: a, source: json, file: out.json, path: a, unit: ms}
            - <<: *base
              name: b
              path: b
        """
    )
    assert [(m.name, m.path, m.unit) for m in config.benchmark.metrics] == [
        ("a", "a", "ms"),
        ("b", "b", "ms"),
    ]


# --- the hash ---------------------------------------------------------------------------------------


def test_config_hash() -> None:
    a = load("objective: {metric: x}\ndecision: {seed: 1}\n")
    b = load("# a comment\ndecision:\n  seed: 1   # same\nobjective:\n  metric: x\n")
    c = load("objective: {metric: x}\ndecision: {seed: 2}\n")
    assert re.fullmatch(r"[0-9a-f]{16}", a.hash)
    assert a.hash == b.hash != c.hash
    assert a.hash == config_hash({"objective": {"metric": "x"}, "decision": {"seed": 1}})
    canonical = json.dumps({"decision": {"seed": 1}, "objective": {"metric": "x"}}, separators=(",", ":"))
    import hashlib

    assert a.hash == hashlib.sha256(canonical.encode()).hexdigest()[:16]


# --- problems: files and YAML -------------------------------------------------------------------------


def test_missing_file() -> None:
    problems = validate_config(Path("nowhere.yml"))
    assert problems == [
        Problem(
            file="nowhere.yml",
            key=None,
            message="no configuration found",
            hint="run `ci-autoresearch init` to write a starter one",
        )
    ]
    assert (
        str(problems[0])
        == "nowhere.yml: no configuration found (run `ci-autoresearch init` to write a starter one)"
    )


def test_directory() -> None:
    Path("conf").mkdir()
    assert [str(p) for p in validate_config(Path("conf"))] == ["conf: is a directory, expected a YAML file"]


def test_unreadable_path() -> None:
    Path("plain").write_text("a file, not a directory\n")
    assert [str(p) for p in validate_config(Path("plain") / NAME)] == [
        f"plain/{NAME}: cannot be read: Not a directory"
    ]


def test_not_utf8() -> None:
    Path(NAME).write_bytes(b"objective:\n  metric: \xff\n")
    assert [str(p) for p in validate_config(Path(NAME))] == [f"{NAME}: not UTF-8 text (byte 21)"]


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"])
def test_empty_configuration(text: str) -> None:
    assert lines(text) == [
        f"{NAME}: empty configuration "
        "(write some settings, or run `ci-autoresearch init --force` for a commented starter)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "benchmark:\n  command: a\n setup: b\n",
            "invalid YAML at line 3, column 2: expected <block end>, but found '<block mapping start>' "
            "(check the indentation of this line and the lines above)",
        ),
        (
            "benchmark: [\n",
            "invalid YAML at line 2, column 1: expected the node content, but found '<stream end>'",
        ),
        (
            "benchmark:\n\tcommand: x\n",
            "invalid YAML at line 2, column 1: found character '\\t' that cannot start any token "
            "(indent with spaces, not tabs)",
        ),
        (
            "a: 1\n---\nb: 2\n",
            "invalid YAML at line 2, column 1: expected a single document in the stream, but found another "
            "document",
        ),
        (
            "x: !!python/name:os.system\n",
            "invalid YAML at line 1, column 4: could not determine a constructor "
            "for the tag 'tag:yaml.org,2002:python/name:os.system'",
        ),
    ],
)
def test_yaml_syntax_errors(text: str, expected: str) -> None:
    assert lines(text) == [f"{NAME}: {expected}"]


def test_yaml_error_is_the_only_problem() -> None:
    assert len(lines("benchmark:\n  comand: a\n  - x\n")) == 1


def test_duplicate_keys() -> None:
    text = """\
        benchmark:
          command: a
          timeout_seconds: 5
          command: b
        decision: {seed: 1, seed: 2}
        """
    assert lines(text) == [
        f"{NAME}: benchmark.command: duplicate key (first on line 2, again on line 4)",
        f"{NAME}: decision.seed: duplicate key (first on line 5, again on line 5)",
    ]


def test_recursive_alias() -> None:
    assert lines("a: &x [*x]\n") == [f"{NAME}: a[0]: refers to itself (a recursive YAML alias)"]


def test_alias_bomb_is_refused() -> None:
    text = 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]\n'
    for level in "bcdef":
        previous = chr(ord(level) - 1)
        text += f"{level}: &{level} [{', '.join(['*' + previous] * 10)}]\n"
    assert lines(text) == [
        f"{NAME}: too many values (more than 100000, aliases counted each time they are used)"
    ]


@pytest.mark.parametrize("value", [".nan", ".inf", "-.Inf"])
def test_non_finite_numbers(value: str) -> None:
    assert lines(f"decision:\n  min_effect: {value}\n") == [
        f"{NAME}: decision.min_effect: expected a finite number, got {value}"
    ]


def test_top_level_must_be_a_mapping() -> None:
    assert lines("- objective\n") == [f"{NAME}: expected a mapping, got a list"]
    assert lines("just text\n") == [f"{NAME}: expected a mapping, got 'just text'"]


# --- problems: the schema in plain words ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "decision:\n  confidence: 95\n",
            "decision.confidence: expected a number between 0.5 and 1 (exclusive), got 95",
        ),
        ("decision:\n  min_effect: 1\n", "decision.min_effect: expected a number >= 0 and < 1, got 1"),
        (
            "decision:\n  max_rounds: 1\n",
            "decision.max_rounds: expected an integer between 2 and 1000, got 1",
        ),
        (
            "decision:\n  seed: -1\n",
            "decision.seed: expected an integer between 0 and 9007199254740991, got -1",
        ),
        (
            "benchmark:\n  timeout_seconds: 0\n",
            "benchmark.timeout_seconds: expected a number > 0 and <= 604800, got 0",
        ),
        (
            "benchmark:\n  timeout_seconds: '10'\n",
            "benchmark.timeout_seconds: expected a number > 0 and <= 604800, got '10'",
        ),
        (
            "metrics:\n  collection:\n    measurement_runs: 2.5\n",
            "metrics.collection.measurement_runs: expected an integer between 2 and 1000, got 2.5",
        ),
        (
            "metrics:\n  collection:\n    warmup_runs: true\n",
            "metrics.collection.warmup_runs: expected an integer between 0 and 1000, got true",
        ),
        (
            "objective:\n  direction: minimise\n",
            "objective.direction: expected 'minimize' or 'maximize', got 'minimise' (did you mean "
            "'minimize'?)",
        ),
        (
            "objective:\n  direction: MINIMIZE\n",
            "objective.direction: expected 'minimize' or 'maximize', got 'MINIMIZE' (did you mean "
            "'minimize'?)",
        ),
        (
            "decision:\n  order: alternate\n",
            "decision.order: expected 'abba' or 'random', got 'alternate'",
        ),
        (
            "github:\n  status: checks\n",
            "github.status: expected 'status', 'check-run' or 'none', got 'checks' (did you mean "
            "'check-run'?)",
        ),
        ("benchmark:\n  command: [a, b]\n", "benchmark.command: expected a non-empty string, got a list"),
        ("benchmark:\n  command: ''\n", "benchmark.command: expected a non-empty string, got ''"),
        (
            "benchmark:\n  command: 42\n",
            "benchmark.command: expected a non-empty string, got 42 (put the value in quotes to keep it as "
            "text)",
        ),
        (
            "github:\n  base_branch: 2024-01-01\n",
            "github.base_branch: expected a non-empty string, got 2024-01-01 (a date) "
            "(put the value in quotes to keep it as text)",
        ),
        ("gate: true\n", "gate: expected a mapping, got true"),
        ("guards: {metric: x}\n", "guards: expected a list of mappings, got a mapping"),
        (
            "gate:\n  protected_paths: tests/*\n",
            "gate.protected_paths: expected a list of strings, got 'tests/*'",
        ),
        (
            "checkpoint:\n  enabled: yes please\n",
            "checkpoint.enabled: expected true or false, got 'yes please'",
        ),
        ("version: 2\n", "version: expected 1, got 2"),
        (
            "candidates:\n  branches: 3\n",
            "candidates.branches: expected a non-empty string or a list of strings, got 3 "
            "(put the value in quotes to keep it as text)",
        ),
        (
            "candidates:\n  branches: ['a/*', '']\n",
            "candidates.branches[1]: expected a non-empty string, got ''",
        ),
        (
            "benchmark:\n  env:\n    DEBUG: yes\n",
            "benchmark.env.DEBUG: expected a string or a number, got true (put the value in quotes to keep "
            "it as text)",
        ),
        (
            "benchmark:\n  env:\n    MY-VAR: x\n",
            "benchmark.env.MY-VAR: expected an environment variable name "
            "(letters, digits and '_', not starting with a digit), got 'MY-VAR'",
        ),
        (
            "benchmark:\n  env: [A=1]\n",
            "benchmark.env: expected a mapping, got a list",
        ),
        (
            "objective:\n  metric: latency p99\n",
            "objective.metric: expected a metric name (letters, digits, '_', '.', '-'; not starting with a "
            "digit, "
            "'.' or '-'), got 'latency p99'",
        ),
        (
            "github:\n  baseline_artifact: a/b\n",
            'github.baseline_artifact: expected an artifact name (none of ":<>|*?\\/ or line breaks), got '
            "'a/b'",
        ),
        (
            "search_space:\n  parameters: []\n",
            "search_space.parameters: expected a non-empty list of mappings, got an empty list",
        ),
        (
            "search_space:\n  branch_prefix: my search/\n  parameters: [{name: n, file: f, pattern: '(x)', "
            "values: [1]}]\n",
            "search_space.branch_prefix: expected a branch name prefix (no spaces or any of ~^:?*[\\), got "
            "'my search/'",
        ),
        (
            "search_space:\n  parameters:\n    - {name: p, file: f, pattern: '(x)', values: [true]}\n",
            "search_space.parameters[0].values[0]: expected a string or a number, got true "
            "(put the value in quotes to keep it as text)",
        ),
        (
            "propose:\n  command: ./agent\n  pass_env: [API KEY]\n",
            "propose.pass_env[0]: expected an environment variable name "
            "(letters, digits and '_', not starting with a digit), got 'API KEY'",
        ),
    ],
)
def test_schema_messages(text: str, expected: str) -> None:
    assert lines(text) == [f"{NAME}: {expected}"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "guards:\n  - max_regression: 0.1\n",
            "guards[0].metric: missing; expected a metric name "
            "(letters, digits, '_', '.', '-'; not starting with a digit, '.' or '-')",
        ),
        ("propose:\n  timeout_seconds: 3\n", "propose.command: missing; expected a non-empty string"),
        (
            "search_space:\n  order: grid\n",
            "search_space.parameters: missing; expected a non-empty list of mappings",
        ),
        (
            "search_space:\n  parameters:\n    - {name: p, pattern: '(x)', values: [1]}\n",
            "search_space.parameters[0].file: missing; expected a non-empty string",
        ),
        (
            "hypotheses:\n  - expected_gain: 0.1\n",
            "hypotheses[0].branch: missing; expected a non-empty string",
        ),
    ],
)
def test_required_keys(text: str, expected: str) -> None:
    assert lines(text) == [f"{NAME}: {expected}"]


def test_list_indices_in_key_paths() -> None:
    text = """\
        benchmark:
          metrics:
            - name: a
            - name: b
              source: stdot
        """
    problems = validate_config(write(text))
    assert problems == [
        Problem(
            file=NAME,
            key="benchmark.metrics[1].source",
            message="expected 'wall_time', 'cpu_time', 'max_rss', 'stdout', 'json', 'pytest-benchmark', "
            "'hyperfine', 'google-benchmark', 'github-action-benchmark' or 'instructions', got 'stdot'",
            hint="did you mean 'stdout'?",
        )
    ]


# --- problems: unknown keys -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("benchmark:\n  comand: x\n", "benchmark.comand: unknown key 'comand' (did you mean 'command'?)"),
        ("benchmarks:\n  command: x\n", "benchmarks: unknown key 'benchmarks' (did you mean 'benchmark'?)"),
        (
            "github:\n  labels:\n    improvd: x\n",
            "github.labels.improvd: unknown key 'improvd' (did you mean 'improved'?)",
        ),
        (
            "benchmark:\n  metrics:\n    - name: a\n      sourc: json\n",
            "benchmark.metrics[0].sourc: unknown key 'sourc' (did you mean 'source'?)",
        ),
        (
            "metrics:\n  warmup_runs: 3\n",
            "metrics.warmup_runs: unknown key 'warmup_runs' ('warmup_runs' belongs under metrics.collection)",
        ),
        (
            "benchmark:\n  guards: []\n",
            "benchmark.guards: unknown key 'guards' ('guards' belongs under the top level)",
        ),
        (
            "gate:\n  pattern: x\n",
            "gate.pattern: unknown key 'pattern' "
            "('pattern' belongs under benchmark.metrics[i] or search_space.parameters[i])",
        ),
        (
            "checkpoint:\n  xyz: 1\n",
            "checkpoint.xyz: unknown key 'xyz' (allowed here: enabled, interval_minutes, path, remote)",
        ),
        (
            "on: push\n",
            "true: unknown key true "
            "(YAML reads unquoted on/off/yes/no/true/false as true or false; put the key in quotes)",
        ),
    ],
)
def test_unknown_keys(text: str, expected: str) -> None:
    assert lines(text) == [f"{NAME}: {expected}"]


def test_unknown_key_problem_fields() -> None:
    (problem,) = validate_config(write("benchmark:\n  comand: x\n"))
    assert problem == Problem(
        file=NAME, key="benchmark.comand", message="unknown key 'comand'", hint="did you mean 'command'?"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.key = "x"  # type: ignore[misc]


# --- problems: checks beyond the schema ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "benchmark:\n  metrics:\n    - {name: a, pattern: 'x(\\d+) (\\d+)'}\n",
            "benchmark.metrics[0].pattern: expected a regular expression with exactly one group (the value), "
            "got 2 groups (write other groups as (?:...))",
        ),
        (
            "benchmark:\n  metrics:\n    - {name: a, pattern: 'took \\d+'}\n",
            "benchmark.metrics[0].pattern: expected a regular expression with exactly one group (the value), "
            "got 0 groups (write other groups as (?:...))",
        ),
        (
            "benchmark:\n  metrics:\n    - {name: a, pattern: 'x(('}\n",
            "benchmark.metrics[0].pattern: not a valid regular expression: "
            "missing ), unterminated subpattern at position 2",
        ),
        (
            "benchmark:\n  metrics:\n    - {name: a, source: hyperfine}\n",
            "benchmark.metrics[0].file: required with source 'hyperfine' (the file your benchmark writes)",
        ),
        (
            "benchmark:\n  metrics:\n    - {name: a, source: json, file: out.json}\n",
            "benchmark.metrics[0].path: required with source 'json' (a dotted path to the number, e.g. "
            "a.b.0.c)",
        ),
        (
            "benchmark:\n  metrics:\n    - {name: a, source: json, file: o.json, path: a, pattern: '(x)'}\n",
            "benchmark.metrics[0].pattern: not used with source 'json' (pattern is used with source "
            "'stdout')",
        ),
        (
            "benchmark:\n  metrics:\n    - {name: a, file: o.json}\n",
            "benchmark.metrics[0].file: not used with source 'stdout' (file is used with source 'json', "
            "'pytest-benchmark', 'hyperfine', 'google-benchmark' or 'github-action-benchmark')",
        ),
        (
            "benchmark:\n  metrics:\n    - {name: a, tool: cachegrind}\n",
            "benchmark.metrics[0].tool: not used with source 'stdout' (tool is used with source "
            "'instructions')",
        ),
        (
            "benchmark:\n  metrics:\n    - {name: a, source: hyperfine, file: h.json, field: meen}\n",
            "benchmark.metrics[0].field: expected 'median', 'mean', 'min', 'max', 'stddev', 'user' or "
            "'system' "
            "with source 'hyperfine', got 'meen' (did you mean 'mean'?)",
        ),
        (
            "benchmark:\n  metrics:\n    - {name: a}\n    - {name: a}\n",
            "benchmark.metrics[1].name: duplicate metric name 'a' (also benchmark.metrics[0])",
        ),
        (
            "benchmark:\n  metrics:\n    - {name: wall_time, source: stdout}\n",
            "benchmark.metrics[0].name: 'wall_time' is a built-in metric, measured with source 'wall_time' "
            "(give your metric another name)",
        ),
        (
            "objective: {metric: tp, direction: minimize}\nbenchmark:\n  metrics:\n"
            "    - {name: tp, direction: maximize}\n",
            "benchmark.metrics[0].direction: 'maximize' contradicts objective.direction 'minimize'",
        ),
        (
            "objective:\n  metric: instructions\n",
            "objective.metric: 'instructions' must be declared in benchmark.metrics "
            "(add {name: instructions, source: instructions}; it runs the benchmark under valgrind)",
        ),
        (
            "guards:\n  - metric: wall_time\n",
            "guards[0].metric: 'wall_time' is the objective (a guard watches another metric)",
        ),
        (
            "guards:\n  - metric: max_rss\n  - metric: max_rss\n",
            "guards[1].metric: duplicate guard for 'max_rss' (also guards[0])",
        ),
        (
            "decision:\n  max_rounds: 5\n",
            "decision.max_rounds: expected at least metrics.collection.measurement_runs (10), got 5",
        ),
        (
            "branching:\n  max_branches: 3\n",
            "branching.max_branches: expected 1 with strategy 'sequential', got 3 "
            "(set branching.strategy: parallel to evaluate several candidates per round)",
        ),
        (
            "hypotheses:\n  - branch: a\n  - branch: a\n",
            "hypotheses[1].branch: duplicate branch 'a' (also hypotheses[0])",
        ),
    ],
)
def test_semantic_problems(text: str, expected: str) -> None:
    assert lines(text) == [f"{NAME}: {expected}"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "benchmark:\n  command: ./bench\n  callable: 'pkg.mod:run'\n",
            "benchmark.callable: give either benchmark.command (a process per run) or worker mode "
            "(benchmark.callable or benchmark.worker.command), not both",
        ),
        (
            "benchmark:\n  command: ./bench\n  worker: {command: ./worker}\n",
            "benchmark.worker: give either benchmark.command (a process per run) or worker mode "
            "(benchmark.callable or benchmark.worker.command), not both",
        ),
        (
            "benchmark:\n  callable: 'pkg.mod:run'\n  worker: {command: ./worker}\n",
            "benchmark.worker.command: give either benchmark.callable (the Python adapter) or "
            "benchmark.worker.command, not both",
        ),
        (
            "benchmark:\n  command: ./bench\n  args: [1, 2]\n",
            "benchmark.args: used with benchmark.callable (add benchmark.callable)",
        ),
        (
            "benchmark:\n  command: ./bench\n  args_from: 'pkg.mod:make'\n",
            "benchmark.args_from: used with benchmark.callable (add benchmark.callable)",
        ),
        (
            "benchmark:\n  callable: 'pkg.mod:run'\n  args: [1]\n  args_from: 'pkg.mod:make'\n",
            "benchmark.args_from: give either args or args_from, not both",
        ),
        (
            "benchmark:\n  command: ./bench\n  worker: {blocks: 5}\n",
            "benchmark.worker: worker settings need benchmark.callable or benchmark.worker.command",
        ),
        (
            "benchmark:\n  worker: {command: ./worker, sides: together}\n",
            "benchmark.worker.sides: 'together' needs the Python adapter (benchmark.callable): a worker of "
            "your own runs one side",
        ),
        (
            "objective: {metric: score}\nbenchmark:\n  callable: 'pkg.mod:run'\n",
            "objective.metric: worker mode measures 'wall_time', 'cpu_time' or 'max_rss', not 'score' "
            "(use benchmark.command (a process per run) for other metrics)",
        ),
        (
            "guards:\n  - metric: max_rss\n"
            "benchmark:\n  callable: 'pkg.mod:run'\n  worker: {sides: together}\n",
            "guards[0].metric: worker mode measures 'wall_time' or 'cpu_time', not 'max_rss' "
            "(use benchmark.command (a process per run) for other metrics)",
        ),
        (
            "benchmark:\n  worker: {command: ./worker}\n  metrics:\n    - {name: ops}\n",
            "benchmark.metrics[0].name: worker mode measures 'wall_time', 'cpu_time' or 'max_rss', not 'ops' "
            "(use benchmark.command (a process per run) for other metrics)",
        ),
    ],
)
def test_worker_mode_problems(text: str, expected: str) -> None:
    assert lines(text) == [f"{NAME}: {expected}"]


def test_worker_mode_configurations_that_are_fine() -> None:
    adapter = load(
        "objective: {metric: cpu_time}\nguards:\n  - metric: wall_time\n"
        "benchmark:\n  callable: 'pkg.mod:run'\n  args: {n: 3}\n  worker: {sides: together, blocks: 5}\n"
    )
    assert adapter.benchmark.mode == "worker"
    assert adapter.benchmark.args == {"n": 3}
    assert adapter.benchmark.worker is not None and adapter.benchmark.worker.sides == "together"
    own = load("benchmark:\n  worker: {command: ./worker}\n  metrics:\n    - {name: max_rss}\n")
    assert own.benchmark.mode == "worker"
    assert own.benchmark.worker is not None and own.benchmark.worker.command == "./worker"


def test_worker_mode_has_its_own_round_limits_unless_one_is_given() -> None:
    """Worker rounds are short: 1000 rounds within 60 s by default; a limit given keeps the other
    one's process-mode default (none for the time); process mode is unchanged."""
    worker = "benchmark:\n  callable: 'pkg.mod:run'\n"
    d = load(worker).decision
    assert (d.max_rounds, d.max_seconds) == (1000, 60.0)
    d = load(worker + "decision: {max_rounds: 50}\n").decision
    assert (d.max_rounds, d.max_seconds) == (50, None)
    d = load(worker + "decision: {max_seconds: 20}\n").decision
    assert (d.max_rounds, d.max_seconds) == (30, 20.0)
    d = load(worker + "decision: {max_seconds: null}\n").decision
    assert (d.max_rounds, d.max_seconds) == (30, None)
    d = load("benchmark:\n  command: ./bench\n").decision
    assert (d.max_rounds, d.max_seconds) == (30, None)
    w = load(worker + "  worker: {pin: false}\n").benchmark.worker_settings
    assert (w.pin, w.blocks, w.block_seconds) == (False, 1, 0.02)
    assert lines(worker + "decision: {max_seconds: 0}\n") == [
        f"{NAME}: decision.max_seconds: expected a number > 0, got 0"
    ]


def test_declared_instructions_and_stdout_fallback_are_fine() -> None:
    assert (
        lines("objective: {metric: instructions}\nbenchmark:\n  metrics:\n    - name: instructions\n") == []
    )
    assert lines("objective: {metric: val_bpb, direction: minimize}\nguards:\n  - metric: tokens\n") == []
    assert lines("metrics: {collection: {measurement_runs: 5}}\ndecision: {max_rounds: 5}\n") == []
    assert lines("benchmark:\n  metrics:\n    - {name: a, pattern: '(?:took|spent) (\\d+)'}\n") == []


SEARCH = "search_space:\n  parameters:\n"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            "    - {name: n, file: f, pattern: 'N = \\d+', values: [1]}\n",
            "search_space.parameters[0].pattern: expected a regular expression with exactly one group "
            "(the text replaced by each value), got 0 groups (write other groups as (?:...))",
        ),
        (
            "    - {name: n, file: f, pattern: '(x)'}\n",
            "search_space.parameters[0]: expected values or range, got neither "
            "(e.g. values: [1, 2, 4] or range: {start: 1, stop: 10, step: 1})",
        ),
        (
            "    - {name: n, file: f, pattern: '(x)', values: [1], range: {start: 1, stop: 2}}\n",
            "search_space.parameters[0].range: give either values or range, not both",
        ),
        (
            "    - {name: n, file: f, pattern: '(x)', range: {start: 5, stop: 5}}\n",
            "search_space.parameters[0].range: expected at least one value, got none from 5 to 5 (excluded) "
            "by 1",
        ),
        (
            "    - {name: n, file: f, pattern: '(x)', range: {start: 0, stop: 1, step: 0}}\n",
            "search_space.parameters[0].range.step: expected a number other than 0, got 0",
        ),
        (
            "    - {name: n, file: f, pattern: '(x)', range: {start: 0, stop: 1000000}}\n",
            "search_space.parameters[0].range: gives 1000000 values, expected at most 10000",
        ),
        (
            "    - {name: n, file: f, pattern: '(x)', range: {stop: 3}}\n",
            "search_space.parameters[0].range.start: missing; expected a number",
        ),
        (
            "    - {name: n, file: f, pattern: '(x)', values: [1, 2, 1]}\n",
            "search_space.parameters[0].values[2]: duplicate value '1'",
        ),
        (
            "    - {name: n, file: f, pattern: '(x)', values: [1]}\n    - {name: n, file: g, pattern: "
            "'(y)', values: [2]}\n",
            "search_space.parameters[1].name: duplicate parameter 'n' (also search_space.parameters[0])",
        ),
    ],
)
def test_search_space_problems(params: str, expected: str) -> None:
    assert lines(SEARCH + params) == [f"{NAME}: {expected}"]


# --- every problem, in document order; load_config raises the first ----------------------------------


MANY = """\
decision:
  confidence: 95
benchmark:
  comand: x
  metrics:
    - name: a
      source: stdot
objective:
  direction: up
"""


def test_validate_reports_every_problem_in_document_order() -> None:
    assert lines(MANY) == [
        f"{NAME}: decision.confidence: expected a number between 0.5 and 1 (exclusive), got 95",
        f"{NAME}: benchmark.comand: unknown key 'comand' (did you mean 'command'?)",
        f"{NAME}: benchmark.metrics[0].source: expected 'wall_time', 'cpu_time', 'max_rss', 'stdout', "
        "'json', "
        "'pytest-benchmark', 'hyperfine', 'google-benchmark', 'github-action-benchmark' or 'instructions', "
        "got 'stdot' (did you mean 'stdout'?)",
        f"{NAME}: objective.direction: expected 'minimize' or 'maximize', got 'up'",
    ]


def test_load_config_raises_the_first_problem() -> None:
    path = write(MANY)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert str(err) == f"{NAME}: decision.confidence: expected a number between 0.5 and 1 (exclusive), got 95"
    assert (err.file, err.key, err.hint) == (NAME, "decision.confidence", None)
    assert err.exit_code == 2


def test_load_config_error_with_hint() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write("benchmark:\n  comand: x\n"))
    assert info.value.hint == "did you mean 'command'?"
    assert str(info.value) == f"{NAME}: benchmark.comand: unknown key 'comand' (did you mean 'command'?)"


def test_load_config_missing_file() -> None:
    with pytest.raises(
        ConfigError, match=r"^\.autoresearch\.yml: no configuration found \(run `ci-autoresearch init`"
    ):
        load_config(Path(NAME))


def test_problem_str_without_key_or_hint() -> None:
    assert str(Problem(file="c.yml", key=None, message="empty configuration")) == "c.yml: empty configuration"
    assert str(Problem(file="c.yml", key="a.b", message="m", hint="h")) == "c.yml: a.b: m (h)"


def test_hash_covers_only_what_changes_a_measurement(tmp_path: Path) -> None:
    from ci_autoresearch.config import load_config

    def hash_of(text: str) -> str:
        path = tmp_path / "c.yml"
        path.write_text(text)
        return load_config(path).hash

    base = "objective: {metric: score}\nbenchmark: {command: python bench.py}\n"
    same = hash_of(base)
    assert hash_of(base + "github: {close_discarded: true}\nconstraints: {max_iterations: 3}\n") == same
    assert (
        hash_of(base.replace("objective: {metric: score}", "objective: {metric: score, target: 3}")) == same
    )
    assert hash_of(base.replace("bench.py", "bench2.py")) != same
    assert hash_of(base + "decision: {min_effect: 0.05}\n") != same


def test_pass_env_never_passes_a_token(tmp_path: Path) -> None:
    path = tmp_path / ".autoresearch.yml"
    path.write_text("benchmark:\n  command: ./b\n  pass_env: [JAVA_OPTS, 'MY_*', GITHUB_TOKEN]\n")
    [problem] = validate_config(path)
    assert str(problem).startswith(f"{path}: benchmark.pass_env[2]: 'GITHUB_TOKEN' is never passed")
    path.write_text("benchmark:\n  command: ./b\n  pass_env: [JAVA_OPTS, 'MY_*']\n")
    assert load_config(path).benchmark.pass_env == ("JAVA_OPTS", "MY_*")


# --- one setting under two names; settings that belong together ----------------------------------------


def test_candidates_label_feeds_the_github_candidate_label() -> None:
    config = load("candidates: {label: 'perf:try'}\n")
    assert config.github.labels.candidate == "perf:try" == config.candidates.label
    config = load("github: {labels: {candidate: 'perf:gh'}}\n")
    assert config.github.labels.candidate == "perf:gh" == config.candidates.label
    config = load("candidates: {label: 'same'}\ngithub: {labels: {candidate: 'same'}}\n")
    assert config.github.labels.candidate == "same"
    assert load("version: 1\n").github.labels.candidate == "autoresearch:candidate"


def test_two_different_candidate_labels_are_a_config_error() -> None:
    assert lines("candidates: {label: a}\ngithub: {labels: {candidate: b}}\n") == [
        f"{NAME}: github.labels.candidate: 'b' differs from candidates.label 'a'; they are one setting "
        "(give the candidate label once, in candidates.label)"
    ]


def test_benchmark_from_and_its_files() -> None:
    config = load("benchmark: {command: python b.py, from: main, files: [b.py, 'bench/**/*.py']}\n")
    assert (config.benchmark.source, config.benchmark.files) == ("main", ("b.py", "bench/**/*.py"))
    assert load("benchmark: {command: x}\n").benchmark.source is None
    assert lines("benchmark: {from: candidate}\n") == [
        f"{NAME}: benchmark.files: required with benchmark.from: the benchmark's own files, as git "
        "pathspec globs (e.g. files: [bench.py, benchmarks/])"
    ]
    assert lines("benchmark: {files: [b.py]}\n") == [
        f"{NAME}: benchmark.files: has no effect without benchmark.from (set benchmark.from: candidate, "
        "base, working-tree or a git ref)"
    ]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("/bench.py", "expected a path relative to the repository root, got '/bench.py'"),
        ("../other/x", "expected a path relative to the repository root, got '../other/x'"),
        (":(exclude)x", "expected a plain glob (git pathspec magic is added by the tool), got ':(exclude)x'"),
    ],
)
def test_protected_paths_are_repository_relative_globs(pattern: str, message: str) -> None:
    assert lines(f"gate: {{protected_paths: [ok.py, '{pattern}']}}\n") == [
        f"{NAME}: gate.protected_paths[1]: {message}"
    ]
