"""Command line: argument parsing and one call per stage; no science in here.
The study command itself (search, retrain, report; chief and worker) is in study_command.py.

    python run_study.py [--trials N] [--study NAME] [--data DIR] [--tuner KIND] ...
python run_study.py ... --role chief --oracle HOST:PORT      (a distributed study's chief)
python run_study.py --role worker --oracle HOST:PORT         (and its workers)
python run_study.py generate [--profile NAME] [--rows N] --output DIR [--seed S]
python run_study.py prepare --input RAW --output DIR [--tree NAME] [--features a,b]
    [--label NAME] [--flags a,b]          (RAW: feather, parquet or ROOT)
python run_study.py check --data DIR
python run_study.py export --study NAME     (finish an export, or its SavedModel and C later)
python run_study.py report [--study NAME] [--format json]
python run_study.py compare STUDY[:TRIAL] STUDY[:TRIAL] ... [--output DIR]
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from pathlib import Path

from study import signals
from study.backend import VERBOSE, quiet_import
from study.cli.arguments import build_parser
from study.cli.study_command import apply_flags, cmd_study
from study.config import RETRAINABLE
from study.errors import ConfigError, StudyError
from study.runner import named_study_dir, run_best


def _print_stats(stats: dict) -> None:
    for key, value in stats.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        print(f"  {key:<22} {value}")


def cmd_generate(args) -> None:
    from study.data.prepare import BINNING_FILE, generate_dataset
    from study.data.zoo import PROFILES

    rows = args.rows if args.rows is not None else PROFILES[args.profile].rows
    stats = generate_dataset(rows, args.output, args.seed, args.overwrite, profile=args.profile)
    print(f"generated {stats['rows']} rows of profile {args.profile} into {args.output}")
    _print_stats(stats)
    print(f"kinematic binning: --validation-bins {args.output / BINNING_FILE}")


def cmd_prepare(args) -> None:
    from study.data.prepare import prepare_dataset

    stats = prepare_dataset(
        args.input, args.output, args.label, args.flags, args.extras, args.seed, args.overwrite,
        features=args.features, tree=args.tree,
    )  # fmt: skip
    print(f"prepared {stats['rows']} rows into {args.output}")
    _print_stats(stats)


def cmd_retrain(args) -> None:
    from study.data.prepare import load_dataset
    from study.store.study_file import read_config

    config = read_config(named_study_dir(args.results, args.study))
    apply_flags(config, args, RETRAINABLE)  # the fields marked RETRAIN in study/config.py
    config.check()
    from study.backend import start

    start(config.backend)
    from study.store.lock import StudyLock

    dataset = load_dataset(config)
    from study.best.retrain import check_study_data

    check_study_data(config, dataset)  # study.json's data_fingerprint, before any training
    with StudyLock(config.study_dir):
        failed = run_best(config, dataset, args.trial)
    if failed is not None:
        raise failed


def cmd_export(args) -> None:
    """Finish an export that did not land (from best/final/), or write the SavedModel of
    one made without TensorFlow and build its C again (study/best/later_export.py)."""
    from study.backend import has_tensorflow, start
    from study.best import later_export
    from study.data.prepare import load_dataset
    from study.store.lock import StudyLock
    from study.store.study_file import read_config

    config = read_config(named_study_dir(args.results, args.study))
    config.data = args.data or config.data
    config.c_march = args.c_march or config.c_march
    config.check()
    finishing = later_export.pending(config.study_dir)
    if not finishing and not has_tensorflow():
        raise ConfigError("export: the SavedModel needs TensorFlow, which is not installed here")
    start("tensorflow" if has_tensorflow() else config.backend)
    dataset = load_dataset(config)
    with StudyLock(config.study_dir):
        if finishing:
            card = later_export.finish(config, dataset)
        else:
            card = later_export.write_later(config.study_dir, dataset, config.c_march)
    _say_export(card, config.study_dir / "best" / "export", finishing)


def _say_export(card, directory, finished: bool) -> None:
    """What `export` wrote, from its model card (a study.best.card.ModelCard)."""
    check = card.export_check or {}
    c_check = (card.c or {}).get("check") or {}
    parts = ["export finished from best/final/" if finished else "export completed"]
    if check.get("rows"):
        parts.append(
            f"SavedModel checked: max |dp| {check['max_abs_difference']:.2e} against "
            f"model.keras on {check['rows']} rows"
        )
    if c_check:
        parts.append(
            f"compiled C ({card.c.get('target')}) checked on {c_check['rows']} rows: "
            f"{c_check['c_max_error']:.2e} from the exact arithmetic"
        )
    print("; ".join(parts) + f" ({directory})")


def cmd_predict(args) -> None:
    from study.backend import has_tensorflow
    from study.best.exported import predict, select_keras_backend

    if args.engine == "keras":
        select_keras_backend()  # model.keras serves on either backend
    if args.engine == "keras" or (args.engine == "savedmodel" and has_tensorflow()):
        quiet_import()  # without TensorFlow the SavedModel's engine says what to do
    rows, left_out = predict(
        args.model, args.input, args.output, engine=args.engine, tree=args.tree
    )
    if left_out:
        from study.data.sources import listed

        names = listed(left_out)
        print(f"left out {len(left_out)} branch(es) with several values per entry: {names}")
    print(f"predicted {rows} rows into {args.output} ({args.engine})")


def cmd_report(args) -> None:
    from study.report import build_report, render

    if args.top < 1:
        raise ConfigError(f"--top: expected a positive integer, found {args.top}")
    study_dir = named_study_dir(args.results, args.study)
    summary = build_report(study_dir, top=args.top)
    _mirror(study_dir)
    _show(args.format, summary.to_dict(), render.report_text(summary), "report", "report.md")


def _mirror(study_dir: Path) -> None:
    """optuna.db rebuilt or completed from the records, unless the study is running (its
    own process writes it then)."""
    from study.store.lock import lock_holder

    if lock_holder(study_dir) is None:
        from study.search.bookkeeping import Bookkeeping

        mirror = Bookkeeping(study_dir)
        mirror.mirror()
        mirror.flush()


def cmd_compare(args) -> None:
    from study.report import compare, render

    table = compare(args.specs, Path(args.results), args.output)
    _show(args.format, table, render.compare_text(table), "comparison", "compare.md")


def _show(form: str, content: dict, text: str, label: str, markdown: str) -> None:
    """`--format json`: the content as JSON; text: its `text` and where the files are."""
    if form == "json":
        import json

        print(json.dumps(content, indent=1))
        return
    print(text, end="")
    print(f"{label}: {content['files']['html']} (and {markdown})")


def cmd_check(args) -> None:
    from study.data.dataset import open_dataset

    dataset = open_dataset(args.data)
    print(f"{args.data}: ok")
    _print_stats(dataset.statistics())


def main(argv: list[str] | None = None) -> int:
    start = time.monotonic()  # the time budget counts from here
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # anywhere on the line: before or after the command
    verbose = "--verbose" in argv  # likewise: TensorFlow's own start-up lines too
    args = build_parser().parse_args([a for a in argv if a not in ("--debug", "--verbose")])
    args.start = start
    if verbose:
        os.environ[VERBOSE] = "1"  # inherited by the trial processes
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # inherited by the trial processes
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    handlers = {
        "generate": cmd_generate,
        "prepare": cmd_prepare,
        "check": cmd_check,
        "retrain": cmd_retrain,
        "export": cmd_export,
        "predict": cmd_predict,
        "report": cmd_report,
        "compare": cmd_compare,
        None: cmd_study,
    }
    try:
        with signals.handling():
            handlers[args.command](args)
    except signals.StudyInterrupted as stop:
        print(
            f"interrupted ({stop}): finished trials are kept and the running one is "
            "recorded as interrupted; run the same command again to resume",
            file=sys.stderr,
        )
        return stop.exit_status
    except Exception as err:  # one line for every failure; the traceback with --debug
        return _fail(err, debug)
    return 0


def _fail(err: Exception, debug: bool) -> int:
    """Print `err` as one line (plus the traceback with --debug); return the exit status."""
    if debug:
        traceback.print_exc()
    if isinstance(err, StudyError):
        hint = f" ({err.hint})" if err.hint and not debug else ""
        print(f"error: {err}{hint}", file=sys.stderr)
        return err.exit_code
    hint = "" if debug else "; rerun with --debug for the traceback"
    print(f"internal error: {type(err).__name__}: {err}{hint}", file=sys.stderr)
    return 1
