"""Jitted training: noisy latents, loss = rate + lmbda * distortion, Adam; one jitted step per batch."""
from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from rdsweep import checkpoint
from rdsweep.errors import RdsweepError
from rdsweep.model import CompressionModel, images_to_input

HISTORY_COLUMNS = ["epoch", "loss", "rate_bits", "distortion", "digits_per_s", "epoch_s"]  # history.csv
DISTORTIONS = {
    "mae": lambda x, x_hat: jnp.mean(jnp.abs(x - x_hat)),
    "mse": lambda x, x_hat: jnp.mean(jnp.square(x - x_hat)),
}


def make_train_step(model: CompressionModel, optimizer, distortion: str):
    """jit(params, opt_state, images, idx (B,), key, lmbda) -> (params, opt_state, [loss, rate, distortion]).

    One step per call: XLA on CPU runs these convolutions ~4x slower inside a rolled while loop
    (lax.scan), and the dispatch cost of a call is negligible next to a step.
    """
    dist_fn = DISTORTIONS[distortion]

    def loss_fn(params, x_uint8, key, lmbda):
        x = images_to_input(x_uint8)
        bits, x_tilde = model.apply({"params": params}, x, key)
        rate, dist = jnp.mean(bits), dist_fn(x, x_tilde)
        return rate + lmbda * dist, (rate, dist)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def train_step(params, opt_state, images, idx, key, lmbda):
        (loss, (rate, dist)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, images[idx], key, lmbda)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, jnp.stack([loss, rate, dist])

    return train_step


def identity(cfg) -> dict:
    """What a checkpoint must agree with to be resumed (everything that changes the trajectory)."""
    return {
        "lmbda": float(cfg.lmbda), "distortion": cfg.distortion, "latent_dims": int(cfg.latent_dims),
        "prior": cfg.prior.name, "seed": int(cfg.seed), "data": cfg.data.name,
        "train_limit": cfg.data.train_limit, "batch_size": int(cfg.train.batch_size),
        "learning_rate": float(cfg.train.learning_rate),
    }


def fit(cfg, model: CompressionModel, params, train_images: np.ndarray, run_dir, log=print):
    """Train for cfg.train.epochs, resuming from run_dir's checkpoint; checkpoint after every epoch.

    Returns (params, history, info) with info = {"digits_per_s" (last epoch), "compile_s"}.
    """
    B = int(cfg.train.batch_size)
    n = len(train_images)
    steps = n // B
    if steps < 1:
        raise RdsweepError(f"only {n} training digits, fewer than one batch of {B}")
    optimizer = optax.adam(float(cfg.train.learning_rate))
    opt_state = optimizer.init(params)
    ident = identity(cfg)
    start, history = 0, []
    restored = checkpoint.load(run_dir, params, opt_state, ident)
    if restored is not None:
        params, opt_state, start, history = restored
        if start > cfg.train.epochs:
            raise RdsweepError(f"{run_dir} already holds {start} epochs, more than train.epochs={cfg.train.epochs}")
        log(f"resuming from {run_dir / checkpoint.CHECKPOINT} after epoch {start}")
    info = {"digits_per_s": history[-1]["digits_per_s"] if history else float("nan"), "compile_s": 0.0}
    if start >= cfg.train.epochs:
        return params, history, info

    images = jnp.asarray(train_images)
    lmbda = jnp.float32(cfg.lmbda)
    seed_key = jax.random.key(int(cfg.seed))  # fold_in 0: init (run.py), 1: noise, 2: shuffling
    noise_key, shuffle_key = jax.random.fold_in(seed_key, 1), jax.random.fold_in(seed_key, 2)
    t0 = time.perf_counter()
    step = make_train_step(model, optimizer, cfg.distortion).lower(
        params, opt_state, images, jnp.zeros((B,), jnp.int32), noise_key, lmbda).compile()
    info["compile_s"] = time.perf_counter() - t0

    for epoch in range(start, int(cfg.train.epochs)):
        epoch_key = jax.random.fold_in(noise_key, epoch)
        perm = jax.random.permutation(jax.random.fold_in(shuffle_key, epoch), n)[: steps * B].reshape(steps, B)
        sums = np.zeros(3)
        bar = tqdm(total=steps * B, unit="digit", unit_scale=True, desc=f"epoch {epoch + 1}/{cfg.train.epochs}",
                   disable=not cfg.progress, leave=False, mininterval=0.5)
        t0 = time.perf_counter()
        for s in range(steps):
            params, opt_state, metrics = step(params, opt_state, images, perm[s], jax.random.fold_in(epoch_key, s),
                                              lmbda)
            metrics = np.asarray(metrics)
            if not np.all(np.isfinite(metrics)):
                raise RdsweepError(
                    f"non-finite loss at epoch {epoch + 1}, step {s + 1} (lmbda={cfg.lmbda}); "
                    "try a smaller train.learning_rate")
            sums += metrics
            bar.update(B)
            if s % 20 == 0:
                bar.set_postfix(loss=f"{sums[0] / (s + 1):.2f}", refresh=False)
        wall = time.perf_counter() - t0
        bar.close()
        loss, rate, dist = sums / steps
        row = {"epoch": epoch + 1, "loss": loss, "rate_bits": rate, "distortion": dist,
               "digits_per_s": steps * B / wall, "epoch_s": wall}
        history.append(row)
        log(f"epoch {epoch + 1}/{cfg.train.epochs}: loss {loss:.3f}  rate {rate:.2f} bits  "
            f"{cfg.distortion} {dist:.4f}  {row['digits_per_s']:,.0f} digits/s")
        checkpoint.save(run_dir, params, opt_state, epoch + 1, history, ident)
    info["digits_per_s"] = history[-1]["digits_per_s"]
    return params, history, info
