"""The closed loop over the wire (issue 14): the simulated rig as a DDS node
(`animatepainter rig serve`) and the controller (`animatepainter rig drive`) in separate
processes on loopback: strokes go out, photos (sensor_msgs/Image) come back, and the
controller registers and replans. Same seed, same canvas as the in-process loop."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from animatepainter.planner.metrics import psnr

from test_ros2_wire import domain, procs  # noqa: F401  (the fixture)


def test_the_loop_closes_over_dds(procs, tmp_path, scene):  # noqa: F811
    from animatepainter.planner.rig.loop import run_loop
    from animatepainter.planner.rig.profile import load_rig
    from animatepainter.planner.teacher.pipeline import PaintSettings

    img = tmp_path / "scene.png"
    Image.fromarray(scene.image).save(img)
    d = str(domain(4))
    common = ["--every", "40", "--seed", "3", "--domain-id", d, "--localhost"]
    rig = procs("rig", "serve", "--rig", "sim-arm", "-o", str(tmp_path / "rig"), "--timeout", "240", *common)
    rig.until(lambda: any("listening" in line for line in rig.out), 60, "rig node up")
    drv = procs("rig", "drive", str(img), "--rig", "sim-arm", "-o", str(tmp_path / "drive"), "-n", "120", "--size", "80", "--timeout", "120", "--jobs", "1", *common)
    assert drv.wait(300) == 0, drv.err[-10:]
    assert rig.wait(120) == 0, rig.err[-10:]
    rep = json.loads((tmp_path / "drive" / "report.json").read_text())
    served = json.loads((tmp_path / "rig" / "report.json").read_text())
    assert rep["photos"] == rep["replans"] == served["photos"] == rep["photos_received"] >= 2
    assert served["strokes_painted"] == rep["strokes_painted"]
    assert rep["corner_error_mm"] < 1.0 and rep["delta_e2000_after"] < 2.0
    # the same seed in one process paints the same canvas (up to the wire's rounding)
    local = run_loop(scene.image, load_rig("sim-arm"), PaintSettings(strokes=120, size=80, seed=3), every=40, seed=3)
    wire = np.asarray(Image.open(tmp_path / "rig" / "canvas.png").convert("RGB"))
    assert local.report["photos"] == rep["photos"]
    assert psnr(wire, local.closed_loop) > 40.0
