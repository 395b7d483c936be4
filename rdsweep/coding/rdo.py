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
    out = {k: np.array(v, copy=True) for k, v in symbols.items()}
    n = len(images)
    if not n:
        return out, {"rdo_moves": 0, "rdo_rounds_run": 0, "rdo_unsettled": 0, "rdo_loss_before": 0.0,
                     "rdo_loss_after": 0.0}
    loss = _Loss(codec, images, out, layer, lmbda, distortion)
    everyone = np.arange(n)
    current = loss(out[layer], everyone)
    live = _live(loss, out[layer])
    before, moves, done, todo = float(current.mean()), 0, 0, everyone
    while done < rounds and len(todo):
        done += 1
        changed, start = [], 0
        while start < len(todo):  # digits in groups of about CANDIDATES_PER_CALL candidates
            counts = 2 * live[todo[start:]].sum(axis=1)
            stop = start + max(1, int(np.searchsorted(np.cumsum(counts), CANDIDATES_PER_CALL, side="right")))
            for i, (j, step, value) in _best_moves(out[layer], todo[start:stop], current, loss, live).items():
                out[layer][i, j] += step
                current[i] = value
                changed.append(i)
            start = stop
        moves += len(changed)
        todo = np.array(sorted(changed), dtype=np.int64)
    return out, {"rdo_moves": moves, "rdo_rounds_run": done, "rdo_unsettled": int(len(todo)),
                 "rdo_loss_before": before, "rdo_loss_after": float(current.mean())}


class _Loss:
    """loss(q, who): each row's rate + lmbda * distortion, row k being digit who[k] with ``layer``'s symbols
    q[k]. Only that layer moves, so the other layers' bits and its coding context are computed once per digit."""

    def __init__(self, codec, images, symbols: dict, layer: str, lmbda: float, distortion: str):
        self.codec, self.images, self.symbols, self.layer, self.lmbda = codec, images, symbols, layer, lmbda
        self.entropy = dict(codec.model.layers())[layer]
        self.context = codec.model.context(layer, symbols)
        self.fixed = sum((v for k, v in codec.info_bits(symbols).items() if k != layer), np.zeros(len(images)))
        self.measure = digit_distortion(distortion)

    def bits(self, q, who) -> np.ndarray:
        return self.fixed[who] + self.entropy.info_bits(q, None if self.context is None else self.context[who])

    def __call__(self, q, who) -> np.ndarray:
        rows = {k: (q if k == self.layer else v[who]) for k, v in self.symbols.items()}
        recon = self.codec.decode(rows)
        return self.bits(q, who) + self.lmbda * np.asarray(self.measure(self.images[who], recon), np.float64)


def _moved(q, who, col, step):
    """Rows q[who] with latent col moved by step (clamped to the escape range), and where the move stayed in it."""
    rows = q[who]
    target = rows[np.arange(len(who)), col] + step
    rows[np.arange(len(who)), col] = np.clip(target, -escape.CLAMP, escape.CLAMP)
    return rows, np.abs(target) <= escape.CLAMP


def _live(loss: _Loss, q) -> np.ndarray:
    """(N, D) bool: the latents searched for each digit, those not switched off for it: nonzero, or a move to
    +-1 costs it under OFF_BITS more information under the coder's tables."""
    everyone = np.arange(len(q))
    base, live = loss.bits(q, everyone), q != 0
    for j in range(q.shape[1]):
        for step in (-1, 1):
            rows, _ = _moved(q, everyone, np.full(len(q), j), step)
            live[:, j] |= loss.bits(rows, everyone) - base < OFF_BITS
    return live


def _best_moves(q, digits, current, loss: _Loss, live) -> dict:
    """{digit: (latent, step, new loss)} for the digits of ``digits`` that one +-1 move of a live latent
    improves."""
    who, col = np.nonzero(live[digits])
    if not len(who):
        return {}
    who, col = np.repeat(digits[who], 2), np.repeat(col, 2)
    step = np.tile(np.array([-1, 1]), len(who) // 2)
    rows, inside = _moved(q, who, col, step)
    value = np.where(inside, loss(rows, who), np.inf)
    found = {}
    for k in np.argsort(value, kind="stable"):  # each digit's least loss first
        i = int(who[k])
        if i not in found and value[k] < current[i]:
            found[i] = (int(col[k]), int(step[k]), float(value[k]))
    return found
