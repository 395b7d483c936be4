"""Image data: a split of a dataset as uint8 (N, H, W, C), from IDX files, a .npy file or tensorflow-datasets.

The directory ``data.dir`` holds ``train-images-idx{3,4}-ubyte[.gz]`` and ``t10k-images-idx{3,4}-ubyte[.gz]``
(MNIST, Fashion-MNIST, or any images of the same format); ``data.train_file`` / ``data.test_file`` name an
IDX or .npy file instead. Labels are not needed (training is unsupervised). The image shape comes from the
data.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rdsweep.data.idx import read_idx_images
from rdsweep.data.images import as_batch, read_npy
from rdsweep.errors import RdsweepError

SPLIT_STEMS = {"train": "train-images-idx{}-ubyte", "test": "t10k-images-idx{}-ubyte"}


def _find(directory: Path, split: str) -> Path | None:
    for d in (3, 4):
        for suffix in ("", ".gz"):
            p = directory / (SPLIT_STEMS[split].format(d) + suffix)
            if p.is_file():
                return p
    return None


def read_file(path) -> np.ndarray:
    """uint8 (N, H, W, C) from an IDX file or a .npy file ((N, H, W) or (N, H, W, C)), holding images."""
    path = Path(path)
    if not path.is_file():
        raise RdsweepError(f"{path}: {'not a regular file' if path.exists() else 'no such file'}")
    if path.suffix == ".npy":
        images = as_batch(read_npy(path), None, str(path))
        if len(images) == 0:
            raise RdsweepError(f"{path}: holds no images")
        return images
    return read_idx_images(path)


def _load_tfds(name: str, split: str) -> np.ndarray:
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise RdsweepError("tensorflow-datasets is not installed (pip install 'rdsweep[tfds]')") from None
    try:
        ds = tfds.as_numpy(tfds.load(name, split=split, batch_size=-1))
    except Exception as e:  # noqa: BLE001 - network errors and the like: tfds raises many kinds
        raise RdsweepError(f"tensorflow-datasets could not load {name!r}: {e}") from None
    return np.asarray(ds["image"], np.uint8)


def load_split(cfg, split: str) -> np.ndarray:
    """Load ``split`` ("train" or "test") as uint8 (N, H, W, C) following the data config ``cfg``."""
    source = getattr(cfg.source, "value", cfg.source)
    file = cfg.train_file if split == "train" else cfg.test_file
    directory = Path(os.path.expanduser(str(cfg.dir)))
    path = Path(os.path.expanduser(str(file))) if file else _find(directory, split)
    if source not in ("auto", "idx", "tfds"):
        raise RdsweepError(f"data.source must be auto, idx or tfds, not {source!r}")
    if file or source == "idx" or (source == "auto" and path is not None):
        if path is None:
            raise RdsweepError(
                f"no {SPLIT_STEMS[split].format(3)}[.gz] in data.dir={directory} (put the IDX files there, "
                "or set data.dir=... or RDSWEEP_DATA_DIR)")
        images = read_file(path)
    elif source == "tfds":
        images = _load_tfds(cfg.tfds_name, split)
    else:  # auto, no files
        try:
            import tensorflow_datasets  # noqa: F401
        except ImportError:
            raise RdsweepError(
                f"no MNIST IDX files in data.dir={directory} and tensorflow-datasets is not installed: "
                "put the four IDX files (train-images-idx3-ubyte.gz, ...) there, set data.dir=... "
                "or RDSWEEP_DATA_DIR, or pip install 'rdsweep[tfds]'") from None
        images = _load_tfds(cfg.tfds_name, split)
    limit = cfg.train_limit if split == "train" else cfg.test_limit
    return images[: int(limit)] if limit is not None else images
