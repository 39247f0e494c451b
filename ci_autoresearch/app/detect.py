"""``init``: look at a repository and propose a configuration that runs as it is. Pure.

The caller gives the repository's file list and a way to read a file (:class:`RepoView`); this module
finds what the project already has and turns it into ``.autoresearch.yml`` text with comments:

* a benchmark harness becomes the metric source — pytest-benchmark (a test taking the ``benchmark``
  fixture), asv (``asv.conf.json`` and its ``time_*`` benchmarks, timed with ``timeit`` in the same
  interpreter: no asv environments to build), hyperfine (a ``hyperfine`` command line in a Makefile, a
  script or a workflow) or Google Benchmark (``BENCHMARK(...)`` in a C++ source built by CMake);
* the test command becomes the gate (pytest, cargo, go, npm, ctest, make);
* the benchmark's files become protected, with the test folder;
* valgrind on ``PATH`` adds a note about the near-deterministic ``instructions`` metric.

Nothing found: :attr:`Proposal.kind` is None and the caller writes the generic starter.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

DOCS = "https://github.com/ci-autoresearch/ci-autoresearch/blob/main/docs/configuration.md"
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


@dataclass(frozen=True, kw_only=True)
class Proposal:
    """The proposed configuration: its text, one line per finding, and the result files the benchmark
    writes (to keep out of ``git status``). ``kind`` is None when no harness was found."""

    kind: str | None
    config: str
    findings: tuple[str, ...] = ()
    ignore: tuple[str, ...] = field(default_factory=tuple)


# --- helpers -------------------------------------------------------------------------------------------


def _q(text: str) -> str:
    """A YAML scalar for ``text`` (JSON strings are YAML)."""
    return json.dumps(text, ensure_ascii=False)


def _text(view: RepoView, path: str) -> str:
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


_DEPENDENCY_FILES = re.compile(
    r"(^|/)(pyproject\.toml|setup\.cfg|setup\.py|tox\.ini|requirements[^/]*\.(txt|in)|environment\.ya?ml|Pipfile)$"
)


def _python_deps(view: RepoView) -> str:
    return "\n".join(_text(view, p) for p in view.files if _DEPENDENCY_FILES.search(p) and p.count("/") <= 1)


# --- pytest and pytest-benchmark --------------------------------------------------------------------------

_TEST_FILE = re.compile(r"(^|/)(test_[^/]*|[^/]*_test)\.py$")
_BENCHMARK_TEST = re.compile(r"^\s*def (test_\w+)\s*\(([^)]*)\)", re.M)


def _benchmark_tests(view: RepoView) -> list[tuple[str, str, bool]]:
    """``(file, test name, parametrized)`` of the tests that take the ``benchmark`` fixture."""
    found = []
    for path in view.files:
        if not _TEST_FILE.search(path):
            continue
        text = _text(view, path)
        if "benchmark" not in text:
            continue
        for match in _BENCHMARK_TEST.finditer(text):
            params = [p.split(":")[0].split("=")[0].strip() for p in match.group(2).split(",")]
            if "benchmark" in params:
                before = text[: match.start()].rstrip().splitlines()[-3:]
                parametrized = any("parametrize" in line for line in before)
                found.append((path, match.group(1), parametrized))
    return found


def _has_pytest(view: RepoView) -> bool:
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
            f"      path: {_q(name)}",
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
    conf = _json_with_comments(_text(view, conf_path))
    root = str(PurePosixPath(conf_path).parent)
    bench_dir = str(conf.get("benchmark_dir", "benchmarks")) if isinstance(conf, dict) else "benchmarks"
    bench_dir = str(PurePosixPath(root) / bench_dir) if root != "." else bench_dir
    modules = sorted(p for p in view.files if p.startswith(bench_dir.rstrip("/") + "/") and p.endswith(".py"))
    for module in modules:
        for cls, func, has_setup, has_params in _asv_benchmarks(_text(view, module)):
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
                f"import sys, timeit; sys.path.insert(0, {_q(bench_dir)}); import {dotted} as m; {target}; "
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
        line = _hyperfine_line(_text(view, path))
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
            lines.append(f"      path: {_q(bench)}")
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
    if not cmakes or not any(_GBENCH_LINK.search(_text(view, p)) for p in cmakes):
        return None
    sources = [p for p in view.files if p.endswith((".cc", ".cpp", ".cxx"))]
    found = [
        (p, _gbench_run_name(m.group(1), m.group(2)))
        for p in sorted(sources)
        for m in _GBENCH_MACRO.finditer(_text(view, p))
    ]
    if not found:
        return None
    source, name = found[0]
    target, build_dir = None, ""
    for cmake in cmakes:
        text = _text(view, cmake)
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
    tests = any(re.search(r"enable_testing\s*\(|add_test\s*\(", _text(view, p)) for p in cmakes)
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
            f"      path: {_q(name)}",
            "      field: real_time",
            "      unit: s",
        ),
        protected=_protect([p for p, _ in found]),
        found=f"Google Benchmark: {name} in {source} (target {target}) → objective {metric} (real time, s)",
        setup=f"cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && {build}",
        ignore=(GBENCH_JSON,),
        notes=("other benchmarks there: " + (", ".join(n for _, n in found[1:8]) or "none"),),
    )


# --- the gate ----------------------------------------------------------------------------------------------


def _make_targets(text: str) -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, re.M))


def _gate(view: RepoView, harness: Harness | None) -> tuple[str, str] | None:
    """The test command and why it was chosen."""
    files = set(view.files)
    python = any(_DEPENDENCY_FILES.search(p) for p in files) or any(p.endswith(".py") for p in files)
    if python and _has_pytest(view):
        extra = " --benchmark-skip" if harness is not None and harness.kind == "pytest-benchmark" else ""
        return f"python -m pytest -q -p no:cacheprovider{extra}", "pytest"
    if "Cargo.toml" in files:
        return "cargo test --release", "Cargo.toml"
    if "go.mod" in files:
        return "go test ./...", "go.mod"
    if "package.json" in files:
        try:
            scripts = json.loads(_text(view, "package.json")).get("scripts", {})
        except (ValueError, AttributeError):
            scripts = {}
        if isinstance(scripts, dict) and "test" in scripts:
            return "npm test", "package.json's test script"
    if harness is not None and harness.kind == "google-benchmark":
        cmake = "\n".join(_text(view, p) for p in files if p.endswith("CMakeLists.txt"))
        if re.search(r"enable_testing\s*\(|add_test\s*\(", cmake):
            return "ctest --test-dir build --output-on-failure", "CMake tests (enable_testing)"
    for makefile in ("Makefile", "GNUmakefile"):
        targets = _make_targets(_text(view, makefile)) if makefile in files else set()
        for target in ("test", "check"):
            if target in targets:
                return f"make {target}", f"{makefile} target {target}"
    return None


def _test_folders(view: RepoView) -> tuple[str, ...]:
    tops = {p.split("/", 1)[0] for p in view.files if "/" in p}
    return tuple(f"{d}/" for d in ("tests", "test") if d in tops)


# --- the proposal ------------------------------------------------------------------------------------------


def propose_config(view: RepoView) -> Proposal:
    """What ``init`` writes for this repository (see the module docstring)."""
    harness = _pytest_benchmark(view) or _asv(view) or _google_benchmark(view) or _hyperfine(view)
    gate = _gate(view, harness)
    if harness is None:
        found = (f"test command: {gate[0]} ({gate[1]}) → gate.command",) if gate else ()
        return Proposal(kind=None, config="", findings=found)
    protected = _dedupe([*harness.protected, *_test_folders(view)])
    findings = [harness.found]
    if gate:
        findings.append(f"test command: {gate[0]} ({gate[1]}) → gate.command")
    findings.append(f"protected: {', '.join(protected)} (a candidate may add files there, not change them)")
    if view.has_valgrind:
        findings.append("valgrind is installed: see the note about the `instructions` metric at the end")
    lines = [
        "# ci-autoresearch configuration, proposed by `ci-autoresearch init` from this repository:",
        *(f"#   - {f}" for f in findings),
        "# Check it with `ci-autoresearch validate`, try it with `ci-autoresearch bench`.",
        f"# Every key, its default and its meaning: {DOCS}",
        "version: 1",
        "",
        "objective:",
        f"  metric: {harness.metric}",
        "  direction: minimize",
        "",
        *(f"# {note}" for note in harness.notes),
        "benchmark:",
        *([f"  setup: {_q(harness.setup)}"] if harness.setup else []),
        f"  command: {_q(harness.command)}",
        "  timeout_seconds: 600",
        "  metrics:",
        *harness.metric_lines,
        "",
        "metrics:",
        "  collection:",
        "    warmup_runs: 1 # runs of each side before measuring, not counted",
        "    measurement_runs: 10 # rounds (one run of each side) before the first decision",
        "",
        "decision:",
        "  min_effect: 0.01 # the smallest relative change that counts (1 %)",
        "  max_rounds: 30 # rounds added while the answer is inconclusive",
        "",
        "# A candidate must pass the tests and leave the benchmark alone (git pathspec globs: `*` stays",
        "# within one folder, `**` crosses folders; adding new files under a protected folder is allowed).",
        "gate:",
        *([f"  command: {_q(gate[0])}"] if gate else ["  # command: your test command"]),
        f"  protected_paths: [{', '.join(_q(p) for p in protected)}]",
        "",
        "candidates:",
        '  branches: ["autoresearch/*"] # branches to evaluate; pull requests need the label below',
        '  label: "autoresearch:candidate"',
    ]
    if view.has_valgrind:
        lines += [
            "",
            "# valgrind is installed: for CPU-bound code an instruction count is near-deterministic, so a",
            "# 1 % change is found in a few rounds. To optimise it instead of time:",
            "#   objective: {metric: instructions}",
            "#   and under benchmark.metrics: - {name: instructions, source: instructions}",
        ]
    return Proposal(
        kind=harness.kind, config="\n".join(lines) + "\n", findings=tuple(findings), ignore=harness.ignore
    )


def _dedupe(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
