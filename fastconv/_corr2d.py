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
    X, K : array_like, 2-D
        The image and the kernel: any array-like (lists, any strides or byte
        order, read-only arrays). They are never modified.
    padding : int, (ph, pw), ((top, bottom), (left, right)), "valid", "same" or "full"
        "same" keeps the input's size at stride 1; an even kernel's extra
        row/column of padding goes at the bottom/right (as PyTorch does).
        "full" pads ``dilation*(k-1)`` on both sides.
    stride, dilation : int or (h, w), each >= 1
    mode : {"constant", "reflect", "symmetric", "edge", "wrap"}
        The boundary mode; "constant" fills with ``cval``. The user guide's
        table gives the numpy.pad / scipy.ndimage / OpenCV names.
    cval : float
        The fill value of ``mode="constant"``.
    backend : str
        "auto" (a per-problem choice, see :func:`fastconv.plan`) or one of
        :func:`fastconv.available_backends`.
    out : ndarray, optional
        An array of the output shape and result dtype to write into (any
        strides); it is returned.
    measure : bool, optional
        With ``backend="auto"``: True times the candidate backends the first
        time this problem's signature is seen and keeps the winner (None:
        the ``FASTCONV_PLANNER`` environment variable).

    Returns
    -------
    ndarray
        (Ho, Wo) with ``Ho = (H + pad_top + pad_bottom - dh*(kh-1) - 1) // sh + 1``
        (likewise Wo); float32 for float32 inputs, float64 for float64, integer
        and bool inputs (the user guide's dtype table).

    Raises
    ------
    ValueError
        Wrong ndim, empty arrays, a kernel larger than the padded input,
        stride/dilation < 1, unknown padding/mode/backend, ``out`` of the
        wrong shape.
    TypeError
        An unsupported dtype (complex, object, ...) or ``out`` of the wrong dtype.

    Examples
    --------
    >>> X = np.arange(9.0).reshape(3, 3)
    >>> K = [[0.0, 1.0], [2.0, 3.0]]
    >>> fastconv.corr2d(X, K)
    array([[19., 25.],
           [37., 43.]])
    >>> fastconv.corr2d(X, K, padding=1, stride=(3, 2))
    array([[0., 8.],
           [6., 8.]])
    >>> fastconv.corr2d(X, K, padding="same", mode="edge").shape
    (3, 3)
    >>> fastconv.corr2d(X.astype(np.float32), np.float32(K)).dtype
    dtype('float32')
    """
    call = _args.corr2d_call(X, K, padding=padding, stride=stride, dilation=dilation, mode=mode, cval=cval,
                             backend=backend)
    out = _args.check_out(out, call.geo.out_shape, call.dtype)
    result = _engine.run(call, None if out is None else out[None, None], measure)
    return out if out is not None else result[0, 0]


def convolve2d(X: ArrayLike, K: ArrayLike, **kwargs: Any) -> FloatArray:
    """True 2-D convolution: :func:`corr2d` with ``K`` flipped on both axes.

    Padding (including "same" for even kernels) is applied to X exactly as
    corr2d applies it.

    Parameters
    ----------
    X, K : array_like, 2-D
        The image and the kernel.
    **kwargs
        Every keyword argument of :func:`corr2d` (padding, stride, dilation,
        mode, cval, backend, out, measure).

    Returns
    -------
    ndarray
        ``corr2d(X, K[::-1, ::-1], **kwargs)``.

    Raises
    ------
    ValueError, TypeError
        As :func:`corr2d`.

    Examples
    --------
    >>> X = np.arange(9.0).reshape(3, 3)
    >>> fastconv.convolve2d(X, [[0.0, 1.0], [2.0, 3.0]])
    array([[ 5., 11.],
           [23., 29.]])
    >>> fastconv.convolve2d([[0, 0, 0], [0, 1, 0], [0, 0, 0]], [[1, 2], [3, 4]], padding="full")[1:3, 1:3]
    array([[1., 2.],
           [3., 4.]])
    """
    K = _args.image_2d(_args.as_array(K, "K"), "K")
    return corr2d(X, K[::-1, ::-1], **kwargs)
