"""Entry point: the only place that turns an :class:`AutoresearchError` into an exit code."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from ci_autoresearch.cli import cli  # noqa: PLC0415 - keeps `import ci_autoresearch` light

    cli.main(args=argv, prog_name="ci-autoresearch")


if __name__ == "__main__":
    main(sys.argv[1:])
