"""im2col: the patch matrix that turns cross-correlation into one matrix product.

One strided view (no copy, no Python loop over pixels) exposes every
patch of a padded input; the ``gemm`` backend copies tiles of it into a
capped workspace, and the public :func:`im2col` copies all of it.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._dtypes import as_array, as_kernel_operand, result_dtype
from ._padding import pad_spatial
from ._params import Geometry, check_mode, positive_pair


def patch_view(xp, kernel_shape, stride, dilation, out_shape, groups=1):
    """Read-only view of every patch of ``xp`` (N, C, Hp, Wp).

    Returns shape (N, G, C/G, kh, kw, Ho, Wo) with
    ``view[n, g, c, a, b, i, j] == xp[n, g*C/G + c, i*sh + a*dh, j*sw + b*dw]``.
    Reshaped to (N, G, C/G*kh*kw, Ho*Wo) after a copy, that is the matrix
    the weights (G, O/G, C/G*kh*kw) multiply. The caller guarantees the
    geometry fits inside ``xp`` (``Geometry`` checked it).
    """
    n, c, _, _ = xp.shape
    kh, kw = kernel_shape
    (sh, sw), (dh, dw) = stride, dilation
    sn, sc, sy, sx = xp.strides
    cg = c // groups
    return as_strided(
        xp,
        shape=(n, groups, cg, kh, kw) + tuple(out_shape),
        strides=(sn, cg * sc, sc, dh * sy, dw * sx, sh * sy, sw * sx),
        writeable=False,
    )


def im2col(X, kernel_shape, *, padding=0, stride=1, dilation=1, mode="constant", cval=0.0):
    """The patch matrix of a 2-D image: cross-correlation as a matrix product.

    Returns an array of shape (Ho*Wo, kh*kw) whose row ``i*Wo + j`` is the
    (padded) input window that output element (i, j) reads, flattened in
    the kernel's C order, so that::

        (im2col(X, K.shape, ...) @ K.ravel()).reshape(out_shape) == corr2d(X, K, ...)

    ``kernel_shape`` is (kh, kw) (or an int for a square kernel); the
    keyword arguments mean exactly what they mean for :func:`fastconv.corr2d`,
    and the dtype follows its rules (float32 stays float32; integers and
    bools become float64). The result is kh*kw times the size of the output,
    built whole: for large inputs, call ``corr2d(..., backend="gemm")``,
    which builds the same matrix in tiles under the workspace cap.
    """
    from ._api import _check_2d  # the same shape checks corr2d makes

    X = as_array(X, "X")
    _check_2d(X, "X")
    kernel_shape = positive_pair(kernel_shape, "kernel_shape")
    dtype = result_dtype(("X", X))
    geo = Geometry.from_args(X.shape, kernel_shape, padding, stride, dilation)
    check_mode(mode)
    x = as_kernel_operand(X, dtype)[None, None]
    xp = pad_spatial(x, geo.pads, mode, float(cval)) if geo.padded else x
    view = patch_view(xp, kernel_shape, geo.stride, geo.dilation, geo.out_shape)[0, 0, 0]
    # (kh, kw, Ho, Wo) -> (Ho, Wo, kh, kw): one row per output element.
    ho, wo = geo.out_shape
    return np.ascontiguousarray(view.transpose(2, 3, 0, 1)).reshape(ho * wo, kernel_shape[0] * kernel_shape[1])
