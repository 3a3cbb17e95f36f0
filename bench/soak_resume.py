"""Soak test of resume: a tiny study killed with SIGKILL at random moments, then finished.

Starts `run_study.py` on a tiny generated dataset (tiny models, 2-3 epochs a
phase, no retraining), kills it after a random delay (seeded), snapshots which
trials the oracle holds as completed and their report.json bytes, and starts it
again, until it has been killed `--kills` times; then lets it finish. Reports:

- kills: SIGKILLs delivered (each to a running study);
- trials_lost: trials completed at some kill that are not completed at the end
  with byte-identical records (target 0);
- trials_duplicated: repeated ids in the oracle's end order, plus completed
  trials whose hyperparameters repeat another completed trial's, i.e. a trial run
  again under a new id (target 0);
- trials_completed: completed trials at the end (must equal --trials);
- kills_at: where the kills fell: in phase 1 or 2 of a trial (the phase of the run's
  last reported epoch), or before the run's first epoch (study or trial start-up).

    python bench/soak_resume.py [--trials 20] [--kills 30] [--seed 0] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import emit

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from study.testing.inspect import completed_records  # noqa: E402
from study.testing.presets import tiny  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = [*tiny(), "--no-retrain"]  # random search, as the soak was designed and measured


def moment(study: Path, since: float) -> str:
    """What this run (started at `since`, epoch seconds) is doing: the phase of the
    epoch it last reported, or that it has reported none yet (study start-up, trial
    start-up: a process, TensorFlow, tracing)."""
    latest = None
    for history in (study / "trials").glob("*/history.csv"):
        try:
            if history.stat().st_mtime >= since and (
                latest is None or history.stat().st_mtime > latest.stat().st_mtime
            ):
                latest = history
        except OSError:
            continue
    if latest is None:
        return "before this run's first epoch"
    rows = latest.read_text().splitlines()[1:]
    return f"phase {rows[-1].split(',')[1]}" if rows else "before this run's first epoch"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument(
        "--max-delay",
        type=float,
        default=35.0,
        help="kills come uniformly within 1..MAX seconds of a start (a start-up takes ~8 s, "
        "a tiny trial ~13 s on 2 cores: 35 lets ~0.4 trials finish per run)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2 trials, 2 kills (self-check)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.trials, args.kills, args.max_delay = 2, 2, 12.0
    rng = random.Random(args.seed)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("STUDY_FAULT", None)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data, results = Path(tmp) / "data", Path(tmp) / "results"
        subprocess.run(
            [sys.executable, "run_study.py", "generate", "--rows", "6000", "--output", str(data)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        command = [
            sys.executable,
            "run_study.py",
            *("--trials", str(args.trials), "--data", str(data), "--results", str(results)),
            *("--study", "soak", *TINY),
        ]
        study = results / "soak"
        seen: dict[str, bytes] = {}
        kills, kills_at, runs = 0, Counter(), 0
        while True:
            since = time.time()
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            runs += 1
            if kills < args.kills:
                try:
                    process.wait(timeout=rng.uniform(1.0, args.max_delay))
                except subprocess.TimeoutExpired:
                    kills_at[moment(study, since)] += 1
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    kills += 1
                    for trial_id, raw in completed_records(study).items():
                        seen.setdefault(trial_id, raw)
                    print(
                        f"kill {kills}: {len(completed_records(study))} trials completed",
                        file=sys.stderr,
                        flush=True,
                    )
                    continue
            err = process.communicate()[1].decode()
            if process.returncode != 0:
                raise SystemExit(f"study failed (exit {process.returncode}):\n{err[-3000:]}")
            break  # finished: with fewer kills than asked if the delays were long
        final = completed_records(study)
        oracle = json.loads((study / "tuner" / "oracle.json").read_text())
        values = Counter(
            json.dumps(json.loads(raw)["hyperparameters"], sort_keys=True) for raw in final.values()
        )
        figures = {
            "kills": kills,
            "trials_lost": sum(final.get(t) != raw for t, raw in seen.items()),
            "trials_duplicated": len(oracle["end_order"])
            - len(set(oracle["end_order"]))
            + sum(n - 1 for n in values.values()),
            "trials_completed": len(final),
            "trials_requested": args.trials,
            "runs": runs,
            "wall_seconds": round(time.perf_counter() - start, 1),
            "kills_at": json.dumps(dict(kills_at)),
        }
    emit(figures, args.json)
    ok = (
        figures["trials_lost"] == 0
        and figures["trials_duplicated"] == 0
        and figures["trials_completed"] == args.trials
        and kills == args.kills
    )
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
