"""Writing files: atomic, usual permissions, one output rule, temp files cleaned, one writer per run dir."""
import os
import stat

import pytest

from rdsweep.errors import RdsweepError
from rdsweep.files import RunLock, atomic_write_bytes, check_output, clean_stale, write_directory


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "f", b"x")
        write_directory(tmp_path / "d", lambda d: (d / "a").write_bytes(b"y"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "f"]  # no temp files left


def test_one_rule_for_outputs(tmp_path):
    src = tmp_path / "in.npy"
    src.write_bytes(b"1")
    with pytest.raises(RdsweepError, match="is an input of this command"):
        check_output(src, [src], force=True)
    os.symlink(src, tmp_path / "link")
    with pytest.raises(RdsweepError, match="is an input of this command"):
        check_output(tmp_path / "link", [src], force=True)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(RdsweepError, match="not a regular file or directory"):
        check_output(tmp_path / "fifo", [src], force=True)
    with pytest.raises(RdsweepError, match="not a regular file or directory"):
        check_output("/dev/null", [src], force=True)
    with pytest.raises(RdsweepError, match="use --force"):
        check_output(src, [], force=False)
    (tmp_path / "dir").mkdir()
    check_output(tmp_path / "dir", [src], directory=True)  # empty: fine
    (tmp_path / "dir" / "x").write_bytes(b"")
    with pytest.raises(RdsweepError, match="use --force"):
        check_output(tmp_path / "dir", [src], directory=True)
    check_output(tmp_path / "dir", [src], force=True, directory=True)
    check_output(tmp_path / "new.npy", [src])


def test_stale_temp_files_of_dead_writers_are_removed_and_nothing_else(tmp_path):
    target = tmp_path / "out"
    hexes = "0123456789abcdef"
    dead = tmp_path / f".out.999999999.{hexes}.rdsweep-tmp"
    dead.mkdir()
    (tmp_path / f".out.999999998.{hexes}.rdsweep-tmp").write_bytes(b"")
    alive = tmp_path / f".out.{os.getpid()}.{hexes}.rdsweep-tmp"
    alive.write_bytes(b"")
    (tmp_path / "elsewhere").write_bytes(b"keep")
    kept = [tmp_path / ".out.999999999.abcd.tmp",  # the old pattern, or a user's file that looks like one
            tmp_path / f".out.999999999.{hexes}.tmp", tmp_path / f".out.x.{hexes}.rdsweep-tmp",
            tmp_path / f".out.999999999.{hexes}0.rdsweep-tmp", tmp_path / f".out.99999999999999.{hexes}.rdsweep-tmp"]
    for p in kept:
        p.write_bytes(b"a user's")
    link = tmp_path / f".out.999999997.{hexes}.rdsweep-tmp"
    link.symlink_to(tmp_path / "elsewhere")  # a link is never followed nor removed
    clean_stale(target)
    assert not dead.exists() and not (tmp_path / f".out.999999998.{hexes}.rdsweep-tmp").exists() and alive.exists()
    assert all(p.read_bytes() == b"a user's" for p in kept) and link.is_symlink()
    assert (tmp_path / "elsewhere").read_bytes() == b"keep"


def test_a_run_directory_has_one_writer(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RdsweepError, match="in use by another run"):
            with RunLock(tmp_path):
                pass
    with RunLock(tmp_path):  # released
        pass


def test_without_replace_a_target_written_meanwhile_is_not_clobbered(tmp_path):
    atomic_write_bytes(tmp_path / "f", b"first", replace=False)
    with pytest.raises(RdsweepError, match="exists"):
        atomic_write_bytes(tmp_path / "f", b"second", replace=False)
    assert (tmp_path / "f").read_bytes() == b"first"
    write_directory(tmp_path / "d", lambda d: (d / "a").write_bytes(b"1"), replace=False)
    with pytest.raises(RdsweepError, match="exists"):
        write_directory(tmp_path / "d", lambda d: (d / "b").write_bytes(b"2"), replace=False)
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["a"]
    (tmp_path / "empty").mkdir()
    write_directory(tmp_path / "empty", lambda d: (d / "c").write_bytes(b"3"), replace=False)  # empty: fine
    assert [p.name for p in (tmp_path / "empty").iterdir()] == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "empty", "f"]
