"""Named datasets that arrive by themselves: where their IDX files are looked for, and their download.

A named dataset (``data.name``: ``mnist``, ``fashion_mnist``) has a default directory, chosen by one rule
(``default_dir``) that training, the tools and the tests share: the dataset's environment variable
(``RDSWEEP_DATA_DIR`` for MNIST, ``RDSWEEP_FASHION_DIR`` for Fashion-MNIST) if set, else a system copy that
holds the files (Debian's ``dataset-fashion-mnist``), else the user cache
``${XDG_CACHE_HOME:-~/.cache}/rdsweep/<name>``. When the image files are not in ``data.dir``, ``fetch`` downloads
them there from the dataset's canonical mirrors (tried in order), with a progress bar, and keeps a file only if
the SHA-256 of its uncompressed content is the constant below (mirrors re-compress the same IDX bytes, so the
check is on what is read, not on the gzip wrapper). Only the image files are fetched: training needs no labels.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import sys
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from rdsweep.errors import RdsweepError

TIMEOUT_S = 30  # per connection attempt and per read
MAX_DOWNLOAD = 64 << 20  # bytes of one compressed file (the largest, Fashion-MNIST's training images, is 26 MB)
_CHUNK = 1 << 16


@dataclass(frozen=True)
class File:
    name: str  # as the mirrors and data.dir name it
    sha256: str  # of the uncompressed IDX bytes
    size: int  # uncompressed bytes


@dataclass(frozen=True)
class Dataset:
    title: str
    env: str  # the environment variable naming its directory
    files: dict  # split -> File
    mirrors: tuple  # base URLs, tried in order
    system_dir: str | None = None  # a system-wide copy (a distribution package), used when it holds the files


DATASETS = {
    "mnist": Dataset(
        "MNIST", "RDSWEEP_DATA_DIR",
        {"train": File("train-images-idx3-ubyte.gz",
                       "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47040016),
         "test": File("t10k-images-idx3-ubyte.gz",
                      "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7840016)},
        ("https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's mirror
         "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow's
         "http://yann.lecun.com/exdb/mnist/")),  # the original
    "fashion_mnist": Dataset(
        "Fashion-MNIST", "RDSWEEP_FASHION_DIR",
        {"train": File("train-images-idx3-ubyte.gz",
                       "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
         "test": File("t10k-images-idx3-ubyte.gz",
                      "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016)},
        ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",  # Keras'
         "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando's
         "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        system_dir="/usr/share/datasets/fashion-mnist"),
}


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rdsweep"


def default_dir(name: str) -> str:
    """The directory a named dataset's files are read from (and downloaded into) unless data.dir says else."""
    ds = DATASETS.get(name)
    if ds is None:
        return str(Path("data") / name)
    if os.environ.get(ds.env):
        return os.environ[ds.env]
    if ds.system_dir and all((Path(ds.system_dir) / f.name).is_file() for f in ds.files.values()):
        return ds.system_dir
    return str(cache_dir() / name)


def _read_url(url: str, progress, out, say: str) -> None:
    """Copy url's body into the open file out, at most MAX_DOWNLOAD bytes, with a progress bar; ``say`` is
    printed once the server answers."""
    from tqdm.auto import tqdm

    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as r:  # noqa: S310 - https/http mirrors, checked below
        print(say, file=sys.stderr)
        length = r.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > MAX_DOWNLOAD:
            raise RdsweepError(f"{url}: {total} bytes, more than the {MAX_DOWNLOAD} this dataset's file can be")
        got = 0
        with tqdm(total=total, unit="B", unit_scale=True, desc=Path(url).name, leave=False,
                  disable=None if progress is None else not progress) as bar:
            while chunk := r.read(_CHUNK):
                got += len(chunk)
                if got > MAX_DOWNLOAD:
                    raise RdsweepError(f"{url}: more than the {MAX_DOWNLOAD} bytes this dataset's file can be")
                out.write(chunk)
                bar.update(len(chunk))


def content_sha256(path: Path, limit: int) -> tuple[str, int]:
    """(SHA-256, size) of a file's uncompressed content (gunzipped if it is gzip), read up to limit + 1 bytes."""
    sha, size = hashlib.sha256(), 0
    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        f = gzip.GzipFile(fileobj=raw) if gz else raw
        while size <= limit and (chunk := f.read(min(_CHUNK, limit + 1 - size))):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def fetch(name: str, directory, splits=("train", "test"), mirrors=None, progress=None) -> None:
    """Download the named dataset's missing image files of ``splits`` into ``directory``; each is kept only if
    its content's SHA-256 is the expected one. RdsweepError in one line naming the files, their source and
    where to put them by hand when no mirror gives them."""
    ds = DATASETS[name]
    directory = Path(directory)
    mirrors = tuple(mirrors or ds.mirrors)
    wanted = [ds.files[s] for s in splits if not (directory / ds.files[s].name).is_file()]
    if not wanted:
        return
    by_hand = (f"download {', '.join(f.name for f in wanted)} from {mirrors[0]} into {directory} by hand, or "
               f"set data.dir=... or {ds.env}")
    made = [p for p in (directory, *directory.parents) if not p.exists()]  # removed again if nothing arrives
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RdsweepError(f"cannot make {directory} for {ds.title} ({e.strerror or e}): {by_hand}") from None
    try:
        _fetch(ds, directory, wanted, mirrors, progress, by_hand)
    finally:
        for p in made:
            try:
                p.rmdir()  # only if empty
            except OSError:
                break


def _fetch(ds: Dataset, directory: Path, wanted: list, mirrors: tuple, progress, by_hand: str) -> None:
    for f in wanted:
        failures = []
        for base in mirrors:
            url = base.rstrip("/") + "/" + f.name
            tmp = directory / f".{f.name}.{os.getpid()}.download"
            try:
                with open(tmp, "wb") as out:
                    _read_url(url, progress, out, f"rdsweep: downloading {ds.title} {f.name} from {url} into "
                                                  f"{directory}")
                sha, size = content_sha256(tmp, f.size)
                if (sha, size) != (f.sha256, f.size):
                    raise RdsweepError(f"{url}: checksum mismatch (SHA-256 of the content {sha[:16]}..., expected "
                                       f"{f.sha256[:16]}...): the file was refused")
                os.replace(tmp, directory / f.name)
                break
            except RdsweepError as e:
                failures.append((url, str(e)))
            except (OSError, urllib.error.URLError, ValueError, EOFError, zlib.error) as e:
                reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
                failures.append((url, f"{url}: {reason}"))
            finally:
                tmp.unlink(missing_ok=True)
        else:
            reasons = {why.replace(url, "") for url, why in failures}
            why = (f"every mirror failed with{next(iter(reasons))}" if len(reasons) == 1 and len(failures) > 1
                   else "; ".join(why for _, why in failures))
            raise RdsweepError(f"cannot download {ds.title} {f.name} ({why}): {by_hand}")
