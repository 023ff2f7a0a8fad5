"""``scipy.ndimage.correlate`` / ``convolve`` on fastconv (see the package docstring).

ndimage centres a kernel of length k at ``k // 2 + origin``: the input is
padded by that many elements before and ``k - 1`` minus it after, and its
mode names mean ndimage's things ("reflect" is fastconv's "symmetric").
Results keep the input's dtype unless ``output`` says otherwise (complex
weights make a real input's result complex); integer outputs are truncated
toward zero, as ndimage's C cast does. correlate conjugates complex
weights, as ndimage does.
"""
import numpy as np

from .. import _corr2d
from .._dtypes import as_array, output_dtypes

MODES = {"reflect": "symmetric", "grid-mirror": "symmetric", "mirror": "reflect", "nearest": "edge",
         "wrap": "wrap", "grid-wrap": "wrap", "constant": "constant", "grid-constant": "constant"}


def _mode(mode):
    if isinstance(mode, (tuple, list)):
        if len(set(mode)) != 1:
            raise NotImplementedError(f"per-axis modes {mode!r} are not supported; give one mode for both axes")
        mode = mode[0]
    if mode not in MODES:
        raise RuntimeError(f"boundary mode not supported: {mode!r}; accepted (scipy.ndimage's names): "
                           + ", ".join(map(repr, MODES)))
    return MODES[mode]


def _spatial(x, w, axes):
    """(spatial axes of x, 2-D kernel, the kernel's axes among all of x's)."""
    if x.ndim < 2:
        raise NotImplementedError(f"fastconv.compat filters two axes; input has {x.ndim} (use scipy.ndimage)")
    if axes is not None:
        axes = tuple(axes) if isinstance(axes, (tuple, list)) else (axes,)
        if len(axes) != w.ndim:
            raise RuntimeError(f"weights must have {len(axes)} dimensions, one per axis in axes={axes}; "
                               f"got shape {w.shape}")
        if len(axes) != 2:
            raise NotImplementedError(f"fastconv.compat filters exactly two axes; axes={axes}")
        return axes, w
    if w.ndim != x.ndim:
        raise RuntimeError(f"filter weights array has incorrect shape: {w.ndim} dimensions for a "
                           f"{x.ndim}-dimensional input (or pass axes=)")
    spanned = [i for i in range(x.ndim) if w.shape[i] > 1]
    if len(spanned) > 2:
        raise NotImplementedError(f"weights of shape {w.shape} filter {len(spanned)} axes; fastconv.compat "
                                  "filters at most two (use scipy.ndimage for N-D filters)")
    rest = [i for i in range(x.ndim) if i not in spanned]
    pair = tuple(sorted(spanned + rest[len(rest) - (2 - len(spanned)):]))
    return pair, w.reshape(tuple(w.shape[i] for i in pair))


def _origins(origin, ndim, axes, kshape):
    items = list(origin) if isinstance(origin, (tuple, list)) else [origin] * ndim
    if len(items) == ndim and ndim != 2:
        for i, o in enumerate(items):
            if i not in axes and o != 0:
                raise NotImplementedError(f"origin {origin!r} shifts axis {i}, which the filter does not span")
        items = [items[i] for i in axes]
    if len(items) != 2:
        raise RuntimeError(f"origin {origin!r} must be an int or one int per filtered axis")
    for o, k in zip(items, kshape):
        if not -(k // 2) <= o <= (k - 1) // 2:
            raise ValueError(f"invalid origin {o} for a kernel of size {k}: accepted {-(k // 2)} to {(k - 1) // 2}")
    return items


def _filter(x, w, output, mode, cval, origin, axes, flip):
    x, w = as_array(x, "input", complex_ok=True), as_array(w, "weights", complex_ok=True)
    axes, w2 = _spatial(x, w, axes)
    axes = tuple(a % x.ndim for a in axes)
    origins = _origins(origin, x.ndim, axes, w2.shape)
    if flip:  # ndimage's convolve: flipped weights, origins negated (and shifted on even axes)
        w2 = w2[::-1, ::-1]
        origins = [-o - (1 - k % 2) for o, k in zip(origins, w2.shape)]
    elif w2.dtype.kind == "c":  # ndimage's correlate conjugates complex weights
        w2 = np.conj(w2)
    pads = tuple((k // 2 + o, k - 1 - (k // 2 + o)) for k, o in zip(w2.shape, origins))
    mode = _mode(mode)
    if not any(p for pair in pads for p in pair) or mode != "constant":
        mode, cval = ("constant" if not any(p for pair in pads for p in pair) else mode), 0.0
    out = output if isinstance(output, np.ndarray) else None
    default = np.result_type(x.dtype, w.dtype) if w.dtype.kind == "c" and x.dtype.kind != "c" else x.dtype
    out_dtype = out.dtype if out is not None else (default if output is None else np.dtype(output))
    output_dtypes(out_dtype, None, "output")  # refuses what no result can be
    compute = out_dtype if out_dtype.kind in "fc" else np.float64
    y = _corr2d.corr2d(x, w2, padding=pads, mode=mode, cval=cval, axes=axes, dtype=compute)
    if out_dtype.kind in "iu":
        info = np.iinfo(out_dtype)
        y = np.clip(np.trunc(y, out=y), info.min, info.max, out=y)
    if out is None:
        return y.astype(out_dtype, copy=False)
    np.copyto(out, y, casting="unsafe")
    return out


def correlate(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """``scipy.ndimage.correlate`` for two filtered axes."""
    return _filter(input, weights, output, mode, cval, origin, axes, flip=False)


def convolve(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """``scipy.ndimage.convolve`` for two filtered axes."""
    return _filter(input, weights, output, mode, cval, origin, axes, flip=True)
