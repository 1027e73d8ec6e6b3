"""Write outputs whole or not at all: temp file (or folder) + rename.

Every file the package writes goes through :func:`atomic_write_bytes` or
:func:`atomic_path` (a temp name in the destination's folder, renamed over the
destination only once complete), and commands that write several files stage them in
:class:`OutputDir` and publish them together at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from animatepainter.planner.errors import OutputError

__all__ = ["atomic_write_bytes", "atomic_path", "OutputDir", "check_writable_dir"]


def check_writable_dir(path: Path) -> None:
    """Fail early, with one line, if ``path`` cannot become a writable folder.

    Raises:
        OutputError: ``path`` is a file, or it (or its nearest existing parent) is not
            writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a folder")
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"{path}: cannot create it, {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write there (permission denied on {probe})")


@contextlib.contextmanager
def atomic_path(dest: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside ``dest``; on success it is renamed to ``dest``.

    The temp file keeps ``dest``'s suffix (or ``suffix``) so that writers which pick a
    format from the extension (video, images) still work. On error it is removed and
    ``dest`` is untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix if suffix is not None else dest.suffix, dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes 0600 files; published files get the usual mode
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write_bytes(dest: str | Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically (temp file, fsync, rename)."""
    try:
        with atomic_path(dest) as tmp:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
    except PermissionError as e:
        raise OutputError(f"{dest}: cannot write ({e.strerror})") from None


class OutputDir:
    """Stage a command's outputs in a hidden temp folder; publish them together.

    Use as a context manager::

        with OutputDir(outdir) as stage:
            plan.save(stage / "plan.json")
            ...

    On a clean exit every staged file is moved into ``outdir`` (created if needed).
    If ``outdir`` did not exist, the staged folder is renamed to it in one step, so
    the outputs appear all at once; otherwise each file is renamed in, replacing
    older outputs of the same name. On an error the stage is deleted and ``outdir``
    is left as it was.
    """

    def __init__(self, outdir: str | Path):
        self.outdir = Path(outdir)
        self.stage: Path | None = None

    def __enter__(self) -> Path:
        check_writable_dir(self.outdir)
        parent = self.outdir.resolve().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.stage = Path(tempfile.mkdtemp(prefix=f".{self.outdir.name}.tmp-", dir=parent))
        except OSError as e:
            raise OutputError(f"{self.outdir}: cannot write there ({e.strerror})") from None
        return self.stage

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self.stage is not None
        if exc_type is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
            return False
        try:
            if not self.outdir.exists():
                os.replace(self.stage, self.outdir)
                # mkdtemp makes 0700 folders; give the published one the usual mode
                os.chmod(self.outdir, 0o777 & ~_umask())
            else:
                for item in sorted(self.stage.iterdir()):
                    target = self.outdir / item.name
                    if target.is_dir() and not target.is_symlink():
                        shutil.rmtree(target)
                    os.replace(item, target)
                shutil.rmtree(self.stage, ignore_errors=True)
        except OSError as e:
            shutil.rmtree(self.stage, ignore_errors=True)
            raise OutputError(f"{self.outdir}: cannot publish outputs ({e.strerror})") from None
        return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
