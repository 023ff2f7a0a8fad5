"""The direct backend: register-blocked direct convolution for conv layers.

The micro-kernel (direct.template.c, one variant per instruction set and
vector width, picked at import) keeps a block of output channels x vectors
of one output row in registers (AVX-512: 8 x 3 vectors of 16 floats;
AVX2 and SSE2: 4 x 2): per tap it loads each input vector once and feeds
it to one FMA per channel, each weight one broadcast. Where
channels cannot share an input vector (one output channel per group:
depthwise layers, single-channel images) the block is 4 output rows of one
channel instead (as many rows as the block has channels). Stride 1 and 2 run at vector speed (stride 2 on
a copy of the input whose rows hold their even columns, then their odd
ones, the zero border included: plain loads), other strides and rows
narrower than the narrowest vector in a scalar block; dilation only moves
the loads.

Work is split into tasks (image, group, row band, channel block) over
OpenMP threads, GIL released; a band's input rows stay in L2 while every
channel block of the image reads them.

Accuracy: each chunk of input channels (>= 32 taps) is summed in fresh
registers and added to the output, so float32 sums do not run over all
C*kh*kw taps in one accumulator.

Narrow feature maps (7x7, 14x14) run flattened, as one long output row
(``_flattened``): every vector is full, at the price of a scratch result
about the size of the output.

Memory: no workspace but the packed weights (the size of ``w``), which are
cached for repeated calls with the same weight bytes (``clear_cache()``),
that scratch result for flattened maps, and the de-interleaved copy of the
input at column stride 2 (the size of the padded input, which the engine's
padding would copy anyway).
"""
import numpy as np

from .. import settings
from .._arraycache import ArrayCache
from .._geometry import flat_row_length
from ..settings import get_threads
from . import _direct

__all__ = ["clear_cache", "correlate", "describe", "pack"]


