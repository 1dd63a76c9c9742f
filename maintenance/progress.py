"""TaskReport: what a running task has done so far, its counts and, when it knows it, its progress.

A task reports through its context rather than returning a result at the end, so a task stopped
by a cancel, the window, a shutdown or its timeout still has the counts it reached. Counts added
inside a batch (`staged`) only count once the batch has committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any


class TaskReport:
    def __init__(self, counts: Iterable[str] = ()) -> None:
        # The summary's `result`: each declared count starts at 0, in the declared order.
        self.result: dict[str, Any] = dict.fromkeys(counts, 0)
        # Units of work (rows, projects, partitions, tables) when the task knows how many.
        self.total: int | None = None
        self.done = 0
        self._staged: dict[str, int] | None = None

    def add(self, key: str, amount: int = 1) -> None:
        """Add to a count (inside `staged`: once the batch commits)."""
        target = self._staged if self._staged is not None else self.result
        target[key] = target.get(key, 0) + amount

    def set(self, key: str, value: Any) -> None:
        """A field of the result that is no count (a cutoff, a mode, the tables visited)."""
        self.result[key] = value

    def expect(self, total: int) -> None:
        """Say how many units of work the task has, so its progress can be told."""
        self.total = max(total, 0)
        self.done = min(self.done, self.total)

    def advance(self, amount: int = 1) -> None:
        self.done += amount

    @property
    def fraction(self) -> float | None:
        """0.0-1.0 of the task done, None while the task has not said how much there is."""
        if self.total is None:
            return None
        if self.total == 0:
            return 1.0
        return min(self.done / self.total, 1.0)

    @contextmanager
    def staged(self) -> Iterator[None]:
        """Counts added in the block are kept only when it completes (the batch committed)."""
        outer, self._staged = self._staged, {}
        try:
            yield
            staged = self._staged
        finally:
            self._staged = outer
        for key, amount in staged.items():
            self.add(key, amount)


def run_progress(finished: int, planned: int, current: float | None) -> float:
    """0-100 for the whole run: by task, and within the running task by its own fraction."""
    if planned <= 0:
        return 100.0
    return round(min((finished + (current or 0.0)) / planned, 1.0) * 100, 1)


def percent(fraction: float | None) -> float | None:
    return None if fraction is None else round(fraction * 100, 1)
