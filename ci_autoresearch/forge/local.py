"""The offline forge: records what it would do on GitHub under the state directory and says it.

``root`` is the state directory (:func:`ci_autoresearch.history.state.state_dir`, ``.git/autoresearch/``):
``forge.jsonl`` gets one line per action (publish / open / close); each evaluation's report is written
to ``reports/<sha>-<iteration>.md``, the body of each pull request it would open to ``pulls/<branch>.md``.
Nothing leaves the machine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ci_autoresearch.forge import Forge, Publication
from ci_autoresearch.measure.environment import now_iso


class LocalForge(Forge):
    def __init__(self, root: Path, *, say: Callable[[str], None] = print) -> None:
        self.root = root
        self.say = say
        self.log = root / "forge.jsonl"

    def _record(self, action: str, **fields: Any) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as fh:
            fh.write(json.dumps({"at": now_iso(), "action": action, **fields}, ensure_ascii=True) + "\n")

    def actions(self) -> list[dict[str, Any]]:
        if not self.log.is_file():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def _open_branches(self) -> set[str]:
        state: dict[str, bool] = {}
        for a in self.actions():
            if a["action"] in ("open", "close"):
                state[a["branch"]] = a["action"] == "open"
        return {b for b, is_open in state.items() if is_open}

    def publish(self, pub: Publication) -> None:
        ev = pub.evaluation
        path = self.root / "reports" / f"{ev.comparison.candidate.sha[:12]}-{ev.iteration}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(pub.markdown)
        self._record(
            "publish",
            key=ev.key,
            verdict=ev.comparison.verdict,
            decision=ev.decision,
            branch=pub.branch,
            report=str(path),
        )

    def open_change(self, *, branch: str, base: str, title: str, body: str, report: str = "") -> str:
        if branch in self._open_branches():
            return f"local:{branch}"
        path = self.root / "pulls" / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', branch)}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {title}\n\n{body}")
        self._record("open", branch=branch, base=base, title=title, body=str(path))
        self.say(f"would open a pull request: {branch} → {base}: {title}")
        return f"local:{branch}"

    def close_change(self, *, branch: str, reason: str, key: str = "") -> bool:
        """Locally nobody knows whether GitHub has a PR for ``branch``: record that it would be closed."""
        self._record("close", branch=branch, reason=reason, key=key)
        self.say(f"would close the pull request of {branch} (if one is open): {reason}")
        return True
