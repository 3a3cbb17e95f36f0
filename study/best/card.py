"""The final fit's records as dataclasses: its test metrics (`TestMetrics`), its validation
(`FinalMetrics`, best/validation/metrics.json) and its model card (`ModelCard`,
best/final/card.json, then best/export/model_card.json).

Each is written with `to_dict` and read with `from_dict`, the files' layouts unchanged
(keys this version does not know kept in `extra` and written back). The files are results
anyone with write access to the folder may have filled: `from_dict` reads a field whose
value is not of its kind as absent, with a warning naming the file and the key, so that
the report and the notebook API show what is usable; the writers (study/best/pipeline.py,
export.py, later_export.py) and the readers (study/report/, study/api/, the CLI's export)
use attributes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields

from study.store.trial_report import number

log = logging.getLogger(__name__)


def _kind(annotation: str):
    """(the check, its words) of a value of a field annotated `annotation` (None is read
    as absent)."""
    if annotation.startswith(("float", "int")):
        return number, "a number"
    if annotation.startswith("bool"):
        return (lambda v: isinstance(v, bool)), "true or false"
    if annotation.startswith("str"):
        return (lambda v: isinstance(v, str | int) and not isinstance(v, bool)), "text"
    if annotation.startswith("list"):
        return (lambda v: isinstance(v, list)), "a list"
    return (lambda v: isinstance(v, dict)), "a JSON object"  # dict and the nested records


def _read(cls, raw, source: str) -> dict:
    """The keyword arguments of `cls` in the JSON object `raw` (read from `source`): its
    fields of their kind (a text field's number as text), the rest in `extra`; a field of
    another kind left out with a warning naming `source` and the key."""
    if not isinstance(raw, dict):
        log.warning("%s: not a JSON object; left out", source)
        raw = {}
    known = {f.name: f.type for f in fields(cls) if f.name != "extra"}
    out = {}
    for key, value in raw.items():
        if key not in known or value is None:
            continue
        check, words = _kind(known[key])
        if not check(value):
            log.warning("%s: %s is not %s; left out", source, key, words)
            continue
        out[key] = str(value) if known[key].startswith("str") else value
    return {**out, "extra": {k: v for k, v in raw.items() if k not in known}}


def _written(record, always: tuple[str, ...] = ()) -> dict:
    """`record`'s fields as JSON: those that are None left out unless `always` names them,
    nested records as their dicts, `extra` after the rest."""
    out = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if f.name == "extra" or (value is None and f.name not in always):
            continue
        out[f.name] = value.to_dict() if hasattr(value, "to_dict") else value
    return {**out, **record.extra}


@dataclass(frozen=True)
class TestMetrics:
    """The final fit's headline on the test split (nats); the truth's figures where the
    data hold the true probability."""

    __test__ = False  # not a pytest class

    test_cross_entropy: float | None = None
    bayes_cross_entropy: float | None = None
    excess: float | None = None
    mean_abs_probability_difference: float | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return _written(self)

    @classmethod
    def from_dict(cls, raw, source: str = "test_metrics") -> TestMetrics:
        return cls(**_read(cls, raw, source))

    @classmethod
    def of(cls, metrics: FinalMetrics) -> TestMetrics:
        """The headline of a validation."""
        truth = metrics.truth or {}
        return cls(
            test_cross_entropy=metrics.model_cross_entropy,
            bayes_cross_entropy=truth.get("bayes_cross_entropy"),
            excess=truth.get("excess"),
            mean_abs_probability_difference=truth.get("mean_abs_probability_difference"),
        )


@dataclass(frozen=True)
class FinalMetrics:
    """best/validation/metrics.json: the validation's figures on the test split
    (study/best/validation.py) and what the final fit that it validates was."""

    rows: int | None = None  # test rows
    model_cross_entropy: float | None = None
    labels: dict | None = None  # the prediction's histograms by label
    features: dict | None = None  # each input's populations
    kinematic_bins: list | None = None  # each species, slice and variable's comparison
    kinematic_spec: dict | None = None  # the binning (study/binning.py)
    truth: dict | None = None  # against the true probability, where the data hold it
    trial_id: str | None = None
    retrain_objective: float | None = None
    converged: bool | None = None
    reason: str | None = None  # why it did not converge (None where it did)
    retrain_epochs: int | None = None
    weights: dict | None = None  # whose weights were kept (study/best/retrain.py)
    training_rows: int | None = None
    extra: dict = field(default_factory=dict)

    # the final fit's fields, written as null where None (a validation's never are)
    ALWAYS = (
        "trial_id", "retrain_objective", "converged", "reason", "retrain_epochs", "weights",
        "training_rows",
    )  # fmt: skip

    def to_dict(self) -> dict:
        return _written(self, self.ALWAYS)

    @classmethod
    def from_dict(cls, raw, source: str = "metrics.json") -> FinalMetrics:
        return cls(**_read(cls, raw, source))

    @property
    def unit(self) -> str:
        """The label of the kinematic bins' slices (e.g. "GeV/c"; "" where none)."""
        spec = (self.kinematic_spec or {}).get("slice")
        label = spec.get("label") if isinstance(spec, dict) else None
        return label if isinstance(label, str) else ""


FIT = (
    "study", "trial_id", "hyperparameters", "final_fit_hyperparameters", "search_objective",
    "retrain_objective", "converged", "reason", "training_rows", "retrain_epochs",
    "test_metrics", "data_fingerprint", "parameters", "weights", "chosen_because",
)  # fmt: skip


@dataclass(frozen=True)
class ModelCard:
    """The model card: what the final fit trained and how it scored (written to
    best/final/card.json by the pipeline), then what its export holds and how it was
    checked (best/export/model_card.json, study/best/export.py)."""

    study: str | None = None
    trial_id: str | None = None
    hyperparameters: dict | None = None  # the trial's, as the search found them
    final_fit_hyperparameters: dict | None = None  # the recipe's (study/best/recipe.py)
    search_objective: float | None = None
    retrain_objective: float | None = None
    converged: bool | None = None
    reason: str | None = None
    training_rows: int | None = None
    retrain_epochs: int | None = None
    test_metrics: TestMetrics | None = None
    data_fingerprint: str | None = None
    parameters: int | None = None
    weights: dict | None = None  # the final fit's or the trial's own: the better on validation
    chosen_because: str | None = None  # why the final fit took this trial (study/choice.py)
    c: dict | None = None  # the compiled C's record (study/best/c_check.py)
    features: list | None = None
    flags: list | None = None
    export_check: dict | None = None  # the SavedModel against model.keras
    versions: dict | None = None
    backend: str | None = None  # the Keras backend it was trained on
    date: str | None = None  # of the export, ISO 8601
    signature: dict | None = None
    saved_model_date: str | None = None  # of a SavedModel written later (`run_study.py export`)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The card as JSON: the final fit's fields always (null where None), the export's
        where written."""
        return _written(self, FIT)

    @classmethod
    def from_dict(cls, raw, source: str = "model_card.json") -> ModelCard:
        read = _read(cls, raw, source)
        if "test_metrics" in read:
            read["test_metrics"] = TestMetrics.from_dict(read["test_metrics"], source)
        return cls(**read)

    @property
    def kept(self) -> str | None:
        """Whose weights were exported: "final fit" or "trial" (None: not recorded)."""
        kept = (self.weights or {}).get("kept")
        return None if kept is None else str(kept)
