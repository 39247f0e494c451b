"""The versioned documents: round trips, and one clear line for anything that does not fit."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ci_autoresearch import artifacts
from ci_autoresearch.errors import ArtifactError
from ci_autoresearch.model import (
    BenchmarkFiles,
    Comparison,
    Estimate,
    Evaluation,
    GateResult,
    Measurement,
    MetricComparison,
    MetricSamples,
    RefInfo,
    Resolution,
    Result,
    Role,
)
from tests.factories import ENV, stub_comparison
from tests.unit.factories import comparison, evaluation

RESULT = Result(
    ref=RefInfo(ref="main", sha="c" * 40),
    dirty=False,
    config_hash="cafe0123cafe0123",
    environment=ENV,
    metrics={"score": MetricSamples(name="score", unit="", direction="minimize", samples=(1.0, 2.0, 3.0))},
    runs=3,
    warmup_runs=1,
    started_at="2026-11-26T10:00:00Z",
    finished_at="2026-11-26T10:00:05Z",
)


def test_result_round_trip_and_summary(tmp_path: Path) -> None:
    path = artifacts.write_json(tmp_path / "r.json", artifacts.result_to_json(RESULT))
    assert artifacts.load_result(path) == RESULT
    doc = json.loads(path.read_text())
    assert doc["metrics"]["score"]["summary"]["median"] == 2.0
    assert not list(tmp_path.glob(".r.json.*"))  # atomic write leaves no temporary file


def test_comparison_additions_round_trip_and_older_documents_still_read() -> None:
    """lean, resolution, measurement and unbounded intervals: additions to comparison@1 (and
    evaluation@1) that documents written before them lack."""
    c = comparison([100.0] * 6, [75.0] * 6)
    est = c.metrics["score"].estimate
    assert est is not None
    unbounded = dataclasses.replace(est, ci_low=0.0, ci_high=math.inf)
    metrics = {
        **c.metrics,
        "score": dataclasses.replace(c.metrics["score"], estimate=unbounded, lean="better"),
    }
    c = dataclasses.replace(
        c,
        metrics=metrics,
        lean="better",
        resolution=Resolution(
            metric="score",
            half_width=0.03,
            smallest_effect=0.04,
            max_rounds=30,
            rounds_needed=270,
            advice="x",
        ),
        measurement=Measurement(mode="worker", processes=20, blocks=3, warmup_blocks=1, calls_per_block=4),
    )
    doc = artifacts.comparison_to_json(c)
    assert doc["metrics"]["score"]["ci"] == [-1.0, None]
    _kind, parsed = artifacts.parse_document(artifacts.dumps(doc), source="x")
    back = artifacts.comparison_from_json(parsed)
    assert (back.lean, back.resolution, back.measurement) == (c.lean, c.resolution, c.measurement)
    back_est = back.metrics["score"].estimate
    assert back_est is not None and (back_est.ci_low, back_est.ci_high) == (0.0, math.inf)
    assert back.metrics["score"].lean == "better"
    old = {k: v for k, v in doc.items() if k not in ("lean", "resolution", "measurement")}
    old["metrics"] = {name: {k: v for k, v in m.items() if k != "lean"} for name, m in old["metrics"].items()}
    old["metrics"]["score"]["ci"] = [-0.25, -0.25]
    _, parsed = artifacts.parse_document(artifacts.dumps(old), source="old.json")
    back = artifacts.comparison_from_json(parsed)
    assert (back.lean, back.resolution, back.measurement, back.metrics["score"].lean) == (None,) * 4


def test_comparison_and_evaluation_round_trip() -> None:
    c = comparison([100.0] * 6, [75.0] * 6)
    doc = artifacts.comparison_to_json(c)
    kind, parsed = artifacts.parse_document(artifacts.dumps(doc), source="x")
    assert kind == "comparison"
    back = artifacts.comparison_from_json(parsed)
    assert back.verdict == c.verdict and back.metrics["score"].baseline == c.metrics["score"].baseline
    ev = evaluation(c)
    kind, parsed = artifacts.parse_document(artifacts.dumps(artifacts.evaluation_to_json(ev)), source="note")
    assert kind == "evaluation"
    assert artifacts.evaluation_to_json(
        artifacts.evaluation_from_json(parsed)
    ) == artifacts.evaluation_to_json(ev)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{nope", "x.json: not JSON (line 1, column 2"),
        ("[1]", "x.json: expected a JSON object"),
        ('{"schema": "other@1"}', "x.json: schema: expected one of ci-autoresearch/result@1"),
        (
            '{"schema": "ci-autoresearch/result@1"}',
            "x.json: (top level): not a valid ci-autoresearch/result@1",
        ),
    ],
)
def test_bad_documents_are_one_line(text: str, message: str) -> None:
    with pytest.raises(ArtifactError) as err:
        artifacts.parse_document(text, source="x.json")
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_schema_violation_names_the_key() -> None:
    doc = artifacts.result_to_json(RESULT)
    doc["metrics"]["score"]["samples"] = ["fast"]
    with pytest.raises(ArtifactError, match=r"^a\.json: metrics\.score\.samples\.0: not a valid"):
        artifacts.parse_document(json.dumps(doc), source="a.json")


def test_wrong_kind_and_missing_file(tmp_path: Path) -> None:
    path = artifacts.write_json(
        tmp_path / "c.json", artifacts.comparison_to_json(comparison([1.0] * 3, [1.0] * 3))
    )
    with pytest.raises(
        ArtifactError, match="expected ci-autoresearch/result@1, got ci-autoresearch/comparison@1"
    ):
        artifacts.load_result(path)
    with pytest.raises(ArtifactError, match="no such file"):
        artifacts.load_result(tmp_path / "missing.json")


def test_oversized_text_is_refused() -> None:
    with pytest.raises(ArtifactError, match="larger than 32 MiB"):
        artifacts.parse_document(" " * (artifacts.MAX_BYTES + 1), source="big.json")


# --- the documents, byte for byte ----------------------------------------------------------------------

GOLDEN = Path(__file__).parent.parent / "fixtures" / "documents"
Document = Result | Comparison | Evaluation


def _golden_objects() -> dict[str, Document]:
    """Documents with every optional part present, and with none: what ``tests/fixtures/documents``
    holds, as written when the serialisation was rewritten (the files pin the bytes notes carry)."""
    full_result = dataclasses.replace(
        RESULT,
        dirty=True,
        metrics={
            **RESULT.metrics,
            "rss": MetricSamples(name="rss", unit="bytes", direction="minimize", samples=(3e6, 3.1e6)),
        },
        error="the benchmark failed in run 3",
        benchmark=BenchmarkFiles(source="base", sha="d" * 40, patterns=("bench/*.py", "bench.toml")),
    )

    def metric(name: str, role: Role, est: Estimate | None, verdict: str, **kw: Any) -> MetricComparison:
        return MetricComparison(
            name=name,
            unit=kw.pop("unit", ""),
            direction=kw.pop("direction", "minimize"),
            role=role,
            baseline=kw.pop("baseline", (100.0, 101.0, 99.0, 100.5)),
            candidate=kw.pop("candidate", (75.0, 76.0, 74.5, 75.25)),
            estimate=est,
            verdict=verdict,
            **kw,
        )

    est = Estimate(
        ratio=0.75, ci_low=0.0, ci_high=math.inf, p_value=0.0625, n=4, confidence=0.95, paired=True
    )
    guard = Estimate(ratio=1.25, ci_low=1.125, ci_high=1.5, p_value=0.125, n=4, confidence=0.95, paired=True)
    metrics = {
        "score": metric("score", "objective", est, "inconclusive", lean="better"),
        "memory": metric("memory", "guard", guard, "broken", unit="MB", max_regression=0.05),
        "zero": metric("zero", "info", None, "n/a", direction="maximize", baseline=(0.0,), candidate=()),
    }
    c = stub_comparison(verdict="inconclusive", reason="score likely better", rounds=4)
    full = dataclasses.replace(
        c,
        metrics=metrics,
        gate=GateResult(
            command="pytest -q",
            passed=False,
            returncode=1,
            seconds=1.23456,
            log="E   assert 1 == 2\n",
            protected_paths_touched=("bench.py",),
            reason="`pytest -q` failed",
        ),
        offline=True,
        notes=("a note", "another"),
        benchmark=BenchmarkFiles(source="candidate", sha="e" * 40, patterns=("bench.py",)),
        measured_by="ci",
        failure_output="Traceback …\nError",
        lean="better",
        resolution=Resolution(
            metric="score",
            half_width=0.03,
            smallest_effect=0.04,
            max_rounds=30,
            rounds_needed=None,
            advice="x",
        ),
        measurement=Measurement(mode="worker", processes=20, blocks=3, warmup_blocks=1, calls_per_block=4),
    )
    plain = stub_comparison()
    ev = dataclasses.replace(
        evaluation(full), objective_value=math.inf, measured_seconds=2.34567, new_best="f" * 40, round=2
    )
    return {
        "result-full": full_result,
        "result-plain": RESULT,
        "comparison-full": full,
        "comparison-plain": plain,
        "evaluation-full": ev,
        "evaluation-plain": dataclasses.replace(evaluation(plain), objective_value=0.5),
    }


def _to_json(obj: Document) -> dict[str, Any]:
    if isinstance(obj, Result):
        doc = artifacts.result_to_json(obj)
    elif isinstance(obj, Comparison):
        doc = artifacts.comparison_to_json(obj)
    else:
        doc = artifacts.evaluation_to_json(obj)
    return {**doc, "tool_version": "VERSION"}


@pytest.mark.parametrize("name", sorted(_golden_objects()))
def test_documents_are_written_byte_for_byte_as_pinned(name: str) -> None:
    assert artifacts.dumps(_to_json(_golden_objects()[name])) == (GOLDEN / f"{name}.json").read_text()


@pytest.mark.parametrize("name", sorted(_golden_objects()))
def test_pinned_documents_read_back_to_the_same_bytes(name: str) -> None:
    text = (GOLDEN / f"{name}.json").read_text()
    kind, doc = artifacts.parse_document(text, source=name)
    readers: dict[str, Callable[[dict[str, Any]], Document]] = {
        "result": artifacts.result_from_json,
        "comparison": artifacts.comparison_from_json,
        "evaluation": artifacts.evaluation_from_json,
    }
    back = readers[kind](doc)
    assert artifacts.dumps(_to_json(back)) == text
