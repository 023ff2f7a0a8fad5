"""The CNN layer operation: batched, multi-channel, grouped ``conv2d``.

``conv2d`` is what ``torch.nn.functional.conv2d`` computes (a
cross-correlation, like every deep-learning "convolution"), on NumPy
arrays. Argument checking reuses the 2-D path's helpers (``_params``,
``_dtypes``, ``_engine``), so padding forms, dtype rules and messages are
the same as :func:`fastconv.corr2d`'s; only the channel/group/bias checks
live here. :mod:`fastconv.grad` shares :func:`prepare` for the backward pass.
"""
from dataclasses import dataclass

import numpy as np

from . import _engine
from ._api import check_backend
from ._dtypes import as_array, as_kernel_operand, result_dtype
from ._params import Geometry, _as_int


@dataclass(frozen=True)
class ConvCall:
    """One conv2d call's arguments, validated and converted.

    ``x`` is (N, C, H, W) and ``weight`` (O, C/groups, kh, kw), both in
    ``dtype`` and in the layout backends accept; ``batched`` says whether
    the caller gave a 4-D x (results keep the caller's ndim).
    """

    x: np.ndarray
    weight: np.ndarray
    bias: object  # 1-D ndarray of length O in ``dtype``, or None
    geo: Geometry
    groups: int
    dtype: np.dtype
    batched: bool
    exact: bool  # every input was integer/bool: results are wanted exact (never fft)

    @property
    def out_shape(self):
        """(N, O, Ho, Wo) (or (O, Ho, Wo) for an unbatched call)."""
        shape = (self.x.shape[0], self.weight.shape[0]) + self.geo.out_shape
        return shape if self.batched else shape[1:]


def _check_ndim(a, name, allowed, form):
    if a.ndim not in allowed:
        hint = "; for a single 2-D image use fastconv.corr2d" if a.ndim == 2 and name == "x" else ""
        raise ValueError(f"{name} must be {form}, got shape {a.shape} (ndim {a.ndim}){hint}")


def _check_nonempty(a, name, axes):
    if any(a.shape[i] == 0 for i in axes):
        raise ValueError(f"{name} is empty (shape {a.shape}); every axis needs at least one element")


def check_groups(groups, in_channels, weight_shape):
    """Validate ``groups`` against C (from x) and the (O, C/groups, kh, kw) weight."""
    groups = _as_int(groups, "groups")
    out_channels = weight_shape[0]
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    if in_channels % groups:
        raise ValueError(f"groups={groups} does not divide the input's {in_channels} channels")
    if out_channels % groups:
        raise ValueError(f"groups={groups} does not divide the weight's {out_channels} output channels")
    if weight_shape[1] * groups != in_channels:
        raise ValueError(
            f"channel mismatch: x has {in_channels} channels, so with groups={groups} the weight "
            f"must have shape (O, {in_channels // groups}, kh, kw); got {tuple(weight_shape)}"
        )
    return groups


def prepare(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, backend="auto", extra=()):
    """Check and convert conv2d's arguments; returns a :class:`ConvCall`.

    ``extra`` is a sequence of (name, ndarray) pairs that take part in the
    dtype promotion (the backward pass's grad_out).
    """
    x = as_array(x, "x")
    weight = as_array(weight, "weight")
    _check_ndim(x, "x", (3, 4), "(N, C, H, W) or (C, H, W)")
    _check_ndim(weight, "weight", (4,), "(O, C/groups, kh, kw)")
    batched = x.ndim == 4
    if not batched:
        x = x[None]
    # A batch of zero images is allowed (as in torch); nothing else may be empty.
    _check_nonempty(x, "x", (1, 2, 3))
    _check_nonempty(weight, "weight", (0, 1, 2, 3))
    groups = check_groups(groups, x.shape[1], weight.shape)
    named = [("x", x), ("weight", weight)]
    if bias is not None:
        bias = as_array(bias, "bias")
        if bias.shape != (weight.shape[0],):
            raise ValueError(
                f"bias must have shape ({weight.shape[0]},), one value per output channel; got {bias.shape}"
            )
        named.append(("bias", bias))
    dtype = result_dtype(*named, *extra)
    geo = Geometry.from_args(x.shape[2:], weight.shape[2:], padding, stride, dilation)
    check_backend(backend)
    return ConvCall(
        x=as_kernel_operand(x, dtype),
        weight=np.ascontiguousarray(weight, dtype=dtype),
        bias=None if bias is None else np.asarray(bias, dtype=dtype),
        geo=geo,
        groups=groups,
        dtype=dtype,
        batched=batched,
        exact=all(a.dtype.kind in "biu" for _, a in named + list(extra)),
    )


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
    call = prepare(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups, backend=backend)
    out = _engine.check_out(out, call.out_shape, call.dtype)
    out4 = out if out is None or call.batched else out[None]
    if call.x.shape[0] == 0:  # an empty batch: nothing to compute
        result = np.empty((0,) + call.out_shape[1:], dtype=call.dtype) if out4 is None else out4
    else:
        result = _engine.correlate(
            call.x, call.weight, call.geo, groups=call.groups, backend=backend, out=out4, exact=call.exact,
            measure=measure,
        )
    if call.bias is not None:
        result += call.bias[:, None, None]
    if out is not None:
        return out
    return result if call.batched else result[0]
