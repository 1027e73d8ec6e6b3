"""Write outputs whole or not at all: temp file (or folder) + rename.

Every file the package writes goes through :func:`atomic_write_bytes` or
:func:`atomic_path` (a temp name in the destination's folder, renamed over the
destination only once complete), and commands that write several files stage them in
:class:`OutputDir` and publish them together at the end, into a new folder or an
existing one alike (:func:`publish_dir`: the staged folder is swapped in for the old
one in one step).

Nothing here changes the process umask (other threads, DDS, numba, rich, run while we
write): temp files and folders are created with the usual modes (``0o666`` /
``0o777``) and the kernel applies the umask and any default ACL, as for any other
file; :func:`current_umask` reads the umask without setting it.

Hidden names beside a destination ``NAME`` (in its folder):

* ``.NAME.<random><suffix>``: a file being written by :func:`atomic_path`;
* ``.NAME.tmp-<token>``: a folder being staged (or, after a swap, the old folder being
  removed);
* ``.NAME.old-<token>``: the old folder during the two-rename swap used where the
  atomic exchange is not available (see :func:`publish_dir`).

A run killed mid-way can leave one of them; :func:`recover_dir` (which
:class:`OutputDir` calls first) completes an interrupted swap, and stale ``.tmp-``
entries may be deleted by hand.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import os
import secrets
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from animatepainter.planner.errors import OutputError

__all__ = [
    "atomic_write_bytes",
    "atomic_path",
    "OutputDir",
    "check_writable_dir",
    "current_umask",
    "stage_dir",
    "publish_dir",
    "recover_dir",
]


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


# ---------------------------------------------------------------------------------
# umask, temp names


def current_umask() -> int:
    """The process umask, read without changing it.

    Linux reports it in ``/proc/self/status`` (``Umask:``); elsewhere (or where /proc
    is hidden) a probe file created with mode ``0o666`` shows which permission bits the
    kernel removes (execute bits are assumed masked like the read bits of the same
    class). Calling ``os.umask`` to read it would set it for every thread for a moment.
    """
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    return _probe_umask()


def _probe_umask() -> int:
    """The umask as seen on a probe file in the system temp folder (fallback)."""
    fd, path = _create_unique(Path(tempfile.gettempdir()), ".animatepainter-umask-", "")
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
    masked = 0o666 & ~mode
    execs = sum(0o111 & (bit >> 2) for bit in (0o400, 0o040, 0o004) if masked & bit)
    return masked | execs


def _create_unique(folder: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """Create a new file ``folder/prefix<random>suffix`` (mode 0o666 less the umask);
    return its open (write) descriptor and path."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        path = folder / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temp name", str(folder / prefix))


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------
# single files


