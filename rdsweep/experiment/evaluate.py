"""Evaluation with real coding: every test digit is encoded, coded to its own string and into one stream,
decoded again from the bytes, verified symbol for symbol, and reconstructed; rates and distortions measured.

Rate fields (bits/digit): ``rate_info_bits`` the exact information content under the coder's tables (the
sum over entropy layers; ``rate_<layer>_bits`` each, e.g. ``rate_side_bits`` for a hyperprior's z),
``rate_string_bits`` the mean length of each digit's own string, ``rate_string_floor_bits`` the least mean
length whole-byte strings can have for that information content, ``rate_container_bits`` one ANS stream of
all digits. Distortion: PSNR on the uint8 reconstructions decoded from the bytes.
"""
from __future__ import annotations

import time

import numpy as np
from tqdm.auto import tqdm

from rdsweep.codec import Codec
from rdsweep.distortion import has_ms_ssim, ms_ssim_uint8
from rdsweep.coding.range import flush_floor_bits


DIGIT_FIELDS = {  # digits.npz: one value per test digit, in test-set order
    "info_bits": "information content of its symbols under the coder's tables (bits)",
    "string_bits": "length of its own byte string (bits)",
    "mse": "mean squared error of its uint8 reconstruction (0..255 scale)",
    "psnr_db": "PSNR of its uint8 reconstruction (dB)",
    "ms_ssim": "MS-SSIM of its uint8 reconstruction (rdsweep.distortion; images of 28x28 or more)",
}


def psnr(mse):
    """PSNR in dB of uint8 images from their MSE (MSE floored at 1e-10 so a perfect digit stays finite)."""
    return 10.0 * np.log10(255.0**2 / np.maximum(mse, 1e-10))


def psnr_report_formula(a, b):
    """Per-digit PSNR as the report's code computes it on uint8 arrays: (a - b) ** 2 wraps modulo 256."""
    wrapped = ((a - b) ** 2).astype(np.float64)  # uint8 arithmetic, as written in the report
    return psnr(np.mean(wrapped.reshape(len(a), -1), axis=1))


def digit_mse(images: np.ndarray, recon: np.ndarray) -> np.ndarray:
    """Each digit's MSE on the uint8 scale (float64, (N,))."""
    err = (images.astype(np.float64) - recon.astype(np.float64)).reshape(len(images), -1)
    return np.mean(err**2, axis=1)


def distortion_metrics(images: np.ndarray, recon: np.ndarray) -> dict:
    """PSNR (mean per digit; of the mean MSE), MAE on [0, 1], for uint8 images and reconstructions."""
    mse = digit_mse(images, recon)
    mae = np.mean(np.abs(images.astype(np.float64) - recon.astype(np.float64)))
    return {"psnr_db": float(np.mean(psnr(mse))), "psnr_of_mse_db": float(psnr(mse.mean())), "mae": float(mae / 255.0)}


def chunked(fn, items, size: int, desc: str, progress) -> list:
    """fn over consecutive chunks of items, with a progress bar (digits/s, ETA); the list of chunk results."""
    out = []
    with tqdm(total=len(items), desc=desc, unit="digit", disable=None if progress is None else not progress,
              leave=False) as bar:
        for i in range(0, len(items), size):
            out.append(fn(items[i:i + size]))
            bar.update(len(items[i:i + size]))
    return out


def _concat(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def evaluate(codec: Codec, images: np.ndarray, batch: int = 1000, progress=None, per_digit: dict | None = None,
             rdo_rounds: int = 0) -> dict:
    """Code every digit of images (uint8 (N, H, W, C)) for real; return the metrics.json fields of evaluation.
    ``per_digit`` (a dict) receives each digit's figures (``DIGIT_FIELDS``): the run's digits.npz. With
    ``rdo_rounds`` the encoder searches the symbols (``Codec.search``; timed as encoding), and its statistics
    join the fields."""
    n = len(images)
    codec.decode(codec.encode(images[:batch]))  # compile the transforms outside the timings
    t0 = time.perf_counter()
    symbols = _concat(chunked(codec.encode, images, batch, "encode", progress))
    searched = {}
    if rdo_rounds:
        parts = chunked(lambda i: codec.search(images[i], {k: v[i] for k, v in symbols.items()}, rdo_rounds),
                        np.arange(n), batch, "search", progress)
        symbols = _concat([p[0] for p in parts])
        stats = [p[1] for p in parts]
        searched = {"rdo_rounds": rdo_rounds, "rdo_moves": sum(s["rdo_moves"] for s in stats),
                    "rdo_rounds_run": max(s["rdo_rounds_run"] for s in stats),
                    "rdo_unsettled": sum(s["rdo_unsettled"] for s in stats),
                    **{k: float(np.average([s[k] for s in stats], weights=[len(p[0]["y"]) for p in parts]))
                       for k in ("rdo_loss_before", "rdo_loss_after")}}
    strings = [s for chunk in chunked(lambda i: codec.strings({k: v[i] for k, v in symbols.items()}),
                                      np.arange(n), batch, "strings", progress) for s in chunk]
    t_enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    decoded = _concat(chunked(codec.decode_strings, strings, batch, "decode", progress))
    recon = codec.decode(decoded)
    t_dec = time.perf_counter() - t0
    container = codec.pack(symbols)
    from_stream = codec.unpack(container, n)

    info = codec.info_bits(symbols)
    total = sum(info.values())
    mismatch = np.zeros(n, bool)
    stream_mismatch = np.zeros(n, bool)
    for k in symbols:
        mismatch |= np.any(decoded[k] != symbols[k], axis=1)
        stream_mismatch |= np.any(from_stream[k] != symbols[k], axis=1)
    layers = {f"rate_{k}_bits": float(v.mean()) for k, v in info.items()} if len(info) > 1 else {}
    escapes = sum(layer.escapes(symbols[k], codec.model.context(k, symbols)).sum()
                  for k, layer in codec.model.layers())
    structure = {}
    if has_ms_ssim(images.shape[1:]):
        digit_ms_ssim = ms_ssim_uint8(images, recon)
        structure = {"ms_ssim": float(digit_ms_ssim.mean()),
                     "ms_ssim_db": float(-10 * np.log10(max(1 - digit_ms_ssim.mean(), 1e-10)))}
    if per_digit is not None:
        mse = digit_mse(images, recon)
        per_digit.update(info_bits=total.astype(np.float64), string_bits=np.array([8 * len(s) for s in strings]),
                         mse=mse, psnr_db=psnr(mse), **({"ms_ssim": digit_ms_ssim} if structure else {}))
    return {
        "test_digits": n,
        "image_pixels": int(np.prod(images.shape[1:])),  # per image, channels counted (bits/pixel = rate / this)
        "rate_info_bits": float(total.mean()),
        **layers,
        "rate_string_bits": float(np.mean([8 * len(s) for s in strings])),
        "rate_string_floor_bits": float(flush_floor_bits(total).mean()),
        "rate_container_bits": 8 * len(container) / n,
        **distortion_metrics(images, recon),
        **structure,
        "psnr_report_formula_db": float(np.mean(psnr_report_formula(images, recon))),
        "decode_mismatches": int(mismatch.sum()),
        "container_decode_mismatches": int(stream_mismatch.sum()),
        "escapes_per_digit": float(escapes / n),
        **searched,
        "compress_digits_per_s": n / t_enc,
        "decompress_digits_per_s": n / t_dec,
    }
