"""The ``deepinv-jitter`` command line (also ``python -m deepinv_jitter``)."""

from __future__ import annotations

import argparse
import sys

from .__about__ import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepinv-jitter",
        description=(
            "Train unrolled reconstruction networks with SGD jittering and compare them with "
            "MSE, input-jittering and adversarial training."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
