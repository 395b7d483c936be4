"""The report's figures from one trained run: python -m rdsweep.figures RUN_DIR [--out DIR] [--seed N].

Writes PNGs into RUN_DIR/figures/: sample_digit (Fig. 1), quantization_noise (Fig. 2), noisy_reconstruction
(Fig. 3), decoded (Figs. 4-5: original vs decoded, PSNR in the titles), random_strings (Fig. 7: digits
decoded from 16 random 8-byte strings, no sanity check), strings_hex (test digits with their string in hex
and their information content).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from rdsweep import data  # noqa: E402
from rdsweep.errors import report_errors  # noqa: E402
from rdsweep.evaluate import batched, make_transforms, psnr  # noqa: E402
from rdsweep.export import load_run  # noqa: E402


def _save(fig, path: Path):
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def _grid(images, titles, cols, path, suptitle=None, size=1.6):
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, (size + 0.5) * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, im, t in zip(axes.ravel(), images, titles):
        ax.imshow(im, cmap="gray", vmin=0, vmax=255)
        ax.set_title(t, fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    _save(fig, path)


def make_figures(run_dir: Path, out: Path, seed: int = 0) -> list[Path]:
    m, _ = load_run(run_dir)
    cfg = OmegaConf.load(Path(run_dir) / ".hydra" / "config.yaml")
    test = data.load_split(cfg.data, "test")
    out.mkdir(parents=True, exist_ok=True)
    analysis, synthesis = make_transforms(m.model, m.params)
    codec, rng = m.codec, np.random.default_rng(seed)
    y = batched(analysis, test, 1000)
    q = codec.quantize(y)
    recon = batched(synthesis, codec.dequantize(q), 1000)
    err = np.mean((test.astype(float) - recon) ** 2, axis=(1, 2))
    pick = rng.choice(len(test), 8, replace=False)
    tag = f"{m.config['prior']}, λ={m.config['lmbda']:g}"

    _grid([test[pick[0]]], ["MNIST test digit"], 1, out / "sample_digit.png", size=2.5)

    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    noise = rng.uniform(-0.5, 0.5, y.shape)
    ax[0].hist(noise.ravel(), bins=50, color="tab:blue")
    ax[0].set_title("training: y~ - y (additive uniform noise)", fontsize=9)
    ax[1].hist((codec.dequantize(q) - y).ravel(), bins=50, color="tab:orange")
    ax[1].set_title("test: round(y) - y (quantization error)", fontsize=9)
    _save(fig, out / "quantization_noise.png")

    noisy = batched(synthesis, (y[pick] + noise[pick]).astype(np.float32), 1000)
    _grid(np.concatenate([test[pick], noisy]), ["original"] * 8 + ["through noisy y~"] * 8, 8,
          out / "noisy_reconstruction.png", f"Reconstruction through the noisy latents ({tag})")

    _grid(np.concatenate([test[pick], recon[pick]]),
          ["original"] * 8 + [f"decoded\n{psnr(e):.1f} dB" for e in err[pick]], 8, out / "decoded.png",
          f"Original vs decoded from the bytes ({tag}); mean PSNR {np.mean(psnr(err)):.2f} dB")

    strings = [rng.bytes(8) for _ in range(16)]
    samples = batched(synthesis, codec.dequantize(np.stack([codec.decode(s) for s in strings])), 1000)
    _grid(samples, [s.hex() for s in strings], 4, out / "random_strings.png",
          f"Decoded from 16 random 8-byte strings ({tag})", size=2.0)

    info = codec.info_bits(q[pick])
    hexes = [codec.encode(row).hex() for row in q[pick]]
    titles = [f"0x{h[:16]}{'...' if len(h) > 16 else ''}\n{len(h) * 4} bits, info {b:.2f}" for h, b in zip(hexes, info)]
    _grid(recon[pick], titles, 4, out / "strings_hex.png", f"Test digits, their strings and information ({tag})",
          size=2.2)
    return sorted(out.glob("*.png"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rdsweep.figures", description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--out", type=Path, help="default: RUN_DIR/figures")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    def go():
        files = make_figures(args.run_dir, args.out or args.run_dir / "figures", args.seed)
        print(f"{len(files)} figures -> {files[0].parent}")

    return report_errors(go)


if __name__ == "__main__":
    sys.exit(main())
