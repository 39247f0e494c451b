"""What ``validate`` says beyond "the file is valid": settings that have no effect, and programs that
are missing. Pure: the caller passes how to look for a file in the repository and on ``PATH``.

Each finding is one line, ``key: what and why``; the CLI prints it as a warning and still exits 0 (a
warning is advice, not an error: the configuration is valid).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator, Sequence

from ci_autoresearch.config.model import Config

Exists = Callable[[str], bool]  # a path relative to the repository root exists there
Which = Callable[[str], "str | None"]  # a program name → its path on PATH, or None

_CHECKPOINT_NOTE = (
    "every evaluation is checkpointed in git notes (refs/notes/autoresearch) as soon as it is measured"
)


def ineffective_settings(config: Config) -> list[str]:
    """Accepted keys that change nothing, each with the reason (one line each).

    ``checkpoint.enabled: false``, ``checkpoint.interval_minutes`` and ``checkpoint.path`` come from the
    autoresearch article's example, which is accepted as written; here git notes are the checkpoint,
    written after every evaluation, and there is no separate state file to place or to time.
    """
    notes = []
    cp = config.checkpoint
    if not cp.enabled:
        notes.append(f"checkpoint.enabled: false has no effect: {_CHECKPOINT_NOTE}, and resuming needs them")
    if cp.interval_minutes is not None:
        notes.append(f"checkpoint.interval_minutes has no effect: {_CHECKPOINT_NOTE}, not on a timer")
    if cp.path is not None:
        notes.append(
            f"checkpoint.path has no effect: {_CHECKPOINT_NOTE}; no state file is written "
            "(`ci-autoresearch status --json` prints the state)"
        )
    return notes


# --- programs ------------------------------------------------------------------------------------------

_OPERATORS = frozenset({"&&", "||", ";", "|", "&", "(", ")", "{", "}", "!"})
_BUILTINS = frozenset(
    {
        *(".", ":", "[", "[[", "alias", "cd", "command", "echo", "eval", "export", "false", "for"),
        *("if", "printf", "pwd", "read", "set", "source", "test", "true", "ulimit", "umask", "unset"),
        *("until", "wait", "while", "time", "nice", "nohup", "timeout", "taskset", "xvfb-run"),
    }
)
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_INTERPRETER = re.compile(
    r"^(python[0-9.]*|pypy[0-9.]*|node|deno|bun|ruby|perl|php|Rscript|julia|bash|sh|zsh|dash|ksh|lua)$"
)
_SCRIPT = re.compile(r"(/|\.(py|js|mjs|cjs|ts|rb|pl|php|R|jl|sh|bash|lua))$")
_INLINE = frozenset({"-c", "-e", "-m", "--eval", "--command"})  # the code or module follows: no file
_TAKES_VALUE = frozenset({"-X", "-W", "-O", "-I", "-r", "--require"})


def _first_command(command: str) -> list[str]:
    """The words of the first simple command of a shell line (before ``&&``, ``|``, ``;`` …)."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:
        return []
    out: list[str] = []
    for word in words:
        if word in _OPERATORS or set(word) <= set("&|;()<>"):
            break
        out.append(word)
    while out and (_ASSIGNMENT.match(out[0]) or out[0] == "env"):
        out.pop(0)
    return out


def _script_of(words: Sequence[str]) -> str | None:
    """The script file an interpreter is asked to run (``python3 bench.py`` → ``bench.py``)."""
    args = iter(words[1:])
    for arg in args:
        if arg in _INLINE:
            return None
        if arg in _TAKES_VALUE:
            next(args, None)
            continue
        if arg.startswith("-"):
            continue
        return arg if _SCRIPT.search(arg) else None
    return None


def _dynamic(word: str) -> bool:
    return any(ch in word for ch in "$`*?~") or word.startswith("%")


def _findings(key: str, command: str, *, exists: Exists, which: Which, built_by_setup: bool) -> Iterator[str]:
    words = _first_command(command)
    if not words or _dynamic(words[0]) or words[0] in _BUILTINS:
        return
    program = words[0]
    if "/" in program:
        local = program.removeprefix("./")
        if not (exists(local) or (program.startswith("/") and which(program))) and not built_by_setup:
            yield f"{key}: {program} is not in the repository"
    elif which(program) is None and not exists(program):
        yield f"{key}: {program!r} is neither in the repository nor on PATH"
        return
    if _INTERPRETER.match(program.rsplit("/", 1)[-1]):
        script = _script_of(words)
        if script is not None and not _dynamic(script) and not exists(script.removeprefix("./")):
            yield f"{key}: {script} (run by {program}) is not in the repository"


def missing_programs(config: Config, *, exists: Exists, which: Which) -> list[str]:
    """The programs and scripts that ``benchmark.setup``, ``benchmark.command`` and ``gate.command``
    start but that exist neither in the repository nor on ``PATH``, one line each.

    Only the first simple command of each line is looked at, and nothing the shell would expand.
    A relative program path is not reported when ``benchmark.setup`` may build it; the benchmark's
    script is not looked for in the working tree when ``benchmark.from`` takes it from elsewhere.
    """
    found: list[str] = []
    bench = config.benchmark
    setup = bench.setup is not None
    elsewhere = bench.source is not None and bench.source not in ("working-tree",)
    if bench.setup:
        found += _findings("benchmark.setup", bench.setup, exists=exists, which=which, built_by_setup=False)
    if bench.command:
        bench_exists: Exists = (lambda _: True) if elsewhere else exists
        found += _findings(
            "benchmark.command", bench.command, exists=bench_exists, which=which, built_by_setup=setup
        )
    if config.gate.command:
        found += _findings(
            "gate.command", config.gate.command, exists=exists, which=which, built_by_setup=setup
        )
    return found
