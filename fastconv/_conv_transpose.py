"""``conv_transpose2d``: the transposed convolution (decoder, U-Net and GAN
upsampling layers), as ``torch.nn.functional.conv_transpose2d``.

It is the input gradient of a conv2d: for the conv2d with weight w
(C_in, C_out/groups, kh, kw) (C_in output channels), stride, padding,
dilation and groups, ``conv_transpose2d(x, w)`` is dL/d(input) for
grad_out = x. So it runs on the stride-phase input gradient
(``fastconv._grad_input``): per phase one stride-1 correlation on the
planner's backend, no zero insertion. Its own backward reuses the conv2d
pieces with the roles swapped: dL/dx is conv2d(grad_out, w), dL/dw the
conv2d weight gradient with grad_out as the input and x as grad_out.
"""
from typing import Optional, Sequence, Union

import numpy as np

from . import _args, _engine
from ._grad_input import input_grad
from ._grad_weight import bias_grad, weight_grad
from ._typing import ArrayLike, FloatArray, Pair
from .grad import ConvGrads


def conv_transpose2d(x: ArrayLike, weight: ArrayLike, bias: Optional[ArrayLike] = None, stride: Pair = 1,
                     padding: Pair = 0, output_padding: Pair = 0, groups: int = 1, dilation: Pair = 1, *,
                     backend: str = "auto") -> FloatArray:
    """A transposed convolution layer's forward pass, as ``torch.nn.functional.conv_transpose2d``.

    It is the adjoint of :func:`conv2d` with the same weight and arguments:
    ``<conv2d(z, weight, ...), x> == <z, conv_transpose2d(x, weight, ...)>``,
    computed by stride phases (no zeros inserted).

    Parameters
    ----------
    x : array_like
        (N, C_in, H, W) or (C_in, H, W).
    weight : array_like
        (C_in, C_out/groups, kh, kw).
    bias : array_like, optional
        (C_out,), added after the correlation.
    stride, dilation : int or (h, w)
        Each >= 1.
    padding : int or (h, w)
        >= 0: the padding of the conv2d this is the transpose of; the output
        loses ``padding`` rows/columns on each side.
    output_padding : int or (h, w)
        Smaller than the stride or the dilation on each axis: rows/columns
        added at the bottom/right (they pick the output size when several
        input sizes map to one conv2d output).
    groups : int
        >= 1, dividing C_in.
    backend : str
        "auto" or one of :func:`fastconv.available_backends`; runs the
        stride-phase correlations.

    Returns
    -------
    numpy.ndarray
        (N, C_out, Ho, Wo) with Ho = (H-1)*sh - 2*ph + dh*(kh-1) +
        output_padding_h + 1 (likewise Wo), or (C_out, Ho, Wo) for a 3-D x,
        in :func:`conv2d`'s dtype for these inputs.

    Raises
    ------
    ValueError
        Wrong ndim or shapes, channels not matching ``groups``,
        ``output_padding`` not smaller than the stride or the dilation.
    TypeError
        An unsupported dtype.

    Examples
    --------
    >>> x = np.ones((1, 2, 3, 3))
    >>> w = np.ones((2, 4, 2, 2))
    >>> fastconv.conv_transpose2d(x, w, stride=2).shape
    (1, 4, 6, 6)
    >>> float(fastconv.conv_transpose2d(x, w, stride=2)[0, 0, 0, 0])
    2.0
    """
    call = _args.conv_transpose2d_call(x, weight, bias, stride=stride, padding=padding,
                                       output_padding=output_padding, groups=groups, dilation=dilation,
                                       backend=backend)
    shape = call.out_shape if call.batched else (call.x.shape[0],) + call.out_shape
    y = input_grad(shape, call.w, call.x, call.geo, call.groups, backend=backend, exact=call.exact)
    if call.bias is not None:
        y += call.bias[:, None, None]
    return y if call.batched else y[0]


def conv_transpose2d_backward(x: ArrayLike, weight: ArrayLike, grad_out: ArrayLike, *, stride: Pair = 1,
                              padding: Pair = 0, output_padding: Pair = 0, groups: int = 1, dilation: Pair = 1,
                              needs: Union[str, Sequence[str]] = ("x", "weight", "bias"),
                              backend: str = "auto") -> ConvGrads:
    """Gradients of ``fastconv.conv_transpose2d(x, weight, bias, ...)`` given ``grad_out``.

    Parameters
    ----------
    x, weight : array_like
        The forward call's input and weight.
    grad_out : array_like
        dL/d(output), of the forward output's shape.
    stride, padding, output_padding, groups, dilation
        The forward call's arguments, as for :func:`conv_transpose2d`.
    needs : str or sequence of str
        Any of "x", "weight", "bias"; the others are returned as None.
    backend : str
        "auto" or one of :func:`fastconv.available_backends`.

    Returns
    -------
    ConvGrads
        ``(x, weight, bias)``: dL/dx in x's shape (a conv2d of grad_out with
        ``weight``), dL/dweight (C_in, C_out/groups, kh, kw) and dL/dbias
        (C_out,).

    Raises
    ------
    ValueError
        As :func:`conv_transpose2d`, plus ``grad_out`` of the wrong shape or
        an unknown name in ``needs``.
    TypeError
        An unsupported dtype.

    Examples
    --------
    >>> x, w = np.ones((1, 2, 3, 3)), np.ones((2, 4, 2, 2))
    >>> y = fastconv.conv_transpose2d(x, w, stride=2)
    >>> g = fastconv.conv_transpose2d_backward(x, w, np.ones_like(y), stride=2)
    >>> g.x.shape, g.weight.shape, g.bias.tolist()
    ((1, 2, 3, 3), (2, 4, 2, 2), [36.0, 36.0, 36.0, 36.0])
    """
    needs = _args.check_needs(needs, ConvGrads._fields)
    call = _args.conv_transpose2d_call(x, weight, stride=stride, padding=padding, output_padding=output_padding,
                                       groups=groups, dilation=dilation, backend=backend, grad_out=grad_out)
    gy = call.grad_out
    gx = gw = gb = None
    if "x" in needs:
        if gy.shape[0] == 0:
            gx = np.zeros(call.x.shape, dtype=call.dtype)
        else:
            gx = _engine.correlate(gy, call.w, call.geo, call.groups, backend=backend, exact=call.exact)
        gx = gx if call.batched else gx[0]
    if "weight" in needs:
        gw = weight_grad(gy, call.x, call.geo, call.groups, call.w.shape, backend=backend, exact=call.exact)
    if "bias" in needs:
        gb = bias_grad(gy)
    return ConvGrads(gx, gw, gb)
