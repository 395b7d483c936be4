"""Hostile inputs, end to end: validate every model file, bound every size, never destroy a file, never mix two
runs. Each case runs the real command (`rdsweep ...` / `python -m rdsweep ...`) in a subprocess and must end in
exactly one stderr line `rdsweep: error: ...`, exit status 1, no traceback, a peak memory (max RSS of that
process alone) under 1 GB, and no change to any file it was not asked to write; the requested output must not
exist afterwards. The aggregation is the exception by design: bad records are warned about and left out, and
it succeeds. Classes: model file, sizes, degenerate inputs, outputs, concurrency, records, signals; the number
of cases per class is printed by the last test (`-s` not needed).

"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from flax import serialization
from PIL import Image

from tests.conftest import MNIST_DIR, ROOT, _env, forge, put, untrained_codec

LIMIT_MB = 1024  # peak memory of one command
COUNTS: dict = {}  # class -> [fast cases, slow cases]
SLOW = pytest.mark.slow

# The command runs under a small launcher that forks it: the max RSS wait4 reports for a child includes the
# memory of the process it was forked from until its exec, so forking it from pytest (hundreds of MB, JAX
# loaded) would count pytest's memory. The launcher also kills a command that grows past the limit or runs
# too long (a regression must fail fast, not eat the machine).
_LAUNCHER = r"""
import os, sys, time
report, limit_kb, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[4:]])
why, deadline = "", time.monotonic() + timeout
while True:
    done, status, usage = os.wait4(pid, os.WNOHANG)
    if done:
        break
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
    except OSError:
        rss = 0
    if not why and (rss > limit_kb or time.monotonic() > deadline):
        why = f"killed at {rss // 1024} MB" if rss > limit_kb else f"killed after {timeout:g} s"
        os.kill(pid, 9)
    time.sleep(0.02)
with open(report, "w") as f:
    f.write(f"{usage.ru_maxrss} {why}")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


class Result:
    def __init__(self, proc, maxrss_kb: int, killed: str):
        self.returncode, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr
        self.maxrss_mb, self.killed = maxrss_kb / 1024, killed

    def __repr__(self):
        return f"exit {self.returncode}, {self.maxrss_mb:.0f} MB {self.killed}\nstderr: {self.stderr[-3000:]}"


def run(*args, module="rdsweep.cli", cwd=ROOT, timeout=180) -> Result:
    """`python -m MODULE ARGS` as its own process: exit status, output, its peak memory."""
    fd, report = tempfile.mkstemp(prefix="rss-")
    os.close(fd)
    try:
        proc = subprocess.run([sys.executable, "-c", _LAUNCHER, report, str(LIMIT_MB * 1024), str(timeout), "-m",
                               module, *map(str, args)], cwd=cwd, env=_env(), capture_output=True,
                              encoding="utf-8", errors="replace", timeout=timeout + 60)
        rss, _, killed = Path(report).read_text().partition(" ")
    finally:
        os.unlink(report)
    return Result(proc, int(rss), killed)


def train(*args, **kw) -> Result:
    return run("lmbda=500", "train.epochs=1", "progress=false", *args, module="rdsweep", **kw)


def _entry(p: str):
    st = os.lstat(p)
    if stat.S_ISREG(st.st_mode):  # the sparse giants: size, mtime and inode
        return (st.st_size, st.st_mtime_ns, st.st_ino) if st.st_size > 1 << 26 else (
            st.st_size, hashlib.sha256(Path(p).read_bytes()).hexdigest())
    return ("link", os.readlink(p)) if stat.S_ISLNK(st.st_mode) else (stat.S_IFMT(st.st_mode),)


def snapshot(*paths) -> dict:
    """Every entry at or under paths: its kind, a regular file's size and SHA-256, a link's target."""
    out = {}
    for top in map(str, paths):
        out[top] = _entry(top)
        if os.path.isdir(top) and not os.path.islink(top):
            for root, subdirs, files in os.walk(top):
                for name in subdirs + files:
                    out[os.path.join(root, name)] = _entry(os.path.join(root, name))
    return out


def refused(r: Result, message: str = "") -> None:
    """Exit 1, one line `rdsweep: error: ...` holding message, no traceback, under the memory limit."""
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert not r.killed, r
    assert r.returncode == 1, r
    assert len(lines) == 1 and lines[0].startswith("rdsweep: error: "), r
    assert message in lines[0], (message, r)
    assert "Traceback" not in r.stderr, r
    assert r.maxrss_mb < LIMIT_MB, r


def expect_refusal(args, message, watch, absent=(), runner=None, **kw) -> Result:
    """Run a command (``runner``, default ``run``) that must be refused; nothing under watch changes and nothing
    in absent exists after."""
    before = snapshot(*watch)
    r = (runner or run)(*args, **kw)
    refused(r, message)
    after = snapshot(*watch)
    assert after == before, {k: (before.get(k), after.get(k)) for k in set(before) | set(after)
                             if before.get(k) != after.get(k)}
    for p in absent:
        assert not os.path.lexists(p), f"{p} exists after a failure"
    return r


def cases(cls: str, table: dict, fast=(), xfail=None) -> list:
    """pytest params for one class from {id: case}, slow but those in fast; counted per class (fast, slow)."""
    xfail = xfail or {}
    params = []
    assert set(fast) <= set(table) and set(xfail) <= set(table), set(fast) - set(table)
    for name in sorted(table):
        slow = name not in fast
        marks = ([SLOW] if slow else []) + ([pytest.mark.xfail(strict=True, reason=xfail[name])]
                                            if name in xfail else [])
        params.append(pytest.param(name, marks=marks, id=name))
        COUNTS.setdefault(cls, [0, 0])[slow] += 1
    return params


def count(cls: str, n: int = 1, slow: bool = False) -> None:
    COUNTS.setdefault(cls, [0, 0])[slow] += n


# ---- shared inputs --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared(tmp_path_factory, mnist_dir):
    """A model file (untrained weights, latent 12: exact coding needs no training), 20 test digits as .npy and
    PNGs, and their .rds: the inputs every case reads, never changed by any of them."""
    from rdsweep.data.idx import read_idx_images

    d = tmp_path_factory.mktemp("shared")
    codec = untrained_codec(latent_dims=12)
    codec.save(d / "m.rdsm")
    digits = read_idx_images(mnist_dir / "t10k-images-idx3-ubyte.gz")[:20, ..., 0]
    np.save(d / "d.npy", digits)
    (d / "d.rds").write_bytes(codec.compress(digits))
    (d / "pngs").mkdir()
    for i in range(3):
        Image.fromarray(digits[i]).save(d / "pngs" / f"{i}.png")
    return d


def config(**kw):
    def change(state):
        state["config"] = json.dumps({**json.loads(state["config"]), **kw})
    return change


def config_text(text: str):
    return lambda state: state.update(config=text)


def tables(fn):
    """Change every array of the coding tables of y with fn(name, array)."""
    return lambda state: state["entropy"]["y"].update({k: fn(k, v) for k, v in state["entropy"]["y"].items()})


KERNEL, Y = ["params", "analysis", "conv1", "kernel"], ["entropy", "y"]


def _packb(obj) -> bytes:
    import msgpack

    return msgpack.packb(obj)


