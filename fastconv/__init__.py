"""fastconv: fast, verified 2-D cross-correlation and convolution on NumPy arrays.

Nothing heavy is imported here: backends (the Cython extension, numba)
load on first use, so ``import fastconv`` stays fast.
"""
from . import kernels
from ._args import IgnoredArgumentWarning
from ._conv2d import conv2d
from ._conv_transpose import conv_transpose2d, conv_transpose2d_backward
from ._corr2d import convolve2d, corr2d
from ._geometry import output_shape
from ._im2col import im2col
from ._lane import fast_lane
from ._receptive import receptive_field
from ._toeplitz import as_matrix
from ._version import __version__ as __version__  # re-exported (mypy --strict)
from .backends import available_backends
from .grad import ConvGrads, CorrGrads, conv2d_backward, corr2d_backward
from .layers import Conv2D
from .planner import calibrate, explain, export_wisdom, forget_wisdom, import_wisdom, plan, warm
from .settings import get_exact, get_threads, get_workspace_limit, set_exact, set_threads, set_workspace_limit
from .tools.info import show_config

__all__ = [
    "Conv2D",
    "ConvGrads",
    "CorrGrads",
    "IgnoredArgumentWarning",
    "as_matrix",
    "available_backends",
    "calibrate",
    "conv2d",
    "conv2d_backward",
    "conv_transpose2d",
    "conv_transpose2d_backward",
    "convolve2d",
    "corr2d",
    "corr2d_backward",
    "explain",
    "export_wisdom",
    "fast_lane",
    "forget_wisdom",
    "get_exact",
    "get_threads",
    "get_workspace_limit",
    "im2col",
    "import_wisdom",
    "kernels",
    "output_shape",
    "plan",
    "receptive_field",
    "set_exact",
    "set_threads",
    "set_workspace_limit",
    "show_config",
    "warm",
]
