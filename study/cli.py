"""Command line: argument parsing and one call per stage; no science in here.

    python run_study.py [--trials N] [--study NAME] [--data DIR] [--tuner KIND] ...
python run_study.py generate --rows N --output DIR [--seed S]
python run_study.py prepare --input RAW --output DIR [--label NAME] [--flags a,b]
python run_study.py check --data DIR
python run_study.py report [--study NAME] [--format json]
python run_study.py compare STUDY[:TRIAL] STUDY[:TRIAL] ... [--output DIR]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from study import faults, signals


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr and exit status 2 (argparse prints the usage too)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


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


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def _study_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("study (the default command)")
    g.add_argument("--trials", type=int, help="total trials that reach an end (default 50)")
    g.add_argument("--study", help="study name: results go to RESULTS/NAME (default: default)")
    g.add_argument(
        "--data",
        help="prepared dataset (default: the embedded sample, generated "
        "under RESULTS/data/default on first use)",
    )
    g.add_argument("--results", help="output root (default: results)")
    g.add_argument(
        "--tuner",
        help="oracle: random or bayesian (keras-tuner), tpe, cmaes or gp (Optuna) "
        "(default: random)",
    )
    g.add_argument(
        "--prune",
        help="pruner of an Optuna tuner: none, median or hyperband (default: none)",
    )
    g.add_argument("--seed", type=int, help="seed of the oracle and the trials (default 0)")
    g.add_argument(
        "--max-epochs",
        type=int,
        dest="max_epochs",
        help="cap on the epochs of each phase (default 10)",
    )
    g.add_argument("--patience-1", type=int, dest="patience_1", help="phase-1 patience (default 5)")
    g.add_argument("--patience-2", type=int, dest="patience_2", help="phase-2 patience (default 5)")
    g.add_argument(
        "--max-failures",
        type=int,
        dest="max_failures",
        help="consecutive failed trials that stop the study (default 3)",
    )
    g.add_argument(
        "--default-rows",
        type=int,
        dest="default_rows",
        help="rows of the generated default sample (default 80000)",
    )
    g.add_argument(
        "--fix",
        type=_key_value,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="fix a hyperparameter, e.g. --fix width=128 --fix optimizer=rmsprop",
    )
    g.add_argument(
        "--narrow",
        type=_key_value,
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="narrow a range (width=32:256) or a choice (optimizer=adam,nadam)",
    )
    g.add_argument("--config", type=Path, help="JSON file of StudyConfig fields; flags override it")
    g.add_argument(
        "--retrain-max-epochs",
        type=int,
        dest="retrain_max_epochs",
        help="cap on each phase's epochs when retraining the best trial (default 15)",
    )
    g.add_argument(
        "--no-retrain",
        action="store_true",
        dest="no_retrain",
        help="stop after the search (no retrain, validation, export)",
    )
    g.add_argument(
        "--tensorboard",
        action="store_true",
        default=None,
        help="write per-trial TensorBoard logs with keras-tuner's hyperparameter data",
    )
    g.add_argument(
        "--no-report",
        action="store_true",
        dest="no_report",
        help="do not write the HTML report at the end (run `report` any time instead)",
    )
    g.add_argument("--overwrite", action="store_true", help="delete the study and start afresh")


def _retrain_parser(sub) -> None:
    p = sub.add_parser("retrain", help="retrain, validate and export the best (or a chosen) trial")
    p.add_argument("--study", default="default", help="study name (default: default)")
    p.add_argument("--results", default="results", help="output root (default: results)")
    p.add_argument("--trial", default=None, help="trial id (default: the best completed trial)")
    p.add_argument(
        "--retrain-max-epochs",
        type=int,
        dest="retrain_max_epochs",
        help="cap on each phase's epochs (default: the study's, 15)",
    )


def _predict_parser(sub) -> None:
    p = sub.add_parser("predict", help="apply an exported model to raw feather data")
    p.add_argument("--model", type=Path, required=True, help="an export directory (best/export)")
    p.add_argument("--input", type=Path, required=True, help="a feather file or directory")
    p.add_argument("--output", type=Path, required=True, help="output feather file")


def _report_parser(sub) -> None:
    p = sub.add_parser("report", help="write the study's HTML/Markdown report and print a summary")
    p.add_argument("--study", default="default", help="study name (default: default)")
    p.add_argument("--results", default="results", help="output root (default: results)")
    p.add_argument("--top", type=int, default=5, help="learning curves of the k best (default 5)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="terminal output")


def _compare_parser(sub) -> None:
    p = sub.add_parser("compare", help="compare trials of one or more studies side by side")
    p.add_argument(
        "specs",
        nargs="+",
        metavar="STUDY[:TRIAL]",
        help="a study name (its best trial) or study:trial_id; two or more",
    )
    p.add_argument("--results", default="results", help="output root (default: results)")
    p.add_argument(
        "--output",
        type=Path,
        default=Path("compare"),
        help="directory for compare.html, compare.md, compare.json (default: ./compare)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="terminal output")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="run_study.py",
        description="Hyperparameter study of the acceptance model of a fast detector simulation. "
        "Without a command, runs (or resumes) the study.",
    )
    _study_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _generate_parser(sub)
    _prepare_parser(sub)
    _check_parser(sub)
    _retrain_parser(sub)
    _predict_parser(sub)
    _report_parser(sub)
    _compare_parser(sub)
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


def study_config(args):
    """The StudyConfig from --config, then the flags given on the command line."""
    from study.config import StudyConfig

    config = StudyConfig.from_file(args.config) if args.config else StudyConfig()
    for name in (
        "trials",
        "study",
        "data",
        "results",
        "tuner",
        "prune",
        "seed",
        "max_epochs",
        "patience_1",
        "patience_2",
        "max_failures",
        "default_rows",
        "tensorboard",
    ):
        value = getattr(args, name)
        if value is not None:
            setattr(config, name, value)
    config.fixed = {**config.fixed, **dict(args.fix)}
    config.narrowed = {**config.narrowed, **dict(args.narrow)}
    config.check()
    return config


def cmd_study(args) -> None:
    config = study_config(args)
    from study.lock import StudyLock
    from study.resume import check_writable, load_dataset

    check_writable(config.study_dir)
    dataset = load_dataset(config)
    faults.point("data")
    with StudyLock(config.study_dir):
        _search(args, config, dataset)


def _search(args, config, dataset) -> None:
    from study.resume import check_or_create

    resuming = check_or_create(config, dataset, args.overwrite)
    print(
        f"{'resuming' if resuming else 'starting'} study {config.study} in {config.study_dir}: "
        f"{config.trials} trials, tuner {config.tuner}, data {dataset.path}"
    )
    from study import tuner as tuner_module
    from study.model import AcceptanceHyperModel

    hypermodel = AcceptanceHyperModel(len(dataset.features), config.search_space())
    tuner = tuner_module.AcceptanceTuner(tuner_module.make_oracle(config), hypermodel, config)
    tuner_module.search(tuner)
    best = tuner.oracle.get_best_trials(1)
    print(
        f"study {config.study}: {tuner_module.ended_trials(tuner)} trials ended; "
        + (
            f"best trial {best[0].trial_id}, val_bce {best[0].score:.5f}"
            if best
            else "no completed trial"
        )
    )
    print(f"  table: {config.study_dir / 'trials.csv'}")
    if not args.no_retrain and best:
        _run_best(config, dataset, None)
    if not args.no_report:
        from study.report import build_report

        summary = build_report(config.study_dir)
        print(f"  report: {summary['files']['html']}")


def _run_best(config, dataset, trial_id) -> None:
    from study.best import run_best

    summary = run_best(config, dataset, trial_id)
    print(
        f"best trial {summary['trial_id']} retrained, validated and exported to {summary['export']}"
    )


def cmd_retrain(args) -> None:
    import json

    from study.config import ConfigError, StudyConfig
    from study.resume import load_dataset

    path = Path(args.results) / args.study / "study.json"
    if not path.exists():
        raise ConfigError(f"{path}: no such study (run the study first)")
    config = StudyConfig.from_dict(json.loads(path.read_text())["config"], str(path))
    config.results = args.results
    if args.retrain_max_epochs is not None:
        config.retrain_max_epochs = args.retrain_max_epochs
    config.check()
    from study.lock import StudyLock

    dataset = load_dataset(config)
    with StudyLock(config.study_dir):
        _run_best(config, dataset, args.trial)


def cmd_predict(args) -> None:
    from study.export import predict

    rows = predict(args.model, args.input, args.output)
    print(f"predicted {rows} rows into {args.output}")


def cmd_report(args) -> None:
    from study.config import ConfigError
    from study.report import build_report, render

    if args.top < 1:
        raise ConfigError(f"--top: expected a positive integer, found {args.top}")
    summary = build_report(Path(args.results) / args.study, top=args.top)
    _show(args.format, summary, render.report_text, "report", "report.md")


def cmd_compare(args) -> None:
    from study.report import compare, render

    table = compare(args.specs, Path(args.results), args.output)
    _show(args.format, table, render.compare_text, "comparison", "compare.md")


def _show(form: str, content: dict, as_text, label: str, markdown: str) -> None:
    """`--format json`: the content as JSON; text: the rendering and where the files are."""
    if form == "json":
        import json

        print(json.dumps(content, indent=1))
        return
    print(as_text(content), end="")
    print(f"{label}: {content['files']['html']} (and {markdown})")


def cmd_check(args) -> None:
    from study.data.dataset import open_dataset

    dataset = open_dataset(args.data)
    print(f"{args.data}: ok")
    _print_stats(dataset.statistics())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # inherited by the trial processes
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    from study.config import ConfigError, StudyStopped
    from study.data.checks import DataError

    handlers = {
        "generate": cmd_generate,
        "prepare": cmd_prepare,
        "check": cmd_check,
        "retrain": cmd_retrain,
        "predict": cmd_predict,
        "report": cmd_report,
        "compare": cmd_compare,
        None: cmd_study,
    }
    try:
        with signals.handling():
            handlers[args.command](args)
    except (DataError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except StudyStopped as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except signals.StudyInterrupted as stop:
        print(
            f"interrupted ({stop}): finished trials are kept and the running one is "
            "recorded as interrupted; run the same command again to resume",
            file=sys.stderr,
        )
        return stop.exit_status
    return 0