def _with_array(fields) -> bytes:
    """A payload whose weights are one flax-msgpack array of the given (shape, dtype name, buffer)."""
    import msgpack

    array = msgpack.ExtType(1, msgpack.packb(fields))  # flax's ndarray extension type
    return msgpack.packb({"config": "{}", "params": {"analysis": array}, "entropy": {}})


def _zero_bin(a):
    a = a.copy()
    a[:, 0] += a[:, 1]
    a[:, 1] = 0
    return a


def _wrapping_counts(a):  # four bins, each >= 1, whose int64 sum wraps around to exactly 2**24
    return np.tile(np.array([2**62, 2**62, 2**62, 2**62 + 2**24], np.int64), (a.shape[0], 1))


# ---- 1. model file: trusted once its checksum passes ------------------------------------------------------------
# (change of the payload, or raw bytes of the whole file; the command; what the one line says)

MODEL_FILE = {
    "kernel shape": (put(KERNEL, np.zeros((3, 3, 1, 20), np.float32)), "compress",
                     "params.analysis.conv1.kernel: expected float32 (5, 5, 1, 20), got float32 (3, 3, 1, 20)"),
    "kernel dtype float64": (put(KERNEL, lambda a: a.astype(np.float64)), "decompress", "got float64 (5, 5, 1, 20)"),
    "kernel dtype int32": (put(KERNEL, lambda a: a.astype(np.int32)), "compress", "got int32 (5, 5, 1, 20)"),
    "kernel rank": (put(KERNEL, lambda a: a.reshape(-1)), "decompress", "got float32 (500,)"),
    "kernel a scalar": (put(KERNEL, np.float32(1)), "compress", "expected an array, got float32"),
    "weights a list": (put(["params", "synthesis", "dense1", "bias"], [1.0, 2.0]), "decompress",
                       "expected an array, got list"),
    "NaN weights": (put(["params", "synthesis", "dense1", "bias"], lambda a: a * np.nan), "compress",
                    "params.synthesis.dense1.bias: holds non-finite values"),
    "infinite weights": (put(["params", "analysis", "dense2", "kernel"], lambda a: a + np.inf), "decompress",
                         "params.analysis.dense2.kernel: holds non-finite values"),
    "missing collection": (lambda s: s["params"].pop("synthesis"), "compress",
                           "params: expected ['analysis', 'synthesis']"),
    "extra weights": (lambda s: s["params"]["analysis"].update(conv9=np.zeros(3, np.float32)), "decompress",
                      "got ['conv1', 'conv2', 'conv9', 'dense1', 'dense2']"),
    "fewer table rows than latent_dims": (tables(lambda k, v: v[:-1]), "compress",
                                          "11 table rows, but the model has 12 latent dimensions"),
    "more table rows than latent_dims": (tables(lambda k, v: np.concatenate([v, v[:1]])), "decompress",
                                         "13 table rows, but the model has 12 latent dimensions"),
    "NaN offsets": (put(Y + ["offset"], lambda a: a * np.nan), "compress", "offset must be 12 finite values"),
    "infinite offsets": (put(Y + ["offset"], lambda a: a - np.inf), "decompress", "offset must be 12 finite values"),
    "far-out-of-range offsets (float64)": (put(Y + ["offset"], lambda a: a.astype(np.float64) + 1e300), "compress",
                                           "offset must be 12 finite values of magnitude <= 2**30"),
    "integer offsets": (put(Y + ["offset"], lambda a: a.astype(np.int64)), "decompress",
                        "offset must be floating point"),
    "far-out-of-range starts": (put(Y + ["lo"], lambda a: a + 2**40), "compress", "table starts (lo) out of range"),
    "table sums": (put(Y + ["counts"], lambda a: a * 2), "decompress", "counts must be >= 1 and sum to 2**24"),
    "a zero count": (put(Y + ["counts"], _zero_bin), "compress", "counts must be >= 1 and sum to 2**24"),
    "float counts": (put(Y + ["counts"], lambda a: a.astype(np.float64)), "decompress",
                     "lo and counts must be integers"),
    "one-bin rows": (put(Y + ["counts"], lambda a: np.full((len(a), 1), 2**24)), "compress", "do not form R rows"),
    "tables missing": (lambda s: s["entropy"].pop("y"), "decompress", "no coding tables for 'y'"),
    "tables not a mapping": (put(Y, [1, 2]), "compress", "coding tables of y: missing or malformed arrays"),
    "shape [0, 0, 1]": (config(shape=[0, 0, 1]), "decompress", "images of 0x0x1"),
    "negative shape": (config(shape=[-28, -28, 1]), "compress", "images of -28x-28x1"),
    "latent_dims 0": (config(latent_dims=0), "decompress", "latent_dims must be a whole number in 1..4096, not 0"),
    "latent_dims negative": (config(latent_dims=-12), "compress", "latent_dims must be a whole number"),
    "latent_dims a float": (config(latent_dims=12.0), "decompress", "latent_dims must be a whole number"),
    "unknown model": (config(model={"name": "nope"}), "compress", "unknown model 'nope'"),
    "unknown prior": (config(prior={"name": "nope"}), "decompress", "unknown prior 'nope'"),
    "NaN hyper-parameter": (config(model={"name": "seed", "leaky_slope": float("nan")}), "compress",
                            "NaN is not a number"),
    "slope out of range": (config(model={"name": "seed", "leaky_slope": 7.0}), "decompress",
                           "model.leaky_slope must be in [0, 1)"),
    "lmbda a string": (config(lmbda="big"), "decompress", "config lmbda must be float"),
    "config not JSON": (config_text("{"), "compress", "malformed model file"),
    "config a list": (config_text("[1, 2]"), "decompress", "config is not a mapping"),
    "config nested 100000 deep": (config_text("[" * 100000 + "]" * 100000), "compress", "malformed model file"),
    "payload truncated (re-hashed)": (("payload", lambda raw: raw[38:][: len(raw) // 2]), "decompress",
                                      "malformed model file"),
    "payload garbage (re-hashed)": (("payload", lambda raw: random.Random(0).randbytes(4096)), "compress",
                                    "malformed model file"),
    "payload a msgpack list (re-hashed)": (("payload", lambda raw: serialization.msgpack_serialize([1, 2])),
                                           "decompress", "malformed model file"),
    "payload: an array of 10**12 elements in 16 bytes (re-hashed)": (
        ("payload", lambda raw: _with_array(((10**6, 10**6), "float32", bytes(16)))), "compress",
        "malformed model file (ValueError"),
    "payload nested 100000 deep (re-hashed)": (("payload", lambda raw: b"\x81\xa1a" * 100000 + b"\xc0"), "compress",
                                               "malformed model file"),
    "payload: a chunked array of 10**12 elements and no chunks (re-hashed)": (
        ("payload", lambda raw: _packb({"config": "{}", "params": {"__msgpack_chunked_array__": True,
                                                                   "shape": {"0": 10**6, "1": 10**6},
                                                                   "chunks": {}}})), "decompress",
        "malformed model file"),
    "payload: an array of Python objects (re-hashed)": (
        ("payload", lambda raw: _with_array(((2,), "object", bytes(16)))), "decompress", "malformed model file"),
    "checksum mismatch": (("raw", lambda raw: raw[:-10] + bytes([raw[-10] ^ 1]) + raw[-9:]), "decompress",
                          "model file is corrupted (checksum mismatch)"),
    "bad magic": (("raw", lambda raw: b"XDSM" + raw[4:]), "compress", "is not an rdsweep model file"),
    "unknown version": (("raw", lambda raw: raw[:4] + struct.pack(">H", 99) + raw[6:]), "decompress",
                        "model format version 99 is not supported"),
    "empty file": (("raw", lambda raw: b""), "compress", "is not an rdsweep model file"),
    "header only": (("raw", lambda raw: raw[:38]), "decompress", "checksum mismatch"),
    # found by this suite, in files it could not change:
    "int64 counts whose sum wraps to 2**24": (put(Y + ["counts"], _wrapping_counts), "compress",
                                              "counts must be >= 1 and sum to 2**24"),
    "uint64 starts of 2**64-1": (put(Y + ["lo"], lambda a: np.full(a.shape, 2**64 - 1, np.uint64)), "decompress",
                                 "out of range"),
    "model.hidden a float": (config(model={"name": "seed", "hidden": 500.5}), "compress", "model.hidden"),
}
# found by this suite (fixed since): int64 counts wrapped in their sum, uint64 starts wrapped to int64, a
# float layer size reached jax.eval_shape
MODEL_FILE_FOUND = {"int64 counts whose sum wraps to 2**24", "uint64 starts of 2**64-1", "model.hidden a float"}


MODEL_FILE_FAST = {"kernel shape", "kernel dtype float64", "NaN weights", "missing collection",
                   "more table rows than latent_dims", "NaN offsets", "far-out-of-range starts", "a zero count",
                   "payload: an array of 10**12 elements in 16 bytes (re-hashed)", "shape [0, 0, 1]", *MODEL_FILE_FOUND}


@pytest.mark.parametrize("case", cases("model file", MODEL_FILE, MODEL_FILE_FAST))
def test_model_file(shared, tmp_path, case):
    change, command, message = MODEL_FILE[case]
    bad = tmp_path / "bad.rdsm"
    raw = (shared / "m.rdsm").read_bytes()
    if isinstance(change, tuple) and change[0] == "raw":  # the whole file's bytes, not re-hashed
        bad.write_bytes(change[1](raw))
    elif isinstance(change, tuple):  # a new payload, re-hashed
        forge(shared / "m.rdsm", bad, payload=change[1](raw))
    else:  # the payload's state changed, re-hashed
        forge(shared / "m.rdsm", bad, change)
    if command == "compress":
        args, out = ["compress", shared / "d.npy", "-m", bad, "-o", tmp_path / "out.rds"], tmp_path / "out.rds"
    else:
        args, out = ["decompress", shared / "d.rds", "-m", bad, "-o", tmp_path / "out"], tmp_path / "out"
    expect_refusal(args, message, [shared, tmp_path], [out])


def _config_yaml(old: str, new: str):
    return lambda run: (run / "config.yaml").write_text((run / "config.yaml").read_text().replace(old, new, 1))


RUN_DIR = {  # a trained run directory forged; `rdsweep export` must refuse it in one line
    "config.yaml not YAML": (lambda run: (run / "config.yaml").write_text("{[: ::\n\t- x"), "cannot read"),
    "config.yaml a YAML list": (lambda run: (run / "config.yaml").write_text("- 1\n- 2\n"), "config.yaml"),
    "config.yaml lmbda 10**400": (_config_yaml("lmbda: 500", "lmbda: 1" + "0" * 400 + " #"), "lmbda"),
    "checkpoint.msgpack garbage": (lambda run: (run / "checkpoint.msgpack").write_bytes(bytes(range(256)) * 4),
                                   "cannot read checkpoint"),
    "checkpoint.msgpack a link to /dev/zero": (
        lambda run: ((run / "checkpoint.msgpack").unlink(), os.symlink("/dev/zero", run / "checkpoint.msgpack")),
        "no checkpoint.msgpack"),
    "codec.npz not a zip file": (lambda run: (run / "codec.npz").write_bytes(b"PK\x03\x04" + bytes(100)),
                                 "cannot read coding tables"),
    "codec.npz an empty zip file": (lambda run: (run / "codec.npz").write_bytes(b"PK\x05\x06" + bytes(18)),
                                    "no coding tables for 'y'"),
    "codec.npz tables of another latent size": (
        lambda run: np.savez(run / "codec.npz", **{k: v[:-1] for k, v in np.load(run / "codec.npz").items()}),
        "table rows, but the model has"),
}


@pytest.mark.parametrize("case", cases("model file", RUN_DIR, ()))
def test_export_of_a_forged_run_directory(trained_run, tmp_path, case):
    forge_run, message = RUN_DIR[case]
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir, ignore=shutil.ignore_patterns(".lock"))
    forge_run(run_dir)
    expect_refusal(["export", run_dir, "-o", tmp_path / "m.rdsm"], message, [run_dir], [tmp_path / "m.rdsm"])


# ---- 2. sizes read from files, bounded before allocation ----------------------------------------------------

def npy_header(shape: str, descr: str = "|u1", version: bytes = b"\x01\x00") -> bytes:
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    h = h.encode() + b" " * ((64 - (10 + len(h) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY" + version + struct.pack("<H", len(h)) + h


def png_file(w: int, h: int, ctype: int = 0, image_data: bytes | None = None) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0)
    data = zlib.compress(b"\0" * (1 + w) * min(h, 2)) if image_data is None else image_data
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def idx_file(n: int, pixels: bytes, h: int = 28, w: int = 28) -> bytes:
    return bytes([0, 0, 8, 3]) + struct.pack(">III", n, h, w) + pixels


def forged_count(rds: bytes, n: int) -> bytes:
    """An .rds whose digit count says n, its CRC recomputed."""
    body = rds[:21] + struct.pack(">I", n) + rds[25:-4]
    return body + struct.pack(">I", zlib.crc32(body))


def sparse(path: Path, head: bytes, size: int) -> Path:
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def gzip_bomb(path: Path, n_images: int, inflated: int) -> Path:
    """An IDX header declaring n_images, then `inflated` bytes of zeros, as concatenated gzip members (one 64 MiB
    member repeated): a file of a few MB, never the inflated bytes on disk."""
    block = 1 << 26
    member = gzip.compress(bytes(block), compresslevel=9)
    with open(path, "wb") as f:
        f.write(gzip.compress(idx_file(n_images, b"")))
        for _ in range(inflated // block):
            f.write(member)
    return path


def mnist_pixels(n: int) -> bytes:
    return gzip.open(MNIST_DIR / "t10k-images-idx3-ubyte.gz").read()[16: 16 + 784 * n]


def _compress(src_name):  # compress <tmp>/src_name
    return lambda s, t: (["compress", t / src_name, "-m", s / "m.rdsm", "-o", t / "out.rds"], t / "out.rds")


def _decompress(src_name):
    return lambda s, t: (["decompress", t / src_name, "-m", s / "m.rdsm", "-o", t / "out"], t / "out")


def _model(name):  # compress with the model file <tmp>/name
    return lambda s, t: (["compress", s / "d.npy", "-m", t / name, "-o", t / "out.rds"], t / "out.rds")


def _train(*args):
    """A training run into <tmp>/run; each arg a string or a function of <tmp>."""
    return lambda s, t: ([*(a(t) if callable(a) else a for a in args), f"hydra.run.dir={t / 'run'}"],
                         t / "run" / "metrics.json")


SIZES = {  # make(shared, tmp) writes the hostile file(s); args(shared, tmp) -> (command, output); message
    "model config latent_dims 10**9": (
        lambda s, t: forge(s / "m.rdsm", t / "m.rdsm", config(latent_dims=10**9)), _model("m.rdsm"),
        "latent_dims must be a whole number in 1..4096"),
    "model config hidden 10**9": (
        lambda s, t: forge(s / "m.rdsm", t / "m.rdsm", config(model={"name": "seed", "hidden": 10**9})),
        _model("m.rdsm"), "model.hidden must be 0 (fully convolutional) to 16384"),
    "model config hidden 0 with a latent the convolutions do not make": (
        lambda s, t: forge(s / "m.rdsm", t / "m.rdsm", config(model={"name": "seed", "hidden": 0})),
        _model("m.rdsm"), "model.hidden=0 (fully convolutional)"),
    "model config filters [10**6]": (
        lambda s, t: forge(s / "m.rdsm", t / "m.rdsm", config(model={"name": "seed", "filters": [10**6]})),
        _model("m.rdsm"), "model.filters"),
    "model config shape 40000x40000": (
        lambda s, t: forge(s / "m.rdsm", t / "m.rdsm", config(shape=[40000, 40000, 1])), _model("m.rdsm"),
        "up to 4096"),
    "model config lmbda 10**400": (
        lambda s, t: forge(s / "m.rdsm", t / "m.rdsm", config(lmbda=10**400)), _model("m.rdsm"),
        "integer 100000000000000000000000... out of range"),
    "model config epochs 10**30": (
        lambda s, t: forge(s / "m.rdsm", t / "m.rdsm", config(epochs=10**30)), _model("m.rdsm"), "out of range"),
    "model config number 1e400": (
        lambda s, t: forge(s / "m.rdsm", t / "m.rdsm", config_text(
            json.dumps({**json.loads(serialization.msgpack_restore((s / "m.rdsm").read_bytes()[38:])["config"]),
                        "lmbda": 1.5}).replace("1.5", "1e400"))), _model("m.rdsm"), "number 1e400 out of range"),
    "model file of 1.1 GB (sparse), bad checksum": (
        lambda s, t: sparse(t / "m.rdsm", b"RDSM\0\x02" + bytes(32), 1100 << 20), _model("m.rdsm"),
        "checksum mismatch"),
    "model file over 2 GiB (sparse)": (
        lambda s, t: sparse(t / "m.rdsm", b"RDSM\0\x02" + bytes(32), (2 << 30) + 1), _model("m.rdsm"),
        "2147483649 bytes, more than the 2147483648"),
    "model file /dev/zero": (
        lambda s, t: os.symlink("/dev/zero", t / "m.rdsm"), _model("m.rdsm"), "not a regular file"),
    ".rds digit count 2**24, CRC recomputed": (
        lambda s, t: (t / "f.rds").write_bytes(forged_count((s / "d.rds").read_bytes(), 2**24)),
        _decompress("f.rds"), "16777216 digits cannot fit in a payload"),
    ".rds digit count 2**32-1, CRC recomputed": (
        lambda s, t: (t / "f.rds").write_bytes(forged_count((s / "d.rds").read_bytes(), 2**32 - 1)),
        _decompress("f.rds"), "file holds 4294967295 digits"),
    ".rds digit count + 1, CRC recomputed": (
        lambda s, t: (t / "f.rds").write_bytes(forged_count((s / "d.rds").read_bytes(), 21)),
        _decompress("f.rds"), "does not hold exactly 21 digits"),
    ".rds payload length 2**32-1 in a small file": (
        lambda s, t: (t / "f.rds").write_bytes((s / "d.rds").read_bytes()[:30] + b"\xff" * 4
                                               + (s / "d.rds").read_bytes()[34:]),
        _decompress("f.rds"), "truncated or padded file"),
    ".rds of 1.1 GB (sparse), bad CRC": (
        lambda s, t: sparse(t / "f.rds", (s / "d.rds").read_bytes()[:30] + struct.pack(">II", 1100 << 20, 0),
                            38 + (1100 << 20) + 4), _decompress("f.rds"), "checksum mismatch"),
    ".rds /dev/zero": (lambda s, t: os.symlink("/dev/zero", t / "f.rds"), _decompress("f.rds"),
                       "not a regular file"),
    ".npy header claiming 1e11 images": (
        lambda s, t: (t / "x.npy").write_bytes(npy_header("(100000000000, 28, 28)") + bytes(784)),
        _compress("x.npy"), "header declares uint8 (100000000000, 28, 28)"),
    ".npy header shape 2**70": (
        lambda s, t: (t / "x.npy").write_bytes(npy_header("(1180591620717411303424, 28, 28)") + bytes(784)),
        _compress("x.npy"), "(1180591620717411303424, 28, 28)"),
    ".npy header NaN in the shape": (
        lambda s, t: (t / "x.npy").write_bytes(npy_header("(float('nan'), 28, 28)") + bytes(784)),
        _compress("x.npy"), "not a readable .npy file"),
    ".npy header 1e11 as a float": (
        lambda s, t: (t / "x.npy").write_bytes(npy_header("(1e11, 28, 28)") + bytes(784)),
        _compress("x.npy"), "not a readable .npy file"),
    ".npy header length 2**31": (
        lambda s, t: (t / "x.npy").write_bytes(b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**31) + b"{"),
        _compress("x.npy"), "not a readable .npy file"),
    "PNG header 20000x20000": (lambda s, t: (t / "x.png").write_bytes(png_file(20000, 20000)), _compress("x.png"),
                               "x.png"),
    "PNG header 10000x10000 (PIL's bomb warning)": (
        lambda s, t: (t / "x.png").write_bytes(png_file(10000, 10000)), _compress("x.png"),
        "got PNG mode L 10000x10000"),
    "PNG of 28x28 whose data inflates to 64 MB": (
        lambda s, t: (t / "x.png").write_bytes(png_file(28, 28, image_data=zlib.compress(bytes(1 << 26)))),
        _compress("x.png"), "holds more image data than its 28x28 header declares"),
    "IDX test set count + 2**28": (
        lambda s, t: (t / "test.idx").write_bytes(idx_file(100 + 2**28, mnist_pixels(100))),
        _train(lambda t: f"data.test_file={t / 'test.idx'}"), "declares 268435556 images"),
    "IDX training set count + 2**28 (data.dir)": (
        lambda s, t: ((t / "data").mkdir(), (t / "data" / "train-images-idx3-ubyte").write_bytes(
            idx_file(100 + 2**28, mnist_pixels(100))),
            os.symlink(MNIST_DIR / "t10k-images-idx3-ubyte.gz", t / "data" / "t10k-images-idx3-ubyte.gz")),
        _train(lambda t: f"data.dir={t / 'data'}"), "declares 268435556 images"),
    "gzip IDX declaring 100 images, inflating to 2 GB": (
        lambda s, t: gzip_bomb(t / "test.gz", 100, 2 << 30),
        _train(lambda t: f"data.test_file={t / 'test.gz'}"), "has more bytes"),
    "gzip IDX declaring 1.3M images (1 GB), inflating to 2 GB": (
        lambda s, t: gzip_bomb(t / "test.gz", 1_300_000, 2 << 30),
        _train(lambda t: f"data.test_file={t / 'test.gz'}"), "has more bytes"),
}
SIZES_FAST = {"model config latent_dims 10**9", "model config lmbda 10**400", ".rds /dev/zero",
              ".rds digit count 2**24, CRC recomputed", ".npy header claiming 1e11 images", "PNG header 20000x20000",
              "PNG of 28x28 whose data inflates to 64 MB", "gzip IDX declaring 100 images, inflating to 2 GB"}


def refuse_case(shared, tmp_path, command, out, message) -> None:
    """A codec command (compress/decompress) or a training run (the rest): refused, inputs untouched."""
    if command[0] in ("compress", "decompress"):
        expect_refusal(command, message, [shared, tmp_path], [out])
    else:  # the run directory is the training's to write; its results must not exist
        watch = [shared, *(p for p in tmp_path.iterdir() if p.name != "run")]
        expect_refusal(["lmbda=500", "train.epochs=1", "progress=false", *command], message, watch,
                       [out, tmp_path / "run" / "checkpoint.msgpack"], module="rdsweep")


@pytest.mark.parametrize("case", cases("sizes", SIZES, SIZES_FAST))
def test_sizes(shared, tmp_path, case):
    make, args, message = SIZES[case]
    make(shared, tmp_path)
    refuse_case(shared, tmp_path, *args(shared, tmp_path), message)


# ---- 3. degenerate inputs ---------------------------------------------------------------------------------------

def _dir_with(*entries):
    def make(s, t):
        (t / "in").mkdir()
        for name, kind in entries:
            p = t / "in" / name
            if kind == "dir":
                p.mkdir()
            elif kind == "fifo":
                os.mkfifo(p)
            elif kind == "png":
                shutil.copy(s / "pngs" / "0.png", p)
            elif kind == "dangling":
                os.symlink(t / "nowhere", p)
    return make


def _short_png(s, t):  # a complete zlib stream holding 3 of the 28 rows: PIL fills the rest with zeros, silently
    pixels = np.load(s / "d.npy")[0]
    rows = b"".join(b"\0" + pixels[i].tobytes() for i in range(3))
    (t / "x.png").write_bytes(png_file(28, 28, image_data=zlib.compress(rows)))


DEGENERATE = {
    "a 0-byte .npy": (lambda s, t: (t / "x.npy").write_bytes(b""), _compress("x.npy"), "not a readable .npy file"),
    "a .npy of format version 3.0, header unparsable": (
        lambda s, t: (t / "x.npy").write_bytes(b"\x93NUMPY\x03\x00" + struct.pack("<I", 100) + b"{" * 100),
        _compress("x.npy"), ".npy format version 3.0 is not supported"),
    "a .npy header with an unclosed bracket": (
        lambda s, t: (t / "x.npy").write_bytes(b"\x93NUMPY\x02\x00" + struct.pack("<I", 100) + b"{" * 100),
        _compress("x.npy"), "not a readable .npy file"),
    "a .npy of format version 9.0": (
        lambda s, t: (t / "x.npy").write_bytes(b"\x93NUMPY\x09\x00"), _compress("x.npy"), "not supported"),
    "a .npy of shape (True, 28, 28)": (
        lambda s, t: (t / "x.npy").write_bytes(npy_header("(True, 28, 28)") + bytes(784)),
        _compress("x.npy"), "invalid shape (True, 28, 28)"),
    "a .npy of shape (-1, 28, 28)": (
        lambda s, t: (t / "x.npy").write_bytes(npy_header("(-1, 28, 28)") + bytes(784)),
        _compress("x.npy"), "invalid shape (-1, 28, 28)"),
    "a .npy of one pixel row": (lambda s, t: np.save(t / "x.npy", np.zeros(28, np.uint8)), _compress("x.npy"),
                                "expected uint8 images, got uint8 (28,)"),
    "a .npy of objects": (lambda s, t: np.save(t / "x.npy", np.array([None, 1]), allow_pickle=True),
                          _compress("x.npy"), "expected uint8 images, got object"),
    "an empty directory": (_dir_with(), _compress("in"), "no .png files in this directory"),
    "a directory where a folder is named like a PNG": (_dir_with(("a.png", "png"), ("b.png", "dir")),
                                                       _compress("in"), "b.png: is not a regular file"),
    "a directory holding a FIFO named like a PNG": (_dir_with(("a.png", "png"), ("b.png", "fifo")),
                                                    _compress("in"), "b.png: is not a regular file"),
    "a directory holding a dangling link named like a PNG": (_dir_with(("a.png", "png"), ("b.png", "dangling")),
                                                              _compress("in"), "b.png: is not a regular file"),
    "a PNG missing rows (short image data)": (_short_png, _compress("x.png"), "rows missing"),
    "a PNG of 0 bytes": (lambda s, t: (t / "x.png").write_bytes(b""), _compress("x.png"), "not a readable PNG"),
    "a PNG that is a JPEG": (lambda s, t: Image.new("L", (28, 28)).save(t / "x.png", format="JPEG"),
                             _compress("x.png"), "got JPEG"),
    "a FIFO as the input": (lambda s, t: os.mkfifo(t / "x.npy"), _compress("x.npy"), "not a regular file"),
    "an empty .rds": (lambda s, t: (t / "e.rds").write_bytes(b""), _decompress("e.rds"), "bad magic"),
    "an .rds header alone": (lambda s, t: (t / "e.rds").write_bytes((s / "d.rds").read_bytes()[:34]),
                             _decompress("e.rds"), "truncated file"),
    "an .rds that is a directory": (lambda s, t: (t / "e.rds").mkdir(), _decompress("e.rds"), "not a regular file"),
    "a test IDX with count 0 (data.dir)": (
        lambda s, t: ((t / "data").mkdir(), os.symlink(MNIST_DIR / "train-images-idx3-ubyte.gz",
                                                       t / "data" / "train-images-idx3-ubyte.gz"),
                      (t / "data" / "t10k-images-idx3-ubyte").write_bytes(idx_file(0, b""))),
        _train(lambda t: f"data.dir={t / 'data'}"), "t10k-images-idx3-ubyte: holds no images"),
    "a .npy of 0 images as the test set": (
        lambda s, t: np.save(t / "test.npy", np.zeros((0, 28, 28), np.uint8)),
        _train(lambda t: f"data.test_file={t / 'test.npy'}"), "test.npy: holds no images"),
    "an empty data.dir, no network": (
        lambda s, t: (t / "data").mkdir(), _train(lambda t: f"data.dir={t / 'data'}", "data.mirrors=[http://127.0.0.1:9/]"),
        "cannot download MNIST train-images-idx3-ubyte.gz (http://127.0.0.1:9/train-images-idx3-ubyte.gz"),
    "an empty data.dir, data.source=idx": (
        lambda s, t: (t / "data").mkdir(), _train(lambda t: f"data.dir={t / 'data'}", "data.source=idx"),
        "no train-images-idx3-ubyte[.gz] in data.dir="),
    "a directory as the training file": (
        lambda s, t: (t / "data").mkdir(), _train(lambda t: f"data.train_file={t / 'data'}"),
        "not a regular file"),
    "train.epochs=10**30": (lambda s, t: None, _train("train.epochs=" + "1" + "0" * 30),
                            "train.epochs must be 1..1e6"),
    "seed=2**70": (lambda s, t: None, _train(f"seed={2**70}"), "seed must be 0..2**32-1"),
    "latent_dims=10**20": (lambda s, t: None, _train("latent_dims=" + "1" + "0" * 20),
                           "latent_dims must be 1..4096"),
    "data.test_limit=2**64": (lambda s, t: None, _train(f"data.test_limit={2**64}"),
                              "data.test_limit must be"),
}


DEGENERATE_FAST = {"a 0-byte .npy", "a .npy of shape (True, 28, 28)", "a directory where a folder is named like a PNG",
                   "a PNG missing rows (short image data)", "an empty .rds", "train.epochs=10**30"}


@pytest.mark.parametrize("case", cases("degenerate inputs", DEGENERATE, DEGENERATE_FAST))
def test_degenerate_inputs(shared, tmp_path, case):
    make, args, message = DEGENERATE[case]
    make(shared, tmp_path)
    refuse_case(shared, tmp_path, *args(shared, tmp_path), message)
    if "=" in case:  # a bad value is refused before anything runs: not even a directory
        assert not (tmp_path / "run").exists()


def test_a_training_npy_of_n_x_h_x_w_is_read_as_one_channel(tmp_path, mnist_dir):
    """(N, H, W) .npy files are images of one channel for training too (were refused as "(28, 28) but test
    images (28, 28, 1)" even when they matched)."""
    np.save(tmp_path / "train.npy", np.zeros((300, 32, 32), np.uint8))
    r = train(f"data.train_file={tmp_path / 'train.npy'}", f"hydra.run.dir={tmp_path / 'run'}")
    refused(r, "training images are (32, 32, 1) but test images (28, 28, 1)")


count("degenerate inputs")


# ---- 4. outputs that would destroy something -------------------------------------------------------------------

def _fake_run(t):
    (t / "run").mkdir()
    for name in ("config.yaml", "checkpoint.msgpack", "codec.npz"):
        (t / "run" / name).write_bytes(b"the run's " + name.encode())


OUTPUTS = {  # make(shared, tmp), args(shared, tmp), message
    "-o equal to the input": (
        lambda s, t: shutil.copy(s / "d.npy", t / "d.npy"),
        lambda s, t: ["compress", t / "d.npy", "-m", s / "m.rdsm", "-o", t / "d.npy", "--force"],
        "is an input of this command"),
    "-o the input through ./ and ..": (
        lambda s, t: (shutil.copy(s / "d.npy", t / "d.npy"), (t / "sub").mkdir()),
        lambda s, t: ["compress", t / "d.npy", "-m", s / "m.rdsm", "-o", t / "sub" / ".." / "." / "d.npy", "--force"],
        "is an input of this command"),
    "-o equal to the model": (
        lambda s, t: shutil.copy(s / "m.rdsm", t / "m.rdsm"),
        lambda s, t: ["decompress", s / "d.rds", "-m", t / "m.rdsm", "-o", t / "m.rdsm", "--force"],
        "is an input of this command"),
    "-o a symlink to the input": (
        lambda s, t: (shutil.copy(s / "d.npy", t / "d.npy"), os.symlink(t / "d.npy", t / "link.rds")),
        lambda s, t: ["compress", t / "d.npy", "-m", s / "m.rdsm", "-o", t / "link.rds", "--force"],
        "is an input of this command"),
    "-o a hard link to the input": (
        lambda s, t: (shutil.copy(s / "d.npy", t / "d.npy"), os.link(t / "d.npy", t / "hard.rds")),
        lambda s, t: ["compress", t / "d.npy", "-m", s / "m.rdsm", "-o", t / "hard.rds", "--force"],
        "is an input of this command"),
    "-o a FIFO": (
        lambda s, t: os.mkfifo(t / "fifo"),
        lambda s, t: ["compress", s / "d.npy", "-m", s / "m.rdsm", "-o", t / "fifo", "--force"],
        "exists and is not a regular file or directory"),
    "-o /dev/null": (
        lambda s, t: None, lambda s, t: ["compress", s / "d.npy", "-m", s / "m.rdsm", "-o", "/dev/null", "--force"],
        "/dev/null: exists and is not a regular file or directory"),
    "-o a dangling symlink": (
        lambda s, t: os.symlink(t / "nowhere", t / "dangling.rds"),
        lambda s, t: ["compress", s / "d.npy", "-m", s / "m.rdsm", "-o", t / "dangling.rds", "--force"],
        "exists and is not a regular file or directory"),
    "an existing output without --force": (
        lambda s, t: (t / "out.rds").write_bytes(b"precious"),
        lambda s, t: ["compress", s / "d.npy", "-m", s / "m.rdsm", "-o", t / "out.rds"],
        "exists (use --force to replace it)"),
    "an existing output directory without --force": (
        lambda s, t: ((t / "out").mkdir(), (t / "out" / "notes.txt").write_bytes(b"precious")),
        lambda s, t: ["decompress", s / "d.rds", "-m", s / "m.rdsm", "-o", t / "out"],
        "exists (use --force to replace it)"),
    "-o a directory holding the input, --force": (
        lambda s, t: ((t / "out").mkdir(), shutil.copy(s / "d.rds", t / "out" / "d.rds")),
        lambda s, t: ["decompress", t / "out" / "d.rds", "-m", s / "m.rdsm", "-o", t / "out", "--force"],
        "holds"),
    "-o a directory holding the model, --force": (
        lambda s, t: ((t / "out").mkdir(), shutil.copy(s / "m.rdsm", t / "out" / "m.rdsm")),
        lambda s, t: ["decompress", s / "d.rds", "-m", t / "out" / "m.rdsm", "-o", t / "out", "--force"],
        "an input of this command"),
    "-o the working directory, --force": (
        lambda s, t: (t / "mine.txt").write_bytes(b"precious"),
        lambda s, t: ["decompress", s / "d.rds", "-m", s / "m.rdsm", "-o", t, "--force"],
        "is the working directory or holds it"),
    "-o one of the input PNGs of a directory, --force": (
        lambda s, t: shutil.copytree(s / "pngs", t / "pngs"),
        lambda s, t: ["compress", t / "pngs", "-m", s / "m.rdsm", "-o", t / "pngs" / "1.png", "--force"],
        "is an input of this command"),
    "export -o the run's checkpoint, --force": (
        lambda s, t: _fake_run(t),
        lambda s, t: ["export", t / "run", "-o", t / "run" / "checkpoint.msgpack", "--force"],
        "is an input of this command"),
    "export -o the run's config, --force": (
        lambda s, t: _fake_run(t),
        lambda s, t: ["export", t / "run", "-o", t / "run" / "config.yaml", "--force"],
        "is an input of this command"),
    "-o a file where a directory is expected": (
        lambda s, t: (t / "out").write_bytes(b"precious"),
        lambda s, t: ["decompress", s / "d.rds", "-m", s / "m.rdsm", "-o", t / "out", "--force"],
        "exists and is a file"),
    "-o in a missing directory": (
        lambda s, t: None,
        lambda s, t: ["compress", s / "d.npy", "-m", s / "m.rdsm", "-o", t / "no" / "such" / "out.rds"],
        "cannot write"),
}


OUTPUTS_FAST = {"-o equal to the input", "-o a FIFO", "-o a symlink to the input",
                "-o a directory holding the input, --force", "-o one of the input PNGs of a directory, --force",
                "export -o the run's checkpoint, --force"}


@pytest.mark.parametrize("case", cases("outputs", OUTPUTS, OUTPUTS_FAST))
def test_outputs(shared, tmp_path, case):
    make, args, message = OUTPUTS[case]
    make(shared, tmp_path)
    expect_refusal(args(shared, tmp_path), message, [shared, tmp_path], cwd=tmp_path)
    assert not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.glob("*/.*.tmp"))


@SLOW
def test_an_output_name_of_250_bytes_is_written(shared, tmp_path):
    """The temp name beside it would pass the 255-byte limit: it is shortened, never the output refused."""
    out, directory = tmp_path / ("a" * 246 + ".rds"), tmp_path / ("b" * 250)
    assert run("compress", shared / "d.npy", "-m", shared / "m.rdsm", "-o", out).returncode == 0
    assert run("decompress", out, "-m", shared / "m.rdsm", "-o", directory).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, directory.name])


