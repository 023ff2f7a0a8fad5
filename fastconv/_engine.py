"""The data path every entry point shares: pad, pick a backend, run it.

Inputs arrive here already validated and converted (see ``_args``): x is
(N, C, H, W) and w is (O, C/groups, kh, kw), both in the compute dtype and
in the layout backends accept.

Padding a large image costs a full copy of it, as much time as a small
kernel's whole correlation. So above ``_PAD_COPY_LIMIT`` bytes the output is
split into its interior, whose windows lie wholly inside the input and read
it in place, and four border strips, each computed from a small padded
window (``_regions``). Below the limit one padded copy is cheaper than five
backend calls; and where each input element feeds more than
``_SPLIT_MAX_TAPS`` multiply-adds (conv layers: out-channels x kernel taps)
the copy is cheap beside the arithmetic, while the one-column side strips
would run the backends' row kernels at their least efficient. A backend
whose registry row says ``whole_input`` always gets the padded input in one
piece. A backend with the ``correlate_zero_border`` hook (cython, direct, winograd, separable)
takes a zero border itself, and one with ``correlate_mapped_border``
(cython) a reflect/symmetric/edge/wrap border, reading the input in place,
with no copy and no strips.

A conv layer's bias is added here, once, for every caller (conv2d, the
layers, fastconv.dask's tiles): a backend whose row says ``takes_bias``
adds it in its kernel as each output is stored, while the output is in
registers or L1 (cython, direct, winograd); for the others it joins the
copy into ``out`` when there is one, else one pass over the result.
"""
import math

import numpy as np

from . import backends, planner
from ._canonical import canonical
from ._complex import combine, real_operands
from ._geometry import span
from ._padding import fill_is_finite, pad_spatial, padded_window

_PAD_COPY_LIMIT = 1 << 20  # bytes of padded input
_SPLIT_MAX_TAPS = 64  # multiply-adds per input element (O/groups * kh * kw)


def _writable_directly(out, *inputs):
    """Can a backend write straight into ``out``?"""
    return (
        out.dtype.isnative
        and out.flags.aligned
        and out.strides[-1] == out.itemsize
        and min(out.strides) >= 0
        and not any(np.may_share_memory(out, a) for a in inputs)
    )


