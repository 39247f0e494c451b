"""Versioned JSON documents: result@1, comparison@1, evaluation@1, bundle@1, plan@1.

Every read is validated against the shipped schema (``schemas/documents.schema.json``) and size-limited,
because an artifact may come from an untrusted job. Writes are atomic (temporary file, then rename).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from ci_autoresearch import __version__, bounds
from ci_autoresearch.decide.stats import summary
from ci_autoresearch.errors import ArtifactError
from ci_autoresearch.model import (
    BenchmarkFiles,
    Comparison,
    Environment,
    Estimate,
    Evaluation,
    GateResult,
    Measurement,
    MetricComparison,
    MetricSamples,
    RefInfo,
    Resolution,
    Result,
)
from ci_autoresearch.schemacheck import Check, compile_schema

Kind = Literal["result", "comparison", "evaluation", "bundle", "plan"]
SCHEMA_IDS: Mapping[Kind, str] = {
    "result": "ci-autoresearch/result@1",
    "comparison": "ci-autoresearch/comparison@1",
    "evaluation": "ci-autoresearch/evaluation@1",
    "bundle": "ci-autoresearch/bundle@1",
    "plan": "ci-autoresearch/plan@1",
}
MAX_BYTES = 32 * 1024 * 1024


@cache
def _schema() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        resources.files("ci_autoresearch").joinpath("schemas/documents.schema.json").read_text()
    )
    return doc


@cache
def _check(kind: Kind) -> Check:
    return compile_schema(_schema(), f"#/$defs/{kind}")


def validate(doc: Any, kind: Kind, *, source: str) -> None:
    """Raise :class:`ArtifactError` naming ``source``, the key and what was expected.

    The schema check is compiled (:mod:`ci_autoresearch.schemacheck`); jsonschema, slow but precise in
    its messages, runs only to explain a document that failed it.
    """
    if _check(kind)(doc):
        return
    import jsonschema  # noqa: PLC0415 - only needed to word an error

    schema = {**_schema(), "$ref": f"#/$defs/{kind}"}
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    # the deepest error names the key ("confidence", not "unevaluated properties" at the top level)
    deepest = max((len(e.absolute_path) for e in errors), default=0)
    err = (
        jsonschema.exceptions.best_match([e for e in errors if len(e.absolute_path) == deepest])
        if errors
        else None
    )
    if err is None:  # the compiled check is stricter than jsonschema here: still not a valid document
        raise ArtifactError(f"{source}: (top level): not a valid {SCHEMA_IDS[kind]} document")
    key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    raise ArtifactError(f"{source}: {key}: not a valid {SCHEMA_IDS[kind]} document ({err.message[:200]})")


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def _env_json(e: Environment) -> dict[str, Any]:
    return {
        "cpu_model": e.cpu_model,
        "cores": e.cores,
        "os": e.os,
        "python": e.python,
        "machine": e.machine,
        "runner_name": e.runner_name,
    }


def _benchmark_json(b: BenchmarkFiles | None) -> dict[str, Any]:
    """``{"benchmark": {from, sha, files}}`` when the benchmark came from one source, else nothing."""
    if b is None:
        return {}
    return {"benchmark": {"from": b.source, "sha": b.sha, "files": list(b.patterns)}}


def _benchmark_from_json(d: Mapping[str, Any]) -> BenchmarkFiles | None:
    b = d.get("benchmark")
    if b is None:
        return None
    return BenchmarkFiles(source=b["from"], sha=b["sha"], patterns=tuple(b["files"]))


def env_from_json(d: Mapping[str, Any]) -> Environment:
    return Environment(
        cpu_model=d["cpu_model"],
        cores=d["cores"],
        os=d["os"],
        python=d["python"],
        machine=d["machine"],
        runner_name=d["runner_name"],
    )


# --- result ------------------------------------------------------------------------------------------


def result_to_json(r: Result) -> dict[str, Any]:
    return {
        "schema": SCHEMA_IDS["result"],
        "tool_version": __version__,
        "ref": r.ref.ref,
        "sha": r.ref.sha,
        "dirty": r.dirty,
        "config_hash": r.config_hash,
        "environment": _env_json(r.environment),
        "metrics": {
            name: {
                "unit": m.unit,
                "direction": m.direction,
                "samples": list(m.samples),
                "summary": summary(m.samples),
            }
            for name, m in r.metrics.items()
        },
        "runs": r.runs,
        "warmup_runs": r.warmup_runs,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "error": r.error,
        **_benchmark_json(r.benchmark),
    }


def result_from_json(d: Mapping[str, Any]) -> Result:
    return Result(
        ref=RefInfo(ref=d["ref"], sha=d["sha"]),
        dirty=d["dirty"],
        config_hash=d["config_hash"],
        environment=env_from_json(d["environment"]),
        metrics={
            name: MetricSamples(
                name=name, unit=m["unit"], direction=m["direction"], samples=tuple(m["samples"])
            )
            for name, m in d["metrics"].items()
        },
        runs=d["runs"],
        warmup_runs=d["warmup_runs"],
        started_at=d["started_at"],
        finished_at=d["finished_at"],
        error=d["error"],
        benchmark=_benchmark_from_json(d),
    )


# --- comparison --------------------------------------------------------------------------------------


def _median(xs: tuple[float, ...]) -> float | None:
    return summary(xs)["median"] if xs else None


def _metric_json(m: MetricComparison) -> dict[str, Any]:
    est = m.estimate
    return {
        "role": m.role,
        "unit": m.unit,
        "direction": m.direction,
        "baseline": _median(m.baseline),
        "candidate": _median(m.candidate),
        "delta": _finite(est.delta) if est else None,
        "ci": [_finite(est.ci_delta[0]), _finite(est.ci_delta[1])] if est else None,
        "p_value": _finite(est.p_value) if est else None,
        "verdict": m.verdict,
        "lean": m.lean,
        "max_regression": m.max_regression,
        "samples": {"baseline": list(m.baseline), "candidate": list(m.candidate)},
    }


def _gate_json(g: GateResult | None) -> dict[str, Any] | None:
    if g is None:
        return None
    return {
        "command": g.command,
        "passed": g.passed,
        "returncode": g.returncode,
        "seconds": round(g.seconds, 3),
        "log": g.log,
        "protected_paths_touched": list(g.protected_paths_touched),
        "reason": g.reason,
    }


def comparison_body(c: Comparison) -> dict[str, Any]:
    """The fields comparison@1 and evaluation@1 share."""
    guards = [
        {
            "metric": m.name,
            "max_regression": m.max_regression or 0.0,
            "delta": _finite(m.estimate.delta) if m.estimate else None,
            "ok": m.verdict != "broken",
        }
        for m in c.metrics.values()
        if m.role == "guard"
    ]
    return {
        "baseline": {"ref": c.baseline.ref, "sha": c.baseline.sha},
        "candidate": {"ref": c.candidate.ref, "sha": c.candidate.sha},
        "objective": c.objective,
        "direction": c.direction,
        "verdict": c.verdict,
        "reason": c.reason,
        "metrics": {name: _metric_json(m) for name, m in c.metrics.items()},
        "gate": _gate_json(c.gate),
        "guards": guards,
        "rounds": c.rounds,
        "paired": c.paired,
        "order": c.order,
        "seed": c.seed,
        "min_effect": c.min_effect,
        "confidence": c.confidence,
        "config_hash": c.config_hash,
        "environment": _env_json(c.environment),
        "offline": c.offline,
        "started_at": c.started_at,
        "finished_at": c.finished_at,
        "notes": list(c.notes),
        **_benchmark_json(c.benchmark),
        **({"measured_by": c.measured_by} if c.measured_by else {}),
        **({"failure_output": c.failure_output} if c.failure_output else {}),
        "lean": c.lean,
        "resolution": None if c.resolution is None else dict(c.resolution.__dict__),
        "measurement": None if c.measurement is None else dict(c.measurement.__dict__),
    }


def comparison_to_json(c: Comparison) -> dict[str, Any]:
    return {"schema": SCHEMA_IDS["comparison"], "tool_version": __version__, **comparison_body(c)}


def comparison_from_json(d: Mapping[str, Any]) -> Comparison:
    """Rebuild a :class:`Comparison` from a comparison@1 or evaluation@1 document."""
    metrics: dict[str, MetricComparison] = {}
    for name, m in d["metrics"].items():
        est = None
        if m["delta"] is not None and m["ci"] is not None:
            low, high = m["ci"]
            est = Estimate(
                ratio=1.0 + m["delta"],
                ci_low=0.0 if low is None else 1.0 + low,
                ci_high=math.inf if high is None else 1.0 + high,
                p_value=m["p_value"] if m["p_value"] is not None else 1.0,
                n=min(len(m["samples"]["baseline"]), len(m["samples"]["candidate"])),
                confidence=d["confidence"],
                paired=d["paired"],
            )
        metrics[name] = MetricComparison(
            name=name,
            unit=m["unit"],
            direction=m["direction"],
            role=m["role"],
            baseline=tuple(m["samples"]["baseline"]),
            candidate=tuple(m["samples"]["candidate"]),
            estimate=est,
            verdict=m["verdict"],
            max_regression=m.get("max_regression"),
            lean=m.get("lean"),
        )
    g = d["gate"]
    gate = (
        None
        if g is None
        else GateResult(
            command=g["command"],
            passed=g["passed"],
            returncode=g["returncode"],
            seconds=g["seconds"],
            log=g.get("log"),
            protected_paths_touched=tuple(g["protected_paths_touched"]),
            reason=g["reason"],
        )
    )
    return Comparison(
        baseline=RefInfo(**d["baseline"]),
        candidate=RefInfo(**d["candidate"]),
        objective=d["objective"],
        direction=d["direction"],
        verdict=d["verdict"],
        reason=d["reason"],
        metrics=metrics,
        gate=gate,
        rounds=d["rounds"],
        paired=d["paired"],
        order=d["order"],
        seed=d["seed"],
        min_effect=d["min_effect"],
        confidence=d["confidence"],
        config_hash=d["config_hash"],
        environment=env_from_json(d["environment"]),
        started_at=d["started_at"],
        finished_at=d["finished_at"],
        offline=d["offline"],
        notes=tuple(d["notes"]),
        benchmark=_benchmark_from_json(d),
        measured_by=d.get("measured_by", ""),
        failure_output=d.get("failure_output", ""),
        lean=d.get("lean"),
        resolution=None if d.get("resolution") is None else Resolution(**d["resolution"]),
        measurement=None if d.get("measurement") is None else Measurement(**d["measurement"]),
    )


# --- files -------------------------------------------------------------------------------------------


def dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=True, allow_nan=False) + "\n"


def write_json(path: Path, doc: Mapping[str, Any]) -> Path:
    """Write ``doc`` atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(dumps(doc))
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def parse_document(text: str, *, source: str) -> tuple[Kind, dict[str, Any]]:
    """Parse and validate any of the three documents; the ``schema`` field says which."""
    if len(text) > MAX_BYTES:
        raise ArtifactError(f"{source}: larger than {MAX_BYTES // (1024 * 1024)} MiB; refusing to read it")
    try:
        doc, extreme = bounds.loads_json_flagged(text)  # depth capped before parsing; NaN, 1e400, NUL refused
    except json.JSONDecodeError as err:
        raise ArtifactError(
            f"{source}: not JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    except bounds.BoundsError as err:
        raise ArtifactError(f"{source}: {err}") from None
    if not isinstance(doc, dict):
        raise ArtifactError(f"{source}: expected a JSON object")
    by_id = {v: k for k, v in SCHEMA_IDS.items()}
    schema = doc.get("schema")
    kind = by_id.get(schema) if isinstance(schema, str) else None
    if kind is None:
        raise ArtifactError(
            f"{source}: schema: expected one of {', '.join(SCHEMA_IDS.values())}, "
            f"got {str(doc.get('schema'))[:80]!r}"
        )
    validate(doc, kind, source=source)
    if extreme:  # else every number lies within 1e±130: inside every bound, nothing to check
        _check_numbers(doc, source=source)
    return kind, doc


def _check_numbers(doc: Mapping[str, Any], *, source: str) -> None:
    """Bounds the schema cannot say: every number within ±1e300, samples within the metric range and
    at most :data:`bounds.MAX_SAMPLES` per side (what the statistics judge in about a second)."""
    problem = bounds.first_problem({k: v for k, v in doc.items() if k != "metrics"}, limit=bounds.MAX_DERIVED)
    if problem:
        raise ArtifactError(f"{source}: {problem}")
    for name, metric in doc["metrics"].items():
        samples = metric["samples"]
        sides = samples.items() if isinstance(samples, dict) else [("", samples)]
        for side, values in sides:
            problem = bounds.samples_problem(values)
            if problem:
                at = f"metrics.{name}.samples" + (f".{side}" if side else "")
                raise ArtifactError(f"{source}: {at}{problem if problem[0] == '[' else ': ' + problem}")
        rest = {k: v for k, v in metric.items() if k != "samples"}
        problem = bounds.first_problem(rest, limit=bounds.MAX_DERIVED)
        if problem:
            raise ArtifactError(f"{source}: metrics.{name}.{problem}")


def read_document(path: Path, *, expect: Kind | None = None) -> dict[str, Any]:
    try:
        text = bounds.read_limited(path, MAX_BYTES).decode("utf-8")  # never /dev/zero or a FIFO
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such file") from None
    except bounds.BoundsError as err:
        raise ArtifactError(f"{path}: {err}; refusing to read it") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ArtifactError(f"{path}: cannot be read ({err})") from None
    kind, doc = parse_document(text, source=str(path))
    if expect and kind != expect:
        raise ArtifactError(f"{path}: schema: expected {SCHEMA_IDS[expect]}, got {SCHEMA_IDS[kind]}")
    return doc


def load_result(path: Path) -> Result:
    return result_from_json(read_document(path, expect="result"))


# --- evaluation --------------------------------------------------------------------------------------


def evaluation_to_json(ev: Evaluation) -> dict[str, Any]:
    return {
        "schema": SCHEMA_IDS["evaluation"],
        "tool_version": __version__,
        **comparison_body(ev.comparison),
        "decision": ev.decision,
        "decision_reason": ev.decision_reason,
        "iteration": ev.iteration,
        "key": ev.key,
        "source": ev.source,
        "candidate_head": ev.candidate_head,
        "objective_value": _finite(ev.objective_value),
        "measured_seconds": round(ev.measured_seconds, 3),
        "new_best": ev.new_best,
        "round": ev.round,
    }


def evaluation_from_json(d: Mapping[str, Any]) -> Evaluation:
    return Evaluation(
        comparison=comparison_from_json(d),
        decision=d["decision"],
        decision_reason=d["decision_reason"],
        iteration=d["iteration"],
        key=d["key"],
        source=d["source"],
        candidate_head=d["candidate_head"],
        objective_value=d["objective_value"],
        measured_seconds=d["measured_seconds"],
        new_best=d["new_best"],
        round=d["round"],
    )
