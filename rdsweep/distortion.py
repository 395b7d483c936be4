"""Distortion measures, on images in [0, 1] (N, H, W, C): what training minimises (``distortion=``) and what a
run records besides PSNR.

MS-SSIM (Wang, Simoncelli, Bovik 2003) is defined for images large enough for five scales of an 11x11 window;
a 28x28 digit has three scales (28, 14, 7) for a 7x7 Gaussian window (sigma 1.5): ``ms_ssim`` is that
three-scale MS-SSIM, with the first three of the paper's exponents (0.0448, 0.2856, 0.3001) renormalised to
sum to 1, contrast-structure terms clipped at 0 (as TensorFlow's), C1 = 0.01^2, C2 = 0.03^2 for a data range of
1, 2x2 average pooling between scales. Images under 28x28 (fewer than three scales of the window) have none.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

WINDOW, SIGMA = 7, 1.5
WEIGHTS = np.array([0.0448, 0.2856, 0.3001]) / (0.0448 + 0.2856 + 0.3001)
C1, C2 = 0.01**2, 0.03**2


def _window() -> np.ndarray:
    g = np.exp(-0.5 * ((np.arange(WINDOW) - WINDOW // 2) / SIGMA) ** 2)
    g /= g.sum()
    return np.outer(g, g).astype(np.float32)


def _filter(x):
    """Valid 7x7 Gaussian filter of each channel of x (N, H, W, C)."""
    C = x.shape[-1]
    k = jnp.asarray(np.tile(_window()[:, :, None, None], (1, 1, 1, C)))
    return jax.lax.conv_general_dilated(x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                        feature_group_count=C)


def _ssim_terms(x, y):
    """(luminance, contrast-structure) means per image of two image batches."""
    mx, my = _filter(x), _filter(y)
    sxx, syy, sxy = _filter(x * x) - mx * mx, _filter(y * y) - my * my, _filter(x * y) - mx * my
    cs = (2 * sxy + C2) / (sxx + syy + C2)
    lum = (2 * mx * my + C1) / (mx * mx + my * my + C1)
    return jnp.mean(lum * cs, axis=(1, 2, 3)), jnp.mean(cs, axis=(1, 2, 3))


def has_ms_ssim(shape) -> bool:
    """Whether images of shape (H, W, C) have the three scales ``ms_ssim`` needs."""
    return min(shape[0], shape[1]) >= WINDOW * 4


def ms_ssim(x, y):
    """Three-scale MS-SSIM of each image pair (N,), images in [0, 1] (N, H, W, C) with H, W >= 28."""
    values = []
    for scale in range(3):
        ssim, cs = _ssim_terms(x, y)
        values.append(jnp.maximum(ssim if scale == 2 else cs, 0.0))
        if scale < 2:
            x, y = (jax.lax.reduce_window(a, 0.0, jax.lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID") / 4
                    for a in (x, y))
    return jnp.prod(jnp.stack(values, axis=-1) ** jnp.asarray(WEIGHTS, jnp.float32), axis=-1)


TRAINING = {  # distortion= : mean over the batch of each digit's distortion
    "mae": lambda x, x_hat: jnp.mean(jnp.abs(x - x_hat)),
    "mse": lambda x, x_hat: jnp.mean(jnp.square(x - x_hat)),
    "ms_ssim": lambda x, x_hat: jnp.mean(1.0 - ms_ssim(x, jnp.clip(x_hat, 0.0, 1.0))),
}

_ms_ssim_jit = jax.jit(ms_ssim)


def ms_ssim_uint8(images: np.ndarray, recon: np.ndarray, batch: int = 2000) -> np.ndarray:
    """Each digit's MS-SSIM (float64, (N,)) of uint8 images and reconstructions (N, H, W, C)."""
    out = [np.asarray(_ms_ssim_jit(jnp.asarray(images[i:i + batch], jnp.float32) / 255.0,
                                   jnp.asarray(recon[i:i + batch], jnp.float32) / 255.0))
           for i in range(0, len(images), batch)]
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)
