"""Helpers shared by the benchmark scripts: where we run, result files, Markdown tables, rates.

The scripts run from a source checkout (``python bench/NAME.py``); this module puts the repository root
on ``sys.path`` so that ``ci_autoresearch`` is importable without installing it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ci_autoresearch import __version__  # noqa: E402
from ci_autoresearch.measure.environment import detect_environment  # noqa: E402


def machine_info() -> dict[str, Any]:
    """The machine and software a result was measured with (stored in every result file)."""
    env = detect_environment(os.environ)
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover - not on every platform
        load = (0.0, 0.0, 0.0)
    return {
        "cpu_model": env.cpu_model,
        "cores": env.cores,
        "os": env.os,
        "machine": env.machine,
        "python": env.python,
        "tool_version": __version__,
        "tool_commit": _git_head(),
        "date": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def _git_head() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every script has: ``--quick`` and ``--out-dir``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--quick",
        action="store_true",
        help="small and fast (under 2 minutes): checks that the script works, not a measurement",
    )
    p.add_argument(
        "--out-dir",
        type=Path,
        default=RESULTS,
        help=f"where the JSON files go (default: {RESULTS.relative_to(ROOT)})",
    )
    return p


def result_name(name: str, quick: bool) -> str:
    """``NAME.json``, or ``NAME-quick.json`` for a quick run (so it never overwrites a full result)."""
    return f"{name}-quick.json" if quick else f"{name}.json"


def write_json(path: Path, doc: Mapping[str, Any], *, compact: bool = False) -> Path:
    """Write ``doc`` atomically (temporary file, then rename); ``compact``: no indentation (samples)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            if compact:
                json.dump(doc, fh, separators=(",", ":"), allow_nan=False)
            else:
                json.dump(doc, fh, indent=1, allow_nan=False)
            fh.write("\n")
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub Markdown table; ``align`` is one letter per column (``l``/``r``), default: first left."""
    align = align or "l" + "r" * (len(headers) - 1)
    sep = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score 95 % interval of a rate ``k / n`` (sensible also at 0 and n)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def robust_sd(values: Sequence[float]) -> float | None:
    """1.4826 x the median absolute deviation: the SD of normal data, not inflated by heavy tails;
    None for fewer than two values."""
    if len(values) < 2:
        return None
    med = statistics.median(values)
    return 1.4826 * statistics.median(abs(v - med) for v in values)


def pct(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "—"
    return f"{x * 100:.{digits}f} %"


def signed_pct(x: float, digits: int = 1) -> str:
    return f"{x * 100:+.{digits}f} %".replace("-", "−")


def seconds(x: float | None) -> str:
    if x is None:
        return "—"
    if x < 1:
        return f"{x * 1000:.0f} ms"
    return f"{x:.2f} s"


def python_env() -> dict[str, str]:
    """The environment for child processes: this one, with the source tree importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("CI", None)
    return env


def platform_summary(info: Mapping[str, Any]) -> str:
    return (
        f"{info['cpu_model']}, {info['cores']} cores, {info['os']}, Python {info['python']}, "
        f"ci-autoresearch {info['tool_version']}, {info['date']}"
    )


__all__ = [
    "RESULTS",
    "ROOT",
    "machine_info",
    "markdown_table",
    "parser",
    "pct",
    "platform_summary",
    "python_env",
    "result_name",
    "seconds",
    "signed_pct",
    "wilson",
    "write_json",
]