@SLOW
@pytest.mark.parametrize("target", ["a file", "/dev/null"])
def test_a_run_directory_that_is_a_file(tmp_path, target):
    path = tmp_path / "file" if target == "a file" else Path("/dev/null")
    if target == "a file":
        path.write_bytes(b"precious")
    before = snapshot(tmp_path)
    refused(train("data.train_limit=256", f"hydra.run.dir={path}"), str(path))
    assert snapshot(tmp_path) == before


count("outputs", 3, slow=True)


# ---- 5. two runs writing one run directory at once ---------------------------------------------------------------

@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, mnist_dir):
    """A first training run holding a run directory; a second one started in it meanwhile; what the second did
    to the first's directory (snapshot of everything but the files the first run itself writes)."""
    run_dir = tmp_path_factory.mktemp("locked") / "run"
    first = subprocess.Popen([sys.executable, "-m", "rdsweep", "lmbda=1000", "train.epochs=50",
                              "data.train_limit=1280", "data.test_limit=100", "progress=false",
                              f"hydra.run.dir={run_dir}"], cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (run_dir / "config.yaml").exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, first.stderr.read()
        def theirs(path):  # what the first run writes meanwhile (its checkpoint after each epoch, its log)
            name = Path(path).name
            return name in ("checkpoint.msgpack", "history.csv", "rdsweep.log") or name.endswith(".rdsweep-tmp")

        before = {k: v for k, v in snapshot(run_dir).items() if not theirs(k)}
        second = run("lmbda=2000", "train.epochs=1", "data.train_limit=256", "progress=false",
                     f"hydra.run.dir={run_dir}", module="rdsweep")
        after = {k: v for k, v in snapshot(run_dir).items() if not theirs(k)}
        alive = first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=120)
    return second, before, after, alive


