"""The parsers of the commands other than the study: generate, prepare, check, retrain,
predict, report, compare (study/cli/arguments.py holds the study's own flags)."""

from __future__ import annotations

from pathlib import Path

from study.backend import BACKENDS
from study.config import StudyConfig


def _csv(text: str) -> list[str]:
    return [t for t in text.split(",") if t]


def _generate_parser(sub) -> None:
    from study.data.zoo import PROFILES

    p = sub.add_parser(
        "generate", help="write a generated sample with known truth as a prepared dataset"
    )
    p.add_argument(
        "--profile", choices=list(PROFILES), default="default",
        help="which sample: "
        + "; ".join(f"{k}: {v.about}".replace("%", "%%") for k, v in PROFILES.items())
        + " (default: default, the embedded sample)",
    )  # fmt: skip
    p.add_argument(
        "--rows", type=int, default=None, help="number of particles (default: the profile's)"
    )
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


def _retrain_parser(sub) -> None:
    p = sub.add_parser("retrain", help="retrain, validate and export the best (or a chosen) trial")
    p.add_argument("--study", default="default", help="study name (default: default)")
    p.add_argument("--results", default="results", help="output root (default: results)")
    p.add_argument(
        "--trial", default=None,
        help="trial id (default: the largest network within 3 %% of the best objective, "
        "study/choice.py)",
    )  # fmt: skip
    p.add_argument(
        "--retrain-max-epochs",
        type=int,
        dest="retrain_max_epochs",
        help="safety cap on each phase's epochs (default: the study's, 100)",
    )
    add_final_fit(p, ": the study's,")
    p.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: the study's)")
    add_validation_bins(p)
    add_c_march(p, "the study's")


def _export_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="finish an export that did not land (from best/final/, no training), or write "
        "the SavedModel of one made without TensorFlow and build its C again",
    )
    p.add_argument("--study", default="default", help="study name (default: default)")
    p.add_argument("--results", default="results", help="output root (default: results)")
    p.add_argument("--data", help="the study's prepared dataset (default: the study's own)")
    add_c_march(p, "the study's")


def _predict_parser(sub) -> None:
    p = sub.add_parser("predict", help="apply an exported model to raw feather data")
    p.add_argument("--model", type=Path, required=True, help="an export directory (best/export)")
    p.add_argument("--input", type=Path, required=True, help="a feather file or directory")
    p.add_argument("--output", type=Path, required=True, help="output feather file")
    p.add_argument(
        "--engine",
        choices=("keras", "c", "savedmodel"),
        default="keras",
        help="keras (default): model.keras in Keras's safe mode, refused unless it is the "
        "study's network, behind preprocessing.json in numpy; runs no code from the export. "
        "c: the compiled C library (c/NAME.so: machine code, run as the export's author "
        "built it). savedmodel: the TensorFlow SavedModel, which RUNS CODE FROM THE EXPORT "
        "(its graph may write files): only for an export you trust",
    )


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


def add_c_march(g, default: str = "baseline") -> None:
    """--c-march: the CPUs the compiled C runs on (the study, `retrain`, `export`)."""
    from study.names import MARCHES

    g.add_argument(
        "--c-march",
        choices=MARCHES,
        dest="c_march",
        help="the CPUs the exported C library is compiled for: baseline is every x86-64 CPU "
        "since 2009 (x86-64-v2; armv8-a on aarch64), native this CPU alone "
        f"(default {default})",
    )


def add_final_fit(g, default: str = "") -> None:
    """--retrain-patience(-2), --retrain-from and --retrain-recipe (the study and `retrain`)."""
    for phase, name in enumerate(("retrain_patience", "retrain_patience_2"), start=1):
        g.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            dest=name,
            help=f"epochs without improvement that end phase {phase} of the final fit "
            f"(default{default} {getattr(StudyConfig, name)})",
        )
    g.add_argument(
        "--retrain-from",
        choices=("trial", "scratch"),
        dest="retrain_from",
        help="the final fit continues from the chosen trial's weights, or starts from scratch "
        f"(default{default} scratch)",
    )
    g.add_argument(
        "--retrain-recipe",
        choices=("auto", "full-data", "trial"),
        dest="retrain_recipe",
        help="the final fit's optimizer, rates and batch: full-data (Adam 2e-3 then 3e-4, "
        "batch 2048, weights averaged), the trial's own, or auto: the trial's where the "
        "training split is under 2 x the rows the trial trained on, else full-data "
        f"(default{default} auto)",
    )


def add_validation_bins(parser) -> None:
    """--validation-bins, on the study and on retrain."""
    parser.add_argument(
        "--validation-bins",
        dest="validation_bins",
        metavar="SPEC",
        help="the kinematic binning of the validation: a JSON file or inline JSON object "
        "(README: Validation); default LHCb's eta and phi in momentum slices per species",
    )


def add_subcommands(sub) -> None:
    for add in (
        _generate_parser, _prepare_parser, _check_parser, _retrain_parser, _export_parser,
        _predict_parser, _report_parser, _compare_parser,
    ):  # fmt: skip
        add(sub)