@contextlib.contextmanager
def atomic_path(dest: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside ``dest``; on success it is renamed to ``dest``.

    The temp file (``.NAME.<random><suffix>`` in ``dest``'s folder, created empty with
    mode ``0o666`` less the umask) keeps ``dest``'s suffix (or ``suffix``) so that
    writers which pick a format from the extension (video, images) still work. On
    error it is removed and ``dest`` is untouched.
    """
    dest = Path(dest)
    probe = dest.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OutputError(f"{dest}: cannot write there, {probe} is a file, not a folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_path = _create_unique(dest.parent, f".{dest.name}.", suffix if suffix is not None else dest.suffix)
    os.close(fd)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
    _fsync_dir(dest.parent)


def atomic_write_bytes(dest: str | Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically (temp file, fsync, rename).

    Raises:
        OutputError: the file cannot be written (permission, disk full, ...); ``dest``
            is then as it was and no temp file is left.
    """
    try:
        with atomic_path(dest) as tmp:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
    except OSError as e:
        raise OutputError(f"{dest}: cannot write ({e.strerror or e})") from None


# ---------------------------------------------------------------------------------
# folders

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_renameat2_fn: object = None  # None: not looked up yet; False: not available


def _renameat2():
    """libc's ``renameat2`` (Linux, glibc >= 2.28 / musl), or None."""
    global _renameat2_fn
    if _renameat2_fn is None:
        _renameat2_fn = False
        with contextlib.suppress(OSError, AttributeError, TypeError):
            fn = ctypes.CDLL(None, use_errno=True).renameat2
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            fn.restype = ctypes.c_int
            _renameat2_fn = fn
    return _renameat2_fn or None


def _exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` in one step (Linux ``RENAME_EXCHANGE``).

    Returns False where the system or file system cannot (the caller then renames
    twice); raises OSError for other failures.
    """
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(a))


def _real(dest: str | Path) -> Path:
    """The folder a destination names, links followed (a link to a folder keeps
    pointing at the published one)."""
    return Path(os.path.realpath(Path(dest)))


def stage_dir(dest: str | Path) -> Path:
    """Create an empty staging folder ``.NAME.tmp-<token>`` beside ``dest``.

    It is created with mode ``0o777`` less the umask (the mode a new ``dest`` gets).
    Fill it, then :func:`publish_dir` it.
    """
    target = _real(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        stage = target.parent / f".{target.name}.tmp-{secrets.token_hex(6)}"
        try:
            os.mkdir(stage, 0o777)
            return stage
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free staging name", str(target))


def _link_or_copy(src: str, dst: str) -> None:
    """Hard-link ``src`` as ``dst`` (no data copied), or copy it where links fail."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _carry_over(old: Path, stage: Path) -> None:
    """Give ``stage`` every top-level entry of ``old`` that it does not have itself
    (files hard-linked, folders rebuilt with hard links, links copied as links)."""
    with os.scandir(old) as it:
        for e in it:
            dst = stage / e.name
            if os.path.lexists(dst):
                continue
            if e.is_symlink():
                os.symlink(os.readlink(e.path), dst)
            elif e.is_dir(follow_symlinks=False):
                shutil.copytree(e.path, dst, symlinks=True, copy_function=_link_or_copy)
            else:
                _link_or_copy(e.path, str(dst))


def _fsync_tree(root: Path) -> None:
    """Flush every file and folder under ``root`` to disk before it is published."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            p = os.path.join(folder, name)
            if os.path.islink(p):
                continue
            with contextlib.suppress(OSError):
                fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        _fsync_dir(Path(folder))


def publish_dir(stage: str | Path, dest: str | Path, *, keep_others: bool = True) -> None:
    """Put the complete folder ``stage`` (from :func:`stage_dir`) at ``dest``, all at once.

    * ``dest`` missing: ``stage`` is renamed to it.
    * ``dest`` a folder: the new folder is swapped in for the old one, which is then
      removed. With ``keep_others`` (what commands writing into an output folder use),
      entries of the old folder that ``stage`` does not have (files of other commands,
      the user's own files) are carried over into the new folder first, as hard links
      (copies where links fail), and the new folder gets the old one's permission bits;
      an entry that ``stage`` has replaces the old one whole (a folder such as
      ``frames/`` included). Without it, ``dest`` is replaced whole.

    The swap is one ``renameat2(RENAME_EXCHANGE)`` on Linux file systems that have it:
    at every moment ``dest`` is the complete old or the complete new folder. Elsewhere
    it is two renames (``dest`` -> ``.NAME.old-<token>``, then ``stage`` -> ``dest``):
    an error in between puts the old folder back; a crash in between leaves ``dest``
    missing and both folders complete beside it, and :func:`recover_dir` (run by the
    next :class:`OutputDir` on ``dest``) finishes the swap.

    ``dest`` keeps its path but is a new folder: a process whose current folder is (in)
    ``dest`` is still in the old, removed one (this process is moved into the new one).

    Raises:
        OSError: the swap failed; ``dest`` is then as it was, ``stage`` is left to the
            caller.
    """
    stage = Path(stage)
    target = _real(dest)
    if stage.parent != target.parent or not stage.name.startswith(f".{target.name}.tmp-"):
        raise ValueError(f"{stage}: not a staging folder of {target} (use stage_dir)")
    if not target.exists():
        _fsync_tree(stage)
        os.replace(stage, target)
        _fsync_dir(target.parent)
        return
    if not target.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", str(target))
    if keep_others:
        _carry_over(target, stage)
        os.chmod(stage, stat.S_IMODE(os.stat(target).st_mode))
    _fsync_tree(stage)
    cwd = _cwd_inside(target)
    if _exchange(stage, target):
        removed = stage  # now holds the old folder
    else:
        removed = target.parent / f".{target.name}.old-{stage.name.rsplit('.tmp-', 1)[1]}"
        os.replace(target, removed)
        try:
            os.replace(stage, target)
        except OSError:
            with contextlib.suppress(OSError):
                os.replace(removed, target)
            raise
    _fsync_dir(target.parent)
    if cwd is not None:
        with contextlib.suppress(OSError):
            os.chdir(target / cwd if (target / cwd).is_dir() else target)
    shutil.rmtree(removed, ignore_errors=True)


def _cwd_inside(target: Path) -> str | None:
    """This process's current folder relative to ``target``, if it is inside it."""
    try:
        cwd = os.getcwd()
    except OSError:
        return None
    t = str(target)
    if cwd == t or cwd.startswith(t.rstrip(os.sep) + os.sep):
        return os.path.relpath(cwd, t)
    return None


def recover_dir(dest: str | Path) -> None:
    """Finish a folder swap that a crash interrupted (see :func:`publish_dir`).

    Where ``dest`` is missing and ``.NAME.old-<token>`` is beside it, the new folder
    ``.NAME.tmp-<token>`` (complete: the old one is only moved aside once it is) is
    renamed to ``dest``, or, without it, the old folder is put back. Left-over old
    folders beside an existing ``dest`` are removed. Nothing else is touched.
    """
    target = _real(dest)
    pattern = str(target.parent / f".{glob.escape(target.name)}.old-*")
    for old in sorted(glob.glob(pattern)):
        old_p = Path(old)
        if not old_p.is_dir() or old_p.is_symlink():
            continue
        if not os.path.lexists(target):
            new = target.parent / f".{target.name}.tmp-{old_p.name.rsplit('.old-', 1)[1]}"
            if new.is_dir() and not new.is_symlink():
                os.replace(new, target)
            else:
                os.replace(old_p, target)
                continue
        shutil.rmtree(old_p, ignore_errors=True)


class OutputDir:
    """Stage a command's outputs in a hidden folder beside ``outdir``; publish them
    together, into a new or an existing folder.

    Use as a context manager::

        with OutputDir(outdir) as stage:
            plan.save(stage / "plan.json")
            ...

    On a clean exit the staged folder becomes ``outdir`` in one step
    (:func:`publish_dir` with ``keep_others``): a new ``outdir`` appears with all its
    files; an existing one is swapped for a folder holding the new outputs plus every
    entry of the old one that the command did not write (those are kept, as before);
    an older output of the same name is replaced, a sub-folder such as ``frames/``
    whole. On an error (in the block, or while publishing) the stage is deleted and
    ``outdir`` is left as it was.

    Raises:
        OutputError: ``outdir`` cannot be written, or publishing failed.
    """

    def __init__(self, outdir: str | Path):
        self.outdir = Path(outdir)
        self.stage: Path | None = None

    def __enter__(self) -> Path:
        check_writable_dir(self.outdir)
        try:
            recover_dir(self.outdir)
            self.stage = stage_dir(self.outdir)
        except OSError as e:
            raise OutputError(f"{self.outdir}: cannot write there ({e.strerror or e})") from None
        return self.stage

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self.stage is not None
        if exc_type is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
            return False
        try:
            publish_dir(self.stage, self.outdir, keep_others=True)
        except OSError as e:
            shutil.rmtree(self.stage, ignore_errors=True)
            raise OutputError(f"{self.outdir}: cannot publish outputs ({e.strerror or e})") from None
        return False
