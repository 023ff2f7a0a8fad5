"""Boundary modes, applied once here for every backend.

fastconv name   numpy.pad     scipy.ndimage   OpenCV border
-------------   -----------   -------------   ----------------------
constant        constant      constant        BORDER_CONSTANT
reflect         reflect       mirror          BORDER_REFLECT_101
symmetric       symmetric     reflect         BORDER_REFLECT
edge            edge          nearest         BORDER_REPLICATE
wrap            wrap          grid-wrap       BORDER_WRAP (not in filter2D)

Each mode is one index map from a position in the padded axis to the
input position it copies (``source_index``). The same map builds the whole
padded array or any window of it, so the engine can pad only the border
strips of a large image instead of copying all of it.
"""
import numpy as np

NUMPY_NAMES = {"constant": "constant", "reflect": "reflect", "symmetric": "symmetric", "edge": "edge", "wrap": "wrap"}
NDIMAGE_NAMES = {"constant": "constant", "reflect": "mirror", "symmetric": "reflect", "edge": "nearest", "wrap": "grid-wrap"}


def source_index(t, n, mode):
    """Input index for each position ``t`` (relative to the input's first
    element, so t < 0 is before it) on an axis of length ``n``; -1 marks a
    position that holds ``cval`` (constant mode). Agrees with numpy.pad for
    any padding width, including widths larger than the axis."""
    if mode == "constant":
        return np.where((t >= 0) & (t < n), t, -1)
    if mode == "edge":
        return np.clip(t, 0, n - 1)
    if mode == "wrap":
        return t % n
    if mode == "symmetric":  # period 2n: 0 1 .. n-1 n-1 .. 1 0
        m = t % (2 * n)
        return np.where(m >= n, 2 * n - 1 - m, m)
    if n == 1:  # reflect about a single element repeats it
        return np.zeros_like(t)
    m = t % (2 * (n - 1))  # reflect, period 2(n-1): 0 1 .. n-1 n-2 .. 1
    return np.where(m >= n, 2 * (n - 1) - m, m)


def _inside_run(index):
    """(start, stop) if ``index`` is one increasing run start..stop-1 of input
    positions, else None."""
    if index.size and index[0] >= 0 and index[-1] - index[0] == index.size - 1:
        if np.all(np.diff(index) == 1):
            return int(index[0]), int(index[-1]) + 1
    return None


def padded_window(x, rows, cols, pads, mode, cval):
    """Rows ``rows`` = (r0, r1) and columns ``cols`` = (c0, c1) of ``x``
    padded by ``pads`` = ((top, bottom), (left, right)), as an array over the
    last two axes. A window wholly inside the input is returned as a view
    (read-only use only); anything else is a new C-contiguous array."""
    (top, _), (left, _) = pads
    h, w = x.shape[-2:]
    ri = source_index(np.arange(rows[0], rows[1]) - top, h, mode)
    ci = source_index(np.arange(cols[0], cols[1]) - left, w, mode)
    row_run, col_run = _inside_run(ri), _inside_run(ci)
    if row_run and col_run:
        return x[..., row_run[0] : row_run[1], col_run[0] : col_run[1]]
    out = np.empty(x.shape[:-2] + (ri.size, ci.size), dtype=x.dtype)
    if mode == "constant":
        # cval everywhere, then the in-range block (one slice copy)
        out[...] = cval
        rin, cin = np.flatnonzero(ri >= 0), np.flatnonzero(ci >= 0)
        if rin.size and cin.size:
            out[..., rin[0] : rin[-1] + 1, cin[0] : cin[-1] + 1] = x[..., ri[rin[0]] : ri[rin[-1]] + 1, ci[cin[0]] : ci[cin[-1]] + 1]
        return out
    np.take(x.take(ri, axis=-2), ci, axis=-1, out=out)
    return out


def pad_spatial(x, pads, mode, cval):
    """``x`` padded by ``pads`` on its last two axes, with boundary ``mode``."""
    (top, bottom), (left, right) = pads
    h, w = x.shape[-2:]
    return padded_window(x, (0, top + h + bottom), (0, left + w + right), pads, mode, cval)
