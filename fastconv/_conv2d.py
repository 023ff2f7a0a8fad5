"""The CNN layer operation: batched, multi-channel, grouped ``conv2d``.

``conv2d`` is what ``torch.nn.functional.conv2d`` computes (a
cross-correlation, like every deep-learning "convolution"), on NumPy
arrays. Its arguments go through the same module as corr2d's
(:func:`fastconv._args.conv2d_call`), so padding forms, dtype rules and
messages are the same as :func:`fastconv.corr2d`'s.
"""
import numpy as np

from typing import Optional

from . import _args, _engine
from ._typing import ArrayLike, FloatArray, Padding, Pair


def conv2d(x: ArrayLike, weight: ArrayLike, bias: Optional[ArrayLike] = None, *, stride: Pair = 1,
           padding: Padding = 0, dilation: Pair = 1, groups: int = 1, backend: str = "auto",
           out: Optional[FloatArray] = None, measure: Optional[bool] = None) -> FloatArray:
    """A CNN convolution layer's forward pass, as ``torch.nn.functional.conv2d``.

    ``out[n, o] = bias[o] + sum_c corr2d(x[n, g*C/groups + c], weight[o, c])``
    with g = o // (O/groups): a cross-correlation summed over the input
    channels of the output channel's group, zero-padded.

    Parameters
    ----------
    x : array_like, (N, C, H, W) or (C, H, W)
    weight : array_like, (O, C/groups, kh, kw)
    bias : array_like, (O,), optional
        Added to each output channel's sums (by the compiled kernels as
        they store the outputs); takes part in the dtype promotion. It may
        share memory with ``out``.
    stride, dilation : int or (h, w), each >= 1
    padding : int, (ph, pw), ((top, bottom), (left, right)), "valid", "same" or "full"
        As for :func:`fastconv.corr2d`; padding is always zeros. "same" keeps
        the input's size at stride 1 (an even kernel's extra row/column goes at
        the bottom/right, as in PyTorch); unlike PyTorch it is also accepted
        with a stride > 1 (the padding is the stride-1 one).
    groups : int
        >= 1, dividing both C and O; ``groups = C`` is a depthwise convolution.
    backend : str
        "auto" or one of :func:`fastconv.available_backends`. The compiled
        backends use :func:`fastconv.set_threads` threads.
    out : ndarray, optional
        An array of the output shape and result dtype to write into.
    measure : bool, optional
        As for :func:`fastconv.corr2d`: with ``backend="auto"``, time the
        candidates on first sight of this signature and keep the winner.

    Returns
    -------
    ndarray
        (N, O, Ho, Wo), or (O, Ho, Wo) for a 3-D x, in the dtype
        :func:`fastconv.corr2d` would give for these inputs. Inputs are never
        modified.

    Raises
    ------
    ValueError
        Wrong ndim, channels that do not match ``weight`` and ``groups``, a
        kernel larger than the padded input, a bad stride/dilation/padding.
    TypeError
        An unsupported dtype, or ``out`` of the wrong dtype.

    Examples
    --------
    >>> x = np.ones((2, 3, 5, 5), np.float32)
    >>> w = np.ones((4, 3, 3, 3), np.float32)
    >>> y = fastconv.conv2d(x, w, np.arange(4, dtype=np.float32), padding=1)
    >>> y.shape, y.dtype
    ((2, 4, 5, 5), dtype('float32'))
    >>> float(y[0, 1, 2, 2]), float(y[0, 1, 0, 0])
    (28.0, 13.0)
    >>> fastconv.conv2d(x, np.ones((6, 1, 3, 3)), groups=3).shape   # depthwise, 2 per channel
    (2, 6, 3, 3)
    """
    call = _args.conv2d_call(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups,
                             backend=backend)
    out = _args.check_out(out, call.out_shape, call.dtype)
    out4 = out if out is None or call.batched else out[None]
    if call.x.shape[0] == 0:  # an empty batch: nothing to compute
        result = np.empty((0,) + call.out_shape[1:], dtype=call.dtype) if out4 is None else out4
    else:  # (the engine adds the bias, in the backend's kernel where it can)
        result = _engine.run(call, out4, measure)
    if out is not None:
        return out
    return result if call.batched else result[0]
