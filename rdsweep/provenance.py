"""Where a result comes from: rdsweep's version and commit, the versions of the libraries that compute it, and
the machine. Recorded in every run's metrics.json (``provenance``) and every model file's config; printed by
``rdsweep info`` and the benchmarks' headers.

``git_commit`` / ``git_dirty`` are those of the checkout rdsweep is imported from (None when it is installed
from a wheel); ``git_dirty`` says whether tracked files differed from that commit. ``cpu_flags`` lists the
instruction-set extensions that change which kernels run (AVX-512, bfloat16 dot products, AMX).
"""
from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
from pathlib import Path

PACKAGES = ("jax", "jaxlib", "flax", "optax", "constriction", "numpy")
FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8")
MAX_TEXT = 200  # characters of one provenance value read from a file


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_state(root: Path | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git checkout holding this package, (None, None) outside one or without git."""
    root = root or Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None, None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, bool(status.strip())


@functools.lru_cache(maxsize=1)
def cpu() -> tuple[str, list[str]]:
    """(the CPU's model name, the FLAGS it has) from /proc/cpuinfo, else what the platform module says."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return name, [f for f in FLAGS if f in flags]


def collect() -> dict:
    """This process's provenance (JAX's device kind only if JAX is already imported: this never starts JAX)."""
    import sys

    from rdsweep import __version__

    commit, dirty = git_state()
    name, flags = cpu()
    device = None
    if "jax" in sys.modules:
        import jax

        device = f"{jax.default_backend()}: {jax.devices()[0].device_kind}"
    return {"rdsweep": __version__, "git_commit": commit, "git_dirty": dirty, "python": platform.python_version(),
            **{p: _version(p) for p in PACKAGES}, "device": device, "cpu": name, "cpu_flags": " ".join(flags)}


def check(value, where: str) -> dict:
    """A provenance mapping read from a file: short texts, booleans or nulls under short names (ValueError)."""
    if not isinstance(value, dict) or len(value) > 64:
        raise ValueError(f"{where}: provenance is not a mapping of at most 64 entries")
    for k, v in value.items():
        if not (isinstance(k, str) and len(k) <= 64 and (v is None or isinstance(v, bool) or
                                                         isinstance(v, str) and len(v) <= MAX_TEXT)):
            raise ValueError(f"{where}: provenance {str(k)[:40]!r} is not a short text")
    return value
