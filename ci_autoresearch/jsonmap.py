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
from typing import Any, Literal, TypeVar


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
T = TypeVar("T")


Convert = Callable[[Any], Any] | None  # None: the value as it is (the common case, and the fast one)


@dataclass(frozen=True, kw_only=True)
class _Field:
    """How one field is written, its conversion specialised to its type once."""

    name: str
    json: str
    how: Literal["plain", "flat", "map_key"]
    write: Convert
    omit_empty: bool


#: How one field is read: its name, its key, its conversion (None: as it is), whether that conversion
#: is a Key's own (given the enclosing object too), and whether the field has no default.
_Read = tuple[str, str, Callable[..., Any] | None, bool, bool]


@dataclass(frozen=True, kw_only=True)
class _Plan:
    """A class's fields prepared once: the keys written in order, and what reading needs."""

    writes: tuple[_Field, ...]
    derived: tuple[Derived, ...]
    reads: tuple[_Read, ...]  # the plain fields
    flat: tuple[tuple[str, Callable[[Any], Any]], ...]  # nested objects read from the same document
    map_key: str | None  # the field the enclosing mapping's key fills


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
        self._plans: dict[type, _Plan] = {}

    def to_json(self, obj: Any) -> dict[str, Any]:
        """The JSON object of the dataclass instance ``obj``."""
        plan = self._plan(type(obj))
        out: dict[str, Any] = {}
        for f in plan.writes:
            value = getattr(obj, f.name)
            if f.how == "plain" and not (f.omit_empty and not value):
                out[f.json] = value if f.write is None else f.write(value)
            elif f.how == "flat":
                out.update(self.to_json(value))
            if plan.derived:
                out.update((d.name, d.value(obj)) for d in plan.derived if d.after == f.name)
        return out

    def from_json(self, cls: type[T], doc: Mapping[str, Any], *, map_key: str | None = None) -> T:
        """An instance of ``cls`` from its JSON object (``map_key``: the key it was found under).

        A key the document lacks leaves the field at its default (documents written before an
        addition); with no default, that is a :class:`KeyError` a schema check would have prevented.
        """
        plan = self._plans.get(cls) or self._plan(cls)
        kwargs: dict[str, Any] = {}
        for name, key, read, with_doc, required in plan.reads:
            if key in doc:
                value = doc[key]
                kwargs[name] = value if read is None else read(value, doc) if with_doc else read(value)
            elif required:
                raise KeyError(key)
        for name, read_flat in plan.flat:
            kwargs[name] = read_flat(doc)
        if plan.map_key is not None:
            kwargs[plan.map_key] = map_key
        return cls(**kwargs)

    def _plan(self, cls: type) -> _Plan:
        plan = self._plans.get(cls)
        if plan is None:
            plan = self._plans[cls] = self._prepare(cls)
        return plan

    def _prepare(self, cls: type) -> _Plan:
        shape = self._shapes.get(cls, _PLAIN)
        hints = typing.get_type_hints(cls)
        writes, reads, flat, map_key = [], [], [], None
        for f in dataclasses.fields(cls):
            key = shape.key(f.name)
            how: Literal["plain", "flat", "map_key"] = (
                "flat" if key.flat else "map_key" if key.map_key else "plain"
            )
            write = key.write or self._writer(hints[f.name])
            writes.append(
                _Field(name=f.name, json=key.name or f.name, how=how, write=write, omit_empty=key.omit_empty)
            )
            read = self._reader(hints[f.name])
            if how == "flat":
                assert read is not None, f"{cls.__name__}.{f.name}: only a dataclass field is written flat"
                flat.append((f.name, read))
            elif how == "map_key":
                map_key = f.name
            else:
                required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                reads.append((f.name, key.name or f.name, key.read or read, key.read is not None, required))
        return _Plan(
            writes=tuple(writes), derived=shape.derived, reads=tuple(reads), flat=tuple(flat), map_key=map_key
        )

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
