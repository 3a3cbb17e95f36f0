"""The time budget inside the search: no trial starts that would not leave the retrain
of the best trial so far and the final stages their time, and a running trial stops
at the deadline that leaves them (study/budget.py holds the arithmetic)."""

from __future__ import annotations

from study import budget as budget_module
from study import choice
from study.errors import StudyError
from study.status import ENDED_REPORTS


class BudgetSpent(StudyError):
    """No further trial fits in the time budget: the message says why."""


class BudgetHooks:
    """Mixed into the study's keras-tuner Tuner, which sets `budget`, `records`, `config`,
    `split_rows` and `is_worker` (a worker leaves the budget to its chief)."""

    def pre_create_trial(self):
        """Before each new trial: save the time spent; stop if no further trial fits."""
        super().pre_create_trial()
        if self.budget is None or self.is_worker:
            return
        self.budget.save()
        why = self.budget_stop()
        if why:
            raise BudgetSpent(why)

    def _trial_deadline(self) -> float | None:
        """When a trial must stop to leave the retrain and the final stages their time."""
        if self.budget is None or self.budget.total_s is None or self.is_worker:
            return None
        retrain_s, finish_s, _ = self._estimates(self.records.reports())
        return self.budget.deadline(
            budget_module.retrain_reserve(self.budget, retrain_s) + finish_s
        )

    def _estimates(self, reports: list) -> tuple[float | None, float, list[float]]:
        """(retrain seconds of the trial the retrain would take now, final stages' seconds,
        seconds of the ended trials). Under --no-retrain only the report is held back."""
        seconds = [r.seconds for r in reports if r.status in ENDED_REPORTS]
        if self.budget is not None and not self.budget.retrain:
            return 0.0, budget_module.FINISH_SECONDS, seconds
        finish_s = budget_module.finish_seconds(self.split_rows.get("test", 0))
        left = self.budget.left() if self.budget else None
        if left is not None:  # the final fit gets at most its share of the budget
            left = min(left - finish_s, budget_module.retrain_reserve(self.budget, None))
        full_data = choice.full_data_of(self.config, self.split_rows)
        _, retrain_s = choice.pick(reports, self.split_rows, left, full_data)
        return retrain_s, finish_s, seconds

    def budget_stop(self) -> str | None:
        """Why the time budget allows no further trial (None: it does)."""
        retrain_s, finish_s, seconds = self._estimates(self.records.reports())
        return budget_module.search_should_stop(self.budget, seconds, retrain_s, finish_s)
