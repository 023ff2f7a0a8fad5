"""The public 2-D functions: one argument normalisation, then the engine."""
from typing import Any, Optional, Sequence

import numpy as np

from . import _args, _engine, _lane, _scratch, planner, settings
from ._canonical import canonical
from ._dtypes import store
from ._geometry import Geometry
from ._padding import fill_is_finite
from ._typing import ArrayLike, DTypeLike, ImageArray, Padding, Pair

try:
    from .backends import banded as _banded
except ImportError:  # the extension is not built: integer images take the float path
    _banded = None


def corr2d(X: ArrayLike, K: ArrayLike, *, padding: Padding = 0, stride: Pair = 1, dilation: Pair = 1,
           mode: str = "constant", cval: complex = 0.0, axes: Optional[Sequence[int]] = None,
           dtype: DTypeLike = None, backend: str = "auto", out: Optional[ImageArray] = None,
           measure: Optional[bool] = None) -> ImageArray:
    """2-D cross-correlation of image ``X`` with kernel ``K``.

    ``Y[i, j] = sum_{a, b} K[a, b] * Xp[i*sh + a*dh, j*sw + b*dw]``, where Xp
    is X padded by ``padding`` with boundary ``mode``.

    Parameters
    ----------
    X : array_like (H, W), or a stack (..., H, W) whose leading axes are a batch
        Colour images keep their channel axis anywhere: ``axes`` names the
        two spatial axes, e.g. ``axes=(0, 1)`` for an (H, W, 3) image. Any
        array-like (lists, any strides or byte order, read-only arrays);
        never modified.
    K : array_like (kh, kw), applied to every plane of X; or (C, kh, kw)
        One kernel per channel, C matching X's last non-spatial axis. All
        planes are computed in one backend call.
    padding : int, (ph, pw), ((top, bottom), (left, right)), "valid", "same" or "full"
        "same" keeps the input's size at stride 1; an even kernel's extra
        row/column of padding goes at the bottom/right (as PyTorch does).
        "full" pads ``dilation*(k-1)`` on both sides.
    stride, dilation : int or (h, w), each >= 1
    mode : {"constant", "reflect", "symmetric", "edge", "wrap"} or an alias
        The boundary mode; "constant" fills with ``cval``. numpy.pad's names:
        "reflect" is numpy's (``c b a | a b c d | d c b`` without repeating
        the edge), which scipy.ndimage calls "mirror". scipy.ndimage's
        unambiguous names are accepted as aliases: "mirror", "nearest"
        (= "edge"), "grid-wrap" (= "wrap"), "grid-constant" (= "constant");
        the user guide's table gives the numpy.pad / scipy.ndimage / OpenCV
        names. A ``mode`` other than "constant" without padding, or a
        non-zero ``cval`` where nothing is filled with it, warns
        (:class:`fastconv.IgnoredArgumentWarning`).
    cval : float (complex for a complex X)
        The fill value of ``mode="constant"``.
    axes : (int, int), optional
        The spatial (row, column) axes of X; default its last two.
    dtype : dtype, optional
        The result dtype (default: the user guide's dtype table; an image
        keeps its own precision). float16/32/64, complex, or an integer
        dtype: rounded to nearest and saturated, as
        ``cv2.filter2D(..., ddepth=-1)``.
    backend : str
        "auto" (a per-problem choice, see :func:`fastconv.plan`) or one of
        :func:`fastconv.available_backends`.
    out : ndarray, optional
        An array of the output shape to write into (any strides); its dtype
        is the result dtype (any dtype ``dtype`` accepts). It is returned.
    measure : bool, optional
        With ``backend="auto"``: True times the candidate backends the first
        time this problem's signature is seen and keeps the winner (None:
        the ``FASTCONV_PLANNER`` environment variable).

    Returns
    -------
    ndarray
        The result in X's layout (batch and channel axes where X has them),
        spatially (Ho, Wo) with
        ``Ho = (H + pad_top + pad_bottom - dh*(kh-1) - 1) // sh + 1``
        (likewise Wo); dtype per the user guide's dtype table, ``dtype`` or
        ``out``.

    Raises
    ------
    ValueError
        Empty arrays, a kernel larger than the padded input, a kernel stack
        not matching X's channels, bad ``axes``, stride/dilation < 1,
        unknown padding/mode/backend, ``out`` of the wrong shape.
    TypeError
        An unsupported dtype (longdouble, object, ...), a bad ``cval``, or
        ``out`` disagreeing with ``dtype``.

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
    >>> fastconv.corr2d(X.astype(np.float32), np.float64(K)).dtype
    dtype('float32')
    >>> rgb = np.full((4, 5, 3), 200, np.uint8)
    >>> y = fastconv.corr2d(rgb, np.full((3, 3), 0.2), padding="same", mode="edge", axes=(0, 1), dtype=np.uint8)
    >>> y.shape, y.dtype, int(y[0, 0, 0])   # 9 * 0.2 * 200 = 360, saturated
    ((4, 5, 3), dtype('uint8'), 255)
    """
    if axes is None and dtype is None and out is None:  # a plain 2-D call: maybe the fast lane (see _lane)
        return _lane.run(X, K, padding, stride, dilation, mode, cval, backend, measure, _plain_call)
    return _call(X, K, padding, stride, dilation, mode, cval, axes, dtype, backend, out, measure)


def _call(X, K, padding, stride, dilation, mode, cval, axes, dtype, backend, out, measure):
    """corr2d's normal path: the argument checks, then the engine."""
    call = _args.corr2d_call(X, K, padding=padding, stride=stride, dilation=dilation, mode=mode, cval=cval,
                             backend=backend, axes=axes, dtype=dtype, out=out, integer_ok=_banded is not None)
    if call.pending:
        if banded_chosen(call, measure):
            return _run_banded(call)
        call = _args.to_planes(call)
    return finish(call, _engine.run, measure)


