"""``cv2.filter2D`` on fastconv (see the package docstring), with OpenCV's
constants (same values, so ``cv2.BORDER_*`` and ``cv2.CV_*`` work too).

``anchor`` is (x, y) = (column, row) inside the kernel, (-1, -1) its centre
``(kw // 2, kh // 2)``: the image is padded by the anchor before and the
rest of the kernel after. ``ddepth`` -1 keeps the source depth; results
are rounded to nearest (ties to even) and saturated to integer depths, as
OpenCV's ``saturate_cast`` does. Multi-channel (H, W, C) images filter each
channel with the same kernel, in one call.
"""
import numpy as np

from .. import _corr2d
from .._dtypes import as_array

BORDER_CONSTANT, BORDER_REPLICATE, BORDER_REFLECT, BORDER_WRAP, BORDER_REFLECT_101, BORDER_TRANSPARENT = range(6)
BORDER_REFLECT101 = BORDER_DEFAULT = BORDER_REFLECT_101
BORDER_ISOLATED = 16
CV_8U, CV_8S, CV_16U, CV_16S, CV_32S, CV_32F, CV_64F, CV_16F = range(8)

_BORDERS = {BORDER_CONSTANT: "constant", BORDER_REPLICATE: "edge", BORDER_REFLECT: "symmetric",
            BORDER_REFLECT_101: "reflect"}
_DEPTHS = {CV_8U: np.uint8, CV_8S: np.int8, CV_16U: np.uint16, CV_16S: np.int16, CV_32S: np.int32,
           CV_32F: np.float32, CV_64F: np.float64, CV_16F: np.float16}
_NAMES = {CV_8U: "CV_8U", CV_8S: "CV_8S", CV_16U: "CV_16U", CV_16S: "CV_16S", CV_32S: "CV_32S", CV_32F: "CV_32F",
          CV_64F: "CV_64F", CV_16F: "CV_16F"}
# The (source depth -> destination depths) pairs cv2.filter2D accepts.
_ALLOWED = {CV_8U: (CV_8U, CV_16U, CV_16S, CV_32F, CV_64F), CV_16U: (CV_16U, CV_32F, CV_64F),
            CV_16S: (CV_16S, CV_32F, CV_64F), CV_32F: (CV_32F, CV_64F), CV_64F: (CV_64F,)}


def _depth_of(dtype):
    for depth, dt in _DEPTHS.items():
        if np.dtype(dt) == dtype:
            return depth
    raise TypeError(f"src has dtype {dtype}, which filter2D does not take; accepted: uint8, uint16, int16, "
                    "float32, float64")


def _border(borderType):
    border = int(borderType) & ~BORDER_ISOLATED  # the whole image is the ROI: ISOLATED changes nothing
    if border == BORDER_WRAP:
        raise ValueError("borderType BORDER_WRAP is not supported by filter2D (OpenCV refuses it too: "
                         "columnBorderType != BORDER_WRAP); use fastconv.corr2d(..., mode='wrap')")
    if border not in _BORDERS:
        raise ValueError(f"borderType {borderType!r} is not supported; accepted: BORDER_CONSTANT (0), "
                         "BORDER_REPLICATE (1), BORDER_REFLECT (2), BORDER_REFLECT_101 = BORDER_DEFAULT (4), "
                         "each optionally | BORDER_ISOLATED (16)")
    return _BORDERS[border]


def _anchor(anchor, kh, kw):
    ax, ay = (int(v) for v in anchor)
    ax, ay = (kw // 2 if ax == -1 else ax), (kh // 2 if ay == -1 else ay)
    if not (0 <= ax < kw and 0 <= ay < kh):
        raise ValueError(f"anchor {tuple(anchor)} lies outside the {kh}x{kw} kernel; accepted: (x, y) with "
                         f"0 <= x < {kw}, 0 <= y < {kh}, or -1 for the centre")
    return ax, ay


def filter2D(src, ddepth, kernel, dst=None, anchor=(-1, -1), delta=0, borderType=BORDER_DEFAULT):
    """``cv2.filter2D``: correlate ``src`` (H, W) or (H, W, C) with a 2-D kernel."""
    x, k = as_array(src, "src"), np.asarray(as_array(kernel, "kernel"), dtype=np.float64)
    if x.ndim not in (2, 3):
        raise ValueError(f"src must be (H, W) or (H, W, C), got shape {x.shape}")
    if k.ndim != 2:
        raise ValueError(f"kernel must be a single-channel 2-D array, got shape {k.shape}")
    sdepth = _depth_of(x.dtype)
    ddepth = sdepth if ddepth == -1 else ddepth
    if sdepth not in _ALLOWED or ddepth not in _ALLOWED[sdepth]:
        allowed = ", ".join(["-1"] + [_NAMES[d] for d in _ALLOWED.get(sdepth, ())])
        raise ValueError(f"ddepth {ddepth!r} is not supported for a {_NAMES[sdepth]} source; accepted: {allowed}")
    out_dtype = np.dtype(_DEPTHS[ddepth])
    mode = _border(borderType)
    (kh, kw) = k.shape
    ax, ay = _anchor(anchor, kh, kw)
    pads = ((ay, kh - 1 - ay), (ax, kw - 1 - ax))
    if not any(p for pair in pads for p in pair):
        mode = "constant"
    compute = np.float64 if out_dtype == np.float64 else np.float32
    # Without delta, corr2d rounds and saturates to an integer ddepth itself
    # (as cv2 does), before the result leaves the engine's planes.
    y = _corr2d.corr2d(x, k, padding=pads, mode=mode, axes=(0, 1) if x.ndim == 3 else None,
                       dtype=compute if delta else out_dtype)
    if delta:  # added before the rounding, as OpenCV does
        y += delta
        y = _corr2d.store_result(y, out_dtype)
    if dst is None:
        return y
    if not isinstance(dst, np.ndarray) or dst.shape != x.shape or dst.dtype != out_dtype:
        raise ValueError(f"dst must be an ndarray of shape {x.shape} and dtype {out_dtype}")
    np.copyto(dst, y, casting="unsafe")
    return dst
