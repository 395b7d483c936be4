"""Rate-distortion optimised quantization (``codec.rdo_rounds``): the encoder's search for the symbols that
minimise the run's own loss, rate + lmbda * distortion, with both terms measured exactly.

Rounding the analysis transform's output is the encoder's first guess, not its best choice: the analysis
transform is trained on noisy or straight-through latents, in a few epochs. So, per digit, the search tries
every move of one main latent's symbol by +-1, measures each candidate's information content under the coder's
own tables (``Codec.info_bits``) and the distortion of its decoded uint8 image (``Codec.decode``), and keeps the
move that lowers the loss most (the latents searched: those the rounded symbols of the images given use, i.e.
nonzero for at least one of them; a latent zero everywhere is switched off by the model and costs many bits); then again from there, for at most ``rounds`` rounds or until no move helps
(coordinate descent, as the rate-distortion optimised quantization of classical codecs). A digit no move
helped is settled: nothing about it changes, so later rounds skip it.

What is exact: the loss of the chosen symbols is never above that of the rounded ones, for each digit. The
decoder is unchanged: it decodes whatever symbols it is given, so the bitstream format and exact decoding are
untouched. Only the main latents (layer ``y``) move; side information is kept as the encoder computed it.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rdsweep import distortion as distortions
from rdsweep.coding import escape

MAX_ROUNDS = 100
CANDIDATES_PER_CALL = 1 << 14  # images decoded at a time


def digit_distortion(name: str):
    """jit(uint8 images, uint8 reconstructions) -> each digit's distortion (N,) as training measures it
    (``distortion.TRAINING``: pixels in [0, 1])."""
    fn = distortions.TRAINING[name]
    one = jax.vmap(lambda a, b: fn(a[None], b[None]))
    return jax.jit(lambda a, b: one(a.astype(jnp.float32) / 255.0, b.astype(jnp.float32) / 255.0))


def optimise(codec, images: np.ndarray, symbols: dict, lmbda: float, distortion: str, rounds: int,
             layer: str = "y") -> tuple[dict, dict]:
    """(symbols with ``layer`` moved to lower each digit's rate + lmbda * distortion, statistics): ``images``
    uint8 (N, H, W, C), ``symbols`` as ``Codec.encode`` gives them (not modified). Statistics: ``rdo_moves``
    (symbols moved, all digits), ``rdo_rounds_run``, and the mean loss before and after (``rdo_loss_before``,
    ``rdo_loss_after``; bits + lmbda * distortion per digit)."""
    if not 0 <= rounds <= MAX_ROUNDS:
        raise ValueError(f"rdo rounds must be 0..{MAX_ROUNDS}, not {rounds}")
    measure = digit_distortion(distortion)
    out = {k: np.array(v, copy=True) for k, v in symbols.items()}

    def loss(rows: dict, imgs: np.ndarray) -> np.ndarray:
        bits = sum(codec.info_bits(rows).values())
        return bits + lmbda * np.asarray(measure(imgs, codec.decode(rows)), np.float64)

    current = loss(out, images) if len(images) else np.zeros(0)
    before, moves, done = float(current.mean()) if len(images) else 0.0, 0, 0
    todo = np.arange(len(images))
    used = np.flatnonzero(np.any(out[layer] != 0, axis=0))  # the latents the rounded symbols use
    per_digit = max(1, CANDIDATES_PER_CALL // max(1, 2 * len(used)))
    for _ in range(rounds):
        if not len(todo):
            break
        done += 1
        changed = []
        for start in range(0, len(todo), per_digit):
            digits = todo[start:start + per_digit]
            best = _best_moves(out, images, digits, current, loss, layer, used)
            for i, (j, step, value) in best.items():
                out[layer][i, j] += step
                current[i] = value
                changed.append(i)
        moves += len(changed)
        todo = np.array(sorted(changed), dtype=np.int64)
    after = float(current.mean()) if len(images) else 0.0
    return out, {"rdo_moves": moves, "rdo_rounds_run": done, "rdo_loss_before": before, "rdo_loss_after": after}


def _best_moves(out, images, digits, current, loss, layer, used) -> dict:
    """{digit: (latent, step, new loss)} for the digits of ``digits`` that one +-1 move of a latent of ``used``
    improves."""
    n, dims = len(digits), len(used)
    if not dims:
        return {}
    who = np.repeat(digits, 2 * dims)
    col = np.tile(np.repeat(used, 2), n)
    step = np.tile(np.array([-1, 1]), n * dims)
    rows = {k: v[who] for k, v in out.items()}
    moved = rows[layer][np.arange(len(who)), col] + step
    rows[layer][np.arange(len(who)), col] = np.clip(moved, -escape.CLAMP, escape.CLAMP)
    value = np.where(np.abs(moved) <= escape.CLAMP, loss(rows, images[who]), np.inf).reshape(n, 2 * dims)
    pick = np.argmin(value, axis=1)
    found = {}
    for k, i in enumerate(digits):
        if value[k, pick[k]] < current[i]:
            found[int(i)] = (int(used[pick[k] // 2]), int(step[pick[k]]), float(value[k, pick[k]]))
    return found
