"""The public 2-D functions: argument checking, then the shared engine."""
import numpy as np

from . import _engine, backends
from ._dtypes import as_array, as_kernel_operand, result_dtype
from ._params import Geometry, check_mode


def check_backend(backend):
    if backend != "auto":
        backends.get(backend)  # raises with the list of available backends
    return backend


def _check_2d(a, name):
    if a.ndim != 2:
        hint = "; for (N, C, H, W) batches use fastconv.conv2d" if a.ndim in (3, 4) else ""
        raise ValueError(f"{name} must be 2-D, got shape {a.shape} (ndim {a.ndim}){hint}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape}); every axis needs at least one element")


def corr2d(X, K, *, padding=0, stride=1, dilation=1, mode="constant", cval=0.0, backend="auto", out=None,
           measure=None):
    """2-D cross-correlation of image ``X`` (H, W) with kernel ``K`` (kh, kw).

    ``Y[i, j] = sum_{a, b} K[a, b] * Xp[i*sh + a*dh, j*sw + b*dw]``, where Xp
    is X padded by ``padding`` with boundary ``mode``.

    Parameters
    ----------
    padding : int, (ph, pw), ((top, bottom), (left, right)), "valid", "same" or "full"
        "same" keeps the input's size at stride 1; an even kernel's extra
        row/column of padding goes at the bottom/right (as PyTorch does).
        "full" pads ``dilation*(k-1)`` on both sides.
    stride, dilation : int or (h, w), each >= 1
    mode : "constant" (with ``cval``), "reflect", "symmetric", "edge", "wrap"
        See the README's table for the numpy.pad / scipy.ndimage / OpenCV names.
    backend : "auto" or one of :func:`fastconv.available_backends`
    out : ndarray of the output shape and result dtype, optional
    measure : bool, optional
        With ``backend="auto"``: True times the candidate backends the first
        time this problem's signature is seen and keeps the winner (None:
        the ``FASTCONV_PLANNER`` environment variable). See
        :func:`fastconv.plan`.

    Returns float32 for float32 inputs, float64 for float64, integer and
    bool inputs (see the README's dtype table). Inputs are never modified.
    """
    X = as_array(X, "X")
    K = as_array(K, "K")
    _check_2d(X, "X")
    _check_2d(K, "K")
    dtype = result_dtype(("X", X), ("K", K))
    geo = Geometry.from_args(X.shape, K.shape, padding, stride, dilation)
    check_mode(mode)
    check_backend(backend)
    out = _engine.check_out(out, geo.out_shape, dtype)
    x4 = as_kernel_operand(X, dtype)[None, None]
    w4 = np.ascontiguousarray(K, dtype=dtype)[None, None]
    out4 = None if out is None else out[None, None]
    exact = X.dtype.kind in "biu" and K.dtype.kind in "biu"
    result = _engine.correlate(x4, w4, geo, mode=mode, cval=float(cval), backend=backend, out=out4, exact=exact,
                               measure=measure)
    return out if out is not None else result[0, 0]


def convolve2d(X, K, **kwargs):
    """True 2-D convolution: :func:`corr2d` with ``K`` flipped on both axes.

    Takes the same keyword arguments as :func:`corr2d`; padding (including
    "same" for even kernels) is applied to X exactly as corr2d applies it.
    """
    K = as_array(K, "K")
    _check_2d(K, "K")
    return corr2d(X, K[::-1, ::-1], **kwargs)
