"""Jitted training: noisy latents, loss = rate + lmbda * distortion, Adam; one jitted step per batch."""
from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from rdsweep import config, distortion
from rdsweep.errors import RdsweepError
from rdsweep.experiment import checkpoint
from rdsweep.models import ModelSpec
from rdsweep.experiment.logger import NullLogger
from rdsweep.models.layers import SOFT_ALPHA, images_to_input, output_to_images

# history.csv: per epoch, the mean loss / rate / distortion, speed, time, and the mean loss of its first and
# last steps (a run whose loss ends above where it started diverged); then the model's named rate terms
# columns: epoch, loss, rate_bits, distortion, digits_per_s, epoch_s, loss_start, loss_end, <terms>
STEPS_PER_CALL = 2  # steps unrolled in one jitted call when an epoch's steps divide evenly (+5% digits/s)
DISTORTIONS = distortion.TRAINING


def make_train_step(net, optimizer, distortion: str, steps_per_call: int = 1):
    """jit(params, opt_state, images, perm (steps, B), epoch_key, s, lmbda, rate_weight=None, alpha=None) -> (params,
    opt_state, metrics): steps s .. s + steps_per_call - 1 of an epoch, each on the batch ``perm[step]`` with
    the noise key ``fold_in(epoch_key, step)``; metrics (steps_per_call, 3 + terms) = [loss, rate, distortion,
    *terms]. ``rate_weight`` (a warm-up): the steps minimise rate_weight * rate + lmbda * distortion; the loss
    reported is rate + lmbda * distortion either way. ``alpha``: the soft rounding's (``train.quantizer=soft``).

    Batches and keys are derived inside the jitted function (no small host-side ops per step), and several
    steps per call are unrolled (a rolled ``lax.scan`` runs these convolutions ~4x slower on CPU). Grouping
    steps only changes float rounding (XLA fuses across the steps of a call).
    """
    dist_fn = DISTORTIONS[distortion]

    def loss_fn(params, x_uint8, key, lmbda, weight, alpha):
        x = images_to_input(x_uint8)
        bits, x_tilde, terms = net.apply({"params": params}, x, key, alpha)
        if "lmbda" in terms:  # a variable-rate model: each digit's own lambda, mean of rate_i + lambda_i * d_i
            lam = terms.pop("lmbda")
            per_digit = jax.vmap(dist_fn)(x, x_tilde)
            rate, dist = jnp.mean(bits), jnp.mean(per_digit)
            loss = jnp.mean(bits + lam * per_digit)
            objective = loss if weight is None else jnp.mean(weight * bits + lam * per_digit)
        else:
            rate, dist = jnp.mean(bits), dist_fn(x, x_tilde)
            loss = rate + lmbda * dist
            objective = loss if weight is None else weight * rate + lmbda * dist
        return objective, (loss, rate, dist, [jnp.mean(terms[k]) for k in sorted(terms)])

    def one_step(params, opt_state, images, idx, key, lmbda, weight, alpha):
        (_, (loss, rate, dist, terms)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, images[idx], key, lmbda, weight, alpha)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, jnp.stack([loss, rate, dist, *terms])

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def train_steps(params, opt_state, images, perm, epoch_key, s, lmbda, rate_weight=None, alpha=None):
        metrics = []
        for i in range(steps_per_call):
            idx = jax.lax.dynamic_index_in_dim(perm, s + i, keepdims=False)
            params, opt_state, m = one_step(params, opt_state, images, idx, jax.random.fold_in(epoch_key, s + i),
                                            lmbda, rate_weight, alpha)
            metrics.append(m)
        return params, opt_state, jnp.stack(metrics)

    return train_steps


def _diverged(cfg, epoch: int, step: int, metrics) -> RdsweepError:
    """Say what went wrong when the loss is not finite."""
    where = f"non-finite loss at epoch {epoch + 1}, step {step + 1} (lmbda={cfg.lmbda:g})"
    loss, rate, dist = metrics[:3]
    if np.isfinite(rate) and np.isfinite(dist):
        why = (f"lmbda x distortion overflows float32 (distortion {dist:.3g}): use a smaller lmbda, "
               "or distortion=mae")
    elif epoch == 0 and step == 0:
        why = "the untrained model already gives a non-finite rate or distortion: check the data and the model sizes"
    else:
        why = f"training diverged: try a smaller train.learning_rate (now {cfg.train.learning_rate:g})"
        why += " or a smaller lmbda" if cfg.lmbda > 1e6 else ""
    return RdsweepError(f"{where}: {why}")


