"""``animatepainter publish``, ``listen`` and ``export rosbag``: ROS 2 without ROS 2.

``publish`` and ``listen`` talk DDS on the wire as ROS 2 nodes do (Cyclone DDS, ``rt/``
topics, ``painter_msgs`` types, CDR, ROS 2 QoS); see :mod:`animatepainter.export.ros.dds`.
``listen`` is a thin layer over :mod:`animatepainter.export.ros.listen` (subscribing,
collecting, the stop rule, the lines it prints): here it parses options and prints.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
from pathlib import Path
from typing import Iterator, Optional

import typer

# the option types of `listen` (light: no DDS until a command runs)
from animatepainter.export.ros.listen import Line, LineFormat, Until

log = logging.getLogger(__name__)

_DOMAIN_HELP = "DDS domain id, 0..232 (ROS 2's ROS_DOMAIN_ID; default: $ROS_DOMAIN_ID, else 0). Publisher and subscribers must use the same one."
_LOCAL_HELP = (
    "Talk on the loopback interface only, with unicast discovery on localhost (ROS 2's localhost mode). "
    "Default: on if ROS_LOCALHOST_ONLY=1 or ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, else Cyclone DDS's configuration (CYCLONEDDS_URI)."
)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so that a stopped command ends cleanly."""

    from animatepainter.cli.ui import on_signal

    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    with on_signal(signal.SIGTERM, handler):
        yield


def publish(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="Plan file (plan.json) to publish."),
    topic: str = typer.Option("/painter/strokes", "--topic", help="ROS 2 topic of the stroke stream (painter_msgs/msg/Stroke, reliable, keep all)."),
    plan_topic: str = typer.Option("/painter/plan", "--plan-topic", help="ROS 2 topic of the whole plan (painter_msgs/msg/StrokePlan, latched: reliable, transient local)."),
    rate: float = typer.Option(10.0, "--rate", help="Strokes per second on the stream; 0 = as fast as reliable delivery allows."),
    start: int = typer.Option(0, "--from", help="First stroke index to stream, 0-based (resume an interrupted stream; `listen` tells the index to resume from)."),
    domain_id: int = typer.Option(0, "--domain-id", envvar="ROS_DOMAIN_ID", show_envvar=False, help=_DOMAIN_HELP),
    localhost: Optional[bool] = typer.Option(None, "--localhost/--no-localhost", help=_LOCAL_HELP),
    wait_for: int = typer.Option(1, "--wait-for", help="Subscribers on the stroke topic to wait for before streaming (count; 0 = start at once)."),
    wait_timeout: float = typer.Option(0.0, "--wait-timeout", help="Give up when the subscribers have not appeared after this many seconds (0 = wait until interrupted)."),
    linger: float = typer.Option(2.0, "--linger", help="Seconds to stay up after streaming, so that late subscribers still get the latched plan ('inf' = until interrupted)."),
    ack_timeout: float = typer.Option(30.0, "--ack-timeout", help="Seconds to wait, after the last stroke, for every subscriber to acknowledge every stroke."),
    frame_id: str = typer.Option("canvas", "--frame-id", help="Name of the canvas frame in the messages' headers (origin bottom-left, x right, y up, metres)."),
) -> None:
    """Publish a plan over DDS as a ROS 2 node would: the whole plan latched, and its strokes streamed one by one."""
    from animatepainter.cli.ui import RichProgress, console_print, state
    from animatepainter.planner.errors import SettingsError
    from animatepainter.planner.plan import load_plan

    from animatepainter.export.ros.dds import DeliveryError, Participant, PlanPublisher
    from animatepainter.export.ros.names import check_domain_id
    from animatepainter.export.ros.stream import check_rate, check_start

    check_domain_id(domain_id)
    check_rate(rate)
    if wait_for < 0 or not math.isfinite(wait_timeout) or wait_timeout < 0:
        raise SettingsError("--wait-for and --wait-timeout must not be negative")
    if not (linger >= 0) or not (ack_timeout >= 0) or not math.isfinite(ack_timeout):
        raise SettingsError("--linger and --ack-timeout must be non-negative seconds")
    plan = load_plan(plan_file)
    check_start(start, len(plan.strokes))
    with _sigterm_as_interrupt():
        participant = Participant(domain_id, localhost=localhost)
        pub = PlanPublisher(plan, participant, stroke_topic=topic, plan_topic=plan_topic, frame_id=frame_id)
        pub.publish_plan()
        if wait_for > 0 and pub.subscribers() < wait_for:
            if not state.quiet:
                typer.echo(f"waiting for {wait_for} subscriber(s) on {pub.stroke_topic} (domain {domain_id}) ...", err=True)
            pub.wait_for_subscribers(wait_for, wait_timeout)
        with RichProgress() as progress, progress.stage("publish", len(plan.strokes) - start) as st:
            report = pub.stream(start, rate, on_sent=lambda i: st.advance(1))
        report.acked = pub.wait_for_acks(ack_timeout)
        if not report.acked:
            raise DeliveryError(
                f"strokes {start}..{report.next_index - 1} were sent but not every subscriber acknowledged them within {ack_timeout:g} s; "
                f"check the subscribers, then resume with --from (the index `listen` reports)"
            )
        speed = report.sent / report.seconds if report.seconds > 0 else float("inf")
        console_print(
            f"published strokes {start}..{report.next_index - 1} of plan {pub.plan_id} ({len(plan.strokes)} strokes) on {pub.stroke_topic}, "
            f"domain {domain_id}, {report.seconds:.2f} s ({speed:,.0f} strokes/s), all acknowledged; plan latched on {pub.plan_topic}"
        )
        try:
            pub.linger(linger)
        except KeyboardInterrupt:
            pass  # the stream is complete: being stopped while lingering is the normal end


