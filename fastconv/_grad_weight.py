"""The weight and bias gradients of a conv layer: reductions over images
and output positions.

Dense layers whose grid of positions adds little take the shifted-view
reduction of ``fastconv._grad_weight_taps`` (a compiled kernel, or per-tap
GEMMs in a build without it), no im2col copy; grouped layers with few channels per
group (depthwise) compiled per-tap dot products (``_depthwise``); the
others, and any result that is not
finite there, the im2col GEMM below.

For ``y = conv2d(x, w)`` and ``g = dL/dy``, per group

    dL/dw[g] (O/G, C/G*kh*kw) = G_g (O/G, N*Ho*Wo) @ P_g (N*Ho*Wo, C/G*kh*kw)

where P is the im2col patch matrix of the padded input and G_g is grad_out
of the group's output channels. Both are built tile by tile (images, bands
of rows or pieces of a row: ``fastconv._patches.plan_tiles``) under the
workspace cap, and each tile is one batched BLAS GEMM over the groups.

Accuracy: the positions are summed in blocks (64-512 positions, an eighth
of them): each block's product is a fresh float32 partial sum (one batched
GEMM per tile computes them all), and the partial sums are added in
float64, so a float32 sum over N*Ho*Wo positions drifts over at most one
block instead of all of them in one register. The float64 additions cost
O*C/G*kh*kw per block, little beside the GEMM's block*O*C/G*kh*kw, except
where the partial sums outgrow the cache: then each workspace-sized tile is
one partial sum (BLAS blocks its own reduction; measured still closer to
float64 than torch's float32). Problems under 2**22 multiply-adds run the
GEMM in float64 outright. Integer inputs (computed in float64) stay exact
while the sums are below 2**53.
"""
import numpy as np

from . import _blas, _engine, _grad_weight_taps
from ._geometry import Geometry
from ._padding import pad_spatial
from ._patches import CACHE_TILE, patch_matrix, patch_view, plan_tiles
from .settings import SERIAL_MACS, get_threads, get_workspace_limit

# A tile holds at least this many positions (workspace cap permitting):
# the GEMM's reduction axis, and the partial sums' (O x C/G*kh*kw) writes
# and float64 additions are repaid only over enough positions.
_MIN_POSITIONS = 1024
# Positions per float32 partial sum: an eighth of all positions, within
# these bounds; the longest when the partial sums outgrow the cache (each
# is written and added in float64: only a long block repays that).
_MIN_BLOCK, _MAX_BLOCK = 64, 512
_CACHED_PARTIALS = 2**20  # bytes of float64 partial sums that stay in L2
# float32 problems with at most this many multiply-adds run the GEMM in
# float64 (the inputs are cast by the patch copy): under a millisecond,
# and as accurate as float32 inputs allow. Below this size torch's float32
# weight gradient is more accurate than 64-position float32 blocks (2.2x on
# (2,16,31,31)x(8,16,5,5) s2 d2, 1.6M multiply-adds, with 2**20 here);
# LeNet's (32,1,28,28)x(6,1,5,5) pays 0.25 ms for it (0.36 -> 0.60 ms).
_FLOAT64_MACS = 2**22
# Grouped layers with at most this many (output, input) channel pairs per
# group (depthwise: 1) take the compiled per-tap dot products: a GEMM with
# so few rows and columns runs far below its rate (8x64x56x56 * 64x1x3x3
# groups 64: 17 ms by im2col, 8.8 ms by per-tap GEMMs).
_DEPTHWISE_PAIRS = 8


def path(x_shape, weight_shape, groups, geo, dtype):
    """The path ``weight_grad`` takes with ``backend="auto"`` on finite
    inputs: "depthwise" (the compiled per-tap dot products), "taps" (the
    shifted-view reduction: the compiled kernel, or per-tap GEMMs) or
    "im2col" (the tiled GEMM reduction)."""
    dtype = np.dtype(dtype)
    out_channels, cin, kh, kw = weight_shape
    if _grad_weight_taps.kernel_available() and groups > 1 and out_channels // groups * cin <= _DEPTHWISE_PAIRS \
            and dtype in (np.float32, np.float64):
        return "depthwise"
    positions = x_shape[0] * geo.out_shape[0] * geo.out_shape[1]
    if positions * out_channels * cin * kh * kw > _FLOAT64_MACS or dtype == np.float64:
        if _grad_weight_taps.applies(x_shape, weight_shape, groups, geo, dtype.itemsize):
            return "taps"
    return "im2col"


