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
from ci_autoresearch.decide.stats import median_of, summary
from ci_autoresearch.errors import ArtifactError
from ci_autoresearch.jsonmap import Derived, JsonMap, Key, Shape
from ci_autoresearch.model import (
    BenchmarkFiles,
    Comparison,
    Estimate,
    Evaluation,
    GateResult,
    MetricComparison,
    MetricSamples,
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


def _metric_json(m: MetricComparison) -> dict[str, Any]:
    """A metric of comparison@1: medians, the effect and its interval as deltas, the samples."""
    est = m.estimate
    return {
        "role": m.role,
        "unit": m.unit,
        "direction": m.direction,
        "baseline": median_of(m.baseline),
        "candidate": median_of(m.candidate),
        "delta": _finite(est.delta) if est else None,
        "ci": [_finite(est.ci_delta[0]), _finite(est.ci_delta[1])] if est else None,
        "p_value": _finite(est.p_value) if est else None,
        "verdict": m.verdict,
        "lean": m.lean,
        "max_regression": m.max_regression,
        "samples": {"baseline": list(m.baseline), "candidate": list(m.candidate)},
    }


def _metric_from_json(
    name: str, m: Mapping[str, Any], *, confidence: float, paired: bool
) -> MetricComparison:
    est = None
    if m["delta"] is not None and m["ci"] is not None:
        low, high = m["ci"]
        est = Estimate(
            ratio=1.0 + m["delta"],
            ci_low=0.0 if low is None else 1.0 + low,
            ci_high=math.inf if high is None else 1.0 + high,
            p_value=m["p_value"] if m["p_value"] is not None else 1.0,
            n=min(len(m["samples"]["baseline"]), len(m["samples"]["candidate"])),
            confidence=confidence,
            paired=paired,
        )
    return MetricComparison(
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


def _guards_json(c: Comparison) -> list[dict[str, Any]]:
    return [
        {
            "metric": m.name,
            "max_regression": m.max_regression or 0.0,
            "delta": _finite(m.estimate.delta) if m.estimate else None,
            "ok": m.verdict != "broken",
        }
        for m in c.metrics.values()
        if m.role == "guard"
    ]


def _round3(x: float) -> float:
    return round(x, 3)


#: Where the documents differ from the dataclasses they hold (:mod:`ci_autoresearch.jsonmap`).
_JSON = JsonMap(
    {
        Result: Shape(keys=(Key(field="ref", flat=True), Key(field="benchmark", omit_empty=True))),
        MetricSamples: Shape(
            keys=(Key(field="name", map_key=True),),
            derived=(Derived(name="summary", after="samples", value=lambda m: summary(m.samples)),),
        ),
        BenchmarkFiles: Shape(keys=(Key(field="source", name="from"), Key(field="patterns", name="files"))),
        GateResult: Shape(keys=(Key(field="seconds", write=_round3),)),
        Comparison: Shape(
            keys=(
                Key(
                    field="metrics",
                    write=lambda ms: {name: _metric_json(m) for name, m in ms.items()},
                    read=lambda ms, d: {
                        name: _metric_from_json(name, m, confidence=d["confidence"], paired=d["paired"])
                        for name, m in ms.items()
                    },
                ),
                Key(field="benchmark", omit_empty=True),
                Key(field="measured_by", omit_empty=True),
                Key(field="failure_output", omit_empty=True),
            ),
            derived=(Derived(name="guards", after="gate", value=_guards_json),),
        ),
        Evaluation: Shape(
            keys=(
                Key(field="comparison", flat=True),
                Key(field="objective_value", write=_finite),
                Key(field="measured_seconds", write=_round3),
            )
        ),
    }
)


def _header(kind: Kind) -> dict[str, Any]:
    return {"schema": SCHEMA_IDS[kind], "tool_version": __version__}


def result_to_json(r: Result) -> dict[str, Any]:
    return {**_header("result"), **_JSON.to_json(r)}


def result_from_json(d: Mapping[str, Any]) -> Result:
    return _JSON.from_json(Result, d)


def comparison_to_json(c: Comparison) -> dict[str, Any]:
    return {**_header("comparison"), **_JSON.to_json(c)}


def comparison_from_json(d: Mapping[str, Any]) -> Comparison:
    """Rebuild a :class:`Comparison` from a comparison@1 or evaluation@1 document."""
    return _JSON.from_json(Comparison, d)


def evaluation_to_json(ev: Evaluation) -> dict[str, Any]:
    return {**_header("evaluation"), **_JSON.to_json(ev)}


def evaluation_from_json(d: Mapping[str, Any]) -> Evaluation:
    return _JSON.from_json(Evaluation, d)


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
