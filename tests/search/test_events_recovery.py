"""A chief killed after saving a trial's start or end and before logging it: the restarted
chief logs the missing "start" or "end" (workers.jsonl keeps one start and one end per
trial, and a resume follows a start), and a hostile or huge event log recovers nothing
rather than breaking the study."""

import json
from types import SimpleNamespace

from study.search import bookkeeping


def trial(status, score=None):
    return SimpleNamespace(status=status, score=score)


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def missing_ends(events, trials):
    return bookkeeping.missing_events(events, trials, owners={})


def test_an_end_saved_but_never_logged_is_recovered_with_its_worker(tmp_path):
    events = tmp_path / "workers.jsonl"
    write(events, [
        {"event": "start", "trial": "0", "worker": "local1"},
        {"event": "start", "trial": "1", "worker": "local0"},
        {"event": "end", "trial": "0", "worker": "local1", "status": "COMPLETED"},
        {"event": "start", "trial": "2", "worker": "local1"},
    ])  # fmt: skip
    trials = {"0": trial("COMPLETED", 0.6), "1": trial("COMPLETED", 0.66),
              "2": trial("RUNNING"), "3": trial("FAILED")}  # fmt: skip
    missing = missing_ends(events, trials)
    # 1 ended without its line; 0 has one; 2 runs; 3 never started through this chief
    assert missing == [
        {"event": "end", "trial": "1", "worker": "local0", "status": "COMPLETED", "score": 0.66}
    ]


def test_the_worker_is_the_one_of_the_last_start_resume_or_handover(tmp_path):
    events = tmp_path / "workers.jsonl"
    write(events, [
        {"event": "start", "trial": "4", "worker": "local0"},
        {"event": "handover", "trial": "4", "worker": "local1"},
    ])  # fmt: skip
    assert missing_ends(events, {"4": trial("COMPLETED", 1.0)})[0]["worker"] == ("local1")


def test_a_hostile_or_huge_event_log_recovers_nothing_and_never_raises(tmp_path, monkeypatch):
    events = tmp_path / "workers.jsonl"
    events.write_text('not json\nnull\n[1, 2]\n{"event": "start", "trial": "1", "worker": "w"}\n')
    assert missing_ends(events, {"1": trial("COMPLETED", 0.5)})[0]["trial"] == "1"
    assert missing_ends(tmp_path / "none.jsonl", {"1": trial("COMPLETED")}) == []
    assert missing_ends(None, {"1": trial("COMPLETED")}) == []
    monkeypatch.setattr(bookkeeping, "EVENTS_MAX_BYTES", 10)
    assert missing_ends(events, {"1": trial("COMPLETED", 0.5)}) == []


def test_a_start_saved_but_never_logged_is_recovered_before_the_resume(tmp_path):
    """The saved state gave trial 2 to local1, the log never said so (killed between the
    two): a "start" for it, none for trial 1 (logged); an ended trial 3 of the same kind
    gets its start, then its end."""
    events = tmp_path / "workers.jsonl"
    write(events, [{"event": "start", "trial": "1", "worker": "local0"}])
    trials = {"1": trial("RUNNING"), "2": trial("RUNNING"), "3": trial("COMPLETED", 0.5)}
    owners = {"local0": "1", "local1": "2", "local2": "3"}
    assert bookkeeping.missing_events(events, trials, owners) == [
        {"event": "start", "trial": "2", "worker": "local1"},
        {"event": "start", "trial": "3", "worker": "local2"},
        {"event": "end", "trial": "3", "worker": "local2", "status": "COMPLETED", "score": 0.5},
    ]
    assert bookkeeping.missing_events(tmp_path / "none.jsonl", trials, owners) == []