def test_a_second_run_in_a_run_directory_is_refused_in_one_line(two_runs):
    second, _, _, alive = two_runs
    assert alive, "the first run ended before the second started: make it longer"
    refused(second, "is in use by another run (locked)")


def test_a_refused_run_leaves_the_first_runs_directory_alone(two_runs):
    _, before, after, _ = two_runs
    assert after == before, sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


count("concurrency", 2)


@SLOW
@pytest.mark.parametrize("kind", ["directory", "FIFO"])
def test_a_lock_file_that_is_not_a_file_is_one_line(tmp_path, kind):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".lock").mkdir() if kind == "directory" else os.mkfifo(tmp_path / "run" / ".lock")
    refused(train("data.train_limit=256", f"hydra.run.dir={tmp_path / 'run'}"), "cannot lock")
    assert not (tmp_path / "run" / "checkpoint.msgpack").exists()


count("concurrency", 2, slow=True)


# ---- 6. the aggregation on bad records: warn, leave out, exit 0, write rd.csv --------------------------------

GOOD = {"lmbda": 300, "rate_info_bits": 12.0, "psnr_db": 19.0, "decode_mismatches": 0, "prior": "x",
        "distortion": "mae", "latent_dims": 50, "epochs": 5, "test_digits": 10000, "model": "seed", "data": "mnist",
        "seed": 0}


