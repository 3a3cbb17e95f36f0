"""Read a study's results directory into plain objects: the one place the report does input.

A study that is still running, or was killed, is read as it stands: its records
are written atomically, so every file read here is whole. A trial whose record
says RUNNING while no process holds the study's lock was running when the study
was killed; it is shown as KILLED (a resume runs it again).

Records are data that anyone with write access to the results folder may have
filled: a record that cannot be read (not JSON, nested deeper than the reader's limit,
a field of the wrong type, a metric that is no number) is skipped with a warning naming
its file, and the report still renders. A NaN or infinite objective is never completed
work to rank: `completed` and the best trial leave it out.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass, fields, replace
from pathlib import Path

import pandas as pd

from study.best.card import FinalMetrics, ModelCard
from study.choice import best_trial
from study.errors import ConfigError, DataError
from study.names import shown
from study.report.escape import terminal_text
from study.report.sane import finite, usable_bins
from study.report.summary import ValidationBin, ValidationCheck
from study.space import Param, space_from_dict
from study.status import TrialStatus
from study.store.lock import lock_holder
from study.store.records import TrialReport, id_key, read_json, read_plain, trial_dirs
from study.store.study_file import read_record
from study.training.shape import Shape

log = logging.getLogger(__name__)

# Order of the trials table: completed by objective, then the rest by id.
STATUS_ORDER = {
    TrialStatus.COMPLETED: 0,
    TrialStatus.PRUNED: 1,
    TrialStatus.RUNNING: 2,
    TrialStatus.KILLED: 3,
    TrialStatus.INTERRUPTED: 4,
}


@dataclass(frozen=True)
class TrialSummary(TrialReport):
    """One trial as the report reads it: its report.json (TrialReport, the one schema)
    with its history.csv and TensorBoard directory, which report.json does not hold."""

    history: pd.DataFrame | None = None  # epoch, phase, learning_rate, loss, val_bce, seconds
    tensorboard: Path | None = None  # the trial's TensorBoard log directory, when written

    @property
    def label(self) -> str:
        return f"trial {self.trial_id}"

    @property
    def flops(self) -> int | None:
        """Per particle, in the deployed C (of a report written before they were recorded:
        from its width, blocks and parameter count)."""
        return self.flops_per_particle or _flops(self.hyperparameters, self.parameters)


@dataclass
class StudyRecord:
    """A whole study: its settings, search space, trials and retrained best (if any)."""

    name: str
    directory: Path
    config: dict
    space: dict[str, Param]
    trials: list[TrialSummary]
    holder: dict | None = None  # the live process holding the study's lock, if any
    retrained: ModelCard | None = None  # best/export/model_card.json, when written

    def trial(self, trial_id: str) -> TrialSummary:
        for t in self.trials:
            if t.trial_id == trial_id or _same_id(t.trial_id, trial_id):
                return t
        known = terminal_text(", ".join(t.trial_id for t in self.trials)) or "none"  # a line
        raise ConfigError(f"{self.directory}: no trial {trial_id!r} (trials: {known})")

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.trials:
            out[t.status] = out.get(t.status, 0) + 1
        return out

    def wall_seconds(self) -> float | None:
        """Wall time the study's runs spent, from budget.json (None if not written)."""
        budget = _read_json(self.directory / "budget.json") or {}
        spent = budget.get("spent_s")
        return spent if finite(spent) else None

    def completed(self) -> list[TrialSummary]:
        """The completed trials with a finite objective."""
        return [t for t in self.trials if t.status == TrialStatus.COMPLETED and finite(t.objective)]

    def best(self) -> TrialSummary | None:
        return best_trial(self.trials)

    def sorted_trials(self) -> list[TrialSummary]:
        """Completed trials by objective (best first), then the others by status and id."""

        def key(t: TrialSummary):
            rank = STATUS_ORDER.get(t.status, 5)
            objective = t.objective if rank <= 1 and finite(t.objective) else math.inf
            return (rank, objective, id_key(t.trial_id))

        return sorted(self.trials, key=key)


def load_study(study_dir: Path, finished: bool = False) -> StudyRecord:
    """Read `results/<study>/`; a ConfigError names what is missing. `finished`: read by
    the study's own process at its end, whose lock says nothing of a running study."""
    study_dir = Path(study_dir)
    meta = read_record(study_dir)
    holder = None if finished else lock_holder(study_dir)
    trials = [_read_trial(d, live=holder is not None) for d in trial_dirs(study_dir / "trials")]
    return StudyRecord(
        name=meta["config"].get("study", study_dir.name),
        directory=study_dir,
        config=meta["config"],
        space=space_from_dict(meta["search_space"]),
        trials=[t for t in trials if t is not None],
        holder=holder,
        retrained=_retrained_card(study_dir / "best" / "export"),
    )


