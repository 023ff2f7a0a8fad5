"""fastconv: fast, verified 2-D cross-correlation and convolution on NumPy arrays.

Nothing heavy is imported here: backends (the Cython extension, numba)
load on first use, so ``import fastconv`` stays fast.
"""
from ._api import convolve2d, corr2d
from ._config import show_config
from ._shapes import output_shape
from ._threads import get_threads, set_threads
from .backends import available_backends

__version__ = "0.1.0"

__all__ = [
    "available_backends",
    "convolve2d",
    "corr2d",
    "get_threads",
    "output_shape",
    "set_threads",
    "show_config",
]
