"""MNIST-like data: the four canonical IDX(.gz) files of a directory, or tensorflow-datasets.

Any directory holding ``train-images-idx3-ubyte[.gz]`` and ``t10k-images-idx3-ubyte[.gz]`` of
28x28 uint8 images works (MNIST, Fashion-MNIST, ...). Images are returned as uint8 arrays of
shape (N, 28, 28); labels are not needed (training is unsupervised).
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from rdsweep.errors import RdsweepError

IMAGE_MAGIC = 0x00000803
SPLIT_FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
SHAPE = (28, 28)


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def read_idx_images(path: Path) -> np.ndarray:
    """Read an IDX image file (optionally gzipped); clear error on anything malformed."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # includes gzip.BadGzipFile
        raise RdsweepError(f"cannot read IDX file {path}: {e}") from None
    if len(raw) < 16:
        raise RdsweepError(f"{path}: not an IDX image file (expected a 16-byte header, got {len(raw)} bytes)")
    magic, count, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != IMAGE_MAGIC:
        raise RdsweepError(
            f"{path}: bad magic number 0x{int(magic):08x} (expected 0x{IMAGE_MAGIC:08x}, uint8 images of rank 3)")
    if (rows, cols) != SHAPE:
        raise RdsweepError(f"{path}: images are {rows}x{cols}, expected {SHAPE[0]}x{SHAPE[1]}")
    expected = 16 + int(count) * rows * cols
    if len(raw) != expected:
        raise RdsweepError(
            f"{path}: header says {count} images of {rows}x{cols} ({expected} bytes) but the file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(int(count), rows, cols)


def _load_tfds(split: str) -> np.ndarray:
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise RdsweepError("tensorflow-datasets is not installed (pip install -e '.[tfds]')") from None
    try:
        ds = tfds.as_numpy(tfds.load("mnist", split=split, batch_size=-1))
    except Exception as e:  # network errors and the like: tfds raises many kinds
        raise RdsweepError(f"tensorflow-datasets could not load MNIST: {e}") from None
    return ds["image"][..., 0].astype(np.uint8)


def load_split(cfg, split: str) -> np.ndarray:
    """Load ``split`` ("train" or "test") as uint8 (N, 28, 28) following ``cfg.data``."""
    source = cfg.source
    directory = Path(os.path.expanduser(str(cfg.dir)))
    path = _find(directory, SPLIT_FILES[split])
    if source not in ("auto", "idx", "tfds"):
        raise RdsweepError(f"data.source must be auto, idx or tfds, not {source!r}")
    if source == "idx" or (source == "auto" and path is not None):
        if path is None:
            raise RdsweepError(
                f"no {SPLIT_FILES[split]}[.gz] in data.dir={directory} (put the four MNIST IDX files there, "
                "or set data.dir=... or RDSWEEP_DATA_DIR)")
        images = read_idx_images(path)
    elif source == "tfds":
        images = _load_tfds(split)
    else:  # auto, no files
        try:
            import tensorflow_datasets  # noqa: F401
        except ImportError:
            raise RdsweepError(
                f"no MNIST IDX files in data.dir={directory} and tensorflow-datasets is not installed: "
                "put the four IDX files (train-images-idx3-ubyte.gz, ...) there, set data.dir=... "
                "or RDSWEEP_DATA_DIR, or pip install -e '.[tfds]'") from None
        images = _load_tfds(split)
    limit = cfg.train_limit if split == "train" else cfg.test_limit
    if limit is not None:
        if int(limit) < 1:
            raise RdsweepError(f"data.{split}_limit must be >= 1 or null, not {limit}")
        images = images[: int(limit)]
    return images
