"""Writing files safely: atomic writes, one rule for outputs, temp files cleaned up, one writer per run directory.

Every output is written beside its target under a hidden temp name (``.<name>.<pid>.<random>.tmp``) and
renamed into place, so a target is never left half-written. Files and directories get the usual permissions
(0666 / 0777 minus the umask). Temp names carry the writer's pid: ``clean_stale`` removes those whose
writer is gone (killed by SIGKILL), the next time the same target is written.
"""
from __future__ import annotations

import errno
import fcntl
import os
import secrets
import shutil
from pathlib import Path

from rdsweep.errors import RdsweepError

# the files of a run directory (one place for their names)
CHECKPOINT = "checkpoint.msgpack"
METRICS = "metrics.json"
HISTORY = "history.csv"
TABLES = "codec.npz"  # the integer coding tables the run was evaluated with
CONFIG = "config.yaml"  # the run's resolved config: what later stages (export, figures) read
FAILED = "failed.txt"  # written by a failed job of a sweep; the aggregation reports it
LOCK = ".lock"


def _temp_name(path: Path) -> Path:
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def clean_stale(path: Path) -> None:
    """Remove temp files/directories left beside ``path`` by writers that no longer run."""
    for tmp in Path(path).parent.glob(f".{Path(path).name}.*.tmp"):
        try:
            pid = int(tmp.name[len(Path(path).name) + 2:].split(".")[0])
            os.kill(pid, 0)
            continue  # its writer still runs
        except ProcessLookupError:
            pass
        except (ValueError, PermissionError):
            continue
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same directory, fsync, then rename: never a truncated file."""
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
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise RdsweepError(f"cannot write {path}: {e.strerror}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_directory(out: Path, fill) -> None:
    """Build a directory aside (``fill(tmp_dir)``), then rename it into place (replacing an old ``out``)."""
    out = Path(out)
    clean_stale(out)
    tmp = _temp_name(out)
    try:
        os.mkdir(tmp, 0o777)
    except OSError as e:
        raise RdsweepError(f"cannot write {out}: {e.strerror}") from None
    try:
        fill(tmp)
        if out.is_dir():
            old = _temp_name(out)
            os.rename(out, old)
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RdsweepError(f"cannot write {out}: {e.strerror}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_output(out: Path, inputs=(), force: bool = False, directory: bool = False) -> None:
    """The one rule for a command's output path: never an input of the same command, never a device, FIFO
    or other special file, and an existing file or non-empty directory only with ``force``."""
    out = Path(out)
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


class RunLock:
    """An exclusive lock on a run directory (flock on its .lock file): a second writer is refused at once."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(self.fd)
            if e.errno in (errno.EAGAIN, errno.EACCES):
                raise RdsweepError(f"{self.path.parent} is in use by another run (locked); "
                                   "wait for it or give another hydra.run.dir") from None
            raise
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
