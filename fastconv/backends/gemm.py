"""The gemm backend: cross-correlation as matrix multiplication.

For each tile of output positions, im2col copies the patches into a
workspace B of shape (G, C/G*kh*kw, P) and one batched BLAS GEMM computes
``W (G, O/G, C/G*kh*kw) @ B`` straight into ``out`` (no result copy). The
workspace never exceeds ``fastconv.get_workspace_limit()``: tiles are
whole images when they fit, else bands of output rows, else pieces of one
row. 1x1 kernels at stride 1 skip im2col: the GEMM reads the input itself.
BLAS threads follow ``fastconv.get_threads()`` (see ``fastconv._blas``).
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import _blas
from .._im2col import patch_view
from .._workspace import get_workspace_limit

# Tiles larger than this fall out of cache between the im2col copy and the
# GEMM that reads them back. On the 2-core EPYC dev box (L2 1 MiB/core, L3
# 32 MiB, loaded machine, 1 BLAS thread) 1-4 MiB tiles ran 1.1-2x faster
# than 16 MiB ones on 2048^2 3x3/7x7 and (8,64,56,56)x(64,64,3,3).
_CACHE_TILE = 4 * 2**20


def _merge_hw(a):
    """View (..., H, W) as (..., H*W) without copying, or None if impossible."""
    *lead, h, w = a.shape
    *lead_strides, sh, sw = a.strides
    if h > 1 and sh != w * sw:
        return None
    return as_strided(a, shape=(*lead, h * w), strides=(*lead_strides, sw))


def _split_channels(a, groups):
    """View (N, C, H, W) as (N, G, C/G, H, W) (always possible without copy)."""
    n, c, h, w = a.shape
    sn, sc, sh, sw = a.strides
    return as_strided(a, shape=(n, groups, c // groups, h, w), strides=(sn, (c // groups) * sc, sc, sh, sw))


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


def _direct_1x1(xp, wm, out5):
    """1x1 kernel, stride 1: out = W @ x with x read in place; False if the
    layout does not allow it (then the tiled path runs)."""
    b = _merge_hw(xp)
    o = _merge_hw(out5)
    if b is None or o is None:
        return False
    np.matmul(wm, b, out=o)
    return True


def correlate(xp, w, out, stride, dilation, groups):
    n, c, _, _ = xp.shape
    o_total, cg, kh, kw = w.shape
    _, _, ho, wo = out.shape
    k = cg * kh * kw
    wm = np.ascontiguousarray(w).reshape(groups, o_total // groups, k)
    out5 = _split_channels(out, groups)
    with _blas.threads():
        if (kh, kw) == (1, 1) and stride == (1, 1) and _direct_1x1(_split_channels(xp, groups), wm, out5):
            return
        _tiled(xp, wm, out5, (kh, kw), stride, dilation, groups)


def _tiled(xp, wm, out5, kernel_shape, stride, dilation, groups):
    n = xp.shape[0]
    ho, wo = out5.shape[-2:]
    k = wm.shape[-1]
    o_total = groups * wm.shape[1]
    # When out's rows are not evenly spaced (the engine passes sub-rectangles
    # of out), the GEMM writes a scratch result that is then copied: count it.
    direct = out5.shape[-2] == 1 or out5.strides[-2] == wo * out5.strides[-1]
    column_bytes = (groups * k + (0 if direct else o_total)) * xp.itemsize
    nt, rt, ct = plan_tiles(n, ho, wo, column_bytes, min(get_workspace_limit(), _CACHE_TILE))
    view = patch_view(xp, kernel_shape, stride, dilation, (ho, wo), groups)
    work = np.empty(nt * groups * k * rt * ct, dtype=xp.dtype)  # reused by every tile
    result = None if direct else np.empty(nt * o_total * rt * ct, dtype=xp.dtype)
    for n0 in range(0, n, nt):
        n1 = min(n, n0 + nt)
        for i0 in range(0, ho, rt):
            i1 = min(ho, i0 + rt)
            for j0 in range(0, wo, ct):
                j1 = min(wo, j0 + ct)
                _tile(view[n0:n1, ..., i0:i1, j0:j1], wm, out5[n0:n1, ..., i0:i1, j0:j1], work, result)


def _tile(patches, wm, out_tile, work, result):
    """im2col one tile into ``work``, then one batched GEMM into ``out_tile``
    (through ``result`` when out_tile's rows cannot be merged)."""
    nt, g, cg, kh, kw, rt, ct = patches.shape
    cols = work[: patches.size].reshape(patches.shape)
    np.copyto(cols, patches)
    cols = cols.reshape(nt, g, cg * kh * kw, rt * ct)
    target = _merge_hw(out_tile)
    if target is not None:
        np.matmul(wm, cols, out=target)
        return
    tmp = result[: out_tile.size].reshape(out_tile.shape)
    np.matmul(wm, cols, out=_merge_hw(tmp))
    np.copyto(out_tile, tmp)


def describe():
    limit = get_workspace_limit()
    return {
        "kind": "im2col + BLAS GEMM (numpy.matmul), float32 sgemm / float64 dgemm",
        "blas": _blas.describe(),
        "workspace_limit": f"{limit / 2**20:g} MiB",
    }
