"""User-facing errors. Each carries its exit code; the CLI prints one line and exits with it.

Exit codes (documented in README "Exit codes"):
  0  done (any verdict, including ``invalid``, is a completed evaluation)
  1  internal error (a bug: please report it, rerun with --debug for the traceback)
  2  bad input: config, arguments, refs, artifacts, event payloads, missing tools
  3  the measurement failed: the benchmark command failed, timed out, or gave no metric
  4  the forge (GitHub API) failed after retries
  128 + signal: interrupted: 130 SIGINT (Ctrl-C), 143 SIGTERM, 129 SIGHUP (see interrupt.py); the process
      tree is stopped, checkouts are removed and what was measured is written as a partial result
"""

from __future__ import annotations


class AutoresearchError(Exception):
    """Base of every error meant for the user: ``str(err)`` is one clear line."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class BadInputError(AutoresearchError):
    """Something the user gave us is wrong: a file, a key, an argument, a ref."""

    exit_code = 2


class ConfigError(BadInputError):
    """The configuration file is missing, unparsable or invalid."""

    def __init__(self, file: str, key: str | None, message: str, *, hint: str | None = None) -> None:
        where = f"{file}: {key}: " if key else f"{file}: "
        super().__init__(where + message, hint=hint)
        self.file = file
        self.key = key


class GitError(BadInputError):
    """A git operation failed (unknown ref, not a repository, dirty tree where it matters)."""


class ArtifactError(BadInputError):
    """A result/comparison/evaluation JSON file is unreadable or does not match its schema."""


class ToolMissingError(BadInputError):
    """An external program the configuration needs (valgrind, git) is not installed."""


class MeasurementError(AutoresearchError):
    """The benchmark could not be measured: non-zero exit, timeout, metric missing or not a number.

    ``partial`` carries what was measured before the failure (a ``Result``), so it can be written out;
    ``output``, the last lines the failing command printed (shown on an ``invalid`` candidate's report).
    """

    exit_code = 3
    partial: object | None = None
    output: str = ""


class ForgeError(AutoresearchError):
    """The forge (GitHub) refused or failed after retries."""

    exit_code = 4


EXIT_INTERRUPTED = 130
