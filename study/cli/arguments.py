"""The command line's parsers: every command, flag and help text (run by cli/commands.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from study.backend import BACKENDS


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
        help="cap on the epochs of each phase of a trial (default 10)",
    )
    g.add_argument("--patience-1", type=int, dest="patience_1", help="phase-1 patience (default 3)")
    g.add_argument("--patience-2", type=int, dest="patience_2", help="phase-2 patience (default 3)")
    g.add_argument(
        "--search-rows",
        type=int,
        dest="search_rows",
        help="training rows each trial trains on, a seeded subsample of the training split "
        "(validation: half as many); the retrain uses the whole splits; 0: all (default 100000)",
    )
    g.add_argument(
        "--time-budget",
        dest="time_budget",
        help="wall time of the whole study: 45s, 30m, 2h, 1h30m; no further trial starts once "
        "it could not end with the retrain, validation, export and report inside it; "
        "'none': --trials alone (default 30m)",
    )
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
        help="rows of the generated default sample (default 2500000: 1.25 M to train)",
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
        help="safety cap on each phase's epochs when retraining the best trial; early stopping "
        "ends it before (default 100)",
    )
    g.add_argument(
        "--retrain-patience",
        type=int,
        dest="retrain_patience",
        help="epochs without improvement that end each phase of the retrain (default 5)",
    )
    g.add_argument(
        "--validation-bins",
        dest="validation_bins",
        metavar="SPEC",
        help="the kinematic binning of the validation: a JSON file or inline JSON object "
        "(README: Validation); default LHCb's eta and phi in momentum slices per species",
    )
    g.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Keras backend of the trials and the retrain (default tensorflow; jax needs "
        "pip install 'jax[cpu]'); the export is a TensorFlow SavedModel either way",
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
    d = parser.add_argument_group("distributed (keras-tuner's chief/worker mode; README)")
    d.add_argument(
        "--role",
        choices=("chief", "worker"),
        help="chief: serve the oracle, write the study's state, retrain at the end; "
        "worker: run trials for the chief (takes the study's settings from its study.json)",
    )
    d.add_argument("--oracle", metavar="HOST:PORT", help="where the chief listens (with --role)")
    d.add_argument(
        "--worker-id",
        dest="worker_id",
        help="a worker's id, stable across its restarts (default: the Slurm task, else "
        "the host and GPU); a restarted worker resumes its trial",
    )
    d.add_argument("--gpu", help="a worker's one GPU (sets CUDA_VISIBLE_DEVICES; memory growth)")
    d.add_argument(
        "--handover-after",
        type=float,
        default=600.0,
        dest="handover_s",
        metavar="SECONDS",
        help="chief: a trial not heard from this long goes to another worker (default 600)",
    )
    d.add_argument(
        "--connect-timeout",
        type=float,
        default=600.0,
        dest="connect_timeout_s",
        metavar="SECONDS",
        help="worker: how long to wait for the chief, at start and at every call (default 600)",
    )


def _retrain_parser(sub) -> None:
    p = sub.add_parser("retrain", help="retrain, validate and export the best (or a chosen) trial")
    p.add_argument("--study", default="default", help="study name (default: default)")
    p.add_argument("--results", default="results", help="output root (default: results)")
    p.add_argument("--trial", default=None, help="trial id (default: the best completed trial)")
    p.add_argument(
        "--retrain-max-epochs",
        type=int,
        dest="retrain_max_epochs",
        help="safety cap on each phase's epochs (default: the study's, 100)",
    )
    p.add_argument(
        "--retrain-patience",
        type=int,
        dest="retrain_patience",
        help="epochs without improvement that end each phase (default: the study's, 5)",
    )
    p.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: the study's)")
    p.add_argument(
        "--validation-bins",
        dest="validation_bins",
        metavar="SPEC",
        help="the kinematic binning of the validation: a JSON file or inline JSON object "
        "(README: Validation); default LHCb's eta and phi in momentum slices per species",
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
