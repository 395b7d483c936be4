import importlib.metadata
import os

from rdsweep import runtime as xla


def test_ynn_flag_added_only_where_safe_and_wanted(monkeypatch):
    tested = xla.TESTED_JAXLIB[0] <= xla.jaxlib_version() < xla.TESTED_JAXLIB[1]
    env = {"XLA_FLAGS": "--xla_cpu_enable_fast_math=false"}
    assert xla.configure_xla(env) == tested
    if tested:
        assert env["XLA_FLAGS"] == f"--xla_cpu_enable_fast_math=false {xla.YNN_DOT}"
    mine = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_DOT"}
    assert not xla.configure_xla(mine) and mine["XLA_FLAGS"].endswith("_DOT")  # the user's own choice stands
    off = {"RDSWEEP_YNN": "0"}
    assert not xla.configure_xla(off) and "XLA_FLAGS" not in off
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.4.30")  # a jaxlib without the flag
    old = {}
    assert not xla.configure_xla(old) and "XLA_FLAGS" not in old


def test_importing_rdsweep_changes_nothing_in_the_process():
    """No XLA flags, no umask dance, no matplotlib backend: importing is free of side effects."""
    import subprocess
    import sys
    code = ("import os, sys; os.environ.pop('XLA_FLAGS', None); import rdsweep, rdsweep.codec, rdsweep.analysis.plots; "
            "print(os.environ.get('XLA_FLAGS'), 'matplotlib.pyplot' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert r.stdout.split() == ["None", "False"], r.stderr


def test_the_compilation_cache_goes_to_rdsweeps_cache_unless_the_user_chose(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    env = {}
    assert xla.configure_cache(env) and env["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "rdsweep" / "jax")
    assert env["JAX_COMPILATION_CACHE_MAX_SIZE"] == str(1 << 30)
    mine = {"JAX_COMPILATION_CACHE_DIR": "/elsewhere"}
    assert not xla.configure_cache(mine) and mine == {"JAX_COMPILATION_CACHE_DIR": "/elsewhere"}
    off = {"RDSWEEP_JAX_CACHE": "0"}
    assert not xla.configure_cache(off) and "JAX_COMPILATION_CACHE_DIR" not in off
    (tmp_path / "ro").mkdir(mode=0o500)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "ro" / "x"))
    unwritable = {}
    if os.geteuid() != 0:  # root writes anywhere
        assert not xla.configure_cache(unwritable) and "JAX_COMPILATION_CACHE_DIR" not in unwritable
