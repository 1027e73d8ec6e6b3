"""``animatepainter publish`` / ``listen`` in separate processes, over DDS on loopback.

Every test uses its own DDS domain id (see :func:`domain`: distinct across the xdist
workers of one run) and ``--localhost`` (loopback only, unicast discovery).
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

import pytest

from animatepainter.export.ros import convert
from animatepainter.cli import main
from animatepainter.planner.plan import StrokePlan

from test_ros2_convert import make_plan

# the installed entry point (what the `animatepainter` script runs)
CLI = "import sys; from animatepainter.cli import main; sys.exit(main(sys.argv[1:]))"
ENV = dict(os.environ, ROS_LOCALHOST_ONLY="1", PYTHONUNBUFFERED="1")
ENV.pop("CYCLONEDDS_URI", None)


def domain(offset: int) -> int:
    """A domain id for one test (``offset`` 1..5): 100..219.

    Unique per pytest-xdist worker and test within one run (workers run tests at the
    same time on the same loopback), and spread by the parent pid so that two runs of
    the suite side by side are unlikely to meet."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").lstrip("gw") or 0)
    return 100 + (os.getppid() % 6) * 20 + (worker * 5 + offset) % 20


class Proc:
    """A CLI process whose stdout/stderr lines are collected as they come."""

    def __init__(self, *args: str) -> None:
        self.args = args
        self.p = subprocess.Popen(
            [sys.executable, "-c", CLI, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(self.p.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(self.p.stderr, self.err), daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream, sink: list[str]) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))

    def wait(self, timeout: float) -> int:
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            pytest.fail(f"{' '.join(self.args[:2])} did not finish in {timeout} s; stderr: {self.err[-10:]}")
        for t in self._threads:
            t.join(5)
        return rc

    def until(self, pred, timeout: float, what: str) -> None:
        t_end = time.monotonic() + timeout
        while not pred():
            if self.p.poll() is not None and not pred():
                time.sleep(0.2)
                if not pred():
                    pytest.fail(f"{what}: process ended (rc {self.p.returncode}); stderr: {self.err[-10:]}")
            if time.monotonic() > t_end:
                pytest.fail(f"{what}: not within {timeout} s; stderr: {self.err[-10:]}")
            time.sleep(0.05)

    def events(self, kind: str) -> list[dict]:
        out = []
        for line in list(self.out):
            if line.startswith("{"):
                e = json.loads(line)
                if e["kind"] == kind:
                    out.append(e)
        return out

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def procs():
    started: list[Proc] = []

    def start(*args: str) -> Proc:
        pr = Proc(*args)
        started.append(pr)
        return pr

    yield start
    for pr in started:
        pr.stop()


def _indices(listener: Proc) -> list[int]:
    return [e["msg"]["index"] for e in listener.events("stroke")]


def _sequence_problem(idx: list[int], n: int) -> str | None:
    """None if ``idx`` is exactly 0..n-1 in order, else a short description (pytest's
    own diff of two 10,000-item lists would take minutes)."""
    if idx == list(range(n)):
        return None
    seen = set(idx)
    missing = [i for i in range(n) if i not in seen]
    dups = len(idx) - len(seen)
    first_bad = next((k for k, i in enumerate(idx) if i != k), None)
    return f"{len(idx)} arrivals for {n} strokes: {len(missing)} missing (first {missing[:5]}), {dups} duplicates, first mismatch at position {first_bad}"


