"""A tiny study end to end: search, retrain, validate, export, predict; retrain resumes."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from study.cli import main
from study.testing.presets import study_argv, tiny

ROOT = Path(__file__).resolve().parents[2]
TINY = tiny(2, stable=False, retrain_epochs=3)


@pytest.fixture(scope="module")
def finished(tiny_dataset, tmp_path_factory):
    results = tmp_path_factory.mktemp("best")
    code = main(study_argv(tiny_dataset, results, 2, flags=TINY))
    assert code == 0
    return results / "s"


def test_the_report_of_a_finished_study_says_finished(finished):
    summary = json.loads((finished / "report" / "report.json").read_text())
    assert summary["counts"] == {"COMPLETED": 2}
    assert summary["state"].startswith("finished: 2 of 2 trials ended (2 completed)")
    assert "wall time" in summary["state"]
    for name in ("index.html", "report.md", "report.json"):
        raw = (finished / "report" / name).read_text()
        text = re.sub(r"<style>.*?</style>", "", raw, flags=re.S)  # the CSS names RUNNING
        assert "RUNNING" not in text and "running (pid" not in text, name


def test_best_directory_layout(finished):
    best = finished / "best"
    assert (best / "history.csv").exists() and (best / "learning_curve.png").exists()
    metrics = json.loads((best / "validation" / "metrics.json").read_text())
    assert {"model_cross_entropy", "features", "kinematic_bins", "truth"} <= set(metrics)
    assert metrics["truth"]["excess"] > 0
    assert (best / "validation" / "hadron_mc_eta.png").exists()
    export = best / "export"
    for name in ("model.keras", "saved_model", "preprocessing.json", "model_card.json"):
        assert (export / name).exists(), name
    card = json.loads((export / "model_card.json").read_text())
    assert card["export_check"]["max_abs_difference"] <= 1e-5
    assert card["features"][0] == "mc_x" and card["versions"]["tensorflow"]
    trained, searched = card["final_fit_hyperparameters"], card["hyperparameters"]
    assert trained["width"] == searched["width"] and trained["l2"] <= searched["l2"]
    assert not (best / "checkpoint").exists()
    # --retrain-max-epochs 3 on the study's command line caps each retrained phase
    assert json.loads((finished / "study.json").read_text())["config"]["retrain_max_epochs"] == 3
    phases = [line.split(",")[1] for line in (best / "history.csv").read_text().splitlines()[1:]]
    assert 0 < phases.count("1") <= 3 and phases.count("2") <= 3


def test_the_export_carries_checked_compiled_c_and_predict_serves_it(finished, tmp_path):
    from study.data import synthetic

    export = finished / "best" / "export"
    card = json.loads((export / "model_card.json").read_text())
    c = card["c"]
    assert c["compiled"] and c["name"] == "acceptance" and c["flops_per_particle"] > 0
    assert c["check"]["rows"] > 1_200  # the tiny test split's rows and the extra rows
    assert c["check"]["max_abs_difference"] <= 1e-5
    assert c["batch_ns_per_particle"] > 0 and c["single_ns_per_particle"] > 0
    assert (export / "c" / "acceptance.so").exists() and (export / "c" / "acceptance.h").exists()
    raw = next(synthetic.generate(300, seed=78))
    raw.to_feather(tmp_path / "raw.feather")
    for engine in ("keras", "savedmodel", "c"):
        argv = ["predict", "--model", str(export), "--input", str(tmp_path / "raw.feather"),
                "--output", str(tmp_path / f"{engine}.feather"), "--engine", engine]  # fmt: skip
        assert main(argv) == 0
    p = {e: pd.read_feather(tmp_path / f"{e}.feather")["predicted_acceptance"].to_numpy()
         for e in ("keras", "savedmodel", "c")}  # fmt: skip
    assert np.max(np.abs(p["c"] - p["savedmodel"])) <= 1e-5
    assert np.max(np.abs(p["keras"] - p["savedmodel"])) <= 1e-5


def test_predict_reads_a_root_tree_as_it_reads_feather(finished, tmp_path, capsys):
    """The same rows as a ROOT TTree (with a jagged branch, left out and named) and as
    feather: the same probabilities, every flat branch kept."""
    import awkward as ak
    import uproot

    from study.data import synthetic

    raw = next(synthetic.generate(200, seed=79))
    raw.to_feather(tmp_path / "raw.feather")
    columns = {c: raw[c].to_numpy() for c in raw}
    columns["hits"] = ak.Array([[1.0] * (k % 3) for k in range(len(raw))])
    with uproot.recreate(tmp_path / "raw.root") as file:
        types = {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in columns.items()}
        file.mktree("Particles", types).extend(columns)
    export = str(finished / "best" / "export")
    for name in ("raw.feather", "raw.root"):
        argv = ["predict", "--model", export, "--input", str(tmp_path / name),
                "--output", str(tmp_path / f"{name}.out.feather")]  # fmt: skip
        assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "left out 1 branch(es) with several values per entry: 'hits'" in printed
    assert "predicted 200 rows" in printed
    from_feather = pd.read_feather(tmp_path / "raw.feather.out.feather")
    from_root = pd.read_feather(tmp_path / "raw.root.out.feather")
    # uproot wrote the jagged branch's counter, nhits: one number per entry, kept
    assert list(from_root.columns) == [*raw.columns, "nhits", "predicted_acceptance"]
    assert list(from_feather.columns) == [*raw.columns, "predicted_acceptance"]
    np.testing.assert_allclose(
        from_root["predicted_acceptance"], from_feather["predicted_acceptance"], atol=1e-6
    )


def test_predict_matches_a_tensorflow_only_process(finished, tiny_dataset, tmp_path):
    from study.data import synthetic

    raw = next(synthetic.generate(500, seed=77))
    raw.to_feather(tmp_path / "raw.feather")
    out = tmp_path / "out.feather"
    assert (
        main(
            [
                "predict",
                "--model",
                str(finished / "best" / "export"),
                "--input",
                str(tmp_path / "raw.feather"),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    predicted = pd.read_feather(out)
    assert list(predicted.columns) == list(raw.columns) + ["predicted_acceptance"]
    assert predicted["predicted_acceptance"].between(0, 1).all()
    code = (
        "import sys, json, numpy as np, pandas as pd, tensorflow as tf\n"
        f"m = tf.saved_model.load({str(finished / 'best/export/saved_model')!r})\n"
        f"f = pd.read_feather({str(out)!r})\n"
        f"pre = json.load(open({str(finished / 'best/export/preprocessing.json')!r}))\n"
        "names = pre['features']\n"
        "p = list(m.signatures['serving_default'](tf.constant(f[names].to_numpy(np.float32)))"
        ".values())[0].numpy()\n"
        "assert not any(k == 'study' or k.startswith('study.') for k in sys.modules)\n"
        "print(float(np.abs(p - f['predicted_acceptance'].to_numpy()).max()))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert float(result.stdout.strip().splitlines()[-1]) <= 1e-6


def test_predict_bad_inputs(finished, tmp_path, capsys):
    pd.DataFrame({"mc_x": [1.0]}).to_feather(tmp_path / "raw.feather")
    code = main(
        [
            "predict",
            "--model",
            str(finished / "best" / "export"),
            "--input",
            str(tmp_path / "raw.feather"),
            "--output",
            str(tmp_path / "o.feather"),
        ]
    )
    assert code == 2 and "column mc_y: needed by the model but absent" in capsys.readouterr().err
    code = main(
        [
            "predict",
            "--model",
            str(tmp_path),
            "--input",
            str(tmp_path / "raw.feather"),
            "--output",
            str(tmp_path / "o.feather"),
        ]
    )
    assert code == 2 and "model.keras: missing" in capsys.readouterr().err  # the default engine
    assert not (tmp_path / "o.feather").exists()


def test_saved_model_preprocessing_matches_numpy_with_ties_at_both_ends():
    import tensorflow as tf

    from study.best.export import preprocessing_graph
    from study.data.preprocessing import Preprocessing

    rng = np.random.default_rng(0)
    v = np.concatenate([np.full(300, 2.0), rng.normal(3, 0.3, 400), np.full(300, 4.0)])
    frame = pd.DataFrame({"v": v, "flag": rng.integers(0, 2, 1000).astype(float)})
    pre = Preprocessing.fit(frame, ["v", "flag"], ["flag"])
    raw = np.array([[1.0, 0], [2.0, 1], [2.5, 0], [3.0, 1], [4.0, 0], [9.0, 1]], np.float32)
    expected = pre.transform(pd.DataFrame(raw.astype(float), columns=["v", "flag"])).to_numpy()
    got = preprocessing_graph(pre)(tf.constant(raw)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("start", ["trial", "scratch"])
def test_retrain_resumes_from_its_checkpoint(finished, tiny_dataset, start, caplog):
    """A final fit killed after its third epoch resumes at its fourth: the continuation
    of the trial's weights (its start logged once, not again on resume) and from scratch."""
    import logging

    from study.best.retrain import retrain
    from study.choice import choose_trial
    from study.config import StudyConfig
    from study.data.dataset import open_dataset
    from study.store.checkpoint import Checkpoint

    caplog.set_level(logging.INFO)
    raw = json.loads((finished / "study.json").read_text())["config"]
    config = StudyConfig.from_dict(
        {**raw, "study": "resume", "retrain_max_epochs": 3, "retrain_from": start}
    )
    # the trial's checkpoint, where a continuation starts, is in the finished study
    (config.study_dir / "trials").mkdir(parents=True, exist_ok=True)
    for trial_dir in (finished / "trials").iterdir():
        link = config.study_dir / "trials" / trial_dir.name
        if not link.exists():
            link.symlink_to(trial_dir)
    dataset = open_dataset(tiny_dataset)
    trial = choose_trial(StudyConfig.from_dict(raw))
    seen = []

    class Killed(Exception):
        pass

    def die_after_three(record, best):
        seen.append(record.epoch)
        if record.epoch == 2:
            raise Killed

    with pytest.raises(Killed):
        retrain(config, dataset, trial, die_after_three)
    assert (config.study_dir / "best" / "checkpoint" / "state.json").exists()
    resumed = []
    done = retrain(config, dataset, trial, lambda r, b: resumed.append(r.epoch))
    assert seen == [0, 1, 2] and resumed[0] == 3
    assert [r.epoch for r in done.result.history] == list(range(len(done.result.history)))
    assert caplog.text.count("continuing from trial") == (1 if start == "trial" else 0)
    assert caplog.text.count("resuming trial") == 1
    Checkpoint(config.study_dir / "best" / "checkpoint").clear()