def _json(**changes):
    return json.dumps({**GOOD, **changes}).encode()


RECORDS = {  # run directory -> (what to write: {file: bytes | "fifo" | "dir" | ("sparse", size) | ("link", to)},
    #                              what the warning says)
    "string lmbda": ({"metrics.json": _json(lmbda="300")}, "lmbda is '300', not a finite number"),
    "invalid UTF-8 in failed.txt": ({"failed.txt": b"boom \xff\xfe\n"}, "failed: boom"),
    "invalid UTF-8 in metrics.json": ({"metrics.json": b'{"lmbda": "\xff"}'}, "unreadable metrics.json"),
    "NaN rate": ({"metrics.json": _json(rate_info_bits=float("nan"))}, "rate_info_bits is nan"),
    "Infinity PSNR": ({"metrics.json": _json(psnr_db=float("inf"))}, "psnr_db is inf"),
    "-Infinity mae": ({"metrics.json": _json(mae=float("-inf"))}, "mae is -inf"),
    "1e400 lmbda": ({"metrics.json": _json(lmbda=1.5).replace(b"1.5", b"1e400")}, "lmbda is inf"),
    "10**400 lmbda": ({"metrics.json": _json(lmbda=10**400)}, "lmbda is 10000000000"),
    "a 5000-digit integer": ({"metrics.json": _json(seed=1).replace(b'"seed": 1', b'"seed": 1' + b"0" * 5000)},
                             "unreadable metrics.json"),
    "mixed types: a list epochs": ({"metrics.json": _json(epochs=[5])}, "epochs is [5], not a finite number"),
    "mixed types: a number prior": ({"metrics.json": _json(prior=3)}, "prior is 3, not a string"),
    "mixed types: a learned run without latent_dims": (
        {"metrics.json": json.dumps({k: v for k, v in GOOD.items() if k != "latent_dims"}).encode()},
        "latent_dims is None"),
    "mixed types: latent_dims '-' in a learned run": ({"metrics.json": _json(latent_dims="-")}, "latent_dims is '-'"),
    "mixed types: boolean lmbda": ({"metrics.json": _json(lmbda=True)}, "lmbda is True"),
    "lone surrogate in a string": ({"metrics.json": _json(prior="\ud800")}, "not valid Unicode"),
    "newline in a setting": ({"metrics.json": _json(prior="a\nb")}, "not one line of text"),
    "decode mismatches": ({"metrics.json": _json(decode_mismatches=3)}, "3 decode mismatches"),
    "not an object": ({"metrics.json": b"[1, 2]"}, "not a JSON object"),
    "empty metrics.json": ({"metrics.json": b""}, "unreadable metrics.json"),
    "nested 100000 deep": ({"metrics.json": b"[" * 100000 + b"]" * 100000}, "unreadable metrics.json"),
    "metrics.json of 1.5 GB (sparse)": ({"metrics.json": ("sparse", 1500 << 20)}, "unreadable metrics.json"),
    "metrics.json a FIFO": ({"metrics.json": "fifo"}, "not a regular file"),
    "metrics.json a directory": ({"metrics.json": "dir"}, "not a regular file"),
    "metrics.json a link to /dev/zero": ({"metrics.json": ("link", "/dev/zero")}, "not a regular file"),
    "failed.txt a FIFO": ({"failed.txt": "fifo"}, "unreadable failed.txt"),
    "failed.txt a directory": ({"failed.txt": "dir"}, "unreadable failed.txt"),
    "incomplete (a checkpoint only)": ({"checkpoint.msgpack": b""}, "incomplete (no metrics.json)"),
}
count("records", len(RECORDS))


