"""Backward passes: gradients of ``conv2d`` and ``corr2d``.

For ``y = conv2d(x, w)`` with stride s, dilation d and padding p (per axis),
and ``g = dL/dy``:

* ``dL/dx`` is, phase by phase of the stride, a stride-1 correlation of g
  with the taps of w that land on that phase (``fastconv._grad_input``): a
  forward pass's work, on the same backends, with no zeros inserted. For
  corr2d's boundary modes other than "constant" the border gradient is
  folded back onto the pixels the padding copied (the padding's adjoint).
* ``dL/dw`` is a reduction over images and positions: per group one GEMM
  of g (O/G x N*Ho*Wo) with the im2col patches (N*Ho*Wo x C/G*kh*kw), in
  tiles under the workspace cap, float32 partial sums accumulated in
  float64 (``fastconv._grad_weight``). With a named ``backend`` it is a
  correlation run by that backend instead (so ``backend="naive"`` gives
  the oracle's gradients).
* ``dL/dbias`` is g summed over images and positions, in float64.

There are no Python loops over pixels.
"""
from typing import NamedTuple, Optional

import numpy as np

from . import _args
from ._grad_input import input_grad
from ._grad_weight import bias_grad, weight_grad


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
    ``backend`` runs the input gradient's correlations; with "auto" the
    weight gradient is a GEMM reduction, with a named backend a
    correlation on that backend (see the module docstring).
    """
    needs = _args.check_needs(needs, ConvGrads._fields)
    call = _args.conv2d_call(x, weight, stride=stride, padding=padding, dilation=dilation, groups=groups,
                             backend=backend, grad_out=grad_out)
    gy = call.grad_out
    gx = gw = gb = None
    if "x" in needs:
        gx = input_grad(call.x.shape, call.w, gy, call.geo, call.groups, backend=backend, exact=call.exact)
        gx = gx if call.batched else gx[0]
    if "weight" in needs:
        gw = weight_grad(call.x, gy, call.geo, call.groups, call.w.shape, backend=backend, exact=call.exact)
    if "bias" in needs:
        gb = bias_grad(gy)
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
    needs=("X", "K"),
    backend="auto",
):
    """Gradients of ``fastconv.corr2d(X, K, ...)`` given ``grad_out`` = dL/dY.

    Takes the forward call's arguments (every padding form and boundary
    ``mode``) and ``grad_out`` of Y's shape. ``needs`` is any of "X", "K".
    Returns a :class:`CorrGrads` named tuple ``(X, K)`` (None where not
    requested). For modes other than "constant", dL/dX includes the
    gradient flowing through the padding: each padded value's gradient is
    added to the pixel it copies. ``cval`` only matters for dL/dK.
    """
    needs = _args.check_needs(needs, CorrGrads._fields)
    call = _args.corr2d_call(X, K, padding=padding, stride=stride, dilation=dilation, mode=mode, cval=cval,
                             backend=backend, grad_out=grad_out)
    x4, k4, gy, geo, exact = call.x, call.w, call.grad_out, call.geo, call.exact
    gX = gK = None
    if "X" in needs:
        gX = input_grad(x4.shape, k4, gy, geo, 1, mode=mode, backend=backend, exact=exact)[0, 0]
    if "K" in needs:
        gK = weight_grad(x4, gy, geo, 1, k4.shape, mode=mode, cval=call.cval, backend=backend, exact=exact)[0, 0]
    return CorrGrads(gX, gK)
