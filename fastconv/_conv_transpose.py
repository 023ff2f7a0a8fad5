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
import numpy as np

from . import _args, _engine
from ._grad_input import input_grad
from ._grad_weight import bias_grad, weight_grad
from .grad import ConvGrads


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *,
                     backend="auto"):
    """A transposed convolution layer's forward pass, as ``torch.nn.functional.conv_transpose2d``.

    Parameters
    ----------
    x : (N, C_in, H, W) or (C_in, H, W) array_like
    weight : (C_in, C_out/groups, kh, kw) array_like
    bias : (C_out,) array_like, optional
    stride, dilation : int or (h, w), each >= 1
    padding : int or (h, w) >= 0: the padding of the conv2d this is the
        transpose of; the output loses ``padding`` rows/columns on each side
    output_padding : int or (h, w), smaller than the stride or the dilation
        on each axis: rows/columns added at the bottom/right (they pick the
        output size when several input sizes map to one conv2d output)
    groups : int >= 1 dividing C_in
    backend : "auto" or one of :func:`fastconv.available_backends`; runs
        the stride-phase correlations

    Returns (N, C_out, Ho, Wo) with Ho = (H-1)*sh - 2*ph + dh*(kh-1) +
    output_padding_h + 1 (likewise Wo), or (C_out, Ho, Wo) for a 3-D x, in
    :func:`fastconv.conv2d`'s dtype for these inputs. It is the adjoint of
    conv2d: ``<conv2d(z, weight, ...), x> == <z, conv_transpose2d(x, weight, ...)>``.
    """
    call = _args.conv_transpose2d_call(x, weight, bias, stride=stride, padding=padding,
                                       output_padding=output_padding, groups=groups, dilation=dilation,
                                       backend=backend)
    shape = call.out_shape if call.batched else (call.x.shape[0],) + call.out_shape
    y = input_grad(shape, call.w, call.x, call.geo, call.groups, backend=backend, exact=call.exact)
    if call.bias is not None:
        y += call.bias[:, None, None]
    return y if call.batched else y[0]


def conv_transpose2d_backward(x, weight, grad_out, *, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                              needs=("x", "weight", "bias"), backend="auto"):
    """Gradients of ``fastconv.conv_transpose2d(x, weight, bias, ...)`` given
    ``grad_out`` = dL/d(output).

    Takes the forward call's ``x``, ``weight`` and keyword arguments and
    ``grad_out`` of the forward output's shape; ``needs`` is any of "x",
    "weight", "bias". Returns a :class:`fastconv.ConvGrads` ``(x, weight,
    bias)`` (None where not requested): dL/dx in x's shape (a conv2d of
    grad_out with ``weight``), dL/dweight (C_in, C_out/groups, kh, kw) and
    dL/dbias (C_out,).
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
