"""The public 2-D functions: one argument normalisation, then the engine."""
from typing import Any, Optional

from . import _args, _engine
from ._typing import ArrayLike, FloatArray, Padding, Pair


def corr2d(X: ArrayLike, K: ArrayLike, *, padding: Padding = 0, stride: Pair = 1, dilation: Pair = 1,
           mode: str = "constant", cval: float = 0.0, backend: str = "auto", out: Optional[FloatArray] = None,
           measure: Optional[bool] = None) -> FloatArray:
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
    call = _args.corr2d_call(X, K, padding=padding, stride=stride, dilation=dilation, mode=mode, cval=cval,
                             backend=backend)
    out = _args.check_out(out, call.geo.out_shape, call.dtype)
    result = _engine.run(call, None if out is None else out[None, None], measure)
    return out if out is not None else result[0, 0]


def convolve2d(X: ArrayLike, K: ArrayLike, **kwargs: Any) -> FloatArray:
    """True 2-D convolution: :func:`corr2d` with ``K`` flipped on both axes.

    Takes the same keyword arguments as :func:`corr2d`; padding (including
    "same" for even kernels) is applied to X exactly as corr2d applies it.
    """
    K = _args.image_2d(_args.as_array(K, "K"), "K")
    return corr2d(X, K[::-1, ::-1], **kwargs)