def test_an_export_that_fails_its_check_ends_in_one_line(finished, tmp_path, capsys, monkeypatch):
    from study.best import export

    # no difference can pass: the check fails
    monkeypatch.setattr(export, "allowed_difference", lambda *args: -1.0)
    results = finished.parent
    code = main(["retrain", "--results", str(results), "--study", finished.name])
    err = capsys.readouterr().err
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith(("error:", "internal error"))]
    assert len(lines) == 1 and "differ by" in lines[0], err
    assert "Traceback" not in err
    assert "rerun with --debug for the traceback" in lines[0]
    assert (finished / "best" / "export" / "model_card.json").exists()  # the old export stays


PAGE_CHECK = """
const overflow = document.documentElement.scrollWidth - window.innerWidth;
const tables = Array.from(document.querySelectorAll('table')).map(t => {
  const box = t.parentElement;
  return [t.id, box.className, getComputedStyle(box).overflowX,
          Math.round(box.getBoundingClientRect().right), t.scrollWidth, box.clientWidth];
});
const images = Array.from(document.images).map(
  i => [i.getAttribute('src'), i.complete, i.naturalWidth]);
return {overflow, tables, images, width: window.innerWidth,
        validation: !!document.getElementById('validation'),
        validationImages: document.querySelectorAll('#validation ~ figure img').length};
"""


