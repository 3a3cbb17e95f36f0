"""The terminal of a study: its own lines, none of TensorFlow's start-up chatter (issue 19)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from study.testing.presets import study_argv, tiny

ROOT = Path(__file__).resolve().parents[1]
CHATTER = ("oneDNN", "cuda drivers", "absl::InitializeLog", "cuInit", "Assets written to")


def _run(data, results, *extra) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "STUDY_"))}
    done = subprocess.run(
        [sys.executable, "run_study.py", *study_argv(data, results, 2, *extra, flags=tiny(2))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def test_a_study_prints_its_own_lines_and_no_tensorflow_chatter(tiny_dataset, tmp_path):
    text = _run(tiny_dataset, tmp_path, "--retrain-max-epochs", "2")
    assert [c for c in CHATTER if c in text] == []
    assert "trial 0 completed" in text and "trial 1 completed" in text  # the study's own lines
    assert "C export checked" in text and "report:" in text


def test_verbose_lets_tensorflow_speak(tiny_dataset, tmp_path):
    text = _run(tiny_dataset, tmp_path, "--no-retrain", "--no-report", "--verbose")
    assert "oneDNN" in text or "absl::InitializeLog" in text or "cuda drivers" in text
