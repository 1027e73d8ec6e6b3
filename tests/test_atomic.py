"""Outputs appear whole or not at all: every writer's failure path.

Faults are injected where a real run meets them (a write that fails half-way: ``fsync``
raising ENOSPC after the bytes went out; a rename refused; a destination under a file),
and each test checks that the old outputs are byte-for-byte as they were and that no
hidden temp file or folder is left beside them. A crash between the two renames of the
fallback swap is simulated with an exception that no cleanup code catches.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from animatepainter.cli import main
from animatepainter.planner import atomic as A
from animatepainter.planner.errors import OutputError

from test_ros2_convert import make_plan


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so no ``except OSError`` or
    ``except Exception`` cleanup runs."""


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every entry under ``root``: file -> bytes, folder -> None, link -> its target."""
    out: dict[str, bytes | None] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = ("-> " + os.readlink(p)).encode()
        elif p.is_dir():
            out[rel] = None
        else:
            out[rel] = p.read_bytes()
    return out


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def enospc(*a, **k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture(params=["exchange", "two-renames"])
def swap_mode(request, monkeypatch):
    """Run a test with the one-step exchange and with the two-rename fallback."""
    if request.param == "two-renames":
        monkeypatch.setattr(A, "_exchange", lambda a, b: False, raising=False)
    elif A._renameat2() is None:
        pytest.skip("renameat2 not available here")
    return request.param


def old_outputs(d: Path) -> dict[str, bytes | None]:
    """An earlier run's outputs in ``d`` plus a file and a folder the user put there."""
    (d / "frames").mkdir(parents=True)
    for name in ("plan.json", "plan.svg", "report.json"):
        (d / name).write_bytes(f"old {name}\n".encode())
    (d / "frames" / "000.png").write_bytes(b"old frame 0")
    (d / "frames" / "001.png").write_bytes(b"old frame 1")
    (d / "notes.txt").write_bytes(b"the user's notes")
    (d / "mine").mkdir()
    (d / "mine" / "a.txt").write_bytes(b"user a")
    (d / "link").symlink_to("notes.txt")
    return snapshot(d)


def write_new(stage: Path, fail_after: str | None = None) -> None:
    """A command's outputs, written one by one (raising after ``fail_after``)."""
    for name in ("plan.json", "plan.svg", "report.json"):
        A.atomic_write_bytes(stage / name, f"new {name}\n".encode())
        if name == fail_after:
            raise RuntimeError("the command failed half-way")
    (stage / "frames").mkdir()
    (stage / "frames" / "000.png").write_bytes(b"new frame 0")


NEW = {
    "plan.json": b"new plan.json\n",
    "plan.svg": b"new plan.svg\n",
    "report.json": b"new report.json\n",
    "frames": None,
    "frames/000.png": b"new frame 0",
}
KEPT = {"notes.txt": b"the user's notes", "mine": None, "mine/a.txt": b"user a", "link": b"-> notes.txt"}


# --------------------------------------------------------------------- single files


def test_atomic_write_bytes_failing_midway_keeps_the_old_file(tmp_path, monkeypatch):
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old")
    monkeypatch.setattr(A.os, "fsync", enospc)  # the bytes were written, the flush fails
    with pytest.raises(OutputError) as e:
        A.atomic_write_bytes(dest, b"new" * 1000)
    assert "\n" not in str(e.value) and str(dest) in str(e.value) and "No space left" in str(e.value)
    assert dest.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_atomic_write_bytes_refused_rename_and_unwritable_places(tmp_path, monkeypatch):
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old")
    with monkeypatch.context() as m:
        m.setattr(A.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
        with pytest.raises(OutputError, match="cannot write"):
            A.atomic_write_bytes(dest, b"new")
    assert dest.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    # under a file: no folder can be made there
    with pytest.raises(OutputError, match="cannot write"):
        A.atomic_write_bytes(dest / "x.bin", b"new")
    if os.geteuid() != 0:  # root writes through permissions
        ro = tmp_path / "ro"
        ro.mkdir()
        (ro / "f").write_bytes(b"old")
        ro.chmod(0o555)
        try:
            with pytest.raises(OutputError, match="cannot write"):
                A.atomic_write_bytes(ro / "f", b"new")
            assert (ro / "f").read_bytes() == b"old" and [p.name for p in ro.iterdir()] == ["f"]
        finally:
            ro.chmod(0o755)


def test_atomic_path_error_in_the_writer_keeps_dest(tmp_path):
    dest = tmp_path / "movie.mp4"
    dest.write_bytes(b"old movie")
    with pytest.raises(RuntimeError):
        with A.atomic_path(dest) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".movie.mp4.") and tmp.suffix == ".mp4"
            tmp.write_bytes(b"half a mov")
            raise RuntimeError("encoder died")
    assert dest.read_bytes() == b"old movie"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie.mp4"]
    with A.atomic_path(dest, suffix=".part") as tmp:
        assert tmp.suffix == ".part"
        tmp.write_bytes(b"new movie")
    assert dest.read_bytes() == b"new movie" and sorted(p.name for p in tmp_path.iterdir()) == ["movie.mp4"]


