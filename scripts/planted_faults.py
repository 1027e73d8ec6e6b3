#!/usr/bin/env python
"""Planted-fault check (issue 22): does the suite catch a broken promise?

Each fault below is (name, file, exact source snippet, replacement, reason-if-survives).
For each, the tree (``git ls-files`` + untracked non-ignored files) is copied to a temp
folder (this checkout is never touched), the snippet is replaced (a snippet that is not
found is an error: keep the list true as the code moves), and the tests mapped to that
module run in the copy with ``animatepainter`` imported from the copy (a ``site/``
folder of links put first on ``PYTHONPATH``, ahead of the editable install's finder;
checked on every run). A fault is *caught* when those tests fail.

    nice -n 10 python scripts/planted_faults.py [-j 2] [--only NAME] [--json] \
        [--tests-from REV] [--check]

``--check`` only verifies that every snippet is found exactly once (tests/test_planted_faults.py).
``--tests-from REV`` runs the tests as they were at git revision REV (the BEFORE figure).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("planner", "model", "export", "cli")

#: module -> the tests that guard it
TESTS = {
    "planner/rig/loop.py": ["tests/test_rig.py"],
    "planner/teacher/replan.py": ["tests/test_rig.py"],
    "planner/atomic.py": ["tests/test_atomic.py"],
    "planner/order.py": ["tests/test_robot_order.py", "tests/test_process.py"],
    "planner/process.py": ["tests/test_process.py"],
    "planner/machine/adapt.py": ["tests/test_machine.py", "tests/test_robot_order.py"],
    "planner/machine/order.py": ["tests/test_robot_order.py", "tests/test_machine.py"],
    "planner/machine/motion.py": ["tests/test_machine.py", "tests/test_gcode.py"],
    "export/ros/convert.py": ["tests/test_ros2_convert.py"],
    "export/gcode.py": ["tests/test_gcode.py"],
}

#: (name, file, snippet, replacement, reason it cannot matter when it survives or "")
FAULTS: list[tuple[str, str, str, str, str]] = [
    # the closed loop
    ("loop_no_replan", "planner/rig/loop.py", "new = replan(plan, image, layers, reg.canvas, done, seed=seed, jobs=jobs)", "new = plan", ""),
    ("loop_keeps_old_plan", "planner/rig/loop.py", "            current = new\n", "            current = current\n", ""),
    ("loop_no_offset_learning", "planner/rig/loop.py", "if est is not None and est[1] > 0.2:", "if False:", ""),
    # replanning
    ("replan_no_action_redo", "planner/teacher/replan.py", "if isinstance(machine, dict) and any(s.actions for s in plan.strokes):", "if False:", ""),
    ("replan_drops_a_kept_stroke", "planner/teacher/replan.py", "kept = list(plan.strokes[:done])", "kept = list(plan.strokes[:max(done - 1, 0)])", ""),
    ("replan_ids_restart", "planner/teacher/replan.py", "id=done + i,", "id=i,", ""),
    ("replan_steps_may_decrease", "planner/teacher/replan.py", "return list(np.maximum.accumulate(steps)) if steps else []", "return list(steps)", ""),
    # atomic outputs
    ("atomic_file_never_renamed", "planner/atomic.py", "        os.replace(tmp_path, dest)\n", "        pass\n", ""),
    ("atomic_publish_on_error", "planner/atomic.py", "        if exc_type is not None:\n            shutil.rmtree(self.stage", "        if False:\n            shutil.rmtree(self.stage", ""),
    ("atomic_old_entries_lost", "planner/atomic.py", "        _carry_over(target, stage)\n", "        pass\n", ""),
    # machine motion
    ("motion_not_to_rest", "planner/machine/motion.py", "cap2[0] = cap2[-1] = 0.0", "cap2[0] = 0.0", ""),
    ("motion_short_move_half_time", "planner/machine/motion.py", "return 2.0 * math.sqrt(length / accel)", "return 1.0 * math.sqrt(length / accel)", ""),
    ("motion_no_accel_time", "planner/machine/motion.py", "return length / speed + speed / accel", "return length / speed", ""),
    ("motion_junction_angle_flipped", "planner/machine/motion.py", "sin_h = np.sqrt(0.5 * (1.0 - cos_t))", "sin_h = np.sqrt(0.5 * (1.0 + cos_t))", ""),
    ("motion_z_time_zero", "planner/machine/motion.py", 't["z_s"] += abs(ev.z - z) / m.z_speed_mm_s', 't["z_s"] += 0.0', ""),
    # machine adaptation
    ("adapt_clean_before_first", "planner/machine/adapt.py", "                if cur_brush is not None:\n                    acts.append(\"clean\")", "                if True:\n                    acts.append(\"clean\")", ""),
    ("adapt_no_capacity_dip", "planner/machine/adapt.py", "elif load + need > 1.0 + 1e-9:", "elif load + need > 2.0:", ""),
    ("adapt_no_tool_change", "planner/machine/adapt.py", "                if s.brush != cur_brush:\n                    acts.append(\"tool\")", "                if False:\n                    acts.append(\"tool\")", ""),
    # the painter's order (travel inside groups)
    ("order_flip_wrong_way", "planner/order.py", "j = int(np.argmin(dmin - lead[cand]))\n            flip = bool(dl[j] < df[j])", "j = int(np.argmin(dmin - lead[cand]))\n            flip = bool(dl[j] > df[j])", ""),
    # ROS 2 conversion
    ("ros_y_not_flipped", "export/ros/convert.py", "out[:, 1] = (float(height_mm) - p[:, 1]) / 1000.0", "out[:, 1] = p[:, 1] / 1000.0", ""),
    ("ros_back_y_not_flipped", "export/ros/convert.py", "out[:, 1] = float(height_mm) - p[:, 1] * 1000.0", "out[:, 1] = p[:, 1] * 1000.0", ""),
    ("ros_width_in_mm", "export/ros/convert.py", '"width": float(s.width_mm) / 1000.0,', '"width": float(s.width_mm),', ""),
    ("ros_plan_id_short", "export/ros/convert.py", "hexdigest()[:16]", "hexdigest()[:15]", ""),
    # G-code
    ("gcode_negative_zero", "export/gcode.py", 'return "0" if s in ("-0", "", "-") else s', "return s", ""),
    ("gcode_pen_down_rapid", "export/gcode.py", 'f"G1 Z{_f(ev.z)} F{z_feed}" if ev.down else f"G0 Z{_f(ev.z)}"', 'f"G0 Z{_f(ev.z)}"', ""),
    ("gcode_no_draw_feed", "export/gcode.py", '(f" F{draw_feed}" if first else "")', '""', ""),
    ("gcode_travel_as_draw", "export/gcode.py", 'lines.append(f"G0 X{_f(xy[0])} Y{_f(xy[1])}")', 'lines.append(f"G1 X{_f(xy[0])} Y{_f(xy[1])}")', ""),
]


def tree_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, check=True).stdout
    return [f for f in out.decode().split("\0") if f and (ROOT / f).is_file()]


def copy_tree(dest: Path, files: list[str], tests_from: str | None) -> None:
    for f in files:
        src, dst = ROOT / f, dest / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.stat().st_size > 1_000_000:  # weights and data: read-only, linked
            os.symlink(src, dst)
        else:
            shutil.copy2(src, dst)
    if tests_from:
        shutil.rmtree(dest / "tests", ignore_errors=True)
        tar = subprocess.run(["git", "archive", tests_from, "tests"], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
    site = dest / "_site" / "animatepainter"
    site.mkdir(parents=True)
    for p in PACKAGES:
        os.symlink(dest / p, site / p)


def apply(dest: Path, file: str, snippet: str, repl: str) -> None:
    p = dest / file
    text = p.read_text()
    n = text.count(snippet)
    if n != 1:
        raise SystemExit(f"planted_faults: snippet found {n} times in {file} (must be 1): {snippet!r}")
    p.write_text(text.replace(snippet, repl))


def env_for(dest: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(dest / "_site") + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTEST_ADDOPTS", None)
    return env


def check_import(dest: Path) -> None:
    out = subprocess.run([sys.executable, "-c", "import animatepainter.planner as p; print(p.__file__)"], cwd=dest, env=env_for(dest), capture_output=True, text=True)
    if not out.stdout.strip().startswith(str(dest)):
        raise SystemExit(f"planted_faults: the copy's package is not the one imported: {out.stdout or out.stderr}")


def run_fault(fault, files, tests_from, timeout) -> dict:
    name, file, snippet, repl, reason = fault
    with tempfile.TemporaryDirectory(prefix=f"pf-{name}-") as tmp:
        dest = Path(tmp)
        copy_tree(dest, files, tests_from)
        check_import(dest)
        if snippet is not None:
            apply(dest, file, snippet, repl)
        tests = [t for t in TESTS[file] if (dest / t).exists()]
        t0 = time.time()
        try:
            r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-x", "-q", "--no-header", *tests], cwd=dest, env=env_for(dest), capture_output=True, text=True, timeout=timeout)
            code, tail = r.returncode, (r.stdout + r.stderr).strip().splitlines()[-1:]
        except subprocess.TimeoutExpired:
            code, tail = -1, ["timeout"]
    return {"name": name, "file": file, "caught": code != 0, "tests": tests, "seconds": round(time.time() - t0, 1), "last_line": tail[0] if tail else "", "reason": reason}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", action="append", help="run only this fault (repeatable)")
    ap.add_argument("-j", type=int, default=1, help="faults run in parallel")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--tests-from", help="take tests/ from this git revision")
    ap.add_argument("--check", action="store_true", help="only check that every snippet is found once")
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--baseline", action="store_true", help="first run each module's tests on the unchanged copy; a fault whose tests fail there is not counted (the figure is only true when they pass)")
    a = ap.parse_args(argv)
    faults = [f for f in FAULTS if not a.only or f[0] in a.only]
    if a.only and len(faults) != len(set(a.only)):
        raise SystemExit(f"planted_faults: unknown fault in {a.only}")
    for name, file, snippet, _, _ in faults:
        n = (ROOT / file).read_text().count(snippet)
        if n != 1:
            raise SystemExit(f"planted_faults: {name}: snippet found {n} times in {file} (must be 1): {snippet!r}")
    if a.check:
        print(f"{len(faults)} faults, every snippet found once")
        return 0
    files = tree_files()
    if a.baseline:
        bad = set()
        for file in sorted({f[1] for f in faults}):
            r = run_fault(("baseline", file, None, None, ""), files, a.tests_from, a.timeout)
            if r["caught"]:
                print(f"baseline FAILS for {file}: {r['last_line']}")
                bad.add(file)
        faults = [f for f in faults if f[1] not in bad]
    with ThreadPoolExecutor(max(1, a.j)) as ex:
        results = list(ex.map(lambda f: run_fault(f, files, a.tests_from, a.timeout), faults))
    caught = sum(r["caught"] for r in results)
    if a.json:
        print(json.dumps({"caught": caught, "total": len(results), "faults": results}, indent=1))
    else:
        for r in results:
            print(f"{'caught  ' if r['caught'] else 'SURVIVED'} {r['name']:32s} {r['seconds']:6.1f}s  {r['last_line']}" + (f"\n         why it cannot matter: {r['reason']}" if not r["caught"] and r["reason"] else ""))
        print(f"caught {caught}/{len(results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