def pack(w, groups, block=None):
    """The weights in the micro-kernel's order, flat: per group, blocks of
    ``block`` output channels (default: the current variant's
    ``_direct.block()``) (the last block of a group may be narrower),
    each block laid out [c][a][b][channel of the block], so a block of the
    output channels starting at o begins at element o * C/groups*kh*kw."""
    block = _direct.block() if block is None else block
    o_chan, cg, kh, kw = w.shape
    og, taps = o_chan // groups, cg * kh * kw
    wg = w.reshape(groups, og, taps)
    full = og // block * block
    packed = np.empty((groups, og * taps), dtype=w.dtype)
    blocks = wg[:, :full].reshape(groups, og // block, block, taps).transpose(0, 1, 3, 2)
    packed[:, : full * taps] = blocks.reshape(groups, full * taps)
    packed[:, full * taps :] = wg[:, full:].transpose(0, 2, 1).reshape(groups, (og - full) * taps)
    return packed.reshape(-1)


# Packed weights of recent calls, keyed on the weights' content: a layer at
# inference, a training step's forward passes or a benchmark loop pack once.
_cache = ArrayCache(64 << 20)


def _packed(w, groups, block):
    return _cache.cached(w, (groups, block), lambda: pack(w, groups, block))


def clear_cache():
    """Forget the cached packed weights."""
    _cache.clear()


# bias (the registry row says takes_bias): added by the last flush of each
# output's sums.
def correlate(xp, w, out, stride, dilation, groups, bias=None):
    block = _direct.block()
    packed = _packed(w, groups, block)
    flat = _flattened(xp, w.shape, out, stride, dilation, groups)
    if flat is None and _deinterleaves(xp, w.shape, out, stride, groups, xp.shape[3]):
        _run_deinterleaved(xp, packed, w.shape, out, ((0, 0), (0, 0)), stride, dilation, groups, block, bias)
        return
    if flat is not None:
        xv, yflat, yview = flat
        _direct.correlate(xv, packed, w.shape, yflat, stride, dilation, groups, block, get_threads(),
                          settings.SERIAL_MACS, bias=bias)
        np.copyto(out, yview)
        return
    _direct.correlate(xp, packed, w.shape, out, stride, dilation, groups, block, get_threads(),
                      settings.SERIAL_MACS, bias=bias)


def correlate_zero_border(xp, w, out, pads, stride, dilation, groups, bias=None):
    # Column stride 2: the de-interleaved copy takes the border with it.
    # Else each task pads its band of rows in its thread's scratch (one
    # channel block per group only; else False, and the engine pads).
    block = _direct.block()
    if _deinterleaves(xp, w.shape, out, stride, groups, xp.shape[3] + sum(pads[1])):
        _run_deinterleaved(xp, _packed(w, groups, block), w.shape, out, pads, stride, dilation, groups, block, bias)
        return True
    return _direct.correlate(xp, _packed(w, groups, block), w.shape, out, stride, dilation, groups, block,
                             get_threads(), settings.SERIAL_MACS, (pads[0][0], pads[1][0]), bias=bias)


def _deinterleaves(x, w_shape, out, stride, groups, row):
    """Column stride 2 on rows the vector kernels run, where the flattened
    form (rows of ``row`` padded columns) does not apply: loads of every
    other column cost two loads and a shuffle each, for every tap and
    channel block; one copy of the input with each row's even columns, then
    its odd ones, makes them plain loads (8x64x56x56 * 128x64x3x3 stride 2,
    1 thread, EPYC: the kernel 16.0 -> 14.7 ms, the copy 0.9 ms where the
    engine's padded copy took 1.2)."""
    return (stride[1] == 2 and x.shape[3] > 1 and _flat_length(w_shape, out, stride, groups, row, x.dtype) is None
            and _direct.takes_deinterleaved(out.shape[3], x.dtype == np.float64))


def _run_deinterleaved(x, packed, w_shape, out, pads, stride, dilation, groups, block, bias):
    """x inside a zero border of ``pads``, as the de-interleaved copy of the
    rows and columns the output reads (``_direct.deinterleave``)."""
    (top, _), (left, _) = pads
    (sh, sw), (dh, dw) = stride, dilation
    ho, wo = out.shape[2:]
    rows, cols = (ho - 1) * sh + (w_shape[2] - 1) * dh + 1, (wo - 1) * sw + (w_shape[3] - 1) * dw + 1
    xd = np.empty(x.shape[:2] + (rows, cols), dtype=x.dtype)
    _direct.deinterleave(np.ascontiguousarray(x), xd, top, left, get_threads())
    _direct.correlate(xd, packed, w_shape, out, stride, dilation, groups, block, get_threads(),
                      settings.SERIAL_MACS, None, True, bias=bias)


# The flattened form must fill the vectors this much better than the rows
# do to pay for its scratch result and the copy out of it.
_FLAT_GAIN = 1.25


def _flattened(xp, w_shape, out, stride, dilation, groups):
    """Narrow feature maps (7x7, 14x14) as ONE long output row, or None.

    With equal row and column strides s, output (i, j) reads input element
    s*(i*R + j) + a*dh*R + b*dw of its channel, R being xp's row stride: a
    function of q = i*R + j alone. So the whole map is one row of
    (ho-1)*R + wo outputs (R - wo of them per row are discarded) read
    through an overlapping view of xp (rows R apart, each as long as the
    flat row needs; it never reads past the last element the real problem
    reads), which fills whole vectors where a 7-wide row would run in a
    4-lane one. Each output's taps are summed in the same order either way.
    Only for blocks of output channels: one channel per group (depthwise)
    blocks several output rows instead, which a single row cannot.
    Returns (the view, the flat result (N, O, 1, L), the view of it that is
    out's (N, O, Ho, Wo))."""
    sw, dh, dw = stride[1], dilation[0], dilation[1]
    n, o, ho, wo = out.shape
    kh, kw = w_shape[2:]
    r = xp.strides[2] // xp.itemsize
    if xp.strides[2] % xp.itemsize:
        return None
    length = _flat_length(w_shape, out, stride, groups, r, xp.dtype)
    if length is None:
        return None
    span = (length - 1) * sw + (kw - 1) * dw + 1
    xv = np.lib.stride_tricks.as_strided(xp, shape=xp.shape[:2] + ((kh - 1) * dh + 1, span),
                                         strides=xp.strides[:3] + (xp.itemsize,), writeable=False)
    yflat = np.empty((n, o, 1, length), dtype=out.dtype)
    yview = np.lib.stride_tricks.as_strided(yflat, shape=out.shape,
                                            strides=yflat.strides[:2] + (r * yflat.itemsize, yflat.itemsize),
                                            writeable=False)
    return xv, yflat, yview


def _flat_length(w_shape, out, stride, groups, r, dtype):
    """The flat row's length for rows ``r`` elements apart, or None where
    the flattened form does not apply or pay (see :func:`_flattened`)."""
    (sh, sw), (_, o, ho, wo) = stride, out.shape
    if o // groups < 2 or sh != sw or sw > 2:
        return None
    return flat_row_length(ho, wo, r, _direct.lanes(dtype == np.float64), _FLAT_GAIN)


def describe():
    return {
        "kind": "register-blocked direct convolution (C via Cython), float32/float64",
        "openmp": _direct.OPENMP,
        "max_threads": _direct.max_threads() if _direct.OPENMP else 1,
        "threads": get_threads() if _direct.OPENMP else 1,
        "simd": _direct.SIMD,
        "block_channels": _direct.block(),
        "cached_weight_bytes": _cache.nbytes,
    }
