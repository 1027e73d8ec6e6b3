"""The machine a plan is painted on.

* :mod:`.profile`: machine profiles (TOML, validated against the published JSON Schema
  ``planner/schema/machine-1.schema.json``), the bundled ones in ``profiles/``;
* :mod:`.adapt`: any plan to one the machine can execute (placement, brushes, hatching,
  paint matching, capacity splits, reload / clean actions);
* :mod:`.order`: the machine's order inside the painter's groups (tools, travel);
* :mod:`.motion`: the motion that executes a robot plan and its time estimate.
"""

from __future__ import annotations

from animatepainter.planner.machine.adapt import apply_machine, check_plan_on_machine, ensure_machine, machine_settings
from animatepainter.planner.machine.motion import Event, draw_time, execution_events, machine_report
from animatepainter.planner.machine.order import order_for_machine
from animatepainter.planner.machine.profile import MachineProfile, bundled_profiles, load_profile, profile_from_dict

__all__ = [
    "MachineProfile",
    "bundled_profiles",
    "load_profile",
    "profile_from_dict",
    "apply_machine",
    "check_plan_on_machine",
    "ensure_machine",
    "machine_settings",
    "order_for_machine",
    "Event",
    "draw_time",
    "execution_events",
    "machine_report",
]