def test_plan_save_failing_midway_keeps_the_old_plan(tmp_path, monkeypatch):
    plan = make_plan(20, seed=1)
    path = plan.save(tmp_path / "plan.json")
    assert path.read_bytes() == plan.to_json().encode("utf-8")  # exactly the plan's JSON
    before = path.read_bytes()
    with monkeypatch.context() as m:
        m.setattr(A.os, "fsync", enospc)
        with pytest.raises(OutputError):
            make_plan(30, seed=2).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


# --------------------------------------------------------------------- modes, umask


def test_modes_follow_the_umask_which_is_never_set(tmp_path, monkeypatch):
    mask = os.umask(0o027)  # the test sets it; the library must only read it
    try:
        assert A.current_umask() == 0o027 and A._probe_umask() == 0o027

        def no_umask(*a):
            raise AssertionError("os.umask called: it changes the umask of every thread")

        monkeypatch.setattr(A.os, "umask", no_umask)
        assert A.current_umask() == 0o027
        A.atomic_write_bytes(tmp_path / "f.json", b"{}")
        assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == 0o640
        with A.OutputDir(tmp_path / "new") as stage:
            (stage / "a").write_bytes(b"a")
        assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o750
        (tmp_path / "new").chmod(0o705)  # an existing folder keeps its own mode
        with A.OutputDir(tmp_path / "new") as stage:
            (stage / "b").write_bytes(b"b")
        assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o705
        assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["a", "b"]
    finally:
        monkeypatch.undo()
        os.umask(mask)


# --------------------------------------------------------------------- OutputDir


