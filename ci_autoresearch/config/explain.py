"""Schema errors → plain words: each jsonschema error becomes one problem naming the key path and what
was expected (``expected a number between 0.5 and 1 (exclusive), got 2``), with a hint when one helps
(``did you mean 'command'?``, ``'seed' belongs under decision``). Pure."""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ci_autoresearch.config.problems import Found, KeyPath, key_text
from ci_autoresearch.config.read import config_schema
from ci_autoresearch.schemacheck import Check, compile_schema

if TYPE_CHECKING:
    import jsonschema


def schema_problems(doc: Any, found: Found) -> None:
    """Every way ``doc`` fails the shipped schema, in plain words (nothing when it passes)."""
    if not _fast_check()(doc):
        for error in _validator().iter_errors(doc):
            _schema_problem(error, found)


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    """jsonschema, imported only to explain a configuration that failed the compiled check."""
    import jsonschema  # noqa: PLC0415 - keeps `validate` of a good config fast

    return jsonschema.Draft202012Validator(config_schema())


@functools.cache
def _fast_check() -> Check:
    return compile_schema(config_schema())


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


def _schema_problem(error: jsonschema.ValidationError, found: Found) -> None:
    path: KeyPath = tuple(error.absolute_path)
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    instance = error.instance
    if "propertyNames" in error.absolute_schema_path:
        found.add((*path, _key_part(instance)), f"expected {_describe(schema)}, got {show(instance)}")
        return
    if error.validator == "additionalProperties" and isinstance(instance, Mapping):
        allowed = list(schema.get("properties", {}))
        for name in instance:
            if name not in allowed:
                found.add(
                    (*path, _key_part(name)),
                    f"unknown key {show(name)}",
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
    found.add(path, f"expected {_describe(schema)}, got {show(instance)}", _value_hint(schema, instance))


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
        return show(schema["const"])
    if "enum" in schema:
        return either([show(v) for v in schema["enum"]])
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        return either([_describe(alt) for alt in alternatives])
    declared = schema.get("type", [])
    types = [t for t in ([declared] if isinstance(declared, str) else declared) if t != "null"]
    if len(types) != 1:
        return either([_TYPE_WORDS[t] for t in types]) if types else "a value"
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
                text += " of " + either(plural)
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
            return f" between {show(low)} and {show(high)}" + (" (exclusive)" if low_open else "")
        return f" {'>' if low_open else '>='} {show(low)} and {'<' if high_open else '<='} {show(high)}"
    if low is not None:
        return f" {'>' if low_open else '>='} {show(low)}"
    if high is not None:
        return f" {'<' if high_open else '<='} {show(high)}"
    return ""


def either(words: Sequence[str]) -> str:
    words = list(dict.fromkeys(words))
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def show(value: Any) -> str:
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
    return name if isinstance(name, str) else show(name)


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
    return re.sub(r"\[\d+\]", "[i]", key_text(path))


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
