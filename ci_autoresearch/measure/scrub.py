"""What candidate code may see of the caller's environment: an allow-list, and the names that hold secrets.

Pure: the environment is passed in. :func:`scrub_env` is applied to every environment given to
untrusted code (benchmarks, setup, gates, generators, workers); :func:`secrets_in` names what a job
holds that candidate code must never see.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence

# What candidate code (benchmark, setup, gate, generator) gets of the caller's environment: an allow-list
# of what toolchains and interpreters need, plus the names a configuration passes on purpose (`pass_env`).
# Anything else -- tokens, the Actions runtime, the action's inputs, the runner's command files
# (GITHUB_ENV, GITHUB_OUTPUT, ...), an ssh agent, registry credentials -- never reaches it.
PASSED_NAMES = frozenset(
    {
        # the shell and the locale
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR", "TMP", "TEMP",
        "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "SOURCE_DATE_EPOCH",
        "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR",
        # CI detection and the runner's description (not its credentials)
        "CI", "GITHUB_ACTIONS", "RUNNER_OS", "RUNNER_ARCH", "RUNNER_TEMP", "RUNNER_TOOL_CACHE",
        # interpreters and toolchains
        "PYTHONPATH", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONUTF8", "PYTHONIOENCODING",
        "PYTHONWARNINGS", "VIRTUAL_ENV", "pythonLocation", "Python_ROOT_DIR", "Python2_ROOT_DIR",
        "Python3_ROOT_DIR", "JAVA_HOME", "GOROOT", "GOPATH", "GOCACHE", "GOFLAGS", "CARGO_HOME",
        "RUSTUP_HOME", "RUSTFLAGS", "CARGO_TARGET_DIR", "NODE_PATH",
        "LD_LIBRARY_PATH", "LIBRARY_PATH", "CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "PKG_CONFIG_PATH",
        "CMAKE_PREFIX_PATH", "CC", "CXX", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "MAKEFLAGS",
        # numeric libraries
        "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
        "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
    }
)  # fmt: skip
PASSED_PREFIXES = ("LC_",)
NEVER_PASSED = frozenset(
    {
        "GITHUB_TOKEN", "GH_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT",
        "GITHUB_STATE", "GITHUB_STEP_SUMMARY", "SSH_AUTH_SOCK",
    }
)  # fmt: skip
"""Names no configuration can pass to candidate code (``pass_env`` refuses them)."""
NEVER_PASSED_PREFIXES = ("ACTIONS_", "INPUT_", "GIT_CONFIG")
_CREDENTIAL_NAMES = frozenset({"GITHUB_TOKEN", "GH_TOKEN", "GH_ENTERPRISE_TOKEN", "SSH_AUTH_SOCK"})
_SECRET_WORDS = (
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "PRIVATE_KEY",
    "API_KEY",
    "ACCESS_KEY",
)
# user:password@ in a URL, or a long user name (a token used as one: https://<token>@github.com)
_URL_CREDENTIALS = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^/\s@:]+:[^/\s@]+|[^/\s@:]{20,})@")


def never_passed(name: str) -> bool:
    """True for the names :func:`scrub_env` drops even when a configuration asks for them."""
    upper = name.upper()
    return upper in NEVER_PASSED or upper.startswith(NEVER_PASSED_PREFIXES)


def scrub_env(env: Mapping[str, str], pass_env: Sequence[str] = ()) -> dict[str, str]:
    """What candidate code may see of ``env``: the allow-list :data:`PASSED_NAMES` (and ``LC_*``), minus
    any value that carries credentials in a URL (``https://user:pass@host``), plus the names in
    ``pass_env`` (the configuration's explicit opt-in; glob patterns allowed) -- never a name of
    :data:`NEVER_PASSED`, ``ACTIONS_*``, ``INPUT_*`` or ``GIT_CONFIG*``.
    """
    kept: dict[str, str] = {}
    for name, value in env.items():
        if never_passed(name):
            continue
        asked = any(fnmatch.fnmatchcase(name, pattern) for pattern in pass_env)
        allowed = name in PASSED_NAMES or name.startswith(PASSED_PREFIXES)
        if asked or (allowed and not _URL_CREDENTIALS.search(value)):
            kept[name] = value
    return kept


def secrets_in(env: Mapping[str, str], allowed: Sequence[str] = ()) -> list[str]:
    """The names in ``env`` that hold (or look like they hold) a credential: a GitHub token, the Actions
    runtime's tokens, an ssh agent, any name with TOKEN, SECRET, PASSWORD, CREDENTIAL, API_KEY ...,
    and any value with credentials in a URL. Names matching ``allowed`` (glob patterns) are left out.
    """
    found = []
    for name, value in env.items():
        if not value or any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed):
            continue
        upper = name.upper()
        if (
            upper in _CREDENTIAL_NAMES
            or any(word in upper for word in _SECRET_WORDS)
            or (upper.startswith("INPUT_") and "TOKEN" in upper)
            or _URL_CREDENTIALS.search(value)
        ):
            found.append(name)
    return sorted(found)


__all__ = ["NEVER_PASSED", "PASSED_NAMES", "never_passed", "scrub_env", "secrets_in"]
