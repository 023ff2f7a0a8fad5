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
* ``dL/dbias`` is g summed over images and positions: pairwise per
  image and channel in g's dtype, then over the images in float64.

There are no Python loops over pixels.
"""
from typing import NamedTuple, Optional, Sequence, Union

import numpy as np

from . import _args
from ._grad_input import input_grad
from ._grad_weight import bias_grad, weight_grad
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
        grad_out together (the forward dtype rules). ``backend`` runs the
        input gradient's correlations; with "auto" the weight gradient is a
        GEMM reduction, with a named backend a correlation on that backend
        (see the module docstring).

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
        gx = input_grad(call.x.shape, call.w, gy, call.geo, call.groups, backend=backend, exact=call.exact)
        gx = gx if call.batched else gx[0]
    if "weight" in needs:
        gw = weight_grad(call.x, gy, call.geo, call.groups, call.w.shape, backend=backend, exact=call.exact)
    if "bias" in needs:
        gb = bias_grad(gy)
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
    cval: complex = 0.0,
    axes: Optional[Sequence[int]] = None,
    needs: Union[str, Sequence[str]] = ("X", "K"),
    backend: str = "auto",
) -> CorrGrads:
    """Gradients of ``fastconv.corr2d(X, K, ...)`` given ``grad_out`` = dL/dY.

    For modes other than "constant", dL/dX includes the gradient flowing
    through the padding: each padded value's gradient is added to the pixel it
    copies.

    Parameters
    ----------
    X, K : array_like
        The forward call's image (2-D, a stack, or with ``axes``) and kernel
        (kh, kw) or a (C, kh, kw) stack; real (complex inputs have no
        backward pass).
    grad_out : array_like
        dL/dY, of Y's shape (in X's layout).
    padding, stride, dilation, mode, cval, axes
        The forward call's arguments, as for :func:`corr2d` (every padding form
        and boundary mode). ``cval`` only matters for dL/dK.
    needs : str or sequence of str
        Any of "X", "K"; the others are returned as None.
    backend : str
        "auto" or one of :func:`fastconv.available_backends`.

    Returns
    -------
    CorrGrads
        ``(X, K)``: dL/dX in X's layout and dL/dK in K's shape (a kernel
        shared by every plane gets the sum over the planes), in the forward
        call's dtype.

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
                             backend=backend, grad_out=grad_out, axes=axes)
    x4, k4, gy, geo, exact, groups = call.x, call.w, call.grad_out, call.geo, call.exact, call.groups
    gX = gK = None
    if "X" in needs:
        gX = _args.restore(call, input_grad(x4.shape, k4, gy, geo, groups, mode=call.mode, backend=backend,
                                            exact=exact))
    if "K" in needs:
        gK = weight_grad(x4, gy, geo, groups, k4.shape, mode=call.mode, cval=call.cval, backend=backend,
                         exact=exact)
        gK = gK.reshape(np.shape(K))
    return CorrGrads(gX, gK)
