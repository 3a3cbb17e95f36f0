"""The flags of keras-tuner's chief/worker mode and of --parallel (run by cli/study_command.py
and cli/parallel.py)."""

from __future__ import annotations

import argparse

from study.cli.defaults import duration


def add_distributed_arguments(parser: argparse.ArgumentParser) -> None:
    d = parser.add_argument_group(
        "distributed (keras-tuner's chief/worker mode; docs/distributed.md)"
    )
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
    _secured_arguments(d)


def _secured_arguments(d) -> None:
    """How long to wait for a peer, and the secret and TLS that admit one."""
    d.add_argument(
        "--handover-after",
        type=duration,
        default="10m",
        dest="handover_s",
        metavar="DURATION",
        help="chief: a trial not heard from this long goes to another worker: 90s, 10m, 1h "
        "(default %(default)s)",
    )
    d.add_argument(
        "--connect-timeout",
        type=duration,
        default="10m",
        dest="connect_timeout_s",
        metavar="DURATION",
        help="worker: how long to wait for the chief, at start and at every call: 90s, 10m "
        "(default %(default)s)",
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
