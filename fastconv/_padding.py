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
import cmath

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


def padded_window(x, rows, cols, pads, mode, cval):
    """Rows ``rows`` = (r0, r1) and columns ``cols`` = (c0, c1) of ``x``
    padded by ``pads`` = ((top, bottom), (left, right)), as an array over the
    last two axes. A window wholly inside the input is returned as a view
    (read-only use only); anything else is a new C-contiguous array."""
    (top, _), (left, _) = pads
    h, w = x.shape[-2:]
    # Window bounds relative to the input, and the part of them inside it.
    (t0, t1), (u0, u1) = (rows[0] - top, rows[1] - top), (cols[0] - left, cols[1] - left)
    (i0, i1), (j0, j1) = (max(t0, 0), min(t1, h)), (max(u0, 0), min(u1, w))
    if (i0, i1, j0, j1) == (t0, t1, u0, u1):
        return x[..., t0:t1, u0:u1]
    out = np.empty(x.shape[:-2] + (t1 - t0, u1 - u0), dtype=x.dtype)
    if mode == "constant":
        # The in-range block is one slice copy; cval fills only what is left.
        a0, a1, b0, b1 = i0 - t0, max(i1 - t0, i0 - t0), j0 - u0, max(j1 - u0, j0 - u0)
        out[..., :a0, :] = cval
        out[..., a1:, :] = cval
        out[..., a0:a1, :b0] = cval
        out[..., a0:a1, b1:] = cval
        out[..., a0:a1, b0:b1] = x[..., i0:max(i1, i0), j0:max(j1, j0)]
        return out
    # The in-range block is one slice copy; only the border rows and columns
    # go through the index map (fancy indexing over the whole window cost
    # 5x numpy.pad on a 256x256 image).
    a0, a1 = (i0 - t0, i1 - t0) if i1 > i0 else (0, 0)  # (0, 0): no row of the window is in range
    b0, b1 = (j0 - u0, j1 - u0) if j1 > j0 else (0, 0)
    ci = source_index(np.arange(u0, u1), w, mode)
    if a1 > a0:
        inside = x[..., i0:i1, :]
        out[..., a0:a1, b0:b1] = inside[..., j0:j0 + (b1 - b0)]
        for c0, c1 in ((0, b0), (b1, out.shape[-1])):
            if c1 > c0:
                out[..., a0:a1, c0:c1] = inside.take(ci[c0:c1], axis=-1)
    for r0, r1 in ((0, a0), (a1, out.shape[-2])):
        if r1 > r0:
            ri = source_index(np.arange(t0 + r0, t0 + r1), h, mode)
            out[..., r0:r1, :] = x.take(ri, axis=-2).take(ci, axis=-1)
    return out


def pad_spatial(x, pads, mode, cval):
    """``x`` padded by ``pads`` on its last two axes, with boundary ``mode``."""
    (top, bottom), (left, right) = pads
    h, w = x.shape[-2:]
    return padded_window(x, (0, top + h + bottom), (0, left + w + right), pads, mode, cval)


def pad_channels_last(x, pads, mode, out):
    """``x`` (N, H, W, C) padded by ``pads`` on its H and W axes with
    ``mode`` (not "constant": a constant fill does not care which channel it
    fills, so the engine pads the merged columns itself), written into
    ``out`` (N, H + top + bottom, W + left + right, C) of any dtype:
    converted and padded in one pass. Returns ``out``."""
    (top, bottom), (left, right) = pads
    h, w = x.shape[1:3]
    middle = out[:, top:top + h]
    np.copyto(middle[:, :, left:left + w], x, casting="unsafe")
    if left or right:  # border columns copy converted inner columns
        border = np.r_[0:left, left + w:left + w + right]
        middle[:, :, border] = middle[:, :, left + source_index(border - left, w, mode)]
    if top or bottom:  # border rows copy whole padded rows
        border = np.r_[0:top, top + h:top + h + bottom]
        out[:, border] = out[:, top + source_index(border - top, h, mode)]
    return out


def gather(x, rows, cols, pads, mode, cval, dtype):
    """``x`` padded by ``pads`` with ``mode``, at padded-axis indices ``rows``
    and ``cols`` only (1-D int arrays; None keeps that axis as it is,
    unpadded), as a new C-contiguous ``dtype`` array. Reads only the
    elements it returns, so ``x`` may be a huge virtual array
    (``np.broadcast_to``). Every mode pads axis by axis, so the axis kept
    can be padded afterwards."""
    h, w = x.shape[-2:]
    index = []
    fill = []
    for idx, n, (before, after) in ((rows, h, pads[0]), (cols, w, pads[1])):
        if idx is None:
            idx = np.arange(before, before + n)
        src = source_index(idx - before, n, mode)
        index.append(np.maximum(src, 0))
        fill.append(src < 0)
    out = np.asarray(x[..., index[0][:, None], index[1][None, :]], dtype=dtype)
    if mode == "constant":
        out[..., fill[0], :] = cval
        out[..., fill[1]] = cval
    return np.ascontiguousarray(out)


def fill_is_finite(mode, cval, padded):
    """False when padding adds NaN or inf (``mode="constant"`` with such a
    ``cval``): the padded input is then not finite, though x may be."""
    return mode != "constant" or not padded or cmath.isfinite(cval)  # (cval may be complex)
