"""What a study and its final fit say in a notebook: one list of (label, text) rows each,
shown as plain lines (`repr`) or as an HTML table (`_repr_html_`).

Every value comes from files that anyone with write access to the results folder may
have filled (a trial's failure message, a convergence note, a bin's name): it is text,
escaped with `html.escape` wherever it becomes HTML.
"""

from __future__ import annotations

import html
import math
from collections import Counter

from study.status import ENDED_REPORTS, TrialStatus
from study.store.records import finite

STYLE = "text-align:left; vertical-align:top"
NOTE = "background:#fff3cd"  # the row that says the final fit is not the search's best
WORST_SHOWN = 5  # kinematic bins in the final fit's HTML table


def _figure(value, digits: int = 5) -> str:
    return f"{value:.{digits}f}" if finite(value) else "-"


def chi2_summary(bins) -> str:
    """The kinematic bins' chi-squares in words: how many have one, the median, the worst
    and where ("" with no bins)."""
    from study.api.tables import chi2_columns

    if bins.empty:
        return ""
    parts = []
    for column in chi2_columns(bins):
        values = bins[column].apply(lambda v: v if finite(v) else math.nan)
        scored = values.dropna()
        if scored.empty:
            parts.append(f"{column}: none of {len(bins)} bins scored")
            continue
        worst = bins.loc[scored.idxmax()]
        where = _bin_name(worst)
        parts.append(
            f"{column} over {len(scored)} of {len(bins)} kinematic bins: median "
            f"{scored.median():.2f}, worst {scored.max():.2f} ({where})"
        )
    return "; ".join(parts)


def _bin_name(m) -> str:
    """A kinematic bin in words: "hadron 10-30 mc_eta"."""
    edges = [m.get(k) for k in ("p_low", "p_high")]
    span = "-".join(f"{e:g}" for e in edges) if all(finite(e) for e in edges) else ""
    return " ".join(str(p) for p in (m.get("particle"), span, m.get("variable")) if p)


def final_rows(final) -> list[tuple[str, str]]:
    """The final fit's summary rows."""
    where = "exported to best/export" if final.exported else "not exported yet"
    m = final.test_metrics
    test = f"cross-entropy {_figure(final.test_cross_entropy)}"
    if final.excess is not None:
        test += f", Bayes floor {_figure(m.bayes_cross_entropy)}, excess "
        test += f"{_figure(final.excess)} nats"
    converged = {True: "yes", False: "no", None: "-"}[final.converged]
    if final.convergence_note:
        converged += f" ({final.convergence_note})"
    rows = [
        ("final fit", f"trial {final.trial_id} ({where})"),
        ("test split", test),
        ("converged", converged),
    ]
    if final.weights == "trial":
        rows.append(("weights", "the trial's own: the final fit ended worse on validation"))
    summary = chi2_summary(final.bins)
    if summary:
        rows.append(("validation", summary))
    if final.note:
        rows.append(("note", final.note))
    return rows


def final_lines(final) -> list[str]:
    """The final fit as plain lines (its repr)."""
    values = ", ".join(f"{k}={v}" for k, v in final.hyperparameters.items())
    return [f"{k}: {v}" for k, v in final_rows(final)] + [f"hyperparameters: {values}"]


def final_html(final) -> str:
    """The final fit as HTML: its rows, its hyperparameters and its worst kinematic bins."""
    values = ", ".join(f"{k}={v}" for k, v in final.hyperparameters.items())
    rows = [*final_rows(final), ("hyperparameters", values)]
    bins = final.bins.head(WORST_SHOWN)
    worst = (
        f"<p>worst {len(bins)} kinematic bins</p>" + bins.to_html(index=False, escape=True)
        if len(bins)
        else ""
    )
    return f"<div>{table(rows)}{worst}</div>"


def study_rows(study, reports: list, final) -> list[tuple[str, str]]:
    """A study's summary rows: its trials, the search's best, the final fit."""
    from study.choice import best_trial

    counts = Counter(str(r.status) for r in reports)
    ended = sum(counts.get(s, 0) for s in ENDED_REPORTS)
    done = ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items()))
    rows = [
        ("study", study.directory.name),
        ("trials", f"{ended} of {study.config.trials} ended" + (f" ({done})" if done else "")),
    ]
    failed = [r for r in reports if r.status == TrialStatus.FAILED and r.message]
    if failed:
        rows.append(("last failure", f"trial {failed[-1].trial_id}: {failed[-1].message}"))
    best = best_trial(reports)
    rows.append(
        ("search's best", f"trial {best.trial_id}, val_bce {_figure(best.objective)}")
        if best
        else ("search's best", "no completed trial yet")
    )
    return rows + (final_rows(final) if final else [("final fit", "none yet")])


def table(rows: list[tuple[str, str]]) -> str:
    """`rows` as an HTML table, every label and value escaped."""
    cells = "".join(
        f'<tr style="{NOTE if label == "note" else ""}"><th style="{STYLE}">'
        f'{html.escape(str(label))}</th><td style="{STYLE}">{html.escape(str(value))}</td></tr>'
        for label, value in rows
    )
    return f"<table>{cells}</table>"
