"""The gemm backend: cross-correlation as matrix multiplication.

For each tile of output positions, im2col copies the patches into a
workspace B of shape (G, C/G*kh*kw, P) and one batched BLAS GEMM computes
``W (G, O/G, C/G*kh*kw) @ B`` straight into ``out`` (no result copy). The
workspace never exceeds ``fastconv.get_workspace_limit()``: tiles are
whole images when they fit, else bands of output rows, else pieces of one
row. 1x1 kernels at stride 1 skip im2col: the GEMM reads the input itself.
When a per-image product is skinny (few output positions, as in the
weight gradient, where they are the kh*kw taps), the images of a tile are
folded into the GEMM's columns instead (``_folded``). The patch copy runs
along whichever of Wo and kw is longer (the workspace is K-major or
position-major; BLAS reads the latter transposed).
The GEMMs run through ``fastconv._blas.matmul``: split over fastconv's
threads, BLAS on one thread in each.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import _blas
from .._patches import CACHE_TILE, patch_matrix, patch_view, plan_tiles
from ..settings import get_workspace_limit

# float32 products longer than this many taps (rows of W) are summed as
# partial products of at most this many, each added into the result: one
# sgemm accumulates a whole row of K in one register, which drifts (biased on
# smooth images: scipy.ndimage's test_gauss03, a 9x9 Gaussian on a 100x100
# ramp, sums to -2.07 off instead of -0.14 rounding once from float64);
# blocks of 64 bring it to about -0.65. Only for products of at most
# _K_BLOCK_ROWS output channels (image filters): there the GEMM streams its
# columns and the extra products cost little, while a conv layer's GEMM
# (many output channels) ran 3-5x slower in blocks of 64 (measured on
# (8,64,56,56)x(64,64,3,3)) and its BLAS already blocks K by hundreds, as
# the peers' sgemm does. float64 drifts far below any peer's float32.
_K_BLOCK = 64
_K_BLOCK_ROWS = 4


def _matmul(wm, cols, out):
    """``out = wm @ cols`` (batched); float32 image filters in K blocks."""
    k = wm.shape[-1]
    if wm.dtype != np.float32 or _K_BLOCK is None or k <= _K_BLOCK or wm.shape[-2] > _K_BLOCK_ROWS:
        _blas.matmul(wm, cols, out)
        return
    step = -(-k // -(-k // _K_BLOCK))  # equal blocks, none longer than _K_BLOCK
    _blas.matmul(wm[..., :step], cols[..., :step, :], out)
    part = np.empty_like(out)
    for k0 in range(step, k, step):
        _blas.matmul(wm[..., k0 : k0 + step], cols[..., k0 : k0 + step, :], part)
        out += part


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


def _direct_1x1(xp, wm, out5):
    """1x1 kernel, stride 1: out = W @ x with x read in place; False if the
    layout does not allow it (then the tiled path runs)."""
    b = _merge_hw(xp)
    o = _merge_hw(out5)
    if b is None or o is None:
        return False
    _matmul(wm, b, o)
    return True


def correlate(xp, w, out, stride, dilation, groups):
    n, c, _, _ = xp.shape
    o_total, cg, kh, kw = w.shape
    _, _, ho, wo = out.shape
    k = cg * kh * kw
    wm = np.ascontiguousarray(w).reshape(groups, o_total // groups, k)
    out5 = _split_channels(out, groups)
    if (kh, kw) == (1, 1) and stride == (1, 1) and _direct_1x1(_split_channels(xp, groups), wm, out5):
        return
    if n > 1 and _fold_pays(ho * wo, o_total // groups, k):
        plan = _fold_plan(n, ho * wo, out5, groups * k, o_total, xp.itemsize)
        if plan is not None:
            _folded(xp, wm, out5, (kh, kw), stride, dilation, groups, *plan)
            return
    _tiled(xp, wm, out5, (kh, kw), stride, dilation, groups)


# A folded tile holds at least this many columns (positions of all its
# images), workspace cap permitting: thinner tiles re-read W too often.
_FOLD_MIN_COLUMNS = 256


def _fold_pays(positions, rows, k):
    """Fold images into the GEMM's columns when a per-image product
    (rows x k) @ (k x positions) is skinny: its column count is its smallest
    dimension. Each per-image GEMM streams all of W for only ``positions``
    columns; once W outgrows the cache that is memory-bound (weight
    gradient of (8,64,56,56)x(64,64,3,3): W is 64 x 25088, 9 columns per
    image; 64 per-image GEMMs 50 ms, one folded GEMM 26 ms, 1 thread).
    Where the columns are not the smallest dimension, per-image GEMMs
    measured as fast or faster (folding adds the scatter of the result):
    (32,1,28,28)x(6,1,5,5) 0.21 vs 0.41 ms, (16,64,s,s)x(64,64,3,3) equal
    within 5% for every s from 6 to 50."""
    return positions < min(rows, k)


def _fold_plan(n_images, positions, out5, patch_rows, o_total, itemsize):
    """(images per tile, writes out in place) for the folded path, or None
    when fewer than two images fit in a tile under the workspace cap."""
    direct = _as_matrix3(out5) is not None
    # Without the in-place write, every column also needs a scratch result.
    column_bytes = (patch_rows + (0 if direct else o_total)) * itemsize
    per_image = positions * column_bytes
    nt = max(CACHE_TILE // per_image, -(-_FOLD_MIN_COLUMNS // positions))
    nt = min(n_images, nt, get_workspace_limit() // per_image)
    return (nt, direct) if nt >= 2 else None


def _as_matrix3(a):
    """View (nt, G, O/G, Ho, Wo) as (G, O/G, nt*Ho*Wo) without copying, or None."""
    nt, g, og, h, w = a.shape
    sn, sg, so, sh, sw = a.strides
    it = a.itemsize  # (the stride of a length-1 axis can be anything)
    if (w > 1 and sw != it) or (h > 1 and sh != w * it) or (nt > 1 and sn != h * w * it):
        return None
    return as_strided(a, shape=(g, og, nt * h * w), strides=(sg, so, a.itemsize))


def _folded(xp, wm, out5, kernel_shape, stride, dilation, groups, nt, direct):
    """Tiles of whole images folded into the GEMM's columns: per group one
    (O/G x C/G*kh*kw) @ (C/G*kh*kw x images*Ho*Wo) product, whose
    (O, images, Ho, Wo) result is then scattered into out (N, O, Ho, Wo)
    (written in place when out's memory already has that order).

    The workspace holds the patch matrix either K-major, (K, images*Ho*Wo),
    or position-major, (images*Ho*Wo, K) read transposed by BLAS; the copy
    runs along the longer contiguous axis: output columns (Wo) or kernel
    columns (kw)."""
    n = xp.shape[0]
    ho, wo = out5.shape[-2:]
    g, og, k = wm.shape
    p = ho * wo
    view = patch_view(xp, kernel_shape, stride, dilation, (ho, wo), groups)  # (N, G, Cg, kh, kw, Ho, Wo)
    work = np.empty(nt * g * k * p, dtype=xp.dtype)
    result = None if direct else np.empty(nt * g * og * p, dtype=xp.dtype)
    for n0 in range(0, n, nt):
        n1 = min(n, n0 + nt)
        m = n1 - n0
        cols = patch_matrix(view[n0:n1], work, fold_images=True)
        out_tile = out5[n0:n1]
        if direct:
            _matmul(wm, cols, _as_matrix3(out_tile))
        else:
            tmp = result[: m * g * og * p].reshape(g, og, m, ho, wo)
            _matmul(wm, cols, tmp.reshape(g, og, m * p))
            np.copyto(out_tile, tmp.transpose(2, 0, 1, 3, 4))


def _tiled(xp, wm, out5, kernel_shape, stride, dilation, groups):
    n = xp.shape[0]
    ho, wo = out5.shape[-2:]
    k = wm.shape[-1]
    o_total = groups * wm.shape[1]
    # When out's rows are not evenly spaced (the engine passes sub-rectangles
    # of out), the GEMM writes a scratch result that is then copied: count it.
    direct = out5.shape[-2] == 1 or out5.strides[-2] == wo * out5.strides[-1]
    column_bytes = (groups * k + (0 if direct else o_total)) * xp.itemsize
    nt, rt, ct = plan_tiles(n, ho, wo, column_bytes, min(get_workspace_limit(), CACHE_TILE))
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
    cols = patch_matrix(patches, work, fold_images=False)
    target = _merge_hw(out_tile)
    if target is not None:
        _matmul(wm, cols, target)
        return
    tmp = result[: out_tile.size].reshape(out_tile.shape)
    _matmul(wm, cols, _merge_hw(tmp))
    np.copyto(out_tile, tmp)


def describe():
    limit = get_workspace_limit()
    return {
        "kind": "im2col + BLAS GEMM (numpy.matmul), float32 sgemm / float64 dgemm",
        "blas": _blas.describe(),
        "workspace_limit": f"{limit / 2**20:g} MiB",
    }
