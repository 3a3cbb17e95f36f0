"""Command line: argument parsing and one call per stage; no science in here.

python run_study.py generate --rows N --output DIR [--seed S]
python run_study.py prepare --input RAW --output DIR [--label NAME] [--flags a,b]
python run_study.py check --data DIR
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

COMMANDS = ("generate", "prepare", "check")


def _csv(text: str) -> list[str]:
    return [t for t in text.split(",") if t]


def _generate_parser(sub) -> None:
    p = sub.add_parser("generate", help="write the embedded LHCb-like sample as a prepared dataset")
    p.add_argument("--rows", type=int, required=True, help="number of particles")
    p.add_argument("--output", type=Path, required=True, help="prepared dataset directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")


def _prepare_parser(sub) -> None:
    p = sub.add_parser("prepare", help="split and preprocess your own raw feather data")
    p.add_argument(
        "--input",
        type=Path,
        required=True,
        help="a feather file or a directory of them (definitions.json optional)",
    )
    p.add_argument("--output", type=Path, required=True, help="prepared dataset directory")
    p.add_argument("--label", default="acceptance", help="label column (default: acceptance)")
    p.add_argument(
        "--flags",
        type=_csv,
        default=None,
        help="comma-separated flag columns, passed through untransformed "
        "(default: columns with at most 3 integer values)",
    )
    p.add_argument(
        "--extras",
        type=_csv,
        default=[],
        help="comma-separated columns kept but neither feature nor label",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")


def _check_parser(sub) -> None:
    p = sub.add_parser("check", help="check a prepared dataset and print its statistics")
    p.add_argument("--data", type=Path, required=True, help="prepared dataset directory")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_study.py",
        description="Hyperparameter study of the acceptance model of a fast detector simulation.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _generate_parser(sub)
    _prepare_parser(sub)
    _check_parser(sub)
    return parser


def _print_stats(stats: dict) -> None:
    for key, value in stats.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        print(f"  {key:<22} {value}")


def cmd_generate(args) -> None:
    from study.data.dataset import generate_dataset

    stats = generate_dataset(args.rows, args.output, args.seed, args.overwrite)
    print(f"generated {stats['rows']} rows into {args.output}")
    _print_stats(stats)


def cmd_prepare(args) -> None:
    from study.data.dataset import prepare_dataset

    stats = prepare_dataset(
        args.input, args.output, args.label, args.flags, args.extras, args.seed, args.overwrite
    )
    print(f"prepared {stats['rows']} rows into {args.output}")
    _print_stats(stats)


def cmd_check(args) -> None:
    from study.data.dataset import open_dataset

    dataset = open_dataset(args.data)
    print(f"{args.data}: ok")
    _print_stats(dataset.statistics())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    from study.data.checks import DataError

    handlers = {"generate": cmd_generate, "prepare": cmd_prepare, "check": cmd_check}
    if args.command is None:
        build_parser().print_help()
        return 2
    try:
        handlers[args.command](args)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
