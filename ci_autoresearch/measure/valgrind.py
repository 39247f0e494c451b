"""Running a benchmark under valgrind (the ``instructions`` source): finding it and the command line.

The counts it writes are read by :mod:`ci_autoresearch.measure.metrics.instructions`.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path

from ci_autoresearch.config.model import MetricSpec
from ci_autoresearch.errors import ToolMissingError
from ci_autoresearch.measure.metrics.instructions import log_file, output_pattern


def require_valgrind(env: Mapping[str, str], metric: str = "instructions") -> str:
    """The path of ``valgrind`` on ``env``'s PATH, else :class:`ToolMissingError` naming ``metric``."""
    found = shutil.which("valgrind", path=env.get("PATH", os.defpath))
    if found is None:
        raise ToolMissingError(
            f"metric '{metric}' (source instructions) needs valgrind, which is not on PATH",
            hint="install it, e.g. `apt-get install valgrind`",
        )
    return found


def _valgrind_path(path: Path) -> str:
    """``path`` in valgrind's file-name syntax: ``%`` doubled except the ``%p`` it must expand."""
    return str(path).replace("%", "%%").replace("%%p", "%p")


def _shell_glob(path: Path) -> str:
    """A shell word matching every file ``path`` stands for (``%p`` → ``*``), safely quoted."""
    return "*".join(shlex.quote(part) for part in str(path).split("%p"))


def wrap_for_instructions(command: str, spec: MetricSpec, out_file: Path, valgrind: str = "valgrind") -> str:
    """A shell command that runs ``command`` under valgrind and counts its instructions.

    Runs ``valgrind --tool=<spec.tool> --trace-children=yes`` on ``/bin/sh -c command`` so that every
    process of the benchmark is counted; each writes its own file, ``out_file`` with ``%p`` (its pid)
    — inserted before the suffix when ``out_file`` has none; when ``out_file`` is an existing
    directory, the files are ``<dir>/<tool>.%p.out``. Pass the same ``out_file`` to
    :func:`read_instruction_count`. Valgrind's own messages go to the matching ``.log``
    files, never to the benchmark's stdout or stderr. Files of an earlier run with the same name are
    removed first. Cachegrind runs with ``--cache-sim=no`` (only ``Ir`` is needed).

    Known limit: when a process ``exec``\\ s another program, valgrind overwrites that pid's file, so
    the instructions of the replaced image are not counted (the count stays deterministic).
    """
    out = output_pattern(out_file, spec.tool)
    log = log_file(out)
    options = [
        valgrind,
        f"--tool={spec.tool}",
        "--trace-children=yes",
        f"--{spec.tool}-out-file={_valgrind_path(out)}",
        f"--log-file={_valgrind_path(log)}",
    ]
    if spec.tool == "cachegrind":
        options.append("--cache-sim=no")
    cleanup = f"rm -f -- {_shell_glob(out)} {_shell_glob(log)}"
    return f"{cleanup}; exec {shlex.join(options)} -- /bin/sh -c {shlex.quote(command)}"


__all__ = ["require_valgrind", "wrap_for_instructions"]
