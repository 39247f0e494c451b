"""Builders of the data model shared by the tests: every field has a plain default, a test names only
what matters to it."""

from __future__ import annotations

from typing import Any

from ci_autoresearch.model import Comparison, Environment, RefInfo

ENV = Environment(
    cpu_model="Test CPU", cores=2, os="Linux 6.1", python="3.11.7", machine="x86_64", runner_name="local"
)


def stub_comparison(**overrides: Any) -> Comparison:
    """A :class:`Comparison` with neutral defaults (no metrics, ``unchanged``), ``overrides`` applied."""
    fields: dict[str, Any] = {
        "baseline": RefInfo(ref="main", sha="a" * 40),
        "candidate": RefInfo(ref="fast", sha="b" * 40),
        "objective": "score",
        "direction": "minimize",
        "verdict": "unchanged",
        "reason": "",
        "metrics": {},
        "gate": None,
        "rounds": 0,
        "paired": True,
        "order": "abba",
        "seed": 0,
        "min_effect": 0.01,
        "confidence": 0.95,
        "config_hash": "cafe0123cafe0123",
        "environment": ENV,
        "started_at": "2026-11-26T10:00:00Z",
        "finished_at": "2026-11-26T10:01:00Z",
    }
    fields.update(overrides)
    return Comparison(**fields)
