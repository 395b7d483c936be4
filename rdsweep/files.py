"""Writing files safely: atomic writes, one rule for outputs, temp files cleaned up, one writer per run directory.

Every output is written beside its target under a hidden temp name (``.<name>.<pid>.<random>.tmp``, the name
shortened where it is long) and renamed into place, so a target is never left half-written; not after a Ctrl-C
or SIGTERM either (``errors.check_interrupt`` just before the rename). Inputs are read with ``open_regular``:
regular files of a bounded size only, never a device or a FIFO. Files and directories get the usual permissions
(0666 / 0777 minus the umask). Temp names carry the writer's pid: ``clean_stale`` removes those whose
writer is gone (killed by SIGKILL), the next time the same target is written.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import glob
import hashlib
import os
import re
import secrets
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path

from rdsweep.errors import RdsweepError, check_interrupt

# the files of a run directory (one place for their names)
CHECKPOINT = "checkpoint.msgpack"
METRICS = "metrics.json"
HISTORY = "history.csv"
TABLES = "codec.npz"  # the integer coding tables the run was evaluated with
CONFIG = "config.yaml"  # the run's resolved config: what later stages (export, figures) read
FAILED = "failed.txt"  # written by a failed job of a sweep; the aggregation reports it
LOCK = ".lock"
LOG = "rdsweep.log"  # Hydra's job log (hydra.job.name)
DIGITS = "digits.npz"  # each test digit's information content, string length, MSE and PSNR
RUN_FILES = {CHECKPOINT, METRICS, HISTORY, TABLES, CONFIG, FAILED, LOCK, LOG, DIGITS}  # regular files, never links
POINTS = "points"  # a variable-rate run's records, one directory per operating point
RUN_DIRS = {"tensorboard", "figures", POINTS}  # what a run directory may hold besides (a logger's, figures', points)


def _stem(path: Path) -> str:
    """The target's name as temp names carry it: shortened (with a hash) where the temp name would pass the
    255-byte limit of a file name, so that any name that can be written can be written aside first."""
    name = Path(path).name
    raw = os.fsencode(name)  # the bytes on disk: a name that is not UTF-8 carries surrogate escapes
    if len(raw) <= 200:
        return name
    return os.fsdecode(raw[:160]) + "~" + hashlib.sha256(raw).hexdigest()[:12]


TEMP_SUFFIX = ".rdsweep-tmp"


def _temp_name(path: Path) -> Path:
    return path.parent / f".{_stem(path)}.{os.getpid()}.{secrets.token_hex(8)}{TEMP_SUFFIX}"


_TEMP = re.compile(rf"\.(.+)\.\d{{1,10}}\.[0-9a-f]{{16}}{re.escape(TEMP_SUFFIX)}", re.DOTALL)


def temp_target(entry: str) -> str | None:
    """The name a temp file of ``_temp_name`` is written for (the target's stem); None for any other name."""
    match = _TEMP.fullmatch(entry)
    return match.group(1) if match else None


def clean_stale(path: Path) -> None:
    """Remove temp files/directories left beside ``path`` by writers that no longer run (killed by SIGKILL):
    only entries named exactly as ``_temp_name`` makes them (pid, 16 hex digits, the rdsweep suffix), owned by
    this user, a regular file or a real directory (never a link's target), whose pid no longer runs."""
    stem = _stem(path)
    pattern = re.compile(rf"\.{re.escape(stem)}\.(\d{{1,10}})\.[0-9a-f]{{16}}{re.escape(TEMP_SUFFIX)}")
    for tmp in Path(path).parent.glob(f".{glob.escape(stem)}.*{TEMP_SUFFIX}"):
        match = pattern.fullmatch(tmp.name)
        try:
            st = os.lstat(tmp)
            if not match or st.st_uid != os.geteuid() or not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                continue
            os.kill(int(match.group(1)), 0)
            continue  # its writer still runs
        except ProcessLookupError:
            pass
        except (OSError, OverflowError):
            continue
        shutil.rmtree(tmp, ignore_errors=True) if stat.S_ISDIR(st.st_mode) else tmp.unlink(missing_ok=True)


def _libc_renameat2():
    try:
        return ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None


_RENAMEAT2 = _libc_renameat2()


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename src to dst unless dst exists (atomically where the kernel can: renameat2 RENAME_NOREPLACE), so
    that two writers of the same new output cannot both win; FileExistsError otherwise."""
    if _RENAMEAT2 is not None:
        if _RENAMEAT2(-100, os.fsencode(src), -100, os.fsencode(dst), 1) == 0:  # AT_FDCWD, RENAME_NOREPLACE
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL):  # EINVAL: a filesystem without the flag
            raise OSError(err, os.strerror(err), str(dst))
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    os.rename(src, dst)


def _exists_error(path: Path) -> RdsweepError:
    return RdsweepError(f"{path}: exists (written meanwhile by another command; use --force to replace it)")


def atomic_write_bytes(path: Path, data: bytes, replace: bool = True, interruptible: bool = True) -> None:
    """Write to a temp file in the same directory, fsync, then rename: never a truncated file. With
    ``replace=False`` an existing ``path`` (even one written meanwhile by another process) is refused. A Ctrl-C
    or SIGTERM received meanwhile stops it before the rename, unless ``interruptible`` is False (the record of
    that interruption itself)."""
    path = Path(path)
    clean_stale(path)
    tmp = _temp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
    except OSError as e:
        raise RdsweepError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if interruptible:
            check_interrupt()
        os.replace(tmp, path) if replace else rename_noreplace(tmp, path)
    except FileExistsError:
        tmp.unlink(missing_ok=True)
        raise _exists_error(path) from None
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise RdsweepError(f"cannot write {path}: {e.strerror}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, interruptible: bool = True) -> None:
    atomic_write_bytes(path, text.encode(), interruptible=interruptible)


def write_directory(out: Path, fill, replace: bool = True) -> None:
    """Build a directory aside (``fill(tmp_dir)``), then rename it into place: over an old ``out`` with
    ``replace``; else only where ``out`` is absent or an empty directory, even if another writer was quicker."""
    out = Path(out)
    clean_stale(out)
    tmp = _temp_name(out)
    try:
        os.mkdir(tmp, 0o777)
    except OSError as e:
        raise RdsweepError(f"cannot write {out}: {e.strerror}") from None
    try:
        fill(tmp)
        check_interrupt()
        if replace and out.is_dir():
            old = _temp_name(out)
            os.rename(out, old)
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if out.is_dir() and not out.is_symlink():
                os.rmdir(out)  # only an empty one: a filled one raises, as if another writer was quicker
            rename_noreplace(tmp, out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, (FileExistsError, IsADirectoryError)) or e.errno == errno.ENOTEMPTY:
            raise _exists_error(out) from None
        raise RdsweepError(f"cannot write {out}: {e.strerror}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def open_regular(path, limit: int, what: str = ""):
    """``(file, size)`` of a regular file of at most ``limit`` bytes, checked before anything is read: a device
    (/dev/zero never ends), a FIFO (would block), a directory or a larger file is refused in one line."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # O_NONBLOCK: opening a FIFO never waits for a writer
    except OSError as e:
        raise RdsweepError(f"cannot read {what}{path}: {e.strerror or e}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
        os.close(fd)
        raise RdsweepError(f"cannot read {what}{path}: not a regular file" if not stat.S_ISREG(st.st_mode) else
                           f"{what}{path}: {st.st_size} bytes, more than the {limit} this reads")
    with os.fdopen(fd, "rb") as f:
        yield f, st.st_size


def read_regular(path, limit: int, what: str = "") -> bytes:
    """All bytes of a regular file of at most ``limit`` bytes (``open_regular``'s rules)."""
    with open_regular(path, limit, what) as (f, size):
        try:
            data = f.read(size + 1)  # what the file holds (never the whole limit: it is reserved, not read)
        except OSError as e:
            raise RdsweepError(f"cannot read {what}{path}: {e.strerror or e}") from None
    if len(data) != size:  # grew or shrank while being read
        raise RdsweepError(f"{what}{path}: changed while being read")
    return data


def _inside(path: Path, directory: Path) -> bool:
    try:
        path, directory = Path(os.path.realpath(path)), Path(os.path.realpath(directory))
    except (OSError, ValueError):
        return False
    return path == directory or directory in path.parents


def check_output(out: Path, inputs=(), force: bool = False, directory: bool = False) -> None:
    """The one rule for a command's output path: never an input of the same command, never a device, FIFO
    or other special file, and an existing file or non-empty directory only with ``force``. A directory is
    replaced whole, so it may not hold an input of the command nor the working directory."""
    out = Path(out)
    if directory and out.is_dir() and not out.is_symlink():
        for src in inputs:
            if _inside(src, out):
                raise RdsweepError(f"{out}: holds {src}, an input of this command; give another output")
        if _inside(Path.cwd(), out):
            raise RdsweepError(f"{out}: is the working directory or holds it; give another output")
    for src in inputs:
        try:
            if out.exists() and os.path.samefile(out, src):
                raise RdsweepError(f"{out}: is an input of this command; give another output")
        except OSError:
            pass
        if Path(os.path.abspath(out)) == Path(os.path.abspath(src)):
            raise RdsweepError(f"{out}: is an input of this command; give another output")
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not (out.is_file() or out.is_dir()):
        raise RdsweepError(f"{out}: exists and is not a regular file or directory; give another output")
    if directory != out.is_dir():
        raise RdsweepError(f"{out}: exists and is a {'directory' if out.is_dir() else 'file'}")
    if not force and (out.is_file() or any(out.iterdir())):
        raise RdsweepError(f"{out}: exists (use --force to replace it)")


class ForeignRunError(RdsweepError):
    """The run directory holds another run (its lock, or a checkpoint or finished record of other settings):
    this one must not touch it, not even to record its failure."""


class RunLockedError(ForeignRunError):
    """Another run holds the run directory's lock."""


class RunLock:
    """An exclusive lock on a run directory (flock on its .lock file): a second writer is refused at once."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self.fd = None

    def __enter__(self):
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW, 0o666)
        except OSError as e:  # .lock a directory, an unwritable run directory, ...
            raise RdsweepError(f"cannot lock {self.path.parent} ({self.path}: {e.strerror or e})") from None
        try:
            if not stat.S_ISREG(os.fstat(self.fd).st_mode):
                raise RdsweepError(f"cannot lock {self.path.parent} ({self.path}: not a regular file)")
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(self.fd)
            if e.errno in (errno.EAGAIN, errno.EACCES):
                raise RunLockedError(f"{self.path.parent} is in use by another run (locked); "
                                     "wait for it or give another hydra.run.dir") from None
            raise RdsweepError(f"cannot lock {self.path.parent} ({self.path}: {e.strerror or e})") from None
        except RdsweepError:
            os.close(self.fd)
            raise
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
