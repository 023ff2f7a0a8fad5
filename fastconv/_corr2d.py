"""The public 2-D functions: one argument normalisation, then the engine."""
from . import _args, _engine
from ._dtypes import store


def corr2d(X, K, *, padding=0, stride=1, dilation=1, mode="constant", cval=0.0, axes=None, dtype=None,
           backend="auto", out=None, measure=None):
    """2-D cross-correlation of image ``X`` with kernel ``K``.

    ``Y[i, j] = sum_{a, b} K[a, b] * Xp[i*sh + a*dh, j*sw + b*dw]``, where Xp
    is X padded by ``padding`` with boundary ``mode``.

    Parameters
    ----------
    X : array (H, W), or a stack (..., H, W) whose leading axes are a batch
        Colour images keep their channel axis anywhere: ``axes`` names the
        two spatial axes, e.g. ``axes=(0, 1)`` for an (H, W, 3) image.
    K : array (kh, kw), applied to every plane of X; or (C, kh, kw), one
        kernel per channel, C matching X's last non-spatial axis.
        All planes are computed in one backend call.
    padding : int, (ph, pw), ((top, bottom), (left, right)), "valid", "same" or "full"
        "same" keeps the input's size at stride 1; an even kernel's extra
        row/column of padding goes at the bottom/right (as PyTorch does).
        "full" pads ``dilation*(k-1)`` on both sides.
    stride, dilation : int or (h, w), each >= 1
    mode : "constant" (with ``cval``), "reflect", "symmetric", "edge", "wrap"
        numpy.pad's names: "reflect" is numpy's (``c b a | a b c d | d c b``
        without repeating the edge), which scipy.ndimage calls "mirror".
        scipy.ndimage's unambiguous names are accepted as aliases: "mirror",
        "nearest" (= "edge"), "grid-wrap" (= "wrap"), "grid-constant"
        (= "constant"); see the README's table. A ``mode`` other than
        "constant" without padding, or a non-zero ``cval`` where nothing is
        filled with it, warns (:class:`fastconv.IgnoredArgumentWarning`).
    axes : (int, int), optional
        The spatial (row, column) axes of X; default its last two.
    dtype : dtype, optional
        The result dtype (default: the README's dtype table; an image keeps
        its own precision). float16/32/64, or an integer dtype: rounded to
        nearest and saturated, as ``cv2.filter2D(..., ddepth=-1)``.
    backend : "auto" or one of :func:`fastconv.available_backends`
    out : ndarray of the output shape, optional
        Its dtype is the result dtype (any dtype ``dtype`` accepts).
    measure : bool, optional
        With ``backend="auto"``: True times the candidate backends the first
        time this problem's signature is seen and keeps the winner (None:
        the ``FASTCONV_PLANNER`` environment variable). See
        :func:`fastconv.plan`.

    Returns the result in X's layout (batch and channel axes where X has
    them). Inputs are never modified.
    """
    call = _args.corr2d_call(X, K, padding=padding, stride=stride, dilation=dilation, mode=mode, cval=cval,
                             backend=backend, axes=axes, dtype=dtype, out=out)
    return finish(call, _engine.run, measure)


def finish(call, run, *args):
    """Run ``run(call, target, *args)`` and hand back the caller's result:
    in ``out`` or a new array, in the caller's layout and result dtype."""
    target = _args.planes_out(call)
    result = run(call, target, *args)
    if target is not None:
        return call.out
    return store(_args.restore(call, result), call.out_dtype, call.out)


def convolve2d(X, K, **kwargs):
    """True 2-D convolution: :func:`corr2d` with ``K`` flipped on both
    spatial axes (each kernel of a (C, kh, kw) stack).

    Takes the same keyword arguments as :func:`corr2d`; padding (including
    "same" for even kernels) is applied to X exactly as corr2d applies it.
    """
    K = _args.as_array(K, "K", complex_ok=True)
    if K.ndim not in (2, 3):
        raise ValueError(f"K must be a 2-D kernel (kh, kw) or a (C, kh, kw) stack, got shape {K.shape}")
    return corr2d(X, K[..., ::-1, ::-1], **kwargs)
