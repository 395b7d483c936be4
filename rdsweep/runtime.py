"""Process settings for the entry points (never applied on import): XLA:CPU flags, JAX's compilation cache, the
platforms JAX looks for, and quiet logs.

XLA reads ``XLA_FLAGS`` once, when JAX starts its backend, so entry points call ``configure()`` first thing;
a library user may call it too. YNNPACK for dot products: on a 2-core Zen 4 CPU we measured training +23 %,
compress +57 %, decompress +28 % against XLA's default (Eigen) kernels (docs/benchmarks.md); results agree
within float rounding. Applied only to jaxlib versions known to have the flag (an unknown flag aborts XLA),
and never over a user's own ``ynn_fusion_type``; ``RDSWEEP_YNN=0`` turns it off.

JAX's persistent compilation cache (``~/.cache/rdsweep/jax``, at most 1 GiB, least recently used entries
dropped): the runs of a sweep compile the same programs (lambda is an argument, not a constant), so every
run after the first skips most of its compilation (a quick run: 15 s -> 6 s). The compiled programs are the
same, so are the results. Not over a user's own ``JAX_COMPILATION_CACHE_DIR``; ``RDSWEEP_JAX_CACHE=0``
turns it off.
"""
from __future__ import annotations

import fcntl
import importlib.metadata
import logging
import os
import tempfile
import warnings

YNN_DOT = "--xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"
TESTED_JAXLIB = ((0, 10), (0, 11))  # [from, to): versions with the flag


def jaxlib_version() -> tuple | None:
    """(major, minor) of the installed jaxlib, None if unknown."""
    try:
        return tuple(int(part) for part in importlib.metadata.version("jaxlib").split(".")[:2])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None


def configure_xla(environ=os.environ) -> bool:
    """Add YNN_DOT to environ["XLA_FLAGS"] where it is safe and wanted; True if it did."""
    flags = environ.get("XLA_FLAGS", "")
    if environ.get("RDSWEEP_YNN", "1") == "0" or "ynn_fusion_type" in flags:
        return False
    version = jaxlib_version()
    if version is None or not TESTED_JAXLIB[0] <= version < TESTED_JAXLIB[1]:
        return False
    environ["XLA_FLAGS"] = f"{flags} {YNN_DOT}".strip()
    return True


CACHE_BYTES = 1 << 30


def configure_platforms(environ=os.environ) -> bool:
    """JAX_PLATFORMS=cpu where JAX has nothing else to find (no TPU library, no GPU plugin): JAX would otherwise
    probe for a TPU at start-up (a log line "Unable to initialize backend 'tpu'" and a 60 s timer thread that a
    Ctrl-C at the wrong moment leaves running). Never over the user's own JAX_PLATFORMS."""
    import importlib.util
    import pkgutil

    if "JAX_PLATFORMS" in environ or importlib.util.find_spec("libtpu") is not None:
        return False
    try:
        plugins = importlib.util.find_spec("jax_plugins")
    except (ImportError, ValueError):
        plugins = None
    if plugins is not None and any(True for _ in pkgutil.iter_modules(plugins.submodule_search_locations or [])):
        return False  # a GPU (or other) plugin: let JAX choose
    environ["JAX_PLATFORMS"] = "cpu"
    return True


def configure_cache(environ=os.environ) -> bool:
    """Point JAX's persistent compilation cache at rdsweep's cache directory where it is wanted and writable."""
    from rdsweep.data.download import cache_dir

    if environ.get("RDSWEEP_JAX_CACHE", "1") == "0" or "JAX_COMPILATION_CACHE_DIR" in environ:
        return False
    path = cache_dir() / "jax"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    if not os.access(path, os.W_OK | os.X_OK):
        return False
    environ["JAX_COMPILATION_CACHE_DIR"] = str(path)
    environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(CACHE_BYTES))
    return True


def configure() -> None:
    """What every entry point does first: XLA flags, the compilation cache, no "no GPU/TPU found" chatter."""
    configure_xla()
    configure_cache()
    configure_platforms()
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
    # the persistent compilation cache is an optimisation: an entry JAX cannot write (a full disk) or read (one
    # truncated by a full disk) is compiled again, not a warning on every run
    warnings.filterwarnings("ignore", message=r"Error (writing|reading) persistent compilation cache entry")


_claimed = []  # the open lock file of the core this process has claimed (kept for the process's lifetime)


def claim_core() -> int | None:
    """Pin this process to one CPU core no other rdsweep process has claimed (a lock file per core), before JAX
    starts: XLA then sizes its thread pools to that core. For sweeps of single-core jobs side by side
    (``cpu_per_job=1``): on 2 cores, two such jobs train ~10% more digits/s in all than one job on both.
    Returns the core, or None when every core is taken (the process then keeps its affinity)."""
    if _claimed:
        return _claimed[0][0]
    for core in sorted(os.sched_getaffinity(0)):
        fd = os.open(os.path.join(tempfile.gettempdir(), f"rdsweep-core-{core}.lock"), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        os.sched_setaffinity(0, {core})
        _claimed.append((core, fd))
        return core
    return None
