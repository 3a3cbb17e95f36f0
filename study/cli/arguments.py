"""The command line's parsers: every command, flag and help text (run by cli/commands.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from study.backend import BACKENDS
from study.cli.subcommands import (
    add_c_march,
    add_final_fit,
    add_subcommands,
    add_validation_bins,
)


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr and exit status 2 (argparse prints the usage too)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


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
        help="oracle: random, bayesian or hyperband (keras-tuner), tpe, cmaes or gp (Optuna) "
        "(default: hyperband)",
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
        "--default-rows",
        type=int,
        dest="default_rows",
        help="rows of the generated default sample (default 2500000: 1.25 M to train)",
    )
    _fault_arguments(g)
    _space_arguments(g)
    _final_arguments(g)
    _distributed_arguments(parser)


def _fault_arguments(g) -> None:
    g.add_argument(
        "--trial-timeout",
        dest="trial_timeout",
        metavar="DURATION",
        help="a trial process that sends nothing (no epoch) this long is killed and the trial "
        "FAILED: 90s, 10m, 1h (default: 10 x the slowest completed trial, at least 2m; 30m "
        "before any completed; never more than 60 s past the time budget's deadline)",
    )
    g.add_argument(
        "--max-failures",
        type=int,
        dest="max_failures",
        help="consecutive failed trials that stop the study (default 3)",
    )


def _space_arguments(g) -> None:
    g.add_argument(
        "--objectives",
        metavar="val_bce[,cost]",
        help="val_bce (default), or val_bce,cost: Optuna's multi-objective search (--tuner "
        "tpe or gp) of validation cross-entropy and estimated C ns a particle; the report "
        "marks the Pareto front; retrain --trial ID takes a point of it",
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
        help="label smoothing of phase 1, in the trials and the final fit; recorded in "
        "study.json, fixed for a study's life (default 0.01)",
    )


def _final_arguments(g) -> None:
    g.add_argument(
        "--retrain-max-epochs",
        type=int,
        dest="retrain_max_epochs",
        help="safety cap on each phase's epochs when retraining the best trial; early stopping "
        "ends it before (default 100)",
    )
    add_final_fit(g)
    _label_smoothing(g)
    add_validation_bins(g)
    g.add_argument(
        "--max-ns-per-particle",
        type=int,
        dest="max_ns_per_particle",
        metavar="NS",
        help="bound on a trial's estimated compiled-C ns a particle: no trial above it is "
        "sampled or retrained (random, bayesian, hyperband; default 0: none)",
    )
    g.add_argument(
        "--c-name",
        dest="c_name",
        metavar="NAME",
        help="the exported C function, float *NAME(float *out, const float *in), and "
        "NAME_batch(out, in, n) (default acceptance)",
    )
    add_c_march(g)
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


def _distributed_arguments(parser: argparse.ArgumentParser) -> None:
    d = parser.add_argument_group("distributed (keras-tuner's chief/worker mode; README)")
    d.add_argument(
        "--role",
        choices=("chief", "worker"),
        help="chief: serve the oracle, write the study's state, retrain at the end; "
        "worker: run trials for the chief (takes the study's settings from its study.json)",
    )
    d.add_argument("--oracle", metavar="HOST:PORT", help="where the chief listens (with --role)")
    d.add_argument(
        "--parallel",
        type=int,
        metavar="N",
        help="run N trials at once on this machine (N per GPU with --gpus): a chief and N "
        "workers on loopback, each with its share of the cores or of a GPU's memory",
    )
    d.add_argument(
        "--gpus",
        metavar="LIST",
        help="with --parallel: the GPUs to spread the workers over, e.g. 0,1 (default: CPU)",
    )
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
    d.add_argument(
        "--auth-token-file",
        dest="auth_token_file",
        metavar="PATH",
        help="the study's secret, on the chief and every worker (default: the chief creates "
        "<results>/<study>/chief.secret, mode 0600, and its workers read it there)",
    )
    d.add_argument("--tls-cert", dest="tls_cert", metavar="PEM", help="chief: TLS certificate")
    d.add_argument("--tls-key", dest="tls_key", metavar="PEM", help="chief: TLS private key")
    d.add_argument(
        "--tls-ca",
        dest="tls_ca",
        metavar="PEM",
        help="worker: the certificate (or its CA) it trusts for the chief; with TLS on the chief",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="run_study.py",
        description="Hyperparameter study of the acceptance model of a fast detector simulation. "
        "Without a command, runs (or resumes) the study.",
        # Python 3.11's argparse reads every option against the study's flags before it hands
        # a command its own: `retrain --trial 4` would be an ambiguous abbreviation of
        # --trials / --trial-timeout. Flags are spelled out in full.
        allow_abbrev=False,
    )
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