def check_converging(cfg, history: list) -> None:
    """A run whose loss ended higher than it started diverged: its model is garbage, so it fails."""
    first, last = (history[0]["loss_start"], history[-1]["loss_end"]) if history else (0, 0)
    if last > first:
        raise RdsweepError(
            f"training diverged: the loss rose from {first:.4g} (first steps) to {last:.4g} (last steps) "
            f"(lmbda={cfg.lmbda:g}, train.learning_rate={cfg.train.learning_rate:g}); try a smaller learning rate")


def make_preview(net):
    """jit(params, uint8 images) -> their reconstructions through the rounded latents (for a logger)."""
    through = lambda n, x: n.synthesis(jnp.round(n.analysis(x)))  # noqa: E731
    return jax.jit(lambda p, x: output_to_images(net.apply({"params": p}, images_to_input(x), method=through)))


def learning_rate(train, steps_per_epoch: int):
    """The optimizer's learning rate: a float (constant), or a schedule over the optimizer's step count
    (cosine: ``train.learning_rate`` down to 1% of it at the end of ``train.epochs``). With ``train.lr_warmup``
    it first rises linearly from 0 to ``train.learning_rate`` over that many epochs (in whole steps: at least
    one and fewer than the run's, so none in a one-step run); a cosine then decays over the steps that are
    left."""
    lr = float(train.learning_rate)
    total = max(1, int(train.epochs) * steps_per_epoch)
    warm = min(total - 1, max(1, round(float(train.lr_warmup) * steps_per_epoch))) if train.lr_warmup else 0
    if train.lr_schedule == "cosine":
        if warm:
            return optax.warmup_cosine_decay_schedule(0.0, lr, warm, total, end_value=0.01 * lr)
        return optax.cosine_decay_schedule(lr, total, alpha=0.01)
    if warm:
        return optax.linear_schedule(0.0, lr, warm)
    return lr