def weight_grad(x, gy, geo, groups, weight_shape, *, mode="constant", cval=0.0, backend="auto", exact=False):
    """dL/dw (O, C/groups, kh, kw) for x (N, C, H, W) and gy (N, O, Ho, Wo),
    in gy's dtype: the GEMM reduction for ``backend="auto"``, else a
    correlation run by the named backend (:func:`weight_grad_by_correlation`)."""
    if backend != "auto":
        return weight_grad_by_correlation(x, gy, geo, groups, weight_shape, mode=mode, cval=cval, backend=backend,
                                          exact=exact)
    n_images = x.shape[0]
    out_channels, cin, kh, kw = weight_shape
    og, k = out_channels // groups, cin * kh * kw
    ho, wo = geo.out_shape
    if n_images == 0:
        return np.zeros(weight_shape, dtype=gy.dtype)
    positions = n_images * ho * wo
    small = positions * out_channels * k <= _FLOAT64_MACS
    route = path(x.shape, weight_shape, groups, geo, gy.dtype)
    if route == "depthwise":
        gw = _depthwise(x, gy, geo, groups, weight_shape, mode, cval, np.float64 if small else gy.dtype)
        if np.isfinite(gw).all():  # else the exact im2col path says where the NaN comes from
            return gw.astype(gy.dtype)
    dtype = np.dtype(np.float64 if small else gy.dtype)
    if route == "taps" or (route == "depthwise" and dtype == gy.dtype
                           and _grad_weight_taps.applies(x.shape, weight_shape, groups, geo, dtype.itemsize)):
        gw = _grad_weight_taps.weight_grad(x, gy, geo, groups, weight_shape, mode=mode, cval=cval)
        if np.isfinite(gw).all():  # else a non-finite pixel may have met a zero grid point: exact path
            return gw.astype(gy.dtype)
    xp = pad_spatial(x, geo.pads, mode, cval) if geo.padded else x
    view = patch_view(xp, (kh, kw), geo.stride, geo.dilation, (ho, wo), groups)
    column_bytes = (groups * k + out_channels) * dtype.itemsize  # patch column + grad_out column
    large_partials = out_channels * k * 8 > _CACHED_PARTIALS
    # Large partial sums cost memory traffic: then tiles as large as the
    # workspace cap allows, one partial sum each (BLAS still blocks the sum).
    budget = get_workspace_limit()
    if not large_partials:
        budget = min(budget, max(CACHE_TILE, _MIN_POSITIONS * column_bytes))
    nt, rt, ct = plan_tiles(n_images, ho, wo, column_bytes, budget)
    work = np.empty(nt * rt * ct * groups * k, dtype=dtype)
    gwork = np.empty(nt * rt * ct * out_channels, dtype=dtype)
    tile_positions = nt * rt * ct
    block = min(_MAX_BLOCK, max(_MIN_BLOCK, positions // 8))
    if large_partials or dtype == np.float64:  # (a float64 sum needs no blocks)
        block = tile_positions
    blocks_per_call = max(1, min(tile_positions // block, CACHE_TILE // (out_channels * k * dtype.itemsize)))
    partials = np.empty(blocks_per_call * out_channels * k, dtype=dtype)
    # One tile and one block in all: no partial sums to add, the GEMM writes the result.
    single = positions <= min(block, tile_positions)
    total = partials[: out_channels * k].reshape(groups, og, k) if single else np.zeros((groups, og, k))
    for n0 in range(0, n_images, nt):
        n1 = min(n_images, n0 + nt)
        for i0 in range(0, ho, rt):
            i1 = min(ho, i0 + rt)
            for j0 in range(0, wo, ct):
                j1 = min(wo, j0 + ct)
                cols = patch_matrix(view[n0:n1, ..., i0:i1, j0:j1], work, fold_images=True)  # (G, K, Q)
                shape = (n1 - n0, groups, og, i1 - i0, j1 - j0)
                gm = gwork[: np.prod(shape)].reshape(groups, og, shape[0], shape[3], shape[4])
                np.copyto(gm, gy[n0:n1, :, i0:i1, j0:j1].reshape(shape).transpose(1, 2, 0, 3, 4))
                _reduce(gm.reshape(groups, og, -1), cols.swapaxes(-1, -2), total, block, partials, single)
    return total.reshape(weight_shape).astype(gy.dtype, copy=False)


def _depthwise(x, gy, geo, groups, weight_shape, mode, cval, dtype):
    """dL/dw in float64 by the compiled per-tap dot products in ``dtype``
    (``_direct.depthwise_weight_grad``: per (output, input) channel pair, its
    planes copied as stride phases into a thread's scratch, a zero border
    read as zeros there), threaded over the pairs."""
    if mode == "constant" and cval == 0:  # the kernel reads the zero border as zeros: no padded copy
        (top, _), (left, _) = geo.pads
    else:
        x, top, left = pad_spatial(x, geo.pads, mode, cval), 0, 0
    out = np.empty(weight_shape)
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    _grad_weight_taps._kernel().depthwise_weight_grad(np.ascontiguousarray(x, dtype=dtype),
                                                       np.ascontiguousarray(gy, dtype=dtype), out, groups, sh, sw,
                                                       dh, dw, top, left, get_threads(), SERIAL_MACS)
    return out


def _reduce(gm, rows, total, block, partials, single):
    """``total`` (G, O/G, K) float64 += gm (G, O/G, Q) @ rows (G, Q, K), as
    one float32 (or float64) partial sum per ``block`` positions: batched
    GEMMs into ``partials``, whose sums are added in float64. ``single``:
    this is the only block of the whole reduction, written into ``total``."""
    g, og, q = gm.shape
    k = rows.shape[-1]
    if single:
        _blas.matmul(gm, rows, total)
        return
    per_call = len(partials) // (g * og * k)
    for b0 in range(0, q - q % block, per_call * block):
        nb = min(per_call, (q - b0) // block)
        b1 = b0 + nb * block
        out = partials[: g * nb * og * k].reshape(g, nb, og, k)
        _blas.matmul(gm[..., b0:b1].reshape(g, og, nb, block).transpose(0, 2, 1, 3),
                     rows[:, b0:b1].reshape(g, nb, block, k), out)
        total += out.sum(axis=1, dtype=np.float64)
    if q % block:
        out = partials[: g * og * k].reshape(g, og, k)
        _blas.matmul(gm[..., q - q % block :], rows[:, q - q % block :], out)
        total += out


def weight_grad_by_correlation(x, gy, geo, groups, weight_shape, *, mode="constant", cval=0.0, backend="auto",
                               exact=False):
    """dL/dw as a correlation run by ``backend`` (what a named backend, the
    ``naive`` oracle included, computes): of the padded input with gy
    playing the kernel. x's channels become the batch and the images the
    summed channels (transposed views), gy is read with dilation s (the
    forward stride) and the result is stepped by d (the forward dilation).
    With groups, each group's output channels read only that group's input
    channels: one backend call with the same ``groups``."""
    n_images = x.shape[0]
    out_channels, cin, kh, kw = weight_shape
    gw = np.empty(weight_shape, dtype=gy.dtype)
    if n_images == 0:
        gw[...] = 0
        return gw
    hu, wu = geo.extent
    xp = pad_spatial(x, geo.pads, mode, cval) if geo.padded else x
    xp = xp[:, :, :hu, :wu]
    # (C/G, G*N, hu, wu): input "channel" g*N + n is image n's channel g*C/G + c
    xin = xp.reshape(n_images, groups, cin, hu, wu).transpose(2, 1, 0, 3, 4).reshape(cin, groups * n_images, hu, wu)
    kernel = gy.transpose(1, 0, 2, 3)  # (O, N, Ho, Wo)
    geo_w = Geometry.from_args((hu, wu), geo.out_shape, 0, geo.dilation, geo.stride)
    _engine.correlate(xin, kernel, geo_w, groups=groups, backend=backend, out=gw.transpose(1, 0, 2, 3), exact=exact)
    return gw


def bias_grad(gy):
    """dL/dbias (O,): grad_out summed over images and positions, rounded to
    gy's dtype. Each image's channel is one contiguous row, summed by numpy's
    pairwise sum in gy's dtype (float32: error ~ log2(positions) roundings,
    8x64x56x56: 4e-5 against float64, torch's float32 1.2e-3), the images'
    sums then in float64; a float64 pairwise sum over the row costs 3x as
    much (2.2 ms on 8x128x56x56 against 0.7). Rows that are not contiguous
    are summed in float64 (numpy's sum along them is not pairwise)."""
    n_images, out_channels, ho, wo = gy.shape
    if gy.flags.c_contiguous:
        rows = gy.reshape(n_images, out_channels, ho * wo).sum(axis=2)
        return rows.sum(axis=0, dtype=np.float64).astype(gy.dtype)
    return gy.sum(axis=(2, 3), dtype=np.float64).sum(axis=0).astype(gy.dtype)
