"""The ``painter_msgs`` interfaces and typed messages built from their ``.msg`` text.

The package ships copies of ``ros2_ws/src/painter_msgs/{msg,srv,action}`` as package data
(a test checks they are the same bytes). From the ``.msg`` text, parsed by rosbags
(the same grammar as rosidl), this module builds:

* a rosbags :class:`~rosbags.typesys.store.Typestore` with ``painter_msgs`` registered on
  top of a ROS 2 distribution's standard messages (``std_msgs``, ``geometry_msgs``, ...):
  CDR (de)serialisation and rosbag2 files;
* Cyclone DDS types (``cyclonedds.idl.IdlStruct`` classes) with the DDS names ROS 2 uses
  (``painter_msgs::msg::dds_::Stroke_``), the same fields in the same order: what goes on
  the wire is generated from the ``.msg`` files, so the two cannot drift apart. Their XCDR1
  bytes equal rosbags' CDR bytes (checked in the tests), which is what ``rmw_cyclonedds_cpp``
  and ``rmw_fastrtps_cpp`` put on the wire.

:class:`MessageFactory` builds typed messages of either kind from ROS-message-shaped dicts
(the shape :mod:`.convert` produces and ``rosidl_runtime_py.set_message_fields`` takes),
filling the fields a dict leaves out with their defaults (0, ``""``, empty sequences), and
turns typed messages back into such dicts.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any, Callable, Mapping

from animatepainter.planner.errors import SettingsError

from animatepainter.export.ros.names import dds_type

__all__ = [
    "PACKAGE",
    "MESSAGES",
    "DEFAULT_STORE",
    "interface_files",
    "msg_text",
    "painter_msg_types",
    "typestore",
    "MessageFactory",
    "rosbags_factory",
    "dds_factory",
]

PACKAGE = "painter_msgs"
#: the messages of ``painter_msgs``, dependencies first
MESSAGES = ("Paint", "Brush", "Stroke", "StrokePlan")
#: the ROS 2 distribution whose standard messages the typestore starts from
DEFAULT_STORE = "ros2_jazzy"

_MISSING = object()


def _root():
    return resources.files("animatepainter.export.ros").joinpath("interfaces", PACKAGE)


def interface_files() -> dict[str, str]:
    """The shipped ``painter_msgs`` interface files: ``{"msg/Stroke.msg": text, ...}``."""
    out: dict[str, str] = {}
    root = _root()
    for kind, suffix in (("msg", ".msg"), ("srv", ".srv"), ("action", ".action")):
        folder = root.joinpath(kind)
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(suffix):
                out[f"{kind}/{entry.name}"] = entry.read_text(encoding="utf-8")
    return out


def msg_text(name: str) -> str:
    """Text of ``painter_msgs/msg/<name>.msg`` (e.g. ``msg_text("Stroke")``)."""
    try:
        return _root().joinpath("msg", f"{name}.msg").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"painter_msgs has no message {name!r} (it has {', '.join(MESSAGES)})") from None


def painter_msg_types() -> dict[str, Any]:
    """``painter_msgs`` message definitions parsed by rosbags, ``{"painter_msgs/msg/Stroke": (consts, fields)}``."""
    from rosbags.typesys import get_types_from_msg

    out: dict[str, Any] = {}
    for name in MESSAGES:
        out.update(get_types_from_msg(msg_text(name), f"{PACKAGE}/msg/{name}"))
    return out


@functools.lru_cache(maxsize=None)
def typestore(store: str = DEFAULT_STORE):
    """A rosbags typestore of ROS 2 distribution ``store`` (e.g. ``"ros2_humble"``,
    ``"ros2_jazzy"``) with ``painter_msgs`` registered."""
    from rosbags.typesys import Stores, get_typestore

    try:
        ts = get_typestore(Stores(store))
    except ValueError:
        names = ", ".join(s.value for s in Stores if s.value.startswith("ros2"))
        raise SettingsError(f"unknown ROS 2 distribution {store!r} (known: {names})") from None
    ts.register(painter_msg_types())
    return ts


# ROS 2 primitive -> numpy dtype (rosbags keeps primitive sequences as numpy arrays)
_NP = {
    "bool": "bool",
    "byte": "uint8",
    "char": "uint8",
    "int8": "int8",
    "uint8": "uint8",
    "int16": "int16",
    "uint16": "uint16",
    "int32": "int32",
    "uint32": "uint32",
    "int64": "int64",
    "uint64": "uint64",
    "float32": "float32",
    "float64": "float64",
}


def _default_scalar(base: str) -> Any:
    if base == "string":
        return ""
    if base == "bool":
        return False
    if base.startswith("float"):
        return 0.0
    return 0


def _scalar_converter(base: str, where: str) -> Callable[[Any], Any]:
    """A fast converter of one primitive field: strings must be str, integers are taken
    with ``operator.index`` (no silent truncation of floats), floats with ``float``."""
    import operator

    if base == "string":

        def conv_str(v: Any) -> str:
            if type(v) is not str:
                raise ValueError(f"{where}: {v!r} is not a string")
            return v

        return conv_str
    if base == "bool":
        return bool
    if base.startswith("float"):
        return float

    def conv_int(v: Any) -> int:
        try:
            return operator.index(v)
        except TypeError:
            raise ValueError(f"{where}: {v!r} is not an integer ({base})") from None

    return conv_int


class MessageFactory:
    """Builds typed messages from ROS-message-shaped dicts, and back.

    Args:
        store: the rosbags typestore that defines the types (see :func:`typestore`).
        kind: ``"rosbags"`` for the typestore's own dataclasses (CDR, bags) or ``"dds"``
            for Cyclone DDS ``IdlStruct`` classes generated from the same definitions.
    """

    def __init__(self, store, kind: str = "rosbags") -> None:
        if kind not in ("rosbags", "dds"):
            raise ValueError(f"kind must be 'rosbags' or 'dds', not {kind!r}")
        self.store = store
        self.kind = kind
        self._classes: dict[str, type] = {}
        self._builders: dict[str, Callable[[Any], Any]] = {}

    # -- classes ----------------------------------------------------------------------
    def cls(self, msgtype: str) -> type:
        """The class of ``msgtype`` (``"painter_msgs/msg/Stroke"``)."""
        c = self._classes.get(msgtype)
        if c is None:
            if msgtype not in self.store.fielddefs:
                raise SettingsError(f"unknown message type {msgtype!r}")
            c = self.store.types[msgtype] if self.kind == "rosbags" else self._dds_class(msgtype)
            self._classes[msgtype] = c
        return c

    def _dds_class(self, msgtype: str) -> type:
        from cyclonedds.idl import make_idl_struct

        _, fields = self.store.fielddefs[msgtype]
        annotations = {name: self._dds_field(desc) for name, desc in fields}
        _, _, short = msgtype.split("/")
        return make_idl_struct(f"{short}_", dds_type(msgtype), annotations)

    def _dds_field(self, desc) -> Any:
        from cyclonedds.idl import types as t
        from rosbags.interfaces import Nodetype

        kind, arg = desc
        if kind == Nodetype.BASE:
            base, bound = arg
            if base == "string":
                return t.bounded_str[bound] if bound else str
            if base == "bool":
                return bool
            if base not in _NP:
                raise SettingsError(f"ROS 2 type {base!r} is not supported on the wire")
            return getattr(t, _NP[base])
        if kind == Nodetype.NAME:
            return self.cls(arg)
        sub, n = arg
        if kind == Nodetype.SEQUENCE:
            return t.sequence[self._dds_field(sub), n] if n else t.sequence[self._dds_field(sub)]
        return t.array[self._dds_field(sub), n]

    # -- dict -> message ----------------------------------------------------------------
    def build(self, msgtype: str, data: Mapping[str, Any] | None = None) -> Any:
        """A ``msgtype`` message from ``data`` (nested dicts and lists; fields left out
        get their defaults).

        Raises:
            ValueError: a key that is not a field of the type, or a value of the wrong kind.
        """
        return self._builder(msgtype)(data)

    def _builder(self, msgtype: str) -> Callable[[Any], Any]:
        b = self._builders.get(msgtype)
        if b is not None:
            return b
        from rosbags.interfaces import Nodetype

        cls = self.cls(msgtype)
        _, fields = self.store.fielddefs[msgtype]
        names = [name for name, _ in fields]
        known = set(names)
        convs = [(name, self._field_builder(desc, f"{msgtype}.{name}", Nodetype)) for name, desc in fields]

        def build(data: Any) -> Any:
            if data is None:
                data = {}
            elif not isinstance(data, Mapping):
                raise ValueError(f"{msgtype}: expected a dict of fields, got {type(data).__name__}")
            if not known.issuperset(data):
                extra = sorted(set(data) - known)[0]
                raise ValueError(f"{msgtype} has no field {extra!r} (fields: {', '.join(names)})")
            get = data.get
            return cls(**{name: conv(get(name, _MISSING)) for name, conv in convs})

        self._builders[msgtype] = build
        return build

    def _field_builder(self, desc, where: str, Nodetype) -> Callable[[Any], Any]:
        kind, arg = desc
        if kind == Nodetype.BASE:
            base = arg[0]
            default = _default_scalar(base)
            conv = _scalar_converter(base, where)
            return lambda v: default if v is _MISSING else conv(v)
        if kind == Nodetype.NAME:
            sub_name = arg
            return lambda v: self._builder(sub_name)(None if v is _MISSING else v)
        sub, n = arg
        fixed = n if kind == Nodetype.ARRAY else 0
        item = self._field_builder(sub, where + "[]", Nodetype)
        primitive = sub[0] == Nodetype.BASE and sub[1][0] != "string"

        def seq(v: Any) -> Any:
            if v is _MISSING:
                v = [] if not fixed else [_MISSING] * fixed
            elif isinstance(v, (str, bytes, Mapping)) and not (primitive and isinstance(v, bytes)):
                raise ValueError(f"{where}: expected a list, got {type(v).__name__}")
            items = [item(x) for x in v]
            if fixed and len(items) != fixed:
                raise ValueError(f"{where}: expected {fixed} items, got {len(items)}")
            if primitive and self.kind == "rosbags":
                import numpy as np

                return np.asarray(items, dtype=_NP[sub[1][0]])
            return items

        return seq

    # -- message -> dict ----------------------------------------------------------------
    def to_dict(self, msg: Any, msgtype: str) -> dict[str, Any]:
        """A typed message (rosbags, Cyclone DDS or rclpy) as nested dicts and lists of
        plain Python values."""
        from rosbags.interfaces import Nodetype

        _, fields = self.store.fielddefs[msgtype]
        return {name: self._plain(getattr(msg, name), desc, Nodetype) for name, desc in fields}

    def _plain(self, v: Any, desc, Nodetype) -> Any:
        kind, arg = desc
        if kind == Nodetype.BASE:
            return v.item() if hasattr(v, "item") else v
        if kind == Nodetype.NAME:
            return self.to_dict(v, arg)
        sub = arg[0]
        if sub[0] == Nodetype.BASE:
            return v.tolist() if hasattr(v, "tolist") else [x.item() if hasattr(x, "item") else x for x in v]
        return [self._plain(x, sub, Nodetype) for x in v]


@functools.lru_cache(maxsize=None)
def rosbags_factory(store: str = DEFAULT_STORE) -> MessageFactory:
    """The :class:`MessageFactory` of rosbags messages for distribution ``store``."""
    return MessageFactory(typestore(store), "rosbags")


@functools.lru_cache(maxsize=None)
def dds_factory(store: str = DEFAULT_STORE) -> MessageFactory:
    """The :class:`MessageFactory` of Cyclone DDS messages (wire types) for ``store``."""
    return MessageFactory(typestore(store), "dds")
