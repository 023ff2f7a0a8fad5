"""The strided view that exposes every patch of a padded input (no copy),
and the two pieces every consumer of it shares: how to cut it into tiles
under a workspace budget (:func:`plan_tiles`) and how to copy one tile
into a patch matrix (:func:`patch_matrix`). The ``gemm`` backend, the
public ``im2col`` and the weight gradient (``fastconv._grad_weight``) read
patches through this module."""
import numpy as np
from numpy.lib.stride_tricks import as_strided

# Tiles larger than this fall out of cache between the im2col copy and the
# GEMM that reads them back. On the 2-core EPYC dev box (L2 1 MiB/core, L3
# 32 MiB, loaded machine, 1 BLAS thread) 1-4 MiB tiles ran 1.1-2x faster
# than 16 MiB ones on 2048^2 3x3/7x7 and (8,64,56,56)x(64,64,3,3).
CACHE_TILE = 4 * 2**20


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


def plan_tiles(n_images, ho, wo, column_bytes, budget):
    """(images, rows, cols) per tile so that a tile's workspace,
    images*rows*cols*column_bytes, stays within ``budget`` (never below one
    column): whole images if they fit, else bands of rows, else pieces of
    one row."""
    per_image = ho * wo * column_bytes
    if per_image <= budget:
        return min(n_images, budget // per_image), ho, wo
    per_row = wo * column_bytes
    if per_row <= budget:
        return 1, min(ho, budget // per_row), wo
    return 1, 1, min(wo, max(1, budget // column_bytes))


def patch_matrix(tile, work, fold_images):
    """Copy ``tile``, a (m, G, Cg, kh, kw, rt, ct) piece of :func:`patch_view`,
    into the flat buffer ``work``; returns it as patch matrices of K =
    Cg*kh*kw rows: (G, K, m*rt*ct) with the images folded into the columns
    (``fold_images``), else (m, G, K, rt*ct).

    The matrices are K-major, or position-major (a transposed view, which
    BLAS reads without a copy) when kw > ct: the copy runs along whichever
    of the output columns and the kernel columns is longer."""
    m, g, cg, kh, kw, rt, ct = tile.shape
    k, p = cg * kh * kw, rt * ct
    lead, lead_axes = ((g, m), (1, 0)) if fold_images else ((m, g), (0, 1))
    matrices = (g,) if fold_images else (m, g)  # the leading axes of the result
    if kw > ct:
        cols = work[: tile.size].reshape(*lead, rt, ct, cg, kh, kw)
        np.copyto(cols, tile.transpose(*lead_axes, 5, 6, 2, 3, 4))
        return cols.reshape(*matrices, -1, k).swapaxes(-1, -2)
    if fold_images:
        cols = work[: tile.size].reshape(g, cg, kh, kw, m, rt, ct)
        np.copyto(cols, tile.transpose(1, 2, 3, 4, 0, 5, 6))
    else:
        cols = work[: tile.size].reshape(tile.shape)
        np.copyto(cols, tile)
    return cols.reshape(*matrices, k, -1)
