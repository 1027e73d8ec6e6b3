"""A plan's subscriber, as a rig would be: what ``animatepainter listen`` does, as a library.

:func:`subscribe` opens the DDS subscriptions (a :class:`~.dds.PlanListener`);
:func:`receive` polls them until the stop rule (:class:`Until`), a timeout or an
interrupt; a :class:`ListenSession` does the rest without a network, so it can be fed
:class:`~.dds.Received` records directly: it collects strokes and the plan, keeps count
(per plan :class:`~.dds.StreamState`, problems, latencies), decides when to stop, and
formats one line per message (:class:`LineFormat`: text or JSON Lines) plus the
summary a person reads at the end.

Nothing here prints: lines come back as :class:`Line` values (or go to the ``on_line``
callable given to :func:`receive`), and the caller writes them where they belong (the
CLI: the message stream on stdout, problems and the summary on stderr).

Units: message dicts are ROS-message-shaped (``painter_msgs``: metres, the ``canvas``
frame, ``builtin_interfaces/Time`` stamps); text lines show widths and canvas sizes in
mm and latencies in ms; JSON lines carry ``recv_ns`` (ns since the UNIX epoch) and
``latency_ms``.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Protocol, Union

from animatepainter.planner.errors import SettingsError

from animatepainter.export.ros import convert
from animatepainter.export.ros.dds import DEFAULT_PLAN_TOPIC, DEFAULT_STROKE_TOPIC, DeliveryError, Participant, PlanListener, Received, StreamState
from animatepainter.export.ros.names import check_domain_id

log = logging.getLogger(__name__)

__all__ = [
    "Until",
    "LineFormat",
    "StopReason",
    "Line",
    "Source",
    "ListenSession",
    "format_line",
    "check_timeout",
    "subscribe",
    "receive",
]


class Until(str, enum.Enum):
    """When a listener stops by itself (``listen --until``)."""

    #: only when interrupted (or timed out)
    NEVER = "never"
    #: once the latched plan arrived on the plan topic
    PLAN = "plan"
    #: once every stroke of some plan arrived on the stroke topic
    COMPLETE = "complete"


class LineFormat(str, enum.Enum):
    """How each received message is written as one line (``listen --format``)."""

    #: a human-readable line per stroke and plan (problems go to the diagnostics only)
    TEXT = "text"
    #: a compact JSON object per line: strokes carry the whole message (metres, canvas
    #: frame); plans their id and stroke count; problems their text
    JSONL = "jsonl"


class StopReason(str, enum.Enum):
    """Why :func:`receive` returned."""

    #: the :class:`Until` rule was met
    DONE = "done"
    #: the timeout ran out first
    TIMEOUT = "timeout"
    #: interrupted (Ctrl-C); :func:`receive` itself never returns it, its caller sets
    #: it when it catches ``KeyboardInterrupt``
    INTERRUPTED = "interrupted"


class Line(NamedTuple):
    """One line of output, without its newline.

    Attributes:
        text: the line.
        err: True for a diagnostic (``problem: ...``; the CLI's stderr), False for the
            message stream (one line per message; the CLI's stdout).
    """

    text: str
    err: bool = False


class Source(Protocol):
    """What :func:`receive` polls: a :class:`~.dds.PlanListener`, or a stand-in."""

    def poll(self, timeout_s: float = 0.2) -> list[Received]:
        """What arrived within ``timeout_s`` seconds."""
        ...


def _enum(cls: type[enum.Enum], value: Any, name: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in cls)  # type: ignore[attr-defined]
        raise SettingsError(f"{name} must be one of {choices}, got {value!r}", name) from None


def _json(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def format_line(r: Received, fmt: Union[LineFormat, str] = LineFormat.TEXT) -> Optional[str]:
    """The message-stream line of one received record, or None if it has none.

    Text: ``stroke INDEX/COUNT id=... plan=... layer=... level=... step=... paint=...
    brush=... width=W.WWWmm points=N latency=L.LLms`` for a stroke, ``plan ID: N strokes,
    canvas W x H mm, P paints, B brushes`` for a plan, nothing for a problem.
    JSON Lines: ``{"kind":"stroke","recv_ns":...,"latency_ms":...,"msg":{...}}``,
    ``{"kind":"plan","plan_id":...,"strokes":N,"recv_ns":...,"latency_ms":...}`` or
    ``{"kind":"problem","text":...}``.

    Args:
        r: a stroke, plan or problem record (stroke and plan data: ROS-message-shaped
            dicts, metres; ``recv_ns`` ns since the UNIX epoch).
        fmt: :class:`LineFormat` or its value.

    Raises:
        SettingsError: ``fmt`` is not a :class:`LineFormat`.
    """
    fmt = _enum(LineFormat, fmt, "fmt")
    if r.kind == "problem":
        return _json({"kind": "problem", "text": r.text}) if fmt is LineFormat.JSONL else None
    d = r.data
    assert d is not None
    if r.kind == "plan":
        if fmt is LineFormat.JSONL:
            return _json({"kind": "plan", "plan_id": d["plan_id"], "strokes": len(d["strokes"]), "recv_ns": r.recv_ns, "latency_ms": r.latency_s * 1000})
        return (
            f"plan {d['plan_id']}: {len(d['strokes'])} strokes, canvas {d['canvas_width'] * 1000:g} x {d['canvas_height'] * 1000:g} mm, "
            f"{len(d['palette'])} paints, {len(d['brushes'])} brushes"
        )
    if fmt is LineFormat.JSONL:
        return _json({"kind": "stroke", "recv_ns": r.recv_ns, "latency_ms": r.latency_s * 1000, "msg": d})
    return (
        f"stroke {d['index']}/{d['count']} id={d['id']} plan={d['plan_id']} layer={d['layer']} level={d['level']} step={d['step']} "
        f"paint={d['paint_id']} brush={d['brush_id']} width={d['width'] * 1000:.3f}mm points={len(d['points'])} latency={r.latency_s * 1000:.2f}ms"
    )


@dataclass
class ListenSession:
    """What a listener has received so far, and what to say about it; no network.

    Feed it the records a :class:`~.dds.PlanListener` polls (:meth:`feed`), ask it
    whether to stop (:attr:`finished`), and at the end for the :meth:`summary`, the
    files (:meth:`save_strokes`, :meth:`save_plan`) and, after a timeout, the error
    (:meth:`timeout_error`).

    Args:
        until: the stop rule (:class:`Until` or its value).
        fmt: the message-stream format (:class:`LineFormat` or its value).
        plan_topic: the plan topic's name, for messages about the plan.

    Attributes:
        states: per plan id, the bookkeeping of its strokes, in order of first arrival.
        strokes: every stroke message received, in arrival order (``painter_msgs/Stroke``
            dicts, metres, canvas frame).
        plan: the last plan message received (``painter_msgs/StrokePlan`` dict), or None.
        latencies_s: per stroke received, arrival minus header stamp, s.
        problems: problems reported so far (count; each was a ``problem: ...`` line).

    Raises:
        SettingsError: ``until`` or ``fmt`` is not one of its enum's values.
    """

    until: Until = Until.NEVER
    fmt: LineFormat = LineFormat.TEXT
    plan_topic: str = DEFAULT_PLAN_TOPIC
    states: dict[str, StreamState] = field(default_factory=dict)
    strokes: list[dict[str, Any]] = field(default_factory=list)
    plan: Optional[dict[str, Any]] = None
    latencies_s: list[float] = field(default_factory=list)
    problems: int = 0

    def __post_init__(self) -> None:
        self.until = _enum(Until, self.until, "until")
        self.fmt = _enum(LineFormat, self.fmt, "fmt")

    def feed(self, r: Received) -> list[Line]:
        """Take one received record; returns its lines, in the order to write them
        (diagnostics about a record before its message-stream line)."""
        lines: list[Line] = []
        if r.kind == "problem":
            self.problems += 1
            lines.append(Line(f"problem: {r.text}", err=True))
        elif r.kind == "plan":
            self.plan = r.data
        else:
            d = r.data
            assert d is not None
            st = self.states.get(d["plan_id"])
            if st is None:
                st = self.states[d["plan_id"]] = StreamState(d["plan_id"], int(d["count"]))
            for m in st.add(int(d["index"])):
                self.problems += 1
                lines.append(Line(f"problem: {m}", err=True))
            self.strokes.append(d)
            self.latencies_s.append(r.latency_s)
        text = format_line(r, self.fmt)
        if text is not None:
            lines.append(Line(text))
        return lines

    @property
    def finished(self) -> bool:
        """True once the :class:`Until` rule is met (never for :attr:`Until.NEVER`)."""
        if self.until is Until.PLAN:
            return self.plan is not None
        if self.until is Until.COMPLETE:
            return any(s.complete for s in self.states.values())
        return False

    def summary(self) -> list[str]:
        """What arrived, a line each: per plan the strokes received of its count
        (complete, or the ``--from`` index to resume the publisher with), duplicates and
        out-of-order arrivals; the number of problems (if any); the median and maximum
        stroke latency in ms (if any strokes arrived)."""
        out = []
        for st in self.states.values():
            tail = "complete" if st.complete else f"missing strokes, resume the publisher with --from {st.next_missing}"
            out.append(
                f"plan {st.plan_id}: {len(st.seen)} of {st.count} strokes arrived ({tail}); "
                f"{len(st.duplicates)} duplicate(s), {st.out_of_order} out of order"
            )
        if self.problems:
            out.append(f"{self.problems} problem(s) reported above")
        if self.latencies_s:
            lat = sorted(self.latencies_s)
            out.append(f"latency: median {lat[len(lat) // 2] * 1000:.2f} ms, max {lat[-1] * 1000:.2f} ms over {len(lat)} strokes")
        return out

    def strokes_jsonl(self) -> str:
        """The strokes received, in arrival order, as JSON Lines (one compact
        ``painter_msgs/Stroke`` object per line; empty if none)."""
        return "".join(_json(d) + "\n" for d in self.strokes)

    def save_strokes(self, path: Union[str, Path]) -> None:
        """Write :meth:`strokes_jsonl` to ``path`` (UTF-8, atomically).

        Raises:
            OutputError: the file cannot be written.
        """
        from animatepainter.planner.atomic import atomic_write_bytes

        atomic_write_bytes(path, self.strokes_jsonl().encode("utf-8"))

    def save_plan(self, path: Union[str, Path]) -> None:
        """Write the plan received to ``path`` as a plan file (plan.json, mm).

        Raises:
            DeliveryError: no plan arrived (nothing is written).
            PlanError: the plan message does not make a valid plan.
        """
        if self.plan is None:
            raise DeliveryError(f"no plan arrived on {self.plan_topic}; {path} was not written")
        convert.plan_from_dict(self.plan, source=f"plan received on {self.plan_topic}").save(path)

    def timeout_error(self, timeout_s: float) -> DeliveryError:
        """The error to raise when :func:`receive` timed out after ``timeout_s`` seconds:
        what it waited for (per :class:`Until`) and what it got."""
        got = ", ".join(f"{len(s.seen)} of {s.count} strokes of plan {s.plan_id}" for s in self.states.values()) or "no strokes"
        waited = {Until.PLAN: "the plan", Until.COMPLETE: "a complete plan"}.get(self.until, "messages")
        return DeliveryError(f"timed out after {timeout_s:g} s waiting for {waited}: got {got}{', and the plan' if self.plan else ', no plan'}")


def check_timeout(timeout_s: float) -> float:
    """A listening time limit in seconds (0 = none).

    Raises:
        SettingsError: negative or not finite.
    """
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not math.isfinite(timeout_s) or timeout_s < 0:
        raise SettingsError(f"timeout_s must be a non-negative number of seconds, got {timeout_s}", "timeout_s")
    return float(timeout_s)


def subscribe(
    domain_id: int = 0,
    *,
    localhost: Optional[bool] = None,
    stroke_topic: str = DEFAULT_STROKE_TOPIC,
    plan_topic: str = DEFAULT_PLAN_TOPIC,
) -> PlanListener:
    """Join DDS domain ``domain_id`` and subscribe to a plan's topics, as a rig would.

    Args:
        domain_id: DDS domain id, 0..232 (ROS 2's ``ROS_DOMAIN_ID``).
        localhost: loopback only with unicast discovery (True), Cyclone DDS's
            configuration (False), or as the environment says (None; see
            :func:`~.dds.localhost_default`).
        stroke_topic: ROS 2 topic of the ``painter_msgs/Stroke`` stream.
        plan_topic: ROS 2 topic of the latched ``painter_msgs/StrokePlan``.

    Raises:
        SettingsError: a bad domain id or topic name.
    """
    check_domain_id(domain_id)
    return PlanListener(Participant(domain_id, localhost=localhost), stroke_topic=stroke_topic, plan_topic=plan_topic)


def receive(
    source: Source,
    session: ListenSession,
    *,
    timeout_s: float = 0.0,
    on_line: Callable[[Line], None] = lambda line: None,
    poll_s: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
) -> StopReason:
    """Poll ``source`` and feed ``session`` until its stop rule is met or the time runs out.

    The rule is checked before each poll, so a session that is already finished returns
    :attr:`StopReason.DONE` without polling. ``KeyboardInterrupt`` (Ctrl-C) is not
    caught: the caller decides what an interrupt means (``listen`` treats it as
    :attr:`StopReason.INTERRUPTED`, the normal end of ``--until never``); what arrived
    until then is in ``session``.

    Args:
        source: what to poll (:func:`subscribe`'s listener).
        session: the bookkeeping to feed.
        timeout_s: give up after this many seconds (0 = no limit).
        on_line: called with each :class:`Line` as it is made, in order.
        poll_s: longest single wait for messages, s (how soon the rule and the time
            are checked again when nothing arrives).
        clock: monotonic seconds (a stand-in for tests).

    Returns:
        :attr:`StopReason.DONE` or :attr:`StopReason.TIMEOUT`.

    Raises:
        SettingsError: a negative or non-finite ``timeout_s``.
    """
    check_timeout(timeout_s)
    t_end = clock() + timeout_s if timeout_s > 0 else math.inf
    while True:
        if session.finished:
            log.debug("listening done (--until %s)", session.until.value)
            return StopReason.DONE
        if clock() >= t_end:
            log.debug("listening timed out after %g s", timeout_s)
            return StopReason.TIMEOUT
        for r in source.poll(min(poll_s, max(0.0, t_end - clock()))):
            for line in session.feed(r):
                on_line(line)
