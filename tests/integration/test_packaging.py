"""What the built wheel and sdist ship: the example workflows `init --github` writes are package data."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from hatchling.builders.sdist import SdistBuilder
from hatchling.builders.wheel import WheelBuilder

from tests.helpers import ROOT


def test_wheel_and_sdist_ship_every_example_workflow(tmp_path: Path) -> None:
    shipped = sorted(p.name for p in (ROOT / "examples" / "workflows").glob("*.yml"))
    assert shipped
    wheel = Path(next(iter(WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"]))))
    sdist = Path(next(iter(SdistBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"]))))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        zf.extractall(tmp_path / "site")
    assert sorted(n.split("/")[-1] for n in names if n.startswith("ci_autoresearch/workflows/")) == shipped
    with tarfile.open(sdist) as tf:
        members = tf.getnames()
    assert all(any(m.endswith(f"/examples/workflows/{name}") for m in members) for name in shipped)
    # installed from the wheel (no source checkout beside it), the package finds them as package data
    code = (
        "import json; from ci_autoresearch.app.adopt import shipped_workflows as s; "
        "print(json.dumps(list(s())))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r}); {code}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert json.loads(out.stdout) == shipped
