"""The versioned documents: round trips, and one clear line for anything that does not fit."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from ci_autoresearch import artifacts
from ci_autoresearch.errors import ArtifactError
from ci_autoresearch.model import Measurement, MetricSamples, RefInfo, Resolution, Result
from tests.factories import ENV
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
