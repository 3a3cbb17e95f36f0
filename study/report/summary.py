"""The report's summary as dataclasses: what `build_report` returns, render.py formats and
`<study>/report/report.json` holds (`to_dict`; `from_dict` reads the file back). The layout
of report.json is that of the nested `to_dict`s, one key a field."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass(frozen=True)
class TrialRow:
    """One row of the trials table."""

    rank: int | None  # among the completed trials by objective (None: not ranked)
    trial_id: str
    status: str
    objective: float | None
    epochs_1: int | None
    epochs_2: int | None
    switch_epoch: int | None
    parameters: int | None
    seconds: float
    rows_per_second: float | None
    hyperparameters: dict
    message: str = ""  # a failed trial's last error line
    tensorboard: str = ""  # its TensorBoard logs, relative to report/ ("" where none)


@dataclass(frozen=True)
class BestTrial:
    """The search's best trial."""

    trial_id: str
    objective: float
    hyperparameters: dict


@dataclass(frozen=True)
class Retrained:
    """The final fit, from its model card."""

    trial_id: str
    test_metrics: dict  # test_cross_entropy, and with a known truth bayes_cross_entropy, ...
    converged: bool | None
    convergence_note: str | None  # why it did not converge


@dataclass(frozen=True)
class ValidationBin:
    """One kinematic bin of the final fit's validation."""

    bin: str  # particle, slice and variable, in words
    chi2_ndf: float
    ndf: int
    sparse: int | None  # sub-bins merged into a neighbour (None: a record from before)
    efficiency_true: float
    efficiency_model: float
    figure: str  # its figure, relative to report/ ("" where not drawn)


@dataclass(frozen=True)
class ValidationCheck:
    """The final fit's kinematic bins, worst chi2/ndf first, and its figures."""

    trial_id: str | None
    bins: list[ValidationBin]
    unscored: int  # bins too sparse for a chi-square
    figures: list[str]  # per-variable figures, relative to report/


@dataclass
class ReportSummary:
    """The report of one study."""

    study: str
    directory: str
    state: str  # running (who, since when), or finished / stopped, with counts and times
    config: dict  # study.json's config, as written
    counts: dict[str, int]  # trials by status
    hyperparameter_names: list[str]  # the searched ones
    best: BestTrial | None
    retrained: Retrained | None
    pareto_front: list[str]
    validation: ValidationCheck | None
    importances: dict[str, float]
    importance_note: str
    trials: list[TrialRow]
    figures: dict[str, str]  # title -> file under report/
    tensorboard: str  # the trials' TensorBoard logs ("" where none was written)
    links: dict[str, str]  # text -> file relative to report/
    files: dict[str, str] = field(default_factory=dict)  # html, markdown: where written

    def to_dict(self) -> dict:
        """report.json (and `report --format json`): `files` only once they are written."""
        out = asdict(self)
        return out if self.files else {k: v for k, v in out.items() if k != "files"}

    @classmethod
    def from_dict(cls, raw: dict) -> ReportSummary:
        """The summary of a report.json this version wrote."""
        check = raw.get("validation")
        nested = {
            "best": BestTrial(**raw["best"]) if raw.get("best") else None,
            "retrained": Retrained(**raw["retrained"]) if raw.get("retrained") else None,
            "trials": [TrialRow(**r) for r in raw["trials"]],
            "validation": (
                ValidationCheck(**{**check, "bins": [ValidationBin(**b) for b in check["bins"]]})
                if check
                else None
            ),
        }
        known = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in raw.items() if k in known}, **nested})
