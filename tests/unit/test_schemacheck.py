"""The compiled schema check agrees with jsonschema: on real documents, on mutations of them, and on
every keyword it implements. It refuses keywords it does not implement."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ci_autoresearch import artifacts
from ci_autoresearch.schemacheck import UnsupportedSchema, compile_schema
from tests.helpers import FIXTURES
from tests.unit.factories import comparison, evaluation

DOCS = json.loads(resources.files("ci_autoresearch").joinpath("schemas/documents.schema.json").read_text())
CONFIG = json.loads(resources.files("ci_autoresearch").joinpath("schemas/config.schema.json").read_text())
C = comparison([100.0, 101.0, 99.0, 100.0, 102.0, 98.0], [75.0, 76.0, 74.0, 75.0, 77.0, 73.0])
SAMPLES = {
    "comparison": artifacts.comparison_to_json(C),
    "evaluation": artifacts.evaluation_to_json(evaluation(C)),
}
CONFIGS = [yaml.safe_load((FIXTURES / "configs" / name).read_text()) for name in ("article.yml", "full.yml")]


def agree(schema: dict[str, Any], doc: Any, ref: str | None = None) -> tuple[bool, bool]:
    full = {**schema, "$ref": ref} if ref else schema
    precise = jsonschema.validators.validator_for(full)(full).is_valid(doc)
    return compile_schema(schema, ref)(doc), precise


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, (*prefix, i))
    return out


REPLACEMENTS = [None, True, 0, -1, 1.5, "x", "", "a" * 5000, [], [1], {}, {"k": 1}, "improved", "main", 2.0]


def mutate(doc: Any, path: tuple[Any, ...], how: int, value: Any) -> Any:
    doc = copy.deepcopy(doc)
    if not path:
        return value
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == 0 and isinstance(parent, dict):
        del parent[last]
    elif how == 1 and isinstance(parent, dict):
        parent[f"extra_{last}"] = value
    else:
        parent[last] = value
    return doc


@pytest.mark.parametrize("kind", ["comparison", "evaluation"])
def test_real_documents_are_valid(kind: str) -> None:
    assert agree(DOCS, SAMPLES[kind], f"#/$defs/{kind}") == (True, True)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_documents_agree_with_jsonschema(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["comparison", "evaluation"]))
    doc = SAMPLES[kind]
    path = data.draw(st.sampled_from(paths(doc)))
    broken = mutate(doc, path, data.draw(st.integers(0, 2)), data.draw(st.sampled_from(REPLACEMENTS)))
    fast, precise = agree(DOCS, broken, f"#/$defs/{kind}")
    assert fast == precise, (path, broken)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_configs_agree_with_jsonschema(data: st.DataObject) -> None:
    doc = data.draw(st.sampled_from(CONFIGS))
    path = data.draw(st.sampled_from(paths(doc)))
    broken = mutate(doc, path, data.draw(st.integers(0, 2)), data.draw(st.sampled_from(REPLACEMENTS)))
    fast, precise = agree(CONFIG, broken)
    assert fast == precise, (path, broken)


KEYWORD_CASES: list[tuple[dict[str, Any], list[Any]]] = [
    ({"type": "integer"}, [1, 1.0, 1.5, True, "1", None]),
    ({"type": ["string", "null"]}, ["a", None, 1]),
    ({"enum": ["a", 1, None]}, ["a", 1, 1.0, True, None, "b"]),
    ({"const": 0}, [0, 0.0, False, "0"]),
    ({"pattern": "^[a-f0-9]{7}$"}, ["abcdef0", "ABCDEF0", "abc", 7]),
    ({"minLength": 2, "maxLength": 3}, ["a", "ab", "abcd", 5]),
    ({"minimum": 0, "exclusiveMaximum": 1}, [0, 0.5, 1, -1, "x", True]),
    ({"items": {"type": "number"}, "minItems": 1, "maxItems": 2}, [[], [1], [1, 2, 3], [1, "a"], "x"]),
    (
        {"properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": False},
        [{"a": "x"}, {"a": 1}, {}, {"a": "x", "b": 1}, []],
    ),
    (
        {"additionalProperties": {"type": "integer"}, "propertyNames": {"pattern": "^[a-z]+$"}},
        [{"a": 1}, {"a": "x"}, {"A": 1}],
    ),
    ({"anyOf": [{"type": "string"}, {"minimum": 3}]}, ["a", 4, 2, None]),
    ({"oneOf": [{"type": "number"}, {"type": "integer"}]}, [1.5, 1, "a"]),
    (
        {"allOf": [{"properties": {"a": {}}}], "properties": {"b": {}}, "unevaluatedProperties": False},
        [{"a": 1, "b": 2}, {"c": 3}],
    ),
    ({"$defs": {"n": {"type": "number"}}, "items": {"$ref": "#/$defs/n"}}, [[1, 2], [1, "x"]]),
]


@pytest.mark.parametrize(("schema", "instances"), KEYWORD_CASES)
def test_each_keyword_agrees_with_jsonschema(schema: dict[str, Any], instances: list[Any]) -> None:
    for instance in instances:
        fast, precise = agree(schema, instance)
        assert fast == precise, (schema, instance)


def test_unsupported_keywords_are_refused() -> None:
    with pytest.raises(UnsupportedSchema, match="'if'"):
        compile_schema({"if": {"type": "string"}, "then": {"minLength": 1}})
    with pytest.raises(UnsupportedSchema, match="local"):
        compile_schema({"$ref": "https://example.invalid/schema.json"})
