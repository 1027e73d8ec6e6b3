"""Robot plan to GRBL-style G-code.

The program is plain RS-274 as GRBL 1.1 reads it: millimetres (``G21``), absolute
coordinates (``G90``), feed per minute (``G94``); pen-up moves are ``G0``, painting
moves ``G1`` at ``motion.draw_speed_mm_s``; the pen is lowered with ``G1 Z<pen down>``
at ``motion.z_speed_mm_s`` and raised with ``G0 Z<pen up>`` (with ``motion.pen_lift =
"servo"``: ``M3 S<servo_down_s>`` / ``M3 S<servo_up_s>``, each followed by
``G4 P<servo_delay_s>``, and no Z words, for servo pen lifts on the spindle PWM pin). Dips, washing and
wiping go to the well, water or rag (``G0``), lower to ``stations.dip_z_mm``, dwell
(``G4 P<seconds>``) and rise. Tool changes (a new brush or pen) select ``T<n>`` and
then pause with ``M0`` for the operator (``tool_change.mode = "pause"``, plain GRBL)
or run ``M6`` (``"m6"``: grblHAL, LinuxCNC, tool changers). Comments (``;``) name
every stroke, dip and change. The program ends with ``M2``.

Coordinates are machine coordinates: the plan's canvas millimetres mapped by the
profile's ``canvas.origin_mm`` and ``canvas.y_axis``. The motion is
:func:`animatepainter.planner.machine.motion.execution_events`, the same sequence the time
estimate of ``report.json`` is computed from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from animatepainter.planner.atomic import atomic_write_bytes
from animatepainter.planner.machine.profile import MachineProfile
from animatepainter.planner.plan import StrokePlan
from animatepainter.planner.machine.adapt import check_plan_on_machine
from animatepainter.planner.machine.motion import execution_events, machine_report

__all__ = ["plan_to_gcode", "write_gcode"]


def _f(v: float) -> str:
    s = f"{float(v):.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "", "-") else s


def _clean(text: str) -> str:
    """Comment text GRBL accepts: one line, printable ASCII, no parentheses."""
    t = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in " ".join(str(text).split()))
    return t.replace("(", "[").replace(")", "]")


def plan_to_gcode(plan: StrokePlan, profile: MachineProfile) -> str:
    """G-code text of a robot plan (deterministic: same plan and profile, same bytes).

    Raises:
        PlanError: the plan does not fit the machine (see
            :func:`animatepainter.planner.machine.adapt.check_plan_on_machine`).
    """
    check_plan_on_machine(plan, profile)
    m = profile.motion
    servo = m.pen_lift == "servo"
    rep = machine_report(plan, profile)
    lines = [
        "; AnimatePainter G-code (GRBL dialect: mm, absolute, G0 pen up, G1 pen down)",
        f"; machine: {_clean(profile.name)} ({profile.kind})",
        f"; strokes: {rep['strokes']}, paint changes: {rep['paint_changes']}, tool changes: {rep['tool_changes']}, dips: {rep['dips']}, cleans: {rep['cleans']}",
        f"; pen down: {rep['pen_down_mm'] / 1000:.2f} m, pen up: {rep['pen_up_mm'] / 1000:.2f} m, estimated time: {rep['estimated_time_s'] / 60:.1f} min",
        (
            f"; pen lift: servo, up M3 S{m.servo_up_s}, down M3 S{m.servo_down_s}, settle {_f(m.servo_delay_s)} s"
            if servo
            else f"; pen up Z{_f(m.pen_up_z_mm)}, pen down Z{_f(m.pen_down_z_mm)}"
        ),
        "G21 ; millimetres",
        "G90 ; absolute coordinates",
        "G94 ; feed rate in mm/min",
    ]
    pos: tuple[float, float] | None = None
    z_feed = _f(m.z_speed_mm_s * 60.0)
    draw_feed = _f(m.draw_speed_mm_s * 60.0)
    tc = profile.tool_change
    for ev in execution_events(plan, profile):
        if ev.kind == "note":
            lines.append(f"; {_clean(ev.label)}")
        elif ev.kind == "travel":
            xy = (round(ev.xy[0], 3), round(ev.xy[1], 3))
            if xy != pos:
                lines.append(f"G0 X{_f(xy[0])} Y{_f(xy[1])}")
                pos = xy
        elif ev.kind == "z" and servo:
            lines.append(f"M3 S{m.servo_down_s if ev.down else m.servo_up_s} ; pen {'down' if ev.down else 'up'}")
            if m.servo_delay_s > 0:
                lines.append(f"G4 P{_f(m.servo_delay_s)}")
        elif ev.kind == "z":
            lines.append(f"G1 Z{_f(ev.z)} F{z_feed}" if ev.down else f"G0 Z{_f(ev.z)}")
        elif ev.kind == "draw":
            pts = np.round(np.asarray(ev.points, np.float64), 3)
            first = True
            for x, y in pts[1:]:
                xy = (float(x), float(y))
                if xy == pos:
                    continue
                lines.append(f"G1 X{_f(x)} Y{_f(y)}" + (f" F{draw_feed}" if first else ""))
                first = False
                pos = xy
            pos = (float(pts[-1, 0]), float(pts[-1, 1]))
        elif ev.kind == "dwell":
            lines.append(f"G4 P{_f(ev.seconds)}")
        elif ev.kind == "tool":
            if tc.mode == "m6":
                lines.append(f"T{ev.number} M6 ; tool change: {_clean(ev.label)}")
            else:
                lines.append(f"T{ev.number} ; select tool: {_clean(ev.label)}")
                lines.append(f"M0 ; pause: load tool {ev.number} - {_clean(ev.label)} - then resume")
    lines.append("M2 ; end of program")
    return "\n".join(lines) + "\n"


def write_gcode(plan: StrokePlan, profile: MachineProfile, path: str | Path) -> Path:
    """Write :func:`plan_to_gcode` to ``path`` atomically."""
    path = Path(path)
    atomic_write_bytes(path, plan_to_gcode(plan, profile).encode("ascii"))
    return path
