"""Text, Markdown and HTML renderings of a report summary or a comparison (both plain dicts);
every value from a record escaped where it is written (study/report/escape.py)."""

from __future__ import annotations

import math

from study.report.escape import html_text, md_text, md_url, row_class, terminal_text

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

CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin-bottom: 1em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #eee; }
td.text { text-align: left; }
tr.best td { background: #e6f4e6; }
tr.FAILED td, tr.KILLED td, tr.INTERRUPTED td { color: #a33; }
tr.RUNNING td { color: #282; }
tr.PRUNED td { color: #b60; }
tr.differ td { background: #fff0c0; font-weight: bold; }
img { max-width: 100%; display: block; margin-bottom: 1em; }
div.scroll { overflow-x: auto; max-width: 100%; margin-bottom: 1em; }
figure { margin: 0 0 1.5em 0; }
figcaption { font-size: 13px; color: #444; }
"""


class Raw(str):
    """A table cell that is already HTML (a link); every other cell is escaped."""


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


def _row_cells(row: dict, hp_names: list[str]) -> list[str]:
    cells = [fmt(row.get(key), key) for key, _ in TABLE_COLUMNS]
    return cells + [fmt(row["hyperparameters"].get(n), n) for n in hp_names]


def _header(hp_names: list[str]) -> list[str]:
    return [title for _, title in TABLE_COLUMNS] + hp_names


def _kv(d: dict) -> str:
    return " ".join(f"{k}={fmt(v, k)}" for k, v in d.items())


# -- report ---------------------------------------------------------------------------------


def _headline_lines(summary: dict) -> list[str]:
    c = summary["config"]
    counts = ", ".join(f"{n} {s}".lower() for s, n in summary["counts"].items()) or "no trials"
    lines = [
        f"study {summary['study']} ({summary['directory']}): {summary['state']}",
        f"  config: tuner {c.get('tuner')}, {c.get('trials')} trials, seed {c.get('seed')}, "
        f"max {c.get('max_epochs')} epochs a phase, patience {c.get('patience_1')}/"
        f"{c.get('patience_2')}, data {c.get('data') or 'embedded default'}",
        f"  trials: {counts} ({len(summary['trials'])} recorded)",
    ]
    best = summary["best"]
    if best:
        lines.append(
            f"  best: trial {best['trial_id']}, objective {best['objective']:.5f}: "
            + _kv(best["hyperparameters"])
        )
    else:
        lines.append("  best: no completed trial yet")
    if summary["retrained"]:
        r = summary["retrained"]
        lines.append(f"  retrained: trial {r['trial_id']}: " + _kv(r["test_metrics"]))
        if r.get("converged") is False:
            lines.append(
                f"  retrained model NOT converged: {r.get('convergence_note')}; "
                "raise --retrain-max-epochs (or --time-budget) and retrain"
            )
    if summary["importances"]:
        lines.append("  importances: " + _kv(summary["importances"]))
    else:
        lines.append(f"  importances: none ({summary['importance_note']})")
    return lines


def report_text(summary: dict) -> str:
    """The terminal summary: headline lines, then the trials table sorted by objective."""
    hp = summary["hyperparameter_names"]
    rows = [_header(hp)] + [_row_cells(r, hp) for r in summary["trials"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = [" ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    notes = [f"  trial {t} {s}: {m}" for t, s, m in _failures(summary)]
    lines = _headline_lines(summary) + [""] + table + notes
    return "\n".join(terminal_text(line) for line in lines) + "\n"


def _md_table(header: list[str], rows: list[list[str]], bold: list[bool] | None = None) -> list:
    """A Markdown table of escaped cells; the rows of `bold` in bold."""
    out = ["| " + " | ".join(md_text(h) for h in header) + " |", "|" + "---|" * len(header)]
    for r, strong in zip(rows, bold or [False] * len(rows), strict=True):
        cells = [f"**{md_text(c)}**" if strong and c else md_text(c) for c in r]
        out.append("| " + " | ".join(cells) + " |")
    return out


def _failures(summary: dict) -> list[tuple[str, str, str]]:
    """(trial id, status, message) of the trials that carry a message."""
    rows = [r for r in summary["trials"] if r.get("message")]
    return [(str(r["trial_id"]), str(r["status"]).lower(), str(r["message"])) for r in rows]


def report_markdown(summary: dict) -> str:
    hp = summary["hyperparameter_names"]
    lines = [f"# Study {md_text(summary['study'])}", ""]
    lines += [md_text(line.strip()) for line in _headline_lines(summary)[1:]]
    lines += ["", "## Trials (sorted by objective)", ""]
    lines += _md_table(_header(hp), [_row_cells(r, hp) for r in summary["trials"]])
    failures = _failures(summary)
    if failures:
        lines += ["", "## Failed and stopped trials", ""]
        lines += [f"- trial {md_text(t)} {md_text(s)}: {md_text(m)}" for t, s, m in failures]
    lines += ["", "## Figures", ""]
    lines += [f"![{md_text(n)}]({md_url(f)})" for n, f in summary["figures"].items()]
    check = summary.get("validation")
    if check:
        lines += ["", f"## Validation of the retrained trial {md_text(check['trial_id'])} "
                  "(kinematic bins, worst chi2/ndf first)", ""]  # fmt: skip
        lines += _md_table(VALIDATION_HEADER, [_validation_cells(b) for b in check["bins"]])
        drawn = [b for b in check["bins"] if b["figure"]]
        lines += [""] + [f"![{md_text(b['bin'])}]({md_url(b['figure'])})" for b in drawn]
    return "\n".join(lines) + "\n"


VALIDATION_HEADER = ["bin", "chi2/ndf", "ndf", "binomial chi2/ndf", "eff true", "eff model"]


def _validation_cells(b: dict) -> list[str]:
    return [
        str(b["bin"]), f"{b['chi2_ndf']:.2f}", str(b["ndf"]), f"{b['chi2_ndf_binomial']:.2f}",
        f"{b['efficiency_true']:.4f}", f"{b['efficiency_model']:.4f}",
    ]  # fmt: skip


def _validation_html(check: dict | None) -> str:
    """The retrained best's kinematic bins, worst first: a table, then their figures."""
    if not check:
        return (
            '<h2 id="validation">Validation</h2><p>No retrained model yet (the study retrains '
            "its best trial at its end; <code>run_study.py retrain</code> does it on demand).</p>"
        )
    rows = [_validation_cells(b) for b in check["bins"]]
    figures = "".join(
        f'<figure><img src="{html_text(b["figure"])}" alt="{html_text(b["bin"])}">'
        f"<figcaption>{html_text(b['bin'])}: chi2/ndf {b['chi2_ndf']:.2f} "
        f"({html_text(b['ndf'])}), "
        f"binomial {b['chi2_ndf_binomial']:.2f}, efficiency {b['efficiency_true']:.4f} true, "
        f"{b['efficiency_model']:.4f} model</figcaption></figure>"
        for b in check["bins"]
        if b["figure"]
    )
    overview = "".join(
        f'<li><a href="{html_text(f)}">{html_text(str(f).rsplit("/", 1)[-1])}</a></li>'
        for f in check["figures"]
    )
    trial = html_text(check["trial_id"])
    return (
        f'<h2 id="validation">Validation of the retrained trial {trial}</h2>'
        "<p>Kinematic bins of the test split, worst chi2/ndf first: generated, truly "
        "accepted and model-weighted particles, with the ratio model-weighted / truly accepted "
        "under each (band: its expected spread if the model were right).</p>"
        + _html_table(VALIDATION_HEADER, rows, [""] * len(rows), "validation-bins")
        + figures
        + (f"<h3>Every bin and feature</h3><ul>{overview}</ul>" if overview else "")
    )


def _html_table(header: list[str], rows: list[list[str]], classes: list[str], table_id: str) -> str:
    head = "".join(f"<th>{html_text(h)}</th>" for h in header)
    body = []
    for cells, cls in zip(rows, classes, strict=True):
        tds = "".join(
            f'<td class="text">{c}</td>' if isinstance(c, Raw) else f"<td>{html_text(c)}</td>"
            for c in cells
        )
        body.append(f'<tr class="{html_text(row_class(cls))}">{tds}</tr>')
    return (
        f'<div class="scroll"><table id="{html_text(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def report_html(summary: dict) -> str:
    hp = summary["hyperparameter_names"]
    best_id = summary["best"]["trial_id"] if summary["best"] else None
    rows, classes = [], []
    for r in summary["trials"]:
        cells = _row_cells(r, hp)
        if r.get("tensorboard"):
            cells[1] = Raw(f'<a href="{html_text(r["tensorboard"])}">{html_text(cells[1])}</a>')
        rows.append(cells)
        classes.append("best" if r["trial_id"] == best_id else row_class(r["status"]))
    head = "".join(f"<li>{html_text(line.strip())}</li>" for line in _headline_lines(summary)[1:])
    figures = "".join(
        f'<h3>{html_text(name)}</h3><img src="{html_text(file)}" alt="{html_text(name)}">'
        for name, file in summary["figures"].items()
    )
    messages = "".join(
        f"<li>trial {html_text(t)} {html_text(s)}: {html_text(m)}</li>"
        for t, s, m in _failures(summary)
    )
    board = ""
    if summary.get("tensorboard"):
        board = (
            f"<p>TensorBoard logs (one directory per trial, with keras-tuner's hyperparameter "
            f"data): <code>tensorboard --logdir {html_text(summary['tensorboard'])}</code></p>"
        )
    links = "".join(
        f'<li><a href="{html_text(href)}">{html_text(text)}</a></li>'
        for text, href in summary.get("links", {}).items()
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Study {html_text(summary['study'])}</title><style>{CSS}</style></head><body>"
        f"<h1>Study {html_text(summary['study'])}</h1>"
        f"<p>{html_text(summary['state'])}</p><ul>{head}</ul>"
        + (f"<ul>{links}</ul>" if links else "")
        + board
        + "<h2>Trials, sorted by objective</h2>"
        + _html_table(_header(hp), rows, classes, "trials")
        + (f"<h3>Failed and stopped trials</h3><ul>{messages}</ul>" if messages else "")
        + _validation_html(summary.get("validation"))
        + f"<h2>Figures</h2>{figures}</body></html>\n"
    )


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


def compare_markdown(table: dict, figure: str) -> str:
    rows, classes = _compare_rows(table)
    lines = ["# Comparison", "", "Differing hyperparameters in bold.", ""]
    lines += _md_table(["", *table["columns"]], rows, [bool(c) for c in classes])
    return "\n".join(lines + ["", f"![learning curves]({md_url(figure)})"]) + "\n"


def compare_html(table: dict, figure: str) -> str:
    rows, classes = _compare_rows(table)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Comparison</title>"
        f"<style>{CSS}</style></head><body><h1>Comparison</h1>"
        "<p>Highlighted: hyperparameters whose values differ.</p>"
        + _html_table(["", *table["columns"]], rows, classes, "compare")
        + f'<h2>Learning curves</h2><img src="{html_text(figure)}" alt="learning curves">'
        "</body></html>\n"
    )