def _write_line(line: Line) -> None:
    """A listen line: the message stream on stdout (flushed, a line per message), problems on stderr."""
    if line.err:
        typer.echo(line.text, err=True)
    else:
        sys.stdout.write(line.text + "\n")
        sys.stdout.flush()


def listen(
    topic: str = typer.Option("/painter/strokes", "--topic", help="ROS 2 topic of the stroke stream (painter_msgs/msg/Stroke)."),
    plan_topic: str = typer.Option("/painter/plan", "--plan-topic", help="ROS 2 topic of the latched plan (painter_msgs/msg/StrokePlan)."),
    domain_id: int = typer.Option(0, "--domain-id", envvar="ROS_DOMAIN_ID", show_envvar=False, help=_DOMAIN_HELP),
    localhost: Optional[bool] = typer.Option(None, "--localhost/--no-localhost", help=_LOCAL_HELP),
    until: Until = typer.Option(Until.NEVER, "--until", help="Stop by itself: 'complete' (every stroke of a plan arrived), 'plan' (the latched plan arrived) or 'never' (until interrupted)."),
    timeout_s: float = typer.Option(0.0, "--timeout", help="Give up after this many seconds with exit status 1 (0 = no limit)."),
    fmt: LineFormat = typer.Option(LineFormat.TEXT, "--format", help="stdout format: 'text' (a line per message) or 'jsonl' (a JSON object per line; strokes carry the whole message, metres, canvas frame)."),
    save_plan: Optional[Path] = typer.Option(None, "--save-plan", help="Write the plan received on the plan topic to this plan.json (mm, as a plan file) when stopping."),
    save_strokes: Optional[Path] = typer.Option(None, "--save-strokes", help="Write the strokes received on the stroke topic, in arrival order, to this JSON Lines file (one painter_msgs/Stroke message per line) when stopping."),
) -> None:
    """Subscribe to a plan's topics, as a rig would, and print (and save) what arrives."""
    from animatepainter.export.ros.listen import ListenSession, StopReason, check_timeout, receive, subscribe
    from animatepainter.export.ros.names import check_domain_id

    check_domain_id(domain_id)
    check_timeout(timeout_s)
    listener = subscribe(domain_id, localhost=localhost, stroke_topic=topic, plan_topic=plan_topic)
    session = ListenSession(until, fmt, plan_topic=listener.plan_topic)
    with _sigterm_as_interrupt():
        try:
            reason = receive(listener, session, timeout_s=timeout_s, on_line=_write_line)
        except KeyboardInterrupt:
            reason = StopReason.INTERRUPTED
    # what arrived, on stderr so that stdout stays one line per message
    for text in session.summary():
        typer.echo(text, err=True)
    if save_strokes is not None:
        session.save_strokes(save_strokes)
    if save_plan is not None:
        session.save_plan(save_plan)
    if reason is StopReason.TIMEOUT:
        raise session.timeout_error(timeout_s)


def export_rosbag(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="Plan file (plan.json) to export."),
    out: Path = typer.Option(..., "--out", "-o", help="Bag folder to create (metadata.yaml + BAG.mcap)."),
    topic: str = typer.Option("/painter/strokes", "--topic", help="ROS 2 topic of the strokes (painter_msgs/msg/Stroke)."),
    plan_topic: str = typer.Option("/painter/plan", "--plan-topic", help="ROS 2 topic of the whole plan (painter_msgs/msg/StrokePlan, recorded latched)."),
    rate: float = typer.Option(10.0, "--rate", help="Strokes per second of bag time (> 0); `ros2 bag play --rate` scales it."),
    start_ns: Optional[int] = typer.Option(None, "--start-ns", help="Bag start time in nanoseconds since the UNIX epoch (default: now); fix it for identical bags."),
    frame_id: str = typer.Option("canvas", "--frame-id", help="Name of the canvas frame in the messages' headers."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing bag folder."),
) -> None:
    """Write a plan as a ROS 2 bag (MCAP storage), for `ros2 bag play` and rosbags."""
    from animatepainter.cli.ui import RichProgress, console_print
    from animatepainter.planner.plan import load_plan

    from animatepainter.export.ros.bag import write_bag

    plan = load_plan(plan_file)
    with RichProgress() as progress:
        bag = write_bag(plan, out, stroke_topic=topic, plan_topic=plan_topic, rate_hz=rate, start_ns=start_ns, frame_id=frame_id, overwrite=overwrite, progress=progress)
    console_print(f"{len(plan.strokes)} strokes and the plan -> {bag} (MCAP, {len(plan.strokes) / rate:.1f} s at {rate:g} strokes/s)")


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    """Add ``publish`` and ``listen`` to the CLI, and ``rosbag`` to ``export``."""
    app.command("publish")(publish)
    app.command("listen")(listen)
    export_app.command("rosbag")(export_rosbag)
