"""Where we run: the environment fingerprint stored with every result."""

from __future__ import annotations

import datetime as dt
import os
import platform
from collections.abc import Mapping
from pathlib import Path

from ci_autoresearch.model import Environment


def _cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def detect_environment(env: Mapping[str, str]) -> Environment:
    """The fingerprint of this machine; ``RUNNER_NAME`` (GitHub Actions) names the runner when set."""
    return Environment(
        cpu_model=_cpu_model(),
        cores=os.cpu_count() or 1,
        os=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        machine=platform.machine(),
        runner_name=env.get("RUNNER_NAME", "local"),
    )


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
