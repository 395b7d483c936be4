import importlib.metadata

from rdsweep import xla


def test_ynn_flag_added_only_where_safe_and_wanted(monkeypatch):
    tested = xla.TESTED_JAXLIB[0] <= xla.jaxlib_version() < xla.TESTED_JAXLIB[1]
    env = {"XLA_FLAGS": "--xla_cpu_enable_fast_math=false"}
    assert xla.configure(env) == tested
    if tested:
        assert env["XLA_FLAGS"] == f"--xla_cpu_enable_fast_math=false {xla.YNN_DOT}"
    mine = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_DOT"}
    assert not xla.configure(mine) and mine["XLA_FLAGS"].endswith("_DOT")  # the user's own choice stands
    off = {"RDSWEEP_YNN": "0"}
    assert not xla.configure(off) and "XLA_FLAGS" not in off
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.4.30")  # a jaxlib without the flag
    old = {}
    assert not xla.configure(old) and "XLA_FLAGS" not in old
