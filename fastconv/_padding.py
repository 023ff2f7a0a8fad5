"""Boundary modes, applied once here for every backend.

fastconv name   numpy.pad     scipy.ndimage   OpenCV border
-------------   -----------   -------------   ----------------------
constant        constant      constant        BORDER_CONSTANT
reflect         reflect       mirror          BORDER_REFLECT_101
symmetric       symmetric     reflect         BORDER_REFLECT
edge            edge          nearest         BORDER_REPLICATE
wrap            wrap          grid-wrap       BORDER_WRAP (not in filter2D)
"""
import numpy as np

NUMPY_NAMES = {"constant": "constant", "reflect": "reflect", "symmetric": "symmetric", "edge": "edge", "wrap": "wrap"}
NDIMAGE_NAMES = {"constant": "constant", "reflect": "mirror", "symmetric": "reflect", "edge": "nearest", "wrap": "grid-wrap"}


def pad_spatial(x, pads, mode, cval):
    """Pad the last two axes of ``x`` by ``pads`` = ((top, bottom), (left, right)).

    Returns a new C-contiguous array (never a view of the caller's data).
    The kernel then reads only this array, so every backend sees identical
    boundary values whatever the mode.
    """
    (top, bottom), (left, right) = pads
    if mode == "constant":
        # Faster than np.pad: one allocation, a fill of the border only.
        h, w = x.shape[-2:]
        out = np.empty(x.shape[:-2] + (h + top + bottom, w + left + right), dtype=x.dtype)
        out[..., :top, :] = cval
        out[..., top + h :, :] = cval
        out[..., top : top + h, :left] = cval
        out[..., top : top + h, left + w :] = cval
        out[..., top : top + h, left : left + w] = x
        return out
    width = [(0, 0)] * (x.ndim - 2) + [pads[0], pads[1]]
    return np.pad(x, width, mode=NUMPY_NAMES[mode])
