"""Pacing a stroke stream: which stroke indices are due, at a rate, from a start index.

Shared by ``animatepainter publish`` and the ``painter_ros`` plan publisher node, so a
resumed stream (``--from INDEX`` / ``start_index``) behaves the same in both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from animatepainter.planner.errors import SettingsError

__all__ = ["StrokeSchedule", "check_rate", "check_start"]


def check_rate(rate_hz: float) -> float:
    """Strokes per second; 0 means as fast as the transport takes them.

    Raises:
        SettingsError: negative, not finite, or above 1 MHz.
    """
    if not isinstance(rate_hz, (int, float)) or not math.isfinite(rate_hz) or not 0 <= rate_hz <= 1e6:
        raise SettingsError(f"rate_hz must be 0 (unlimited) or a positive number of strokes per second up to 1e6, got {rate_hz}", "rate_hz")
    return float(rate_hz)


def check_start(start: int, count: int) -> int:
    """A valid resume index for a plan of ``count`` strokes (``0 <= start <= count``).

    Raises:
        SettingsError: out of range (the message names the plan's size).
    """
    if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start <= count:
        raise SettingsError(f"start must be a stroke index from 0 to {count} (the plan has {count} strokes), got {start}", "start")
    return start


@dataclass
class StrokeSchedule:
    """Which strokes are due when, streaming ``count`` strokes from ``start`` at ``rate_hz``.

    Stroke ``start + k`` is due at ``t0 + k / rate_hz`` seconds (``t0``: the first call
    of :meth:`due`); with ``rate_hz = 0`` every remaining stroke is due at once. The
    schedule catches up after a stall (a slow subscriber holding a reliable write) by
    releasing at most ``burst`` strokes at a time, so the average rate is kept without
    flooding.

    Attributes:
        count: strokes in the plan.
        start: first index to send, 0-based.
        rate_hz: strokes per second (0 = unlimited).
        burst: most strokes released by one call of :meth:`due` when behind.
        next_index: the next stroke to send (``count`` when done).
    """

    count: int
    start: int = 0
    rate_hz: float = 0.0
    burst: int = 64
    next_index: int = field(init=False)
    _t0: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        check_start(self.start, self.count)
        check_rate(self.rate_hz)
        if self.burst < 1:
            raise SettingsError(f"burst must be at least 1, got {self.burst}", "burst")
        self.next_index = self.start

    @property
    def done(self) -> bool:
        """True once every stroke has been released."""
        return self.next_index >= self.count

    def due(self, now_s: float) -> range:
        """Indices due at time ``now_s`` (seconds, any monotonic clock) and not yet
        released; they count as released once returned."""
        if self._t0 is None:
            self._t0 = now_s
        if self.rate_hz == 0:
            end = min(self.count, self.next_index + self.burst)
        else:
            k = int(math.floor((now_s - self._t0) * self.rate_hz + 1e-9)) + 1  # strokes due so far
            end = min(self.count, self.start + k, self.next_index + self.burst)
        out = range(self.next_index, max(self.next_index, end))
        self.next_index = out.stop
        return out

    def wait_s(self, now_s: float) -> float:
        """Seconds from ``now_s`` until the next stroke is due (0 if due now or done)."""
        if self.done or self.rate_hz == 0 or self._t0 is None:
            return 0.0
        t_next = self._t0 + (self.next_index - self.start) / self.rate_hz
        return max(0.0, t_next - now_s)
