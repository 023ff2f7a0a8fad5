"""The weight and bias gradients of a conv layer: reductions over images
and output positions.

For ``y = conv2d(x, w)`` and ``g = dL/dy``, per group

    dL/dw[g] (O/G, C/G*kh*kw) = G_g (O/G, N*Ho*Wo) @ P_g (N*Ho*Wo, C/G*kh*kw)

where P is the im2col patch matrix of the padded input and G_g is grad_out
of the group's output channels. Both are built tile by tile (images, bands
of rows or pieces of a row: ``fastconv._patches.plan_tiles``) under the
workspace cap, and each tile is one batched BLAS GEMM over the groups.

Accuracy: each tile's product is a fresh partial sum (BLAS itself blocks
its reduction axis), added into a float64 accumulator, so a float32 sum
over N*Ho*Wo positions is rounded once per tile instead of drifting in one
float32 register; the float64 accumulator costs O*C/G*kh*kw additions per
tile, nothing beside the GEMM. Integer inputs (computed in float64) stay
exact while the sums are below 2**53.
"""
import numpy as np

from . import _blas, _engine
from ._geometry import Geometry
from ._padding import pad_spatial
from ._patches import CACHE_TILE, patch_matrix, patch_view, plan_tiles
from .settings import get_workspace_limit

# A tile holds at least this many positions (workspace cap permitting):
# the GEMM's reduction axis, and the partial sums' (O x C/G*kh*kw) writes
# and float64 additions are repaid only over enough positions.
_MIN_POSITIONS = 1024


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
    xp = pad_spatial(x, geo.pads, mode, cval) if geo.padded else x
    view = patch_view(xp, (kh, kw), geo.stride, geo.dilation, (ho, wo), groups)
    column_bytes = (groups * k + out_channels) * gy.itemsize  # patch column + grad_out column
    budget = min(get_workspace_limit(), max(CACHE_TILE, _MIN_POSITIONS * column_bytes))
    nt, rt, ct = plan_tiles(n_images, ho, wo, column_bytes, budget)
    work = np.empty(nt * rt * ct * groups * k, dtype=gy.dtype)
    gwork = np.empty(nt * rt * ct * out_channels, dtype=gy.dtype)
    partial = np.empty((groups, og, k), dtype=gy.dtype)
    total = np.zeros((groups, og, k), dtype=np.float64)
    with _blas.threads():
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
                    np.matmul(gm.reshape(groups, og, -1), cols.swapaxes(-1, -2), out=partial)
                    total += partial
    return total.reshape(weight_shape).astype(gy.dtype)


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
    """dL/dbias (O,): grad_out summed over images and positions, in float64
    (numpy's pairwise sum along each channel's contiguous positions), then
    rounded to gy's dtype."""
    n_images, out_channels, ho, wo = gy.shape
    rows = gy.reshape(n_images, out_channels, ho * wo) if gy.flags.c_contiguous else gy
    axes = (2,) if rows.ndim == 3 else (2, 3)
    return rows.sum(axis=axes, dtype=np.float64).sum(axis=0).astype(gy.dtype)
