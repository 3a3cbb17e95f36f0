"""A study's records as pandas tables, and its Optuna mirror as an `optuna.Study`.

`trials_frame` has Optuna's familiar columns (`number`, `value`, `state`,
`datetime_start`, `datetime_complete`, `duration`, `params_<name>` for each searched
hyperparameter) before the report's own fields (`trial_id`, `status`, `objective`,
epochs, seconds, ...); `bins_frame` is the validation's per-bin table.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pandas as pd

from study.errors import ConfigError
from study.status import TrialStatus
from study.store.records import TrialReport, finite

log = logging.getLogger(__name__)

# report.json's status -> Optuna's TrialState name (INTERRUPTED and KILLED trials run
# again on resume: WAITING; a keras-tuner STOPPED trial ended early: PRUNED)
STATES = {
    TrialStatus.COMPLETED: "COMPLETE",
    TrialStatus.PRUNED: "PRUNED",
    TrialStatus.FAILED: "FAIL",
    TrialStatus.INVALID: "FAIL",
    TrialStatus.RUNNING: "RUNNING",
    TrialStatus.STOPPED: "PRUNED",
    TrialStatus.INTERRUPTED: "WAITING",
    TrialStatus.KILLED: "WAITING",
}
OPTUNA_COLUMNS = ["number", "value", "state", "datetime_start", "datetime_complete", "duration"]
# the report's fields kept as columns (hyperparameters become params_<name>; Hyperband's
# rung and keys this version does not know are left out)
LEFT_OUT = {"hyperparameters", "rung", "extra"}
REPORT_COLUMNS = [f for f in TrialReport.__dataclass_fields__ if f not in LEFT_OUT]


def state_of(status) -> str:
    """Optuna's TrialState name for a report.json status (the status itself if unknown)."""
    return STATES.get(status, str(status))


def trials_frame(reports: list[TrialReport], searched: list[str]) -> pd.DataFrame:
    """One row per trial in `reports` (in their order): Optuna's columns, `params_<name>`
    for the `searched` hyperparameters, then the report's fields."""
    params = [f"params_{name}" for name in searched]
    rows = []
    for number, report in enumerate(reports):
        seconds = report.seconds if finite(report.seconds) else math.nan
        end = _time(report.finished_at)
        completed = report.status == TrialStatus.COMPLETED and finite(report.objective)
        rows.append({
            "number": number,
            "value": report.objective if completed else math.nan,
            "state": state_of(report.status),
            "datetime_start": end - pd.Timedelta(seconds=seconds) if end is not pd.NaT
            and not math.isnan(seconds) else pd.NaT,
            "datetime_complete": end,
            "duration": pd.Timedelta(seconds=seconds).round("ms"),
            **{f"params_{name}": report.hyperparameters.get(name) for name in searched},
            **{name: getattr(report, name) for name in REPORT_COLUMNS},
        })  # fmt: skip
    return pd.DataFrame(rows, columns=OPTUNA_COLUMNS + params + REPORT_COLUMNS)


def _time(unix) -> pd.Timestamp:
    """A record's Unix seconds as a local time (NaT where it holds none)."""
    if not finite(unix) or not 0 <= unix < 2**40:
        return pd.NaT
    return pd.Timestamp.fromtimestamp(unix)


def scalar_fields(entry: dict) -> dict:
    """The fields of a validation entry that are one value (its arrays left out)."""
    return {k: v for k, v in entry.items() if not isinstance(v, list | dict)}


def chi2_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of a validation table that hold a chi-square (whatever the record
    calls them: `chi2_ndf` today)."""
    return [c for c in frame.columns if str(c).startswith("chi2")]


def bins_frame(bins: list[dict]) -> pd.DataFrame:
    """The validation's kinematic bins, one row each (species, slice, variable, the
    chi-square and its ndf, the efficiencies, ...), worst chi-square first (bins without
    one last)."""
    frame = pd.DataFrame([scalar_fields(m) for m in bins])
    ranked = chi2_columns(frame)
    if ranked:
        values = pd.to_numeric(frame[ranked[0]], errors="coerce")
        frame = frame.loc[values.sort_values(ascending=False, na_position="last").index]
    return frame.reset_index(drop=True)


def features_frame(features: dict) -> pd.DataFrame:
    """The validation's comparison of each input feature, one row each."""
    rows = [
        {"feature": name, **scalar_fields(m)} for name, m in features.items() if isinstance(m, dict)
    ]
    return pd.DataFrame(rows)


def optuna_study(directory: Path, name: str):
    """The `optuna.Study` in `<directory>/optuna.db`, the mirror the study writes as its
    trials end (study/store/optuna_mirror.py); a ConfigError where there is none."""
    import optuna

    from study.store.lock import check_plain
    from study.store.optuna_mirror import FILE, storage_url

    path = Path(directory) / FILE
    if check_plain(path) is None:
        raise ConfigError(
            f"{path}: no Optuna mirror (a study writes it as its trials end; "
            "`run_study.py report` writes it for a study that has none)"
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(storage_url(directory))
    names = optuna.get_all_study_names(storage)
    if not names:
        raise ConfigError(f"{path}: holds no Optuna study")
    return optuna.load_study(study_name=name if name in names else names[0], storage=storage)


def test_rows(config, directory: Path, rows: int | None = None) -> pd.DataFrame:
    """The study's test split in physical units, as an export takes it: its features,
    its label and, for the generated sample, the true acceptance probability; the first
    `rows` rows (None: all)."""
    from study.data.dataset import open_dataset

    path = Path(config.data) if config.data else Path(directory).parent / "data" / (
        config.data_dir.name
    )  # fmt: skip
    dataset = open_dataset(path, check_values=False)
    frame = dataset.test.to_pandas()
    frame = frame if rows is None else frame.iloc[:rows]
    physical = dataset.preprocessing.inverse_transform(frame)
    return physical.reset_index(drop=True)