def test_10k_strokes_arrive_complete_in_order_and_a_late_joiner_gets_the_plan(tmp_path, procs):
    d = str(domain(1))
    plan = make_plan(10_000, seed=1)
    plan.save(tmp_path / "plan.json")
    early = procs("listen", "--domain-id", d, "--localhost", "--until", "complete", "--format", "jsonl", "--timeout", "150")
    pub = procs("-q", "publish", str(tmp_path / "plan.json"), "--domain-id", d, "--localhost", "--rate", "0",
                "--wait-timeout", "60", "--linger", "90")
    assert early.wait(180) == 0, early.err[-5:]
    idx = _indices(early)
    assert _sequence_problem(idx, 10_000) is None, _sequence_problem(idx, 10_000)
    h, pid = plan.canvas.height_mm, convert.plan_id(plan)
    for e in early.events("stroke"):
        i = e["msg"]["index"]
        assert convert.stroke_from_dict(e["msg"], h) == plan.strokes[i], f"stroke {i} arrived changed"
        assert e["msg"]["plan_id"] == pid and e["msg"]["count"] == 10_000
    assert any("10000 of 10000 strokes arrived (complete); 0 duplicate(s), 0 out of order" in line for line in early.err)
    # a subscriber that joins after the stream ended still gets the whole plan (transient local)
    pub.until(lambda: "all acknowledged" in " ".join(" ".join(pub.out).split()), 60, "publisher finishing")
    late = procs("listen", "--domain-id", d, "--localhost", "--until", "plan", "--timeout", "60",
                 "--save-plan", str(tmp_path / "late.json"))
    assert late.wait(90) == 0, late.err[-5:]
    assert StrokePlan.load(tmp_path / "late.json").to_json() == plan.to_json()
    assert any(line.startswith("plan ") and "10000 strokes" in line for line in late.out)
    pub.p.terminate()  # lingering publisher: SIGTERM is its normal end
    assert pub.wait(30) == 0, pub.err[-5:]


def test_killed_publisher_resumed_with_from_loses_and_duplicates_nothing(tmp_path, procs):
    d = str(domain(2))
    n = 3000
    make_plan(n, seed=2).save(tmp_path / "plan.json")
    sub = procs("listen", "--domain-id", d, "--localhost", "--until", "complete", "--format", "jsonl", "--timeout", "150")
    first = procs("-q", "publish", str(tmp_path / "plan.json"), "--domain-id", d, "--localhost", "--rate", "800", "--wait-timeout", "60")
    sub.until(lambda: len(sub.events("stroke")) >= 500, 90, "first strokes")
    first.p.kill()  # SIGKILL mid-stream: no cleanup at all
    first.p.wait()
    # wait until nothing more trickles in from the dead publisher
    last, t_quiet = -1, time.monotonic()
    while time.monotonic() - t_quiet < 1.5:
        k = len(sub.events("stroke"))
        if k != last:
            last, t_quiet = k, time.monotonic()
        time.sleep(0.1)
    got = _indices(sub)
    k = len(got)
    assert 500 <= k < n, k
    assert _sequence_problem(got, k) is None, "before the restart: " + str(_sequence_problem(got, k))
    second = procs("-q", "publish", str(tmp_path / "plan.json"), "--domain-id", d, "--localhost", "--rate", "0",
                   "--from", str(k), "--wait-timeout", "60", "--linger", "0")
    assert sub.wait(150) == 0, sub.err[-5:]
    assert second.wait(60) == 0, second.err[-5:]
    assert _sequence_problem(_indices(sub), n) is None, "across the restart: " + str(_sequence_problem(_indices(sub), n))
    assert any(f"{n} of {n} strokes arrived (complete); 0 duplicate(s), 0 out of order" in line for line in sub.err)


