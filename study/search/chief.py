"""The chief of a distributed study: keras-tuner's oracle server, made to survive workers.

What the chief adds to keras-tuner's server (study/search/distributed.py has the roles
and the worker's side):
- it hears from each running trial (every epoch, and a heartbeat from the
  worker every few seconds); a trial silent for longer than `handover_s` is
  handed to the next worker that asks for one, so a lost node does not stall the
  study; a late end of a trial that was handed over is ignored;
- a worker that asks while the last trials still run is told to wait (IDLE) and
  ask again, so that it stays to take over a lost worker's trial;
- a restarted chief gives the trials that were running back to their workers;
- it ends when every trial has ended, not when every worker it ever saw has
  asked again (keras-tuner's chief waits forever for a worker that died).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from study.errors import StudyStopped
from study.search import bookkeeping, chief_server, kt_compat
from study.search.chief_server import WorkerIdInUse
from study.search.distributed import SINGLE_ID, Role

log = logging.getLogger(__name__)

EVENTS = "workers.jsonl"  # the chief's log of trial starts, ends and hand-overs


class ChiefMixin:
    """The chief's oracle: hand-over of silent trials, standby workers, an event log.

    Mixed in before the study's oracle class (study/search/oracles.py declares each chief
    class), and given with keras-tuner's arguments: `handover_s` (a running trial silent
    this long goes to the next worker that asks), `events` (the event log, None: none) and
    `budget_stop` (--parallel: () -> why the time budget holds no further trial, or None;
    once it says why, every worker asking for a trial is told to stop)."""

    def __init__(
        self, *, handover_s: float = 600.0, events: Path | None = None, budget_stop=None, **kw
    ):
        self.handover_s, self._events, self.budget_stop = handover_s, events, budget_stop
        self.budget_spent: str | None = None
        self._heard: dict[str, float] = {}
        self._instances: dict[str, tuple[str, float]] = {}  # worker -> (process, last heard)
        self._since = time.monotonic()  # trials running when the chief started: heard now
        self._exhausted = False  # the oracle said STOPPED with nothing running or queued
        super().__init__(**kw)
        self.verbose = 0  # keras-tuner's own trial tables; the chief prints its own lines

    def set_state(self, saved):
        super().set_state(saved)
        self._saved_owners = dict(saved.get("ongoing_trials", {}))

    def reload(self):
        """keras-tuner re-queues the trials that were running when the state was saved; a
        restarted chief gives them back to their workers (one gone loses its trial by
        hand-over), and logs the starts and ends it was killed before writing."""
        self._saved_owners = {}
        super().reload()
        owners = {w: t for w, t in self._saved_owners.items() if w != SINGLE_ID}
        for e in bookkeeping.missing_events(self._events, self.trials, owners):
            self._log_event(e.pop("event"), e.pop("trial"), e.pop("worker"), **e, recovered=True)
        for worker, trial_id in self._saved_owners.items():
            queue = kt_compat.retry_queue(self)
            if worker != SINGLE_ID and trial_id in queue:
                queue.remove(trial_id)
                self.ongoing_trials[worker] = self.trials[trial_id]
                self.tuner_ids.add(worker)

    def _log_event(self, event: str, trial_id: str, worker: str, **more) -> None:
        if self._events is not None:
            record = {"time": time.time(), "event": event, "trial": trial_id, "worker": worker}
            with open(self._events, "a") as f:
                f.write(json.dumps({**record, **more}) + "\n")

    def _owner(self, trial_id: str) -> str | None:
        return next((w for w, t in self.ongoing_trials.items() if t.trial_id == trial_id), None)

    def silent(self) -> list[tuple[str, float]]:
        """(worker, seconds) of running trials not heard from for longer than handover_s."""
        now = time.monotonic()
        out = []
        for worker, trial in self.ongoing_trials.items():
            quiet = now - self._heard.get(trial.trial_id, self._since)
            if quiet > self.handover_s:
                out.append((worker, quiet))
        return out

    def finished(self) -> bool:
        """Every trial the study will run has been created and has ended: all of
        `max_trials`, or the oracle (its space, a cost bound) or the time budget has
        said STOPPED with no trial running."""
        if self.ongoing_trials:
            return False
        done = len(self.trials) >= self.max_trials and not kt_compat.retry_queue(self)
        return bool(self.budget_spent or self._exhausted or done)

    # keras-tuner's servicer calls these from its threads: each under the oracle's lock,
    # released also when the call raises (kt_compat.synchronized)
    @kt_compat.synchronized
    def get_space(self):
        return super().get_space()

    @kt_compat.synchronized
    def update_space(self, hyperparameters):
        return super().update_space(hyperparameters)

    @kt_compat.synchronized
    def get_best_trials(self, num_trials=1):
        return super().get_best_trials(num_trials)

    @kt_compat.synchronized
    def heard_from(self, instance: str, trial_id: str) -> None:
        """A call about `trial_id` came from worker process `instance`: the owner's process
        is alive (a late call of a process the trial was handed away from is not its)."""
        worker = self._owner(trial_id)
        known = self._instances.get(worker)
        if worker and instance and (known is None or known[0] == instance):
            self._instances[worker] = (instance, time.monotonic())

    @kt_compat.synchronized
    def create_trial_for(self, tuner_id: str, instance: str, window_s: float):
        """`create_trial(tuner_id)` for worker process `instance`, in one hold of the lock;
        WorkerIdInUse if another process of that id runs a trial and was heard within
        `window_s` (two live workers under one id would run the same trial)."""
        known = self._instances.get(tuner_id)
        if instance and known and known[0] != instance and tuner_id in self.ongoing_trials:
            quiet = time.monotonic() - known[1]
            if quiet < window_s:
                raise WorkerIdInUse(
                    f"worker id {tuner_id!r} is in use by another live worker (heard "
                    f"{quiet:.0f} s ago); give this one its own --worker-id"
                )
        if instance:
            self._instances[tuner_id] = (instance, time.monotonic())
        return self.create_trial(tuner_id)

    @kt_compat.synchronized
    def get_trial(self, trial_id):
        if self._owner(trial_id) is not None:
            self._heard[trial_id] = time.monotonic()  # a worker's heartbeat
        return super().get_trial(trial_id)

    @kt_compat.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        if self._owner(trial_id) is None:  # a late report of a trial run elsewhere now
            return self.trials[trial_id]
        self._heard[trial_id] = time.monotonic()
        return super().update_trial(trial_id, metrics, step)

    @kt_compat.synchronized
    def create_trial(self, tuner_id):
        resumed = tuner_id in self.ongoing_trials  # a worker restarted with the same id
        silent = [] if resumed else self.silent()
        if silent:
            return self._hand_over(*silent[0], tuner_id)
        if not resumed and self._out_of_budget():
            self.tuner_ids.discard(tuner_id)
            return kt_compat.Trial(self.get_space(), status=kt_compat.kt_status().STOPPED)
        trial = super().create_trial(tuner_id)  # a resumed trial runs again from its start
        if trial.status == kt_compat.kt_status().RUNNING:
            self._heard[trial.trial_id] = time.monotonic()
            self._log_event("resume" if resumed else "start", trial.trial_id, tuner_id)
        elif trial.status == kt_compat.kt_status().STOPPED and self.ongoing_trials:
            # Trials still run: this worker waits, ready to take over a lost one.
            self.tuner_ids.add(tuner_id)
            return kt_compat.Trial(self.get_space(), status=kt_compat.kt_status().IDLE)
        elif trial.status == kt_compat.kt_status().STOPPED and not kt_compat.retry_queue(self):
            self._exhausted = True  # the oracle has no further trial: the study has ended
        return trial

    def _out_of_budget(self) -> bool:
        """Whether the time budget allows no further trial (said once, then remembered)."""
        if self.budget_spent is None and self.budget_stop is not None:
            self.budget_spent = self.budget_stop()
            if self.budget_spent:
                print(f"{self.budget_spent}; the workers stop as they ask", flush=True)
        return bool(self.budget_spent)

    def _hand_over(self, owner: str, quiet: float, tuner_id: str):
        trial = self.ongoing_trials.pop(owner)
        self.tuner_ids.discard(owner)
        log.warning(
            "trial %s: worker %s silent for %.0f s; handed over to worker %s",
            trial.trial_id,
            owner,
            quiet,
            tuner_id,
        )
        self.run_again(trial)
        self.tuner_ids.add(tuner_id)
        self.ongoing_trials[tuner_id] = trial
        self._heard[trial.trial_id] = time.monotonic()
        self.save()
        self._log_event("handover", trial.trial_id, tuner_id, lost=owner, silent_s=quiet)
        return trial

    @kt_compat.synchronized
    def end_trial(self, trial):
        owner = self._owner(trial.trial_id)
        if owner is None:  # ended already by the worker it was handed to
            log.warning(
                "trial %s: a second end reported (a presumed lost worker); ignored", trial.trial_id
            )
            return
        self._heard.pop(trial.trial_id, None)
        try:
            super().end_trial(trial)
            self.save()  # keras-tuner saved before dropping the trial from ongoing_trials
        finally:
            ended = self.trials[trial.trial_id]
            self._log_event("end", trial.trial_id, owner, status=ended.status, score=ended.score)


def budget_stop(tuner) -> str | None:
    """--parallel: why the study's time budget holds no further trial (None: it does, or
    there is no time budget); the time spent is saved first (what a resumed study counts)."""
    if tuner.budget is None or tuner.budget.total_s is None:
        return None
    tuner.budget.save()
    return tuner.budget_stop()


def serve(tuner, role: Role, on_change=None) -> None:
    """Serve `tuner.oracle` at `role.address` until every trial has ended; --parallel's
    workers (`role.on_serving`) start only if a trial is left, and stop before the server.

    `on_change(started, ended, owners, ended_count)` is called from this thread when trials
    start or end (progress, trials.csv). Raises RuntimeError for the consecutive-failure stop.
    """
    oracle = tuner.oracle
    poll_s = min(2.0, role.heartbeat_s)
    server, servicer, credentials = chief_server.listen(tuner, role, poll_s)
    mode = "TLS" if credentials.tls else "plaintext"
    silence = f"hand-over after {role.handover_s:.0f} s of silence"
    log.info("chief serving at %s (%s, the secret proved; %s)", role.address, mode, silence)
    stop_workers = _start_workers(oracle, role)
    try:
        _serve_until_done(oracle, role, servicer, poll_s, on_change)
    finally:
        if stop_workers is not None:  # before the server stops: no worker outlives it
            stop_workers()
        server.stop(grace=1)
        oracle.save()
    if servicer.failure is not None:
        raise servicer.failure


def _start_workers(oracle, role: Role):
    """--parallel: start the chief's workers (their stop, or None) unless nothing is left."""
    if role.on_serving is None:
        return None
    if oracle.finished():
        log.info("every trial of the study has ended: no worker started")
        return None
    return role.on_serving(role.address) or (lambda: None)


