"""The final fit as an object: the trial whose model the study exported, read from
`best/` (export/model_card.json, or final/card.json while an export is unfinished;
validation/metrics.json; history.csv), with why it is not the search's best trial
where it is not.

The model card records why the final fit took its trial (`chosen_because`, from
study/choice.py); for a card without it, `why_not_best` reads it back from the records with
the rules that chose it: the cost bound, the pick of the largest network near the best, a
trial that ended after the final fit, or else a choice by hand (`retrain --trial`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from study.best.card import FinalMetrics, ModelCard, TestMetrics
from study.errors import ConfigError, DataError
from study.store.records import finite, read_json

log = logging.getLogger(__name__)


@dataclass
class Final:
    """The final fit: the trial the study retrained on all its training rows, validated
    on the test split and exported (`<study>/best/`)."""

    directory: Path  # the study's best/
    trial_id: str
    hyperparameters: dict  # the trial's, as the search found them
    test_metrics: TestMetrics  # test_cross_entropy, with a known truth bayes_cross_entropy, ...
    converged: bool | None
    convergence_note: str | None  # why it did not converge (None where it did)
    card: ModelCard = field(default_factory=ModelCard)  # the export's model_card.json
    validation: FinalMetrics | None = None  # best/validation/metrics.json (None if none)
    best_trial_id: str | None = None  # the search's best trial
    note: str | None = None  # why the final fit is not the search's best trial
    exported: bool = False  # best/export/ holds its model

    @property
    def excess(self) -> float | None:
        """Test cross-entropy above the Bayes floor (nats; None where the truth is unknown)."""
        return _number(self.test_metrics.excess)

    @property
    def final_fit_hyperparameters(self) -> dict:
        """What the final fit trained with: the recipe's optimizer, rates and batch size,
        the L2 divided (the model card's; {} where it holds none)."""
        return self.card.final_fit_hyperparameters or {}

    @property
    def weights(self) -> str | None:
        """Whose weights were exported: "final fit", or "trial" where the final fit ended
        worse than the trial's own on the validation split (None: not recorded)."""
        return self.card.kept

    @property
    def test_cross_entropy(self) -> float | None:
        """The model's cross-entropy on the test split's labels (nats)."""
        return _number(self.test_metrics.test_cross_entropy)

    @property
    def bins(self):
        """The validation's kinematic bins (pandas DataFrame), worst chi-square first."""
        from study.api.tables import bins_frame

        return bins_frame(usable_bins(self.directory, self.validation))

    @property
    def features(self):
        """The validation's comparison of each input feature (pandas DataFrame)."""
        from study.api.tables import features_frame

        return features_frame((self.validation and self.validation.features) or {})

    @property
    def history(self):
        """The final fit's epochs (pandas DataFrame: epoch, phase, learning_rate, loss,
        val_bce, seconds)."""
        import pandas as pd

        from study.store.records import read_history

        frame = pd.DataFrame(read_history(self.directory / "history.csv"))
        for column in ("epoch", "phase"):
            if column in frame and frame[column].notna().all():
                frame[column] = frame[column].astype(int)
        return frame

    def validation_figure(self, what="worst", top: int = 6):
        """The validation's histograms (a matplotlib Figure): `what` "worst" (the `top`
        worst kinematic bins), "features" (every input) or (particle, variable), e.g.
        ("hadron", "mc_eta"): its every momentum slice."""
        from study.api.figures import validation_figure

        return validation_figure(self, what, top)

    def learning_curve(self):
        """The final fit's training loss and validation cross-entropy by epoch, both phases
        (a matplotlib Figure)."""
        from study.api.figures import learning_curves

        return learning_curves([], self)

    def model(self, engine: str = "keras"):
        """The export, loaded for prediction (study.load_export)."""
        from study.best.exported import load_export

        return load_export(self.directory / "export", engine)

    def __repr__(self) -> str:
        from study.api.html import final_lines

        return "\n".join(final_lines(self))

    def _repr_html_(self) -> str:
        from study.api.html import final_html

        return final_html(self)


def read_final(study_dir: Path, config, reports: list) -> Final | None:
    """The final fit of the study in `study_dir` (None before one has been written)."""
    from study.choice import best_trial

    best_dir = Path(study_dir) / "best"
    card, exported = _record(ModelCard, best_dir / "export" / "model_card.json"), True
    if card is None:
        card, exported = _record(ModelCard, best_dir / "final" / "card.json"), False
    metrics = _record(FinalMetrics, best_dir / "validation" / "metrics.json")
    source = card or metrics
    if source is None or source.trial_id is None:
        return None
    trial_id = source.trial_id
    if metrics and metrics.trial_id != trial_id:
        log.warning("%s: of trial %s, not of the final fit's trial; left out",
                    best_dir / "validation" / "metrics.json", metrics.trial_id)  # fmt: skip
        metrics = None
    best = best_trial(reports)
    final = Final(
        directory=best_dir,
        trial_id=trial_id,
        hyperparameters=(card and card.hyperparameters) or _values(reports, trial_id),
        test_metrics=(card and card.test_metrics) or _headline(metrics),
        converged=source.converged,
        convergence_note=source.reason,
        card=card or ModelCard(),
        validation=metrics,
        best_trial_id=best.trial_id if best else None,
        exported=exported,
    )
    if best is not None and best.trial_id != trial_id:
        final.note = (
            f"the final fit retrained trial {trial_id}, not the search's best trial "
            f"{best.trial_id}: {why_not_best(config, reports, trial_id, best, card)}"
        )
    return final


def why_not_best(config, reports: list, trial_id: str, best, card: ModelCard) -> str:
    """Why the final fit took trial `trial_id` rather than `best` (a TrialReport): the reason
    the model card recorded (`chosen_because`), else (an older card) the rules of
    study/choice.py applied to the records as they stand."""
    from study.choice import PICK_TOLERANCE, tolerance

    chosen = next((r for r in reports if r.trial_id == trial_id), None)
    if chosen is None:
        return f"trial {trial_id} has no record under trials/ (removed since the final fit?)"
    fitted = _date(card.date)
    if fitted is not None and finite(best.finished_at) and best.finished_at > fitted:
        return f"trial {best.trial_id} ended after the final fit (the study went on without one)"
    recorded = card.chosen_because  # the model card's words, where it has them
    if recorded and recorded != "the search's best trial":
        return recorded
    bound = getattr(config, "max_ns_per_particle", 0)
    if bound and finite(best.c_ns_estimate) and best.c_ns_estimate > bound:
        return (
            f"trial {best.trial_id}'s estimated {best.c_ns_estimate:.0f} ns a particle is "
            f"above the cost bound max_ns_per_particle {bound}"
        )
    near = finite(chosen.objective) and chosen.objective <= best.objective + tolerance(
        best.objective
    )
    if near and (chosen.parameters or 0) > (best.parameters or 0):
        return (
            f"it is the largest network within {tolerance(best.objective):.2g} nats "
            f"({100 * PICK_TOLERANCE:g} %) of the best objective, {chosen.parameters:,} "
            f"parameters against {best.parameters or 0:,} (objective {chosen.objective:.5f} "
            f"against {best.objective:.5f}): the final fit's rows favour larger networks "
            "(study/choice.py)"
        )
    return (
        "no rule of the study picks it (not within the pick's tolerance of the best, or not "
        f"larger): chosen by hand (`run_study.py retrain --trial {trial_id}`)"
    )


def usable_bins(best_dir: Path, metrics: FinalMetrics | None) -> list[dict]:
    """The validation's kinematic bins the report would show (study/report/sane.py: the
    unusable left out with a warning, an older record's rescored)."""
    from study.report.sane import usable_bins as usable

    path = Path(best_dir) / "validation" / "metrics.json"
    return usable(path, metrics.kinematic_bins) if metrics else []


def _record(kind, path: Path):
    """The `kind` (ModelCard, FinalMetrics) in `path` (None if absent, or with a warning if
    it is no JSON object; its fields of the wrong kind left out with one)."""
    try:
        record = read_json(path)
    except FileNotFoundError:
        return None
    except (DataError, OSError, ConfigError) as err:
        log.warning("%s; left out", (str(err).splitlines() or [""])[0])
        return None
    if not isinstance(record, dict):
        log.warning("%s: not a JSON object; left out", path)
        return None
    return kind.from_dict(record, str(path))


def _headline(metrics: FinalMetrics | None) -> TestMetrics:
    """The test metrics of a validation record (where the card holds none)."""
    return TestMetrics.of(metrics) if metrics else TestMetrics()


def _values(reports: list, trial_id: str) -> dict:
    """The hyperparameters of trial `trial_id`'s record ({} if it has none)."""
    found = [r.hyperparameters for r in reports if r.trial_id == trial_id]
    return found[0] if found else {}


def _number(value) -> float | None:
    return float(value) if finite(value) else None


def _date(text) -> float | None:
    """An ISO date of a record as Unix seconds (None if it holds none)."""
    try:
        return datetime.fromisoformat(str(text)).timestamp() if text else None
    except ValueError:
        return None
