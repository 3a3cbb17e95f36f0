"""The study command: the configuration from flags, the distributed role, then the
search, the retrain of the best trial and the report, all under the study's lock;
a worker runs the chief's trials instead."""

from __future__ import annotations

from study.errors import ConfigError
from study.runner import named_study_dir, run_study


def apply_flags(config, args, names: tuple[str, ...] | None = None) -> None:
    """Set on `config` every StudyConfig field that a flag in `args` gives (not None), or
    only those in `names`: one overlay for the study and the retrain commands, driven by
    StudyConfig's fields. `--validation-bins` is parsed (a file or inline JSON); "none"
    (and "auto") mean no time budget (the derived trial timeout)."""
    from dataclasses import fields

    from study.config import StudyConfig

    for field in fields(StudyConfig):
        value = getattr(args, field.name, None)
        if value is None or (names is not None and field.name not in names):
            continue
        if field.name == "validation_bins":
            from study.binning import parse_flag

            value = parse_flag(value)
        setattr(config, field.name, value)
    if isinstance(config.time_budget, str) and config.time_budget.lower() == "none":
        config.time_budget = None
    if isinstance(config.trial_timeout, str) and config.trial_timeout.lower() in ("none", "auto"):
        config.trial_timeout = None


def study_config(args):
    """The StudyConfig from --config, then the flags given on the command line."""
    from study.config import StudyConfig

    config = StudyConfig.from_file(args.config) if args.config else StudyConfig()
    apply_flags(config, args)
    config.fixed = {**config.fixed, **dict(args.fix)}
    config.narrowed = {**config.narrowed, **dict(args.narrow)}
    config.check()
    return config


def distributed_role(args):
    """The Role of this process from --role/--oracle/... (Role(None) without --role)."""
    from study.search import distributed

    if args.role is None:
        given = [
            f
            for f in (
                "oracle",
                "worker_id",
                "gpu",
                "auth_token_file",
                "tls_cert",
                "tls_key",
                "tls_ca",
            )
            if getattr(args, f) is not None
        ]
        if given:
            raise ConfigError(f"--{given[0].replace('_', '-')} needs --role chief or worker")
        return distributed.Role()
    if args.oracle is None:
        raise ConfigError(f"--role {args.role} needs --oracle HOST:PORT")
    host, port = distributed.parse_address(args.oracle)
    timeouts = {"--handover-after": args.handover_s, "--connect-timeout": args.connect_timeout_s}
    for flag, value in timeouts.items():
        if not value > 0:
            raise ConfigError(f"{flag}: expected seconds > 0, found {value}")
    worker_id = distributed.CHIEF_ID
    if args.role == "worker":
        worker_id = distributed.check_worker_id(
            args.worker_id or distributed.default_worker_id(args.gpu)
        )
    from study.search import auth

    auth.check_tls(args.tls_cert, args.tls_key, args.tls_ca, args.role)
    return distributed.Role(
        args.role, host, port, worker_id, args.handover_s, args.connect_timeout_s, args.gpu,
        token_file=args.auth_token_file, tls_cert=args.tls_cert, tls_key=args.tls_key,
        tls_ca=args.tls_ca,
    )  # fmt: skip


def cmd_study(args) -> None:
    if args.parallel is not None or args.gpus is not None:
        return cmd_parallel(args)
    role = distributed_role(args)
    if role.kind == "worker":
        return cmd_worker(args, role)
    run_study(
        study_config(args), retrain=not args.no_retrain, report=not args.no_report,
        overwrite=args.overwrite, start=args.start, role=role,
    )  # fmt: skip


def cmd_parallel(args) -> None:
    """--parallel N: this process is the chief on loopback; N workers per device run trials."""
    import os

    from study.cli import parallel
    from study.search import distributed

    if args.role is not None or args.oracle is not None:
        raise ConfigError("--parallel starts its own chief and workers: not with --role/--oracle")
    if args.parallel is None:
        raise ConfigError("--gpus needs --parallel N (the trials at once on each GPU)")
    gpus = [g.strip() for g in args.gpus.split(",") if g.strip()] if args.gpus else None
    memory = parallel.gpu_memory() if gpus else {}
    if gpus:
        parallel.check_gpus(gpus, memory)
        # the chief takes GPU memory only as it needs it: the workers' shares are theirs
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    slots = parallel.plan(args.parallel, gpus, gpu_memory_mb=memory)
    config = study_config(args)
    role = distributed.Role(
        "chief", parallel.LOOPBACK, 0, distributed.CHIEF_ID, args.handover_s,
        args.connect_timeout_s, token_file=args.auth_token_file, local=True,
    )  # fmt: skip
    threads = slots[0].env.get("OMP_NUM_THREADS", "")
    cores = f"{threads} core" + ("" if threads == "1" else "s")
    where = f"on GPUs {', '.join(gpus)}" if gpus else f"on {cores} each"
    logs = parallel.log_dir(config.results, config.study)
    print(f"--parallel {args.parallel}: {len(slots)} workers {where}; their output in {logs}")
    token = ["--auth-token-file", args.auth_token_file] if args.auth_token_file else []
    workers = parallel.Workers(slots, config.results, config.study, token)
    role.on_serving, role.watch = workers.start, workers.why_stopped
    try:
        run_study(
            config, retrain=not args.no_retrain, report=not args.no_report,
            overwrite=args.overwrite, start=args.start, role=role,
        )  # fmt: skip
    finally:
        workers.stop()


def cmd_worker(args, role) -> None:
    """Run trials for the chief until it has none left; the chief keeps the study's state."""
    from study.search import distributed

    with distributed.environment(role):
        _work(args, role)


def _work(args, role) -> None:
    from study.errors import StudyStopped
    from study.search import distributed

    study_dir = named_study_dir(args.results or "results", args.study or "default")
    print(f"worker {role.worker_id}: waiting for the chief at {role.address} ({study_dir})")
    from study.store.study_file import FILE, read_config, read_record

    distributed.wait_for_study(study_dir / FILE, role.connect_timeout_s)
    record, config = read_record(study_dir), read_config(study_dir)
    config.data = args.data or config.data
    from study.backend import start

    start(args.backend or config.backend)
    from study.data.dataset import open_dataset

    dataset = open_dataset(config.data_dir)
    if dataset.fingerprint() != record["data_fingerprint"]:
        raise ConfigError(f"{config.data_dir}: not the data of the chief's study ({study_dir})")
    distributed.wait_for_chief(role)
    role.read_credentials(study_dir)  # the chief has written its secret before it listens
    from study.search import loop

    tuner = loop.make_tuner(config, len(dataset.features), role)
    import grpc

    try:
        loop.search(tuner)
    except grpc.RpcError as err:
        raise StudyStopped(
            f"worker {role.worker_id}: the chief at {role.address} did not answer "
            f"({err.code().name}) within {role.connect_timeout_s:.0f} s; if the study has "
            f"ended, {study_dir / 'trials.csv'} says so"
        ) from None
    print(f"worker {role.worker_id}: the chief has no trials left; exiting")