def test_ctrl_c_stops_publish_with_130_and_the_resume_index_and_listen_with_its_summary(tmp_path, procs):
    """docs/ros2.md: an interrupted ``publish`` exits 130 and logs ``resume with --from N``
    (N = the first stroke it did not send); ``listen --until never`` ends on Ctrl-C with
    its summary and status 0 (being stopped is how it is meant to end)."""
    import signal

    d = str(domain(5))
    n = 3000
    make_plan(n, seed=5).save(tmp_path / "plan.json")
    sub = procs("listen", "--domain-id", d, "--localhost", "--format", "jsonl", "--timeout", "150")
    pub = procs("publish", str(tmp_path / "plan.json"), "--domain-id", d, "--localhost", "--rate", "400", "--wait-timeout", "60")
    sub.until(lambda: len(sub.events("stroke")) >= 200, 90, "first strokes")
    pub.p.send_signal(signal.SIGINT)
    assert pub.wait(60) == 130, pub.err[-5:]
    text = " ".join(" ".join(pub.out + pub.err).split())  # rich wraps log lines
    assert pub.err[-1] == "error: interrupted", pub.err[-3:]
    resume = [int(w) for w in text.split("resume with --from ")[1:2][0].split()[:1]] if "resume with --from " in text else []
    assert resume and 200 <= resume[0] < n, text[-400:]
    sub.until(lambda: len(sub.events("stroke")) >= resume[0], 30, "every sent stroke")
    time.sleep(0.5)
    assert _indices(sub) == list(range(resume[0])), "a stroke before --from is missing or one after it arrived"
    sub.p.send_signal(signal.SIGINT)
    assert sub.wait(60) == 0, sub.err[-5:]
    assert any(f"{resume[0]} of {n} strokes arrived (missing strokes, resume the publisher with --from {resume[0]})" in line
               for line in sub.err), sub.err[-5:]


# A peer on the domain that does everything wrong: a writer and a reader of another
# type on our topics (an unknown topic type on the wire), then garbage datagrams.
_FOREIGN = r"""
import sys, time
from animatepainter.export.ros.dds import Participant
p = Participant(int(sys.argv[1]), localhost=True)
w = p.writer("/painter/strokes", "std_msgs/msg/String", latched=False)
r = p.reader("/painter/plan", "std_msgs/msg/String", latched=True)
S = p.factory.cls("std_msgs/msg/String")
t_end = time.monotonic() + float(sys.argv[2])
i = 0
while time.monotonic() < t_end:
    w.write(S(data="garbage %d" % i)); i += 1
    time.sleep(0.01)
print("foreign wrote", i, flush=True)
"""


def _spray_garbage(pids: list[int], seconds: float, seed: int) -> int:
    """Send junk datagrams (random bytes, and RTPS headers followed by junk) to every UDP
    port the processes ``pids`` hold, on loopback only; returns the number sent."""
    import psutil

    rng = random.Random(seed)
    ports = sorted({c.laddr.port for pid in pids for c in psutil.Process(pid).net_connections(kind="udp4") if c.laddr})
    assert ports, "the DDS processes hold no UDP ports"
    sent = 0
    t_end = time.monotonic() + seconds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        while time.monotonic() < t_end and sent < 20_000:
            for port in ports:
                body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
                if rng.random() < 0.5:  # RTPS 2.1 header, a random GUID prefix, then junk submessages
                    body = b"RTPS\x02\x01\x01\x10" + bytes(rng.getrandbits(8) for _ in range(12)) + body
                s.sendto(body, ("127.0.0.1", port))
                sent += 1
            time.sleep(0.002)
    return sent


