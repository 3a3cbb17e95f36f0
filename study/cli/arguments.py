"""The command line's parsers: every command, flag and help text (run by cli/commands.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from study.backend import BACKENDS
from study.cli.defaults import with_default
from study.cli.distributed_arguments import add_distributed_arguments
from study.cli.subcommands import (
    add_c_march,
    add_final_fit,
    add_subcommands,
    add_validation_bins,
)
from study.config import OBJECTIVES, PRUNERS, TUNERS


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr and exit status 2 (argparse prints the usage too)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("acceptance-study")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def _study_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("study (the default command)")
    g.add_argument(
        "--trials", type=int, help=with_default("trials", "total trials that reach an end")
    )
    g.add_argument("--study", help=with_default("study", "study name: results go to RESULTS/NAME"))
    g.add_argument(
        "--data",
        help=with_default(
            "data",
            "prepared dataset",
            none="the embedded sample, generated under RESULTS/data/default-ROWS-seedSEED "
            "on first use",
        ),
    )
    g.add_argument("--results", help=with_default("results", "output root"))
    g.add_argument(
        "--tuner",
        choices=TUNERS,
        help=with_default(
            "tuner",
            "oracle: random, bayesian or hyperband (keras-tuner), tpe, cmaes or gp (Optuna)",
        ),
    )
    g.add_argument(
        "--prune", choices=PRUNERS, help=with_default("prune", "pruner of an Optuna tuner")
    )
    g.add_argument(
        "--seed", type=int, help=with_default("seed", "seed of the oracle and the trials")
    )
    _search_arguments(g)
    _fault_arguments(g)
    _space_arguments(g)
    _final_arguments(g)
    add_distributed_arguments(parser)


def _search_arguments(g) -> None:
    g.add_argument(
        "--max-epochs",
        type=int,
        dest="max_epochs",
        help=with_default("max_epochs", "cap on the epochs of each phase of a trial"),
    )
    for phase in (1, 2):
        g.add_argument(
            f"--patience-{phase}",
            type=int,
            dest=f"patience_{phase}",
            help=with_default(f"patience_{phase}", f"phase-{phase} patience of a trial"),
        )
    g.add_argument(
        "--search-rows",
        type=int,
        dest="search_rows",
        help=with_default(
            "search_rows",
            "training rows each trial trains on, a seeded subsample of the training split "
            "(validation: half as many); the retrain uses the whole splits; 0: all",
        ),
    )
    g.add_argument(
        "--time-budget",
        dest="time_budget",
        metavar="DURATION",
        help=with_default(
            "time_budget",
            "wall time of the whole study: 45s, 30m, 2h, 1h30m; no further trial starts once "
            "it could not end with the retrain, validation, export and report inside it; "
            "'none': --trials alone",
        ),
    )
    g.add_argument(
        "--default-rows",
        type=int,
        dest="default_rows",
        help=with_default("default_rows", "rows of the generated default sample (half to train)"),
    )


def _fault_arguments(g) -> None:
    g.add_argument(
        "--trial-timeout",
        dest="trial_timeout",
        metavar="DURATION",
        help=with_default(
            "trial_timeout",
            "a trial process that sends nothing (no epoch) this long is killed and the trial "
            "FAILED: 90s, 10m, 1h",
            none="10 x the slowest completed trial, at least 2m; 30m before any completed; "
            "never more than 60 s past the time budget's deadline",
        ),
    )
    g.add_argument(
        "--max-failures",
        type=int,
        dest="max_failures",
        help=with_default("max_failures", "consecutive failed trials that stop the study"),
    )


def _space_arguments(g) -> None:
    g.add_argument(
        "--objectives",
        choices=OBJECTIVES,
        metavar="val_bce[,cost]",
        help=with_default(
            "objectives",
            "val_bce, or val_bce,cost: Optuna's multi-objective search (--tuner "
            "tpe or gp) of validation cross-entropy and estimated C ns a particle; the report "
            "marks the Pareto front; retrain --trial ID takes a point of it",
        ),
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


def _label_smoothing(g) -> None:
    g.add_argument(
        "--label-smoothing",
        type=float,
        dest="label_smoothing",
        metavar="S",
        help=with_default(
            "label_smoothing",
            "label smoothing of phase 1, in the trials and the final fit; recorded in "
            "study.json, fixed for a study's life",
        ),
    )


def _final_arguments(g) -> None:
    g.add_argument(
        "--retrain-max-epochs",
        type=int,
        dest="retrain_max_epochs",
        help=with_default(
            "retrain_max_epochs",
            "safety cap on each phase's epochs when retraining the best trial; early stopping "
            "ends it before",
        ),
    )
    add_final_fit(g)
    _label_smoothing(g)
    add_validation_bins(g)
    _export_arguments(g)
    _run_arguments(g)


def _export_arguments(g) -> None:
    g.add_argument(
        "--max-ns-per-particle",
        type=int,
        dest="max_ns_per_particle",
        metavar="NS",
        help=with_default(
            "max_ns_per_particle",
            "bound on a trial's estimated compiled-C ns a particle: no trial above it is "
            "sampled or retrained (random, bayesian, hyperband; 0: none)",
        ),
    )
    g.add_argument(
        "--c-name",
        dest="c_name",
        metavar="NAME",
        help=with_default(
            "c_name",
            "the exported C function, float *NAME(float *out, const float *in), and "
            "NAME_batch(out, in, n)",
        ),
    )
    add_c_march(g)
    g.add_argument(
        "--backend",
        choices=BACKENDS,
        help=with_default(
            "backend",
            "Keras backend of the trials and the retrain (jax needs pip install 'jax[cpu]'); "
            "the export is a TensorFlow SavedModel either way",
        ),
    )


def _run_arguments(g) -> None:
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
        help=with_default(
            "tensorboard", "write per-trial TensorBoard logs with keras-tuner's hyperparameter data"
        ),
    )
    g.add_argument(
        "--no-report",
        action="store_true",
        dest="no_report",
        help="do not write the HTML report at the end (run `report` any time instead)",
    )
    g.add_argument("--overwrite", action="store_true", help="delete the study and start afresh")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; its usage names `prog`, by default the command as invoked
    (`acceptance-study`, `run_study.py`)."""
    parser = _Parser(
        prog=prog,
        description="Hyperparameter study of the acceptance model of a fast detector simulation. "
        "Without a command, runs (or resumes) the study.",
        # Python 3.11's argparse reads every option against the study's flags before it hands
        # a command its own: `retrain --trial 4` would be an ambiguous abbreviation of
        # --trials / --trial-timeout. Flags are spelled out in full.
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--debug", action="store_true", help="on a failure, print the traceback (any command)"
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="let TensorFlow's own start-up and INFO lines through (any command)",
    )
    _study_arguments(parser)
    add_subcommands(parser.add_subparsers(dest="command", metavar="COMMAND"))
    return parser
