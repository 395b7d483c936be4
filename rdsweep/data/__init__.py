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

from rdsweep.data import download
from rdsweep.data.idx import idx_image_shape, read_idx_images
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
    except ImportError as e:
        raise RdsweepError(f"tensorflow-datasets is not usable ({e}): pip install '.[tfds]' in rdsweep's "
                           "checkout, or use the IDX files (data.source=auto downloads them)") from None
    try:
        ds = tfds.as_numpy(tfds.load(name, split=split, batch_size=-1))
    except Exception as e:  # noqa: BLE001 - network errors and the like: tfds raises many kinds
        raise RdsweepError(f"tensorflow-datasets could not load {name!r}: {e}") from None
    return np.asarray(ds["image"], np.uint8)


def data_dir(cfg) -> Path:
    """The directory of the config's IDX files: ``data.dir``, or the dataset's default (download.default_dir)."""
    return Path(os.path.expanduser(str(cfg.dir or download.default_dir(getattr(cfg, "name", None)))))


def ensure_available(cfg, progress=None) -> None:
    """Before a run or sweep: the IDX files it will read are there (a named dataset's missing files downloaded
    with ``data.source=auto``), so that missing data fails once, before any job runs. Nothing else is read."""
    source = getattr(cfg.source, "value", cfg.source)
    wanted = [s for s, f in (("train", cfg.train_file), ("test", cfg.test_file)) if not f]
    if source not in ("auto", "idx") or not wanted:
        return
    directory = data_dir(cfg)
    missing = [s for s in wanted if _find(directory, s) is None]
    name = getattr(cfg, "name", None)
    if missing and source == "auto" and name in download.DATASETS:
        download.fetch(name, directory, missing, getattr(cfg, "mirrors", None), progress)
    elif missing:
        raise RdsweepError(f"no {SPLIT_STEMS[missing[0]].format(3)}[.gz] in data.dir={directory} (put the IDX "
                           "image files there, or set data.dir=...)")


def image_shape(cfg) -> tuple | None:
    """(H, W, C) of the config's test images from a file header alone (None for tensorflow-datasets)."""
    source = getattr(cfg.source, "value", cfg.source)
    if cfg.test_file:
        path = Path(os.path.expanduser(str(cfg.test_file)))
        if path.suffix == ".npy":
            shape = read_npy(path, header_only=True)
            return (*shape[1:], 1) if len(shape) == 3 else shape[1:]
        return idx_image_shape(path)
    path = _find(data_dir(cfg), "test") if source != "tfds" else None
    return None if path is None else idx_image_shape(path)


def load_split(cfg, split: str, progress=None) -> np.ndarray:
    """Load ``split`` ("train" or "test") as uint8 (N, H, W, C) following the data config ``cfg``.

    ``data.source``: ``auto`` reads the IDX files in the data directory and, for a named dataset
    (download.DATASETS), downloads them there first when they are missing; ``idx`` only reads them; ``tfds``
    loads ``data.tfds_name`` with tensorflow-datasets. ``data.train_file`` / ``data.test_file`` override.
    ``progress``: a download's progress bar (None: on a terminal only)."""
    source = getattr(cfg.source, "value", cfg.source)
    if source not in ("auto", "idx", "tfds"):
        raise RdsweepError(f"data.source must be auto, idx or tfds, not {source!r}")
    file = cfg.train_file if split == "train" else cfg.test_file
    directory = data_dir(cfg)
    if file:
        images = read_file(Path(os.path.expanduser(str(file))))
    elif source == "tfds":
        images = _load_tfds(cfg.tfds_name, split)
    else:
        path = _find(directory, split)
        name = getattr(cfg, "name", None)
        if path is None and source == "auto" and name in download.DATASETS:
            download.fetch(name, directory, [split], getattr(cfg, "mirrors", None), progress)
            path = _find(directory, split)
        if path is None:
            raise RdsweepError(
                f"no {SPLIT_STEMS[split].format(3)}[.gz] in data.dir={directory} (put the IDX image files there, "
                "or set data.dir=...)")
        images = read_file(path)
    limit = cfg.train_limit if split == "train" else cfg.test_limit
    return images[: int(limit)] if limit is not None else images