def _interior(n, pad_before, kernel_span, stride, n_out):
    """Output indices [lo, hi) whose windows lie wholly inside the input."""
    lo = -(-pad_before // stride)  # ceil
    hi = (pad_before + n - kernel_span) // stride + 1
    return min(lo, n_out), max(min(hi, n_out), min(lo, n_out))


def _regions(geo):
    """Output rectangles ((i0, i1), (j0, j1)) covering the output exactly
    once: the interior first, then the top, bottom, left and right strips."""
    (ho, wo), spans = geo.out_shape, tuple(span(k, d) for k, d in zip(geo.kernel_shape, geo.dilation))
    (i0, i1), (j0, j1) = (
        _interior(n, p[0], s, st, no) for n, p, s, st, no in zip(geo.in_shape, geo.pads, spans, geo.stride, geo.out_shape)
    )
    rects = [((i0, i1), (j0, j1)), ((0, i0), (0, wo)), ((i1, ho), (0, wo)), ((i0, i1), (0, j0)), ((i0, i1), (j1, wo))]
    return [r for r in rects if r[0][1] > r[0][0] and r[1][1] > r[1][0]]


def _split_pays(row, x, w, geo, groups):
    """Is computing interior + border strips cheaper than one padded copy?"""
    if row.whole_input or w.shape[0] // groups * w.shape[2] * w.shape[3] > _SPLIT_MAX_TAPS:
        return False
    padded = math.prod(n + sum(p) for n, p in zip(geo.in_shape, geo.pads))
    return x.itemsize * x.shape[0] * x.shape[1] * padded > _PAD_COPY_LIMIT


def _run_in_regions(module, x, w, geo, groups, mode, cval, target, kw=None):
    """Run ``module`` region by region, padding only the border strips
    (``kw``: the bias keyword, or none)."""
    kw = kw or {}
    (sh, sw), spans = geo.stride, tuple(span(k, d) for k, d in zip(geo.kernel_shape, geo.dilation))
    for (i0, i1), (j0, j1) in _regions(geo):
        rows = (i0 * sh, (i1 - 1) * sh + spans[0])
        cols = (j0 * sw, (j1 - 1) * sw + spans[1])
        window = padded_window(x, rows, cols, geo.pads, mode, cval)
        module.correlate(window, w, target[..., i0:i1, j0:j1], geo.stride, geo.dilation, groups, **kw)


def _border_in_kernel(name, x, w, target, geo, groups, mode, cval, kw=None):
    """Did the backend compute the border itself, reading x in place: a zero
    border (``correlate_zero_border``) or one whose padding copies input
    elements (``correlate_mapped_border``: reflect, edge, wrap...)?"""
    row, kw = backends.row(name), kw or {}
    if mode == "constant":
        hook = row.hook("correlate_zero_border") if cval == 0 else None
        return hook is not None and hook(x, w, target, geo.pads, geo.stride, geo.dilation, groups, **kw)
    hook = row.hook("correlate_mapped_border")
    return hook is not None and hook(x, w, target, geo.pads, geo.stride, geo.dilation, groups, mode, **kw)


def _own_bias(bias, out):
    """``bias``, copied if it shares memory with ``out`` (which is written
    before the bias is read)."""
    if bias is not None and out is not None and np.may_share_memory(bias, out):
        return bias.copy()
    return bias


def _bias_keyword(row, bias, dtype, out):
    """The bias as the backend's keyword ({} when it does not take one or
    there is none), and the bias the engine still has to add (or None)."""
    bias = _own_bias(bias, out)
    if bias is None:
        return {}, None
    if row.takes_bias and bias.dtype == dtype and bias.ndim == 1 and bias.flags.c_contiguous and \
            bias.flags.aligned and bias.dtype.isnative:
        return {"bias": bias}, None
    return {}, bias


def correlate(x, w, geo, groups=1, mode="constant", cval=0.0, backend="auto", out=None, exact=False, measure=None,
              x_finite=False, split=True, bias=None):
    """Cross-correlate (N, C, H, W) ``x`` with ``w``, plus ``bias`` (None or
    one value per output channel, broadcast over each channel's outputs);
    ``out`` is a validated (N, O, Ho, Wo) array or None. Returns the result
    array. ``exact``: the caller's inputs were all integer/bool;
    ``x_finite``: x was (so it holds no NaN/inf); ``measure``: see
    ``planner.choose``; ``split``: may a large padded input be split into
    interior and border strips (False: one padded copy, for callers whose
    images are many and small)."""
    x, geo = canonical(x, w.shape[2:], geo, mode)
    if backend == "auto":
        # A NaN/inf cval is part of the padded input the backend reads.
        name = planner.choose(x, w, geo, groups, exact, measure, fill_is_finite(mode, cval, geo.padded), x_finite)
    else:
        name = backend
    module = backends.get(name)
    shape = (x.shape[0], w.shape[0]) + geo.out_shape
    direct = out is not None and _writable_directly(out, x, w)
    target = out if direct else np.empty(shape, dtype=x.dtype)
    kw, rest = _bias_keyword(backends.row(name), bias, x.dtype, out)
    if not geo.padded:
        module.correlate(x, w, target, geo.stride, geo.dilation, groups, **kw)
    elif _border_in_kernel(name, x, w, target, geo, groups, mode, cval, kw):
        pass
    elif split and _split_pays(backends.row(name), x, w, geo, groups):
        _run_in_regions(module, x, w, geo, groups, mode, cval, target, kw)
    else:
        module.correlate(pad_spatial(x, geo.pads, mode, cval), w, target, geo.stride, geo.dilation, groups, **kw)
    if out is not None and not direct:
        if rest is None:
            out[...] = target
        else:  # the bias joins the copy: one pass
            np.add(target, rest[:, None, None], out=out, casting="unsafe")
        return out
    if rest is not None:
        target += rest[:, None, None]
    return target


def run(call, out=None, measure=None):
    """Run a validated :class:`fastconv._args.Call` (forward pass): the
    (N, O, Ho, Wo) result, written into ``out`` (same shape) when given."""
    if call.x.dtype.kind == "c" or call.w.dtype.kind == "c":
        return _run_complex(call, out, measure)
    return correlate(call.x, call.w, call.geo, call.groups, call.mode, call.cval, call.backend, out, call.exact,
                     measure, call.x_finite, bias=call.bias)


def _run_complex(call, out, measure):
    """Complex x and/or w through one real correlation (see ``_complex``)."""
    xs, ws, geo = real_operands(call.x, call.w, call.geo, call.groups, call.mode, call.cval, call.dtype)
    bias = _own_bias(call.bias, out)
    r = correlate(xs, ws, geo, call.groups, "constant", 0.0, call.backend, None, False, measure)
    result = combine(r, call.x.shape[0], call.w.shape[0], call.groups, call.dtype, out)
    if bias is not None:
        result += bias[:, None, None]
    return result
