"""Backward passes: gradients of ``conv2d`` and ``corr2d``, computed by the
same backends (and the same backend interface) as the forward pass.

For ``y = conv2d(x, w)`` with stride s, dilation d and padding p (per axis),
and ``g = dL/dy``:

* ``dL/dw`` is itself a cross-correlation: of the padded input with g, where
  g plays the kernel. The roles of the axes swap (x's channels become the
  batch, the images become the summed channels: transposed *views*), g is
  read with dilation s (the forward stride) and the result is stepped by
  stride d (the forward dilation). With groups, each group's output
  channels read only that group's input channels: one backend call with
  the same ``groups``.
* ``dL/dx`` is a transposed ("full") convolution: g with s-1 zeros inserted
  between its samples, padded by d*(k-1) on each side, cross-correlated with
  the weight flipped on both spatial axes and with its in/out channel axes
  swapped (within each group), dilation d. That gives the gradient of the
  padded input; cropping it removes zero padding, and for corr2d's other
  boundary modes the border gradient is folded back onto the pixels the
  padding copied (the adjoint of the padding, a NumPy scatter-add).
* ``dL/dbias`` is g summed over images and positions.

Only rows/columns of the padded input that the forward pass read are
computed; there are no Python loops over pixels.
"""
from typing import NamedTuple, Optional

import numpy as np

from . import _args, _engine
from ._geometry import Geometry
from ._padding import NUMPY_NAMES, pad_spatial


class ConvGrads(NamedTuple):
    """Gradients from :func:`conv2d_backward`; a field not requested in
    ``needs`` (or ``bias`` when there is none to differentiate) is None."""

    x: Optional[np.ndarray]
    weight: Optional[np.ndarray]
    bias: Optional[np.ndarray]


class CorrGrads(NamedTuple):
    """Gradients from :func:`corr2d_backward`; unrequested fields are None."""

    X: Optional[np.ndarray]
    K: Optional[np.ndarray]


def _grad_weight(x, gy, geo, groups, weight_shape, *, mode="constant", cval=0.0, backend="auto", exact=False):
    """dL/dw (O, C/groups, kh, kw) for x (N, C, H, W) and gy (N, O, Ho, Wo)."""
    n_images, channels = x.shape[:2]
    out_channels, cin, kh, kw = weight_shape
    gw = np.empty(weight_shape, dtype=gy.dtype)
    if n_images == 0:
        gw[...] = 0
        return gw
    hu, wu = geo.extent
    xp = pad_spatial(x, geo.pads, mode, cval) if geo.padded else x
    xp = xp[:, :, :hu, :wu]
    if groups == 1:
        xin = xp.transpose(1, 0, 2, 3)  # (C, N, hu, wu): channels are the batch now
    else:
        # (Cg, groups*N, hu, wu): input "channel" g*N + n is image n's channel g*Cg + c
        xin = xp.reshape(n_images, groups, cin, hu, wu).transpose(2, 1, 0, 3, 4).reshape(cin, groups * n_images, hu, wu)
    kernel = gy.transpose(1, 0, 2, 3)  # (O, N, Ho, Wo)
    geo_w = Geometry.from_args((hu, wu), geo.out_shape, 0, geo.dilation, geo.stride)
    assert geo_w.out_shape == (kh, kw)
    _engine.correlate(xin, kernel, geo_w, groups=groups, backend=backend, out=gw.transpose(1, 0, 2, 3), exact=exact)
    return gw


def _grad_padded_input(w, gy, geo, groups, rows, cols):
    """Rows ``rows`` = (r0, r1) and columns ``cols`` of dL/d(padded input),
    (N, C, r1 - r0, c1 - c0), by the full correlation described above."""
    out_channels, cin, kh, kw = w.shape
    n_images, (ho, wo) = gy.shape[0], geo.out_shape
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    o_per_group = out_channels // groups
    # Flipped kernel with in/out channels swapped inside each group: (C, O/groups, kh, kw).
    wt = w.reshape(groups, o_per_group, cin, kh, kw).transpose(0, 2, 1, 3, 4).reshape(groups * cin, o_per_group, kh, kw)
    wt = np.ascontiguousarray(wt[:, :, ::-1, ::-1])
    eh, ew = (kh - 1) * dh, (kw - 1) * dw
    (r0, r1), (c0, c1) = rows, cols
    # Zero-inserted grad_out padded by the kernel span - 1, restricted to what rows/cols read.
    gz = np.zeros((n_images, out_channels, (ho - 1) * sh + 1 + 2 * eh, (wo - 1) * sw + 1 + 2 * ew), dtype=gy.dtype)
    gz[:, :, eh : eh + (ho - 1) * sh + 1 : sh, ew : ew + (wo - 1) * sw + 1 : sw] = gy
    gz = gz[:, :, r0 : r1 + eh, c0 : c1 + ew]
    geo_x = Geometry.from_args(gz.shape[2:], (kh, kw), 0, 1, geo.dilation)
    assert geo_x.out_shape == (r1 - r0, c1 - c0)
    return geo_x, gz, wt


