"""The public codec: a trained model that compresses and decompresses images, exactly.

    rdsweep.runtime.configure()                  # optional: the command line's XLA settings (before JAX starts)
    codec = rdsweep.load("model.rdsm")          # or a trained run directory
    data = codec.compress(images_uint8)          # (N, H, W, C) or (N, H, W) -> bytes (.rds)
    images = codec.decompress(data)              # -> uint8 (N, H, W, C)

What is exact: the decoded symbols, on any machine (integer tables, no float CDF). The images are the float
synthesis transform of those symbols, rounded: identical for the same JAX version and XLA settings; with other
kernels (e.g. without ``runtime.configure()``) we measured 4 pixels of 784,000 moved by 1.

The chain, each step a method: ``encode`` (analysis transform + quantization -> symbols, one int64 array per
entropy layer), ``strings`` (each digit's own range-coded string) / ``pack`` (all digits in one ANS stream),
``decode_strings`` / ``unpack``, ``decode`` (symbols -> uint8 images), ``info_bits`` (exact information content
of each digit under the coder). Streams hold the layers one after the other (all digits' first layer, then
the next), so a layer's coding parameters can be derived from the layers decoded before it.

Everything loaded from a file is validated against the model its config describes before use.
"""
from __future__ import annotations

import math

import numpy as np

from rdsweep import coding, models, provenance
from rdsweep.coding import messages
from rdsweep.entropy.densities import PRIORS
from rdsweep.errors import RdsweepError
from rdsweep.formats import container, model_file
from rdsweep.models import CodingModel, ModelSpec

MAX_LATENT = 4096
ENCODE_CHUNK = 1 << 12  # images encoded at a time
MAX_DECODE_BYTES = 1 << 29  # symbols + images of one .rds file: larger files are refused before decoding
META = {"lmbda": float, "distortion": str, "epochs": int, "seed": int, "data": str,  # what a model file may say
        "precision": str}  # the training's (its coding transforms are float32)
# ... and its ``provenance`` (rdsweep.provenance: versions, commit and machine of the training run)


def _spec(config: dict, where: str) -> tuple[type[CodingModel], ModelSpec]:
    """The model class and spec a config describes, every field checked (types, ranges, known names)."""
    try:
        model, prior = dict(config["model"]), dict(config["prior"])
        latent, shape = config["latent_dims"], config["shape"]
        M = models.get(model.get("name"))
        M.Config(**model)
        if prior.get("name") not in PRIORS:
            raise ValueError(f"unknown prior {prior.get('name')!r}")
        PRIORS[prior["name"]][1](**prior)
        if not (isinstance(latent, int) and 1 <= latent <= MAX_LATENT):
            raise ValueError(f"latent_dims must be a whole number in 1..{MAX_LATENT}, not {latent!r}")
        if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(s, int) for s in shape)):
            raise ValueError(f"shape must be [height, width, channels], not {shape!r}")
        spec = ModelSpec(model, prior, latent, tuple(shape))
        M.check(spec)
    except RdsweepError as e:
        raise RdsweepError(f"{where}: {e}") from None
    except (KeyError, TypeError, ValueError) as e:
        raise RdsweepError(f"{where}: invalid model config ({type(e).__name__}: {e})") from None
    return M, spec


def check_tree(template, params, path: str) -> dict:
    """params (a state dict) has exactly the template's tree, array shapes and dtypes, all finite."""
    if hasattr(template, "shape"):
        if not isinstance(params, np.ndarray):
            raise RdsweepError(f"{path}: expected an array, got {type(params).__name__}")
        if params.shape != template.shape or params.dtype != template.dtype:
            raise RdsweepError(f"{path}: expected {template.dtype} {template.shape}, got {params.dtype} {params.shape}")
        if not np.all(np.isfinite(params)):
            raise RdsweepError(f"{path}: holds non-finite values")
        return params
    if not isinstance(params, dict) or set(params) != set(template):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise RdsweepError(f"{path}: expected {sorted(template)}, got {got}")
    return {k: check_tree(template[k], params[k], f"{path}.{k}") for k in template}


