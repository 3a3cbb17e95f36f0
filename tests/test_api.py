"""The Python API runs the pipeline the command line runs, and says what it does."""

import subprocess
import sys
import textwrap

SCRIPT = """
import study
s = study.run(
    trials=2, data={data!r}, results={results!r}, study="api", report=False, tuner="random",
    fixed={{"width": 8, "n_blocks": 1, "batch_size": 512}},
    narrowed={{"learning_rate": "0.003:0.03"}}, max_epochs=2, patience_1=1, patience_2=1,
    retrain_recipe="trial", retrain_max_epochs=2,
)
print("best:", s.best.trial_id, s.best.status)
"""


def test_run_in_a_fresh_process_prints_the_trial_and_retrain_lines(tiny_dataset, tmp_path):
    script = textwrap.dedent(SCRIPT.format(data=str(tiny_dataset), results=str(tmp_path)))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out, err = done.stdout, done.stderr  # log lines on stderr, with no logging set up
    assert "trial 1 of 2 (id 0)" in err and "trial 2 of 2 (id 1)" in err  # the search's
    assert "  epoch   0  phase 1" in err
    assert "study api: 2 trials ended; best trial" in out
    assert "retraining trial" in err and "  retrain epoch   0  phase 1" in err
    assert "retrained, validated and exported to" in out
    assert "best: " in out and out.rstrip().endswith("COMPLETED")
