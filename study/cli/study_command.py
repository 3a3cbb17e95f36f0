"""The study command: the configuration from flags, the distributed role, then the
search, the retrain of the best trial and the report, all under the study's lock;
a worker runs the chief's trials instead."""

from __future__ import annotations

from pathlib import Path

from study import faults
from study.errors import ConfigError
from study.search.choice import best_trial


def named_study_dir(results, name) -> Path:
    """<results>/<name> for a --study name that stays inside the results root."""
    from study.names import study_dir

    try:
        return study_dir(results, name)
    except ValueError as err:
        raise ConfigError(f"--study: {err}") from None


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
        "retrain_max_epochs",
        "retrain_patience",
        "retrain_patience_2",
        "retrain_from",
        "retrain_recipe",
        "label_smoothing",
        "tensorboard",
        "search_rows",
        "time_budget",
        "trial_timeout",
        "backend",
        "c_name",
        "max_ns_per_particle",
        "objectives",
    ):
        value = getattr(args, name)
        if value is not None:
            setattr(config, name, value)
    if isinstance(config.time_budget, str) and config.time_budget.lower() == "none":
        config.time_budget = None
    if isinstance(config.trial_timeout, str) and config.trial_timeout.lower() in ("none", "auto"):
        config.trial_timeout = None
    if args.validation_bins is not None:
        from study.binning import parse_flag

        config.validation_bins = parse_flag(args.validation_bins)
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
    role = distributed_role(args)
    if role.kind == "worker":
        return cmd_worker(args, role)
    run_study(args, study_config(args), role)


def run_study(args, config, role=None) -> None:
    """Search, retrain and report `config`'s study (the flags in `args` that are not
    the config's: start, no_retrain, no_report, overwrite)."""
    from study.backend import start
    from study.search import distributed

    role = role or distributed.Role()
    start(config.backend)
    from study.budget import Budget
    from study.data.prepare import load_dataset
    from study.store.lock import StudyLock
    from study.store.study_file import check_start, check_writable

    budget = Budget.of(config.time_budget, start=args.start)
    named_study_dir(config.results, config.study)  # inside the results root, links resolved
    check_writable(config.study_dir)
    check_start(config, args.overwrite)  # --overwrite deletes only a study
    dataset = load_dataset(config)
    faults.point("data")
    with StudyLock(config.study_dir), distributed.environment(role):
        _search(args, config, dataset, role, budget)


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


def _search(args, config, dataset, role, budget) -> None:
    from study.store.study_file import check_or_create

    resuming = check_or_create(config, dataset, args.overwrite)
    budget.attach(config.study_dir)
    budget.retrain = not args.no_retrain  # --no-retrain: the search may use it all
    if role.kind == "chief" and budget.total_s is not None:
        print("note: a distributed study has no time budget; --trials ends its search")
        budget.total_s = None
    print(
        f"{'resuming' if resuming else 'starting'} study {config.study} in {config.study_dir}: "
        f"up to {config.trials} trials, tuner {config.tuner}, data {dataset.path}"
        + (f", time budget {budget.status()}" if budget.total_s is not None else "")
        + (f"; chief at {role.address}, waiting for workers" if role.kind else "")
    )
    rows = {s: getattr(dataset, s).num_rows for s in ("train", "validation", "test")}
    from study.search.tuner import search_rows

    search = search_rows(config)
    print(
        f"  rows: trials train on {min(search['train_rows'] or rows['train'], rows['train']):,}"
        f" of the "
        f"{rows['train']:,} training rows and validate on "
        f"{min(search['validation_rows'] or rows['validation'], rows['validation']):,} of "
        f"{rows['validation']:,}; the retrain uses all of both; the test split has "
        f"{rows['test']:,}"
    )
    from study.search import loop

    tuner = loop.make_tuner(config, len(dataset.features), role, budget, rows)
    loop.search(tuner)
    budget.save()
    best = best_trial(tuner.records.reports())
    print(
        f"study {config.study}: {loop.ended_trials(tuner)} trials ended; "
        + (
            f"best trial {best.trial_id}, val_bce {best.objective:.5f}"
            if best
            else "no completed trial"
        )
    )
    print(f"  table: {config.study_dir / 'trials.csv'}")
    if config.multi_objective:
        _print_front(config, tuner.records.reports())
    if not args.no_retrain and best:
        _run_best(config, dataset, None, budget)
    if not args.no_report:
        from study.report import build_report

        budget.save()  # the report's wall time
        summary = build_report(config.study_dir, finished=True)
        print(f"  report: {summary['files']['html']}")
    budget.save()
    if budget.total_s is not None:
        print(f"  time budget: {budget.status()}")


def _print_front(config, reports: list) -> None:
    """The Pareto front of a multi-objective study, and how to retrain one of its points."""
    from study.search.choice import pareto_reports
    from study.training.cost import estimated_c_ns

    front = pareto_reports(reports)
    print(f"  Pareto front (val_bce, estimated C ns a particle), {len(front)} trials:")
    for r in front:
        ns = estimated_c_ns(r.flops_per_particle)
        print(f"    trial {r.trial_id}: {r.objective:.5f}, {ns:,.0f} ns")
    print(
        f"  the retrain takes the lowest val_bce; another point: python run_study.py retrain "
        f"--study {config.study} --results {config.results} --trial ID"
    )


def _run_best(config, dataset, trial_id, budget=None) -> None:
    from study.best.pipeline import run_best

    summary = run_best(config, dataset, trial_id, budget)
    print(
        f"best trial {summary['trial_id']} retrained, validated and exported to {summary['export']}"
        + ("" if summary["converged"] else f" (NOT converged: {summary['reason']})")
    )