def fit(cfg, spec: ModelSpec, net, params, train_images: np.ndarray, run_dir, log=print, logger=NullLogger(),
        preview=None, saved=None):
    """Train for cfg.train.epochs, resuming from ``saved`` (run_dir's checkpoint state from
    ``checkpoint.matching``, or None to start afresh); checkpoint into run_dir after every epoch.
    ``logger`` gets the step scalars and, after every epoch, the ``preview`` images' reconstructions.

    ``cfg``: the validated Config. Returns (params, history, info), info = {"digits_per_s" (last epoch),
    "compile_s"}; one history row per epoch (the history.csv columns above).
    """
    B = int(cfg.train.batch_size)
    n = len(train_images)
    steps = n // B
    if steps < 1:
        raise RdsweepError(f"only {n} training digits, fewer than one batch of {B}")
    optimizer = optax.adam(learning_rate(cfg.train, steps))
    opt_state = optimizer.init(params)
    ident = config.identity(cfg)
    start, history = 0, []
    initial = jax.tree_util.tree_map(jnp.copy, params)  # the seed's model (the steps donate params' buffers)
    restored = checkpoint.restore(run_dir, saved, params, opt_state) if saved is not None else None
    if restored is not None:
        params, opt_state, start, history = restored
        if start > cfg.train.epochs:
            raise RdsweepError(f"{run_dir} already holds {start} epochs, more than train.epochs={cfg.train.epochs}")
        log(f"resuming from {run_dir / 'checkpoint.msgpack'} after epoch {start}")
    info = {"digits_per_s": history[-1]["digits_per_s"] if history else float("nan"), "compile_s": 0.0}
    if start >= cfg.train.epochs:
        check_moved(cfg, initial, params, int(cfg.train.epochs) * steps)  # a resumed run trained nothing?
        return params, history, info

    images = jnp.asarray(train_images)
    lmbda = jnp.float32(cfg.lmbda)
    seed_key = jax.random.key(int(cfg.seed))  # fold_in 0: init (run.py), 1: noise, 2: shuffling
    noise_key, shuffle_key = jax.random.fold_in(seed_key, 1), jax.random.fold_in(seed_key, 2)
    x0 = jnp.zeros((1, *train_images.shape[1:]), jnp.float32)
    term_names = sorted(k for k in jax.eval_shape(lambda p: net.apply({"params": p}, x0, noise_key)[2], params)
                        if k != "lmbda")  # a variable-rate model's drawn lambdas are not a rate term
    scalar_names = ["loss", "rate_bits", "distortion", *term_names]
    k = STEPS_PER_CALL if steps % STEPS_PER_CALL == 0 else 1
    t0 = time.perf_counter()
    warm = float(cfg.train.rate_warmup) * steps  # steps over which the rate's weight rises from 0 to 1

    def weight(epoch: int, s0: int):
        return None if warm <= 0 else jnp.float32(min(1.0, (epoch * steps + s0) / warm))

    def alpha(epoch: int, s0: int):  # the soft rounding's, linear over the training's steps
        if cfg.train.quantizer != "soft":
            return None
        return jnp.float32(np.interp((epoch * steps + s0) / (int(cfg.train.epochs) * steps), [0, 1], SOFT_ALPHA))

    step = make_train_step(net, optimizer, config.value_of(cfg.distortion), k).lower(
        params, opt_state, images, jnp.zeros((steps, B), jnp.int32), noise_key, jnp.int32(0), lmbda,
        weight(0, 0), alpha(0, 0)).compile()
    info["compile_s"] = time.perf_counter() - t0
    show = make_preview(net) if preview is not None and len(preview) else None

    for epoch in range(start, int(cfg.train.epochs)):
        epoch_key = jax.random.fold_in(noise_key, epoch)
        perm = jax.random.permutation(jax.random.fold_in(shuffle_key, epoch), n)[: steps * B].reshape(steps, B)
        sums, losses = np.zeros(3 + len(term_names)), np.empty(steps)
        bar = tqdm(total=steps * B, unit="digit", unit_scale=True, desc=f"epoch {epoch + 1}/{cfg.train.epochs}",
                   disable=False if cfg.progress else None if cfg.progress is None else True, leave=False,
                   mininterval=0.5)

        def record(s0, metrics):
            """Check and keep the metrics of steps s0.. (read one call late: the next call already runs)."""
            metrics = np.asarray(metrics)
            for i, m in enumerate(metrics):
                if not np.all(np.isfinite(m)):
                    raise _diverged(cfg, epoch, s0 + i, m)
                sums[:] += m
                losses[s0 + i] = m[0]
                if logger.every and (epoch * steps + s0 + i) % logger.every == 0:
                    logger.scalars(epoch * steps + s0 + i, dict(zip(scalar_names, m)))
            bar.update(B * len(metrics))
            bar.set_postfix(loss=f"{sums[0] / (s0 + len(metrics)):.2f}", refresh=False)

        t0 = time.perf_counter()
        pending = None
        for s0 in range(0, steps, k):
            params, opt_state, metrics = step(params, opt_state, images, perm, epoch_key, jnp.int32(s0), lmbda,
                                              weight(epoch, s0), alpha(epoch, s0))
            if pending is not None:
                record(*pending)
            pending = (s0, metrics)
        record(*pending)
        wall = time.perf_counter() - t0
        bar.close()
        loss, rate, dist, *terms = sums / steps
        window = max(1, min(20, steps // 5))
        row = {"epoch": epoch + 1, "loss": loss, "rate_bits": rate, "distortion": dist,
               "digits_per_s": steps * B / wall, "epoch_s": wall,
               "loss_start": float(losses[:window].mean()), "loss_end": float(losses[-window:].mean())}
        row.update(zip(term_names, terms))
        history.append(row)
        log(f"epoch {epoch + 1}/{cfg.train.epochs}: loss {loss:.3f}  rate {rate:.2f} bits  "
            f"{config.value_of(cfg.distortion)} {dist:.4f}  {row['digits_per_s']:,.0f} digits/s")
        checkpoint.save(run_dir, params, opt_state, epoch + 1, history, ident, spec)
        if show is not None:
            logger.images(epoch + 1, preview, np.asarray(show(params, preview)))
    check_moved(cfg, initial, params, int(cfg.train.epochs) * steps)
    info["digits_per_s"] = history[-1]["digits_per_s"]
    return params, history, info


MIN_MOVE = 1e-6  # relative change of the parameters below which a training trained nothing


def check_moved(cfg, before, after, steps: int) -> None:
    """A training whose parameters barely moved from the seed's initial model (a learning rate so small that
    nothing happens) recorded an untrained model: it fails instead, saying so."""
    num = sum(float(jnp.sum(jnp.square(a - b))) for a, b in zip(jax.tree_util.tree_leaves(after),
                                                               jax.tree_util.tree_leaves(before)))
    den = sum(float(jnp.sum(jnp.square(b))) for b in jax.tree_util.tree_leaves(before))
    moved = (num / max(den, 1e-30)) ** 0.5
    if moved < MIN_MOVE:
        raise RdsweepError(f"training did not move the model: its parameters changed by {moved:.1e} (relative) "
                           f"in {steps} steps; train.learning_rate={cfg.train.learning_rate:g} is too small")
