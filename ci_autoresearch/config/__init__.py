"""Read ``.autoresearch.yml``: YAML safe load → the shipped JSON Schema → checks → frozen dataclasses.

Every problem is reported as one line naming the file, the key path (``benchmark.metrics[1].source``)
and what was expected, with a hint when one helps (``did you mean 'command'?``). :func:`validate_config`
returns all problems in document order; :func:`load_config` raises the first as a :class:`ConfigError`.

The stages, one module each: :mod:`.read` (file → YAML document, within bounds), :mod:`.explain` (schema
errors in plain words), :mod:`.checks` (what the schema cannot express), :mod:`.build` (document →
the dataclasses of :mod:`.model`). This module runs them in order and is the package's public face.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ci_autoresearch.config.build import build
from ci_autoresearch.config.checks import check_document
from ci_autoresearch.config.explain import schema_problems
from ci_autoresearch.config.model import Config
from ci_autoresearch.config.problems import Found, Problem
from ci_autoresearch.config.read import config_schema, read_document, starter_config

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "Problem",
    "config_hash",
    "config_schema",
    "load_config",
    "load_config_text",
    "runnability_problems",
    "starter_config",
    "validate_config",
]

DEFAULT_CONFIG_FILE = ".autoresearch.yml"

# The sections that change what a measurement means; labels, budgets or PR settings do not, so editing
# them keeps every recorded evaluation valid (the hash is part of an evaluation's key).
MEASUREMENT_SECTIONS = ("objective", "benchmark", "gate", "guards", "metrics", "decision")


def load_config(path: Path) -> Config:
    """The configuration in ``path``; raises :class:`ConfigError` with the first problem found."""
    problems, doc = _check(path)
    if problems:
        raise problems[0].to_error()
    return build(doc, path=str(path), hash=config_hash(doc))


def load_config_text(text: str, *, source: str) -> Config:
    """The configuration in ``text`` (e.g. a file of a trusted commit), named ``source`` in messages."""
    problems, doc = _check(Path(source), text=text)
    if problems:
        raise problems[0].to_error()
    return build(doc, path=source, hash=config_hash(doc))


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


def config_hash(document: Any) -> str:
    """Identifies what a measurement depends on: sha256 of the canonical JSON of the measurement
    sections (``MEASUREMENT_SECTIONS``; ``objective.target`` excluded), first 16 hex digits."""
    doc = document if isinstance(document, dict) else {}
    relevant = {k: doc[k] for k in MEASUREMENT_SECTIONS if k in doc}
    if isinstance(relevant.get("objective"), dict):
        relevant["objective"] = {k: v for k, v in relevant["objective"].items() if k != "target"}
    canonical = json.dumps(relevant, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _check(path: Path, text: str | None = None) -> tuple[list[Problem], Any]:
    """The problems of the document (each stage only when the one before found none), and the document."""
    found = Found(str(path))
    doc = read_document(path, found, text)
    if not found.items:
        schema_problems(doc, found)
    if not found.items:
        check_document(doc, found)
    return found.sorted(), doc
