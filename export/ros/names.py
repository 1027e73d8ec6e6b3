"""ROS 2 names and their DDS spellings, and DDS domain ids.

ROS 2 maps a topic ``/painter/strokes`` to the DDS topic ``rt/painter/strokes`` and a
message type ``painter_msgs/msg/Stroke`` to the DDS type
``painter_msgs::msg::dds_::Stroke_`` (the naming every ROS 2 rmw over DDS uses); these
functions do the same, and check the user's names first.
"""

from __future__ import annotations

import re

from animatepainter.planner.errors import SettingsError

__all__ = [
    "MAX_DOMAIN_ID",
    "check_domain_id",
    "check_topic",
    "dds_topic",
    "ros_topic",
    "dds_type",
    "ros_type",
]

#: Cyclone DDS (and the DDSI-RTPS port mapping: port 7400 + 250 x domain id + offsets
#: must fit in 16 bits) accepts domain ids 0..232. ROS 2 recommends 0..101 on Linux so
#: that the ports stay below the ephemeral range.
MAX_DOMAIN_ID = 232

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TYPE = re.compile(r"([A-Za-z][A-Za-z0-9_]*)/(msg|srv|action)/([A-Za-z][A-Za-z0-9_]*)\Z")
_DDS_TYPE = re.compile(r"([A-Za-z][A-Za-z0-9_]*)::(msg|srv|action)::dds_::([A-Za-z][A-Za-z0-9_]*)_\Z")


def check_domain_id(domain_id: int) -> int:
    """Return ``domain_id`` if DDS can use it, else raise :class:`SettingsError`."""
    if isinstance(domain_id, bool) or not isinstance(domain_id, int) or not 0 <= domain_id <= MAX_DOMAIN_ID:
        raise SettingsError(
            f"domain_id must be an integer from 0 to {MAX_DOMAIN_ID} (DDS ports 7400 + 250 x id must fit in 16 bits), got {domain_id}",
            "domain_id",
        )
    return domain_id


def check_topic(name: str, field: str = "topic") -> str:
    """A ROS 2 topic name, made absolute (``painter/strokes`` -> ``/painter/strokes``).

    Follows the ROS 2 rules for fully qualified names: tokens of letters, digits and
    ``_`` separated by single ``/``, no token starting with a digit, no trailing ``/``.
    Substitutions (``~``, ``{node}``) need a node and are refused. ``field``: the
    setting that gave the name (``stroke_topic``, ``plan_topic``, ...); error messages
    start with it, and the command line swaps it for its flag.

    Raises:
        SettingsError: the name is not a valid ROS 2 topic name.
    """
    if not isinstance(name, str) or not name.strip():
        raise SettingsError(f"{field}: a topic name is required, e.g. /painter/strokes", field)
    full = name if name.startswith("/") else "/" + name
    tokens = full[1:].split("/")
    if full == "/" or any(not _TOKEN.match(t) for t in tokens) or "__" in full:
        raise SettingsError(
            f"{field} {name!r} is not a valid ROS 2 topic name (use letters, digits and _ in /-separated parts, e.g. /painter/strokes)",
            field,
        )
    return full


def dds_topic(ros_name: str) -> str:
    """``/painter/strokes`` -> ``rt/painter/strokes`` (the DDS topic ROS 2 uses)."""
    return "rt" + check_topic(ros_name)


def ros_topic(dds_name: str) -> str | None:
    """``rt/painter/strokes`` -> ``/painter/strokes``; None for DDS topics that are not
    ROS 2 topics (services, actions and plain DDS topics)."""
    return dds_name[2:] if dds_name.startswith("rt/") else None


def dds_type(msgtype: str) -> str:
    """``painter_msgs/msg/Stroke`` -> ``painter_msgs::msg::dds_::Stroke_``."""
    m = _TYPE.match(msgtype)
    if not m:
        raise SettingsError(f"{msgtype!r} is not a ROS 2 interface type name such as painter_msgs/msg/Stroke")
    pkg, kind, name = m.groups()
    return f"{pkg}::{kind}::dds_::{name}_"


def ros_type(dds_name: str) -> str | None:
    """``painter_msgs::msg::dds_::Stroke_`` -> ``painter_msgs/msg/Stroke``; None if the
    DDS type name is not one a ROS 2 rmw would use."""
    m = _DDS_TYPE.match(dds_name)
    return "/".join(m.groups()) if m else None
