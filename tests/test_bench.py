"""Every benchmark's --quick self-check runs and writes its figures as flat JSON."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "script,keys",
    [
        ("bench_data.py", {"generate_rows_per_s", "prepare_rows_per_s", "prepare_over_copy"}),
        ("bench_reader.py", {"ours_rows_per_s", "notebook_rows_per_s", "ours_over_limit"}),
        ("bench_memory.py", {"growth_mb", "baseline_growth_mb", "trial_process_peak_mb"}),
        ("bench_report.py", {"report_wall_s", "wall_over_budget", "importances_s"}),
        ("bench_train.py", {"trial_rows_per_s", "fit_rows_per_s", "gemm_limit_rows_per_s"}),
        ("bench_recipe.py", {"excess_nats", "wall_s", "training_rows"}),
        (
            "bench_zoo.py",
            {
                "small_study_excess_nats",
                "small_trial_excess_nats",
                "few_hgb_excess_over_study",
                "few_mlp_excess_over_study",
                "few_final_fit_val_bce",
                "few_kept_trial_weights",
                "few_hgb_kl_excess_nats",
                "small_trial_excess_over_study",
            },
        ),  # fmt: skip
        (
            "gpu_check.py",
            {
                "k1_trial_rows_per_s",
                "k2_trial_rows_per_s",
                "k1_trials_per_hour",
                "k2_trials_per_hour_over_k1",
                "k2_outside_training",
                "k2_gpu_mb_per_trial",
                "k2_excess_nats",
            },
        ),
        (
            "bench_inference.py",
            {
                "c_ns_per_particle",
                "c_batch_ns_per_particle",
                "savedmodel_ns_per_particle_single",
                "c_batch_vs_gemm_limit",
            },
        ),
    ],
)
@pytest.mark.slow
def test_quick_bench(script, keys, tmp_path):
    out = tmp_path / "figures.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    figures = json.loads(out.read_text())
    assert keys <= set(figures)
    assert all(isinstance(v, (int, float)) for v in figures.values())
    assert all(figures[k] > 0 for k in keys if k.endswith("_per_s"))


def test_bench_estimate_reads_a_finished_study(tmp_path):
    """bench_estimate on a hand-made study: a final fit of 3 epochs (10 s, then 4 and 6 s:
    median 5 s after the first) against the estimate from its trial's steady epoch (2 s after
    a first of 9 s) scaled by the work of the splits, and the old rule on its all-epoch rate."""
    study = tmp_path / "r" / "s"
    (study / "best" / "export").mkdir(parents=True)
    card = {"trial_id": "0", "training_rows": 200_000, "converged": True}
    (study / "best/export/model_card.json").write_text(json.dumps(card))
    rows = ["epoch,phase,learning_rate,loss,val_bce,seconds"]
    fit = rows + [f"{i},1,0.002,0.5,0.4,{s}" for i, s in enumerate([10, 4, 6])]
    (study / "best/history.csv").write_text("\n".join(fit) + "\n")
    (study.parent / "s.log").write_text(
        "retraining trial 0 on all 200,000 training rows, validating on 30,000, trial recipe\n"
    )
    trial = study / "trials" / "00"
    trial.mkdir(parents=True)
    report = {"trial_id": "0", "status": "COMPLETED", "objective": 0.4,
              "rows_per_second": 100_000 * 2 / 11, "training_rows": 100_000,
              "validation_rows": 30_000, "hyperparameters": {"batch_size": 512}}  # fmt: skip
    (trial / "report.json").write_text(json.dumps(report))
    epochs = ["0,1,0.01,0.5,0.4,9", "1,1,0.01,0.5,0.4,2"]
    (trial / "history.csv").write_text("\n".join(rows + epochs) + "\n")
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from bench_estimate import measure
    finally:
        sys.path.remove(str(ROOT / "bench"))
    m = measure(study)
    assert m["recipe"] == "trial" and m["epochs"] == "3+0" and m["epoch_s"] == 5.0
    assert m["estimate_s"] == pytest.approx(2.0 * 210_000 / 110_000)  # work 200k+10k / 100k+10k
    assert m["old_estimate_s"] == pytest.approx(210_000 / (100_000 * 2 / 11))
