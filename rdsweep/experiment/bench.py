"""Benchmarks (not tests): training throughput, coding speed and overheads, peak memory. ``rdsweep bench``.

Prints one table. Training: steady-state jitted steps on real data, as training runs them (two steps per
call, each call's metrics read while the next runs; compilation excluded). Coding: every test
digit through the model trained by those steps (or a trained run's, --run): compress = analysis +
quantization + one range-coded string per digit; decompress = decoding + synthesis + uint8; every digit
verified. Container: all test digits in one ANS stream. --profile adds each layer's forward + backward pass
at the training batch (ms, GFLOP/s from XLA's cost analysis) and a large matmul for scale.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import resource
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rdsweep import data, models, provenance
from rdsweep.codec import Codec
from rdsweep.config import DataConfig
from rdsweep.entropy.densities import PRIORS
from rdsweep.errors import RdsweepError
from rdsweep.experiment.evaluate import evaluate
from rdsweep.experiment.rundir import load_codec
from rdsweep.experiment.train import STEPS_PER_CALL, make_train_step
from rdsweep.models import ModelSpec
from rdsweep.models.layers import StridedConvTranspose, leaky, strided_conv
from rdsweep.models.precision import conv_gemm, conv_gemm_bf16, dot_bf16


MAX_STEP_DIGITS = 1 << 26  # steps x batch: the timed steps' digit indexes are drawn at once (4 bytes each)


def bench(args) -> None:
    cfg = DataConfig(dir=args.data_dir, test_limit=args.test_limit)
    train_images, test_images = (data.load_split(cfg, s) for s in ("train", "test"))
    if not args.batch <= min(65536, len(train_images)):
        raise RdsweepError(f"--batch {args.batch}: at most the {len(train_images):,} training digits (and 65536)")
    if args.steps * args.batch > MAX_STEP_DIGITS:
        raise RdsweepError(f"--steps {args.steps} x --batch {args.batch}: at most {MAX_STEP_DIGITS:,} digits timed")
    M = models.get(args.model)
    if args.prior not in PRIORS:
        raise RdsweepError(f"unknown prior {args.prior!r}; choose one of {', '.join(PRIORS)}")
    spec = ModelSpec(dataclasses.asdict(M.Config()), dataclasses.asdict(PRIORS[args.prior][1](name=args.prior)),
                     50, tuple(train_images.shape[1:]))
    net = M.make_net(spec, fast=not args.slow_layers, precision=args.precision)
    params = M.init_params(spec, jax.random.key(0))
    opt = optax.adam(1e-3)
    opt_state = opt.init(params)
    B, k = args.batch, STEPS_PER_CALL
    step = make_train_step(net, opt, "mae", k)
    images, lmbda = jnp.asarray(train_images), jnp.float32(args.lmbda)
    calls = max(1, args.steps // k)
    perm = jnp.asarray(np.random.default_rng(0).integers(0, len(train_images), ((calls + 2) * k, B)), jnp.int32)
    key = jax.random.key(1)
    for c in range(2):  # compile + warm up
        params, opt_state, m = step(params, opt_state, images, perm, key, jnp.int32(c * k), lmbda)
    m.block_until_ready()
    t0 = time.perf_counter()
    for c in range(2, calls + 2):  # as in training: each call's metrics read while the next one runs
        params, opt_state, m_next = step(params, opt_state, images, perm, key, jnp.int32(c * k), lmbda)
        np.asarray(m)
        m = m_next
    np.asarray(m)
    train_rate = calls * k * B / (time.perf_counter() - t0)

    if args.run:
        codec, coded = load_codec(args.run), str(args.run)
    else:
        codec = Codec(M(spec, params, M.entropy_from_training(spec, params, 2.0**-8)))
        coded = f"the model of the {args.steps} timed steps"
    ev = evaluate(codec, test_images, 1000, progress=False)
    info_total = ev["rate_info_bits"] * ev["test_digits"]
    rows = [
        (f"train digits/s (steady, batch {B})", f"{train_rate:,.0f}"),
        (f"compress digits/s ({ev['test_digits']:,} test digits)", f"{ev['compress_digits_per_s']:,.0f}"),
        ("decompress digits/s (verified)", f"{ev['decompress_digits_per_s']:,.0f}"),
        ("info content bits/digit", f"{ev['rate_info_bits']:.2f}"),
        ("string overhead bits/digit", f"{ev['rate_string_bits'] - ev['rate_info_bits']:+.3f}"),
        ("  expected at best with whole-byte strings", f"{ev['rate_string_floor_bits'] - ev['rate_info_bits']:+.3f}"),
        ("container overhead %", f"{100 * (ev['rate_container_bits'] * ev['test_digits'] / info_total - 1):.4f}"),
        ("decode mismatches", f"{ev['decode_mismatches']}"),
        ("peak RSS MiB", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f}"),
    ]
    layers = "flax ConvTranspose (reference)" if args.slow_layers else "sub-pixel ConvTranspose (exact)"
    cpu, flags = provenance.cpu()
    print(f"rdsweep bench: model={args.model} prior={args.prior} lmbda={args.lmbda:g} steps={args.steps} "
          f"precision={args.precision} (training; coding float32) layers={layers}; JAX {jax.__version__} on "
          f"{jax.devices()[0].device_kind} ({jax.default_backend()}), {os.cpu_count()} cores, {cpu} "
          f"[{' '.join(flags)}]; XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; coding with {coded}")
    width = max(len(r[0]) for r in rows)
    print(f"| {'metric'.ljust(width)} | value |\n|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")
    if args.profile:
        print(f"\n| layer (forward + backward, batch {B}): ms (GFLOP/s) | " + " | ".join(FORMS) + " |\n"
              f"|---|{'---|' * len(FORMS)}")
        for name, cells in profile_layers(B, args.reps):
            print(f"| {name} | " + " | ".join("-" if c is None else f"{c[0]:.2f} ({c[1]:.0f})" for c in cells) + " |")


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


def _conv_xla_bf16(lhs, rhs, *args, **kw):
    """XLA's own convolution with bfloat16 operands, float32 accumulation (the naive bf16 form)."""
    kw.pop("preferred_element_type", None)
    return jax.lax.conv_general_dilated(lhs.astype(jnp.bfloat16), rhs.astype(jnp.bfloat16), *args, **kw,
                                        preferred_element_type=jnp.float32)