class Codec:
    """A trained model's coding chain (``model``) plus the run settings it came from (``meta``)."""

    def __init__(self, model: CodingModel, meta: dict | None = None, fingerprint: bytes | None = None):
        self.model, self.meta = model, dict(meta or {})
        self._fingerprint = fingerprint

    # ---- loading and saving -----------------------------------------------------------------------
    @classmethod
    def from_parts(cls, config: dict, params: dict, entropy: dict, where: str, fingerprint=None) -> "Codec":
        """Validate a model's config, weights (state dict) and coding-table arrays, then build the codec."""
        if not isinstance(config, dict):
            raise RdsweepError(f"{where}: the config is not a mapping")
        M, spec = _spec(config, where)
        template = M.param_shapes(spec)
        params = check_tree(template, params, f"{where}: params")
        if not isinstance(entropy, dict):
            raise RdsweepError(f"{where}: coding tables are not a mapping")
        try:
            tables = M.entropy_from_arrays(spec, entropy)
        except KeyError as e:
            raise RdsweepError(f"{where}: no coding tables for {e}") from None
        except RdsweepError as e:
            raise RdsweepError(f"{where}: {e}") from None
        if set(entropy) != set(tables):
            raise RdsweepError(f"{where}: coding tables for {sorted(set(entropy) - set(tables))}, which model "
                               f"{M.name} does not have")
        meta = {}
        for key, kind in META.items():
            value = config.get(key)
            if value is not None and not (isinstance(value, kind) or kind is float and isinstance(value, int)) \
                    or isinstance(value, bool):
                raise RdsweepError(f"{where}: config {key} must be {kind.__name__}, not {value!r}")
            if kind in (int, float) and value is not None and not (abs(value) < 2**63 and math.isfinite(value)):
                raise RdsweepError(f"{where}: config {key} must be a finite number of 64 bits, not {value!r}")
            meta[key] = value
        if config.get("provenance") is not None:
            try:
                meta["provenance"] = provenance.check(config["provenance"], where)
            except ValueError as e:
                raise RdsweepError(str(e)) from None
        return cls(M(spec, params, tables), meta, fingerprint)

    @classmethod
    def from_file(cls, path) -> "Codec":
        config, params, entropy, fp = model_file.read(path)
        return cls.from_parts(config, params, entropy, str(path), fp)

    def save(self, path, replace: bool = True) -> None:
        """Write the model file (.rdsm); with ``replace=False``, never over an existing file."""
        model_file.write(path, self.payload(), replace)

    @property
    def config(self) -> dict:
        return {**self.model.spec.to_dict(), **{k: v for k, v in self.meta.items() if v is not None}}

    def payload(self) -> bytes:
        params = {k: self.model.params[k] for k in self.model.stored}
        return model_file.pack_payload(self.config, params, self.model.entropy_arrays())

    @property
    def fingerprint(self) -> bytes:
        if self._fingerprint is None:
            self._fingerprint = model_file.fingerprint(self.payload())
        return self._fingerprint

    @property
    def shape(self) -> tuple:
        return tuple(self.model.spec.shape)

    # ---- the chain ----------------------------------------------------------------------------------
    def images(self, images) -> np.ndarray:
        """uint8 (N, H, W, C), or (N, H, W) for one channel, checked against the model's shape."""
        a = np.asarray(images)
        if a.ndim == 3 and self.shape[2] == 1:
            a = a[..., None]
        if a.dtype != np.uint8 or a.shape[1:] != self.shape:
            raise RdsweepError(f"expected uint8 images of shape (N, {', '.join(map(str, self.shape))}), "
                               f"got {a.dtype} {a.shape}")
        return a

    def encode(self, images) -> dict:
        """uint8 images -> the symbols of each entropy layer (N rows each); encoded ENCODE_CHUNK images at a
        time, so that memory beyond the images and their symbols stays bounded."""
        images = self.images(images)
        if len(images) <= ENCODE_CHUNK:
            return self.model.encode(images)
        out: dict = {}
        for i in range(0, len(images), ENCODE_CHUNK):
            for name, piece in self.model.encode(images[i:i + ENCODE_CHUNK]).items():
                if name not in out:
                    out[name] = np.empty((len(images), *piece.shape[1:]), piece.dtype)
                out[name][i:i + len(piece)] = piece
        return out

    def decode(self, symbols: dict) -> np.ndarray:
        return self.model.decode(symbols)

    def search(self, images, symbols: dict, rounds: int) -> tuple[dict, dict]:
        """The encoder's rate-distortion optimised quantization (``coding.rdo``) of ``encode``'s symbols, for the
        loss the model was trained on (its ``lmbda`` and ``distortion``): (symbols, statistics)."""
        from rdsweep.coding import rdo
        from rdsweep.distortion import TRAINING

        lmbda, distortion = self.meta.get("lmbda"), self.meta.get("distortion")
        if lmbda is None or distortion not in TRAINING:
            raise RdsweepError("the encoder's search needs the model's lmbda and distortion, and this model file "
                               f"records {'no lmbda' if lmbda is None else f'distortion {distortion!r}'}")
        return rdo.optimise(self, self.images(images), symbols, float(lmbda), distortion, rounds)

    def info_bits(self, symbols: dict) -> dict:
        """Per entropy layer, the exact information content (bits) of each digit under the coder."""
        out = {}
        for name, layer in self.model.layers():
            out[name] = layer.info_bits(symbols[name], self.model.context(name, symbols))
        return out

    def strings(self, symbols: dict) -> list[bytes]:
        """Each digit's own byte string (range coded, minimal flush; no length field inside)."""
        return messages.strings(self.model.layers(), symbols, self.model.context)

    def decode_strings(self, strings) -> dict:
        """Byte strings -> symbols. Any bytes decode to something (a string has no sanity check)."""
        return messages.decode_strings(self.model.layers(), strings, self.model.context)

    def pack(self, symbols: dict, version: int = container.VERSION) -> bytes:
        """All digits' symbols in one stream (the .rds payload; ANS coded, range coded in version 1)."""
        w = (coding.LEGACY_STREAM if version == 1 else coding.STREAM)[0]()
        messages.write(self.model.layers(), symbols, [w] * len(next(iter(symbols.values()))), self.model.context)
        if version >= 3:
            w.uniform(*container.END)
        return w.finish()

    def min_bits(self) -> float:
        """The least information content any digit can have under the tables (bounds a stream's digit count)."""
        return sum(layer.min_bits() for _, layer in self.model.layers())

    def unpack(self, payload: bytes, n: int, version: int = container.VERSION, legacy: bool = False) -> dict:
        """The n digits' symbols of a payload. The payload must be exactly what ``pack`` makes of them (checked
        by coding them again, end mark included), so a forged digit count or any other inconsistency is refused.

        Versions 1 and 2 have no end mark: a count raised by one (checksum recomputed) can decode an invented
        digit that codes back to the same bytes. They are read only with ``legacy=True``, and only for the model
        they were written for (the seed model on 28x28x1 digits)."""
        if version < container.FIRST_EXACT:
            if self.model.name != "seed" or self.shape != (28, 28, 1):
                raise RdsweepError(f"format version {version} holds only seed-model 28x28 digits; this model is "
                                   f"{self.model.name} on {'x'.join(map(str, self.shape))}")
            if not legacy:
                raise RdsweepError(f"format version {version} cannot prove its digit count (no end mark): read it "
                                   "with --legacy (Python: legacy=True) if you trust it, then compress it again")
        if n == 0:
            raise RdsweepError("corrupted file: it holds no images (rdsweep never writes such a file)")
        if n * self.min_bits() > 8 * len(payload) + 64:
            raise RdsweepError(f"corrupted file: {n} digits cannot fit in a payload of {len(payload)} bytes")
        self.check_count(n)
        reader = (coding.LEGACY_STREAM if version == 1 else coding.STREAM)[1](payload)
        symbols = messages.read(self.model.layers(), [reader] * n, self.model.context)
        end = reader.uniform(container.END[1]) if version >= 3 else container.END[0]
        if end != container.END[0] or not reader.exhausted() or self.pack(symbols, version) != payload:
            raise RdsweepError(f"corrupted stream: the payload does not hold exactly {n} digits of this model")
        return symbols

    def most_images(self) -> int:
        """One .rds file holds at most as many digits as decode in MAX_DECODE_BYTES (symbols and images)."""
        return MAX_DECODE_BYTES // (8 * sum(layer.dims for _, layer in self.model.layers()) + math.prod(self.shape))

    def check_count(self, n: int) -> None:
        if n > self.most_images():
            raise RdsweepError(f"{n} images in one file: more than the {self.most_images()} one file holds for "
                               "this model (split them)")

    def compress(self, images, names=None) -> bytes:
        """uint8 images (N, H, W, C), or (N, H, W) for one channel -> the bytes of an .rds file; ``names``: the
        images' file names (N distinct file names), kept in the file, or None."""
        images = self.images(images)
        self.check_file(len(images), names)  # before encoding
        return self.compress_symbols(self.encode(images), len(images), names)

    def check_file(self, n: int, names=None) -> None:
        """RdsweepError unless N images (and their names) make one .rds file: 1 to ``most_images``."""
        if n == 0:
            raise RdsweepError("no images to compress")
        self.check_count(n)
        if names is not None:
            container.check_names(names, n)

    def compress_symbols(self, symbols: dict, n: int, names=None) -> bytes:
        """``compress`` of images already encoded (``encode``: N of them)."""
        self.check_file(n, names)
        return container.pack(self.pack(symbols), n, self.shape, self.fingerprint, names)

    def decompress(self, data: bytes, legacy: bool = False) -> np.ndarray:
        """The bytes of an .rds file made with this model -> uint8 images (N, H, W, C). ``legacy``: also read
        format versions 1 and 2, whose digit count cannot be verified (``unpack``)."""
        return self.decompress_named(data, legacy)[0]

    def decompress_named(self, data: bytes, legacy: bool = False) -> tuple[np.ndarray, list | None]:
        """(images as ``decompress`` gives them, their names or None if the file holds none)."""
        version, n, payload, names = container.unpack(data, self.fingerprint, self.shape)
        return self.decode(self.unpack(payload, n, version, legacy)), names
