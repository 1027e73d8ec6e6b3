"""``painter_msgs`` over DDS, the way a ROS 2 node talks, with Eclipse Cyclone DDS.

What goes on the wire is what ``rmw_cyclonedds_cpp`` (the ROS 2 middleware on Cyclone
DDS) puts there, so ROS 2 nodes receive ``painter_msgs`` messages from
``animatepainter publish`` and ``animatepainter listen`` receives them from ROS 2 nodes:

* topics ``rt/<ros topic>`` and types ``painter_msgs::msg::dds_::<Name>_``
  (:mod:`.names`), generated from the ``.msg`` files (:mod:`.msgtypes`);
* plain CDR (XCDR1, little endian): the data representation ROS 2 offers and accepts;
* QoS as a ROS 2 profile: the plan topic is *latched* (reliable, transient local,
  keep last 1) and the stroke topic is reliable, volatile, keep all (every stroke is
  delivered, in order; a subscriber that joins late gets the whole plan from the plan
  topic);
* the endpoints' USER_DATA carries ``typehash=RIHS01_...;`` as ROS 2 (Iron and later)
  does, so ``ros2 topic info -v`` shows the type hash.

Discovery follows Cyclone DDS's configuration (``CYCLONEDDS_URI``), as ROS 2 does; with
``localhost=True`` (or ``ROS_LOCALHOST_ONLY=1`` / ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``
in the environment) the participant talks only on the loopback interface, with unicast
discovery to ``localhost`` like ROS 2's localhost mode.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from animatepainter.planner.errors import AnimatePainterError, SettingsError, one_line
from animatepainter.planner.plan import StrokePlan

from animatepainter.export.ros import convert
from animatepainter.export.ros.msgtypes import DEFAULT_STORE, dds_factory
from animatepainter.export.ros.names import check_domain_id, check_topic, dds_topic, dds_type, ros_type
from animatepainter.export.ros.stream import StrokeSchedule, check_rate

log = logging.getLogger(__name__)

__all__ = [
    "DeliveryError",
    "LOCALHOST_CONFIG",
    "DEFAULT_STROKE_TOPIC",
    "DEFAULT_PLAN_TOPIC",
    "localhost_default",
    "ros_qos",
    "Participant",
    "PlanPublisher",
    "PlanListener",
    "Received",
]

DEFAULT_STROKE_TOPIC = "/painter/strokes"
DEFAULT_PLAN_TOPIC = "/painter/plan"

#: Cyclone DDS configuration of ROS 2's localhost mode: loopback only, no multicast,
#: unicast discovery of up to 32 participants per domain on ``localhost``.
LOCALHOST_CONFIG = (
    '<CycloneDDS><Domain Id="any"><General><Interfaces><NetworkInterface address="127.0.0.1"/></Interfaces>'
    "<AllowMulticast>false</AllowMulticast></General><Discovery><ParticipantIndex>auto</ParticipantIndex>"
    '<MaxAutoParticipantIndex>32</MaxAutoParticipantIndex><Peers><Peer address="localhost"/></Peers>'
    "</Discovery></Domain></CycloneDDS>"
)

#: how long a reliable write may block on a subscriber that does not keep up before the
#: publisher logs a warning and tries again (the stroke is not dropped), seconds
WRITE_BLOCK_S = 5.0


class DeliveryError(AnimatePainterError):
    """Messages could not be delivered or did not arrive (no subscriber, timeout)."""

    exit_code = 1


def localhost_default() -> bool:
    """True if the environment asks ROS 2 to stay on this machine
    (``ROS_LOCALHOST_ONLY=1`` or ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``)."""
    return os.environ.get("ROS_LOCALHOST_ONLY", "") == "1" or os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "").upper() == "LOCALHOST"


def _secs(s: float):
    from cyclonedds.util import duration

    return duration(seconds=max(0.0, float(s)))


def ros_qos(typehash: str, *, latched: bool):
    """Cyclone DDS QoS of a ROS 2 endpoint: reliable, XCDR1 (plain CDR), ``typehash=...;``
    in USER_DATA; latched (transient local, keep last 1) or streamed (volatile, keep all)."""
    from cyclonedds.qos import Policy, Qos

    return Qos(
        Policy.Reliability.Reliable(_secs(WRITE_BLOCK_S)),
        Policy.Durability.TransientLocal if latched else Policy.Durability.Volatile,
        Policy.History.KeepLast(1) if latched else Policy.History.KeepAll,
        Policy.DataRepresentation(use_cdrv0_representation=True),
        Policy.Userdata(f"typehash={typehash};".encode("ascii")),
    )


def _dds_call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    from cyclonedds.core import DDSException

    try:
        return fn(*args, **kwargs)
    except DDSException as e:
        raise DeliveryError(f"{what}: Cyclone DDS error ({one_line(e, 160)})") from None


#: Cyclone DDS domains created with :data:`LOCALHOST_CONFIG` in this process
_LOCAL_DOMAINS: dict[int, Any] = {}


class Participant:
    """A DDS domain participant with ROS 2 style topics, readers and writers.

    A process configures each domain id once: after a localhost participant on a domain,
    every participant of this process on that domain is on loopback too.

    Args:
        domain_id: DDS domain (0..232; ROS 2's ``ROS_DOMAIN_ID``).
        localhost: talk on the loopback interface only (see :data:`LOCALHOST_CONFIG`);
            None reads the ROS 2 environment variables (:func:`localhost_default`).
        store: ROS 2 distribution whose standard messages define the wire types.
    """

    def __init__(self, domain_id: int = 0, *, localhost: bool | None = None, store: str = DEFAULT_STORE) -> None:
        from cyclonedds.domain import Domain, DomainParticipant

        self.domain_id = check_domain_id(domain_id)
        self.localhost = localhost_default() if localhost is None else bool(localhost)
        self.factory = dds_factory(store)
        if self.localhost and domain_id not in _LOCAL_DOMAINS:
            # a domain is configured once per process; later participants on it share it
            _LOCAL_DOMAINS[domain_id] = _dds_call(f"domain {domain_id}", Domain, domain_id, LOCALHOST_CONFIG)
        self.dp = _dds_call(f"domain {domain_id}", DomainParticipant, domain_id)
        self._topics: dict[str, Any] = {}
        self._builtin: dict[str, Any] = {}

    # -- endpoints ------------------------------------------------------------------
    def topic(self, ros_name: str, msgtype: str):
        """The DDS topic of ROS 2 topic ``ros_name`` carrying ``msgtype``."""
        from cyclonedds.topic import Topic

        name = dds_topic(ros_name)
        t = self._topics.get(name)
        if t is None:
            t = _dds_call(f"topic {ros_name}", Topic, self.dp, name, self.factory.cls(msgtype))
            self._topics[name] = t
        return t

    def qos(self, msgtype: str, *, latched: bool):
        """The endpoint QoS of ``msgtype`` (see :func:`ros_qos`)."""
        return ros_qos(self.factory.store.hash_rihs01(msgtype), latched=latched)

    def writer(self, ros_name: str, msgtype: str, *, latched: bool):
        from cyclonedds.pub import DataWriter

        return _dds_call(f"writer on {ros_name}", DataWriter, self.dp, self.topic(ros_name, msgtype), self.qos(msgtype, latched=latched))

    def reader(self, ros_name: str, msgtype: str, *, latched: bool):
        from cyclonedds.sub import DataReader

        return _dds_call(f"reader on {ros_name}", DataReader, self.dp, self.topic(ros_name, msgtype), self.qos(msgtype, latched=latched))

    # -- what else is on our topics ------------------------------------------------------
    def foreign_endpoints(self, expected: dict[str, str], kind: str) -> list[str]:
        """One-line problems with other endpoints on our topics, since the last call.

        Args:
            expected: ``{ros topic: msgtype}`` of the topics this participant uses.
            kind: ``"publication"`` (look at writers) or ``"subscription"`` (readers).

        Returns:
            a message for each remote writer/reader on one of the topics whose type is
            another type (an unknown topic type on the wire: its samples can never reach
            us) or another definition of the same type name.
        """
        from cyclonedds.builtin import BuiltinDataReader, BuiltinTopicDcpsPublication, BuiltinTopicDcpsSubscription

        rd = self._builtin.get(kind)
        if rd is None:
            topic = BuiltinTopicDcpsPublication if kind == "publication" else BuiltinTopicDcpsSubscription
            rd = self._builtin[kind] = BuiltinDataReader(self.dp, topic)
        by_dds = {dds_topic(t): (t, m) for t, m in expected.items()}
        me = self.dp.get_guid()
        out = []
        role = "a writer" if kind == "publication" else "a reader"
        for ep in rd.take(N=256):
            if ep.topic_name not in by_dds or getattr(ep, "participant_key", None) == me:
                continue
            topic, msgtype = by_dds[ep.topic_name]
            theirs = ros_type(ep.type_name) or ep.type_name
            if ep.type_name != dds_type(msgtype):
                out.append(f"{role} on {topic} uses type {theirs}, not {msgtype}: its messages cannot be exchanged with this one (check the topic names)")
            elif ep.type_id is not None and ep.type_id != self.factory.cls(msgtype).__idl__.get_type_id():
                out.append(f"{role} on {topic} uses another definition of {msgtype} (type information differs): rebuild painter_msgs from this version of animatepainter if nothing arrives")
        return out


def _check_topics(stroke_topic: str, plan_topic: str) -> tuple[str, str]:
    st = check_topic(stroke_topic, "stroke_topic")
    pt = check_topic(plan_topic, "plan_topic")
    if st == pt:
        raise SettingsError(f"plan_topic {pt} is also the stroke topic: the two must differ, they carry different types", "plan_topic")
    return st, pt


@dataclass
class PublishReport:
    """What :meth:`PlanPublisher.stream` did.

    Attributes:
        start: first stroke index sent.
        next_index: one past the last stroke sent (the ``--from`` to resume with).
        seconds: wall time of the stream, s.
        acked: every matched subscriber acknowledged every stroke.
    """

    start: int
    next_index: int
    seconds: float
    acked: bool = False

    @property
    def sent(self) -> int:
        return self.next_index - self.start


class _Stop:
    """A Ctrl-C (or SIGTERM) that arrived while strokes were being written."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` here, between two strokes, if a stop was asked for."""
        if self.signum is not None:
            raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_between_strokes() -> Iterator[_Stop]:
    """Hold SIGINT and SIGTERM until :meth:`_Stop.check`, so that an interrupt never
    lands between a stroke's write and the count of what was sent.

    Python raises ``KeyboardInterrupt`` at any bytecode, e.g. just after ``write``
    returned: the stroke is on the wire but not counted, and ``resume with --from``
    would send it twice. Blocking the signal (``pthread_sigmask``) does not help in a
    process with DDS threads (the kernel hands it to another thread), so the handler
    only notes it. Outside the main thread (where handlers cannot be set) nothing changes.
    """
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def note(signum, frame):  # noqa: ARG001
        stop.signum = signum

    before = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, h in before.items():
            signal.signal(sig, h)


class PlanPublisher:
    """Publishes a plan: the whole :class:`StrokePlan` on a latched topic, and its strokes
    one by one on a stream topic.

    Args:
        plan: the plan to publish.
        participant: the DDS participant to publish with.
        stroke_topic: ROS 2 topic of the ``painter_msgs/Stroke`` stream.
        plan_topic: ROS 2 topic of the latched ``painter_msgs/StrokePlan``.
        frame_id: the canvas frame's name in the messages' headers.
    """

    def __init__(
        self,
        plan: StrokePlan,
        participant: Participant,
        *,
        stroke_topic: str = DEFAULT_STROKE_TOPIC,
        plan_topic: str = DEFAULT_PLAN_TOPIC,
        frame_id: str = convert.CANVAS_FRAME,
    ) -> None:
        convert.check_plan_fits(plan)
        self.plan = plan
        self.p = participant
        self.stroke_topic, self.plan_topic = _check_topics(stroke_topic, plan_topic)
        self.frame_id = frame_id
        self.plan_id = convert.plan_id(plan)
        self.plan_writer = participant.writer(self.plan_topic, convert.PLAN_TYPE, latched=True)
        self.stroke_writer = participant.writer(self.stroke_topic, convert.STROKE_TYPE, latched=False)
        self._expected = {self.stroke_topic: convert.STROKE_TYPE, self.plan_topic: convert.PLAN_TYPE}
        self._reported: set[str] = set()

    def check_peers(self) -> list[str]:
        """Log (once each) readers on our topics that expect another type; returns the new ones."""
        new = [m for m in self.p.foreign_endpoints(self._expected, "subscription") if m not in self._reported]
        for m in new:
            self._reported.add(m)
            log.error("%s", m)
        return new

    def publish_plan(self) -> None:
        """Publish the whole plan on the latched plan topic (late joiners get it too)."""
        msg = self.p.factory.build(convert.PLAN_TYPE, convert.plan_to_dict(self.plan, pid=self.plan_id, frame_id=self.frame_id))
        self._write(self.plan_writer, msg, f"the plan on {self.plan_topic}")
        log.info("plan %s (%d strokes) latched on %s", self.plan_id, len(self.plan.strokes), self.plan_topic)

    def subscribers(self) -> int:
        """Readers matched on the stroke topic now."""
        return len(self.stroke_writer.get_matched_subscriptions())

    def wait_for_subscribers(self, n: int, timeout_s: float) -> int:
        """Wait until at least ``n`` readers match the stroke topic.

        Raises:
            DeliveryError: fewer than ``n`` after ``timeout_s`` seconds (0: wait forever).
        """
        t_end = time.monotonic() + timeout_s if timeout_s > 0 else float("inf")
        logged = False
        while (k := self.subscribers()) < n:
            self.check_peers()
            if time.monotonic() >= t_end:
                raise DeliveryError(f"{k} of {n} subscriber(s) on {self.stroke_topic} (domain {self.p.domain_id}) after {timeout_s:g} s; nothing was streamed")
            if not logged:
                log.info("waiting for %d subscriber(s) on %s (domain %d)", n, self.stroke_topic, self.p.domain_id)
                logged = True
            time.sleep(0.02)
        return k

    def stroke_message(self, index: int, stamp_ns: int | None = None) -> Any:
        """The wire message of stroke ``index``, stamped ``stamp_ns`` (default: now)."""
        d = convert.stroke_to_dict(self.plan, index, pid=self.plan_id, stamp=convert.stamp_dict(stamp_ns), frame_id=self.frame_id)
        return self.p.factory.build(convert.STROKE_TYPE, d)

    def _write(self, writer, msg: Any, what: str) -> None:
        from cyclonedds.core import DDSException

        waited = 0.0
        while True:
            try:
                writer.write(msg)
                return
            except DDSException as e:
                if e.code != DDSException.DDS_RETCODE_TIMEOUT:
                    raise DeliveryError(f"writing {what}: Cyclone DDS error ({one_line(e, 160)})") from None
                waited += WRITE_BLOCK_S
                log.warning("writing %s: a subscriber has not acknowledged for %.0f s; still trying (nothing is dropped)", what, waited)

    def stream(
        self,
        start: int = 0,
        rate_hz: float = 0.0,
        *,
        on_sent: Callable[[int], None] | None = None,
    ) -> PublishReport:
        """Stream strokes ``start ..`` in order at ``rate_hz`` strokes/s (0: unlimited).

        Each stroke is stamped when it is written. On an interrupt (KeyboardInterrupt)
        the report of what was sent is attached to the exception as ``report``, and the
        log says which ``--from`` resumes the stream.

        Args:
            start: first stroke index, 0-based.
            rate_hz: strokes per second; 0 streams as fast as reliable delivery allows.
            on_sent: called with each index after it is written.
        """
        sched = StrokeSchedule(len(self.plan.strokes), start, check_rate(rate_hz))
        t0 = time.monotonic()
        last_check = t0
        i = start
        try:
            with _stop_between_strokes() as stop:
                while not sched.done:
                    now = time.monotonic()
                    wait = sched.wait_s(now)
                    if wait > 0:
                        time.sleep(min(wait, 0.1))
                        stop.check()
                        continue
                    for j in sched.due(now):
                        self._write(self.stroke_writer, self.stroke_message(j), f"stroke {j}")
                        i = j + 1
                        if on_sent is not None:
                            on_sent(j)
                        stop.check()
                    if now - last_check > 1.0:
                        self.check_peers()
                        last_check = now
                stop.check()  # a stop that came with the last stroke
        except KeyboardInterrupt as e:
            report = PublishReport(start, i, time.monotonic() - t0)
            report.acked = self.wait_for_acks(2.0)
            log.warning(
                "interrupted: strokes %d..%d sent%s; resume with --from %d",
                start, i - 1, " and acknowledged" if report.acked else " (not all acknowledged)", i,
            )
            e.report = report  # type: ignore[attr-defined]
            raise
        return PublishReport(start, sched.next_index, time.monotonic() - t0)

    def wait_for_acks(self, timeout_s: float) -> bool:
        """True once every matched reader acknowledged every sample, within ``timeout_s``."""
        ok_s = self.stroke_writer.wait_for_acks(_secs(timeout_s))
        ok_p = self.plan_writer.wait_for_acks(_secs(timeout_s))
        return bool(ok_s and ok_p)

    def linger(self, seconds: float) -> None:
        """Stay up ``seconds`` (``inf``: until interrupted) so late joiners get the latched plan."""
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            self.check_peers()
            time.sleep(min(0.2, max(0.0, t_end - time.monotonic())))


@dataclass
class Received:
    """One thing a :class:`PlanListener` got.

    Attributes:
        kind: ``"stroke"``, ``"plan"`` or ``"problem"``.
        data: the message as a ROS-message-shaped dict (None for problems).
        recv_ns: arrival time, ns since the UNIX epoch.
        text: one-line description of a problem.
    """

    kind: str
    data: dict[str, Any] | None = None
    recv_ns: int = 0
    text: str = ""

    @property
    def latency_s(self) -> float:
        """Arrival time minus the message's header stamp, s (same clock on one machine)."""
        assert self.data is not None
        return (self.recv_ns - convert.stamp_ns(self.data["header"]["stamp"])) / 1e9


@dataclass
class StreamState:
    """Bookkeeping of the strokes of one plan, as they arrive.

    Attributes:
        plan_id: the plan.
        count: strokes in the plan.
        seen: indices received.
        order: indices in arrival order.
        duplicates: indices that arrived more than once.
        out_of_order: arrivals with a lower index than the one before.
    """

    plan_id: str
    count: int
    seen: set[int] = field(default_factory=set)
    order: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    out_of_order: int = 0

    def add(self, index: int) -> list[str]:
        """Record an arrival; returns one-line problems (duplicate, out of order, bad index)."""
        problems = []
        if not 0 <= index < self.count:
            problems.append(f"stroke index {index} is outside plan {self.plan_id}'s {self.count} strokes")
        if index in self.seen:
            self.duplicates.append(index)
            problems.append(f"stroke {index} of plan {self.plan_id} arrived again")
        elif self.order and index < self.order[-1]:
            self.out_of_order += 1
            problems.append(f"stroke {index} of plan {self.plan_id} arrived after stroke {self.order[-1]}")
        self.seen.add(index)
        self.order.append(index)
        return problems

    @property
    def complete(self) -> bool:
        return len(self.seen) >= self.count and all(i in self.seen for i in range(self.count))

    @property
    def next_missing(self) -> int:
        """The lowest index not received yet (``count`` when complete): the ``--from`` to resume with."""
        i = 0
        while i in self.seen:
            i += 1
        return i


class PlanListener:
    """Subscribes to a plan's topics, as a rig would.

    Args:
        participant: the DDS participant to listen with.
        stroke_topic: ROS 2 topic of the ``painter_msgs/Stroke`` stream.
        plan_topic: ROS 2 topic of the latched ``painter_msgs/StrokePlan``.
    """

    def __init__(self, participant: Participant, *, stroke_topic: str = DEFAULT_STROKE_TOPIC, plan_topic: str = DEFAULT_PLAN_TOPIC) -> None:
        from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState, WaitSet

        self.p = participant
        self.stroke_topic, self.plan_topic = _check_topics(stroke_topic, plan_topic)
        self.stroke_reader = participant.reader(self.stroke_topic, convert.STROKE_TYPE, latched=False)
        self.plan_reader = participant.reader(self.plan_topic, convert.PLAN_TYPE, latched=True)
        self._ws = WaitSet(participant.dp)
        mask = SampleState.Any | ViewState.Any | InstanceState.Any
        self._conds = [ReadCondition(self.stroke_reader, mask), ReadCondition(self.plan_reader, mask)]
        for c in self._conds:
            self._ws.attach(c)
        self._expected = {self.stroke_topic: convert.STROKE_TYPE, self.plan_topic: convert.PLAN_TYPE}
        self._reported: set[str] = set()
        self._last_check = 0.0

    def _take(self, reader, kind: str, msgtype: str, topic: str) -> Iterator[Received]:
        from cyclonedds.internal import InvalidSample

        try:
            samples = reader.take(N=256)
        except Exception as e:  # noqa: BLE001 - a sample that does not decode must not stop the listener
            yield Received("problem", text=f"a sample on {topic} could not be decoded as {msgtype} and was dropped ({type(e).__name__}: {one_line(e, 120)})")
            return
        now = time.time_ns()
        for s in samples:
            if isinstance(s, InvalidSample):  # a state change (a writer went away), not data
                continue
            yield Received(kind, self.p.factory.to_dict(s, msgtype), now)

    def poll(self, timeout_s: float = 0.2) -> list[Received]:
        """What arrived within ``timeout_s`` seconds (strokes in arrival order, plans,
        and problems such as a writer of another type on one of the topics)."""
        out: list[Received] = []
        now = time.monotonic()
        if now - self._last_check > 0.25:
            self._last_check = now
            for m in self.p.foreign_endpoints(self._expected, "publication"):
                if m not in self._reported:
                    self._reported.add(m)
                    out.append(Received("problem", text=m))
        _dds_call("waiting for messages", self._ws.wait, _secs(timeout_s))
        out.extend(self._take(self.plan_reader, "plan", convert.PLAN_TYPE, self.plan_topic))
        out.extend(self._take(self.stroke_reader, "stroke", convert.STROKE_TYPE, self.stroke_topic))
        return out