def test_foreign_types_and_garbage_are_reported_and_nothing_is_lost(tmp_path, procs):
    d = str(domain(3))
    n = 2000
    make_plan(n, seed=3).save(tmp_path / "plan.json")
    sub = procs("listen", "--domain-id", d, "--localhost", "--until", "complete", "--format", "jsonl", "--timeout", "150")
    pub = procs("-q", "publish", str(tmp_path / "plan.json"), "--domain-id", d, "--localhost", "--rate", "400",
                "--wait-timeout", "60", "--linger", "2")
    sub.until(lambda: len(sub.events("stroke")) >= 50, 90, "first strokes")
    foreign = subprocess.Popen([sys.executable, "-c", _FOREIGN, d, "4"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sent = _spray_garbage([pub.p.pid, sub.p.pid], 3.0, seed=7)
        out, err = foreign.communicate(timeout=60)
    finally:
        if foreign.poll() is None:
            foreign.kill()
    assert foreign.returncode == 0, err[-2000:]
    assert sent > 100
    assert sub.wait(150) == 0, sub.err[-5:]
    assert pub.wait(60) == 0, pub.err[-5:]
    assert _sequence_problem(_indices(sub), n) is None, _sequence_problem(_indices(sub), n)
    problems = [e["text"] for e in sub.events("problem")]
    assert any("a writer on /painter/strokes uses type std_msgs/msg/String, not painter_msgs/msg/Stroke" in t for t in problems), problems
    # the publisher logs (rich, wrapped) the reader that expects another type
    pub_text = " ".join(" ".join(pub.out + pub.err).split())
    assert "a reader on /painter/plan uses type std_msgs/msg/String, not painter_msgs/msg/StrokePlan" in pub_text, pub.out[-8:]
    assert any(line.startswith("problem: a writer on /painter/strokes uses type std_msgs/msg/String") for line in sub.err)


def _one_line_error(capsys, rc: int, expect_rc: int, text: str) -> None:
    err = capsys.readouterr().err
    assert rc == expect_rc, err
    assert err.startswith("error: ") and text in err and err.count("\n") == 1, err


def test_bad_input_gives_one_line_errors(tmp_path, capsys):
    good = tmp_path / "plan.json"
    make_plan(5).save(good)
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "wrong.json").write_text(json.dumps({"schema": "animatepainter.plan/1", "canvas": {}}))
    _one_line_error(capsys, main(["publish", str(tmp_path / "bad.json"), "--localhost"]), 2, "not valid JSON (line 1, column 2")
    _one_line_error(capsys, main(["publish", str(tmp_path / "wrong.json"), "--localhost"]), 2, "wrong.json: ")
    _one_line_error(capsys, main(["publish", str(tmp_path / "none.json"), "--localhost"]), 2, "no such plan file")
    _one_line_error(capsys, main(["publish", str(good), "--domain-id", "233", "--localhost"]), 2, "--domain-id must be an integer from 0 to 232")
    _one_line_error(capsys, main(["listen", "--domain-id", "-1", "--localhost"]), 2, "--domain-id must be an integer from 0 to 232")
    _one_line_error(capsys, main(["publish", str(good), "--from", "6", "--localhost"]), 2, "--from must be a stroke index from 0 to 5")
    _one_line_error(capsys, main(["publish", str(good), "--rate", "-3", "--localhost"]), 2, "--rate must be 0 (unlimited)")
    _one_line_error(capsys, main(["publish", str(good), "--topic", "/p", "--plan-topic", "p", "--localhost"]), 2, "must differ")
    # --until is a choice: a bad one is click's usage error (usage line, then the error line)
    rc, err = main(["listen", "--until", "forever", "--localhost"]), capsys.readouterr().err
    assert rc == 2 and err.strip().splitlines()[-1].startswith("error: Invalid value for '--until'"), err
    _one_line_error(capsys, main(["listen", "--topic", "/9x", "--localhost"]), 2, "not a valid ROS 2 topic name")


def test_no_subscriber_and_nothing_arriving_are_clear_failures(tmp_path, capsys):
    d = str(domain(4))
    good = tmp_path / "plan.json"
    make_plan(5).save(good)
    _one_line_error(capsys, main(["-q", "publish", str(good), "--domain-id", d, "--localhost", "--wait-timeout", "1"]), 1,
                    "0 of 1 subscriber(s) on /painter/strokes (domain")
    rc = main(["listen", "--domain-id", d, "--localhost", "--until", "complete", "--timeout", "1", "--save-strokes", str(tmp_path / "s.jsonl")])
    err = capsys.readouterr().err
    assert rc == 1 and "error: timed out after 1 s waiting for a complete plan: got no strokes, no plan" in err
    assert (tmp_path / "s.jsonl").read_text() == ""
