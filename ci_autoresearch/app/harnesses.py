"""The benchmark harnesses ``init`` recognises, each as the command and metric that run it. Pure.

pytest-benchmark (a test taking the ``benchmark`` fixture), asv (``asv.conf.json`` and its ``time_*``
benchmarks, timed with ``timeit`` in the same interpreter: no asv environments to build), hyperfine (a
``hyperfine`` command line in a Makefile, a script or a workflow) and Google Benchmark
(``BENCHMARK(...)`` in a C++ source built by CMake). :func:`find_harness` tries them in that order,
Google Benchmark before hyperfine; :mod:`ci_autoresearch.app.detect` turns what it finds into a
configuration.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

PYTEST_JSON = ".autoresearch-pytest-benchmark.json"
HYPERFINE_JSON = ".autoresearch-hyperfine.json"
GBENCH_JSON = ".autoresearch-google-benchmark.json"

Reader = Callable[[str], "str | None"]


@dataclass(frozen=True, kw_only=True)
class RepoView:
    """What ``init`` may look at: the repository's files (POSIX paths relative to its root) and their text
    (None when a file cannot be read as text)."""

    files: tuple[str, ...]
    read: Reader
    has_valgrind: bool = False


@dataclass(frozen=True, kw_only=True)
class Harness:
    """A benchmark found in the repository, as the configuration will run it."""

    kind: str  # pytest-benchmark | asv | hyperfine | google-benchmark
    command: str
    metric: str
    metric_lines: tuple[str, ...]  # the YAML of its entry under benchmark.metrics (indented)
    protected: tuple[str, ...]
    found: str  # one line: what was found where
    setup: str | None = None
    ignore: tuple[str, ...] = ()  # files the command writes into the checkout
    notes: tuple[str, ...] = ()  # comments written above the benchmark section


# --- helpers -------------------------------------------------------------------------------------------


def yaml_str(text: str) -> str:
    """A YAML scalar for ``text`` (JSON strings are YAML)."""
    return json.dumps(text, ensure_ascii=False)


def text_of(view: RepoView, path: str) -> str:
    return view.read(path) or ""


def _folder(paths: Sequence[str]) -> str:
    """The protected pattern for a set of files: their common folder (``benchmarks/``) when they share
    one below the root, else the files themselves, comma-separated by the caller."""
    parents = {str(PurePosixPath(p).parent) for p in paths}
    if len(parents) == 1 and (parent := parents.pop()) != ".":
        return parent + "/"
    return ""


def _protect(paths: Sequence[str]) -> tuple[str, ...]:
    folder = _folder(paths)
    return (folder,) if folder else tuple(sorted(set(paths)))


def _metric_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.-") or "benchmark"
    return name if re.match(r"[A-Za-z_]", name) else f"b_{name}"


DEPENDENCY_FILES = re.compile(
    r"(^|/)(pyproject\.toml|setup\.cfg|setup\.py|tox\.ini|requirements[^/]*\.(txt|in)|environment\.ya?ml|Pipfile)$"
)


def _python_deps(view: RepoView) -> str:
    return "\n".join(text_of(view, p) for p in view.files if DEPENDENCY_FILES.search(p) and p.count("/") <= 1)


# --- pytest and pytest-benchmark --------------------------------------------------------------------------

_TEST_FILE = re.compile(r"(^|/)(test_[^/]*|[^/]*_test)\.py$")
_BENCHMARK_TEST = re.compile(r"^\s*def (test_\w+)\s*\(([^)]*)\)", re.M)


def _benchmark_tests(view: RepoView) -> list[tuple[str, str, bool]]:
    """``(file, test name, parametrized)`` of the tests that take the ``benchmark`` fixture."""
    found = []
    for path in view.files:
        if not _TEST_FILE.search(path):
            continue
        text = text_of(view, path)
        if "benchmark" not in text:
            continue
        for match in _BENCHMARK_TEST.finditer(text):
            params = [p.split(":")[0].split("=")[0].strip() for p in match.group(2).split(",")]
            if "benchmark" in params:
                before = text[: match.start()].rstrip().splitlines()[-3:]
                parametrized = any("parametrize" in line for line in before)
                found.append((path, match.group(1), parametrized))
    return found


def has_pytest(view: RepoView) -> bool:
    deps = _python_deps(view)
    return (
        "pytest" in deps
        or any(_TEST_FILE.search(p) for p in view.files)
        or any(p.endswith(("conftest.py", "pytest.ini")) for p in view.files)
    )


def _pytest_benchmark(view: RepoView) -> Harness | None:
    tests = _benchmark_tests(view)
    if not tests:
        return None
    files = sorted({f for f, _, _ in tests})
    target = _folder(files).rstrip("/") or " ".join(files)
    path, name, parametrized = next((t for t in tests if not t[2]), tests[0])
    notes: tuple[str, ...] = ()
    if parametrized:
        notes = (
            f"{name} is parametrized: set `path:` to one case as pytest-benchmark names it, e.g. {name}[10]",
        )
    others = sorted({n for _, n, _ in tests} - {name})
    if others:
        notes += (f"other benchmarks there: {', '.join(others[:8])}{' …' if len(others) > 8 else ''}",)
    metric = _metric_name(name)
    return Harness(
        kind="pytest-benchmark",
        command=f"python -m pytest {target} --benchmark-only --benchmark-json={PYTEST_JSON} -q",
        metric=metric,
        metric_lines=(
            f"    - name: {metric}",
            "      source: pytest-benchmark",
            f"      file: {PYTEST_JSON}",
            f"      path: {yaml_str(name)}",
            "      field: median",
            "      unit: s",
        ),
        protected=_protect(files),
        found=f"pytest-benchmark: {name} in {path} → objective {metric} (its median, in seconds)",
        ignore=(PYTEST_JSON,),
        notes=notes,
    )


# --- asv ---------------------------------------------------------------------------------------------------


def _json_with_comments(text: str) -> object:
    """asv.conf.json allows ``//`` comments; drop them before parsing."""
    cleaned = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    try:
        return json.loads(cleaned)
    except ValueError:
        return None


