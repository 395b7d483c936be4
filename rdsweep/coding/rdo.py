"""Rate-distortion optimised quantization (``codec.rdo_rounds``): the encoder's search for the symbols that
minimise the run's own loss, rate + lmbda * distortion, with both terms measured exactly.

Rounding the analysis transform's output is the encoder's first guess, not its best choice: the analysis
transform is trained on noisy or straight-through latents, in a few epochs. So, per digit, the search tries
every move of one main latent's symbol by +-1, measures each candidate's information content under the coder's
own tables (``Codec.info_bits``) and the distortion of its decoded uint8 image (``Codec.decode``), and keeps the
move that lowers the loss most; then again from there, for at most ``rounds`` rounds or until no move helps
(coordinate descent, as the rate-distortion optimised quantization of classical codecs). A digit no move
helped is settled: nothing about it changes, so later rounds skip it. The latents searched for a digit are
those not switched off for it: nonzero, or within OFF_BITS of information of a +-1 (a latent the model has
switched off costs 13-19 bits to switch on in the models measured, a used one a few).

What is exact: the loss of the chosen symbols is never above that of the rounded ones, for each digit. The
decoder is unchanged: it decodes whatever symbols it is given, so the bitstream format and exact decoding are
untouched. Only the main latents (layer ``y``) move; side information is kept as the encoder computed it.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from rdsweep import distortion as distortions
from rdsweep.coding import escape
from rdsweep.errors import RdsweepError

MAX_ROUNDS = 100
OFF_BITS = 10.0  # a latent whose +-1 costs a digit this much more information is switched off for it: not searched
CANDIDATES_PER_CALL = 1 << 14  # images decoded at a time


@functools.lru_cache(maxsize=None)
def digit_distortion(name: str):
    """jit(uint8 images, uint8 reconstructions) -> each digit's distortion (N,) as training measures it
    (``distortion.TRAINING``: pixels in [0, 1])."""
    fn = distortions.TRAINING[name]
    one = jax.vmap(lambda a, b: fn(a[None], b[None]))
    return jax.jit(lambda a, b: one(a.astype(jnp.float32) / 255.0, b.astype(jnp.float32) / 255.0))


def optimise(codec, images: np.ndarray, symbols: dict, lmbda: float, distortion: str, rounds: int,
             layer: str = "y") -> tuple[dict, dict]:
    """(symbols with ``layer`` moved to lower each digit's rate + lmbda * distortion, statistics): ``images``
    uint8 (N, H, W, C), ``symbols`` as ``Codec.encode`` gives them (not modified). Each digit's result depends
    on that digit alone, not on the others given with it. Statistics: ``rdo_moves`` (symbols moved, all
    digits), ``rdo_rounds_run``, ``rdo_unsettled`` (digits a further round could still move) and the mean loss
    before and after (``rdo_loss_before``, ``rdo_loss_after``; bits + lmbda * distortion per digit)."""
    if not (isinstance(rounds, int) and 0 <= rounds <= MAX_ROUNDS):
        raise RdsweepError(f"the encoder's search takes 0..{MAX_ROUNDS} rounds, not {rounds!r}")
    measure = digit_distortion(distortion)
    out = {k: np.array(v, copy=True) for k, v in symbols.items()}

    def loss(rows: dict, imgs: np.ndarray) -> np.ndarray:
        bits = sum(codec.info_bits(rows).values())
        return bits + lmbda * np.asarray(measure(imgs, codec.decode(rows)), np.float64)

    n = len(images)
    current = loss(out, images) if n else np.zeros(0)
    live = _live(codec, out, layer)
    before, moves, done = float(current.mean()) if n else 0.0, 0, 0
    todo = np.arange(n)
    for _ in range(rounds if n else 0):
        if not len(todo):
            break
        done += 1
        changed = []
        start = 0
        while start < len(todo):  # digits in groups of about CANDIDATES_PER_CALL candidates
            counts = 2 * live[todo[start:]].sum(axis=1)
            stop = start + max(1, int(np.searchsorted(np.cumsum(counts), CANDIDATES_PER_CALL, side="right")))
            for i, (j, step, value) in _best_moves(out, images, todo[start:stop], current, loss, layer, live).items():
                out[layer][i, j] += step
                current[i] = value
                changed.append(i)
            start = stop
        moves += len(changed)
        todo = np.array(sorted(changed), dtype=np.int64)
    after = float(current.mean()) if n else 0.0
    return out, {"rdo_moves": moves, "rdo_rounds_run": done, "rdo_unsettled": int(len(todo)) if done else n,
                 "rdo_loss_before": before, "rdo_loss_after": after}


def _live(codec, symbols: dict, layer: str) -> np.ndarray:
    """(N, D) bool: the latents searched for each digit, those not switched off for it: nonzero, or a move to
    +-1 costs it under OFF_BITS more information under the coder's tables (its context from this digit's
    other layers)."""
    q = symbols[layer]
    base = sum(codec.info_bits(symbols).values())
    live = q != 0
    for j in range(q.shape[1]):
        for step in (-1, 1):
            rows = dict(symbols)
            rows[layer] = q.copy()
            rows[layer][:, j] = np.clip(q[:, j] + step, -escape.CLAMP, escape.CLAMP)
            live[:, j] |= sum(codec.info_bits(rows).values()) - base < OFF_BITS
    return live


def _best_moves(out, images, digits, current, loss, layer, live) -> dict:
    """{digit: (latent, step, new loss)} for the digits of ``digits`` that one +-1 move of a live latent
    improves."""
    who, col = np.nonzero(live[digits])
    if not len(who):
        return {}
    who, col = np.repeat(digits[who], 2), np.repeat(col, 2)
    step = np.tile(np.array([-1, 1]), len(who) // 2)
    rows = {k: v[who] for k, v in out.items()}
    moved = rows[layer][np.arange(len(who)), col] + step
    rows[layer][np.arange(len(who)), col] = np.clip(moved, -escape.CLAMP, escape.CLAMP)
    value = np.where(np.abs(moved) <= escape.CLAMP, loss(rows, images[who]), np.inf)
    found = {}
    for k in np.argsort(value, kind="stable"):  # each digit's least loss first
        i = int(who[k])
        if i not in found and value[k] < current[i]:
            found[i] = (int(col[k]), int(step[k]), float(value[k]))
    return found