def test_records(tmp_path):
    """Every bad record at once beside good ones: one warning each naming its directory, left out; exit 0;
    rd.csv holds the good runs only; the records are not touched."""
    records = tmp_path / "runs"
    for i, lmbda in enumerate((300, 500, 1000)):
        d = records / f"good-{i}"
        d.mkdir(parents=True)
        (d / "metrics.json").write_bytes(_json(lmbda=lmbda, rate_info_bits=10.0 + i, psnr_db=15.0 + i))
    for i, case in enumerate(sorted(RECORDS)):
        d = records / f"bad-{i:02d}"
        d.mkdir()
        for name, what in RECORDS[case][0].items():
            if what == "fifo":
                os.mkfifo(d / name)
            elif what == "dir":
                (d / name).mkdir()
            elif isinstance(what, tuple) and what[0] == "sparse":
                sparse(d / name, _json(), what[1])
            elif isinstance(what, tuple):
                os.symlink(what[1], d / name)
            else:
                (d / name).write_bytes(what)
    before = snapshot(records)
    r = run("aggregate", records, "--out", tmp_path / "out", timeout=120)
    assert not r.killed and r.returncode == 0, r
    assert "Traceback" not in r.stderr and r.maxrss_mb < LIMIT_MB, r
    warnings = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert all(ln.startswith("rdsweep aggregate: ") for ln in warnings), r
    for i, case in enumerate(sorted(RECORDS)):
        mine = [ln for ln in warnings if f"/bad-{i:02d}:" in ln]
        assert len(mine) == 1 and RECORDS[case][1] in mine[0], (case, mine)
    rd = (tmp_path / "out" / "rd.csv").read_text().splitlines()
    assert len(rd) == 4 and all("good-" in row for row in rd[1:]), rd
    assert snapshot(records) == before