def banded_chosen(call, measure=None):
    """Does a pending integer call (see ``_args.integer_image``) run on the
    banded kernel? It runs the cython backend's row kernels on the padded
    float32 image, band by band, with the same sums (so it is exact in the
    same sense as cython on float32), minus the float copy of the image and
    of the result. So it runs where cython would: ``backend="cython"``, or
    ``auto`` choosing cython for that float32 problem -- the padded plane,
    channels folded into its columns -- with the planner's own data (model,
    measured wisdom, ``FASTCONV_BACKEND``). Elsewhere (a rank-1 kernel on
    separable, a large one on fft, ...) the float path runs that backend."""
    if call.backend != "auto":
        return call.backend == "cython"
    n, h, w, c = call.x.shape
    (top, bottom), (left, right) = call.geo.pads
    # The float path's problem, as plan() shows it (see _args._merged): one
    # plane per image, channels in its columns, padded per channel first
    # for a non-constant mode.
    mode = call.mode
    if c > 1 and mode != "constant" and call.geo.padded:
        shape, pads, mode = (n, 1, h + top + bottom, (w + left + right) * c), 0, "constant"
    else:
        shape, pads = (n, 1, h, w * c), ((top, bottom), (left * c, right * c))
    (sh, sw), (dh, dw) = call.geo.stride, call.geo.dilation
    geo = Geometry.from_args(shape[2:], call.w.shape, pads, (sh, sw), (dh, dw * c))
    # Only the stand-in's shape and dtype are read, unless candidates are timed on it.
    x = np.zeros(shape, np.float32) if settings.measuring(measure) else np.broadcast_to(np.float32(0), shape)
    x, geo = canonical(x, call.w.shape, geo, mode)
    fill_finite = fill_is_finite(mode, call.cval, geo.padded)
    return planner.choose(x, call.w[None, None], geo, 1, call.exact, measure, fill_finite, True) == "cython"


def _run_banded(call):
    """A pending call on the banded kernel, in the caller's layout (or ``out``)."""
    n, _, _, c = call.x.shape
    ho, wo = call.geo.out_shape
    out, target = call.out, None
    if out is not None and out.flags.aligned and not np.may_share_memory(out, call.x):
        target = out.view()
        try:
            target.shape = (n, ho, wo, c)  # a view of out, or none without a copy
        except AttributeError:
            target = None
    result = np.empty((n, ho, wo, c), call.out_dtype) if target is None else target
    _banded.correlate(call.x, call.w, result, call.geo.pads, call.mode, call.cval, call.geo.stride,
                      call.geo.dilation)
    if target is not None:
        return out
    shaped = result[0, :, :, 0] if call.layout is None else result.reshape(call.layout.shape((ho, wo)))
    if out is None:
        return shaped
    np.copyto(out, shaped)
    return out


def _plain_call(X, K, padding, stride, dilation, mode, cval, backend, measure):
    return _call(X, K, padding, stride, dilation, mode, cval, None, None, backend, None, measure)


def finish(call, run, *args):
    """Run ``run(call, target, *args)`` and hand back the caller's result:
    in ``out`` or a new array, in the caller's layout and result dtype."""
    target = _args.planes_out(call)
    temporary = target is None and call.out_dtype.kind in "iu" and "c" not in (call.x.dtype.kind, call.w.dtype.kind)
    if temporary:  # the float result is only rounded into the integer one: a scratch buffer
        target = _scratch.take("result", (call.x.shape[0], call.w.shape[0]) + call.geo.out_shape, call.dtype)
    result = run(call, target, *args)
    if target is not None and not temporary:
        done = call.out
    elif call.out is None:  # convert first: a channels-last result is then transposed in the (smaller) result dtype
        done = _args.restore(call, store_result(result, call.out_dtype))
    else:
        done = store_result(_args.restore(call, result), call.out_dtype, call.out)
    if temporary:
        _scratch.give_back("result", result)
    if call.scratch is not None:
        _scratch.give_back("input", call.scratch)
    return done


def store_result(result, out_dtype, out=None):
    """``_dtypes.store``, in one compiled pass where the banded kernel's
    rounding serves (a C-contiguous float32 result, an 8/16-bit dtype)."""
    if _banded is not None and result.dtype == np.float32 and out_dtype in _banded.DTYPES \
            and result.flags.c_contiguous and (out is None or (out.dtype == out_dtype and out.flags.c_contiguous)):
        return _banded.store(result, out_dtype, out)
    return store(result, out_dtype, out)


def convolve2d(X: ArrayLike, K: ArrayLike, **kwargs: Any) -> ImageArray:
    """True 2-D convolution: :func:`corr2d` with ``K`` flipped on both
    spatial axes (each kernel of a (C, kh, kw) stack).

    Padding (including "same" for even kernels) is applied to X exactly as
    corr2d applies it.

    Parameters
    ----------
    X, K : array_like
        The image (or stack) and the kernel (kh, kw) or (C, kh, kw), as
        :func:`corr2d` takes them.
    **kwargs
        Every keyword argument of :func:`corr2d` (padding, stride, dilation,
        mode, cval, axes, dtype, backend, out, measure).

    Returns
    -------
    ndarray
        ``corr2d(X, K[..., ::-1, ::-1], **kwargs)``.

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
    K = _args.as_array(K, "K", complex_ok=True)
    if K.ndim not in (2, 3):
        raise ValueError(f"K must be a 2-D kernel (kh, kw) or a (C, kh, kw) stack, got shape {K.shape}")
    return corr2d(X, K[..., ::-1, ::-1], **kwargs)
