"""Time: wall-clock UTC, and the orchestration clock that virtual timers move forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


class OrchestrationClock:
    """Wall-clock UTC plus an offset that jumps forward when a virtual timer fires."""

    def __init__(self, offset: timedelta) -> None:
        self._offset = offset
        self._last: datetime | None = None

    @property
    def offset(self) -> timedelta:
        return self._offset

    def now(self) -> datetime:
        moment = utcnow() + self._offset
        if self._last is not None and moment < self._last:
            moment = self._last
        self._last = moment
        return moment

    def advance_to(self, moment: datetime) -> None:
        now = self.now()
        if moment > now:
            self._offset += moment - now
            self._last = moment
