"""rdsweep against the TensorFlow Compression reference, side by side on this machine: ``make bench-peer``.

    python benchmarks/compare.py [--lmbda 1000] [--epochs 3] [--train-limit 12800] [--repeats 3] [--sweep]

Runs the same model (logistic prior, MAE, batch 128, Adam 1e-3, the same data) with rdsweep and with the TFC
reference (benchmarks/tfc_peer.py in its own virtualenv, made on first use in
${XDG_CACHE_HOME:-~/.cache}/rdsweep-tfc-peer: tensorflow-cpu 2.14.1, tensorflow-compression 2.14.1), one after
the other, ``--repeats`` times, and prints the medians and the ratios ours / reference: training digits/s
(the mean of the epochs after the first, on both sides), compress and decompress digits/s of the 10k test
digits. ``--sweep`` also times the 4-lambda Table-1 sweep (5 epochs on 60k digits; ``--sweep-args`` are
passed to ours, e.g. the launcher) against the reference's 4 runs one after another.

Measure with nothing else running on the machine (no training, tests or installs in the background).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from rdsweep.provenance import cpu

HERE = Path(__file__).resolve().parent
PEER_PACKAGES = ["tensorflow-cpu==2.14.1", "tensorflow-compression==2.14.1", "tensorflow-probability==0.22.1"]


def peer_python() -> Path:
    venv = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rdsweep-tfc-peer"
    python = venv / "bin" / "python"
    ok = python.exists() and subprocess.run([python, "-c", "import tensorflow_compression"],
                                           capture_output=True).returncode == 0
    if not ok:
        print(f"making the reference's virtualenv in {venv} (about a minute, once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    return python


def run_peer(python, data, lmbda, epochs, limit) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    t = time.perf_counter()
    out = subprocess.run([python, HERE / "tfc_peer.py", data, str(lmbda), str(epochs), *([str(limit)] if limit else [])],
                         check=True, capture_output=True, text=True, env=env).stdout
    return {**json.loads(out.strip().splitlines()[-1]), "wall_s": time.perf_counter() - t}


def run_ours(data, lmbda, epochs, limit, prior, precision) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rdsweep", f"lmbda={lmbda}", f"train.epochs={epochs}", f"prior={prior}",
                        f"data.dir={data}", "progress=false", f"hydra.run.dir={tmp}", f"train.precision={precision}",
                        *([f"data.train_limit={limit}"] if limit else [])], check=True, capture_output=True)
        wall = time.perf_counter() - t
        m = json.loads((Path(tmp) / "metrics.json").read_text())
        h = pd.read_csv(Path(tmp) / "history.csv")
    steady = h["epoch_s"][1:] if len(h) > 1 else h["epoch_s"]
    return {"train_digits_per_s": m["train_digits"] / steady.mean(), "compress_digits_per_s": m["compress_digits_per_s"],
            "decompress_digits_per_s": m["decompress_digits_per_s"], "wall_s": wall,
            "string_bits": m["rate_string_bits"], "psnr_db": m["psnr_db"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lmbda", type=float, default=1000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--train-limit", type=int, default=12800)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--prior", default="logistic", help="ours (the reference is logistic)")
    ap.add_argument("--data-dir", default=os.environ.get("RDSWEEP_DATA_DIR", "data/mnist"))
    ap.add_argument("--precision", choices=["float32", "bf16"], default="float32",
                    help="ours: train.precision (the reference trains in float32, as its users run it)")
    ap.add_argument("--sweep", action="store_true", help="also time the 4-lambda x 5-epoch sweep")
    ap.add_argument("--sweep-args", default="", help="extra overrides for our sweep, e.g. 'hydra/launcher=joblib'")
    args = ap.parse_args(argv)
    python = peer_python()
    keys = ["train_digits_per_s", "compress_digits_per_s", "decompress_digits_per_s"]
    ours, peer = [], []
    for r in range(args.repeats):
        ours.append(run_ours(args.data_dir, args.lmbda, args.epochs, args.train_limit, args.prior, args.precision))
        peer.append(run_peer(python, args.data_dir, args.lmbda, args.epochs, args.train_limit))
        print(f"repeat {r + 1}: ours " + ", ".join(f"{k} {ours[-1][k]:,.0f}" for k in keys) +
              "; reference " + ", ".join(f"{k} {peer[-1][k]:,.0f}" for k in keys), file=sys.stderr)
    name, flags = cpu()
    print(f"lmbda {args.lmbda:g}, {args.epochs} epochs on {args.train_limit or 60000} digits, ours prior={args.prior} "
          f"precision={args.precision}; medians of {args.repeats}; {os.cpu_count()} cores, {name} [{' '.join(flags)}]")
    print("| figure | rdsweep | TFC reference | ratio |\n|---|---|---|---|")
    for k in keys:
        a, b = statistics.median(x[k] for x in ours), statistics.median(x[k] for x in peer)
        print(f"| {k.replace('_', ' ')} | {a:,.0f} | {b:,.0f} | {a / b:.2f}x |")
    if args.sweep:
        t = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "rdsweep", "-m", "lmbda=300,500,1000,2000", "train.epochs=5",
                            f"prior={args.prior}", f"data.dir={args.data_dir}", "progress=false",
                            f"hydra.sweep.dir={tmp}", *args.sweep_args.split()], check=True, capture_output=True)
        ours_wall = time.perf_counter() - t
        peer_wall = sum(run_peer(python, args.data_dir, lm, 5, None)["wall_s"] for lm in (300, 500, 1000, 2000))
        print(f"| 4-lambda sweep, 5 epochs, wall s | {ours_wall:,.0f} | {peer_wall:,.0f} | {ours_wall / peer_wall:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
