"""The report's validation section: one ranking statistic (`chi2_ndf`, sparse sub-bins
merged: study/best/histograms.py), the sparse bins marked, an older metrics.json rescored;
and the pages' templates (study/report/pages.py): escaping by construction, shipped.

The bins are hand-made records of three sub-bins each, as study/best/validation.py writes
them into best/validation/metrics.json.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from study.report import build_report, pages
from study.testing.scripted import write_study

# three sub-bins of 100 particles: q = 0.01 (none accepted), 0.2 (20), 0.5 (50)
SPARSE_ARRAYS = {"generated": [100, 100, 100], "accepted": [0, 20, 50],
                 "weighted": [1.0, 20.0, 50.0], "null_variance": [0.99, 16.0, 25.0]}  # fmt: skip


def _bin(particle: str, chi2_ndf: float, ndf: int, **more) -> dict:
    return {"particle": particle, "variable": "eta", "p_low": 1.0, "p_high": 2.0,
            "chi2_ndf": chi2_ndf, "ndf": ndf, "efficiency_true": 0.5,
            "efficiency_model": 0.5, **more}  # fmt: skip


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    study_dir = write_study(tmp_path_factory.mktemp("results"), "s", ["COMPLETED"] * 3, seed=3)
    bins = [
        _bin("bad", 25 / 3, 3, sparse=0),
        _bin("merged", 1 / 16.99 / 2, 2, sparse=1, **SPARSE_ARRAYS),
        # written before the sparse rule: the old figure 33.3 with both variances, no `sparse`
        _bin("older", 100 / 3, 3, chi2_ndf_binomial=1 / 0.99 / 3, **SPARSE_ARRAYS),
        _bin("hopeless", float("nan"), 0, sparse=3),
    ]
    validation = study_dir / "best" / "validation"
    validation.mkdir(parents=True)
    metrics = {"trial_id": "0", "kinematic_bins": bins,
               "kinematic_spec": {"slice": {"label": "p [GeV/c]"}}}  # fmt: skip
    (validation / "metrics.json").write_text(json.dumps(metrics))
    return build_report(study_dir)


def test_bins_ranked_by_chi2_ndf_an_older_record_rescored(summary):
    check = summary.validation
    names = [b.bin.split()[0] for b in check.bins]
    assert names == ["bad", "merged", "older"]  # the hopeless bin has no chi-square
    older = check.bins[2]
    # (20 - 21)^2 / (0.99 + 16) over the groups [0, 1] and [2]: 2 degrees of freedom
    assert older.chi2_ndf == pytest.approx(1 / 16.99 / 2)
    assert (older.ndf, older.sparse) == (2, 1)
    assert check.unscored == 1
    assert [b.sparse for b in check.bins] == [0, 1, 1]


def test_tables_show_the_sparse_mark_and_no_other_statistic(summary):
    markdown = open(summary.files["markdown"]).read()
    html = open(summary.files["html"]).read()
    rows = [line for line in markdown.splitlines() if line.startswith("| bad ")
            or line.startswith("| merged ")]  # fmt: skip
    assert rows == [
        "| bad 1-2 p \\[GeV/c\\] eta | 8.33 | 3 |  | 0.5000 | 0.5000 |",
        "| merged 1-2 p \\[GeV/c\\] eta | 0.03 | 2 | 1 | 0.5000 | 0.5000 |",
    ]
    assert "binomial" not in markdown and "binomial" not in html
    table = re.search(r'<table id="validation-bins">.*?</table>', html, re.S).group(0)
    assert "<th>chi2/ndf</th><th>ndf</th><th>sparse</th>" in table
    cells = re.findall(r"<tr[^>]*>(.*?)</tr>", table)[1:]
    assert [re.findall(r"<td[^>]*>(.*?)</td>", c)[3] for c in cells] == ["", "1", "1"]
    assert "1 kinematic bin too sparse for a chi-square" in markdown
    assert "1 kinematic bin too sparse for a chi-square" in html


HOSTILE = "<img src=x onerror=alert(1)>\"'&"


def test_a_hostile_bin_name_is_text_in_the_table_the_caption_and_the_figure(tmp_path):
    """A species name from a dataset's binning that is markup: escaped wherever the page
    prints it (a table cell, an image's alt and src, a caption), also in Markdown."""
    study_dir = write_study(tmp_path, "s", ["COMPLETED"] * 2, seed=3)
    validation = study_dir / "best" / "validation"
    (validation / "worst").mkdir(parents=True)
    record = _bin(HOSTILE, 2.0, 4, sparse=0)
    (validation / "worst" / f"01_{HOSTILE}_eta_1-2.png").write_bytes(b"png")
    metrics = {"trial_id": "0", "kinematic_bins": [record], "kinematic_spec": {}}
    (validation / "metrics.json").write_text(json.dumps(metrics))
    summary = build_report(study_dir)
    assert summary.validation.bins[0].figure.endswith(f"01_{HOSTILE}_eta_1-2.png")
    html = (study_dir / "report" / "index.html").read_text()
    markdown = (study_dir / "report" / "report.md").read_text()
    text = "&lt;img src=x onerror=alert(1)&gt;&#34;&#39;&amp;"
    assert "<img src=x" not in html and "<img src=x" not in markdown
    assert f"<td>{text} 1-2  eta</td>" in html
    assert (
        f'<img src="../best/validation/worst/01_{text}_eta_1-2.png" alt="{text} 1-2  eta">' in html
    )
    assert f"<figcaption>{text} 1-2  eta: chi2/ndf 2.00 (ndf 4), efficiency" in html
    # Markdown: the name as text in its cell and its alt, the link percent-encoded
    assert "| &lt;img src=x onerror=alert(1)&gt;\"'&amp; 1-2  eta | 2.00 | 4 |" in markdown
    assert "(../best/validation/worst/01_%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E" in markdown


def test_pages_are_templates_shipped_with_the_package():
    """Every page is a template of study/report/templates/, which pyproject ships."""
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["tool"]["setuptools"]["package-data"]["study"] == ["report/templates/*"]
    names = {p.name for p in (Path(pages.__file__).parent / "templates").iterdir()}
    assert {"report.html.j2", "report.md.j2", "compare.html.j2", "compare.md.j2"} <= names
    with pytest.raises(ValueError, match="expected a .html.j2 or .md.j2 template"):
        pages.page("report.txt")
    # every value is escaped, a link's text and target too: only the templates' text is markup
    out = pages.page("compare.html.j2", header=["", "<b>a</b>"],
                     rows=[{"class": "differ", "bold": True, "cells": [pages.Link("<i>", "x\"y")]}],
                     figure="c.png")  # fmt: skip
    assert "<th>&lt;b&gt;a&lt;/b&gt;</th>" in out
    assert '<td class="text"><a href="x&#34;y">&lt;i&gt;</a></td>' in out
    markdown = pages.page("compare.md.j2", header=["", "a|b"],
                          rows=[{"class": "", "bold": True, "cells": ["*x*"]}],
                          figure="c d.png")  # fmt: skip
    assert "| **\\*x\\*** |" in markdown and "|  | a\\|b |" in markdown
    assert markdown.endswith("![learning curves](c%20d.png)\n")
