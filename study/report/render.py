"""Text, Markdown and HTML renderings of a report summary (study/report/summary.py) or a
comparison (a plain dict).

The terminal text is built here, every line through `escape.terminal_text`; the HTML and
Markdown pages are templates (study/report/templates/, rendered by study/report/pages.py)
that escape every value they print, and this module only gives them their context: the
values formatted as text, never markup.
"""

from __future__ import annotations

import math

from study.report.escape import row_class, terminal_text
from study.report.pages import Link, page
from study.report.summary import ReportSummary, TrialRow, ValidationBin, ValidationCheck

TABLE_COLUMNS = [
    ("rank", "rank"),
    ("trial_id", "trial"),
    ("status", "status"),
    ("objective", "objective"),
    ("epochs_1", "ep. 1"),
    ("epochs_2", "ep. 2"),
    ("switch_epoch", "switch"),
    ("parameters", "params"),
    ("seconds", "wall s"),
    ("rows_per_second", "rows/s"),
]


def fmt(value, name: str = "") -> str:
    """One cell: objectives to 5 decimals, seconds to 0.1, rows/s whole, floats to 4 digits."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if name in ("objective", "test_cross_entropy", "bayes_cross_entropy", "excess"):
        return f"{value:.5f}"
    if name == "seconds":
        return f"{value:.1f}"
    if name == "rows_per_second":
        return f"{value:.0f}"
    return f"{value:.4g}"


def _row_cells(row: TrialRow, hp_names: list[str]) -> list[str]:
    cells = [fmt(getattr(row, key), key) for key, _ in TABLE_COLUMNS]
    return cells + [fmt(row.hyperparameters.get(n), n) for n in hp_names]


def _header(hp_names: list[str]) -> list[str]:
    return [title for _, title in TABLE_COLUMNS] + hp_names


def _kv(d: dict) -> str:
    return " ".join(f"{k}={fmt(v, k)}" for k, v in d.items())


# -- report ---------------------------------------------------------------------------------


def _headline_lines(summary: ReportSummary) -> list[str]:
    c = summary.config  # study.json's, as written (an older study's may lack a key)
    counts = ", ".join(f"{n} {s}".lower() for s, n in summary.counts.items()) or "no trials"
    lines = [
        f"study {summary.study} ({summary.directory}): {summary.state}",
        f"  config: tuner {c.get('tuner')}, {c.get('trials')} trials, seed {c.get('seed')}, "
        f"max {c.get('max_epochs')} epochs a phase, patience {c.get('patience_1')}/"
        f"{c.get('patience_2')}, data {c.get('data') or 'embedded default'}",
        f"  trials: {counts} ({len(summary.trials)} recorded)",
    ]
    best = summary.best
    if best:
        lines.append(
            f"  best: trial {best.trial_id}, objective {best.objective:.5f}: "
            + _kv(best.hyperparameters)
        )
    else:
        lines.append("  best: no completed trial yet")
    r = summary.retrained
    if r:
        lines.append(f"  retrained: trial {r.trial_id}: " + _kv(r.test_metrics))
        if r.converged is False:
            lines.append(
                f"  retrained model NOT converged: {r.convergence_note}; "
                "raise --retrain-max-epochs (or --time-budget) and retrain"
            )
    if summary.importances:
        lines.append("  importances: " + _kv(summary.importances))
    else:
        lines.append(f"  importances: none ({summary.importance_note})")
    return lines


def report_text(summary: ReportSummary) -> str:
    """The terminal summary: headline lines, then the trials table sorted by objective."""
    hp = summary.hyperparameter_names
    rows = [_header(hp)] + [_row_cells(r, hp) for r in summary.trials]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = [" ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    notes = [f"  trial {t} {s}: {m}" for t, s, m in _failures(summary)]
    lines = _headline_lines(summary) + [""] + table + notes
    return "\n".join(terminal_text(line) for line in lines) + "\n"


def _failures(summary: ReportSummary) -> list[tuple[str, str, str]]:
    """(trial id, status, message) of the trials that carry a message."""
    return [(r.trial_id, r.status.lower(), r.message) for r in summary.trials if r.message]


VALIDATION_HEADER = ["bin", "chi2/ndf", "ndf", "sparse", "eff true", "eff model"]


def _validation_note(check: ValidationCheck) -> str:
    n = check.unscored
    return (
        "chi2/ndf: (accepted - weighted)^2 / sum q (1 - q), ~1 for a correct model; sparse: "
        "sub-bins with sum q (1 - q) below 5 merged into a neighbour"
        + (f"; {n} kinematic bin{'s' * (n != 1)} too sparse for a chi-square." if n else ".")
    )


def _validation_bin(b: ValidationBin) -> dict:
    """One kinematic bin's figures as text for the templates: the table's cells and the
    caption's words."""
    return {
        "bin": b.bin, "chi2_ndf": f"{b.chi2_ndf:.2f}", "ndf": str(b.ndf),
        "sparse": fmt(b.sparse or ""), "efficiency_true": f"{b.efficiency_true:.4f}",
        "efficiency_model": f"{b.efficiency_model:.4f}", "figure": b.figure,
    }  # fmt: skip


