"""Text, Markdown and HTML renderings of a report summary or a comparison (both plain dicts)."""

from __future__ import annotations

import html
import math

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
    counts = ", ".join(f"{n} {s.lower()}" for s, n in summary["counts"].items()) or "no trials"
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
    failed = [r for r in summary["trials"] if r.get("message")]
    notes = [f"  trial {r['trial_id']} {r['status'].lower()}: {r['message']}" for r in failed]
    return "\n".join(_headline_lines(summary) + [""] + table + notes) + "\n"


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return out


def report_markdown(summary: dict) -> str:
    hp = summary["hyperparameter_names"]
    lines = [f"# Study {summary['study']}", ""]
    lines += [line.strip() for line in _headline_lines(summary)[1:]]
    lines += ["", "## Trials (sorted by objective)", ""]
    lines += _md_table(_header(hp), [_row_cells(r, hp) for r in summary["trials"]])
    lines += ["", "## Figures", ""]
    lines += [f"![{name}]({file})" for name, file in summary["figures"].items()]
    check = summary.get("validation")
    if check:
        lines += ["", f"## Validation of the retrained trial {check['trial_id']} "
                  "(kinematic bins, worst chi2/ndf first)", ""]  # fmt: skip
        lines += _md_table(VALIDATION_HEADER, [_validation_cells(b) for b in check["bins"]])
        lines += [""] + [f"![{b['bin']}]({b['figure']})" for b in check["bins"] if b["figure"]]
    return "\n".join(lines) + "\n"


VALIDATION_HEADER = ["bin", "chi2/ndf", "ndf", "binomial chi2/ndf", "eff true", "eff model"]


def _validation_cells(b: dict) -> list[str]:
    return [
        b["bin"], f"{b['chi2_ndf']:.2f}", str(b["ndf"]), f"{b['chi2_ndf_binomial']:.2f}",
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
        f'<figure><img src="{html.escape(b["figure"])}" alt="{html.escape(b["bin"])}">'
        f"<figcaption>{html.escape(b['bin'])}: chi2/ndf {b['chi2_ndf']:.2f} ({b['ndf']}), "
        f"binomial {b['chi2_ndf_binomial']:.2f}, efficiency {b['efficiency_true']:.4f} true, "
        f"{b['efficiency_model']:.4f} model</figcaption></figure>"
        for b in check["bins"]
        if b["figure"]
    )
    overview = "".join(
        f'<li><a href="{html.escape(f)}">{html.escape(f.rsplit("/", 1)[-1])}</a></li>'
        for f in check["figures"]
    )
    trial = html.escape(str(check["trial_id"]))
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
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for cells, cls in zip(rows, classes, strict=True):
        tds = "".join(
            f'<td class="text">{c}</td>' if isinstance(c, Raw) else f"<td>{html.escape(c)}</td>"
            for c in cells
        )
        body.append(f'<tr class="{cls}">{tds}</tr>')
    return (
        f'<div class="scroll"><table id="{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def report_html(summary: dict) -> str:
    hp = summary["hyperparameter_names"]
    best_id = summary["best"]["trial_id"] if summary["best"] else None
    rows, classes = [], []
    for r in summary["trials"]:
        cells = _row_cells(r, hp)
        if r.get("tensorboard"):
            cells[1] = Raw(f'<a href="{html.escape(r["tensorboard"])}">{html.escape(cells[1])}</a>')
        rows.append(cells)
        classes.append("best" if r["trial_id"] == best_id else r["status"])
    head = "".join(f"<li>{html.escape(line.strip())}</li>" for line in _headline_lines(summary)[1:])
    figures = "".join(
        f'<h3>{html.escape(name)}</h3><img src="{html.escape(file)}" alt="{html.escape(name)}">'
        for name, file in summary["figures"].items()
    )
    messages = "".join(
        f"<li>trial {html.escape(r['trial_id'])} {r['status'].lower()}: "
        f"{html.escape(r['message'])}</li>"
        for r in summary["trials"]
        if r.get("message")
    )
    board = ""
    if summary.get("tensorboard"):
        board = (
            f"<p>TensorBoard logs (one directory per trial, with keras-tuner's hyperparameter "
            f"data): <code>tensorboard --logdir {html.escape(summary['tensorboard'])}</code></p>"
        )
    links = "".join(
        f'<li><a href="{html.escape(href)}">{html.escape(text)}</a></li>'
        for text, href in summary.get("links", {}).items()
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Study {html.escape(summary['study'])}</title><style>{CSS}</style></head><body>"
        f"<h1>Study {html.escape(summary['study'])}</h1>"
        f"<p>{html.escape(summary['state'])}</p><ul>{head}</ul>"
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
        rows.append([name] + [fmt(v, name) for v in values])
        classes.append("differ" if name in table["differing"] else "")
    return rows, classes


def compare_text(table: dict) -> str:
    rows, classes = _compare_rows(table)
    header = ["", *table["columns"]]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [" ".join(c.rjust(w) for c, w in zip(header, widths, strict=True))]
    for r, cls in zip(rows, classes, strict=True):
        mark = " *" if cls else ""
        lines.append(" ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + mark)
    lines.append("(* hyperparameters that differ)")
    return "\n".join(lines) + "\n"


def compare_markdown(table: dict, figure: str) -> str:
    rows, classes = _compare_rows(table)
    rows = [[f"**{c}**" if cls else c for c in r] for r, cls in zip(rows, classes, strict=True)]
    lines = ["# Comparison", "", "Differing hyperparameters in bold.", ""]
    lines += _md_table(["", *table["columns"]], rows)
    return "\n".join(lines + ["", f"![learning curves]({figure})"]) + "\n"


def compare_html(table: dict, figure: str) -> str:
    rows, classes = _compare_rows(table)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Comparison</title>"
        f"<style>{CSS}</style></head><body><h1>Comparison</h1>"
        "<p>Highlighted: hyperparameters whose values differ.</p>"
        + _html_table(["", *table["columns"]], rows, classes, "compare")
        + f'<h2>Learning curves</h2><img src="{html.escape(figure)}" alt="learning curves">'
        "</body></html>\n"
    )
