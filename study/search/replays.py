"""The chief's memory of proven calls (study/search/proofs.py): each call nonce is admitted
once within WINDOW_S of the chief's clock, so a call overheard on the wire is not replayed."""

from __future__ import annotations

import collections
import threading
import time


class Replays:
    """The call nonces of proven calls within `window_s` of now: each is admitted once, and
    a time further off than `window_s` never (so a nonce forgotten is refused by its time).
    At `limit` the oldest is forgotten and no call older than it is admitted."""

    def __init__(self, window_s: float, limit: int):
        self.window_s, self.limit = window_s, limit
        self._seen: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._floor = -1  # the time of the newest nonce forgotten for room
        self._lock = threading.Lock()

    def first(self, call: str, stamp: int, now: float | None = None) -> bool:
        """True once per `call` whose `stamp` is within the window of `now` (default: now)."""
        now = time.time() if now is None else now
        if abs(now - stamp) > self.window_s:
            return False
        with self._lock:
            self._forget(now)
            if call in self._seen or stamp <= self._floor:
                return False
            if len(self._seen) >= self.limit:
                self._floor = max(self._floor, self._seen.popitem(last=False)[1])
            self._seen[call] = stamp
            return True

    def _forget(self, now: float) -> None:
        """Drop the oldest nonces whose time is out of the window (refused by it anyway)."""
        while self._seen and next(iter(self._seen.values())) < now - self.window_s:
            self._seen.popitem(last=False)


# -- the chief's side ------------------------------------------------------------------
