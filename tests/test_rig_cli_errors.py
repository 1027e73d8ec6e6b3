"""Bad input to ``rig calibrate``, ``rig run``, ``rig serve`` and ``rig drive``: exit status
exactly 2, one line that names the problem (the file, flag or value), nothing written,
and no painting, planning or DDS work started first (issue 22).

Every case is checked before any work: the painting, planning and network entry points
are replaced by tripwires, so a check that comes too late fails here at once instead of
painting for a minute (``rig run``) or waiting for a peer forever (``rig serve``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli

CALIBRATION = """
[calibration]
offset_mm = [0.5, -0.5]
width_scale = [0.9, 0.9, 0.9, 0.9]
opacity_start = [1.0, 1.0, 1.0, 1.0]
opacity_end = [0.5, 0.5, 0.5, 0.5]
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The inputs, good and bad, in a folder of their own (not the tests' output folder)."""
    from animatepainter.planner.machine.profile import bundled_profiles

    d = tmp_path_factory.mktemp("rig_inputs")
    img = d / "img.png"
    Image.fromarray((np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)).save(img)
    (d / "notimg.png").write_text("this is not an image\n")
    good = img.read_bytes()
    (d / "corrupt.png").write_bytes(good[: len(good) // 2])
    (d / "report.json").write_text('{"offset_mm": [0.1, 0.2]}\n')
    (d / "bad.toml").write_text("width_mm = [400.0\n")
    (d / "empty.toml").write_text("")
    (d / "folder").mkdir()
    sim = bundled_profiles()["sim-arm"].read_text()
    assert "position_noise_mm = 1.5" in sim and "width_mm = 400.0" in sim
    (d / "negative.toml").write_text(sim.replace("position_noise_mm = 1.5", "position_noise_mm = -1.5"))
    (d / "calibrated.toml").write_text(sim + CALIBRATION)
    (d / "other_canvas.toml").write_text(sim.replace("width_mm = 400.0", "width_mm = 500.0", 1) + CALIBRATION)
    # keys: the file's name with "_" for "." (str.format reads "a.b" as an attribute)
    return {p.name.replace(".", "_"): p for p in d.iterdir()} | {"missing_png": d / "nope.png", "missing_toml": d / "nope.toml", "dir": d}


@pytest.fixture
def tripwires(monkeypatch) -> list[str]:
    """Painting, planning and DDS entry points that no bad input may reach; each call is
    recorded (and fails the command)."""
    import animatepainter.export.ros.dds as dds
    import animatepainter.planner.rig.execute as execute
    import animatepainter.planner.rig.loop as loop

    started: list[str] = []

    def wire(name: str):
        def tripped(*a, **k):
            started.append(name)
            raise RuntimeError(f"{name} started before the bad input was refused")

        return tripped

    monkeypatch.setattr(dds, "Participant", wire("a DDS participant"))
    monkeypatch.setattr(loop, "run_loop", wire("run_loop"))
    monkeypatch.setattr(loop, "plan_for_rig", wire("plan_for_rig"))
    monkeypatch.setattr(loop, "closed_loop", wire("closed_loop"))
    monkeypatch.setattr(execute, "execute_strokes", wire("execute_strokes"))
    return started


def _base(cmd: str, image: object, rig: object, out: Path) -> list:
    """Good arguments of ``cmd``; a case appends options (the last of a repeated option
    wins) or swaps the image or the rig. ``serve`` and ``drive`` get a short --timeout and
    --localhost, so that a case that slipped through could not wait long nor leave the
    machine (the tripwires stop it first anyway)."""
    if cmd == "calibrate":
        return ["rig", "calibrate", "--rig", rig, "-o", out]
    if cmd == "run":
        return ["rig", "run", image, "--rig", rig, "-o", out, "-n", "20", "--size", "32"]
    if cmd == "serve":
        return ["rig", "serve", "--rig", rig, "-o", out, "--timeout", "5", "--localhost", "--domain-id", "0"]
    if cmd == "drive":
        return ["rig", "drive", image, "--rig", rig, "-o", out, "-n", "20", "--size", "32", "--timeout", "5", "--localhost", "--domain-id", "0"]
    raise AssertionError(cmd)


# (command, case, what to change, what the error line must say); in the changes and the
# message, {name} is a file of ``files``, {out_file} a file where a folder is wanted. "image" and "rig" swap
# the positional image / the --rig value, "out" the output path; "extra" is appended.
CASES = [
    # -- every command: the rig profile ---------------------------------------------------
    *[
        (cmd, case, change, says)
        for cmd in ("calibrate", "run", "serve", "drive")
        for case, change, says in [
            ("rig-unknown", {"rig": "nosuch"}, "nosuch: no such rig profile (a TOML file, or a bundled one: "),
            ("rig-missing-file", {"rig": "{missing_toml}"}, "{missing_toml}: no such rig profile"),
            ("rig-not-toml", {"rig": "{bad_toml}"}, "{bad_toml}: not valid TOML"),
            ("rig-json", {"rig": "{report_json}"}, "{report_json}: not valid TOML"),
            ("rig-an-image", {"rig": "{img_png}"}, "{img_png}: cannot read the rig profile ('utf-8' codec can't decode"),
            ("rig-empty", {"rig": "{empty_toml}"}, "{empty_toml}: canvas: missing"),
            ("rig-folder", {"rig": "{dir}"}, "{dir}: is a directory, not a rig profile"),
            ("rig-impossible-value", {"rig": "{negative_toml}"}, "{negative_toml}: execution.position_noise_mm: must be >= 0, got -1.5"),
            ("out-under-a-file", {"out": "{out_file}/out"}, "{out_file}/out: cannot create it, {out_file} is a file, not a folder"),
            ("out-is-a-file", {"out": "{out_file}"}, "{out_file}: exists and is not a folder"),
            ("seed-negative", {"extra": ["--seed", "-1"]}, "--seed must be a whole number >= 0, got -1"),
        ]
    ],
    # the loop commands photograph the canvas: a rig without room for the markers is refused before planning
    *[(cmd, "rig-no-room-for-markers", {"rig": "pen-plotter"}, "--rig pen-plotter: the canvas's margins of 12 mm are too narrow for the corner markers") for cmd in ("run", "serve", "drive")],
    # -- calibrate ----------------------------------------------------------------------------
    ("calibrate", "pen-plotter", {"rig": "pen-plotter"}, "--rig pen-plotter: stroke calibration is for brush rigs (paints and brushes), not pen plotters"),
    ("calibrate", "photo-missing", {"extra": ["--photo", "{missing_png}"]}, "{missing_png}: no such file"),
    ("calibrate", "photo-not-an-image", {"extra": ["--photo", "{notimg_png}"]}, "{notimg_png}: not an image"),
    ("calibrate", "photo-corrupt", {"extra": ["--photo", "{corrupt_png}"]}, "{corrupt_png}: corrupt or truncated image"),
    ("calibrate", "photo-json", {"extra": ["--photo", "{report_json}"]}, "{report_json}: not an image"),
    ("calibrate", "photo-folder", {"extra": ["--photo", "{dir}"]}, "{dir}: is a folder, not an image"),
    ("calibrate", "photo-not-of-the-sheet", {"extra": ["--photo", "{img_png}"]}, "{img_png}: found 0 of the 4 corner markers"),
    ("calibrate", "photo-and-simulate", {"extra": ["--photo", "{img_png}", "--simulate"]}, "give --photo or --simulate, not both"),
    ("calibrate", "simulate-seed-negative", {"extra": ["--simulate", "--seed", "-3"]}, "--seed must be a whole number >= 0, got -3"),
    # -- run and drive: the image and the plan's settings ------------------------------------
    *[
        (cmd, case, change, says)
        for cmd in ("run", "drive")
        for case, change, says in [
            ("image-missing", {"image": "{missing_png}"}, "{missing_png}: no such file"),
            ("image-not-an-image", {"image": "{notimg_png}"}, "{notimg_png}: not an image"),
            ("image-corrupt", {"image": "{corrupt_png}"}, "{corrupt_png}: corrupt or truncated image"),
            ("image-json", {"image": "{report_json}"}, "{report_json}: not an image"),
            ("image-folder", {"image": "{dir}"}, "{dir}: is a folder, not an image"),
            ("every-zero", {"extra": ["--every", "0"]}, "--every must be a whole number of strokes >= 1, got 0"),
            ("every-negative", {"extra": ["--every", "-5"]}, "--every must be a whole number of strokes >= 1, got -5"),
            ("strokes-zero", {"extra": ["-n", "0"]}, "--strokes must be between 1 and 200000, got 0"),
            ("strokes-negative", {"extra": ["--strokes", "-20"]}, "--strokes must be between 1 and 200000, got -20"),
            ("size-negative", {"extra": ["--size", "-64"]}, "--size must be between 16 and 4096 px, got -64"),
            ("size-too-small", {"extra": ["--size", "8"]}, "--size must be between 16 and 4096 px, got 8"),
            ("jobs-zero", {"extra": ["--jobs", "0"]}, "--jobs must be a whole number of threads >= 1, got 0"),
        ]
    ],
    # -- run --calibrated ---------------------------------------------------------------------
    ("run", "calibrated-missing", {"extra": ["--calibrated", "{missing_toml}"]}, "{missing_toml}: no such rig profile"),
    ("run", "calibrated-json", {"extra": ["--calibrated", "{report_json}"]}, "{report_json}: not valid TOML"),
    ("run", "calibrated-not-toml", {"extra": ["--calibrated", "{bad_toml}"]}, "{bad_toml}: not valid TOML"),
    ("run", "calibrated-without-calibration", {"extra": ["--calibrated", "sim-arm"]}, "--calibrated sim-arm: has no [calibration] section"),
    ("run", "calibrated-another-canvas", {"extra": ["--calibrated", "{other_canvas_toml}"]}, "--calibrated {other_canvas_toml}: its canvas is 500 x 300 mm, the rig's (--rig) is 400 x 300 mm"),
    # a good calibrated profile passes its checks: the next bad input is the one named
    ("run", "calibrated-good-every-zero", {"extra": ["--calibrated", "{calibrated_toml}", "--every", "0"]}, "--every must be a whole number of strokes >= 1, got 0"),
    # -- serve: --every, --timeout ------------------------------------------------------------
    ("serve", "every-zero", {"extra": ["--every", "0"]}, "--every must be a whole number of strokes >= 1, got 0"),
    ("serve", "every-negative", {"extra": ["--every", "-1"]}, "--every must be a whole number of strokes >= 1, got -1"),
    # a negative or NaN timeout used to mean "wait forever"
    ("serve", "timeout-negative", {"extra": ["--timeout", "-1"]}, "--timeout must be a number of seconds >= 0 (0 = wait until interrupted), got -1"),
    ("serve", "timeout-nan", {"extra": ["--timeout", "nan"]}, "--timeout must be a number of seconds >= 0 (0 = wait until interrupted), got nan"),
    ("serve", "timeout-inf", {"extra": ["--timeout", "inf"]}, "--timeout must be a number of seconds >= 0 (0 = wait until interrupted), got inf"),
    # -- drive: --timeout (0 used to wait forever for the rig, then give up on the first photo at once)
    ("drive", "timeout-zero", {"extra": ["--timeout", "0"]}, "--timeout must be a number of seconds > 0, got 0"),
    ("drive", "timeout-negative", {"extra": ["--timeout", "-2"]}, "--timeout must be a number of seconds > 0, got -2"),
    ("drive", "timeout-nan", {"extra": ["--timeout", "nan"]}, "--timeout must be a number of seconds > 0, got nan"),
    # -- serve and drive: the wire ------------------------------------------------------------
    *[
        (cmd, case, change, says)
        for cmd in ("serve", "drive")
        for case, change, says in [
            ("domain-too-large", {"extra": ["--domain-id", "233"]}, "--domain-id must be an integer from 0 to 232 (DDS ports 7400 + 250 x id must fit in 16 bits), got 233"),
            ("domain-negative", {"extra": ["--domain-id", "-1"]}, "--domain-id must be an integer from 0 to 232"),
            ("topic-bad", {"extra": ["--topic", "1strokes"]}, "--topic '1strokes' is not a valid ROS 2 topic name"),
            ("topic-empty", {"extra": ["--topic", ""]}, "--topic: a topic name is required"),
            ("topic-substitution", {"extra": ["--topic", "~/strokes"]}, "--topic '~/strokes' is not a valid ROS 2 topic name"),
            ("plan-topic-bad", {"extra": ["--plan-topic", "painter//plan"]}, "--plan-topic 'painter//plan' is not a valid ROS 2 topic name"),
            ("camera-topic-bad", {"extra": ["--camera-topic", "painter camera"]}, "--camera-topic 'painter camera' is not a valid ROS 2 topic name"),
            ("camera-topic-trailing-slash", {"extra": ["--camera-topic", "/painter/camera/"]}, "--camera-topic '/painter/camera/' is not a valid ROS 2 topic name"),
            ("plan-topic-is-the-stroke-topic", {"extra": ["--plan-topic", "/painter/strokes"]}, "--plan-topic /painter/strokes is also the stroke topic (--topic): the topics must differ"),
            ("camera-topic-is-the-stroke-topic", {"extra": ["--camera-topic", "painter/strokes"]}, "--camera-topic /painter/strokes is also the stroke topic (--topic): the topics must differ"),
            ("camera-topic-is-the-plan-topic", {"extra": ["--plan-topic", "/cam", "--camera-topic", "/cam"]}, "--camera-topic /cam is also the plan topic (--plan-topic): the topics must differ"),
        ]
    ],
]


def _fill(v: object, names: dict[str, object]) -> str:
    return str(v).format(**names)


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("cmd,case,change,says", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cmd, case, change, says, files, tripwires, tmp_path, capsys):
    out_file = tmp_path / "file"
    out_file.write_text("x")
    names = {**{k: str(v) for k, v in files.items()}, "out_file": str(out_file)}
    out = Path(_fill(change.get("out", tmp_path / "o" / "out"), names))
    args = _base(cmd, _fill(change.get("image", "{img_png}"), names), _fill(change.get("rig", "sim-arm"), names), out)
    args += [_fill(a, names) for a in change.get("extra", [])]
    before, inputs = _listing(tmp_path), _listing(files["dir"])
    code, stdout, err = run_cli(["-q", *args], capsys)
    says = _fill(says, names)
    # exactly one line, the error, and it names the problem
    assert code == 2 and err.strip().splitlines() == [err.strip()] and err.startswith("error: ") and says in err, (code, err)
    assert "Traceback" not in err and stdout == "", (stdout, err)
    assert not tripwires, f"{tripwires[0]} started before the bad input was refused"
    # nothing written: no output folder, no staging folder, the file in the way untouched
    assert _listing(tmp_path) == before and out_file.read_text() == "x", _listing(tmp_path)
    assert _listing(files["dir"]) == inputs


@pytest.mark.parametrize(
    "cmd,option,value",
    [("run", "--every", "often"), ("drive", "--strokes", "many"), ("serve", "--domain-id", "zero"), ("calibrate", "--seed", "1.5"), ("serve", "--timeout", "soon")],
)
def test_a_value_of_the_wrong_type_is_a_usage_error(cmd, option, value, files, tripwires, tmp_path, capsys):
    """click's own check: the usage line, then one ``error:`` line naming the option."""
    out = tmp_path / "o"
    code, stdout, err = run_cli(["-q", *_base(cmd, files["img_png"], "sim-arm", out), option, value], capsys)
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert code == 2 and len(lines) == 1 and f"Invalid value for '{option}'" in lines[0], (code, err)
    assert err.startswith(f"Usage: animatepainter rig {cmd} ") and "Traceback" not in err and stdout == ""
    assert not tripwires and not out.exists()


@pytest.mark.parametrize("cmd", ["serve", "drive"])
def test_a_bad_ros_domain_id_from_the_environment_names_the_flag(cmd, files, tripwires, tmp_path, capsys, monkeypatch):
    """--domain-id defaults to $ROS_DOMAIN_ID: a bad value there is refused as the flag's."""
    monkeypatch.setenv("ROS_DOMAIN_ID", "300")
    out = tmp_path / "o"
    args = [a for a in _base(cmd, files["img_png"], "sim-arm", out)]
    i = args.index("--domain-id")
    del args[i : i + 2]
    code, stdout, err = run_cli(["-q", *args], capsys)
    assert code == 2 and err.strip() == "error: --domain-id must be an integer from 0 to 232 (DDS ports 7400 + 250 x id must fit in 16 bits), got 300", err
    assert not tripwires and not out.exists() and stdout == ""


def test_every_command_and_case_is_covered():
    """Each of the four commands has its missing file, unknown profile, impossible number
    and unwritable output case (issue 22's list)."""
    by_cmd: dict[str, set[str]] = {}
    for cmd, case, _, _ in CASES:
        by_cmd.setdefault(cmd, set()).add(case)
    for cmd in ("calibrate", "run", "serve", "drive"):
        assert {"rig-unknown", "rig-missing-file", "rig-not-toml", "out-under-a-file", "seed-negative"} <= by_cmd[cmd], cmd
    for cmd in ("run", "drive"):
        assert {"image-missing", "image-not-an-image", "image-corrupt", "every-zero", "strokes-negative", "size-negative"} <= by_cmd[cmd]
    for cmd in ("serve", "drive"):
        assert {"domain-too-large", "topic-bad", "camera-topic-bad", "timeout-negative", "every-zero"} <= by_cmd[cmd]
    assert {"photo-missing", "photo-not-an-image", "photo-corrupt", "photo-not-of-the-sheet"} <= by_cmd["calibrate"]
