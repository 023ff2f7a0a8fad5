"""Which backend runs a call made with ``backend="auto"``.

For now a simple preference rule: the first compiled backend that loads.
(The cost-model dispatcher replaces this.) ``FASTCONV_BACKEND`` forces a
backend for debugging.
"""
import os

from . import backends

_PREFERENCE = ("cython", "numba", "gemm", "naive")


def choose(x, w, geo, groups):
    """Name of the backend to run ``x`` (N, C, H, W) against ``w`` with ``geo``."""
    forced = os.environ.get("FASTCONV_BACKEND")
    if forced:
        return forced
    for name in _PREFERENCE:
        if backends.load(name) is not None:
            return name
    raise RuntimeError("no fastconv backend could be loaded")  # naive always loads