def test_output_dir_new_folder_whole_or_nothing(tmp_path, monkeypatch):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with A.OutputDir(out) as stage:
            write_new(stage, fail_after="plan.svg")
    assert list(tmp_path.iterdir()) == []
    # the publishing rename refused
    with monkeypatch.context() as m:
        m.setattr(A.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
        with pytest.raises(OutputError, match="cannot publish outputs"):
            with A.OutputDir(out) as stage:
                (stage / "plan.json").write_bytes(b"x")
    assert list(tmp_path.iterdir()) == []
    with A.OutputDir(out) as stage:
        write_new(stage)
    assert snapshot(out) == NEW and hidden(tmp_path) == []


def test_output_dir_existing_folder_updated_in_one_step(tmp_path, swap_mode):
    out = tmp_path / "run"
    old_outputs(out)
    with A.OutputDir(out) as stage:
        write_new(stage)
    # the outputs are new (frames/ replaced whole: 001.png is gone), the user's entries kept
    assert snapshot(out) == {**NEW, **KEPT}
    assert hidden(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_output_dir_existing_folder_error_in_the_command(tmp_path, swap_mode):
    out = tmp_path / "run"
    before = old_outputs(out)
    with pytest.raises(RuntimeError):
        with A.OutputDir(out) as stage:
            write_new(stage, fail_after="plan.json")
    assert snapshot(out) == before and hidden(tmp_path) == []


def test_output_dir_existing_folder_publish_fails_after_the_first_rename(tmp_path, monkeypatch, swap_mode):
    """The fault that file-by-file publishing fails: the 2nd rename of the publish step
    is refused (for the exchange: the exchange itself). The old outputs stay together."""
    out = tmp_path / "run"
    before = old_outputs(out)
    real_replace = os.replace
    calls = []

    def replace(src, dst):  # counts the renames of the publish step
        calls.append((src, dst))
        if len(calls) == 2:
            raise OSError(errno.EIO, "I/O error")
        return real_replace(src, dst)

    def exchange(a, b):
        raise OSError(errno.EIO, "I/O error")

    with pytest.raises(OutputError, match="cannot publish outputs"):
        with A.OutputDir(out) as stage:
            write_new(stage)  # atomic_write_bytes' own renames happen here, inside the stage
            monkeypatch.setattr(A.os, "replace", replace)
            if swap_mode == "exchange":
                monkeypatch.setattr(A, "_exchange", exchange, raising=False)
    monkeypatch.setattr(A.os, "replace", real_replace)
    assert snapshot(out) == before and hidden(tmp_path) == []


def test_crash_between_the_two_renames_is_recoverable(tmp_path, monkeypatch):
    monkeypatch.setattr(A, "_exchange", lambda a, b: False, raising=False)
    out = tmp_path / "run"
    before = old_outputs(out)
    real_replace = os.replace

    def replace(src, dst):
        if Path(src).name.startswith(".run.tmp-") and Path(dst) == out:
            raise Crash  # the old folder is aside, the new one not yet in place
        return real_replace(src, dst)

    with pytest.raises(Crash):
        with A.OutputDir(out) as stage:
            write_new(stage)
            monkeypatch.setattr(A.os, "replace", replace)
    monkeypatch.setattr(A.os, "replace", real_replace)
    assert not out.exists()
    olds = [p for p in tmp_path.iterdir() if p.name.startswith(".run.old-")]
    news = [p for p in tmp_path.iterdir() if p.name.startswith(".run.tmp-")]
    assert len(olds) == len(news) == 1
    assert snapshot(olds[0]) == before and snapshot(news[0]) == {**NEW, **KEPT}  # both complete
    # the next command writing there finishes the swap before it starts
    with A.OutputDir(out) as stage:
        (stage / "report.json").write_bytes(b"third\n")
    assert snapshot(out) == {**NEW, **KEPT, "report.json": b"third\n"}
    assert hidden(tmp_path) == []


def test_recovery_puts_the_old_folder_back_without_a_new_one(tmp_path):
    out = tmp_path / "run"
    before = old_outputs(out)
    os.replace(out, tmp_path / ".run.old-abc")  # crashed after the first rename; new one lost
    A.recover_dir(out)
    assert snapshot(out) == before and hidden(tmp_path) == []
    # a left-over old folder beside a complete destination is removed, nothing else
    (tmp_path / ".run.old-def").mkdir()
    (tmp_path / ".run.tmp-xyz").mkdir()  # maybe another run staging: left alone
    A.recover_dir(out)
    assert snapshot(out) == before and hidden(tmp_path) == [".run.tmp-xyz"]


def test_output_dir_through_a_link_and_from_inside(tmp_path, monkeypatch, swap_mode):
    real = tmp_path / "real"
    old_outputs(real)
    (tmp_path / "alias").symlink_to("real")
    monkeypatch.chdir(real / "mine")
    with A.OutputDir(tmp_path / "alias") as stage:
        write_new(stage)
    assert (tmp_path / "alias").is_symlink() and snapshot(real) == {**NEW, **KEPT}
    # this process now stands in the new folder, not the removed one
    assert Path(os.getcwd()) == real / "mine" and Path("a.txt").read_bytes() == b"user a"
    assert hidden(tmp_path) == []


# --------------------------------------------------------------------- commands


def assert_one_error(err: str, needle: str) -> None:
    """The command said one ``error:`` line naming the problem (warnings may precede it)."""
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], err
    assert "Traceback" not in err and "internal error" not in err


@pytest.fixture
def plan_file(tmp_path) -> Path:
    p = tmp_path / "in" / "plan.json"
    p.parent.mkdir()
    make_plan(12, seed=4).save(p)
    return p


COMMANDS = {
    "export gcode": (["export", "gcode", "{plan}", "-o", "{out}", "--machine", "pen-plotter"], "out.gcode"),
    "export svg": (["export", "svg", "{plan}", "-o", "{out}"], "out.svg"),
    "export json": (["export", "json", "{plan}", "-o", "{out}", "--machine", "pen-plotter"], "out.json"),
    "viewer": (["viewer", "{plan}", "-o", "{out}"], "out.html"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_file_commands_fail_whole(command, plan_file, tmp_path, capsys, monkeypatch):
    args, name = COMMANDS[command]
    outdir = tmp_path / "o"
    outdir.mkdir()
    out = outdir / name
    fill = lambda o: [a.format(plan=plan_file, out=o) for a in args]  # noqa: E731
    assert main(["-q", *fill(out)]) == 0
    good = out.read_bytes()
    assert len(good) > 100
    capsys.readouterr()
    # 1. the write fails half-way (disk full at the flush)
    with monkeypatch.context() as m:
        m.setattr(A.os, "fsync", enospc)
        assert main(["-q", *fill(out)]) == 2
    assert_one_error(capsys.readouterr().err, "No space left")
    assert out.read_bytes() == good and sorted(p.name for p in outdir.iterdir()) == [name]
    # 2. an unwritable destination: under a file
    assert main(["-q", *fill(out / name)]) == 2
    assert_one_error(capsys.readouterr().err, "cannot")
    assert out.read_bytes() == good and sorted(p.name for p in outdir.iterdir()) == [name]


def test_export_rosbag_overwrite_fails_whole(tmp_path, capsys, monkeypatch):
    from animatepainter.export.ros import convert

    plan = tmp_path / "plan.json"
    make_plan(8, seed=5).save(plan)
    bag = tmp_path / "bags" / "b"
    cmd = ["-q", "export", "rosbag", str(plan), "-o", str(bag), "--rate", "50", "--start-ns", "1"]
    assert main(cmd) == 0
    (bag / "extra.txt").write_bytes(b"not part of the bag")
    before = snapshot(bag)
    capsys.readouterr()
    # 1. the writer fails half-way through the strokes
    real = convert.stroke_to_dict

    def stroke_to_dict(plan, i, **k):
        if i == 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(plan, i, **k)

    with monkeypatch.context() as m:
        m.setattr(convert, "stroke_to_dict", stroke_to_dict)
        assert main([*cmd, "--overwrite"]) == 2
    assert_one_error(capsys.readouterr().err, "No space left")
    assert snapshot(bag) == before and sorted(p.name for p in bag.parent.iterdir()) == ["b"]
    # 2. the swap is refused (exchange, and the second rename of the fallback)
    with monkeypatch.context() as m:
        m.setattr(A, "_exchange", lambda a, b: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")), raising=False)
        assert main([*cmd, "--overwrite"]) == 2
    assert_one_error(capsys.readouterr().err, "cannot publish the bag")
    assert snapshot(bag) == before and sorted(p.name for p in bag.parent.iterdir()) == ["b"]
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst) == bag.resolve() and Path(src).name.startswith(".b.tmp-"):
            raise OSError(errno.EIO, "I/O error")
        return real_replace(src, dst)

    with monkeypatch.context() as m:
        m.setattr(A, "_exchange", lambda a, b: False, raising=False)
        m.setattr(A.os, "replace", replace)
        assert main([*cmd, "--overwrite"]) == 2
    assert_one_error(capsys.readouterr().err, "cannot publish the bag")
    assert snapshot(bag) == before and sorted(p.name for p in bag.parent.iterdir()) == ["b"]
    # --overwrite replaces the bag whole (its extra file goes), in one step
    with monkeypatch.context() as m:
        m.setattr(A.os, "umask", lambda *a: (_ for _ in ()).throw(AssertionError("os.umask called")))
        assert main([*cmd, "--overwrite"]) == 0
    after = snapshot(bag)
    assert "extra.txt" not in after and {k: v for k, v in before.items() if k != "extra.txt"} == after
    assert sorted(p.name for p in bag.parent.iterdir()) == ["b"]