def _retrained_card(export: Path) -> ModelCard | None:
    """model_card.json of best/export, or of the export.old a kill mid-swap left alone
    (read there: the report renames nothing; the next study or retrain puts it back);
    its fields of the wrong kind left out with a warning (ModelCard.from_dict)."""
    old = export.with_name(export.name + ".old")
    path = (export if export.exists() or not old.is_dir() else old) / "model_card.json"
    card = _read_json(path)
    return ModelCard.from_dict(card, str(path)) if card else None


def _read_trial(directory: Path, live: bool) -> TrialSummary | None:
    """A trial's report.json with its history.csv and TensorBoard logs; None (with a
    warning naming the file) where its report cannot be read (TrialReport.from_dict)."""
    raw = _read_json(directory / "report.json")
    if raw is None:
        return None
    try:
        report = TrialReport.from_dict(raw, str(directory / "report.json"))
    except DataError as err:
        log.warning("%s; trial skipped", err)
        return None
    if report.status == TrialStatus.RUNNING and not live:
        report = replace(report, status=TrialStatus.KILLED)
    history = _read_history(directory / "history.csv")
    if report.status != TrialStatus.COMPLETED and history is not None and len(history):
        # an unfinished trial's report is from its start; its epochs say how long it ran
        report = replace(report, seconds=max(report.seconds, float(history["seconds"].sum())))
    board = directory / "tensorboard"
    known = {f.name: getattr(report, f.name) for f in fields(TrialReport)}
    return TrialSummary(**known, history=history, tensorboard=board if board.is_dir() else None)


HISTORY_NUMBERS = ("epoch", "val_bce", "seconds")


def _read_history(path: Path) -> pd.DataFrame | None:
    """history.csv as a table (None if absent, or with a warning if its epochs, val_bce or
    seconds are not numbers)."""
    try:
        history = pd.read_csv(io.BytesIO(read_plain(path)))
        for name in HISTORY_NUMBERS:
            history[name] = pd.to_numeric(history[name], errors="raise").astype(float)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError, OSError, DataError, pd.errors.ParserError) as err:
        reason = (str(err).splitlines() or [""])[0][:80]
        log.warning("%s: unreadable (%s); its curve is left out", path, shown(reason))
        return None
    return history


def _read_json(path: Path) -> dict | None:
    """The JSON object in `path`; None if absent, or with a warning naming the file if it
    cannot be read (not JSON, too deep, not an object)."""
    try:
        record = read_json(path)
    except FileNotFoundError:
        return None
    except (DataError, OSError) as err:
        first = (str(err).splitlines() or [""])[0]
        log.warning("%s; skipped (a resume of the study repairs a torn record)", first)
        return None
    if not isinstance(record, dict):
        log.warning("%s: not a JSON object; skipped", path)
        return None
    return record


def _same_id(a: str, b: str) -> bool:
    return a.isdigit() and b.isdigit() and int(a) == int(b)


def _flops(values: dict, parameters: int | None) -> int | None:
    """FLOPs of a report written before they were recorded: from its width, blocks and
    parameter count (which fixes the inputs)."""
    try:
        shape = Shape.from_parameters(
            int(parameters), int(values["width"]), int(values["n_blocks"])
        )
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    return shape.flops_per_particle if shape else None


def validation(study_dir: Path) -> ValidationCheck | None:
    """The retrained best's validation (best/validation/metrics.json): its kinematic bins
    worst `chi2_ndf` first, each with its figure where drawn (study/best/validation_plots.py),
    the count of bins too sparse to score, and the per-variable figures; None before a
    retrain."""
    from study.best.validation_plots import WORST, worst_first, worst_name

    directory = Path(study_dir) / "best" / "validation"
    raw = _read_json(directory / "metrics.json")
    if raw is None:
        return None
    metrics = FinalMetrics.from_dict(raw, str(directory / "metrics.json"))
    bins, usable = [], usable_bins(directory / "metrics.json", metrics.kinematic_bins)
    for rank, m in enumerate(worst_first(usable), 1):
        figure = directory / "worst" / worst_name(rank, m)
        drawn = rank <= WORST and figure.exists()
        bins.append(ValidationBin(
            bin=f"{m['particle']} {m['p_low']:g}-{m['p_high']:g} {metrics.unit} {m['variable']}",
            chi2_ndf=m["chi2_ndf"], ndf=m["ndf"], sparse=m.get("sparse"),
            efficiency_true=m["efficiency_true"], efficiency_model=m["efficiency_model"],
            figure=f"../best/validation/worst/{figure.name}" if drawn else "",
        ))  # fmt: skip
    overview = [f"../best/validation/{p.name}" for p in sorted(directory.glob("*.png"))]
    unscored = sum(1 for m in usable if m["ndf"] <= 0)
    return ValidationCheck(metrics.trial_id, bins, unscored, overview)
