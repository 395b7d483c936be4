"""Benchmarks (not tests): training throughput, coding speed and overheads, peak memory.

    python -m rdsweep.bench [--steps 150] [--lmbda 2000] [--prior deep_factorized] [--run RUN_DIR] [--data-dir DIR]
                            [--slow-layers] [--profile]

Prints one table. Training: steady-state jitted steps on real MNIST (compilation excluded). Coding: the
10,000 test digits through the model trained by those steps (or a trained run's, --run): compress =
analysis + quantization + range coding of one string per digit; decompress = decoding + synthesis + uint8;
every digit verified. Container: all test digits in one ANS stream. --profile adds a second table: each layer's
forward + backward pass at batch 128 (ms, GFLOP/s from XLA's cost analysis) and a large matmul for scale.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from omegaconf import OmegaConf

from rdsweep import data
from rdsweep.codec import FactorizedCodec
from rdsweep.evaluate import evaluate
from rdsweep.export import load_run
from rdsweep.model import (CompressionModel, StridedConvTranspose, act, flax_conv_transpose, init_params,
                           strided_conv)
from rdsweep.prior import make_prior
from rdsweep.train import make_train_step


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m rdsweep.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150, help="timed training steps (batch 128)")
    ap.add_argument("--lmbda", type=float, default=2000.0)
    ap.add_argument("--prior", default="deep_factorized")
    ap.add_argument("--slow-layers", action="store_true", help="flax ConvTranspose in the decoder (the reference)")
    ap.add_argument("--run", type=Path, help="code with this trained run's model (default: the timed steps' model)")
    ap.add_argument("--data-dir", default=os.environ.get("RDSWEEP_DATA_DIR", "data/mnist"))
    ap.add_argument("--profile", action="store_true", help="also time each layer's forward + backward pass")
    args = ap.parse_args(argv)

    cfg = OmegaConf.create({"source": "auto", "dir": args.data_dir, "train_limit": None, "test_limit": None})
    train_images, test_images = data.load_split(cfg, "train"), data.load_split(cfg, "test")
    model = CompressionModel(latent_dims=50, prior=args.prior, fast=not args.slow_layers)
    params = init_params(model, jax.random.key(0))
    opt = optax.adam(1e-3)
    opt_state = opt.init(params)
    step = make_train_step(model, opt, "mae")
    images, B, lmbda = jnp.asarray(train_images), 128, jnp.float32(args.lmbda)
    idx = np.random.default_rng(0).integers(0, len(train_images), (args.steps + 3, B)).astype(np.int32)
    key = jax.random.key(1)
    for s in range(3):  # compile + warm up
        params, opt_state, m = step(params, opt_state, images, idx[s], jax.random.fold_in(key, s), lmbda)
    m.block_until_ready()
    t0 = time.perf_counter()
    for s in range(3, args.steps + 3):
        params, opt_state, m = step(params, opt_state, images, idx[s], jax.random.fold_in(key, s), lmbda)
    m.block_until_ready()
    train_rate = args.steps * B / (time.perf_counter() - t0)

    coded = f"the model of the {args.steps} timed steps"
    if args.run:
        trained, _ = load_run(args.run)
        model, params, codec = trained.model, trained.params, trained.codec
        coded = f"{args.run}"
    else:
        codec = FactorizedCodec.from_prior(make_prior(args.prior, 50), params["entropy"])
    ev = evaluate(model, params, codec, test_images, 1000, progress=False)
    info_total = ev["rate_info_bits"] * ev["test_digits"]
    rows = [
        ("train digits/s (steady, batch 128)", f"{train_rate:,.0f}"),
        ("compress digits/s (10k test digits)", f"{ev['compress_digits_per_s']:,.0f}"),
        ("decompress digits/s (verified)", f"{ev['decompress_digits_per_s']:,.0f}"),
        ("info content bits/digit", f"{ev['rate_info_bits']:.2f}"),
        ("string overhead bits/digit", f"{ev['rate_string_bits'] - ev['rate_info_bits']:+.3f}"),
        ("  expected at best with whole-byte strings", f"{ev['rate_string_floor_bits'] - ev['rate_info_bits']:+.3f}"),
        ("container overhead %", f"{100 * (ev['rate_container_bits'] * ev['test_digits'] / info_total - 1):.4f}"),
        ("decode mismatches", f"{ev['decode_mismatches']}"),
        ("peak RSS MiB", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f}"),
    ]
    layers = "flax ConvTranspose (reference)" if args.slow_layers else "sub-pixel ConvTranspose (exact)"
    print(f"rdsweep bench: prior={args.prior} lmbda={args.lmbda:g} steps={args.steps} layers={layers}; "
          f"JAX {jax.__version__} on {jax.devices()[0].device_kind} ({jax.default_backend()}), "
          f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}; "
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; coding with {coded}")
    width = max(len(r[0]) for r in rows)
    print(f"| {'metric'.ljust(width)} | value |\n|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")
    if args.profile:
        print("\n| layer (forward + backward, batch 128) | ms | GFLOP/s |\n|---|---|---|")
        for name, ms, gflops in profile_layers():
            print(f"| {name} | {ms:.2f} | {gflops:.0f} |")


def timed(fn, *args, reps: int = 30) -> float:
    """Best-of-3 mean seconds per call of a jitted fn (compiled first)."""
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            out = fn(*args)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def profile_layers(B: int = 128):
    """(layer, ms, GFLOP/s) for each layer of the seed model, gradients w.r.t. parameters and input."""
    layers = [("analysis conv1 5x5/2, 28x28x1 -> 14x14x20", strided_conv(20), (B, 28, 28, 1)),
              ("analysis conv2 5x5/2, 14x14x20 -> 7x7x50", strided_conv(50), (B, 14, 14, 20)),
              ("analysis dense 2450 -> 500", nn.Dense(500), (B, 2450)),
              ("analysis dense 500 -> 50", nn.Dense(50), (B, 500)),
              ("synthesis dense 50 -> 500", nn.Dense(500), (B, 50)),
              ("synthesis dense 500 -> 2450", nn.Dense(2450), (B, 500)),
              ("synthesis deconv1 (sub-pixel), 7x7x50 -> 14x14x20", StridedConvTranspose(20), (B, 7, 7, 50)),
              ("synthesis deconv2 (sub-pixel), 14x14x20 -> 28x28x1", StridedConvTranspose(1), (B, 14, 14, 20)),
              ("  deconv1 as flax ConvTranspose (--slow-layers)", flax_conv_transpose(20), (B, 7, 7, 50))]
    rows = []
    for name, layer, shape in layers:
        x = jax.random.normal(jax.random.key(0), shape)
        p = layer.init(jax.random.key(1), x)
        grad = jax.jit(jax.grad(lambda p, x, layer=layer: jnp.sum(act(layer.apply(p, x)) ** 2), argnums=(0, 1)))
        flops = grad.lower(p, x).compile().cost_analysis()["flops"]
        sec = timed(grad, p, x)
        rows.append((name, 1e3 * sec, flops / sec / 1e9))
    a = jax.random.normal(jax.random.key(2), (1024, 1024))
    sec = timed(jax.jit(jnp.dot), a, a)
    rows.append(("(scale: a 1024 x 1024 x 1024 float32 matmul)", 1e3 * sec, 2 * 1024**3 / sec / 1e9))
    return rows


if __name__ == "__main__":
    main()
