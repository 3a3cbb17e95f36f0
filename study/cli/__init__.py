"""The command line: `run_study.py` and the `acceptance-study` console script."""

from study.cli.arguments import build_parser
from study.cli.commands import main

__all__ = ["build_parser", "main"]