# ---- 7. signals during `rdsweep decompress ... -o DIR` ---------------------------------------------------------

@pytest.fixture(scope="module")
def many(shared, tmp_path_factory):
    """10,000 digits in one .rds (decompressing them into PNGs takes a few seconds)."""
    from rdsweep import load
    from rdsweep.data.idx import read_idx_images

    d = tmp_path_factory.mktemp("many")
    digits = read_idx_images(MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    (d / "many.rds").write_bytes(load(shared / "m.rdsm").compress(digits))
    return d / "many.rds"


def start_decompress(rds, model, out):
    return subprocess.Popen([sys.executable, "-m", "rdsweep.cli", "decompress", rds, "-m", model, "-o", out],
                            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def temps(directory: Path, name: str = "out") -> list:
    return sorted(p.name for p in directory.glob(f".{name}.*.rdsweep-tmp"))


@SLOW
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_writing_the_directory_leaves_nothing(shared, many, tmp_path, sig):
    proc = start_decompress(many, shared / "m.rdsm", tmp_path / "out")
    deadline = time.time() + 60
    while not temps(tmp_path) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert temps(tmp_path), "the temp directory never appeared"
    time.sleep(0.1)  # some PNGs in
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip() == "rdsweep: interrupted", (proc.returncode, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], list(tmp_path.iterdir())


count("signals", 2, slow=True)


@SLOW
def handlers_ready(proc: subprocess.Popen, timeout: float = 60.0) -> bool:
    """Wait until ``proc`` catches SIGTERM (bit 15 of SigCgt in /proc/PID/status): before that, the signal meets
    CPython's own start-up, which rdsweep cannot handle. False if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            caught = next(ln for ln in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                          if ln.startswith("SigCgt:"))
        except (OSError, StopIteration):
            return False
        if int(caught.split()[1], 16) >> (signal.SIGTERM - 1) & 1:
            return True
        time.sleep(0.002)
    return False


def test_a_signal_at_any_moment_is_one_line(shared, many, tmp_path):
    """From the moment rdsweep catches signals (its first lines, before the imports of JAX: an exception there was
    an ImportError traceback or a crash; a signal inside JAX's gc callback was swallowed and the run went on) to
    the end."""
    rng = random.Random(0)
    for i, delay in enumerate([0.0, 0.1, 0.3, 0.45, 0.6] + [rng.uniform(0.0, 1.0) for _ in range(3)]):
        for sig in (signal.SIGINT, signal.SIGTERM):
            out = tmp_path / f"out{i}{int(sig)}"
            proc = start_decompress(many, shared / "m.rdsm", out)
            ready = handlers_ready(proc)  # delays count from there
            time.sleep(delay)
            if proc.poll() is not None:  # a fast machine: done before the signal
                assert proc.returncode == 0 and len(list(out.iterdir())) == 10000, (delay, proc.stderr.read())
                continue
            assert ready, delay
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
            lines = err.strip().splitlines()
            assert (proc.returncode, lines) == (130, ["rdsweep: interrupted"]), (delay, sig, proc.returncode, err)
            assert not out.exists() and not temps(tmp_path, out.name), (delay, sig)


count("signals", 1, slow=True)


@SLOW
def test_a_sigkilled_decompress_leaves_a_temp_the_next_one_removes(shared, many, tmp_path):
    proc = start_decompress(many, shared / "m.rdsm", tmp_path / "out")
    while not temps(tmp_path) and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(0.2)
    proc.kill()
    proc.communicate(timeout=60)
    assert len(temps(tmp_path)) == 1 and not (tmp_path / "out").exists()
    r = run("decompress", shared / "d.rds", "-m", shared / "m.rdsm", "-o", tmp_path / "out")
    assert r.returncode == 0, r
    assert temps(tmp_path) == [] and len(list((tmp_path / "out").iterdir())) == 20


count("signals", 1, slow=True)


# ---- found while probing: a forged model let a forged count decode without bound (now: check_count) ------

def _peaked(a):  # valid tables (every count >= 1, sums 2**24) whose likeliest symbol costs ~1e-5 bits
    c = np.ones_like(a)
    c[:, 0] = 2**24 - (a.shape[1] - 1)
    return c


@SLOW
def test_a_forged_count_with_a_peaked_model_is_bounded(shared, tmp_path):
    peaked = forge(shared / "m.rdsm", tmp_path / "peaked.rdsm", put(Y + ["counts"], _peaked))
    from rdsweep import load

    data = load(peaked).compress(np.load(shared / "d.npy"))
    (tmp_path / "f.rds").write_bytes(forged_count(data, 2**24))
    expect_refusal(["decompress", tmp_path / "f.rds", "-m", peaked, "-o", tmp_path / "out"], "", [shared, tmp_path],
                   [tmp_path / "out"])


count("sizes", 1, slow=True)


# ---- the count ------------------------------------------------------------------------------------------------

def test_zz_cases_per_class(capsys):
    with capsys.disabled():
        print("\nhostile cases per class (fast + slow):")
        for cls, (fast, slow) in COUNTS.items():
            print(f"  {cls:18} {fast + slow:3}  ({fast} fast, {slow} slow)")
        print(f"  {'total':18} {sum(map(sum, COUNTS.values())):3}")


@SLOW
def test_zz_cases_per_class_slow(capsys):  # printed by `-m slow` runs too
    test_zz_cases_per_class(capsys)
