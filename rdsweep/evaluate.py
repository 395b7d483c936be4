"""Evaluation with real coding: analysis -> quantize -> code (range: strings, ANS: stream) -> decode -> verify
-> synthesis."""
from __future__ import annotations

import time

import jax
import numpy as np
from tqdm.auto import tqdm

from rdsweep.codec import FactorizedCodec, flush_floor_bits
from rdsweep.model import CompressionModel, images_to_input, output_to_images


def psnr(mse):
    """PSNR in dB of uint8 images from their MSE (MSE floored at 1e-10 so a perfect digit stays finite)."""
    return 10.0 * np.log10(255.0**2 / np.maximum(mse, 1e-10))


def psnr_report_formula(a, b):
    """Per-digit PSNR as the report's code computes it on uint8 arrays: (a - b) ** 2 wraps modulo 256."""
    wrapped = ((a - b) ** 2).astype(np.float64)  # uint8 arithmetic, as written in the report
    return psnr(np.mean(wrapped, axis=(1, 2)))


def batched(fn, x, batch: int):
    return np.concatenate([np.asarray(fn(x[i:i + batch])) for i in range(0, len(x), batch)])


def chunked(fn, items, size: int, desc: str, progress: bool) -> list:
    """fn over consecutive chunks of items, with a progress bar (digits/s, ETA); the list of chunk results."""
    out = []
    with tqdm(total=len(items), desc=desc, unit="digit", disable=not progress, leave=False) as bar:
        for i in range(0, len(items), size):
            out.append(fn(items[i:i + size]))
            bar.update(len(items[i:i + size]))
    return out


def make_transforms(model: CompressionModel, params):
    """(analysis: uint8 images -> latents, synthesis: latents -> uint8 images), jitted."""
    analysis = jax.jit(lambda x: model.apply({"params": params}, images_to_input(x), method=model.encode))
    synthesis = jax.jit(lambda y: output_to_images(model.apply({"params": params}, y, method=model.decode)))
    return analysis, synthesis


def evaluate(model: CompressionModel, params, codec: FactorizedCodec, images: np.ndarray,
             batch: int = 1000, progress: bool = True) -> dict:
    """Code every test digit for real; return the metrics.json fields of evaluation."""
    analysis, synthesis = make_transforms(model, params)
    n = len(images)
    warm = np.asarray(analysis(images[:batch]))  # compile both transforms outside the timings
    synthesis(warm).block_until_ready()
    t0 = time.perf_counter()
    q = codec.quantize(batched(analysis, images, batch))
    strings = [s for chunk in chunked(codec.encode_many, q, batch, "encode", progress) for s in chunk]
    t_enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    decoded = np.concatenate(chunked(codec.decode_many, strings, batch, "decode", progress))
    recon = batched(synthesis, codec.dequantize(decoded), batch)
    t_dec = time.perf_counter() - t0
    container = codec.encode_stream(q)
    container_mismatches = int(np.any(codec.decode_stream(container, n) != q, axis=1).sum())

    info = codec.info_bits(q)
    err = images.astype(np.float64) - recon.astype(np.float64)
    mse = np.mean(err**2, axis=(1, 2))
    return {
        "test_digits": n,
        "rate_info_bits": float(info.mean()),
        "rate_string_bits": float(np.mean([8 * len(s) for s in strings])),
        "rate_string_floor_bits": float(flush_floor_bits(info).mean()),
        "rate_container_bits": 8 * len(container) / n,
        "psnr_db": float(np.mean(psnr(mse))),
        "psnr_of_mse_db": float(psnr(mse.mean())),
        "psnr_report_formula_db": float(np.mean(psnr_report_formula(images, recon))),
        "mae": float(np.mean(np.abs(err)) / 255.0),
        "decode_mismatches": int(np.any(decoded != q, axis=1).sum()),
        "container_decode_mismatches": container_mismatches,
        "escapes_per_digit": float(codec.escapes(q).mean()),
        "compress_digits_per_s": n / t_enc,
        "decompress_digits_per_s": n / t_dec,
    }
