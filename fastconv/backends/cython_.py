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
from ..settings import get_threads
from . import _cython

if _cython.OPENMP:  # threadpoolctl.threadpool_limits lowers this runtime's count: get_threads() follows it
    settings.follow_openmp(_cython.max_threads)


# One image plane in one C call, zero border in the kernel (fastconv._lane's
# entry point; see _cython.plane for what it takes and when it returns None).
plane = _cython.plane


def correlate(xp, w, out, stride, dilation, groups):
    # The kernels read each output channel's taps flat; weights are small.
    _cython.correlate(xp, np.ascontiguousarray(w), out, stride, dilation, groups, get_threads(),
                      settings.SERIAL_MACS)


def correlate_zero_border(xp, w, out, pads, stride, dilation, groups):
    # The kernel skips the border's taps (one input channel per group and a
    # finite w; else False, and the engine pads).
    return _cython.correlate(xp, np.ascontiguousarray(w), out, stride, dilation, groups, get_threads(),
                             settings.SERIAL_MACS, (pads[0][0], pads[1][0]))


def describe():
    return {
        "kind": "compiled C row kernels via Cython, float32/float64",
        "openmp": _cython.OPENMP,
        "max_threads": _cython.max_threads() if _cython.OPENMP else 1,
        "threads": get_threads() if _cython.OPENMP else 1,
        "simd": _cython.SIMD,
    }
