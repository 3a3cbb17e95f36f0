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