def _validation_view(check: ValidationCheck | None) -> dict | None:
    """The retrained best's kinematic bins, worst first, for the templates: the table's
    rows, the drawn bins' figures, the per-variable figures (None before a retrain)."""
    if not check:
        return None
    bins = [_validation_bin(b) for b in check.bins]
    columns = ("bin", "chi2_ndf", "ndf", "sparse", "efficiency_true", "efficiency_model")
    return {
        "trial_id": check.trial_id,
        "note": _validation_note(check),
        "header": VALIDATION_HEADER,
        "rows": [{"class": "", "bold": False, "cells": [b[k] for k in columns]} for b in bins],
        "drawn": [b for b in bins if b["figure"]],
        "figures": [(str(f).rsplit("/", 1)[-1], f) for f in check.figures],
    }


def _trial_rows(summary: ReportSummary, links: bool) -> list[dict]:
    """The trials table's rows: cells, a CSS class (the best, or a known status), and the
    trial id as a link to its TensorBoard logs where written (`links`: HTML)."""
    hp = summary.hyperparameter_names
    best_id = summary.best.trial_id if summary.best else None
    rows = []
    for r in summary.trials:
        cells = _row_cells(r, hp)
        if links and r.tensorboard:
            cells[1] = Link(cells[1], r.tensorboard)
        css = "best" if r.trial_id == best_id else row_class(r.status)
        rows.append({"class": css, "bold": False, "cells": cells})
    return rows


def _report_context(summary: ReportSummary, html: bool) -> dict:
    return {
        "study": summary.study,
        "state": summary.state,
        "headline": [line.strip() for line in _headline_lines(summary)[1:]],
        "links": list(summary.links.items()),
        "tensorboard": summary.tensorboard,
        "header": _header(summary.hyperparameter_names),
        "rows": _trial_rows(summary, links=html),
        "failures": _failures(summary),
        "validation": _validation_view(summary.validation),
        "figures": list(summary.figures.items()),
    }


def report_markdown(summary: ReportSummary) -> str:
    return page("report.md.j2", **_report_context(summary, html=False))


def report_html(summary: ReportSummary) -> str:
    return page("report.html.j2", **_report_context(summary, html=True))


# -- comparison -----------------------------------------------------------------------------


def _compare_rows(table: dict) -> tuple[list[list[str]], list[str]]:
    rows, classes = [], []
    for name, values in table["rows"].items():
        rows.append([str(name)] + [fmt(v, name) for v in values])
        classes.append("differ" if name in table["differing"] else "")
    return rows, classes


def compare_text(table: dict) -> str:
    """The terminal table of a comparison, every cell through `terminal_text`."""
    rows, classes = _compare_rows(table)
    rows = [[terminal_text(c) for c in r] for r in rows]
    header = [terminal_text(c) for c in ["", *table["columns"]]]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [" ".join(c.rjust(w) for c, w in zip(header, widths, strict=True))]
    for r, mark in zip(rows, classes, strict=True):
        lines.append(" ".join(map(str.rjust, r, widths)) + " *" * bool(mark))
    return "\n".join([*lines, "(* hyperparameters that differ)"]) + "\n"


def _compare_context(table: dict, figure: str) -> dict:
    rows, classes = _compare_rows(table)
    return {
        "header": ["", *table["columns"]],
        "rows": [
            {"class": c, "bold": bool(c), "cells": r} for r, c in zip(rows, classes, strict=True)
        ],
        "figure": figure,
    }


def compare_markdown(table: dict, figure: str) -> str:
    return page("compare.md.j2", **_compare_context(table, figure))


def compare_html(table: dict, figure: str) -> str:
    return page("compare.html.j2", **_compare_context(table, figure))
