"""The cython backend: compiled C row kernels (one per instruction set,
AVX-512 / AVX2+FMA / SSE2, the best the CPU runs picked at import), output
rows split over OpenMP threads, GIL released throughout.

The kernels live in _corr_kernels.h (instantiated from row.template.c);
_cython.pyx is the typed layer that threads them. The extension imports
nothing from fastconv: this module passes it the thread count and the serial
threshold. Importing this module fails (and the registry reports why) when
the extension was not built.
"""
import numpy as np

from .. import settings
from .._padding import source_index
from ..settings import get_threads
from . import _cython

if _cython.OPENMP:  # threadpoolctl.threadpool_limits lowers this runtime's count: get_threads() follows it
    settings.follow_openmp(_cython.max_threads)


# One image plane in one C call, zero border in the kernel (fastconv._lane's
# entry point; see _cython.plane for what it takes and when it returns None).
plane = _cython.plane


# bias (the registry row says takes_bias): added as each output is stored.
def correlate(xp, w, out, stride, dilation, groups, bias=None):
    # The kernels read each output channel's taps flat; weights are small.
    _cython.correlate(xp, np.ascontiguousarray(w), out, stride, dilation, groups, get_threads(),
                      settings.SERIAL_MACS, bias=bias)


def correlate_zero_border(xp, w, out, pads, stride, dilation, groups, bias=None):
    # The kernel skips the border's taps (one input channel per group and a
    # finite w; else False, and the engine pads).
    return _cython.correlate(xp, np.ascontiguousarray(w), out, stride, dilation, groups, get_threads(),
                             settings.SERIAL_MACS, (pads[0][0], pads[1][0]), bias=bias)


def correlate_mapped_border(xp, w, out, pads, stride, dilation, groups, mode, bias=None):
    # Reflect, symmetric, edge and wrap borders: every padded position is an
    # input element, so the kernel reads each tap at its source (one input
    # channel per group; else False, and the engine pads).
    if mode not in _MAPPED_MODES:
        return False
    rmap, cmap = (source_index(np.arange(n) - pad, size, mode).astype(np.intp, copy=False)
                  for n, pad, size in ((_reads(out.shape[2], stride[0], w.shape[2], dilation[0]), pads[0][0], xp.shape[2]),
                                       (_reads(out.shape[3], stride[1], w.shape[3], dilation[1]), pads[1][0], xp.shape[3])))
    return _cython.correlate(xp, np.ascontiguousarray(w), out, stride, dilation, groups, get_threads(),
                             settings.SERIAL_MACS, (pads[0][0], pads[1][0]), rmap, cmap, bias)


_MAPPED_MODES = frozenset(("reflect", "symmetric", "edge", "wrap"))


def _reads(n_out, stride, k, dilation):
    """Padded positions the output reads along one axis."""
    return (n_out - 1) * stride + (k - 1) * dilation + 1 if n_out > 0 else 0


def describe():
    return {
        "kind": "compiled C row kernels via Cython, float32/float64",
        "openmp": _cython.OPENMP,
        "max_threads": _cython.max_threads() if _cython.OPENMP else 1,
        "threads": get_threads() if _cython.OPENMP else 1,
        "simd": _cython.SIMD,
    }
