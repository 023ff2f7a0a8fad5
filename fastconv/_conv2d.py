"""The CNN layer operation: batched, multi-channel, grouped ``conv2d``.

``conv2d`` is what ``torch.nn.functional.conv2d`` computes (a
cross-correlation, like every deep-learning "convolution"), on NumPy
arrays. Its arguments go through the same module as corr2d's
(:func:`fastconv._args.conv2d_call`), so padding forms, dtype rules and
messages are the same as :func:`fastconv.corr2d`'s.
"""
import numpy as np

from . import _args, _engine


def conv2d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, backend="auto", out=None,
           measure=None):
    """A CNN convolution layer's forward pass, as ``torch.nn.functional.conv2d``.

    ``out[n, o] = bias[o] + sum_c corr2d(x[n, g*C/groups + c], weight[o, c])``
    with g = o // (O/groups): a cross-correlation summed over the input
    channels of the output channel's group, zero-padded.

    Parameters
    ----------
    x : (N, C, H, W) or (C, H, W) array_like
    weight : (O, C/groups, kh, kw) array_like
    bias : (O,) array_like, optional; added after the correlation
    stride, dilation : int or (h, w), each >= 1
    padding : int, (ph, pw), ((top, bottom), (left, right)), "valid", "same" or "full"
        as for :func:`fastconv.corr2d`; padding is always zeros. "same"
        keeps the input's size at stride 1 (an even kernel's extra row/column
        goes at the bottom/right, as in PyTorch); unlike PyTorch it is also
        accepted with a stride > 1 (the padding is the stride-1 one).
    groups : int >= 1 dividing both C and O; groups = C is a depthwise conv.
    backend : "auto" or one of :func:`fastconv.available_backends`. The
        compiled backends use :func:`fastconv.set_threads` threads.
    out : ndarray of the output shape and result dtype, optional
    measure : bool, optional
        As for :func:`fastconv.corr2d`: with ``backend="auto"``, time the
        candidates on first sight of this signature and keep the winner.

    Returns (N, O, Ho, Wo), or (O, Ho, Wo) for a 3-D x, in the dtype
    :func:`fastconv.corr2d` would give for these inputs (bias included in
    the promotion). Inputs are never modified.
    """
    call = _args.conv2d_call(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups,
                             backend=backend)
    out = _args.check_out(out, call.out_shape, call.dtype)
    out4 = out if out is None or call.batched else out[None]
    bias = call.bias
    if bias is not None and out is not None and np.may_share_memory(bias, out):
        bias = bias.copy()  # out is written before the bias is added
    if call.x.shape[0] == 0:  # an empty batch: nothing to compute
        result = np.empty((0,) + call.out_shape[1:], dtype=call.dtype) if out4 is None else out4
    else:
        result = _engine.run(call, out4, measure)
    if bias is not None:
        result += bias[:, None, None]
    if out is not None:
        return out
    return result if call.batched else result[0]
