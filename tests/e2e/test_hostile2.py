"""Hostile inputs, second round: what the second round of fixes promises, case by case, by class.

Every case runs the real command (`rdsweep ...` / `python -m rdsweep ...`) in a subprocess, through the first
suite's launcher (its peak memory measured, killed past 1 GB or its time limit). A refusal is exactly one stderr
line `rdsweep: error: ...`, exit status 1, no traceback, under 1 GB, nothing changed that the command was not
asked to write, the requested output absent (``refused`` / ``expect_refusal`` of tests/e2e/test_hostile.py).
Classes (each case one parametrized entry; the last test prints the counts per class, fast and slow):

1. decoding never invents data          6. signals in training
2. files that are not ours              7. figures written atomically
3. the memory bound                     8. useless models never recorded
4. no hangs                             9. smaller promises (strict PNG, --methods, names with newlines, API)
5. no tracebacks

This module keeps its own per-class counts (COUNTS below): importing the first suite runs its module-level
``count()`` calls, whose dictionary then holds the first round's classes too. Cases where a promise does not
hold (yet) are ``xfail(strict=True)`` with the reason; they pass once rdsweep is fixed, and then fail as XPASS
until their mark is removed.
"""
from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from flax import serialization
from PIL import Image

from tests.conftest import QUICK, ROOT, _env, forge, put, untrained_codec
from tests.e2e.test_hostile import (  # noqa: F401 - shared: the first suite's module fixture, used here too
    _LAUNCHER, LIMIT_MB, SLOW, Result, expect_refusal, npy_header, handlers_ready, refused, run, shared, snapshot,
    sparse)

COUNTS: dict = {}  # class -> [fast cases, slow cases] of this module
DEAD_PID = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # a pid no process can have
TEMP = ".rdsweep-tmp"


class Measured(UserWarning):
    """What a test measured (peak memory, seconds, outcomes, the counts per class): shown in pytest's warnings
    summary, which pytest-xdist relays from its workers (their printed output it does not)."""


def report(text: str) -> None:
    warnings.warn(Measured(text), stacklevel=2)


def cases(cls: str, table: dict, fast=(), xfail=None, skip=None) -> list:
    """pytest params for one class from {id: case}: slow but those in ``fast``, strict xfails with their reason,
    skips with theirs; counted per class (fast, slow)."""
    xfail, skip = xfail or {}, skip or {}
    assert set(fast) | set(xfail) | set(skip) <= set(table), (set(fast) | set(xfail) | set(skip)) - set(table)
    params = []
    for name in sorted(table):
        slow = name not in fast
        marks = [SLOW] if slow else []
        if name in xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=xfail[name]))
        if name in skip:
            marks.append(pytest.mark.skipif(skip[name][0], reason=skip[name][1]))
        params.append(pytest.param(name, marks=marks, id=name))
        COUNTS.setdefault(cls, [0, 0])[slow] += 1
    return params


def count(cls: str, n: int = 1, slow: bool = False) -> None:
    COUNTS.setdefault(cls, [0, 0])[slow] += n


def launch(*args, module="rdsweep.cli", cwd=ROOT, timeout=180, limit_mb=LIMIT_MB, rlimits=(), env=None) -> Result:
    """The first suite's ``run`` with resource limits: ``rlimits`` ((RLIMIT_*, value) pairs) are set, and SIGXFSZ
    ignored, in the launcher before it forks the command, which inherits them (a write past RLIMIT_FSIZE then
    fails with EFBIG, as on a full disk, instead of killing the process). They are set by the launcher's own
    first lines, not a preexec_fn: that would fork this multithreaded process (JAX) itself. ``bytes`` arguments
    are passed as they are (names that are not UTF-8); ``limit_mb``: the peak memory past which the launcher
    kills the command."""
    fd, report = tempfile.mkstemp(prefix="rss-")
    os.close(fd)
    prelude = "import resource, signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n" + "".join(
        f"resource.setrlimit({which}, ({value}, {value}))\n" for which, value in rlimits)
    argv = [a if isinstance(a, bytes) else str(a) for a in args]
    try:
        proc = subprocess.run([sys.executable, "-c", prelude + _LAUNCHER, report, str(limit_mb * 1024), str(timeout),
                               "-m", module, *argv], cwd=cwd, env={**_env(), **(env or {})}, capture_output=True,
                              encoding="utf-8", errors="replace", timeout=timeout + 60)
        rss, _, killed = Path(report).read_text().partition(" ")
    finally:
        os.unlink(report)
    return Result(proc, int(rss), killed)


def refuse(args, message, watch, absent=(), **kw) -> Result:
    """``expect_refusal`` through ``launch`` (resource limits, bytes arguments)."""
    return expect_refusal(args, message, watch, absent, runner=launch, **kw)


def no_traceback(r: Result) -> None:
    assert not r.killed and r.returncode >= 0, r
    assert "Traceback" not in r.stderr and r.maxrss_mb < LIMIT_MB, r


def temps_under(*dirs) -> list:
    return sorted(str(p) for d in dirs for p in Path(d).rglob(f"*{TEMP}"))


def train_args(*args) -> list:
    """A quick training run's overrides; ``args`` replace the defaults of the same key, or come after them."""
    defaults = {"lmbda": "500", "train.epochs": "1", "progress": "false", "data.train_limit": "256",
                "data.test_limit": "200"}
    keys = {a.split("=", 1)[0] for a in args if isinstance(a, str)}
    return [f"{k}={v}" for k, v in defaults.items() if k not in keys] + list(args)


def copy_run(trained_run, dst: Path, keep_record: bool = False) -> Path:
    """A copy of the shared trained run, as a run stopped after its checkpoint (no record, no tables)."""
    drop = [".lock"] + ([] if keep_record else ["metrics.json", "codec.npz", "digits.npz"])
    shutil.copytree(trained_run, dst, ignore=shutil.ignore_patterns(*drop))
    return dst


GOOD = {"lmbda": 300, "rate_info_bits": 12.0, "psnr_db": 19.0, "decode_mismatches": 0, "prior": "x",
        "distortion": "mae", "latent_dims": 50, "epochs": 5, "test_digits": 10000, "model": "seed", "data": "mnist",
        "seed": 0}


def records(top: Path, settings: dict, lambdas=(300, 500, 1000), seeds=(0,)) -> Path:
    """{directory name: record fields} written as one run per lambda (and seed) below top: a curve each."""
    for name, fields in settings.items():
        for i, lmbda in enumerate(lambdas):
            for seed in seeds:
                d = top / name / f"lmbda={lmbda}-s{seed}"
                d.mkdir(parents=True)
                rec = {**GOOD, "lmbda": lmbda, "seed": seed, "rate_info_bits": 10.0 + 3 * i + 0.1 * seed,
                       "psnr_db": 15.0 + i + 0.01 * seed, **fields}
                (d / "metrics.json").write_text(json.dumps(rec))
    return top


# ---- 1. decoding never invents data --------------------------------------------------------------------------
# (.rds files forged with their CRC recomputed, so only the decoder can refuse them)

def rds(fp: bytes, n: int, shape, payload: bytes, version: int = 4, names: bytes = b"") -> bytes:
    """A well-formed .rds of any version (1 and 2: no channels byte; 3: no names length) around ``payload``,
    its CRC valid."""
    h, w, c = shape
    head = struct.pack(">4sB16sIHHI", b"RDSW", version, fp, n, h, w, len(payload)) if version < 3 else \
        struct.pack(">4sB16sIHHBI", b"RDSW", version, fp, n, h, w, c, len(payload)) if version == 3 else \
        struct.pack(">4sB16sIHHBII", b"RDSW", version, fp, n, h, w, c, len(payload), len(names))
    body = head + payload + names
    return body + struct.pack(">I", zlib.crc32(body))


def names_block(*names: bytes) -> bytes:
    return b"".join(struct.pack(">H", len(name)) + name for name in names)


@pytest.fixture(scope="module")
def coded(shared, tmp_path_factory):
    """Three models, each made when first asked for (``coded.model(key)``): "seed" (the seed model on 28x28
    digits, latent 12), "hyper" (the hyperprior model), "wide" (the seed model on 32x32); each with its model
    file and the symbols of 20 test digits."""
    from rdsweep import load

    d = tmp_path_factory.mktemp("coded")
    digits = np.load(shared / "d.npy")
    made: dict = {}

    def model(key: str) -> SimpleNamespace:
        if key not in made:
            images = digits
            if key == "wide":
                images = np.zeros((len(digits), 32, 32), np.uint8)
                images[:, 2:30, 2:30] = digits
            codec = {"seed": lambda: load(shared / "m.rdsm"),
                     "hyper": lambda: untrained_codec(latent_dims=12, model="hyperprior"),
                     "wide": lambda: untrained_codec((32, 32, 1), latent_dims=12)}[key]()
            codec.save(d / f"{key}.rdsm")
            made[key] = SimpleNamespace(codec=codec, path=d / f"{key}.rdsm", symbols=codec.encode(images),
                                        n=len(images))
        return made[key]
    return SimpleNamespace(dir=d, model=model)


def _file(key, version=4, n=None, payload=None, names=b"", legacy_payload=None):
    """An .rds for model ``key``: its digits' real payload for that version (or ``payload``), count n."""
    def make(c):
        m = c.model(key)
        data = m.codec.pack(m.symbols, legacy_payload or version) if payload is None else payload(m)
        return rds(m.codec.fingerprint, m.n if n is None else n(m.n), m.codec.shape, data, version, names)
    return make


def _escaped(key, layer, value):
    """The real symbols with one escaped to ``value`` (beyond the encoder's clamp), coded with its end mark."""
    def make(c):
        m = c.model(key)
        symbols = {k: v.copy() for k, v in m.symbols.items()}
        symbols[layer][3, 1] = value
        return rds(m.codec.fingerprint, m.n, m.codec.shape, m.codec.pack(symbols))
    return make


