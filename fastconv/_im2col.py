"""im2col: the patch matrix that turns cross-correlation into one matrix product.

One strided view (:func:`fastconv._patches.patch_view`: no copy, no Python
loop over pixels) exposes every patch of a padded input; the ``gemm``
backend copies tiles of it into a capped workspace, and the public
:func:`im2col` copies all of it.
"""
from typing import Sequence

import numpy as np

from ._args import patches_call
from ._padding import pad_spatial
from ._patches import patch_view
from ._typing import ArrayLike, FloatArray, Padding, Pair


def im2col(X: ArrayLike, kernel_shape: Sequence[int], *, padding: Padding = 0, stride: Pair = 1, dilation: Pair = 1,
           mode: str = "constant", cval: float = 0.0) -> FloatArray:
    """The patch matrix of a 2-D image: cross-correlation as a matrix product.

    Row ``i*Wo + j`` of the result is the (padded) input window that output
    element (i, j) reads, flattened in the kernel's C order, so that::

        (im2col(X, K.shape, ...) @ K.ravel()).reshape(out_shape) == corr2d(X, K, ...)

    The result is kh*kw times the size of the output, built whole: for large
    inputs, call ``corr2d(..., backend="gemm")``, which builds the same matrix
    in tiles under the workspace cap.

    Parameters
    ----------
    X : array_like, 2-D
        The image.
    kernel_shape : (kh, kw) or int
        The kernel's shape (an int for a square kernel).
    padding, stride, dilation, mode, cval
        Exactly as for :func:`fastconv.corr2d`.

    Returns
    -------
    ndarray
        (Ho*Wo, kh*kw), in corr2d's result dtype (float32 stays float32;
        integers and bools become float64).

    Raises
    ------
    ValueError
        A malformed ``kernel_shape`` or any argument corr2d would refuse.
    TypeError
        An unsupported dtype.

    Examples
    --------
    >>> X = np.arange(9.0).reshape(3, 3)
    >>> cols = fastconv.im2col(X, (2, 2))
    >>> cols
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    >>> cols @ np.array([0.0, 1.0, 2.0, 3.0])
    array([19., 25., 37., 43.])
    """
    call = patches_call(X, kernel_shape, padding=padding, stride=stride, dilation=dilation, mode=mode, cval=cval)
    geo = call.geo
    xp = pad_spatial(call.x, geo.pads, mode, call.cval) if geo.padded else call.x
    view = patch_view(xp, geo.kernel_shape, geo.stride, geo.dilation, geo.out_shape)[0, 0, 0]
    # (kh, kw, Ho, Wo) -> (Ho, Wo, kh, kw): one row per output element.
    (ho, wo), (kh, kw) = geo.out_shape, geo.kernel_shape
    return np.ascontiguousarray(view.transpose(2, 3, 0, 1)).reshape(ho * wo, kh * kw)