def _page(driver, path: Path, shot: Path) -> dict:
    driver.get(path.resolve().as_uri())
    seen = driver.execute_script(PAGE_CHECK)
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    broken = [src for src, complete, width in seen["images"] if not complete or width == 0]
    assert seen["images"] and broken == [], broken
    assert seen["overflow"] <= 0, f"the page scrolls sideways by {seen['overflow']} px"
    for table_id, box, overflow_x, right, _, _ in seen["tables"]:
        assert box == "scroll" and overflow_x == "auto", table_id  # wide tables scroll inside
        assert right <= seen["width"], table_id
    return seen


@pytest.mark.slow
@pytest.mark.browser
def test_report_and_compare_pages_at_a_laptop_width(finished, browser, tmp_path):
    """Screenshots of the report and the compare page in headless Chromium (1366 px)."""
    seen = _page(browser, finished / "report" / "index.html", tmp_path / "report.png")
    assert seen["validation"] and seen["validationImages"] >= 1
    assert any(src.startswith("../best/validation/worst/") for src, _, _ in seen["images"])
    assert "trials" in [t[0] for t in seen["tables"]]
    out = tmp_path / "compare"
    argv = ["compare", "s:0", "s:1", "--results", str(finished.parent), "--output", str(out)]
    assert main(argv) == 0
    seen = _page(browser, out / "compare.html", tmp_path / "compare.png")
    assert [t[0] for t in seen["tables"]] == ["compare"]