def _asv_benchmarks(source: str) -> list[tuple[str | None, str, bool, bool]]:
    """``(class or None, function, has setup, has params)`` of the ``time_*`` benchmarks in a module."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    module_setup = any(isinstance(n, ast.FunctionDef) and n.name == "setup" for n in tree.body)
    found: list[tuple[str | None, str, bool, bool]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("time_"):
            found.append((None, node.name, module_setup, bool(node.args.args)))
        elif isinstance(node, ast.ClassDef):
            names = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            params = any(
                isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "params" for t in n.targets)
                for n in node.body
            )
            for name in sorted(n for n in names if n.startswith("time_")):
                found.append((node.name, name, "setup" in names, params))
    return found


def _asv(view: RepoView) -> Harness | None:
    confs = sorted(
        (p for p in view.files if PurePosixPath(p).name == "asv.conf.json"), key=lambda p: p.count("/")
    )
    if not confs:
        return None
    conf_path = confs[0]
    conf = _json_with_comments(text_of(view, conf_path))
    root = str(PurePosixPath(conf_path).parent)
    bench_dir = str(conf.get("benchmark_dir", "benchmarks")) if isinstance(conf, dict) else "benchmarks"
    bench_dir = str(PurePosixPath(root) / bench_dir) if root != "." else bench_dir
    modules = sorted(p for p in view.files if p.startswith(bench_dir.rstrip("/") + "/") and p.endswith(".py"))
    for module in modules:
        for cls, func, has_setup, has_params in _asv_benchmarks(text_of(view, module)):
            if has_params:
                continue
            rel = PurePosixPath(module).relative_to(bench_dir)
            dotted = ".".join(rel.with_suffix("").parts)
            name = f"{cls}.{func}" if cls else func
            metric = _metric_name(name)
            if cls:
                target = f"b = m.{cls}(); " + ("b.setup(); " if has_setup else "") + f"f = b.{func}"
            else:
                target = ("m.setup(); " if has_setup else "") + f"f = m.{func}"
            code = (
                f"import sys, timeit; sys.path.insert(0, {yaml_str(bench_dir)}); "
                f"import {dotted} as m; {target}; "
                f'print("METRIC {metric}=%r" % min(timeit.repeat(f, number=1, repeat=5)))'
            )
            return Harness(
                kind="asv",
                command=f"python -c {shlex.quote(code)}",
                metric=metric,
                metric_lines=(f"    - name: {metric}", "      source: stdout", "      unit: s"),
                protected=(bench_dir.rstrip("/") + "/", conf_path),
                found=(
                    f"asv: {name} in {module} → objective {metric} (best of 5 calls, timed in this "
                    "interpreter; no asv environment is built)"
                ),
                notes=(
                    "asv's own `asv run` builds environments per commit; here each run times the "
                    "benchmark function directly, both sides in the same interpreter",
                ),
            )
    return None


# --- hyperfine ---------------------------------------------------------------------------------------------

_SCRIPT_LIKE = re.compile(
    r"(^|/)(Makefile|GNUmakefile|justfile|Justfile|[^/]*\.(sh|bash|mk|ya?ml|toml|json))$"
)
_HYPERFINE_VALUE_OPTIONS = frozenset(
    {
        *("-w", "--warmup", "-r", "--runs", "-m", "--min-runs", "-M", "--max-runs", "-p", "--prepare"),
        *("-c", "--cleanup", "-s", "--setup", "-n", "--command-name", "-S", "--shell", "-u", "--time-unit"),
        *("--export-json", "--export-csv", "--export-markdown", "--export-asciidoc", "--export-orgmode"),
        *("--style", "--output", "--sort", "-i", "--ignore-failure", "--input", "--conclude"),
    }
)
_HYPERFINE_TWO_VALUES = frozenset({"-L", "--parameter-list"})
_HYPERFINE_THREE_VALUES = frozenset({"-P", "--parameter-scan"})


def _hyperfine_line(text: str) -> str | None:
    for raw in text.splitlines():
        line = raw.strip()
        for prefix in ("- run:", "run:", "-", "@", '"'):
            line = line.removeprefix(prefix).strip()
        idx = line.find("hyperfine ")
        if idx >= 0 and (idx == 0 or line[idx - 1] in " ;&|"):
            return line[idx:].rstrip('",').strip()
    return None


def _hyperfine_args(line: str) -> tuple[list[str], list[str], list[str]] | None:
    """``(options kept, commands, command names)`` of a hyperfine command line; None if unparsable."""
    try:
        words = shlex.split(line)
    except ValueError:
        return None
    kept: list[str] = []
    commands: list[str] = []
    names: list[str] = []
    it = iter(words[1:])
    for word in it:
        if word in ("&&", "||", ";", "|"):
            break
        if word.startswith("--export-"):
            if "=" not in word:
                next(it, None)
            continue
        if word in _HYPERFINE_TWO_VALUES:
            kept += [word, next(it, ""), next(it, "")]
        elif word in _HYPERFINE_THREE_VALUES:
            kept += [word, next(it, ""), next(it, ""), next(it, "")]
        elif word in _HYPERFINE_VALUE_OPTIONS:
            value = next(it, "")
            kept += [word, value]
            if word in ("-n", "--command-name"):
                names.append(value)
        elif word.startswith("-"):
            kept.append(word)
        else:
            commands.append(word)
    return (kept, commands, names) if commands else None


def _hyperfine(view: RepoView) -> Harness | None:
    for path in sorted(view.files, key=lambda p: (p.count("/"), p)):
        if not _SCRIPT_LIKE.search(path) or path.endswith(("package-lock.json", ".autoresearch.yml")):
            continue
        line = _hyperfine_line(text_of(view, path))
        if line is None or "$(" in line or "${{" in line:
            continue
        parsed = _hyperfine_args(line)
        if parsed is None:
            continue
        kept, commands, names = parsed
        command = shlex.join(["hyperfine", *kept, "--export-json", HYPERFINE_JSON, *commands])
        bench = names[0] if names else commands[0]
        metric = "command_time"
        lines = [f"    - name: {metric}", "      source: hyperfine", f"      file: {HYPERFINE_JSON}"]
        if len(commands) > 1:
            lines.append(f"      path: {yaml_str(bench)}")
        lines += ["      field: median", "      unit: s"]
        setup = "cargo build --release" if "Cargo.toml" in view.files else None
        return Harness(
            kind="hyperfine",
            command=command,
            metric=metric,
            metric_lines=tuple(lines),
            protected=(path,),
            found=f"hyperfine: `{bench}` in {path} → objective {metric} (its median, in seconds)",
            setup=setup,
            ignore=(HYPERFINE_JSON,),
        )
    return None


# --- Google Benchmark --------------------------------------------------------------------------------------

_GBENCH_LINK = re.compile(
    r"benchmark::benchmark|find_package\s*\(\s*benchmark\b|google/benchmark|googlebenchmark"
)
_GBENCH_MACRO = re.compile(r"^\s*BENCHMARK\s*\(\s*(\w+)\s*\)([^;]*);", re.M)
_GBENCH_ARG = re.compile(r"->\s*Arg\s*\(\s*(-?\d+)\s*\)")
_ADD_EXECUTABLE = re.compile(r"add_executable\s*\(\s*([\w.-]+)([^)]*)\)", re.S)
_LINKS = re.compile(r"target_link_libraries\s*\(\s*([\w.-]+)([^)]*)\)", re.S)


def _gbench_run_name(name: str, chain: str) -> str:
    """The name Google Benchmark reports: ``BM_Sort/64`` for ``BENCHMARK(BM_Sort)->Arg(64)->…``."""
    arg = _GBENCH_ARG.search(chain)
    return f"{name}/{arg.group(1)}" if arg else name


def _google_benchmark(view: RepoView) -> Harness | None:
    cmakes = sorted(
        (p for p in view.files if PurePosixPath(p).name == "CMakeLists.txt"), key=lambda p: p.count("/")
    )
    if not cmakes or not any(_GBENCH_LINK.search(text_of(view, p)) for p in cmakes):
        return None
    sources = [p for p in view.files if p.endswith((".cc", ".cpp", ".cxx"))]
    found = [
        (p, _gbench_run_name(m.group(1), m.group(2)))
        for p in sorted(sources)
        for m in _GBENCH_MACRO.finditer(text_of(view, p))
    ]
    if not found:
        return None
    source, name = found[0]
    target, build_dir = None, ""
    for cmake in cmakes:
        text = text_of(view, cmake)
        linked = {m.group(1) for m in _LINKS.finditer(text) if "benchmark" in m.group(2)}
        for m in _ADD_EXECUTABLE.finditer(text):
            if PurePosixPath(source).name in m.group(2) or m.group(1) in linked:
                target = m.group(1)
                parent = str(PurePosixPath(cmake).parent)
                build_dir = "" if parent == "." else parent + "/"
                break
        if target:
            break
    if target is None:
        return None
    tests = any(re.search(r"enable_testing\s*\(|add_test\s*\(", text_of(view, p)) for p in cmakes)
    build = "cmake --build build" + ("" if tests else f" --target {target}")
    metric = _metric_name(name)
    return Harness(
        kind="google-benchmark",
        command=(
            f"./build/{build_dir}{target} --benchmark_filter='^{name}$' "
            f"--benchmark_out={GBENCH_JSON} --benchmark_out_format=json"
        ),
        metric=metric,
        metric_lines=(
            f"    - name: {metric}",
            "      source: google-benchmark",
            f"      file: {GBENCH_JSON}",
            f"      path: {yaml_str(name)}",
            "      field: real_time",
            "      unit: s",
        ),
        protected=_protect([p for p, _ in found]),
        found=f"Google Benchmark: {name} in {source} (target {target}) → objective {metric} (real time, s)",
        setup=f"cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && {build}",
        ignore=(GBENCH_JSON,),
        notes=("other benchmarks there: " + (", ".join(n for _, n in found[1:8]) or "none"),),
    )


def find_harness(view: RepoView) -> Harness | None:
    """The first harness found: pytest-benchmark, asv, Google Benchmark, hyperfine; None when none is."""
    return _pytest_benchmark(view) or _asv(view) or _google_benchmark(view) or _hyperfine(view)
