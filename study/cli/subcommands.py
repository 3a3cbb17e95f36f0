"""The parsers of the commands other than the study: generate, prepare, check, retrain,
predict, report, compare (study/cli/arguments.py holds the study's own flags)."""

from __future__ import annotations

from pathlib import Path

from study.backend import BACKENDS
from study.cli.defaults import config_default, with_default
from study.config import RETRAIN_RECIPES, RETRAIN_STARTS


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
    p = sub.add_parser(
        "prepare", help="split and preprocess your own raw data: feather, parquet or ROOT"
    )
    p.add_argument(
        "--input",
        type=Path,
        required=True,
        help="a feather (.feather, .arrow), parquet (.parquet, .pq) or ROOT (.root) file, or a "
        "directory of such files, all of one format (definitions.json optional)",
    )
    p.add_argument(
        "--tree",
        default=None,
        metavar="NAME",
        help="ROOT input: the TTree (or RNTuple) to read, with its directories "
        "(dir/DecayTree) (default: the file's only tree)",
    )
    p.add_argument(
        "--features",
        type=_csv,
        default=None,
        metavar="a,b,c",
        help="comma-separated feature columns (ROOT: branches) to read; the label, --flags "
        "and --extras columns are read too, and no other (default: every numeric column or "
        "branch but the label and --extras)",
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
    p.add_argument(
        "--study", default=config_default("study"), help=with_default("study", "study name")
    )
    p.add_argument(
        "--results", default=config_default("results"), help=with_default("results", "output root")
    )
    p.add_argument(
        "--trial", default=None,
        help="trial id (default: the largest network within 3 %% of the best objective, "
        "study/choice.py)",
    )  # fmt: skip
    p.add_argument(
        "--retrain-max-epochs",
        type=int,
        dest="retrain_max_epochs",
        help=with_default(
            "retrain_max_epochs", "safety cap on each phase's epochs", owner="the study's"
        ),
    )
    add_final_fit(p, "the study's")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        help=with_default("backend", "Keras backend", owner="the study's"),
    )
    add_validation_bins(p)
    add_c_march(p, "the study's")


def _export_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="finish an export that did not land (from best/final/, no training), or write "
        "the SavedModel of one made without TensorFlow and build its C again",
    )
    p.add_argument(
        "--study", default=config_default("study"), help=with_default("study", "study name")
    )
    p.add_argument(
        "--results", default=config_default("results"), help=with_default("results", "output root")
    )
    p.add_argument("--data", help="the study's prepared dataset (default: the study's own)")
    add_c_march(p, "the study's")


def _predict_parser(sub) -> None:
    p = sub.add_parser(
        "predict", help="apply an exported model to raw feather, parquet or ROOT data"
    )
    p.add_argument("--model", type=Path, required=True, help="an export directory (best/export)")
    p.add_argument(
        "--input", type=Path, required=True,
        help="a feather, parquet or ROOT file, or a directory of files of one format",
    )  # fmt: skip
    p.add_argument(
        "--tree",
        help="ROOT input: the tree to read (default: the file's only tree); its branches "
        "with one number per entry are written, the others left out",
    )
    p.add_argument(
        "--output", type=Path, required=True,
        help="output feather file: the input's columns plus predicted_acceptance",
    )  # fmt: skip
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
    p.add_argument(
        "--study", default=config_default("study"), help=with_default("study", "study name")
    )
    p.add_argument(
        "--results", default=config_default("results"), help=with_default("results", "output root")
    )
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
    p.add_argument(
        "--results", default=config_default("results"), help=with_default("results", "output root")
    )
    p.add_argument(
        "--output",
        type=Path,
        default=Path("compare"),
        help="directory for compare.html, compare.md, compare.json (default: ./compare)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="terminal output")


def add_c_march(g, owner: str = "") -> None:
    """--c-march: the CPUs the compiled C runs on (the study, `retrain`, `export`)."""
    from study.names import MARCHES

    g.add_argument(
        "--c-march",
        choices=MARCHES,
        dest="c_march",
        help=with_default(
            "c_march",
            "the CPUs the exported C library is compiled for: baseline is every x86-64 CPU "
            "since 2009 (x86-64-v2; armv8-a on aarch64), native this CPU alone",
            owner=owner,
        ),
    )


def add_final_fit(g, owner: str = "") -> None:
    """--retrain-patience(-2), --retrain-from and --retrain-recipe (the study and `retrain`,
    whose `owner` "the study's" says the study's own setting is the default)."""
    for phase, name in enumerate(("retrain_patience", "retrain_patience_2"), start=1):
        g.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            dest=name,
            help=with_default(
                name,
                f"epochs without improvement that end phase {phase} of the final fit",
                owner=owner,
            ),
        )
    g.add_argument(
        "--retrain-from",
        choices=RETRAIN_STARTS,
        dest="retrain_from",
        help=with_default(
            "retrain_from",
            "the final fit continues from the chosen trial's weights, or starts from scratch",
            owner=owner,
        ),
    )
    g.add_argument(
        "--retrain-recipe",
        choices=RETRAIN_RECIPES,
        dest="retrain_recipe",
        help=with_default(
            "retrain_recipe",
            "the final fit's optimizer, rates and batch: full-data (Adam 2e-3 then 3e-4, "
            "batch 2048, weights averaged), the trial's own, or auto: the trial's where the "
            "training split is under 2 x the rows the trial trained on, else full-data",
            owner=owner,
        ),
    )


def add_validation_bins(parser) -> None:
    """--validation-bins, on the study and on retrain."""
    parser.add_argument(
        "--validation-bins",
        dest="validation_bins",
        metavar="SPEC",
        help=with_default(
            "validation_bins",
            "the kinematic binning of the validation: a JSON file or inline JSON object "
            "(the documentation's configuration reference: validation_bins)",
            none="LHCb's eta and phi in momentum slices per species",
        ),
    )


def add_subcommands(sub) -> None:
    for add in (
        _generate_parser, _prepare_parser, _check_parser, _retrain_parser, _export_parser,
        _predict_parser, _report_parser, _compare_parser,
    ):  # fmt: skip
        add(sub)