NAMES = [f"{i:02d}.png".encode() for i in range(20)]
FORGED = "corrupted stream"
DECODING = {  # model, the file, extra arguments, the one line's message
    "v2 file without --legacy": ("seed", _file("seed", 2), [], "format version 2 cannot prove its digit count"),
    "v1 file without --legacy": ("seed", _file("seed", 1), [], "format version 1 cannot prove its digit count"),
    "v2 --legacy, hyperprior model": ("hyper", _file("hyper", 2), ["--legacy"],
                                      "holds only seed-model 28x28 digits; this model is hyperprior on 28x28x1"),
    "v1 --legacy, hyperprior model": ("hyper", _file("hyper", 1), ["--legacy"],
                                      "holds only seed-model 28x28 digits; this model is hyperprior"),
    "v2 --legacy, seed model on 32x32": ("wide", _file("wide", 2), ["--legacy"],
                                         "holds only seed-model 28x28 digits; this model is seed on 32x32x1"),
    "v1 --legacy, seed model on 32x32": ("wide", _file("wide", 1), ["--legacy"], "this model is seed on 32x32x1"),
    "v2 without --legacy, hyperprior model": ("hyper", _file("hyper", 2), [], "holds only seed-model 28x28"),
    "v2 --legacy, a v3 payload (end mark)": ("seed", _file("seed", 2, legacy_payload=3), ["--legacy"], FORGED),
    "v2 --legacy, a v1 payload": ("seed", _file("seed", 2, legacy_payload=1), ["--legacy"], FORGED),
    "v2 --legacy, count 0": ("seed", _file("seed", 2, n=lambda n: 0), ["--legacy"], "holds no images"),
    "v4 count N+1": ("seed", _file("seed", 4, n=lambda n: n + 1), [], FORGED),
    "v4 count N-1": ("seed", _file("seed", 4, n=lambda n: n - 1), [], FORGED),
    "v4 count N+2": ("seed", _file("seed", 4, n=lambda n: n + 2), [], "22 digits cannot fit in a payload"),
    "v3 count N+1": ("seed", _file("seed", 3, n=lambda n: n + 1), [], FORGED),
    "v3 count N-1": ("seed", _file("seed", 3, n=lambda n: n - 1), [], FORGED),
    "v4 count 2**24": ("seed", _file("seed", 4, n=lambda n: 2**24), [], "cannot fit in a payload"),
    "v3 count 2**24": ("seed", _file("seed", 3, n=lambda n: 2**24), [], "cannot fit in a payload"),
    "v4 count 0": ("seed", _file("seed", 4, n=lambda n: 0), [], "holds no images"),
    "v3 count 0": ("seed", _file("seed", 3, n=lambda n: 0), [], "holds no images"),
    "v4 count 0, empty payload": ("seed", _file("seed", 4, n=lambda n: 0, payload=lambda m: b""), [],
                                  "holds no images"),
    "hyperprior: v4 count N+1": ("hyper", _file("hyper", 4, n=lambda n: n + 1), [], FORGED),
    "hyperprior: v4 count N-1": ("hyper", _file("hyper", 4, n=lambda n: n - 1), [], FORGED),
    "hyperprior: v4 count 0": ("hyper", _file("hyper", 4, n=lambda n: 0), [], "holds no images"),
    "32x32: v4 count N+1": ("wide", _file("wide", 4, n=lambda n: n + 1), [], FORGED),
    "empty payload, count 1": ("seed", _file("seed", 4, n=lambda n: 1, payload=lambda m: b""), [], FORGED),
    "empty payload, count 1, hyperprior": ("hyper", _file("hyper", 4, n=lambda n: 1, payload=lambda m: b""), [],
                                           FORGED),
    "payload ending in a zero 32-bit word": (
        "seed", _file("seed", payload=lambda m: m.codec.pack(m.symbols) + bytes(4)), [], "not an ANS stream"),
    "payload's last word replaced by zeros": (
        "seed", _file("seed", payload=lambda m: m.codec.pack(m.symbols)[:-4] + bytes(4)), [], "not an ANS stream"),
    "payload one zero word, count 1": ("seed", _file("seed", n=lambda n: 1, payload=lambda m: bytes(4)), [],
                                       "not an ANS stream"),
    "payload one byte longer": ("seed", _file("seed", payload=lambda m: m.codec.pack(m.symbols) + b"\x01"), [],
                                FORGED),
    "escape to 2**30 + 1": ("seed", _escaped("seed", "y", 2**30 + 1), [], "an escaped symbol beyond +-2**30"),
    "escape to -(2**30 + 1)": ("seed", _escaped("seed", "y", -(2**30 + 1)), [], "beyond +-2**30"),
    "escape to 2**31 + 5": ("seed", _escaped("seed", "y", 2**31 + 5), [], "beyond +-2**30"),
    "escape to -(2**32 - 1)": ("seed", _escaped("seed", "y", -(2**32 - 1)), [], "beyond +-2**30"),
    "hyperprior: side escape to 2**30 + 1": ("hyper", _escaped("hyper", "side", 2**30 + 1), [], "beyond +-2**30"),
    "hyperprior: y escape to -(2**30 + 1)": ("hyper", _escaped("hyper", "y", -(2**30 + 1)), [], "beyond +-2**30"),
    "32x32: escape to 2**30 + 1": ("wide", _escaped("wide", "y", 2**30 + 1), [], "beyond +-2**30"),
    "names: duplicates": ("seed", _file("seed", names=names_block(*[b"a.png"] * 20)), [],
                          "20 distinct names needed, got 20 (1 distinct)"),
    "names: one duplicate": ("seed", _file("seed", names=names_block(*NAMES[:19], NAMES[0])), [],
                             "(19 distinct)"),
    "names: a '/'": ("seed", _file("seed", names=names_block(*NAMES[:19], b"../up.png")), [],
                     "is not a file name"),
    "names: not UTF-8": ("seed", _file("seed", names=names_block(*NAMES[:19], b"\xff\xfe.png")), [],
                         "malformed image names"),
    "names: 19 for 20 images": ("seed", _file("seed", names=names_block(*NAMES[:19])), [],
                                "malformed image names"),
    "names: 21 for 20 images": ("seed", _file("seed", names=names_block(*NAMES, b"20.png")), [],
                                "image names do not fill their block"),
    "names: a length past the block": ("seed", _file("seed", names=names_block(*NAMES[:19]) + b"\x00\xffab"), [],
                                       "malformed image names"),
    "names: an empty name": ("seed", _file("seed", names=names_block(*NAMES[:19], b"")), [], "is not a file name"),
    "names: '..'": ("seed", _file("seed", names=names_block(*NAMES[:19], b"..")), [], "is not a file name"),
    "names: '.'": ("seed", _file("seed", names=names_block(*NAMES[:19], b".")), [], "is not a file name"),
    "names: a NUL": ("seed", _file("seed", names=names_block(*NAMES[:19], b"a\0b.png")), [], "is not a file name"),
    "names: 256 bytes": ("seed", _file("seed", names=names_block(*NAMES[:19], b"a" * 256)), [],
                         "is not a file name"),
    "names: a block longer than 20 names can be": ("seed", _file("seed", names=bytes(20 * 257 + 1)), [],
                                                   "bytes of names for 20 images"),
    "names for N+1 images and count N+1": ("seed", _file("seed", n=lambda n: n + 1,
                                                         names=names_block(*NAMES, b"20.png")), [], FORGED),
}
DECODING_FAST = {"v2 file without --legacy", "v4 count 0"}


@pytest.mark.parametrize("case", cases("1 decoding", DECODING, DECODING_FAST))
def test_decoding(coded, tmp_path, case):
    key, make, extra, message = DECODING[case]
    (tmp_path / "f.rds").write_bytes(make(coded))
    out = tmp_path / ("out.npy" if "count" in case else "out")  # a .npy or a directory of PNGs
    expect_refusal(["decompress", tmp_path / "f.rds", "-m", coded.model(key).path, *extra, "-o", out], message,
                   [coded.dir, tmp_path], [out])


@SLOW
@pytest.mark.parametrize("version", [1, 2])
def test_a_legacy_file_decodes_exactly_when_asked(coded, tmp_path, version):
    """The refusals above are not a blanket one: --legacy reads the seed model's own old files, exactly."""
    m = coded.model("seed")
    (tmp_path / "old.rds").write_bytes(_file("seed", version)(coded))
    r = run("decompress", tmp_path / "old.rds", "-m", m.path, "--legacy", "-o", tmp_path / "out.npy")
    assert r.returncode == 0, r
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), m.codec.decode(m.symbols))


count("1 decoding", 2, slow=True)


# ---- 2. files that are not ours are never destroyed or modified ---------------------------------------------

