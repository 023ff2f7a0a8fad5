"""The strided view that exposes every patch of a padded input (no copy):
the matrix im2col copies and the ``gemm`` backend tiles."""
from numpy.lib.stride_tricks import as_strided


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