def _grad_input(x_shape, w, gy, geo, groups, *, mode="constant", backend="auto", exact=False):
    """dL/dx (N, C, H, W) for weight w, gy (N, O, Ho, Wo) and boundary ``mode``."""
    n_images, channels, h, w_in = x_shape
    hu, wu = geo.extent
    (top, _), (left, _) = geo.pads
    if mode == "constant":
        # Only the un-padded part of the padded input's gradient is kept.
        rows, cols = (top, min(top + h, hu)), (left, min(left + w_in, wu))
        if n_images == 0 or rows[1] <= rows[0] or cols[1] <= cols[0]:
            return np.zeros(x_shape, dtype=gy.dtype)
        geo_x, gz, wt = _grad_padded_input(w, gy, geo, groups, rows, cols)
        if geo_x.out_shape == (h, w_in):
            gx = np.empty(x_shape, dtype=gy.dtype)
            target = gx
        else:  # the forward pass never read the last rows/columns: their gradient is 0
            gx = np.zeros(x_shape, dtype=gy.dtype)
            target = gx[:, :, : geo_x.out_shape[0], : geo_x.out_shape[1]]
        _engine.correlate(gz, wt, geo_x, groups=groups, backend=backend, out=target, exact=exact)
        return gx
    (hp, wp) = (h + sum(geo.pads[0]), w_in + sum(geo.pads[1]))
    gxp = np.zeros((n_images, channels, hp, wp), dtype=gy.dtype)
    if n_images:
        geo_x, gz, wt = _grad_padded_input(w, gy, geo, groups, (0, hu), (0, wu))
        _engine.correlate(gz, wt, geo_x, groups=groups, backend=backend, out=gxp[:, :, :hu, :wu], exact=exact)
    return _unpad_adjoint(gxp, (h, w_in), geo.pads, mode)


def _unpad_adjoint(gp, shape, pads, mode):
    """The adjoint of padding the last two axes by ``pads`` with ``mode``:
    every padded position's gradient is added to the pixel it copied."""
    for axis, n, (before, after) in ((-2, shape[0], pads[0]), (-1, shape[1], pads[1])):
        g = np.moveaxis(gp, axis, 0)
        folded = g[before : before + n].copy()
        if before or after:
            # np.pad of the indices says which pixel each padded position copies.
            source = np.pad(np.arange(n), (before, after), mode=NUMPY_NAMES[mode])
            border = np.r_[0:before, before + n : before + n + after]
            np.add.at(folded, source[border], g[border])
        gp = np.moveaxis(folded, 0, axis)
    return np.ascontiguousarray(gp)


def conv2d_backward(
    x,
    weight,
    grad_out,
    *,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    needs=("x", "weight", "bias"),
    backend="auto",
):
    """Gradients of ``fastconv.conv2d(x, weight, bias, ...)`` given ``grad_out`` = dL/d(output).

    Takes the forward call's ``x``, ``weight`` and keyword arguments (the
    bias does not affect any gradient, so it is not passed) and
    ``grad_out`` of the forward output's shape. ``needs`` names the
    gradients to compute, any of "x", "weight", "bias" (a single name may
    be given as a string); the others are skipped and returned as None.

    Returns a :class:`ConvGrads` named tuple ``(x, weight, bias)``: dL/dx
    in x's shape, dL/dweight (O, C/groups, kh, kw) and dL/dbias (O,), in the
    dtype of the inputs and grad_out together (the forward dtype rules).
    Both convolution gradients run on ``backend`` (see the module
    docstring for how), so they are as fast as a forward pass.
    """
    needs = _args.check_needs(needs, ConvGrads._fields)
    call = _args.conv2d_call(x, weight, stride=stride, padding=padding, dilation=dilation, groups=groups,
                             backend=backend, grad_out=grad_out)
    gy = call.grad_out
    gx = gw = gb = None
    if "x" in needs:
        gx = _grad_input(call.x.shape, call.w, gy, call.geo, call.groups, backend=backend, exact=call.exact)
        gx = gx if call.batched else gx[0]
    if "weight" in needs:
        gw = _grad_weight(call.x, gy, call.geo, call.groups, call.w.shape, backend=backend, exact=call.exact)
    if "bias" in needs:
        gb = gy.sum(axis=(0, 2, 3), dtype=np.float64).astype(call.dtype)
    return ConvGrads(gx, gw, gb)


def corr2d_backward(
    X,
    K,
    grad_out,
    *,
    padding=0,
    stride=1,
    dilation=1,
    mode="constant",
    cval=0.0,
    axes=None,
    needs=("X", "K"),
    backend="auto",
):
    """Gradients of ``fastconv.corr2d(X, K, ...)`` given ``grad_out`` = dL/dY.

    Takes the forward call's arguments (every padding form, boundary
    ``mode``, batches and ``axes``, K a 2-D kernel or a (C, kh, kw) stack)
    and ``grad_out`` of Y's shape. ``needs`` is any of "X", "K".
    Returns a :class:`CorrGrads` named tuple ``(X, K)`` (None where not
    requested), dL/dX in X's layout and dL/dK in K's shape (a kernel shared
    by every plane gets the sum over the planes). For modes other than
    "constant", dL/dX includes the gradient flowing through the padding:
    each padded value's gradient is added to the pixel it copies. ``cval``
    only matters for dL/dK. Computed in the forward call's dtype.
    """
    needs = _args.check_needs(needs, CorrGrads._fields)
    call = _args.corr2d_call(X, K, padding=padding, stride=stride, dilation=dilation, mode=mode, cval=cval,
                             backend=backend, grad_out=grad_out, axes=axes)
    x4, k4, gy, geo, exact, groups = call.x, call.w, call.grad_out, call.geo, call.exact, call.groups
    gX = gK = None
    if "X" in needs:
        gX = _args.restore(call, _grad_input(x4.shape, k4, gy, geo, groups, mode=call.mode, backend=backend,
                                             exact=exact))
    if "K" in needs:
        gK = _grad_weight(x4, gy, geo, groups, k4.shape, mode=call.mode, cval=call.cval, backend=backend,
                          exact=exact)
        gK = gK.reshape(np.shape(K))
    return CorrGrads(gX, gK)
