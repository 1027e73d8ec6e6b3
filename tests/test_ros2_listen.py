"""``export.ros.listen`` (what ``animatepainter listen`` does) without a network: records
fed in directly, the stop rule of each ``--until``, text and JSON Lines against hand-written
lines, counts and the summary; and the thin ``listen`` command over a stand-in listener
(usage errors for bad ``--until`` / ``--format``: exit status 2). Over DDS: test_ros2_wire.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from animatepainter.export.ros import convert
from animatepainter.export.ros import listen as L
from animatepainter.export.ros.dds import DeliveryError, Received
from animatepainter.planner.errors import SettingsError
from animatepainter.planner.plan import StrokePlan

from conftest import run_cli
from test_ros2_convert import make_plan

T0 = 1_700_000_000 * 1_000_000_000  # a header stamp, ns since the UNIX epoch

# a hand-written painter_msgs/Stroke dict (metres, canvas frame), stamped T0
STROKE = {
    "header": {"stamp": {"sec": 1_700_000_000, "nanosec": 0}, "frame_id": "canvas"},
    "plan_id": "0123456789abcdef",
    "index": 2,
    "count": 3,
    "id": 1002,
    "points": [{"x": 0.1, "y": 0.2, "z": 0.0}, {"x": 0.125, "y": 0.2, "z": 0.0}],
    "width": 0.0015,
    "color": {"r": 1.0, "g": 0.5, "b": 0.0, "a": 1.0},
    "paint_id": 4,
    "brush_id": 3,
    "layer": 1,
    "level": 0,
    "step": 7,
}
# ... and a painter_msgs/StrokePlan dict with three (here: elided) strokes
PLAN = {
    "header": {"stamp": {"sec": 1_700_000_000, "nanosec": 0}, "frame_id": "canvas"},
    "plan_id": "0123456789abcdef",
    "canvas_width": 0.3,
    "canvas_height": 0.2,
    "palette": [{}] * 5,
    "brushes": [{}] * 2,
    "strokes": [{}] * 3,
}

STROKE_TEXT = "stroke 2/3 id=1002 plan=0123456789abcdef layer=1 level=0 step=7 paint=4 brush=3 width=1.500mm points=2 latency=2.50ms"
STROKE_JSONL = (
    '{"kind":"stroke","recv_ns":1700000000002500000,"latency_ms":2.5,"msg":{"header":{"stamp":{"sec":1700000000,"nanosec":0},'
    '"frame_id":"canvas"},"plan_id":"0123456789abcdef","index":2,"count":3,"id":1002,"points":[{"x":0.1,"y":0.2,"z":0.0},'
    '{"x":0.125,"y":0.2,"z":0.0}],"width":0.0015,"color":{"r":1.0,"g":0.5,"b":0.0,"a":1.0},"paint_id":4,"brush_id":3,'
    '"layer":1,"level":0,"step":7}}'
)
PLAN_TEXT = "plan 0123456789abcdef: 3 strokes, canvas 300 x 200 mm, 5 paints, 2 brushes"
PLAN_JSONL = '{"kind":"plan","plan_id":"0123456789abcdef","strokes":3,"recv_ns":1700000000001000000,"latency_ms":1.0}'


def stroke_rec(plan: StrokePlan, index: int, latency_ms: float = 1.0) -> Received:
    """A received stroke of ``plan``, stamped T0, arrived ``latency_ms`` later."""
    d = convert.stroke_to_dict(plan, index, pid=convert.plan_id(plan), stamp=convert.stamp_dict(T0))
    return Received("stroke", d, T0 + int(latency_ms * 1e6))


def plan_rec(plan: StrokePlan) -> Received:
    return Received("plan", convert.plan_to_dict(plan, stamp=convert.stamp_dict(T0)), T0 + 1_000_000)


# -- the option types ---------------------------------------------------------------------------


def test_enums_are_the_option_values():
    assert [m.value for m in L.Until] == ["never", "plan", "complete"]
    assert [m.value for m in L.LineFormat] == ["text", "jsonl"]
    assert L.Until("plan") is L.Until.PLAN and L.Until.PLAN == "plan"  # str enums: the value is the string


def test_session_takes_values_and_refuses_others():
    s = L.ListenSession("complete", "jsonl")
    assert s.until is L.Until.COMPLETE and s.fmt is L.LineFormat.JSONL
    with pytest.raises(SettingsError, match="until must be one of 'never', 'plan', 'complete', got 'forever'") as e:
        L.ListenSession("forever")
    assert e.value.field == "until"
    with pytest.raises(SettingsError, match="fmt must be one of 'text', 'jsonl', got 'xml'"):
        L.ListenSession(fmt="xml")


# -- formatting ---------------------------------------------------------------------------------


def test_stroke_lines_text_and_jsonl():
    r = Received("stroke", STROKE, T0 + 2_500_000)
    assert L.format_line(r, L.LineFormat.TEXT) == STROKE_TEXT
    assert L.format_line(r, "jsonl") == STROKE_JSONL
    assert json.loads(STROKE_JSONL)["msg"] == STROKE


def test_plan_lines_text_and_jsonl():
    r = Received("plan", PLAN, T0 + 1_000_000)
    assert L.format_line(r, "text") == PLAN_TEXT
    assert L.format_line(r, L.LineFormat.JSONL) == PLAN_JSONL


def test_problems_have_a_stream_line_only_in_jsonl():
    r = Received("problem", text='a writer on /painter/strokes uses type "x"')
    assert L.format_line(r, "text") is None
    assert L.format_line(r, "jsonl") == '{"kind":"problem","text":"a writer on /painter/strokes uses type \\"x\\""}'


def test_feed_returns_diagnostics_then_the_stream_line():
    s = L.ListenSession(fmt="text")
    assert s.feed(Received("stroke", STROKE, T0 + 2_500_000)) == [L.Line(STROKE_TEXT, err=False)]
    # the same stroke again: a problem on the diagnostics, then its line
    again = s.feed(Received("stroke", STROKE, T0 + 2_500_000))
    assert again == [L.Line("problem: stroke 2 of plan 0123456789abcdef arrived again", err=True), L.Line(STROKE_TEXT)]
    assert s.feed(Received("problem", text="boom")) == [L.Line("problem: boom", err=True)]
    s = L.ListenSession(fmt="jsonl")
    assert s.feed(Received("problem", text="boom")) == [L.Line("problem: boom", err=True), L.Line('{"kind":"problem","text":"boom"}')]
    assert s.feed(Received("plan", PLAN, T0 + 1_000_000)) == [L.Line(PLAN_JSONL)]
    assert s.problems == 1 and s.plan is PLAN


# -- the stop rules -----------------------------------------------------------------------------


def test_until_never_does_not_stop_by_itself():
    plan = make_plan(3)
    s = L.ListenSession(L.Until.NEVER)
    for r in [plan_rec(plan), *(stroke_rec(plan, i) for i in range(3))]:
        s.feed(r)
        assert not s.finished
    assert s.states[convert.plan_id(plan)].complete


def test_until_plan_stops_when_the_plan_arrives_not_the_strokes():
    plan = make_plan(3)
    s = L.ListenSession(L.Until.PLAN)
    assert not s.finished
    for i in range(3):
        s.feed(stroke_rec(plan, i))
    assert not s.finished  # every stroke, but no plan
    s.feed(plan_rec(plan))
    assert s.finished


def test_until_complete_stops_when_every_stroke_of_a_plan_arrived():
    plan = make_plan(3)
    s = L.ListenSession("complete")
    s.feed(plan_rec(plan))
    assert not s.finished  # the plan alone is not the strokes
    s.feed(stroke_rec(plan, 2))
    s.feed(stroke_rec(plan, 0))
    s.feed(stroke_rec(plan, 0))  # a duplicate does not stand in for stroke 1
    assert not s.finished
    s.feed(stroke_rec(plan, 1))
    assert s.finished


# -- counts, summary, files ---------------------------------------------------------------------


def test_counts_and_summary():
    plan = make_plan(4)
    pid = convert.plan_id(plan)
    s = L.ListenSession()
    assert s.summary() == []
    for i, lat in [(0, 1.0), (2, 3.0), (1, 2.0), (2, 4.0)]:  # 1 after 2: out of order; 2 twice: a duplicate (not also out of order)
        s.feed(stroke_rec(plan, i, lat))
    assert len(s.strokes) == 4 and [d["index"] for d in s.strokes] == [0, 2, 1, 2]
    assert s.latencies_s == pytest.approx([0.001, 0.003, 0.002, 0.004])
    st = s.states[pid]
    assert st.seen == {0, 1, 2} and st.duplicates == [2] and st.out_of_order == 1
    assert s.problems == 2  # stroke 1 after stroke 2; stroke 2 again
    assert s.summary() == [
        f"plan {pid}: 3 of 4 strokes arrived (missing strokes, resume the publisher with --from 3); 1 duplicate(s), 1 out of order",
        "2 problem(s) reported above",
        "latency: median 3.00 ms, max 4.00 ms over 4 strokes",
    ]
    s.feed(stroke_rec(plan, 3))
    assert s.summary()[0] == f"plan {pid}: 4 of 4 strokes arrived (complete); 1 duplicate(s), 1 out of order"


def test_timeout_errors_say_what_was_awaited_and_what_arrived():
    plan = make_plan(3)
    pid = convert.plan_id(plan)
    assert str(L.ListenSession("complete").timeout_error(1.0)) == "timed out after 1 s waiting for a complete plan: got no strokes, no plan"
    assert str(L.ListenSession("plan").timeout_error(2.5)) == "timed out after 2.5 s waiting for the plan: got no strokes, no plan"
    s = L.ListenSession("never")
    s.feed(stroke_rec(plan, 0))
    s.feed(plan_rec(plan))
    e = s.timeout_error(10)
    assert isinstance(e, DeliveryError) and e.exit_code == 1
    assert str(e) == f"timed out after 10 s waiting for messages: got 1 of 3 strokes of plan {pid}, and the plan"


def test_saved_strokes_and_plan(tmp_path):
    plan = make_plan(3, seed=5)
    s = L.ListenSession(plan_topic="/x/plan")
    with pytest.raises(DeliveryError, match=r"no plan arrived on /x/plan; .*p.json was not written"):
        s.save_plan(tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()
    s.save_strokes(tmp_path / "none.jsonl")
    assert (tmp_path / "none.jsonl").read_text() == ""
    for i in (1, 0):
        s.feed(stroke_rec(plan, i))
    s.feed(plan_rec(plan))
    s.save_strokes(tmp_path / "s.jsonl")
    lines = (tmp_path / "s.jsonl").read_text().splitlines()
    assert [json.loads(x)["index"] for x in lines] == [1, 0] and lines[0] == json.dumps(s.strokes[0], separators=(",", ":"))
    s.save_plan(tmp_path / "p.json")
    assert StrokePlan.load(tmp_path / "p.json").to_json() == plan.to_json()


# -- the poll loop, over a stand-in listener ----------------------------------------------------


class FakeSource:
    """Polls hand out ``batches`` one by one (then nothing); each poll advances ``now``
    by the time asked for."""

    plan_topic = "/painter/plan"
    stroke_topic = "/painter/strokes"

    def __init__(self, batches: list[list[Received]], real_time: bool = False) -> None:
        self.batches = list(batches)
        self.real_time = real_time  # sleep through empty polls (under the real clock)
        self.polls: list[float] = []
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def poll(self, timeout_s: float = 0.2) -> list[Received]:
        self.polls.append(timeout_s)
        self.now += timeout_s
        if not self.batches and self.real_time:
            time.sleep(timeout_s)
        return self.batches.pop(0) if self.batches else []


def test_receive_until_complete_writes_every_line_in_order():
    plan = make_plan(3)
    src = FakeSource([[plan_rec(plan), stroke_rec(plan, 0)], [], [stroke_rec(plan, 1), stroke_rec(plan, 2)], [stroke_rec(plan, 0)]])
    s = L.ListenSession("complete", "text")
    lines: list[L.Line] = []
    assert L.receive(src, s, on_line=lines.append, clock=src.clock) is L.StopReason.DONE
    assert len(src.polls) == 3 and src.batches  # stopped once complete: the 4th batch is never taken
    assert [ln.text.split(" ")[0] for ln in lines] == ["plan", "stroke", "stroke", "stroke"] and not any(ln.err for ln in lines)
    assert lines[1].text.startswith("stroke 0/3 ")


def test_receive_times_out_and_polls_no_longer_than_is_left():
    src = FakeSource([])
    s = L.ListenSession("plan")
    assert L.receive(src, s, timeout_s=0.5, clock=src.clock) is L.StopReason.TIMEOUT
    assert src.polls == pytest.approx([0.2, 0.2, 0.1])


def test_receive_when_already_finished_does_not_poll():
    plan = make_plan(2)
    s = L.ListenSession("plan")
    s.feed(plan_rec(plan))
    src = FakeSource([])
    assert L.receive(src, s, timeout_s=5, clock=src.clock) is L.StopReason.DONE and src.polls == []


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_receive_refuses_a_bad_timeout(bad):
    with pytest.raises(SettingsError, match="timeout_s must be a non-negative number of seconds") as e:
        L.receive(FakeSource([]), L.ListenSession(), timeout_s=bad)
    assert e.value.field == "timeout_s"


def test_importing_the_module_is_light():
    """cli/ros.py imports it for the option types: no DDS or rosbags until a command runs."""
    code = "import sys, animatepainter.export.ros.listen; print(sorted(m for m in sys.modules if m.split('.')[0] in ('cyclonedds', 'rosbags')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- the command, a thin layer ------------------------------------------------------------------


UNTIL = "'never', 'plan', 'complete'"
FORMATS = "'text', 'jsonl'"


@pytest.mark.parametrize(
    "option, bad, listed",
    [("--until", "forever", UNTIL), ("--until", "Complete", UNTIL), ("--format", "xml", FORMATS), ("--format", "", FORMATS)],
)
def test_bad_until_or_format_is_a_usage_error(option, bad, listed, fake_subscribe, capsys):
    made = fake_subscribe([])
    code, out, err = run_cli(["listen", "--localhost", option, bad], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert lines[0].startswith("Usage: animatepainter listen "), err
    assert lines[-1] == f"error: Invalid value for '{option}': Value error, {bad!r} is not one of {listed}.", err
    assert sum(ln.startswith("error:") for ln in lines) == 1 and "Traceback" not in err and out == ""
    assert made == {}  # refused before subscribing


def test_help_lists_the_choices_and_the_defaults(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "600")  # one row per option
    code, out, _ = run_cli(["listen", "--help"], capsys)
    assert code == 0
    for option, choices, default in [("--until", "never|plan|complete", "never"), ("--format", "text|jsonl", "text")]:
        (row,) = [ln for ln in out.splitlines() if f" {option} " in ln]
        assert f"<{choices}>" in row and f"[default: {default}]" in row, row


def test_bad_timeout_names_the_flag(capsys):
    code, out, err = run_cli(["listen", "--localhost", "--timeout", "-1"], capsys)
    assert code == 2 and out == "" and err == "error: --timeout must be a non-negative number of seconds, got -1.0\n", err


@pytest.fixture
def fake_subscribe(monkeypatch):
    """``listen`` subscribes through the library: give it a stand-in listener."""
    made: dict = {}

    def install(batches: list[list[Received]]) -> dict:
        def subscribe(domain_id=0, *, localhost=None, stroke_topic="/painter/strokes", plan_topic="/painter/plan"):
            made.update(domain_id=domain_id, localhost=localhost, stroke_topic=stroke_topic, plan_topic=plan_topic)
            src = FakeSource(batches, real_time=True)
            src.plan_topic = plan_topic
            made["source"] = src
            return src

        monkeypatch.setattr(L, "subscribe", subscribe)
        return made

    return install


def test_listen_prints_text_lines_and_the_summary(fake_subscribe, tmp_path, capsys):
    made = fake_subscribe([[Received("plan", PLAN, T0 + 1_000_000)], [Received("problem", text="odd peer")], [Received("stroke", STROKE, T0 + 2_500_000)]])
    code, out, err = run_cli(["listen", "--domain-id", "7", "--until", "plan", "--plan-topic", "/a/plan", "--save-strokes", tmp_path / "s.jsonl"], capsys)
    assert code == 0, err
    assert made["domain_id"] == 7 and made["plan_topic"] == "/a/plan"
    assert out == PLAN_TEXT + "\n"  # --until plan: stops before the problem and the stroke
    assert err == ""
    assert (tmp_path / "s.jsonl").read_text() == ""


def test_listen_prints_jsonl_lines_problems_and_the_summary(fake_subscribe, capsys):
    fake_subscribe([[Received("problem", text="odd peer")], [Received("stroke", STROKE, T0 + 2_500_000)], [Received("stroke", STROKE, T0 + 2_500_000)]])
    code, out, err = run_cli(["listen", "--format", "jsonl", "--timeout", "0.5"], capsys)
    assert code == 1
    assert out == '{"kind":"problem","text":"odd peer"}\n' + STROKE_JSONL + "\n" + STROKE_JSONL + "\n"
    assert err.splitlines() == [
        "problem: odd peer",
        "problem: stroke 2 of plan 0123456789abcdef arrived again",
        "plan 0123456789abcdef: 1 of 3 strokes arrived (missing strokes, resume the publisher with --from 0); 1 duplicate(s), 0 out of order",
        "2 problem(s) reported above",
        "latency: median 2.50 ms, max 2.50 ms over 2 strokes",
        "error: timed out after 0.5 s waiting for messages: got 1 of 3 strokes of plan 0123456789abcdef, no plan",
    ]


def test_listen_interrupted_ends_with_the_summary_and_status_0(fake_subscribe, monkeypatch, capsys):
    made = fake_subscribe([[Received("stroke", STROKE, T0 + 2_500_000)]])
    real_poll = FakeSource.poll

    def poll(self, timeout_s=0.2):
        if not self.batches:
            raise KeyboardInterrupt  # Ctrl-C while waiting
        return real_poll(self, timeout_s)

    monkeypatch.setattr(FakeSource, "poll", poll)
    code, out, err = run_cli(["listen", "--until", "complete"], capsys)
    assert code == 0, err
    assert made["source"].polls and out == STROKE_TEXT + "\n"
    assert err.splitlines()[0].startswith("plan 0123456789abcdef: 1 of 3 strokes arrived (missing strokes, resume the publisher with --from 0)")