def _user_dir(path: Path, *files: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for name in files:
        (path / name).write_text(f"the user's {name}\n")


def _record_dir(path: Path, kind="baseline", extra=()) -> None:
    path.mkdir(parents=True)
    (path / "metrics.json").write_text(json.dumps({"kind": kind, "lmbda": 4}))
    for name in extra:
        (path / name).write_text("the user's\n")


BASELINES_OUT = {  # make(tmp) the --out directory; --methods; the message. Nothing may be computed first:
    # --data-dir names a directory that does not exist, so any work would end in another message
    "OUT/dct holds a user's file": (lambda t: _user_dir(t / "out" / "dct", "notes.txt"), "dct",
                                    "holds notes.txt, which rdsweep baselines did not write"),
    "OUT/pca (the second method) holds another kind of record": (
        lambda t: _record_dir(t / "out" / "pca" / "param=4", kind="learned"), "dct,pca", "holds param=4"),
    "OUT/dct/param=4 holds a record and a user's file": (
        lambda t: _record_dir(t / "out" / "dct" / "param=4", extra=["notes.txt"]), "dct", "holds param=4"),
    "OUT/dct/param=4 an empty directory": (lambda t: (t / "out" / "dct" / "param=4").mkdir(parents=True), "dct",
                                           "holds param=4"),
    "OUT/dct/param=4/metrics.json a link to a user's record": (
        lambda t: ((t / "out" / "dct" / "param=4").mkdir(parents=True),
                   (t / "mine.json").write_text(json.dumps({"kind": "baseline"})),
                   os.symlink(t / "mine.json", t / "out" / "dct" / "param=4" / "metrics.json")), "dct",
        "holds param=4"),
    "OUT/dct/param=4 a link to a user's directory": (
        lambda t: (_record_dir(t / "mine"), (t / "out" / "dct").mkdir(parents=True),
                   os.symlink(t / "mine", t / "out" / "dct" / "param=4")), "dct", "holds param=4"),
    "OUT/dct/param=4/metrics.json not JSON": (
        lambda t: ((t / "out" / "dct" / "param=4").mkdir(parents=True),
                   (t / "out" / "dct" / "param=4" / "metrics.json").write_text("my notes")), "dct",
        "holds param=4"),
    "OUT/dct/param=4/metrics.json a directory": (
        lambda t: (t / "out" / "dct" / "param=4" / "metrics.json").mkdir(parents=True), "dct", "holds param=4"),
    "OUT/dct a link to a user's directory": (
        lambda t: (_user_dir(t / "mine", "notes.txt"), (t / "out").mkdir(), os.symlink(t / "mine", t / "out" / "dct")),
        "dct", "exists and is not a directory of baseline records"),
    "OUT/dct a user's file": (lambda t: ((t / "out").mkdir(), (t / "out" / "dct").write_text("mine")), "dct",
                              "exists and is not a directory of baseline records"),
    "OUT/dct a FIFO": (lambda t: ((t / "out").mkdir(), os.mkfifo(t / "out" / "dct")), "dct",
                       "exists and is not a directory of baseline records"),
    "OUT/jpeg (the last of three) holds a user's file": (
        lambda t: _user_dir(t / "out" / "jpeg", "notes.txt"), "dct,pca,jpeg", "holds notes.txt"),
    "OUT a user's file": (lambda t: (t / "out").write_text("mine"), "dct", "exists and is not a directory"),
    "OUT a link to a user's directory": (
        lambda t: (_user_dir(t / "mine", "notes.txt"), os.symlink(t / "mine", t / "out")), "dct",
        "exists and is not a directory"),
    "OUT a dangling link": (lambda t: os.symlink(t / "nowhere", t / "out"), "dct", "exists and is not a directory"),
    "OUT inside a file": (lambda t: (t / "file").write_text("mine"), "dct", "cannot write"),
}


def _baselines_out(t: Path) -> Path:
    return t / "file" / "sub" if (t / "file").exists() else t / "out"


# a training run pointed at a directory (hydra.run.dir=, or a sweep's job directory)
def _valid_config(path: Path) -> None:
    path.write_text("lmbda: 500\nmodel:\n  name: seed\nprior:\n  name: deep_factorized\ndata:\n  name: mnist\n")


def _link_in_run(name: str, target: str = "mine.txt"):
    def make(t):
        (t / "run").mkdir()
        (t / target).write_text("the user's file\n")
        os.symlink(t / target, t / "run" / name)
    return make


SWEEP_JOB = "mnist-seed-deep_factorized-mae-d50-e1-s0/lmbda=300"  # the job directory of lmbda=300 below
RUN_DIRS = {  # make(tmp); the training's arguments of tmp (default: hydra.run.dir=<tmp>/run); the message
    "user files": (lambda t: _user_dir(t / "run", "notes.txt", "thesis.tex"), None,
                   "is not an rdsweep run directory (it holds 'notes.txt')"),
    "a user's subdirectory": (lambda t: (t / "run" / "data").mkdir(parents=True), None,
                              "is not an rdsweep run directory (it holds 'data')"),
    "a user's file beside an rdsweep config": (
        lambda t: (_user_dir(t / "run", "notes.txt"), _valid_config(t / "run" / "config.yaml")), None,
        "is not an rdsweep run directory (it holds 'notes.txt')"),
    "config.yaml: another program's YAML": (
        lambda t: (t / "run").mkdir() or (t / "run" / "config.yaml").write_text("server:\n  port: 80\n"), None,
        "config.yaml is not an rdsweep run config"),
    "config.yaml: not YAML": (lambda t: (t / "run").mkdir() or (t / "run" / "config.yaml").write_text("{[: ::\n\t- x"),
                              None, "config.yaml is not an rdsweep run config"),
    "config.yaml: a YAML list": (lambda t: (t / "run").mkdir() or (t / "run" / "config.yaml").write_text("- 1\n"),
                                 None, "config.yaml is not an rdsweep run config"),
    "config.yaml: not UTF-8": (lambda t: (t / "run").mkdir() or (t / "run" / "config.yaml").write_bytes(b"\xff\xfe"),
                               None, "config.yaml is not an rdsweep run config"),
    "config.yaml: over 1 MB": (
        lambda t: (t / "run").mkdir() or (t / "run" / "config.yaml").write_text("a: " + "x" * (1 << 20) + "\n"),
        None, "config.yaml"),
    "config.yaml: a directory": (lambda t: (t / "run" / "config.yaml").mkdir(parents=True), None,
                                 "config.yaml: not a regular file"),
    "a file named tensorboard": (lambda t: _user_dir(t / "run", "tensorboard"), None,
                                 "is not an rdsweep run directory (it holds 'tensorboard')"),
    "figures a link to a user's directory": (
        lambda t: (_user_dir(t / "mine", "fig.png"), (t / "run").mkdir(), os.symlink(t / "mine", t / "run" / "figures")),
        None, "is not an rdsweep run directory (it holds 'figures')"),
    "rdsweep.log a link to a user's file": (_link_in_run("rdsweep.log"), None, "rdsweep.log: not a regular file"),
    ".lock a link to a user's file": (_link_in_run(".lock"), None, ".lock: not a regular file"),
    "config.yaml a link to a user's file": (_link_in_run("config.yaml"), None, "config.yaml: not a regular file"),
    "checkpoint.msgpack a link to a user's file": (_link_in_run("checkpoint.msgpack"), None,
                                                   "checkpoint.msgpack: not a regular file"),
    "metrics.json a link to a user's file": (_link_in_run("metrics.json"), None, "metrics.json: not a regular file"),
    "history.csv a link to a user's file": (_link_in_run("history.csv"), None, "history.csv: not a regular file"),
    "failed.txt a link to a user's file": (_link_in_run("failed.txt"), None, "failed.txt: not a regular file"),
    "codec.npz a link to a user's file": (_link_in_run("codec.npz"), None, "codec.npz: not a regular file"),
    "rdsweep.log a dangling link": (lambda t: (t / "run").mkdir() or os.symlink(t / "gone", t / "run" / "rdsweep.log"),
                                    None, "rdsweep.log: not a regular file"),
    "the run directory a link to a user's directory": (
        lambda t: (_user_dir(t / "mine", "notes.txt"), os.symlink(t / "mine", t / "run")), None, "'notes.txt'"),
    "hydra.run.dir= empty": (lambda t: None, lambda t: ["hydra.run.dir="], "hydra.run.dir is empty"),
    "hydra.run.dir= blank": (lambda t: None, lambda t: ["hydra.run.dir='  '"], "hydra.run.dir is empty"),
    "-m, hydra.sweep.dir= empty": (lambda t: None, lambda t: ["-m", "lmbda=300,500", "hydra.sweep.dir="],
                                   "hydra.sweep.dir is empty"),
    "-m, a job directory that is a user's directory": (
        lambda t: _user_dir(t / "sweep" / SWEEP_JOB, "notes.txt"),
        lambda t: ["-m", "lmbda=300,500", "data.train_limit=null", f"hydra.sweep.dir={t / 'sweep'}"],
        "is not an rdsweep run directory (it holds 'notes.txt')"),
    "-m, a job directory whose config.yaml is a link": (
        lambda t: ((t / "sweep" / SWEEP_JOB).mkdir(parents=True), (t / "mine.yaml").write_text("a: 1\n"),
                   os.symlink(t / "mine.yaml", t / "sweep" / SWEEP_JOB / "config.yaml")),
        lambda t: ["-m", "lmbda=300,500", "data.train_limit=null", f"hydra.sweep.dir={t / 'sweep'}"],
        "config.yaml: not a regular file"),
    # found by this suite:
    "a user's file named *.rdsweep-tmp (not the temp pattern)": (
        lambda t: _user_dir(t / "run", "notes.rdsweep-tmp"), None, "is not an rdsweep run directory"),
}
RUN_DIRS_FAST = {"user files"}


@pytest.mark.parametrize("case", cases("2 files not ours", RUN_DIRS, RUN_DIRS_FAST))
def test_a_training_run_never_writes_in_a_directory_not_its_own(tmp_path, mnist_dir, case):
    make, args, message = RUN_DIRS[case]
    make(tmp_path)
    args = args(tmp_path) if args else [f"hydra.run.dir={tmp_path / 'run'}"]
    if args[0] == "-m":
        args = ["-m", "train.epochs=1", "progress=false", "data.test_limit=200", *args[1:]]
    else:
        args = train_args(*args)
    # run in tmp_path: an empty run directory would be the working directory, and nothing may appear there
    refuse(args, message, [tmp_path], module="rdsweep", timeout=120, cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("case", cases("2 files not ours", BASELINES_OUT, ["OUT/dct holds a user's file"]))
def test_baselines_never_replace_what_they_did_not_write(tmp_path, case):
    make, methods, message = BASELINES_OUT[case]
    make(tmp_path)
    r = expect_refusal(["baselines", "--out", _baselines_out(tmp_path), "--methods", methods, "--test-limit", "5",
                        "--data-dir", tmp_path / "no-data"], message, [tmp_path])
    assert r.stdout == "", r.stdout  # refused before any method was computed


@SLOW
def test_a_sweep_keeps_a_users_multirun_yaml(tmp_path, mnist_dir):
    """Hydra writes multirun.yaml into the sweep directory: a user's file of that name must not be replaced
    (the jobs here fail at once, on a missing training file: only what the sweep writes first matters)."""
    _user_dir(tmp_path / "sweep", "multirun.yaml", "notes.txt")
    before = snapshot(tmp_path / "sweep" / "multirun.yaml", tmp_path / "sweep" / "notes.txt")
    r = run("-m", "lmbda=300,500", "train.epochs=1", f"data.train_file={tmp_path / 'missing.npy'}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}", module="rdsweep", timeout=120)
    no_traceback(r)
    assert snapshot(tmp_path / "sweep" / "multirun.yaml", tmp_path / "sweep" / "notes.txt") == before, r


count("2 files not ours", slow=True)


@SLOW
def test_baselines_keep_a_users_files_beside_their_method_directories(tmp_path, mnist_dir):
    """A user's files in OUT itself (not in OUT/<method>) stay, and the records are written beside them."""
    _user_dir(tmp_path / "out", "notes.txt")
    (tmp_path / "out" / "webp_lossless").mkdir()  # an empty method directory: nothing to lose
    before = snapshot(tmp_path / "out" / "notes.txt")
    r = run("baselines", "--out", tmp_path / "out", "--methods", "png,webp_lossless", "--test-limit", "20",
            timeout=300)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r
    assert snapshot(tmp_path / "out" / "notes.txt") == before
    assert list((tmp_path / "out" / "png").glob("param=*/metrics.json"))
    assert list((tmp_path / "out" / "webp_lossless").glob("param=*/metrics.json"))
    assert not temps_under(tmp_path)


count("2 files not ours", slow=True)

HEX = "0123456789abcdef"


def _plant(name_of, kind="file"):
    """Plant an entry beside the output ``<tmp>/out.rds`` (or ``<tmp>/out``): name_of(stem) -> its name."""
    def make(t: Path, stem: str) -> list:
        p = t / name_of(stem)
        (t / "precious.txt").write_text("the user's file\n")
        _user_dir(t / "precious-dir", "notes.txt")
        if kind == "file":
            p.write_text("the user's file\n")
        elif kind == "dir":
            _user_dir(p, "notes.txt")
        elif kind == "link to a file":
            os.symlink(t / "precious.txt", p)
        elif kind == "link to a directory":
            os.symlink(t / "precious-dir", p)
        elif kind == "dangling link":
            os.symlink(t / "nowhere", p)
        elif kind == "fifo":
            os.mkfifo(p)
        elif kind.startswith("owned by "):
            _user_dir(p, "notes.txt") if kind.endswith("directory") else p.write_text("another user's file\n")
            for q in [p, *p.iterdir()] if p.is_dir() else [p]:
                os.lchown(q, 4242, 4242)
        return [p, t / "precious.txt", t / "precious-dir"]
    return make


STALE = {  # make(tmp, stem) -> entries that must stay as they are; the command (its output: out.rds or out/)
    "8 hex digits (the old pattern)": (_plant(lambda s: f".{s}.{DEAD_PID}.0123abcd{TEMP}"), "compress"),
    "17 hex digits": (_plant(lambda s: f".{s}.{DEAD_PID}.{HEX}0{TEMP}"), "compress"),
    "15 hex digits": (_plant(lambda s: f".{s}.{DEAD_PID}.{HEX[1:]}{TEMP}"), "compress"),
    "upper-case hex digits": (_plant(lambda s: f".{s}.{DEAD_PID}.{HEX.upper()}{TEMP}"), "compress"),
    "a pid that is not a number": (_plant(lambda s: f".{s}.12ab.{HEX}{TEMP}"), "compress"),
    "a pid of 11 digits": (_plant(lambda s: f".{s}.{'9' * 11}.{HEX}{TEMP}"), "compress"),
    "a negative pid": (_plant(lambda s: f".{s}.-{DEAD_PID}.{HEX}{TEMP}"), "compress"),
    "an extra field": (_plant(lambda s: f".{s}.{DEAD_PID}.x.{HEX}{TEMP}"), "compress"),
    "the old .tmp suffix": (_plant(lambda s: f".{s}.{DEAD_PID}.0123abcd.tmp"), "compress"),
    "no leading dot": (_plant(lambda s: f"{s}.{DEAD_PID}.{HEX}{TEMP}"), "compress"),
    "another output's temp name": (_plant(lambda s: f".other.rds.{DEAD_PID}.{HEX}{TEMP}"), "compress"),
    "exact pattern, a link to a user's file": (_plant(lambda s: f".{s}.{DEAD_PID}.{HEX}{TEMP}", "link to a file"),
                                               "compress"),
    "exact pattern, a link to a user's directory": (
        _plant(lambda s: f".{s}.{DEAD_PID}.{HEX}{TEMP}", "link to a directory"), "compress"),
    "exact pattern, a dangling link": (_plant(lambda s: f".{s}.{DEAD_PID}.{HEX}{TEMP}", "dangling link"), "compress"),
    "exact pattern, a FIFO": (_plant(lambda s: f".{s}.{DEAD_PID}.{HEX}{TEMP}", "fifo"), "compress"),
    "exact pattern, another user's file": (_plant(lambda s: f".{s}.{DEAD_PID}.{HEX}{TEMP}", "owned by 4242"),
                                           "compress"),
    "exact pattern, another user's directory": (
        _plant(lambda s: f".{s}.{DEAD_PID}.{HEX}{TEMP}", "owned by 4242 directory"), "decompress"),
    "exact pattern, a live writer's (this test's pid)": (_plant(lambda s: f".{s}.{os.getpid()}.{HEX}{TEMP}"),
                                                         "compress"),
    "decompress -o DIR: a link named like DIR's temp": (
        _plant(lambda s: f".{s}.{DEAD_PID}.{HEX}{TEMP}", "link to a directory"), "decompress"),
    "decompress -o DIR: 8 hex digits": (_plant(lambda s: f".{s}.{DEAD_PID}.0123abcd{TEMP}", "dir"), "decompress"),
}
NOT_ROOT = (os.geteuid() != 0, "changing a file's owner needs root")


@pytest.mark.parametrize("case", cases("2 files not ours", STALE, ["exact pattern, a link to a user's file"],
                                       skip={"exact pattern, another user's file": NOT_ROOT,
                                             "exact pattern, another user's directory": NOT_ROOT}))
def test_the_stale_temp_clean_up_removes_only_its_own(shared, tmp_path, case):
    make, command = STALE[case]
    out = tmp_path / ("out.rds" if command == "compress" else "out")
    kept = make(tmp_path, out.name)
    before = snapshot(*kept)
    args = ["compress", shared / "d.npy"] if command == "compress" else ["decompress", shared / "d.rds"]
    r = run(*args, "-m", shared / "m.rdsm", "-o", out)
    assert r.returncode == 0 and r.stderr == "", r
    assert snapshot(*kept) == before
    assert out.exists()


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_the_stale_temp_clean_up_still_removes_a_dead_writers_temp(shared, tmp_path, kind):
    """The other side of the cases above: rdsweep's own temp of a writer that no longer runs goes."""
    out = tmp_path / ("out.rds" if kind == "file" else "out")
    stale = tmp_path / f".{out.name}.{DEAD_PID}.{HEX}{TEMP}"
    _user_dir(stale, "00000.png") if kind == "dir" else stale.write_bytes(b"half a file")
    args = ["compress", shared / "d.npy"] if kind == "file" else ["decompress", shared / "d.rds"]
    r = run(*args, "-m", shared / "m.rdsm", "-o", out)
    assert r.returncode == 0, r
    assert not os.path.lexists(stale) and out.exists()


test_the_stale_temp_clean_up_still_removes_a_dead_writers_temp = SLOW(
    test_the_stale_temp_clean_up_still_removes_a_dead_writers_temp)
count("2 files not ours", 2, slow=True)


# ---- 3. the memory bound -------------------------------------------------------------------------------------

def _yaml_bomb(path: Path) -> None:
    """A 532-byte YAML of aliases ("billion laughs"): 10**9 strings once its aliases are expanded."""
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    lines += ["lmbda: 500", "model: {name: seed}", "prior: {name: deep_factorized}", "data: {name: mnist}"]
    path.write_text("\n".join(lines) + "\n")


def _wide_tables(a):
    """Valid rows (each count >= 1, summing to 2**24) of 65536 bins: 100 rows hold 6.5M entries."""
    c = np.ones((a.shape[0], 1 << 16), np.int32)
    c[:, 0] = (1 << 24) - ((1 << 16) - 1)
    return c


def _checkpoint_bound() -> int:
    """The most bytes a checkpoint of train_args()'s model may take (checkpoint.limit)."""
    from rdsweep.experiment import checkpoint

    from tests.conftest import seed_spec
    return checkpoint.limit(seed_spec(latent_dims=50), 1)


def _training(*extra, run_dir="run"):
    return lambda s, t: (train_args(*extra, f"hydra.run.dir={t / run_dir}"), "rdsweep")


def _tool(*args):
    """A `rdsweep` command; each arg a string, or a function of (shared, tmp, trained run)."""
    return lambda s, t, run_=None: ([a(s, t, run_) if callable(a) else a for a in args], "rdsweep.cli")


def _big_checkpoint(size: int, with_run=False):
    def make(s, t, run_=None):
        d = copy_run(run_, t / "run") if with_run else t / "run"
        d.mkdir(exist_ok=True)
        (d / "checkpoint.msgpack").unlink(missing_ok=True)
        sparse(d / "checkpoint.msgpack", b"\x80", size)
    return make


MEMORY = {  # make(shared, tmp[, trained run]); the command; the message; needs the trained run
    "model.hidden=16384 latent_dims=4096": (None, _training("model.hidden=16384", "latent_dims=4096"),
                                            "parameters, more than the 67,108,864 rdsweep trains", False),
    "model.hidden=16384 latent_dims=1024": (None, _training("model.hidden=16384", "latent_dims=1024"),
                                            "parameters, more than the", False),
    "model.filters=[1024,1024] model.hidden=16384": (
        None, _training("model.filters=[1024,1024]", "model.hidden=16384"), "parameters, more than the", False),
    "hyperprior, latent_dims=4096 model.hidden=16384": (
        None, _training("model=hyperprior", "latent_dims=4096", "model.hidden=16384"), "parameters, more than the",
        False),
    "hyperprior tables: scale_max=10000 num_scales=1024 tail_mass=1e-12": (
        None, _training("model=hyperprior", "model.scale_max=10000", "model.num_scales=1024", "codec.tail_mass=1e-12"),
        "need tables of 1024 x 142612 bins", False),
    "hyperprior tables: scale_max=10000 tail_mass=1e-12": (
        None, _training("model=hyperprior", "model.scale_max=10000", "codec.tail_mass=1e-12"), "need tables of",
        False),
    "hyperprior tables: num_scales=1024 scale_max=2000 tail_mass=1e-9": (
        None, _training("model=hyperprior", "model.num_scales=1024", "model.scale_max=2000", "codec.tail_mass=1e-9"),
        "need tables of 1024 x", False),
    "-m: one job of a sweep too large": (
        None, lambda s, t: (["-m", "train.epochs=1", "progress=false", "latent_dims=50,4096", "model.hidden=8192",
                             f"hydra.sweep.dir={t / 'sweep'}"], "rdsweep"), "parameters, more than the", False),
    "a model file with tables of 100 x 65536 bins": (
        lambda s, t, r=None: (untrained_codec(latent_dims=100).save(t / "m100.rdsm"),
                              forge(t / "m100.rdsm", t / "wide.rdsm", put(["entropy", "y", "counts"], _wide_tables))),
        _tool("compress", lambda s, t, r: s / "d.npy", "-m", lambda s, t, r: t / "wide.rdsm", "-o",
              lambda s, t, r: t / "out.rds"), "4194304 bins in all", False),
    "a .npy declaring 700000 images (sparse)": (
        lambda s, t, r=None: sparse(t / "x.npy", npy_header("(700000, 28, 28)"), 128 + 700000 * 784),
        _tool("compress", lambda s, t, r: t / "x.npy", "-m", lambda s, t, r: s / "m.rdsm", "-o",
              lambda s, t, r: t / "out.rds"), "700000 images, more than the 610080 one file holds", False),
    "a .npy (N, 28, 28, 1) declaring 610081 images (sparse)": (
        lambda s, t, r=None: sparse(t / "x.npy", npy_header("(610081, 28, 28, 1)"), 128 + 610081 * 784),
        _tool("compress", lambda s, t, r: t / "x.npy", "-m", lambda s, t, r: s / "m.rdsm", "-o",
              lambda s, t, r: t / "out.rds"), "610081 images, more than the 610080", False),
    "resuming: a checkpoint of 1000 MB (sparse)": (
        _big_checkpoint(1000 << 20), _training(), "bytes, more than the", False),
    "resuming: a checkpoint one byte over its model's bound (sparse)": (
        lambda s, t, r=None: _big_checkpoint(_checkpoint_bound() + 1)(s, t), _training(), "bytes, more than the",
        False),
    # found by this suite:
    "export: a checkpoint of 1000 MB (sparse)": (
        _big_checkpoint(1000 << 20, with_run=True),
        _tool("export", lambda s, t, r: t / "run", "-o", lambda s, t, r: t / "m.rdsm"), "checkpoint", True),
    "compress -m RUN_DIR: a checkpoint of 1000 MB (sparse)": (
        _big_checkpoint(1000 << 20, with_run=True),
        _tool("compress", lambda s, t, r: s / "d.npy", "-m", lambda s, t, r: t / "run", "-o",
              lambda s, t, r: t / "out.rds"), "checkpoint", True),
    "training into a directory whose config.yaml is a YAML alias bomb (532 bytes)": (
        lambda s, t, r=None: ((t / "run").mkdir(), _yaml_bomb(t / "run" / "config.yaml")), _training(),
        "config.yaml is not an rdsweep run config", False),
}
MEMORY_FAST = {"model.hidden=16384 latent_dims=4096", "a .npy declaring 700000 images (sparse)"}


@pytest.mark.parametrize("case", cases("3 memory", MEMORY, MEMORY_FAST))
def test_memory(shared, tmp_path, request, case):
    make, command, message, needs_run = MEMORY[case]
    trained = request.getfixturevalue("trained_run") if needs_run else None
    if make:
        make(shared, tmp_path, trained) if needs_run else make(shared, tmp_path)
    args, module = command(shared, tmp_path, trained) if needs_run else command(shared, tmp_path)
    if module == "rdsweep" and not (tmp_path / "run").exists():  # refused in the precheck: no directory made
        expect_refusal(args, message, [shared, tmp_path], [tmp_path / "run", tmp_path / "sweep"], module=module,
                       timeout=60)
    elif module == "rdsweep":  # refused before reading the run directory's files: they stay; no record
        expect_refusal(args, message, [shared, *sorted((tmp_path / "run").iterdir())],
                       [tmp_path / "run" / "metrics.json"], module=module, timeout=60)
    else:
        out = Path(args[args.index("-o") + 1])
        expect_refusal(args, message, [shared, tmp_path], [out], module=module, timeout=60)


MEMORY_ACCEPTED = {  # inputs at (or beyond) a bound that may be accepted: done under 1 GB, or refused in one line
    # found by this suite:
    "compress: a .npy of exactly the most images one file holds (610080, sparse zeros)": (
        lambda s, t: sparse(t / "x.npy", npy_header("(610080, 28, 28)"), 128 + 610080 * 784),
        lambda s, t: ["compress", t / "x.npy", "-m", s / "m.rdsm", "-o", t / "out.rds"]),
    "aggregate: 20 records of 60,000 distinct keys each (650 KB each)": (
        lambda s, t: [(t / "runs" / f"r{i}").mkdir(parents=True) or (t / "runs" / f"r{i}" / "metrics.json").write_text(
            json.dumps({**GOOD, "lmbda": 100 + i, **{f"{j:x}_{i}": 0 for j in range(60000)}}, separators=(",", ":")))
            for i in range(20)],
        lambda s, t: ["aggregate", t / "runs", "--out", t / "out"]),
    "bench --batch 100000 (more than the 60000 training digits)": (
        None, lambda s, t: ["bench", "--batch", "100000", "--steps", "1", "--test-limit", "100"]),
}


@pytest.mark.parametrize("case", cases("3 memory", MEMORY_ACCEPTED, ()))
def test_memory_at_the_bounds(shared, tmp_path, case):
    make, args = MEMORY_ACCEPTED[case]
    if make:
        make(shared, tmp_path)
    r = run(*args(shared, tmp_path), timeout=240)
    no_traceback(r)
    if r.returncode != 0 and args(shared, tmp_path)[0] == "aggregate":  # a warning per record left out, then why
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 1 and "error: no complete runs" in lines[-1], r
        assert all("left out: metrics.json holds 60,012 fields" in ln for ln in lines[:-1]), r
        assert r.maxrss_mb < LIMIT_MB, r
    elif r.returncode != 0:
        refused(r)


@pytest.mark.parametrize("what", ["export", "resume"])
def test_under_a_3_gb_address_space(trained_run, tmp_path, what):
    """RLIMIT_AS 3 GB (what a cluster's memory limit may be): `rdsweep export` and resuming a genuine run
    (a copy of a 1-epoch run, trained on to 2 epochs) work; their peak memory is printed."""
    as_limit = [(resource.RLIMIT_AS, 3 << 30)]
    if what == "export":
        r = launch("export", trained_run, "-o", tmp_path / "m.rdsm", rlimits=as_limit, limit_mb=3072)
        assert r.returncode == 0 and (tmp_path / "m.rdsm").exists(), r
    else:
        run_dir = copy_run(trained_run, tmp_path / "run")
        r = launch("lmbda=500", *QUICK[:2], "train.epochs=2", "progress=false", f"hydra.run.dir={run_dir}",
                   module="rdsweep", rlimits=as_limit, limit_mb=3072, timeout=300)
        assert r.returncode == 0 and (run_dir / "metrics.json").exists(), r
        assert "resuming from" in (run_dir / "rdsweep.log").read_text()
    assert "Traceback" not in r.stderr, r
    report(f"{what} under RLIMIT_AS = 3 GB: exit {r.returncode}, peak RSS {r.maxrss_mb:.0f} MB")


test_under_a_3_gb_address_space = SLOW(test_under_a_3_gb_address_space)
count("3 memory", 2, slow=True)


# ---- 4. no hangs ----------------------------------------------------------------------------------------------

def _fifo_in_run(name: str, config=False):
    def make(t):
        (t / "run").mkdir()
        if config:
            _valid_config(t / "run" / "config.yaml")
        os.mkfifo(t / "run" / name)
    return make


HANGS = {  # make(tmp); the command of (shared, tmp); module; the message
    **{f"training: {name} a FIFO": (_fifo_in_run(name), "train", f"{name}: not a regular file")
       for name in ("rdsweep.log", ".lock", "config.yaml", "checkpoint.msgpack", "metrics.json", "history.csv",
                    "failed.txt", "codec.npz")},
    "training: rdsweep.log a FIFO beside an rdsweep config": (_fifo_in_run("rdsweep.log", config=True), "train",
                                                              "rdsweep.log: not a regular file"),
    "export: config.yaml a FIFO": (_fifo_in_run("config.yaml"), "export", "not a regular file"),
    "compress -m RUN_DIR: config.yaml a FIFO": (_fifo_in_run("config.yaml"), "compress", "not a regular file"),
    "figures: config.yaml a FIFO": (_fifo_in_run("config.yaml"), "figures", "not a regular file"),
    "decompress -m: a FIFO": (lambda t: os.mkfifo(t / "m.rdsm"), "decompress-fifo-model", "not a regular file"),
    "compress: a FIFO named like a PNG among PNGs": (
        lambda t: ((t / "in").mkdir(), os.mkfifo(t / "in" / "a.png")), "compress-dir", "a.png: is not a regular file"),
    # found by this suite:
    "export: config.yaml a YAML alias bomb (532 bytes)": (
        lambda t: ((t / "run").mkdir(), _yaml_bomb(t / "run" / "config.yaml")), "export", "config.yaml"),
    "compress -m RUN_DIR: config.yaml a YAML alias bomb (532 bytes)": (
        lambda t: ((t / "run").mkdir(), _yaml_bomb(t / "run" / "config.yaml")), "compress", "config.yaml"),
}
HANGS_FAST = {"training: rdsweep.log a FIFO"}


def _hang_command(kind: str, s: Path, t: Path):
    return {"train": (train_args(f"hydra.run.dir={t / 'run'}"), "rdsweep", t / "run" / "no-such-output"),
            "export": (["export", t / "run", "-o", t / "m.rdsm"], "rdsweep.cli", t / "m.rdsm"),
            "compress": (["compress", s / "d.npy", "-m", t / "run", "-o", t / "out.rds"], "rdsweep.cli", t / "out.rds"),
            "figures": (["figures", t / "run", "--out", t / "figs"], "rdsweep.cli", t / "figs"),
            "decompress-fifo-model": (["decompress", s / "d.rds", "-m", t / "m.rdsm", "-o", t / "out"], "rdsweep.cli",
                                      t / "out"),
            "compress-dir": (["compress", t / "in", "-m", s / "m.rdsm", "-o", t / "out.rds"], "rdsweep.cli",
                             t / "out.rds")}[kind]


@pytest.mark.parametrize("case", cases("4 hangs", HANGS, HANGS_FAST))
def test_no_hang(shared, tmp_path, case):
    make, kind, message = HANGS[case]
    make(tmp_path)
    args, module, out = _hang_command(kind, shared, tmp_path)
    t0 = time.monotonic()
    expect_refusal(args, message, [shared, tmp_path], [out], module=module, timeout=30)  # the run: untouched
    assert time.monotonic() - t0 < 30


LONG = {  # one record with a long or wide field beside good ones: left out (or kept) quickly, exit 0
    "a 1 MB prior": ({"prior": "x" * 1_000_000}, "prior is 1,000,000 characters long"),
    "a 1 MB variant": ({"variant": "v" * 1_000_000}, "variant is 1,000,000 characters long"),
    "a 1 MB data name": ({"data": "d" * 1_000_000}, "data is 1,000,000 characters long"),
    "a 1 MB model name": ({"model": "m" * 1_000_000}, "model is 1,000,000 characters long"),
    "a 1 MB rate_definition of a baseline": (
        {"kind": "baseline", "latent_dims": None, "epochs": 0, "rate_definition": "r" * 1_000_000},
        "rate_definition is 1,000,000 characters long"),
    "a 201-character prior": ({"prior": "p" * 201}, "prior is 201 characters long"),
    "a 1 MB key (kept)": ({"k" * 1_000_000: 1}, None),
    "a metrics.json of 2.4 MB of accents": ({"prior": "\u00e9" * 1_200_000}, "more than the 1048576 this reads"),
}


@pytest.mark.parametrize("case", cases("4 hangs", LONG, ["a 1 MB prior"]))
def test_a_long_record_is_left_out_quickly(tmp_path, case):
    fields, message = LONG[case]
    records(tmp_path / "runs", {"good": {}, "long": fields}, lambdas=(300, 500))
    t0 = time.monotonic()
    r = run("aggregate", tmp_path / "runs", "--out", tmp_path / "out", timeout=30)
    elapsed = time.monotonic() - t0
    no_traceback(r)
    assert r.returncode == 0 and elapsed < 30, (elapsed, r)
    lines = r.stderr.splitlines()
    assert all(ln.startswith("rdsweep aggregate: ") for ln in lines), r
    if message:
        assert len(lines) == 2 and all(message in ln and "/long/" in ln for ln in lines), r
        assert r.stdout.startswith("2 runs (2 left out)"), r.stdout
    else:
        assert r.stdout.startswith("4 runs (0 left out)"), r.stdout
    assert all(len(ln) < 1000 for ln in lines), "a warning quotes the long field"


@SLOW
def test_a_symlink_loop_under_an_aggregate_directory_ends(tmp_path):
    records(tmp_path / "runs", {"good": {}})
    os.symlink(tmp_path / "runs", tmp_path / "runs" / "good" / "loop")
    os.symlink(tmp_path, tmp_path / "runs" / "up")
    r = run("aggregate", tmp_path / "runs", "--out", tmp_path / "out", timeout=30)
    no_traceback(r)
    assert r.returncode == 0 and r.stdout.startswith("3 runs (0 left out)"), r


count("4 hangs", slow=True)


@pytest.fixture(scope="module")
def settings_300(tmp_path_factory):
    """300 learned settings x 4 lambdas (1200 records), and 10 of them apart."""
    top = tmp_path_factory.mktemp("settings")
    records(top / "all", {f"s{s:03d}": {"prior": f"prior-{s:03d}"} for s in range(300)},
            lambdas=(300, 500, 1000, 2000))
    records(top / "ten", {f"s{s:03d}": {"prior": f"prior-{s:03d}"} for s in range(10)}, lambdas=(300, 500, 1000, 2000))
    return top


@SLOW
def test_aggregate_of_300_settings_is_quick(settings_300, tmp_path):
    t0 = time.monotonic()
    r = run("aggregate", settings_300 / "all", "--out", tmp_path / "out", timeout=120)
    seconds = time.monotonic() - t0
    no_traceback(r)
    assert r.returncode == 0 and r.stdout.startswith("1200 runs (0 left out)"), r
    report(f"aggregate of 300 settings x 4 lambdas: {seconds:.1f} s, peak RSS {r.maxrss_mb:.0f} MB")
    assert seconds < 60, seconds


count("4 hangs", slow=True)


# ---- 5. no tracebacks -----------------------------------------------------------------------------------------

USAGE = {  # argparse's own refusal: exit 2, its usage lines, no traceback
    "bench --steps 0": ["bench", "--steps", "0"],
    "bench --batch -1": ["bench", "--batch", "-1"],
    "bench --lmbda -1": ["bench", "--lmbda", "-1"],
    "bench --lmbda 0": ["bench", "--lmbda", "0"],
    "bench --lmbda nan": ["bench", "--lmbda", "nan"],
    "bench --lmbda inf": ["bench", "--lmbda", "inf"],
    "bench --lmbda 1e400": ["bench", "--lmbda", "1e400"],
    "bench --reps 0": ["bench", "--reps", "0"],
    "bench --test-limit 0": ["bench", "--test-limit", "0"],
    "bench --steps 1e3": ["bench", "--steps", "1e3"],
    "bench --steps 10**10": ["bench", "--steps", str(10**10)],
    "baselines --test-limit 0": ["baselines", "--test-limit", "0"],
    "baselines --test-limit -5": ["baselines", "--test-limit", "-5"],
    "figures --seed x": ["figures", "run", "--seed", "x"],
}


@pytest.mark.parametrize("case", cases("5 tracebacks", USAGE, ["bench --steps 0", "bench --lmbda -1"]))
def test_usage_errors_are_argparse_s(tmp_path, case):
    r = launch(*USAGE[case], cwd=tmp_path, env={"PYTHONPATH": str(ROOT)}, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r
    lines = r.stderr.splitlines()
    assert lines[0].startswith("usage: rdsweep ") and lines[-1].startswith("rdsweep ") and ": error: " in lines[-1], r
    assert list(tmp_path.iterdir()) == []


def _state(change):
    def forge_checkpoint(path: Path):
        state = serialization.msgpack_restore(path.read_bytes())
        change(state)
        path.write_bytes(serialization.msgpack_serialize(state))
    return forge_checkpoint


def _json_part(key, fn):
    return _state(lambda s: s.update({key: json.dumps(fn(json.loads(s[key])))}))


def _set(key, value):
    return _state(lambda s: s.update({key: value}))


def _at(path, value):
    def change(s):
        node = s
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value(node[path[-1]]) if callable(value) else value
    return _state(change)


KERNEL = ["params", "analysis", "conv1", "kernel"]
CHECKPOINTS = {  # a genuine 1-epoch run's checkpoint forged; resuming (the same command) refuses it in one line
    "epoch a string": (_set("epoch", "1"), "epoch '1' is not a whole number of epochs"),
    "epoch a float": (_set("epoch", 1.0), "epoch 1.0 is not a whole number"),
    "epoch negative": (_set("epoch", -1), "epoch -1 is not a whole number"),
    "epoch True": (_set("epoch", True), "epoch True is not a whole number"),
    "epoch 10**18": (_set("epoch", 10**18), "is not a whole number"),
    "epoch 2 (history of 1)": (_set("epoch", 2), "its history is not 2 rows"),
    "epoch missing": (_state(lambda s: s.pop("epoch")), "epoch None is not a whole number"),
    "history not a list": (_json_part("history", lambda h: {"rows": h}), "its history is not 1 rows"),
    "history twice as long": (_json_part("history", lambda h: h * 2), "its history is not 1 rows"),
    "history empty": (_json_part("history", lambda h: []), "its history is not 1 rows"),
    "history rows not objects": (_json_part("history", lambda h: [[1, 2]]), "its history is not 1 rows"),
    "history: a NaN loss": (_json_part("history", lambda h: [{**h[0], "loss": float("nan")}]),
                            "its history is not 1 rows"),
    "history: a string loss": (_json_part("history", lambda h: [{**h[0], "loss": "1"}]), "its history is not 1 rows"),
    "history: no digits_per_s": (_json_part("history", lambda h: [{k: v for k, v in h[0].items()
                                                                   if k != "digits_per_s"}]),
                                 "its history is not 1 rows"),
    "history not JSON": (_set("history", "[{"), "JSONDecodeError"),
    "history bytes, not UTF-8": (_set("history", b"\xff"), "cannot read checkpoint"),
    "history nested 100000 deep": (_set("history", "[" * 100000 + "]" * 100000), "cannot read checkpoint"),
    "params missing": (_state(lambda s: s.pop("params")), "no params or optimizer state"),
    "params a list": (_set("params", [1, 2]), "no params or optimizer state"),
    "params: a kernel of another shape": (_at(KERNEL, np.zeros((3, 3, 1, 20), np.float32)),
                                          "params.analysis.conv1.kernel: expected float32 (5, 5, 1, 20), got float32 "
                                          "(3, 3, 1, 20)"),
    "params: a kernel of float64": (_at(KERNEL, lambda a: a.astype(np.float64)), "got float64 (5, 5, 1, 20)"),
    "params: NaN weights": (_at(KERNEL, lambda a: a * np.nan), "holds non-finite values"),
    "params: a layer missing": (_at(["params", "synthesis"], lambda d: {k: v for k, v in d.items() if k != "dense1"}),
                                "params.synthesis: expected"),
    "params: a collection missing": (_at(["params"], lambda d: {k: v for k, v in d.items() if k != "entropy"}),
                                     "params: expected"),
    "optimizer state missing": (_state(lambda s: s.pop("opt_state")), "no params or optimizer state"),
    "optimizer state: a moment of another shape": (_at(["opt_state", "0", "mu"] + KERNEL[1:], np.zeros(3, np.float32)),
                                                   "optimizer state.0.mu.analysis.conv1.kernel: expected float32"),
    "spec: 32x32 images": (_json_part("spec", lambda s: {**s, "shape": [32, 32, 1]}),
                           "holds another model ([32, 32, 1] images; this run: [28, 28, 1])"),
    "spec: another hidden size": (_json_part("spec", lambda s: {**s, "model": {**s["model"], "hidden": 400}}),
                                  "holds another model"),
    "spec not JSON": (_set("spec", "{"), "JSONDecodeError"),
    "spec a list": (_json_part("spec", lambda s: [s]), "its identity or model spec is not a mapping"),
    "identity a string": (_set("identity", json.dumps("x")), "its identity or model spec is not a mapping"),
    "identity of another lmbda": (_json_part("identity", lambda i: {**i, "lmbda": 1000.0}),
                                  "was made with a different config (lmbda)"),
    "the state a list": (lambda p: p.write_bytes(serialization.msgpack_serialize([1, 2])), "not a mapping"),
    "the state garbage": (lambda p: p.write_bytes(bytes(range(256)) * 8), "cannot read checkpoint"),
    "an empty checkpoint": (lambda p: p.write_bytes(b""), "cannot read checkpoint"),
}


@pytest.mark.parametrize("case", cases("5 tracebacks", CHECKPOINTS, ()))
def test_resuming_a_forged_checkpoint(trained_run, tmp_path, case):
    forge_checkpoint, message = CHECKPOINTS[case]
    run_dir = copy_run(trained_run, tmp_path / "run")
    forge_checkpoint(run_dir / "checkpoint.msgpack")
    expect_refusal(["lmbda=500", *QUICK, f"hydra.run.dir={run_dir}"], message,
                   [run_dir / "checkpoint.msgpack", run_dir / "config.yaml"], [run_dir / "metrics.json"],
                   module="rdsweep")


@SLOW
def test_resuming_with_other_images_under_the_same_data_name(trained_run, tmp_path):
    """A genuine 28x28 checkpoint, the same settings (data.name mnist), but the files now hold 32x32 images."""
    run_dir = copy_run(trained_run, tmp_path / "run")
    np.save(tmp_path / "train.npy", np.zeros((300, 32, 32), np.uint8))
    np.save(tmp_path / "test.npy", np.zeros((50, 32, 32), np.uint8))
    expect_refusal(["lmbda=500", *QUICK, f"data.train_file={tmp_path / 'train.npy'}",
                    f"data.test_file={tmp_path / 'test.npy'}", f"hydra.run.dir={run_dir}"],
                   "holds another model ([28, 28, 1] images; this run: [32, 32, 1])",
                   [run_dir / "checkpoint.msgpack", run_dir / "config.yaml", tmp_path / "train.npy"],
                   [run_dir / "metrics.json"], module="rdsweep")


count("5 tracebacks", slow=True)


@SLOW
def test_figures_of_a_run_tested_on_3_digits(tmp_path, mnist_dir):
    r = run("lmbda=500", *QUICK[:1], "data.test_limit=3", *QUICK[2:], f"hydra.run.dir={tmp_path / 'run'}",
            module="rdsweep", timeout=300)
    assert r.returncode == 0, r
    r = run("figures", tmp_path / "run", timeout=300)
    no_traceback(r)
    assert r.returncode == 0 and r.stderr == "", r
    assert len(list((tmp_path / "run" / "figures").glob("*.png"))) >= 5


count("5 tracebacks", slow=True)

MATH = "$\\frac{$"
BASELINE = {"kind": "baseline", "distortion": None, "model": None, "latent_dims": None, "epochs": 0,
            "rate_definition": "information content"}
LABELS = {  # record fields of a setting (3 lambdas, 2 seeds) aggregated beside a plain one: exit 0, figures
    "prior $\\frac{$": {"prior": MATH},
    "variant $\\frac{$": {"variant": MATH},
    "model $\\frac{$": {"model": MATH},
    "data $\\sqrt{$": {"data": "$\\sqrt{$"},
    "distortion $\\frac{$": {"distortion": MATH},
    "prior $$": {"prior": "$$"},
    "prior a$^{$b": {"prior": "a$^{$b"},
    "prior $\\undefinedcommand$": {"prior": "$\\undefinedcommand$"},
    "prior _nolegend_": {"prior": "_nolegend_"},
    "prior a lone backslash": {"prior": "\\"},
    "prior 200 dollars": {"prior": "$" * 200},
    "prior %s%d{0}": {"prior": "%s%d{0}"},
    "prior right-to-left override and a combining accent": {"prior": "\u202e\u0301x"},
    "latent study of a $\\frac{$ setting": "latent",
    "a baseline named $\\frac{$": "baseline",
    # found by this suite:
    "baseline records without rate_definition": "baseline without rate_definition",
}


@pytest.mark.parametrize("case", cases("5 tracebacks", LABELS, ()))
def test_names_are_plain_text_in_figures(tmp_path, case):
    fields = LABELS[case]
    runs = tmp_path / "runs"
    records(runs, {"plain": {"prior": "plain"}})
    if fields == "latent":
        records(runs, {f"d{d}": {"prior": MATH, "latent_dims": d} for d in (10, 20)}, seeds=(0, 1))
    elif isinstance(fields, str):
        base = {k: v for k, v in BASELINE.items() if fields == "baseline" or k != "rate_definition"}
        records(runs, {"base": {**base, "prior": MATH}})
    else:
        records(runs, {"odd": fields}, seeds=(0, 1))
    r = run("aggregate", runs, "--out", tmp_path / "out", timeout=60)
    no_traceback(r)
    assert r.returncode == 0, r
    assert all(ln.startswith("rdsweep aggregate: ") for ln in r.stderr.splitlines()), r
    assert (tmp_path / "out" / "rd_curve.png").stat().st_size > 1000
    if fields == "latent":
        assert (tmp_path / "out" / "latent_study.png").exists()


@SLOW
def test_1500_levels_of_directories_under_an_aggregate_directory(tmp_path):
    """Deeper than the walk goes (and than PATH_MAX): a warning, the rest aggregated. Made and removed through
    directory descriptors (no path that long exists as a string)."""
    records(tmp_path / "runs", {"good": {}})
    fds = [os.open(tmp_path / "runs", os.O_RDONLY)]
    try:
        for _ in range(1500):
            os.mkdir("d", dir_fd=fds[-1])
            fds.append(os.open("d", os.O_RDONLY, dir_fd=fds[-1]))
        fd = os.open("metrics.json", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fds[-1])
        os.write(fd, json.dumps(GOOD).encode())
        os.close(fd)
        r = run("aggregate", tmp_path / "runs", "--out", tmp_path / "out", timeout=60)
        no_traceback(r)
        assert r.returncode == 0 and r.stdout.startswith("3 runs"), r
        assert "deeper than" in r.stderr, r
    finally:
        os.unlink("metrics.json", dir_fd=fds[-1])
        while len(fds) > 1:
            os.close(fds.pop())
            os.rmdir("d", dir_fd=fds[-1])
        os.close(fds[0])


count("5 tracebacks", slow=True)


def _nonutf8(name: bytes):
    return lambda t: os.fsencode(t) + b"/" + name


NON_UTF8 = {  # arguments (bytes where a name is not UTF-8); done, or refused in one line; never a traceback
    "compress -o \\xff\\xfe.rds": lambda s, t, r: ["compress", s / "d.npy", "-m", s / "m.rdsm", "-o",
                                                  _nonutf8(b"\xff\xfe.rds")(t)],
    "decompress -o a directory \\xff": lambda s, t, r: ["decompress", s / "d.rds", "-m", s / "m.rdsm", "-o",
                                                       _nonutf8(b"dir\xff")(t)],
    "decompress -o \\xff.npy": lambda s, t, r: ["decompress", s / "d.rds", "-m", s / "m.rdsm", "-o",
                                               _nonutf8(b"x\xff.npy")(t)],
    "export -o \\xff.rdsm": lambda s, t, r: ["export", r, "-o", _nonutf8(b"m\xff.rdsm")(t)],
    "aggregate --out \\xff": lambda s, t, r: ["aggregate", r, "--out", _nonutf8(b"agg\xff")(t)],
    "figures --out \\xff": lambda s, t, r: ["figures", r, "--out", _nonutf8(b"fig\xff")(t)],
    "compress of a missing input \\xff.npy": lambda s, t, r: ["compress", _nonutf8(b"in\xff.npy")(t), "-m",
                                                             s / "m.rdsm", "-o", t / "out.rds"],
    "compress of a directory holding \\xff.png": lambda s, t, r: ["compress", _nonutf8(b"pngs")(t), "-m",
                                                                 s / "m.rdsm", "-o", t / "out.rds"],
    "training hydra.run.dir=\\xff": lambda s, t, r: [*train_args(), b"hydra.run.dir=" + _nonutf8(b"run\xff")(t)],
}
NEEDS_RUN = {"export -o \\xff.rdsm", "aggregate --out \\xff", "figures --out \\xff"}


@pytest.mark.parametrize("case", cases("5 tracebacks", NON_UTF8, ["compress -o \\xff\\xfe.rds"]))
def test_names_that_are_not_utf8(shared, tmp_path, request, case):
    trained = request.getfixturevalue("trained_run") if case in NEEDS_RUN else None
    if "holding" in case:
        (tmp_path / "pngs").mkdir()
        Image.fromarray(np.load(shared / "d.npy")[0]).save(os.fsencode(tmp_path) + b"/pngs/a\xff.png")
    args = NON_UTF8[case](shared, tmp_path, trained)
    r = launch(*args, module="rdsweep" if case.startswith("training") else "rdsweep.cli", timeout=300)
    no_traceback(r)
    if r.returncode != 0:
        refused(r)
    else:
        assert os.path.lexists(args[args.index("-o" if "-o" in args else "--out") + 1])


NO_CACHE = {"JAX_COMPILATION_CACHE_DIR": ""}  # no persistent compilation cache at all
FULL_DISK = {  # RLIMIT_FSIZE (bytes); the command of (shared, tmp, trained run); its output; the message; the
    # compilation cache: none, or "cold" (a directory of its own, empty: what a first run on a machine has)
    "training: the first write (config.yaml)": (
        400, lambda s, t, r: (train_args(f"hydra.run.dir={t / 'run'}"), "rdsweep"), "run/metrics.json",
        "config.yaml: File too large", NO_CACHE),
    "training: the first checkpoint": (
        2000, lambda s, t, r: (train_args(f"hydra.run.dir={t / 'run'}"), "rdsweep"), "run/metrics.json",
        "checkpoint.msgpack: File too large", NO_CACHE),
    "compress -o": (100, lambda s, t, r: (["compress", s / "d.npy", "-m", s / "m.rdsm", "-o", t / "out.rds"],
                                          "rdsweep.cli"), "out.rds", "cannot write", "cold"),
    "decompress -o DIR": (100, lambda s, t, r: (["decompress", s / "d.rds", "-m", s / "m.rdsm", "-o", t / "out"],
                                                "rdsweep.cli"), "out", "cannot write", "cold"),
    "decompress -o .npy": (100, lambda s, t, r: (["decompress", s / "d.rds", "-m", s / "m.rdsm", "-o",
                                                  t / "out.npy"], "rdsweep.cli"), "out.npy", "cannot write", "cold"),
    "export -o": (1000, lambda s, t, r: (["export", r, "-o", t / "m.rdsm"], "rdsweep.cli"), "m.rdsm",
                  "cannot write", "cold"),
    "aggregate --out": (100, lambda s, t, r: (["aggregate", r, "--out", t / "agg"], "rdsweep.cli"), "agg/rd.csv",
                        "cannot write", "cold"),
    # found by this suite:
    "training: the first write, and failed.txt's too": (
        100, lambda s, t, r: (train_args(f"hydra.run.dir={t / 'run'}"), "rdsweep"), "run/metrics.json",
        "config.yaml: File too large", NO_CACHE),
    "training: the first write, a cold compilation cache": (
        400, lambda s, t, r: (train_args(f"hydra.run.dir={t / 'run'}"), "rdsweep"), "run/metrics.json",
        "config.yaml: File too large", "cold"),
    "training: the first checkpoint, a cold compilation cache": (
        2000, lambda s, t, r: (train_args(f"hydra.run.dir={t / 'run'}"), "rdsweep"), "run/metrics.json",
        "checkpoint.msgpack: File too large", "cold"),
}


@pytest.mark.parametrize("case", cases("5 tracebacks", FULL_DISK, ()))
def test_a_full_disk(shared, tmp_path, request, case):
    """Writes past RLIMIT_FSIZE fail with EFBIG, as on a full disk. Never the compilation cache the other tests
    share: a write that fails there leaves truncated entries."""
    fsize, command, out, message, cache = FULL_DISK[case]
    trained = request.getfixturevalue("trained_run") if case in ("export -o", "aggregate --out") else None
    args, module = command(shared, tmp_path, trained)
    watch = [shared] + ([trained] if trained else [])
    env = {"JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache")} if cache == "cold" else cache
    refuse(args, message, watch, [tmp_path / out], module=module, timeout=300,
           rlimits=[(resource.RLIMIT_FSIZE, fsize)], env=env)
    assert not temps_under(tmp_path), temps_under(tmp_path)


@SLOW
def test_an_unwritable_run_directory(tmp_path, mnist_dir):
    if os.geteuid() == 0:
        pytest.skip("root: permissions do not bind")
    (tmp_path / "run").mkdir()
    (tmp_path / "run").chmod(0o500)
    try:
        expect_refusal(train_args(f"hydra.run.dir={tmp_path / 'run'}"), "permission denied", [tmp_path],
                       module="rdsweep")
    finally:
        (tmp_path / "run").chmod(0o700)


count("5 tracebacks", slow=True)


# ---- 6. signals in training ------------------------------------------------------------------------------------

def _start_training(run_dir: Path, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rdsweep", *args, f"hydra.run.dir={run_dir}"], cwd=ROOT,
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_a_sigterm_during_training_then_the_same_command_resumes(tmp_path, mnist_dir):
    """SIGTERM once the first checkpoint is written (the run then codes its test digits): exit 130, one line
    `rdsweep: interrupted`, failed.txt saying so; the same command again resumes, and removes failed.txt."""
    run_dir, args = tmp_path / "run", ["lmbda=500", *QUICK[:1], "data.test_limit=500", *QUICK[2:]]
    proc = _start_training(run_dir, *args)
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoint.msgpack").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, ("ended before its first checkpoint", proc.returncode, proc.stderr.read())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, err)  # not a negative status: no death by signal, no core
    assert err.splitlines()[-1:] == ["rdsweep: interrupted"] and "Traceback" not in err, err
    assert not (run_dir / "metrics.json").exists()
    assert "interrupted" in (run_dir / "failed.txt").read_text()
    assert not temps_under(run_dir)
    r = run(*args, f"hydra.run.dir={run_dir}", module="rdsweep", timeout=300)
    assert r.returncode == 0 and r.stderr == "", r
    assert "resuming from" in (run_dir / "rdsweep.log").read_text()
    assert (run_dir / "metrics.json").exists() and not (run_dir / "failed.txt").exists()


count("6 signals")


@SLOW
def test_sigterm_and_sigint_at_20_random_moments_of_training(tmp_path, mnist_dir):
    """From the moment rdsweep catches signals (before: CPython's own start-up, which it cannot handle) to the end
    of training: exit 130 and one line `rdsweep: interrupted`, or 0 if the run had finished; never a death by the
    signal (a negative status)."""
    rng = random.Random(20)
    args = ["lmbda=500", "data.train_limit=2560", "data.test_limit=500", "train.epochs=3", "progress=false"]
    t0 = time.monotonic()  # the end of training on this machine now: one run, timed to its last epoch's line
    proc = subprocess.Popen([sys.executable, "-m", "rdsweep", *args, f"hydra.run.dir={tmp_path / 'timed'}"],
                            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = next((time.monotonic() - t0 for line in proc.stdout if "epoch 3/3" in line), None)
    proc.communicate(timeout=300)
    assert proc.returncode == 0 and end, proc.returncode
    outcomes, bad = [f"(training ends {end:.1f} s after start)"], []
    for i in range(20):
        moment, sig = rng.uniform(0.0, end), (signal.SIGTERM, signal.SIGINT)[i % 2]
        run_dir = tmp_path / f"run{i:02d}"
        proc = _start_training(run_dir, *args)
        handlers_ready(proc)  # moments count from there
        time.sleep(moment)
        if proc.poll() is None:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=300)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        files = sorted(p.name for p in run_dir.iterdir()) if run_dir.exists() else []
        outcomes.append(f"{moment:5.2f} s {sig.name:7} -> exit {proc.returncode:3} "
                        f"{lines[-1] if lines else '(no stderr)'}; {', '.join(f for f in files if f != '.lock')}")
        ok = (proc.returncode, lines) == (130, ["rdsweep: interrupted"]) or proc.returncode == 0
        if not ok or "Traceback" in err or (run_dir.exists() and temps_under(run_dir)):
            bad.append((moment, sig.name, proc.returncode, err[-2000:]))
    report("training interrupted at random moments:\n  " + "\n  ".join(outcomes))
    assert not bad, bad


count("6 signals", slow=True)


AT_THE_END = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}


AFTER = (0.0, 0.1, 0.2, 0.3, 0.5)  # seconds after the result line: the interpreter's shutdown takes ~0.7 s


def _signal_once_done(args, sig, done_line: str, delay: float = 0.0):
    """Start ``python -m ARGS``, wait for the line of stdout holding ``done_line`` (its work is done), signal it
    ``delay`` seconds later: (exit status, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", *map(str, args)], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if done_line in line:
            break
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def _ended_well(code: int, err: str) -> bool:
    """0 without a word, or 130 and one line; never a death by the signal (negative) nor a traceback."""
    return (code, err.splitlines()) in ((0, []), (130, ["rdsweep: interrupted"]))


@pytest.mark.parametrize("case", cases("6 signals", AT_THE_END))
def test_a_signal_once_training_is_done(tmp_path, mnist_dir, case):
    """0 to 0.5 s after the run's record is written (the log line naming metrics.json): exit 130 and one line, or
    0 without a word; the record whole."""
    seen = []
    for i, delay in enumerate(AFTER):
        run_dir = tmp_path / f"run{i}"
        code, err = _signal_once_done(["rdsweep", *train_args(f"hydra.run.dir={run_dir}")], AT_THE_END[case],
                                      "metrics.json", delay)
        seen.append((delay, code, err[-600:]))
        json.loads((run_dir / "metrics.json").read_text())
    assert all(_ended_well(code, err) for _, code, err in seen), seen


# ---- 7. figures written atomically ----------------------------------------------------------------------------

PREVIOUS = {"rd_curve.png": b"the previous figure (png)", "rd_curve.svg": b"the previous figure (svg)"}


def _previous_outputs(out: Path) -> dict:
    out.mkdir()
    for name, data in PREVIOUS.items():
        (out / name).write_bytes(data)
    return snapshot(*(out / name for name in PREVIOUS))


def test_a_failed_figure_write_leaves_the_previous_figures(tmp_path):
    """RLIMIT_FSIZE 30 kB: the tables fit, the figure (~100 kB) does not: one line, the previous figures whole."""
    records(tmp_path / "runs", {"a": {}, "b": {"prior": "y"}})
    before = _previous_outputs(tmp_path / "out")
    refuse(["aggregate", tmp_path / "runs", "--out", tmp_path / "out"], "rd_curve.png: File too large",
           [tmp_path / "runs"], rlimits=[(resource.RLIMIT_FSIZE, 30000)])
    assert snapshot(*(tmp_path / "out" / name for name in PREVIOUS)) == before
    assert not temps_under(tmp_path)


count("7 atomic figures")


@SLOW
def test_a_failed_figures_write_leaves_the_previous_figures(trained_run, tmp_path):
    out = tmp_path / "figs"
    out.mkdir()
    for name in ("sample_digit.png", "decoded.png", "notes.txt"):
        (out / name).write_bytes(b"the previous " + name.encode())
    before = snapshot(out)
    r = launch("figures", trained_run, "--out", out, rlimits=[(resource.RLIMIT_FSIZE, 2000)], timeout=300)
    refused(r, "File too large")
    assert snapshot(out) == before and not temps_under(tmp_path)


count("7 atomic figures", slow=True)


def _valid_figures(out: Path) -> None:
    for name in ("rd_curve.png", "rd_curve.svg"):
        data = (out / name).read_bytes()
        if data == PREVIOUS[name]:
            continue
        if name.endswith(".png"):
            assert data.endswith(b"IEND\xaeB`\x82"), f"{name}: not a whole PNG"
            Image.open(out / name).verify()
        else:
            assert data.rstrip().endswith(b"</svg>"), f"{name}: not a whole SVG"


@SLOW
def test_an_interrupted_aggregate_leaves_whole_figures(settings_300, tmp_path):
    """SIGTERM / SIGINT at moments of an aggregate of 1200 records (its figures take seconds): each figure is the
    previous one or a whole new one, never a temp left behind."""
    out = tmp_path / "out"
    t0 = time.monotonic()  # how long it takes on this machine now
    assert run("aggregate", settings_300 / "all", "--out", tmp_path / "timed", timeout=120).returncode == 0
    took = time.monotonic() - t0
    _previous_outputs(out)
    rng, outcomes = random.Random(7), [f"(an aggregate takes {took:.1f} s)"]
    for i in range(10):
        moment, sig = rng.uniform(1.0, took), (signal.SIGTERM, signal.SIGINT)[i % 2]
        proc = subprocess.Popen([sys.executable, "-m", "rdsweep.cli", "aggregate", settings_300 / "all", "--out", out],
                                cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(moment)
        if proc.poll() is None:
            proc.send_signal(sig)
        done, err = proc.communicate(timeout=120)
        lines = [ln for ln in err.splitlines() if not ln.startswith("rdsweep aggregate: warning: ")]
        outcomes.append(f"{moment:4.1f} s {sig.name:7} -> exit {proc.returncode}{' (done)' * bool(done)}")
        # a signal once the work is done (its result printed) is test_a_signal_once_aggregate_is_done's case
        assert proc.returncode == 0 or (proc.returncode, lines) == (130, ["rdsweep: interrupted"]) or done, (
            moment, proc.returncode, err)
        _valid_figures(out)
        assert not temps_under(tmp_path), temps_under(tmp_path)
    report("aggregate interrupted at: " + "; ".join(outcomes))


count("7 atomic figures", slow=True)

@pytest.mark.parametrize("case", cases("7 atomic figures", AT_THE_END))
def test_a_signal_once_aggregate_is_done(tmp_path, case):
    """0 to 0.5 s after the figures are written (the result line printed): the figures whole, no temp, and the
    exit 0 or 130 with one line, never a death by the signal nor a traceback."""
    records(tmp_path / "runs", {"a": {}, "b": {"prior": "y"}})
    seen = []
    for i, delay in enumerate(AFTER):
        code, err = _signal_once_done(["rdsweep.cli", "aggregate", tmp_path / "runs", "--out", tmp_path / f"out{i}"],
                                      AT_THE_END[case], "runs (", delay)
        seen.append((delay, code, err[-600:]))
        Image.open(tmp_path / f"out{i}" / "rd_curve.png").verify()
        assert not temps_under(tmp_path)
    assert all(_ended_well(code, err) for _, code, err in seen), seen


# ---- 8. useless models are never recorded --------------------------------------------------------------------

UNTRAINED = {  # a setting that trains nothing: refused when composed (no directory), or failing, no record
    "train.epochs=0": (["train.epochs=0"], "train.epochs must be 1..1e6, not 0", True),
    "train.epochs=-1": (["train.epochs=-1"], "train.epochs must be 1..1e6, not -1", True),
    "-m train.epochs=1,0 (a sweep)": (["-m", "train.epochs=1,0"], "train.epochs must be 1..1e6, not 0", True),
    "train.learning_rate=1e-12": (["train.learning_rate=1e-12"], "training did not move the model", False),
    "train.learning_rate=1e-9 train.lr_schedule=cosine train.epochs=2": (
        ["train.learning_rate=1e-9", "train.lr_schedule=cosine", "train.epochs=2"], "training did not move the model",
        False),
}


@pytest.mark.parametrize("case", cases("8 useless models", UNTRAINED, ["train.epochs=0"]))
def test_an_untrained_model_is_never_recorded(tmp_path, mnist_dir, case):
    extra, message, composed = UNTRAINED[case]
    where = [f"hydra.sweep.dir={tmp_path / 'sweep'}"] if extra[0] == "-m" else [f"hydra.run.dir={tmp_path / 'run'}"]
    args = [*extra[:1], *train_args(*extra[1:], *where)] if extra[0] == "-m" else train_args(*extra, *where)
    if composed:
        expect_refusal(args, message, [tmp_path], [tmp_path / "run", tmp_path / "sweep"], module="rdsweep")
    else:
        expect_refusal(args, message, [], [tmp_path / "run" / "metrics.json"], module="rdsweep", timeout=300)
        assert "did not move" in (tmp_path / "run" / "failed.txt").read_text()


@SLOW
def test_running_an_untrained_model_again_does_not_record_it(tmp_path, mnist_dir):
    """The same command after 'training did not move the model': its checkpoint (epoch 1 of 1, the unmoved
    weights) must not be resumed into a record."""
    args = train_args("train.learning_rate=1e-12", f"hydra.run.dir={tmp_path / 'run'}")
    refused(run(*args, module="rdsweep", timeout=300), "training did not move the model")
    r = run(*args, module="rdsweep", timeout=300)
    assert not (tmp_path / "run" / "metrics.json").exists(), r
    refused(r, "did not move")


count("8 useless models", slow=True)

UNTRAINED_RECORDS = {"epochs 0": 0, "epochs 0.5": 0.5, "epochs -3": -3}


@pytest.mark.parametrize("case", cases("8 useless models", UNTRAINED_RECORDS, ["epochs 0"]))
def test_aggregate_leaves_out_an_untrained_record(tmp_path, case):
    records(tmp_path / "runs", {"good": {}, "untrained": {"prior": "u", "epochs": UNTRAINED_RECORDS[case]}})
    r = run("aggregate", tmp_path / "runs", "--out", tmp_path / "out", timeout=60)
    no_traceback(r)
    lines = r.stderr.splitlines()
    assert r.returncode == 0 and r.stdout.startswith("3 runs (3 left out)"), r
    assert len(lines) == 3 and all("/untrained/" in ln and "untrained model" in ln for ln in lines), r
    assert "untrained" not in (tmp_path / "out" / "rd.csv").read_text()


# ---- 9. smaller promises -------------------------------------------------------------------------------------

def _chunk(kind: bytes, data: bytes, crc=None) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) if crc is None
                                                                    else crc)


def _ihdr(depth=8, ctype=0, comp=0, filt=0, interlace=0, w=28, h=28) -> bytes:
    return _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, comp, filt, interlace))


SIG = b"\x89PNG\r\n\x1a\n"
IEND = _chunk(b"IEND", b"")


def _png(build):
    """A PNG of the first test digit built by build(rows, z, sig, ihdr, idat, iend) -> bytes."""
    def make(s, t):
        digit = np.load(s / "d.npy")[0]
        rows = b"".join(b"\0" + digit[i].tobytes() for i in range(28))
        z = zlib.compress(rows)
        (t / "in").mkdir()
        Image.fromarray(digit).save(t / "in" / "0.png")
        (t / "in" / "x.png").write_bytes(build(rows, z))
    return make


PNGS = {  # the PNG (built from the digit's rows and their zlib stream z); the message after "x.png: "
    "a corrupt IDAT CRC": (lambda rows, z: SIG + _ihdr() + _chunk(b"IDAT", z, 0) + IEND, "corrupt 'IDAT' chunk"),
    "a corrupt IEND CRC": (lambda rows, z: SIG + _ihdr() + _chunk(b"IDAT", z) + _chunk(b"IEND", b"", 5),
                           "corrupt 'IEND' chunk"),
    "a corrupt IHDR CRC": (lambda rows, z: SIG + _chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0), 1)
                           + _chunk(b"IDAT", z) + IEND, "x.png: not a"),
    "a corrupt tEXt CRC": (lambda rows, z: SIG + _ihdr() + _chunk(b"tEXt", b"a\0b", 7) + _chunk(b"IDAT", z) + IEND,
                           "x.png: not a"),
    "bit depth 16": (lambda rows, z: SIG + _ihdr(depth=16) + _chunk(b"IDAT", zlib.compress(bytes(57 * 28))) + IEND,
                     "x.png: expected an 8-bit grayscale 28x28 PNG, got PNG mode I;16"),
    "bit depth 4": (lambda rows, z: SIG + _ihdr(depth=4) + _chunk(b"IDAT", zlib.compress(bytes(15 * 28))) + IEND,
                    "header fields this reader does not take (bit depth 4"),
    "colour type 4 (grey and alpha)": (
        lambda rows, z: SIG + _ihdr(ctype=4) + _chunk(b"IDAT", zlib.compress(bytes(57 * 28))) + IEND,
        "x.png: expected an 8-bit grayscale 28x28 PNG, got PNG mode LA"),
    "colour type 3 (palette)": (lambda rows, z: SIG + _ihdr(ctype=3) + _chunk(b"PLTE", bytes(range(256)) * 3)
                                + _chunk(b"IDAT", z) + IEND, "got PNG mode P"),
    "interlace 2": (lambda rows, z: SIG + _ihdr(interlace=2) + _chunk(b"IDAT", z) + IEND, "interlace 2"),
    "compression method 1": (lambda rows, z: SIG + _ihdr(comp=1) + _chunk(b"IDAT", z) + IEND, "compression 1"),
    "filter method 1": (lambda rows, z: SIG + _ihdr(filt=1) + _chunk(b"IDAT", z) + IEND, "x.png: not a"),
    "animated (acTL)": (lambda rows, z: SIG + _ihdr() + _chunk(b"acTL", struct.pack(">II", 1, 0)) + _chunk(b"IDAT", z)
                        + IEND, "is an animated PNG"),
    "animated (fcTL after the image)": (lambda rows, z: SIG + _ihdr() + _chunk(b"IDAT", z) + _chunk(b"fcTL", bytes(26))
                                        + IEND, "is an animated PNG"),
    "bytes after IEND": (lambda rows, z: SIG + _ihdr() + _chunk(b"IDAT", z) + IEND + b"extra", "data after its IEND"),
    "a chunk after IEND": (lambda rows, z: SIG + _ihdr() + _chunk(b"IDAT", z) + IEND + _chunk(b"tEXt", b"a\0b"),
                           "data after its IEND"),
    "IDAT chunks not consecutive": (lambda rows, z: SIG + _ihdr() + _chunk(b"IDAT", z[:20]) + _chunk(b"tEXt", b"a\0b")
                                    + _chunk(b"IDAT", z[20:]) + IEND, "IDAT chunks that are not consecutive"),
    "a second IHDR": (lambda rows, z: SIG + _ihdr() + _ihdr() + _chunk(b"IDAT", z) + IEND, "a second IHDR"),
    "no IEND": (lambda rows, z: SIG + _ihdr() + _chunk(b"IDAT", z), "ends before its IEND"),
    "cut inside IDAT": (lambda rows, z: (SIG + _ihdr() + _chunk(b"IDAT", z))[:-20], "ends inside its 'IDAT'"),
    "IHDR of 14 bytes": (lambda rows, z: SIG + _chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0) + b"\0")
                         + _chunk(b"IDAT", z) + IEND, "13-byte IHDR"),
    "IDAT before IHDR": (lambda rows, z: SIG + _chunk(b"IDAT", z) + _ihdr() + IEND, "13-byte IHDR"),
    "a zlib stream that does not end": (lambda rows, z: SIG + _ihdr() + _chunk(b"IDAT", zlib.compressobj().compress(rows))
                                        + IEND, "rows missing"),
    "a chunk length of 2**31": (lambda rows, z: SIG + _ihdr() + struct.pack(">I", 2**31) + b"tEXt" + b"x" * 10,
                                "x.png: not a"),
    # found by this suite:
    "bytes after the zlib stream inside IDAT": (lambda rows, z: SIG + _ihdr() + _chunk(b"IDAT", z + b"junk") + IEND,
                                                "x.png: not a valid PNG"),
}


@pytest.mark.parametrize("case", cases("9 smaller", PNGS, ["a corrupt IDAT CRC"]))
def test_strict_png(shared, tmp_path, case):
    build, message = PNGS[case]
    _png(build)(shared, tmp_path)
    for src in ("x.png", ""):  # the file alone, then the directory holding it (named as the one at fault)
        out = tmp_path / "out.rds"
        r = expect_refusal(["compress", tmp_path / "in" / src, "-m", shared / "m.rdsm", "-o", out], message,
                           [shared, tmp_path], [out])
        assert str(tmp_path / "in" / "x.png") in r.stderr, r
        if case not in ("animated (acTL)", "bytes after IEND", "a corrupt IEND CRC"):
            break


def test_the_good_png_of_these_cases_is_read(shared, tmp_path):
    """The control: the same digit's PNG built by the same code, valid, is compressed (so the refusals above
    are about what each case changes)."""
    _png(lambda rows, z: SIG + _ihdr() + _chunk(b"IDAT", z[:20]) + _chunk(b"IDAT", z[20:]) + IEND)(shared, tmp_path)
    r = run("compress", tmp_path / "in", "-m", shared / "m.rdsm", "-o", tmp_path / "out.rds")
    assert r.returncode == 0 and "2 images" in r.stdout, r


test_the_good_png_of_these_cases_is_read = SLOW(test_the_good_png_of_these_cases_is_read)
count("9 smaller", slow=True)

METHODS = {",,,": "no baseline method given", "": "no baseline method given", ",": "no baseline method given",
           "dct,,nope": "unknown baseline 'nope'", " ": "unknown baseline ' '", "DCT": "unknown baseline 'DCT'"}


@pytest.mark.parametrize("case", cases("9 smaller", METHODS, ()))
def test_baselines_methods(tmp_path, case):
    expect_refusal(["baselines", "--out", tmp_path / "out", "--methods", case, "--data-dir", tmp_path / "no-data"],
                   METHODS[case], [tmp_path], [tmp_path / "out"])


CONTROL = {"newline": "a\nb", "carriage return": "c\rd", "escape sequence": "e\x1b[31mred", "tab": "f\tg",
           "DEL": "h\x7fi", "newline at the end": "j\n"}


@pytest.mark.parametrize("case", cases("9 smaller", CONTROL, ["newline"]))
def test_a_control_character_in_a_run_directorys_name_is_one_escaped_line(tmp_path, case):
    name = CONTROL[case]
    records(tmp_path / "runs", {"good": {}})
    for what, d in (("failed", tmp_path / "runs" / name), ("bad", tmp_path / "runs" / (name + "bad")),
                    ("incomplete", tmp_path / "runs" / (name + "inc"))):
        d.mkdir()
        if what == "failed":
            (d / "failed.txt").write_text("boom\nsecond line\n")
        elif what == "bad":
            (d / "metrics.json").write_text(json.dumps({**GOOD, "lmbda": "x"}))
        else:
            (d / "checkpoint.msgpack").write_bytes(b"")
    r = run("aggregate", tmp_path / "runs", "--out", tmp_path / "out", timeout=60)
    no_traceback(r)
    lines = r.stderr.split("\n")[:-1]  # lines as a terminal, a log file or grep count them
    assert r.returncode == 0 and len(lines) == 3, r
    assert all(ln.startswith("rdsweep aggregate: warning: ") and "\r" not in ln and "\x1b" not in ln
               and "\t" not in ln and "\x7f" not in ln for ln in lines), r


NEWLINE_PATHS = {  # a newline in a path given to a command: one line all the same
    "export of a missing run directory": (lambda t: ["export", t / "no\nrun", "-o", t / "m.rdsm"], "rdsweep.cli"),
    "compress -o into a missing directory": (lambda t: ["compress", t / "in.npy", "-m", t / "m.rdsm", "-o",
                                                        t / "no\ndir" / "x.rds"], "rdsweep.cli"),
    "training: hydra.run.dir with a newline, a user's directory": (
        lambda t: train_args(f"hydra.run.dir='{t / 'user' / 'x'}\ny'"), "rdsweep"),
    "training: data.test_file with a newline": (lambda t: train_args(f"data.test_file='{t}/x\ny.npy'",
                                                                      f"hydra.run.dir={t / 'run'}"), "rdsweep"),
    # found by this suite:
    "training: data.train_file with a newline": (lambda t: train_args(f"data.train_file='{t}/x\ny.npy'",
                                                                       f"hydra.run.dir={t / 'run'}"), "rdsweep"),
}


@pytest.mark.parametrize("case", cases("9 smaller", NEWLINE_PATHS, ()))
def test_a_newline_in_a_path_is_one_error_line(tmp_path, mnist_dir, case):
    args, module = NEWLINE_PATHS[case]
    if "user" in case:
        _user_dir(tmp_path / "user" / "x\ny", "notes.txt")
    if "compress" in case:
        np.save(tmp_path / "in.npy", np.zeros((1, 28, 28), np.uint8))
        untrained_codec(latent_dims=4).save(tmp_path / "m.rdsm")
    r = run(*args(tmp_path), module=module, timeout=120)
    lines = r.stderr.split("\n")[:-1]
    assert r.returncode == 1 and "Traceback" not in r.stderr, r
    assert len(lines) == 1 and lines[0].startswith("rdsweep: error: "), r


def test_the_api_refuses_to_compress_no_images(shared):
    from rdsweep import load
    from rdsweep.errors import RdsweepError

    codec = load(shared / "m.rdsm")
    for images, kw in ((np.zeros((0, 28, 28), np.uint8), {}), (np.zeros((0, 28, 28, 1), np.uint8), {}),
                       (np.zeros((0, 28, 28), np.uint8), {"names": []})):
        with pytest.raises(RdsweepError, match="no images to compress"):
            codec.compress(images, **kw)
    with pytest.raises(RdsweepError, match="holds no images"):
        codec.decompress(rds(codec.fingerprint, 0, codec.shape, b""))


count("9 smaller")


@SLOW
def test_compress_refuses_a_npy_of_no_images(shared, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((0, 28, 28), np.uint8))
    expect_refusal(["compress", tmp_path / "x.npy", "-m", shared / "m.rdsm", "-o", tmp_path / "out.rds"], "",
                   [shared, tmp_path], [tmp_path / "out.rds"])


count("9 smaller", slow=True)


# ---- the count ------------------------------------------------------------------------------------------------

def test_zz_cases_per_class(capsys):
    """The counts per class: printed (a run without xdist) and in the warnings summary (with xdist too)."""
    lines = [f"  {cls:22} {fast + slow:3}  ({fast} fast, {slow} slow)" for cls, (fast, slow) in sorted(COUNTS.items())]
    fast, slow = map(sum, zip(*COUNTS.values()))
    text = "\n".join(["hostile cases, second round, per class (fast + slow):", *lines,
                      f"  {'total':22} {fast + slow:3}  ({fast} fast, {slow} slow)"])
    with capsys.disabled():
        print("\n" + text)
    report(text)


@SLOW
def test_zz_cases_per_class_slow(capsys):  # printed by `-m slow` runs too
    test_zz_cases_per_class(capsys)
