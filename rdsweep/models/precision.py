"""The transforms' arithmetic (``train.precision``): float32, or bfloat16 operands with float32 accumulation.

``float32`` is XLA's own dot and convolution in float32 (what every earlier result used). ``bf16`` casts the
operands of every matmul and convolution of the analysis and synthesis transforms to bfloat16 and accumulates
in float32 (``preferred_element_type``): the parameters, Adam's state, the entropy model, the activations
between layers and the loss stay float32. Its convolutions are computed as one matrix product each (``gemm``:
the input's k x k windows gathered by strided slices, then a dot with the kernel as a (k*k*C, F) matrix), which
bf16 dot kernels run well, where XLA's CPU convolution has no fast bf16 path (docs/benchmarks.md measures both).
Coding always runs the float32 transforms: the decoder's images do not depend on the training's precision.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

PRECISIONS = ("float32", "bf16")
BF16 = jnp.bfloat16


def dot_bf16(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    """flax's ``dot_general`` with bfloat16 operands, float32 accumulation and result."""
    return jax.lax.dot_general(lhs.astype(BF16), rhs.astype(BF16), dimension_numbers,
                               preferred_element_type=jnp.float32)


def _pads(shape, kernel, strides, padding):
    if isinstance(padding, str):
        return jax.lax.padtype_to_pads(shape, kernel, strides, padding)
    return [tuple(p) for p in padding]


def conv_gemm(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None, dimension_numbers=None,
              feature_group_count=1, batch_group_count=1, precision=None, preferred_element_type=None,
              dtype=BF16):
    """flax's ``conv_general_dilated`` (NHWC input, HWIO kernel, no dilation, no groups) as one GEMM with
    ``dtype`` operands and float32 accumulation: the k x k windows of the (padded) input gathered by strided
    slices into (N, Ho, Wo, kh*kw*C), times the kernel as a (kh*kw*C, F) matrix."""
    if (lhs_dilation not in (None, (1, 1)) or rhs_dilation not in (None, (1, 1)) or feature_group_count != 1
            or batch_group_count != 1):
        raise NotImplementedError("conv_gemm: dilations and groups are not used by rdsweep's models")
    kh, kw, C, F = rhs.shape
    sh, sw = window_strides
    (ph0, ph1), (pw0, pw1) = _pads(lhs.shape[1:3], (kh, kw), (sh, sw), padding)
    x = jnp.pad(lhs.astype(dtype), ((0, 0), (ph0, ph1), (pw0, pw1), (0, 0)))
    Ho, Wo = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    cols = [x[:, i: i + sh * (Ho - 1) + 1: sh, j: j + sw * (Wo - 1) + 1: sw, :] for i in range(kh) for j in range(kw)]
    patches = jnp.concatenate(cols, axis=-1)  # (N, Ho, Wo, kh*kw*C), window-major like the kernel below
    return jax.lax.dot_general(patches, rhs.astype(dtype).reshape(kh * kw * C, F), (((3,), (0,)), ((), ())),
                               preferred_element_type=jnp.float32)


conv_gemm_bf16 = functools.partial(conv_gemm, dtype=BF16)


def ops(precision: str):
    """(dot_general, conv_general_dilated) for flax layers, or (None, None): flax's float32 defaults."""
    if precision == "float32":
        return None, None
    if precision == "bf16":
        return dot_bf16, conv_gemm_bf16
    raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
