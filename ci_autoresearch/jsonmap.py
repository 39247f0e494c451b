"""One generic mapping between frozen dataclasses and JSON objects, both ways. Pure.

By default a dataclass is a JSON object of its fields, in declaration order, under their own names:
nested dataclasses are objects, tuples are arrays, mappings are objects, and reading converts back by
the fields' types. A :class:`Shape` says where a class differs (a key renamed, a value transformed, an
addition to a format left out while empty, a nested object written into its parent, a key derived when
writing). Validating a document is not its job: callers read only what a schema has checked.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True, kw_only=True)
class Key:
    """How one field differs from the default: ``name`` (the JSON key; empty: the field's name);
    ``write`` / ``read`` (instead of the generic conversion; ``read`` is also given the enclosing
    object); ``omit_empty`` (an addition to a format: not written while empty, its default when absent);
    ``flat`` (a nested dataclass whose keys are written into the enclosing object); ``map_key`` (not
    written: the key under which the enclosing mapping holds the object)."""

    field: str
    name: str = ""
    write: Callable[[Any], Any] | None = None
    read: Callable[[Any, Mapping[str, Any]], Any] | None = None
    omit_empty: bool = False
    flat: bool = False
    map_key: bool = False


@dataclass(frozen=True, kw_only=True)
class Derived:
    """A key computed from the whole object when writing, placed after the field ``after``; not read."""

    name: str
    after: str
    value: Callable[[Any], Any]


@dataclass(frozen=True, kw_only=True)
class Shape:
    """Where a dataclass's JSON object differs from its fields."""

    keys: tuple[Key, ...] = ()
    derived: tuple[Derived, ...] = ()

    def key(self, name: str) -> Key:
        return next((k for k in self.keys if k.field == name), Key(field=name))


_PLAIN = Shape()


Convert = Callable[[Any], Any] | None  # None: the value as it is (the common case, and the fast one)


@dataclass(frozen=True, kw_only=True)
class _Field:
    """One field as a plan carries it: its key, and its conversions specialised to its type once."""

    name: str
    json: str
    how: Literal["plain", "flat", "map_key"]
    write: Convert
    read: Convert
    read_doc: Callable[[Any, Mapping[str, Any]], Any] | None  # a Key's own reader
    omit_empty: bool
    required: bool


def _optional(item: Convert) -> Convert:
    if item is None:
        return None
    convert = item
    return lambda value: None if value is None else convert(value)


def _sequence(item: Convert, kind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A JSON array or a tuple (``kind``) of values converted by ``item``."""
    if item is None:
        return kind
    convert = item
    return lambda value: kind(convert(v) for v in value)


def _mapping(item: Convert) -> Callable[[Any], Any]:
    if item is None:
        return dict
    convert = item
    return lambda value: {k: convert(v) for k, v in value.items()}


def _is_dataclass(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


class JsonMap:
    """The mapping for a set of dataclasses, each with its :class:`Shape` (none: plain)."""

    def __init__(self, shapes: Mapping[type, Shape]) -> None:
        self._shapes = dict(shapes)
        self._plans: dict[type, tuple[tuple[_Field, ...], tuple[Derived, ...]]] = {}

    def to_json(self, obj: Any) -> dict[str, Any]:
        """The JSON object of the dataclass instance ``obj``."""
        fields, derived = self._plan(type(obj))
        out: dict[str, Any] = {}
        for f in fields:
            value = getattr(obj, f.name)
            if f.how == "plain" and not (f.omit_empty and not value):
                out[f.json] = value if f.write is None else f.write(value)
            elif f.how == "flat":
                out.update(self.to_json(value))
            if derived:
                out.update((d.name, d.value(obj)) for d in derived if d.after == f.name)
        return out

    def from_json(self, cls: type[Any], doc: Mapping[str, Any], *, map_key: str | None = None) -> Any:
        """An instance of ``cls`` from its JSON object (``map_key``: the key it was found under).

        A key the document lacks leaves the field at its default (documents written before an
        addition); with no default, that is a :class:`KeyError` a schema check would have prevented.
        """
        kwargs: dict[str, Any] = {}
        for f in self._plan(cls)[0]:
            if f.how == "plain":
                if f.json in doc:
                    value = doc[f.json]
                    if f.read_doc is not None:
                        value = f.read_doc(value, doc)
                    elif f.read is not None:
                        value = f.read(value)
                    kwargs[f.name] = value
                elif f.required:
                    raise KeyError(f.json)
            elif f.how == "flat":
                assert f.read is not None  # a dataclass's reader
                kwargs[f.name] = f.read(doc)
            else:
                kwargs[f.name] = map_key
        return cls(**kwargs)

    def _plan(self, cls: type) -> tuple[tuple[_Field, ...], tuple[Derived, ...]]:
        if cls not in self._plans:
            shape = self._shapes.get(cls, _PLAIN)
            hints = typing.get_type_hints(cls)
            fields = []
            for f in dataclasses.fields(cls):
                key = shape.key(f.name)
                fields.append(
                    _Field(
                        name=f.name,
                        json=key.name or f.name,
                        how="flat" if key.flat else "map_key" if key.map_key else "plain",
                        write=key.write or self._writer(hints[f.name]),
                        read=self._reader(hints[f.name]),
                        read_doc=key.read,
                        omit_empty=key.omit_empty,
                        required=f.default is dataclasses.MISSING
                        and f.default_factory is dataclasses.MISSING,
                    )
                )
            self._plans[cls] = (tuple(fields), shape.derived)
        return self._plans[cls]

    def _writer(self, tp: Any) -> Convert:
        """How a value of the type ``tp`` (a field's annotation) is written."""
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if _is_dataclass(tp):
            return self.to_json
        if origin in (types.UnionType, typing.Union):
            inner = [a for a in args if a is not type(None)]
            return _optional(self._writer(inner[0])) if len(inner) == 1 else None
        if origin is tuple:
            return _sequence(self._writer(args[0]), list)
        if origin in (Mapping, dict):
            return _mapping(self._writer(args[1]))
        return None

    def _reader(self, tp: Any) -> Convert:
        """How a value of the type ``tp`` (a field's annotation) is read."""
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if _is_dataclass(tp):
            return lambda value: self.from_json(tp, value)
        if origin in (types.UnionType, typing.Union):
            inner = [a for a in args if a is not type(None)]
            return _optional(self._reader(inner[0])) if len(inner) == 1 else None
        if origin is tuple:
            return _sequence(self._reader(args[0]), tuple)
        if origin in (Mapping, dict) and _is_dataclass(args[1]):
            cls = args[1]
            return lambda value: {k: self.from_json(cls, v, map_key=k) for k, v in value.items()}
        if origin in (Mapping, dict):
            return _mapping(self._reader(args[1]))
        return None
