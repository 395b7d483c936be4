"""The report's figures from one trained run: ``rdsweep figures RUN_DIR [--out DIR] [--seed N]``.

Writes PNGs into RUN_DIR/figures/: sample_digit (Fig. 1), quantization_noise (Fig. 2), noisy_reconstruction
(Fig. 3), decoded (Figs. 4-5: original vs decoded, PSNR in the titles), random_strings (Fig. 7: digits
decoded from 16 random 8-byte strings, no sanity check), strings_hex (test digits with their string in hex
and their information content), digits_by_cost (the cheapest and the most expensive test digits). The run's
own resolved config says where its test data is.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from rdsweep import data
from rdsweep.analysis.plots import save
from rdsweep.experiment.evaluate import psnr
from rdsweep.experiment.rundir import load_codec, read_config


def _show(ax, im, title):
    ax.axis("off")
    ax.imshow(im[..., 0] if im.shape[-1] == 1 else im, cmap="gray", vmin=0, vmax=255)
    ax.set_title(title, fontsize=7)


def _grid(images, titles, cols, out, name, suptitle=None, size=1.6):
    rows = -(-len(images) // cols)
    fig = Figure(figsize=(size * cols, (size + 0.5) * rows + 0.4), layout="tight")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, im, t in zip(axes, images, titles):
        _show(ax, im, t)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    save(fig, out, name)


def make_figures(run_dir: Path, out: Path, seed: int = 0) -> list[Path]:
    codec = load_codec(run_dir)
    test = data.load_split(read_config(run_dir).data, "test")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y = codec.model.analysis(test)
    symbols = codec.encode(test)
    recon = codec.decode(symbols)
    y_hat = codec.model.dequantize(symbols)
    err = np.mean((test.astype(float) - recon).reshape(len(test), -1) ** 2, axis=1)
    pick = rng.choice(len(test), min(8, len(test)), replace=False)  # a run may have been tested on fewer digits
    tag = f"{codec.model.spec.prior['name']}, λ={codec.meta.get('lmbda') or 0:g}"

    _grid([test[pick[0]]], ["test digit"], 1, out, "sample_digit", size=2.5)

    fig = Figure(figsize=(8, 3), layout="tight")
    ax = fig.subplots(1, 2)
    noise = rng.uniform(-0.5, 0.5, y.shape)
    ax[0].hist(noise.ravel(), bins=50, color="tab:blue")
    ax[0].set_title("training: y~ - y (additive uniform noise)", fontsize=9)
    ax[1].hist((y_hat - y).ravel(), bins=50, color="tab:orange")
    ax[1].set_title("test: y^ - y (quantization error)", fontsize=9)
    for a in ax:
        a.set_xlabel("difference from the latent y (latent units)", fontsize=8)
        a.set_ylabel(f"count (latents of {len(y)} test digits)", fontsize=8)
    save(fig, out, "quantization_noise")

    noisy = codec.model.synthesis((y[pick] + noise[pick]).astype(np.float32))
    k = len(pick)
    _grid(np.concatenate([test[pick], noisy]), ["original"] * k + ["through noisy y~"] * k, k, out,
          "noisy_reconstruction", f"Reconstruction through the noisy latents ({tag})")

    _grid(np.concatenate([test[pick], recon[pick]]),
          ["original"] * k + [f"decoded\n{psnr(e):.1f} dB" for e in err[pick]], k, out, "decoded",
          f"Original vs decoded from the bytes ({tag}); mean PSNR {np.mean(psnr(err)):.2f} dB")

    strings = [rng.bytes(8) for _ in range(16)]
    samples = codec.decode(codec.decode_strings(strings))
    _grid(samples, [s.hex() for s in strings], 4, out, "random_strings",
          f"Decoded from 16 random 8-byte strings ({tag})", size=2.0)

    chosen = {k: v[pick] for k, v in symbols.items()}
    info = sum(codec.info_bits(chosen).values())
    hexes = [s.hex() for s in codec.strings(chosen)]
    titles = [f"0x{h[:16]}{'...' if len(h) > 16 else ''}\n{len(h) * 4} bits, info {b:.2f}" for h, b in zip(hexes, info)]
    _grid([im for i in pick for im in (test[i], recon[i])], [t for t in titles for t in ("original", t)], 4, out,
          "strings_hex", f"Test digits (left) and decoded from their strings (right), with each string's first "
          f"bytes, length and information content ({tag})", size=2.2)
    cost = sum(codec.info_bits(symbols).values())
    order = np.argsort(cost, kind="stable")
    ends = np.concatenate([order[:8], order[-8:][::-1]])
    _grid(np.concatenate([test[ends], recon[ends]]),
          [f"{'cheapest' if i < 8 else 'dearest'}\n{cost[j]:.1f} bits" for i, j in enumerate(ends)] +
          [f"decoded\n{psnr(err[j]):.1f} dB" for j in ends], 16, out, "digits_by_cost",
          f"The 8 cheapest and 8 most expensive of {len(test)} test digits (information content; {tag})", size=1.3)
    return sorted(out.glob("*.png"))
