"""The default study on every profile of the zoo, beside what a physicist gets without it.

    python bench/bench_zoo.py [--profiles small,few,...] [--results DIR] [--seed S]
                              [--budget PROFILE=DURATION ...] [--rows PROFILE=ROWS ...]
                              [--study-flag=--X ...] [--reuse-studies] [--json PATH] [--quick]

For each profile (`python run_study.py generate --profile NAME`, its default rows, seed
`--seed`), on the same splits:
- study: `run_study.py --trials 50 --data <profile> --validation-bins <its binning>
  --time-budget B`, every other flag at its default; B by size: 5m up to 500,000 rows,
  30m for the default sample, 60m for the large one (`--budget NAME=DURATION` overrides);
  its wall time, test excess over the Bayes cross-entropy, whether the final fit
  converged, the kinematic bins' median and worst chi2/ndf, which weights it
  exported (the final fit's or the trial's own) with both validation cross-entropies;
- trial: the chosen trial's own weights (`trials/<id>/checkpoint/`) scored on the same
  test split (what the search already had);
- hgb: HistGradientBoostingClassifier, early stopping, on the full training split;
- mlp: a plain 4 x 128 tanh MLP, Adam 1e-3, batch 2048, early stopping (patience 3).
The excess of each is the study's own figure, E[KL(truth || model)] on the test split
(nats; the test cross-entropy minus the Bayes cross-entropy in expectation, free of label
noise); the baselines' cross-entropy minus Bayes is printed beside it (`excess_nats`).
`--reuse-studies` reads finished studies in `--results` (their wall as they counted it);
otherwise a study already in `--results` is resumed (a cut bench runs again). `--quick`: the
profiles small and few at 6,000 rows with a tiny study (a few minutes, run by CI).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_quality import QUICK_STUDY, finished_study, load, run_hgb, run_mlp, run_study, scores
from common import emit

ROOT = Path(__file__).resolve().parents[1]
QUICK_PROFILES, QUICK_ROWS = ("small", "few"), 6_000
QUICK_FLAGS = [f for f in QUICK_STUDY if f not in ("--default-rows", "20000")]
QUICK_FLAGS[QUICK_FLAGS.index("--search-rows") + 1] = "1000"


def budget_of(rows: int) -> str:
    """The study's budget by the profile's rows: what 2 cores give a physicist's session."""
    if rows <= 500_000:
        return "5m"
    return "30m" if rows <= 2_500_000 else "60m"


def generate(results: Path, profile: str, rows: int | None, seed: int) -> Path:
    """The profile's prepared dataset in `results/data/` (kept: a second run reuses it)."""
    out = results / "data" / f"{profile}-seed{seed}"
    if not (out / "preprocessing.json").exists():
        command = [sys.executable, str(ROOT / "run_study.py"), "generate", "--profile", profile,
                   "--output", str(out), "--seed", str(seed), "--overwrite"]  # fmt: skip
        command += ["--rows", str(rows)] if rows else []
        print("$", " ".join(command[1:]), flush=True)
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return out


def trial_own(study: Path, dataset, truth) -> dict:
    """The exported model's trial, its own weights scored on the test split (None where it
    kept none)."""
    from study.best.recipe import trial_weights
    from study.training.network import build_from_values

    card = json.loads((study / "best" / "export" / "model_card.json").read_text())
    report = json.loads((study / "trials" / card["trial_id"] / "report.json").read_text())
    weights = trial_weights(study / "trials" / card["trial_id"])
    if weights is None:
        return {}
    model = build_from_values(len(dataset.features), report["hyperparameters"])
    model.set_weights(weights)
    xt, yt = dataset.test.to_numpy()
    p = model.predict(xt, batch_size=8192, verbose=0)[:, 0]
    kept = card.get("weights") or {}
    return {
        "trial_excess_nats": scores(p, yt[:, 0], truth)["kl_excess_nats"],
        "kept_trial_weights": int(kept.get("kept") == "trial"),
        "final_fit_val_bce": kept.get("final_fit_val_bce"),
        "trial_val_bce": kept.get("trial_val_bce"),
    }


def one_profile(results: Path, profile: str, args) -> dict:
    from study.data.zoo import PROFILES
    from study.durations import parse_duration

    rows = QUICK_ROWS if args.quick else args.rows.get(profile)
    data = generate(results, profile, rows, args.seed)
    rows = rows or PROFILES[profile].rows
    budget = args.budgets.get(profile) or ("1m" if args.quick else budget_of(rows))
    flags = ["--data", str(data), "--validation-bins", str(data / "validation_bins.json"),
             "--time-budget", budget, "--seed", str(args.seed), "--trials", "50"]  # fmt: skip
    flags += [*(QUICK_FLAGS if args.quick else []), *args.study_flag]
    name = f"{profile}-seed{args.seed}"
    if args.reuse_studies and (results / name / "best" / "export" / "model_card.json").exists():
        study = finished_study(results / name)  # its wall: the seconds it counted itself
    else:
        study = run_study(results, name, flags)
    figures = {"rows": rows, "budget_s": parse_duration(budget)}
    figures.update({f"study_{k}": v for k, v in study.items() if k != "trial"})
    figures["study_trial"] = int(study["trial"]) if str(study["trial"]).isdigit() else -1
    dataset, truth = load(data)
    figures.update(trial_own(results / name, dataset, truth))
    print(json.dumps(figures), flush=True)
    for base, run in (("hgb", lambda: run_hgb(dataset, truth)),
                      ("mlp", lambda: run_mlp(dataset, truth, args.quick))):  # fmt: skip
        print(f"running {base} on {profile}", flush=True)
        figures.update({f"{base}_{k}": v for k, v in run().items()})
    for base in ("hgb", "mlp", "trial"):  # the study's excess is E[KL]: like with like
        figures[f"{base}_excess_over_study"] = (
            figures.get(f"{base}_kl_excess_nats", figures.get(f"{base}_excess_nats", 0.0))
            / figures["study_excess_nats"]
        )
    print(json.dumps(figures), flush=True)
    return figures


def pairs(text: list[str]) -> dict:
    return dict(t.split("=", 1) for t in text)


def main() -> None:
    from study.data.zoo import PROFILES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default=",".join(p for p in PROFILES if p != "large"))
    parser.add_argument("--results", type=Path, help="results root (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", action="append", default=[], help="PROFILE=DURATION")
    parser.add_argument("--rows", action="append", default=[], help="PROFILE=ROWS")
    parser.add_argument("--study-flag", action="append", default=[],
                        help="a further flag of every study (--study-flag=--x)")  # fmt: skip
    parser.add_argument(
        "--reuse-studies", action="store_true",
        help="read a finished study of the same name in --results instead of running it",
    )  # fmt: skip
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    args.budgets = pairs(args.budget)
    args.rows = {k: int(v) for k, v in pairs(args.rows).items()}
    results = args.results or Path(tempfile.mkdtemp(prefix="bench_zoo."))
    results.mkdir(parents=True, exist_ok=True)
    profiles = QUICK_PROFILES if args.quick else args.profiles.split(",")
    figures = {}
    for profile in profiles:
        figures.update({f"{profile}_{k}": v for k, v in one_profile(results, profile, args)
                        .items()})  # fmt: skip
    emit(figures, args.json)


if __name__ == "__main__":
    main()
