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
from typing import NamedTuple, Optional, Sequence, Union

import numpy as np

from . import _args, _engine
from ._geometry import Geometry
from ._padding import NUMPY_NAMES, pad_spatial
from ._typing import ArrayLike, FloatArray, Padding, Pair


class ConvGrads(NamedTuple):
    """Gradients from :func:`conv2d_backward`, a named tuple ``(x, weight, bias)``.

    A field not requested in ``needs`` (or ``bias`` when there is none to
    differentiate) is None.

    Examples
    --------
    >>> g = fastconv.conv2d_backward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))
    >>> g.weight
    array([[[[4., 4.],
             [4., 4.]]]])
    >>> gx, gw, gb = g
    >>> gb
    array([4.])
    """

    x: Optional[FloatArray]
    weight: Optional[FloatArray]
    bias: Optional[FloatArray]


class CorrGrads(NamedTuple):
    """Gradients from :func:`corr2d_backward`, a named tuple ``(X, K)``.

    A field not requested in ``needs`` is None.

    Examples
    --------
    >>> g = fastconv.corr2d_backward(np.ones((3, 3)), np.ones((2, 2)), np.ones((2, 2)), needs="K")
    >>> g.X is None, g.K
    (True, array([[4., 4.],
           [4., 4.]]))
    """

    X: Optional[FloatArray]
    K: Optional[FloatArray]


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
    x: ArrayLike,
    weight: ArrayLike,
    grad_out: ArrayLike,
    *,
    stride: Pair = 1,
    padding: Padding = 0,
    dilation: Pair = 1,
    groups: int = 1,
    needs: Union[str, Sequence[str]] = ("x", "weight", "bias"),
    backend: str = "auto",
) -> ConvGrads:
    """Gradients of ``fastconv.conv2d(x, weight, bias, ...)`` given ``grad_out`` = dL/d(output).

    Both convolution gradients run on ``backend``, through the same interface
    as the forward pass (see the module docstring), so they are as fast as a
    forward pass.

    Parameters
    ----------
    x, weight : array_like
        The forward call's input (N, C, H, W) or (C, H, W) and weight
        (O, C/groups, kh, kw). The bias does not affect any gradient, so it is
        not passed.
    grad_out : array_like
        dL/d(output), of the forward output's shape.
    stride, padding, dilation, groups
        The forward call's arguments, as for :func:`conv2d`.
    needs : str or sequence of str
        The gradients to compute, any of "x", "weight", "bias"; the others are
        skipped and returned as None.
    backend : str
        "auto" or one of :func:`fastconv.available_backends`.

    Returns
    -------
    ConvGrads
        ``(x, weight, bias)``: dL/dx in x's shape, dL/dweight
        (O, C/groups, kh, kw) and dL/dbias (O,), in the dtype of the inputs and
        grad_out together (the forward dtype rules).

    Raises
    ------
    ValueError
        As :func:`conv2d`, plus ``grad_out`` of the wrong shape or an unknown
        name in ``needs``.
    TypeError
        An unsupported dtype.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> w = np.ones((2, 1, 3, 3))
    >>> y = fastconv.conv2d(x, w, padding=1)
    >>> g = fastconv.conv2d_backward(x, w, np.ones_like(y), padding=1)
    >>> g.x.shape, g.weight.shape, g.bias
    ((1, 1, 4, 4), (2, 1, 3, 3), array([16., 16.]))
    >>> fastconv.conv2d_backward(x, w, np.ones_like(y), padding=1, needs="weight").x is None
    True
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
    X: ArrayLike,
    K: ArrayLike,
    grad_out: ArrayLike,
    *,
    padding: Padding = 0,
    stride: Pair = 1,
    dilation: Pair = 1,
    mode: str = "constant",
    cval: float = 0.0,
    needs: Union[str, Sequence[str]] = ("X", "K"),
    backend: str = "auto",
) -> CorrGrads:
    """Gradients of ``fastconv.corr2d(X, K, ...)`` given ``grad_out`` = dL/dY.

    For modes other than "constant", dL/dX includes the gradient flowing
    through the padding: each padded value's gradient is added to the pixel it
    copies.

    Parameters
    ----------
    X, K : array_like, 2-D
        The forward call's image and kernel.
    grad_out : array_like, 2-D
        dL/dY, of Y's shape.
    padding, stride, dilation, mode, cval
        The forward call's arguments, as for :func:`corr2d` (every padding form
        and boundary mode). ``cval`` only matters for dL/dK.
    needs : str or sequence of str
        Any of "X", "K"; the others are returned as None.
    backend : str
        "auto" or one of :func:`fastconv.available_backends`.

    Returns
    -------
    CorrGrads
        ``(X, K)``: dL/dX in X's shape and dL/dK in K's shape.

    Raises
    ------
    ValueError
        As :func:`corr2d`, plus ``grad_out`` of the wrong shape or an unknown
        name in ``needs``.
    TypeError
        An unsupported dtype.

    Examples
    --------
    >>> X = np.arange(9.0).reshape(3, 3)
    >>> K = np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> g = fastconv.corr2d_backward(X, K, np.ones((2, 2)))
    >>> g.X
    array([[0., 1., 1.],
           [2., 6., 4.],
           [2., 5., 3.]])
    >>> g.K   # each tap's sum over the window it reads
    array([[ 8., 12.],
           [20., 24.]])
    """
    needs = _args.check_needs(needs, CorrGrads._fields)
    call = _args.corr2d_call(X, K, padding=padding, stride=stride, dilation=dilation, mode=mode, cval=cval,
                             backend=backend, grad_out=grad_out)
    x4, k4, gy, geo, exact = call.x, call.w, call.grad_out, call.geo, call.exact
    gX = gK = None
    if "X" in needs:
        gX = _grad_input(x4.shape, k4, gy, geo, 1, mode=mode, backend=backend, exact=exact)[0, 0]
    if "K" in needs:
        gK = _grad_weight(x4, gy, geo, 1, k4.shape, mode=mode, cval=call.cval, backend=backend, exact=exact)[0, 0]
    return CorrGrads(gX, gK)
