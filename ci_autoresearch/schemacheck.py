"""A fast yes/no check of a document against one of our JSON Schemas, compiled to Python source.

jsonschema is general and slow (about 2-4 ms for one evaluation note: 40 s for a history of 10 000
notes read in a fresh CI clone). Our schemas use a small set of keywords, so we translate them once
into straight-line Python (one function per ``$ref``), which answers "valid or not" in tens of
microseconds. Only when a document is *not* valid is jsonschema asked for the error to show the user.
Every keyword this translator does not implement is an error when compiling, so a constraint can never
be skipped silently; the tests check that it agrees with jsonschema on generated valid and broken
documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "$defs"}
)
KEYWORDS = frozenset({
    "$ref", "type", "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "items", "minItems", "maxItems", "properties", "required",
    "propertyNames", "additionalProperties", "unevaluatedProperties", "allOf", "anyOf", "oneOf",
})  # fmt: skip
_TYPE_TESTS = {
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "string": "isinstance({v}, str)",
    "boolean": "isinstance({v}, bool)",
    "null": "{v} is None",
    "number": "type({v}) in _NUMBER",  # documents come from json/yaml: exact types, bool excluded
    "integer": "(type({v}) is int or (type({v}) is float and {v}.is_integer()))",
}
_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


class UnsupportedSchema(ValueError):
    """The schema uses a keyword this compiler does not implement."""


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: booleans are not numbers, 1 equals 1.0, containers compare deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _num(a) and _num(b):
        return bool(a == b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


class _Generator:
    """Writes one Python function per referenced schema; statements ``return False`` on a violation."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.functions: dict[str, str] = {}  # ref -> function name
        self.sources: list[str] = []
        self.consts: dict[str, Any] = {"_NUMBER": (int, float), "_eq": json_equal}
        self._names = 0

    def _name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    def const(self, value: Any) -> str:
        name = self._name("_c")
        self.consts[name] = value
        return name

    def resolve(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#/"):
            raise UnsupportedSchema(f"only local $ref are supported, not {ref!r}")
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node  # type: ignore[no-any-return]

    def function(self, schema: Any, ref: str | None = None) -> str:
        """The name of a function checking ``schema`` (memoised per ``ref``; recursion works)."""
        if ref is not None and ref in self.functions:
            return self.functions[ref]
        name = self._name("_f")
        if ref is not None:
            self.functions[ref] = name
        body = self.statements(schema, "v0", 1)
        self.sources.append(f"def {name}(v0):\n" + "".join(body) + "    return True\n")
        return name

    def evaluated(self, schema: Mapping[str, Any]) -> set[str]:
        """Property names a schema and the ``$ref``/``allOf`` members it names evaluate."""
        if "$ref" in schema:
            return self.evaluated(self.resolve(schema["$ref"]))
        names = set(schema.get("properties", {}))
        for member in schema.get("allOf", []):
            names |= self.evaluated(member)
        return names

    def statements(self, schema: Any, v: str, depth: int) -> list[str]:
        pad = "    " * depth
        fail = f"{pad}    return False\n"
        if schema is True:
            return []
        if schema is False:
            return [f"{pad}return False\n"]
        if not isinstance(schema, Mapping):
            raise UnsupportedSchema(f"a schema must be an object or a boolean, not {schema!r}")
        for key in schema:
            if key not in KEYWORDS and key not in ANNOTATIONS and not key.startswith("x-"):
                raise UnsupportedSchema(f"keyword {key!r} is not supported by schemacheck")
        out: list[str] = []
        if "$ref" in schema:
            ref = schema["$ref"]
            out += [f"{pad}if not {self.function(self.resolve(ref), ref)}({v}):\n", fail]
        if "type" in schema:
            kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            test = " or ".join(_TYPE_TESTS[k].format(v=v) for k in kinds)
            out += [f"{pad}if not ({test}):\n", fail]
        if "enum" in schema:
            options = list(schema["enum"])
            if all(isinstance(o, str) for o in options):
                out += [
                    f"{pad}if not (isinstance({v}, str) and {v} in {self.const(frozenset(options))}):\n",
                    fail,
                ]
            else:
                out += [f"{pad}if not any(_eq({v}, o) for o in {self.const(options)}):\n", fail]
        if "const" in schema:
            out += [f"{pad}if not _eq({v}, {self.const(schema['const'])}):\n", fail]
        if "pattern" in schema:
            rx = self.const(re.compile(schema["pattern"]))
            out += [f"{pad}if isinstance({v}, str) and {rx}.search({v}) is None:\n", fail]
        for key, op in (("minLength", ">="), ("maxLength", "<=")):
            if key in schema:
                out += [f"{pad}if isinstance({v}, str) and not len({v}) {op} {int(schema[key])}:\n", fail]
        for key, op in _BOUNDS.items():
            if key in schema:
                out += [f"{pad}if type({v}) in _NUMBER and not {v} {op} {float(schema[key])!r}:\n", fail]
        out += self._array(schema, v, depth) + self._object(schema, v, depth)
        for member in schema.get("allOf", []):
            out += self.statements(member, v, depth)
        if "anyOf" in schema:
            names = [self.function(m) for m in schema["anyOf"]]
            out += [f"{pad}if not ({' or '.join(f'{n}({v})' for n in names)}):\n", fail]
        if "oneOf" in schema:
            names = [self.function(m) for m in schema["oneOf"]]
            out += [f"{pad}if ({' + '.join(f'{n}({v})' for n in names)}) != 1:\n", fail]
        return out

    def _array(self, schema: Mapping[str, Any], v: str, depth: int) -> list[str]:
        pad = "    " * depth
        fail = f"{pad}    return False\n"
        out: list[str] = []
        for key, op in (("minItems", ">="), ("maxItems", "<=")):
            if key in schema:
                out += [f"{pad}if isinstance({v}, list) and not len({v}) {op} {int(schema[key])}:\n", fail]
        if "items" in schema:
            item = f"v{depth + 1}"
            inner = self.statements(schema["items"], item, depth + 2)
            if inner:
                out += [f"{pad}if isinstance({v}, list):\n", f"{pad}    for {item} in {v}:\n", *inner]
        return out

    def _object(self, schema: Mapping[str, Any], v: str, depth: int) -> list[str]:
        pad = "    " * depth
        out: list[str] = []
        body: list[str] = []
        inner_pad = pad + "    "
        for key, sub in schema.get("properties", {}).items():
            item = f"v{depth + 1}"
            inner = self.statements(sub, item, depth + 2)
            if inner:
                k = repr(key)
                body += [f"{inner_pad}if {k} in {v}:\n", f"{inner_pad}    {item} = {v}[{k}]\n", *inner]
        if "required" in schema:
            body += [
                f"{inner_pad}if not {self.const(frozenset(schema['required']))}.issubset({v}):\n",
                f"{inner_pad}    return False\n",
            ]
        if "propertyNames" in schema:
            key_var = f"k{depth + 1}"
            inner = self.statements(schema["propertyNames"], key_var, depth + 2)
            if inner:
                body += [f"{inner_pad}for {key_var} in {v}:\n", *inner]
        known = set(schema.get("properties", {}))
        if "unevaluatedProperties" in schema:
            if schema["unevaluatedProperties"] is not False or "additionalProperties" in schema:
                raise UnsupportedSchema("only `unevaluatedProperties: false` without additionalProperties")
            body += [
                f"{inner_pad}if not {self.const(frozenset(self.evaluated(schema)))}.issuperset({v}):\n",
                f"{inner_pad}    return False\n",
            ]
        if "additionalProperties" in schema:
            extra = schema["additionalProperties"]
            allowed = self.const(frozenset(known))
            if extra is False:
                body += [f"{inner_pad}if not {allowed}.issuperset({v}):\n", f"{inner_pad}    return False\n"]
            else:
                key_var, item = f"k{depth + 1}", f"v{depth + 1}"
                inner = self.statements(extra, item, depth + 3)
                if inner:
                    body += [
                        f"{inner_pad}for {key_var}, {item} in {v}.items():\n",
                        f"{inner_pad}    if {key_var} not in {allowed}:\n",
                        *inner,
                    ]
        if body:
            out += [f"{pad}if isinstance({v}, dict):\n", *body]
        return out


def compile_schema(root: Mapping[str, Any], ref: str | None = None) -> Check:
    """A check of documents against ``root`` (or against ``#/...`` ``ref`` inside it)."""
    gen = _Generator(root)
    entry = gen.function(gen.resolve(ref) if ref else root, ref)
    namespace = dict(gen.consts)
    exec(compile("".join(gen.sources), "<schemacheck>", "exec"), namespace)
    check: Check = namespace[entry]
    return check
