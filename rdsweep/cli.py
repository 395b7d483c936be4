"""The `rdsweep` command: export a trained run, compress and decompress digits with it.

    rdsweep export RUN_DIR -o model.rdsm
    rdsweep compress digits.npy|digit.png|DIR -m model.rdsm -o out.rds
    rdsweep decompress out.rds -m model.rdsm -o out.npy|DIR

(`python -m rdsweep` stays the Hydra training entry.) Errors: one line `rdsweep: error: ...`, exit 1, no
partial output (every write goes to a temp file, renamed into place at the end).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from rdsweep import container
from rdsweep.checkpoint import atomic_write_bytes
from rdsweep.errors import RdsweepError, report_errors

SHAPE = (28, 28)


def read_images(path: Path) -> np.ndarray:
    """A .npy of uint8 (N, 28, 28) or (28, 28), a 28x28 8-bit grayscale PNG, or a directory of such PNGs."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    expected = f"uint8 of shape (N, {SHAPE[0]}, {SHAPE[1]}) or ({SHAPE[0]}, {SHAPE[1]})"
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png")
        if not files:
            raise RdsweepError(f"{path}: no .png files in this directory")
        return np.stack([read_images(p)[0] for p in files])
    if not path.exists():
        raise RdsweepError(f"{path}: no such file or directory")
    if path.suffix.lower() == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise RdsweepError(f"{path}: not a readable .npy file ({e})") from None
        if a.dtype != np.uint8 or a.shape[-2:] != SHAPE or a.ndim not in (2, 3):
            raise RdsweepError(f"{path}: expected {expected}, got {a.dtype} {a.shape}")
        return a.reshape(-1, *SHAPE)
    if path.suffix.lower() == ".png":
        try:
            with Image.open(path) as im:
                if im.mode != "L" or im.size != SHAPE[::-1]:
                    raise RdsweepError(f"{path}: expected an 8-bit grayscale {SHAPE[0]}x{SHAPE[1]} PNG, "
                                       f"got mode {im.mode} {im.size[1]}x{im.size[0]}")
                return np.asarray(im, dtype=np.uint8)[None]
        except (OSError, UnidentifiedImageError) as e:
            raise RdsweepError(f"{path}: not a readable PNG ({e})") from None
    raise RdsweepError(f"{path}: give a .npy, a .png or a directory of .png files ({expected})")


def write_images(images: np.ndarray, out: Path) -> None:
    """To .npy (atomic) or to a directory of PNGs (built aside, then renamed into place)."""
    from PIL import Image

    out = Path(out)
    if out.suffix.lower() == ".npy":
        import io

        buf = io.BytesIO()
        np.save(buf, images)
        atomic_write_bytes(out, buf.getvalue())
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RdsweepError(f"{out}: exists and is not an empty directory (give a new directory or a .npy file)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        width = max(5, len(str(len(images) - 1)))
        for i, im in enumerate(images):
            Image.fromarray(im, mode="L").save(tmp / f"{i:0{width}d}.png")
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def cmd_export(args) -> None:
    from rdsweep.export import export_run

    m = export_run(args.run_dir, args.output)
    print(f"exported {args.run_dir} (prior {m.config['prior']}, latent {m.config['latent_dims']}, "
          f"lmbda {m.config['lmbda']:g}) -> {args.output} (fingerprint {m.fingerprint.hex()})")


def cmd_compress(args) -> None:
    from rdsweep.evaluate import batched, make_transforms
    from rdsweep.export import load_model

    m = load_model(args.model)
    images = read_images(args.input)
    analysis, _ = make_transforms(m.model, m.params)
    symbols = m.codec.quantize(batched(analysis, images, 1000))
    data = container.pack(symbols, m.codec, m.fingerprint, SHAPE)
    atomic_write_bytes(args.output, data)
    info = m.codec.info_bits(symbols).sum()
    print(f"compressed {len(images)} digits -> {args.output}: {len(data)} bytes "
          f"({8 * len(data) / len(images):.2f} bits/digit with header; information content "
          f"{info / len(images):.2f} bits/digit)")


def cmd_decompress(args) -> None:
    from rdsweep.evaluate import batched, make_transforms
    from rdsweep.export import load_model

    m = load_model(args.model)
    try:
        data = Path(args.input).read_bytes()
    except OSError as e:
        raise RdsweepError(f"cannot read {args.input}: {e.strerror or e}") from None
    symbols = container.unpack(data, m.codec, m.fingerprint, SHAPE)
    _, synthesis = make_transforms(m.model, m.params)
    images = batched(synthesis, m.codec.dequantize(symbols), 1000) if len(symbols) else np.zeros((0, *SHAPE), np.uint8)
    write_images(images.astype(np.uint8), args.output)
    print(f"decompressed {len(images)} digits -> {args.output}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rdsweep", description="Export a trained rdsweep run; compress and "
                                "decompress 28x28 digits with it. (Training: python -m rdsweep lmbda=...)")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="weights + integer coding tables + config of a run, one .rdsm file")
    e.add_argument("run_dir", type=Path)
    e.add_argument("-o", "--output", type=Path, required=True)
    e.set_defaults(fn=cmd_export)
    c = sub.add_parser("compress", help="digits (.npy, .png or a directory of .png) -> .rds")
    c.add_argument("input", type=Path)
    c.add_argument("-m", "--model", type=Path, required=True)
    c.add_argument("-o", "--output", type=Path, required=True)
    c.set_defaults(fn=cmd_compress)
    d = sub.add_parser("decompress", help=".rds -> digits (.npy or a directory of .png)")
    d.add_argument("input", type=Path)
    d.add_argument("-m", "--model", type=Path, required=True)
    d.add_argument("-o", "--output", type=Path, required=True)
    d.set_defaults(fn=cmd_decompress)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return report_errors(args.fn, args)


if __name__ == "__main__":
    sys.exit(main())