# the formulations profiled: (name, conv, dot) for flax's Conv (conv_general_dilated) and Dense (dot_general)
FORMS = ["float32, XLA conv", "float32, conv as GEMM", "bf16, XLA conv", "bf16, conv as GEMM"]


def _forms():
    return [(None, None), (functools.partial(conv_gemm, dtype=jnp.float32), None), (_conv_xla_bf16, dot_bf16),
            (conv_gemm_bf16, dot_bf16)]


def profile_layers(B: int = 128, reps: int = 30):
    """(layer, [(ms, GFLOP/s) per FORMS]) for each layer of the seed model, forward and backward (gradients
    w.r.t. parameters and input), GFLOP/s counted from the float32 form's XLA cost analysis."""
    layers = [("analysis conv1 5x5/2, 28x28x1 -> 14x14x20", "conv", 20, (B, 28, 28, 1)),
              ("analysis conv2 5x5/2, 14x14x20 -> 7x7x50", "conv", 50, (B, 14, 14, 20)),
              ("analysis dense 2450 -> 500", "dense", 500, (B, 2450)),
              ("analysis dense 500 -> 50", "dense", 50, (B, 500)),
              ("synthesis dense 50 -> 500", "dense", 500, (B, 50)),
              ("synthesis dense 500 -> 2450", "dense", 2450, (B, 500)),
              ("synthesis deconv1 (sub-pixel), 7x7x50 -> 14x14x20", "deconv", 20, (B, 7, 7, 50)),
              ("synthesis deconv2 (sub-pixel), 14x14x20 -> 28x28x1", "deconv", 1, (B, 14, 14, 20))]
    act = leaky(0.2)
    rows = []
    for name, kind, features, shape in layers:
        x = jax.random.normal(jax.random.key(0), shape)
        cells, flops = [], None
        for conv, dot in _forms():
            if kind == "dense" and conv is not None and dot is None:
                cells.append(None)  # no convolution to reformulate
                continue
            layer = (strided_conv(features, **({"conv_general_dilated": conv} if conv else {})) if kind == "conv"
                     else nn.Dense(features, **({"dot_general": dot} if dot else {})) if kind == "dense"
                     else StridedConvTranspose(features, conv))
            p = layer.init(jax.random.key(1), x)
            grad = jax.jit(jax.grad(lambda p, x, layer=layer: jnp.sum(act(layer.apply(p, x)) ** 2), argnums=(0, 1)))
            flops = flops or grad.lower(p, x).compile().cost_analysis()["flops"]
            sec = timed(grad, p, x, reps=reps)
            cells.append((1e3 * sec, flops / sec / 1e9))
        rows.append((name, cells))
    for dtype, label in ((jnp.float32, "float32"), (jnp.bfloat16, "bf16")):
        a = jax.random.normal(jax.random.key(2), (1024, 1024)).astype(dtype)
        sec = timed(jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32)), a, a, reps=reps)
        rows.append((f"(scale: a 1024 x 1024 x 1024 {label} matmul)", [(1e3 * sec, 2 * 1024**3 / sec / 1e9)]
                     + [None] * (len(FORMS) - 1)))
    return rows