def _serve_until_done(oracle, role: Role, servicer, poll_s: float, on_change) -> None:
    """Answer the workers until every trial has ended (or the failure stop), then a moment
    longer so that waiting workers hear STOPPED and leave."""
    from study import signals

    running, end_order = trial_maps(oracle)
    if running:  # a restarted chief: its workers carry on with these
        log.info("still running: %s", ", ".join(f"trial {t} on {w}" for t, w in running.items()))
    seen = (set(running), len(end_order))
    done_at = None
    while True:
        signals.check()
        time.sleep(0.2)  # the oracle's work runs in the server's threads
        gone = role.watch() if role.watch is not None and not oracle.finished() else None
        if gone:
            raise StudyStopped(gone)
        seen = _changes(oracle, seen, on_change)
        if servicer.failure is not None or oracle.finished():
            done_at = done_at or time.monotonic()
            if not oracle.tuner_ids or time.monotonic() - done_at > 3 * poll_s + 1:
                return


def trial_maps(oracle) -> tuple[dict, list]:
    """(running trial id -> worker id, ended trial ids in order), read under keras-tuner's
    lock: the server's threads change both while the chief's main thread reads them."""
    with kt_compat.oracle_locked(oracle):
        return {t.trial_id: w for w, t in oracle.ongoing_trials.items()}, list(oracle.end_order)


def _changes(oracle, seen, on_change):
    owners, end_order = trial_maps(oracle)
    running = set(owners)
    started = sorted(running - seen[0])
    ended = end_order[seen[1] :]
    if on_change is not None and (started or ended):
        on_change(started, ended, owners, len(end_order))
    return running, len(end_order)
