"""Integer images in, integer images out (``corr2d(img_uint8, k,
dtype=np.uint8)``, ``compat.filter2D(img, -1, k)``) without a float copy of
the image or of the result: the compiled bands of ``_banded.pyx``.

Not a registry row: its operands are the caller's integer image and an
integer output, not the engine's float planes. It computes what the cython
backend computes on the padded float32 image -- the same row kernels, the
same products added in the same order, so it is exact in the same sense
(integer images with integer-valued kernels: exact while sums stay below
2**24) -- and ``fastconv._corr2d`` runs it where ``auto`` picks cython for
that float32 problem (or ``backend="cython"`` is asked). Importing this
module fails when the extension was not built; the callers then keep the
float path.
"""
import numpy as np

from .. import settings
from .._padding import source_index
from . import _banded

# Input and output dtypes the compiled kernel has (float32 holds every value).
DTYPES = frozenset(np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16))


def correlate(x, w, out, pads, mode, cval, stride, dilation):
    """``out`` (N, Ho, Wo, C) = ``x`` (N, H, W, C) padded by ``pads`` =
    ((top, bottom), (left, right)) with boundary ``mode`` (fill ``cval``),
    correlated with the (kh, kw) float32 kernel ``w`` at ``stride`` and
    ``dilation``, each channel alone; rounded to nearest (ties to even) and
    saturated to out's dtype, NaN giving 0 (as ``fastconv._dtypes.store``).
    x and out: native byte order, aligned, any strides (column stride > 1
    only with C == 1); out must not overlap x."""
    (top, bottom), (left, right) = pads
    h, wd = x.shape[1:3]
    rows = source_index(np.arange(-top, h + bottom, dtype=np.intp), h, mode).astype(np.intp, copy=False)
    cols = source_index(np.arange(-left, wd + right, dtype=np.intp), wd, mode).astype(np.intp, copy=False)
    _banded.correlate(x, w, out, rows, cols, left, cval, stride[0], stride[1], dilation[0], dilation[1],
                      settings.get_threads(), settings.SERIAL_MACS)


def store(result, out_dtype, out=None):
    """``fastconv._dtypes.store`` for a C-contiguous float32 ``result`` and
    an 8/16-bit ``out_dtype`` (``DTYPES``) in one compiled pass; ``out``
    (C-contiguous, of ``out_dtype``) or a new array. Returns it."""
    target = np.empty(result.shape, out_dtype) if out is None else out
    _banded.store(result.reshape(-1), target.reshape(-1))
    return target
