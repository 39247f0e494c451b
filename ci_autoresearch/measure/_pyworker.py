"""The Python adapter of worker mode: times ``benchmark.callable`` for the tool, over the worker protocol.

Run by the *user's* interpreter (``benchmark.python``) as a script, not imported by the tool: it uses
the standard library only and does not import ``ci_autoresearch``. Its one argument is a JSON object:

``{"callable": "pkg.mod:func", "args": [...], "kwargs": {...}, "args_from": "pkg.mod:make" | null,
"sides": {"baseline": "/checkout/a", "candidate": "/checkout/b"}, "order": ["candidate", "baseline"],
"together": true}``

With ``together`` false there is one side and the worker serves plain ``run N`` requests; with it true
both sides are imported into this one process, in ``order``, each from its own checkout (the modules
of the first are set aside before the second is imported, so that each side's function keeps its own
code), and requests name the side: ``run N baseline``. The protocol is in ``docs/worker-protocol.md``.

The benchmark's own output on stdout is sent to stderr: stdout carries the protocol only.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

PROTOCOL = "ci-autoresearch-worker/1"


def _resolve(target: str) -> Any:
    module_name, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _under(path: str, root: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root + os.sep)


class Side:
    """One side's function and arguments, imported from its checkout."""

    def __init__(self, spec: dict[str, Any], checkout: str, *, isolate: bool) -> None:
        root = os.path.realpath(checkout)
        self.checkout = checkout
        os.chdir(checkout)
        sys.path.insert(0, checkout)
        importlib.invalidate_caches()
        try:
            self.function: Callable[..., Any] = _resolve(spec["callable"])
            module = sys.modules.get(getattr(self.function, "__module__", "") or "")
            origin = getattr(module, "__file__", None)
            if origin and not _under(origin, root):
                raise ImportError(
                    f"{spec['callable']} was imported from {origin}, not from the checkout {checkout} "
                    "(is the package installed? the worker must import each side's own code)"
                )
            self.args: tuple[Any, ...] = tuple(spec.get("args") or ())
            self.kwargs: dict[str, Any] = dict(spec.get("kwargs") or {})
            if spec.get("args_from"):
                made = _resolve(spec["args_from"])()
                if isinstance(made, tuple):
                    self.args, self.kwargs = made, {}
                elif isinstance(made, dict):
                    self.args, self.kwargs = (), made
                else:
                    self.args, self.kwargs = (made,), {}
        finally:
            if isolate:
                sys.path.remove(checkout)
                for name, mod in list(sys.modules.items()):
                    origin = getattr(mod, "__file__", None)
                    if origin and _under(origin, root):
                        del sys.modules[name]

    def run(self, calls: int) -> tuple[float, float]:
        """Call the function ``calls`` times: (wall seconds, CPU seconds of this process)."""
        os.chdir(self.checkout)
        function, args, kwargs = self.function, self.args, self.kwargs
        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        for _ in range(calls):
            function(*args, **kwargs)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        return wall, cpu


def _say(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()


def _problem(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("\r", " ")
    return text[:500]


def serve(spec: dict[str, Any], requests: TextIO, out: TextIO) -> int:
    """Load the sides, announce them, then answer ``run`` requests until the input ends."""
    together = bool(spec.get("together"))
    order = list(spec.get("order") or spec["sides"])
    sides: dict[str, Side] = {}
    for name in order:
        try:
            sides[name] = Side(spec, spec["sides"][name], isolate=together)
        except BaseException as exc:  # the benchmark's import or argument maker failed
            _say(out, f"error {name + ' ' if together else ''}{_problem(exc)}")
            return 1
    _say(out, f"ready {PROTOCOL}" + ("".join(f" {n}" for n in sorted(sides)) if together else ""))
    only = next(iter(sides.values()))
    for line in requests:
        words = line.split()
        if not words:
            continue
        if words[0] != "run" or len(words) not in (2, 3) or not words[1].isdigit():
            _say(out, f"error unknown request {line.strip()[:100]!r}")
            return 2
        side = sides.get(words[2]) if len(words) == 3 else only
        if side is None:
            _say(out, f"error unknown side {words[2]!r}")
            return 2
        try:
            wall, cpu = side.run(int(words[1]))
        except BaseException as exc:  # the benchmark failed: say so and stop
            _say(out, f"error {words[2] + ' ' if len(words) == 3 else ''}{_problem(exc)}")
            return 1
        _say(out, f"done {wall:.9f} {cpu:.9f}")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: _pyworker.py SPEC_JSON\n")
        return 2
    spec = json.loads(argv[1])
    if sys.path and os.path.realpath(sys.path[0]) == str(Path(__file__).resolve().parent):
        del sys.path[0]  # this script's directory: its neighbours are not the benchmark's modules
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the benchmark's prints go to stderr; stdout carries the protocol only
    sys.stdout = sys.stderr
    return serve(spec, sys.stdin, protocol)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
