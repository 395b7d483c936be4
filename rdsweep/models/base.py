"""What every model provides: a training graph (a flax module) and, once trained, the coding chain.

A model is one module in ``rdsweep/models/`` holding a config dataclass, its flax ``Net`` and a
``CodingModel`` subclass registered with ``@register``, plus ``conf/model/<name>.yaml``.

The training graph's ``__call__(x, noise_key, alpha=None)`` takes images in [0, 1] (N, H, W, C) and returns
``(bits, x_tilde, terms)``: the rate of each digit under the learned entropy model on noisy latents (N,), the
reconstruction, and a dict of named parts of the rate (e.g. ``{"rate_side_bits": ...}``; may be empty).
``alpha``: the soft rounding's parameter at this step (``train.quantizer=soft``, ``layers.training_latents``).

The coding side, ``CodingModel``: ``encode(images) -> symbols`` (a dict of int64 arrays (N, D) per entropy
layer, in coding order), ``dequantize(symbols) -> y_hat`` (then ``decode`` = synthesis of y_hat), and the
entropy layers themselves: each has ``write(writer, q_row, context_row)``, ``read(reader, context_row)`` and
``info_bits(q, context)``, where ``context(layer, decoded)`` derives a layer's coding parameters from the layers
before it (None for a factorized layer). Encoder and decoder compute contexts with the same function from the
same integers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rdsweep.errors import RdsweepError
from rdsweep.models.layers import images_to_input, output_to_images



@dataclass(frozen=True)
class ModelSpec:
    """Everything that fixes a model's structure: its config (name + sizes), the prior's config, the latent
    size and the image shape (H, W, C). Stored in the model file; the parameters must match it."""

    model: dict
    prior: dict
    latent_dims: int
    shape: tuple

    def to_dict(self) -> dict:
        return {"model": dict(self.model), "prior": dict(self.prior), "latent_dims": self.latent_dims,
                "shape": list(self.shape)}


def batched(fn, x, batch: int):
    """fn over consecutive batches of x, concatenated as numpy (fn: a jitted transform)."""
    if len(x) == 0:  # the output's shape, without running fn on an empty batch (reshapes cannot infer -1)
        out = jax.eval_shape(fn, jax.ShapeDtypeStruct((1, *x.shape[1:]), x.dtype))
        return np.zeros((0, *out.shape[1:]), out.dtype)
    out = None
    for i in range(0, len(x), batch):  # filled in place: no list of pieces beside the whole
        piece = np.asarray(fn(x[i:i + batch]))
        if out is None:
            out = np.empty((len(x), *piece.shape[1:]), piece.dtype)
        out[i:i + len(piece)] = piece
    return out


MAX_PARAMS = 1 << 26  # 268 MB of float32 weights, ~0.8 GB with Adam's two moments
MODELS: dict = {}  # name -> CodingModel subclass, filled by @register when rdsweep.models is imported


def register(cls):
    MODELS[cls.name] = cls
    return cls


class CodingModel:
    """A trained model as a codec: jitted transforms + entropy layers (subclasses: one per model)."""

    name: ClassVar[str]
    Config: ClassVar[type]  # the model's config dataclass (conf/model/<name>.yaml)
    Net: ClassVar[type[nn.Module]]  # the training graph
    stored: ClassVar[tuple] = ("analysis", "synthesis")  # the parameter collections the coding side uses
    variable_rate: ClassVar[bool] = False  # one training for many lambdas (entropy_from_training: one layer set
    # per operating point, named "<layer>@<lambda>"; ``point`` builds any one)

    def __init__(self, spec: ModelSpec, params: dict, entropy: dict, batch: int = 1000):
        self.spec, self.params, self.entropy, self.batch = spec, params, entropy, batch
        self.net = self.make_net(spec)

    @classmethod
    def make_net(cls, spec: ModelSpec, **kw) -> nn.Module:
        return cls.Net(config=cls.Config(**spec.model), prior=spec.prior, latent_dims=spec.latent_dims,
                       shape=tuple(spec.shape), **kw)

    @classmethod
    def init_params(cls, spec: ModelSpec, key, **kw) -> dict:
        net = cls.make_net(spec, **kw)
        return net.init(key, jnp.zeros((1, *spec.shape), jnp.float32), jax.random.key(0))["params"]

    @classmethod
    def param_shapes(cls, spec: ModelSpec) -> dict:
        """The stored parameters' shapes and dtypes, computed without allocating them."""
        shapes = jax.eval_shape(lambda k: cls.init_params(spec, k), jax.random.key(0))
        return {k: shapes[k] for k in cls.stored}

    @classmethod
    def check(cls, spec: ModelSpec, tail_mass: float = 2.0**-8) -> None:
        """Raise RdsweepError unless the model can be built for spec (subclasses: the image shape, the size of
        tables fixed by the config and ``tail_mass``, ...), within MAX_PARAMS parameters (counted without
        allocating them): checked before training or loading."""
        shapes = jax.eval_shape(lambda k: cls.init_params(spec, k), jax.random.key(0))
        count = sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(shapes))
        if count > MAX_PARAMS:
            raise RdsweepError(f"model {cls.name} on {'x'.join(map(str, spec.shape))} images would have {count:,} "
                               f"parameters, more than the {MAX_PARAMS:,} rdsweep trains (smaller hidden, filters "
                               "or latent_dims)")

    @classmethod
    def entropy_from_training(cls, spec: ModelSpec, params: dict, tail_mass: float) -> dict:
        """The integer coding tables of each entropy layer, built once from the trained densities."""
        raise NotImplementedError

    @classmethod
    def entropy_from_arrays(cls, spec: ModelSpec, arrays: dict) -> dict:
        """The entropy layers from stored arrays, validated against spec."""
        raise NotImplementedError

    def jit(self, method):
        """A jitted transform of the trained net: ``method(net, *args)`` with these parameters."""
        return jax.jit(lambda *a: self.net.apply({"params": self.params}, *a, method=method))

    def analysis(self, images: np.ndarray) -> np.ndarray:
        """uint8 images (N, H, W, C) -> the main latents y (float32, N x latent_dims), before quantization."""
        if not hasattr(self, "_analysis"):
            self._analysis = self.jit(lambda net, x: net.analysis(images_to_input(x)))
        return batched(self._analysis, images, self.batch)

    def synthesis(self, y: np.ndarray) -> np.ndarray:
        """Main latents (N, latent_dims) -> uint8 images (N, H, W, C): rounded and saturated."""
        if not hasattr(self, "_synthesis"):
            self._synthesis = self.jit(lambda net, y: output_to_images(net.synthesis(y)))
        return batched(self._synthesis, np.asarray(y, np.float32), self.batch)

    # ---- the chain ----------------------------------------------------------------------------------
    def encode(self, images: np.ndarray) -> dict:
        """uint8 images (N, H, W, C) -> symbols, one int64 array (N, D) per entropy layer."""
        raise NotImplementedError

    def dequantize(self, symbols: dict) -> np.ndarray:
        """Symbols -> the main latents y_hat (float32, N x latent_dims) the synthesis transform decodes."""
        raise NotImplementedError

    def decode(self, symbols: dict) -> np.ndarray:
        """Symbols -> uint8 images (N, H, W, C)."""
        return self.synthesis(self.dequantize(symbols))

    def context(self, layer: str, decoded: dict):
        """Coding parameters of ``layer`` for every digit, from the layers decoded before it (None: none)."""
        return None

    def layers(self) -> list:
        """(name, entropy layer) in coding order."""
        return list(self.entropy.items())

    def entropy_arrays(self) -> dict:
        return {name: layer.to_arrays() for name, layer in self.entropy.items()}

