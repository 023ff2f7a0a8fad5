"""Index arithmetic: output lengths, kernel spans, input extents, padding
pairs, and :class:`Geometry`, the one validated description of a call's
padding, stride and dilation. Every shape formula of the package lives here.

Per axis, an input of length n padded by p_before + p_after and read by a
kernel of length k with dilation d and stride s gives

    floor((n + p_before + p_after - d*(k-1) - 1) / s) + 1

outputs; the kernel's footprint on the input (its span) is d*(k-1) + 1, and
the outputs read the first ``input_extent`` = (outputs-1)*s + span elements
of the padded axis.
"""
import functools
import math
import operator
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from ._typing import Padding, Pair

PADDING_STRINGS = ("valid", "same", "full")
MODES = ("constant", "reflect", "symmetric", "edge", "wrap")
# scipy.ndimage's names that mean one thing only; its "reflect" is fastconv's
# (numpy.pad's) "symmetric", so that name keeps numpy's meaning here.
MODE_ALIASES = {"mirror": "reflect", "nearest": "edge", "grid-wrap": "wrap", "grid-constant": "constant"}


def span(k, d):
    """Length of the input window a kernel of length k with dilation d covers."""
    return d * (k - 1) + 1


def output_length(n, k, *, padding=(0, 0), stride=1, dilation=1):
    """Output length along one axis; may be <= 0 when the kernel does not fit."""
    padded = n + padding[0] + padding[1]
    return (padded - span(k, dilation)) // stride + 1


def input_extent(n_out, k, stride, dilation):
    """Elements of the padded axis that ``n_out`` outputs actually read."""
    return (n_out - 1) * stride + span(k, dilation)

_PADDING_FORMS = (
    "an int >= 0, (ph, pw), ((top, bottom), (left, right)), "
    "or one of " + ", ".join(repr(s) for s in PADDING_STRINGS)
)


def as_int(value, name):
    """``operator.index`` with a message; bools are refused (padding=True is a bug)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got the bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {value!r} of type {type(value).__name__}") from None


def positive_pair(value, name):
    """An int or an (h, w) pair of ints >= 1, returned as a pair."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2:
        raise ValueError(f"{name} must be an int or a pair (h, w) of ints >= 1, got {value!r}")
    pair = tuple(as_int(v, name) for v in items)
    if min(pair) < 1:
        raise ValueError(f"{name} must be >= 1 on both axes, got {value!r}")
    return pair


def padding_pairs(padding, kernel_span):
    """((top, bottom), (left, right)) from any accepted padding form."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding == "same":
            # The extra row/column of an even-sized kernel goes after
            # (bottom/right), as in PyTorch's padding="same".
            return tuple((t // 2, t - t // 2) for t in (s - 1 for s in kernel_span))
        if padding == "full":
            return tuple((s - 1, s - 1) for s in kernel_span)
        raise ValueError(f"unknown padding {padding!r}; accepted: {_PADDING_FORMS}")
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(f"padding {padding!r} has {len(padding)} entries; accepted: {_PADDING_FORMS}")
        pairs = []
        for axis in padding:
            if isinstance(axis, (tuple, list)):
                if len(axis) != 2:
                    raise ValueError(f"padding {padding!r} is not {_PADDING_FORMS}")
                pairs.append((as_int(axis[0], "padding"), as_int(axis[1], "padding")))
            else:
                p = as_int(axis, "padding")
                pairs.append((p, p))
    else:
        p = as_int(padding, "padding")
        pairs = [(p, p), (p, p)]
    if min(min(pair) for pair in pairs) < 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    return tuple(pairs)


def check_mode(mode):
    """The canonical (numpy.pad) name of boundary ``mode``, aliases resolved."""
    if isinstance(mode, str) and mode in MODES:
        return mode
    canonical = MODE_ALIASES.get(mode) if isinstance(mode, str) else None
    if canonical is None:
        raise ValueError(
            f"unknown mode {mode!r}; accepted: " + ", ".join(repr(m) for m in MODES)
            + " (numpy.pad's names: 'reflect' is numpy's, 'c b a b c d', which scipy.ndimage calls 'mirror'; "
            "ndimage's 'reflect' is 'symmetric') and the scipy.ndimage aliases "
            + ", ".join(f"{a!r} (= {c!r})" for a, c in MODE_ALIASES.items())
        )
    return canonical


@dataclass(frozen=True)
class Geometry:
    """Everything about one call's index arithmetic, validated."""

    in_shape: tuple  # (h, w) before padding
    kernel_shape: tuple  # (kh, kw)
    pads: tuple  # ((top, bottom), (left, right))
    stride: tuple  # (sh, sw)
    dilation: tuple  # (dh, dw)
    out_shape: tuple  # (ho, wo)

    padded: bool  # any padding at all

    @functools.cached_property
    def compact(self):
        """None, or ((rows, cols), geometry) when the outputs read only a
        small part of the padded input (a stride much longer than the
        kernel's span, or a dilation much longer than the outputs' extent):
        ``rows``/``cols`` are the padded-axis indices they read (an int array,
        or None to keep that axis), and ``geometry`` describes the same
        correlation over the input gathered at them, unpadded. Cached on
        the (memoised) geometry, so the common case costs one attribute
        read per call; huge virtual inputs (``np.broadcast_to``) are never
        materialised this way."""
        axes = [_compact_axis(o, k, s, d) for o, k, s, d in
                zip(self.out_shape, self.kernel_shape, self.stride, self.dilation)]
        if all(a is None for a in axes):
            return None
        pads = [(0, 0) if a else p for a, p in zip(axes, self.pads)]
        index = tuple(None if a is None else a[0] for a in axes)
        shape = tuple(n if a is None else len(a[0]) for a, n in zip(axes, self.in_shape))
        stride = tuple(s if a is None else a[1] for a, s in zip(axes, self.stride))
        dilation = tuple(d if a is None else a[2] for a, d in zip(axes, self.dilation))
        geo = Geometry._build(shape, self.kernel_shape, tuple(pads), stride, dilation)
        assert geo.out_shape == self.out_shape
        return index, geo

    @property
    def extent(self):
        """(rows, cols) of the padded input the outputs read (never more
        than the padded input; less when the stride leaves a remainder)."""
        return tuple(input_extent(o, k, s, d)
                     for o, k, s, d in zip(self.out_shape, self.kernel_shape, self.stride, self.dilation))

    @property
    def padded_shape(self):
        """(Hp, Wp): the input's shape after padding."""
        return tuple(n + p[0] + p[1] for n, p in zip(self.in_shape, self.pads))

    @classmethod
    def from_args(cls, in_shape, kernel_shape, padding=0, stride=1, dilation=1):
        """The validated geometry; memoised, since a loop calling corr2d on
        one shape would otherwise pay for this validation on every call."""
        # Exact ints (the common call) skip the recursive check.
        plain = (type(padding) is int and type(stride) is int and type(dilation) is int) or (
            _plain(padding) and _plain(stride) and _plain(dilation))
        key = (tuple(in_shape), tuple(kernel_shape), padding, stride, dilation)
        geo = _GEOMETRIES.get(key) if plain else None
        if geo is None:
            geo = cls._build(in_shape, kernel_shape, padding, stride, dilation)
            if plain and len(_GEOMETRIES) < _GEOMETRY_CACHE_SIZE:
                _GEOMETRIES[key] = geo
        return geo

    @classmethod
    def _build(cls, in_shape, kernel_shape, padding, stride, dilation):
        stride = positive_pair(stride, "stride")
        dilation = positive_pair(dilation, "dilation")
        kernel_span = tuple(span(k, d) for k, d in zip(kernel_shape, dilation))
        pads = padding_pairs(padding, kernel_span)
        padded = tuple(n + p[0] + p[1] for n, p in zip(in_shape, pads))
        if any(s > n for s, n in zip(kernel_span, padded)):
            dil = "" if dilation == (1, 1) else f" with dilation {dilation} spans {kernel_span} and"
            raise ValueError(
                f"kernel of shape {tuple(kernel_shape)}{dil} is larger than the padded input "
                f"{padded} (input {tuple(in_shape)}, padding {pads})"
            )
        out_shape = tuple(
            output_length(n, k, padding=p, stride=s, dilation=d)
            for n, k, p, s, d in zip(in_shape, kernel_shape, pads, stride, dilation)
        )
        if padded[0] * padded[1] > MAX_PADDED_ELEMENTS:
            raise ValueError(
                f"padding {pads} makes the padded input {padded[0]} x {padded[1]} elements, more than "
                f"fastconv can index (at most 2**56 elements per image); use less padding"
            )
        # A stride longer than the padded input (one output) or a dilation
        # on a one-tap axis changes nothing: cut to the padded length or to
        # 1, so every backend sees small numbers (a stride of 2**62
        # overflowed some) and the output-length formula still holds.
        stride = tuple(s if o > 1 else min(s, n - sp + 1)
                       for o, s, n, sp in zip(out_shape, stride, padded, kernel_span))
        dilation = tuple(1 if k == 1 else d for k, d in zip(kernel_shape, dilation))
        has_padding = any(p for pair in pads for p in pair)
        return cls(tuple(in_shape), tuple(kernel_shape), pads, stride, dilation, out_shape, has_padding)


_GEOMETRIES = {}
_GEOMETRY_CACHE_SIZE = 4096
# Elements of one padded image at most: well beyond any real array, and far
# enough below 2**63 that byte offsets of every backend stay exact.
MAX_PADDED_ELEMENTS = 2**56
# Gather the rows/columns the outputs read when they are at most this
# fraction of the padded axis (below, reading in place is as cheap).
_COMPACT_FRACTION = 4


def _compact_axis(n_out, k, s, d):
    """(padded-axis indices read, new stride, new dilation) for one axis, or
    None when gathering would not pay. Two layouts keep the correlation a
    correlation: windows side by side when the stride exceeds the span, or
    (dilation exceeding the outputs' extent) the kernel's taps as blocks."""
    span_ = span(k, d)
    extent = input_extent(n_out, k, s, d)
    if s > span_:  # windows are disjoint: window i at i*span
        index = (np.arange(n_out)[:, None] * s + np.arange(span_)[None, :]).ravel()
        new = (index, span_, d)
    elif k > 1 and d > (n_out - 1) * s + 1:  # tap rows are disjoint: tap a's rows at a*E
        e = (n_out - 1) * s + 1
        index = (np.arange(k)[:, None] * d + np.arange(e)[None, :]).ravel()
        new = (index, s, e)
    else:
        return None
    return new if _COMPACT_FRACTION * len(index) <= extent else None


def _plain(value):
    """Is ``value`` an exact int or str, or a tuple built only of those?
    Only such arguments are memoised: True == 1 and 1.0 == 1 would otherwise
    let a refused argument hit a cached answer."""
    kind = type(value)
    if kind is int or kind is str:
        return True
    if kind is not tuple:
        return False
    for item in value:
        if not _plain(item):
            return False
    return True


def output_shape(input_shape: Sequence[int], kernel_shape: Sequence[int], *, padding: Padding = 0, stride: Pair = 1,
                 dilation: Pair = 1) -> tuple[int, int]:
    """Shape of ``corr2d(X, K, padding=..., stride=..., dilation=...)``.

    Per axis: ``(n + pad_before + pad_after - d*(k-1) - 1) // s + 1``.

    Parameters
    ----------
    input_shape, kernel_shape : (h, w)
        Pairs of ints >= 1.
    padding, stride, dilation
        Every form :func:`fastconv.corr2d` takes.

    Returns
    -------
    tuple of int
        (Ho, Wo).

    Raises
    ------
    ValueError
        A shape that is not a pair of ints >= 1, a bad parameter, or a kernel
        larger than the padded input.

    Examples
    --------
    >>> fastconv.output_shape((8, 8), (3, 5), padding=(0, 1), stride=(3, 4))
    (2, 2)
    >>> fastconv.output_shape((32, 32), (4, 4), padding="same")
    (32, 32)
    """
    shapes = []
    for value, name in ((input_shape, "input_shape"), (kernel_shape, "kernel_shape")):
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise ValueError(f"{name} must be a pair (h, w) of ints >= 1, got {value!r}")
        pair = tuple(as_int(v, name) for v in value)
        if min(pair) < 1:
            raise ValueError(f"{name} must be a pair (h, w) of ints >= 1, got {value!r}")
        shapes.append(pair)
    return Geometry.from_args(shapes[0], shapes[1], padding, stride, dilation).out_shape


class PhaseAxis(NamedTuple):
    """One axis of one stride phase of an input gradient (see :func:`stride_phase`)."""

    taps: slice  # the kernel taps that land on this phase: first::step, count of them
    count: int
    dilation: int  # their spacing, in samples of grad_out
    rows: slice  # grad_out rows the phase reads
    pads: tuple  # zeros around those rows: (before, after)
    start: int  # first gradient row of the phase, relative to the requested range
    length: int  # gradient rows of the phase in the requested range


@functools.lru_cache(maxsize=4096)
def stride_phase(k, stride, dilation, phase, first, last, n_out):
    """The input gradient of a strided correlation along one axis, on the
    padded-input positions p = phase (mod stride) of [first, last): a
    stride-1 correlation of grad_out (``n_out`` samples) with the taps that
    land there, flipped. None when no tap lands on the phase or the range
    holds none of its positions.

    Forward: y[i] = sum_a w[a] x[i*s + a*d]. On p = phase + s*t only taps
    with a*d = phase (mod s) contribute, a = first + step*m (step = s/gcd(s, d)),
    at lags lag + m*(d/gcd): dx[t] = sum_m w[first + step*m] g[t - lag - m*d/gcd].
    """
    taps = [a for a in range(k) if (a * dilation) % stride == phase]
    t0, t1 = -((phase - first) // stride), -((phase - last) // stride)  # ceil((first|last - phase) / s)
    if not taps or t1 <= t0:
        return None
    g = math.gcd(stride, dilation)
    count, sub_dilation = len(taps), dilation // g
    lag = (taps[0] * dilation - phase) // stride
    lo, hi = t0 - lag - (count - 1) * sub_dilation, t1 - lag
    rows = slice(max(lo, 0), min(hi, n_out))
    if rows.stop <= rows.start:
        return None
    return PhaseAxis(slice(taps[0], None, stride // g), count, sub_dilation, rows,
                     (max(0, -lo), max(0, hi - n_out)), phase + stride * t0 - first, t1 - t0)


def transposed_geometry(in_shape, kernel_shape, padding, output_padding, stride, dilation):
    """The Geometry of the forward correlation whose input gradient
    ``conv_transpose2d`` computes: input = the transposed conv's output,
    (H-1)*s - 2p + d*(k-1) + output_padding + 1 per axis, and out_shape =
    ``in_shape``. ``padding`` and ``output_padding`` are ints or (h, w)
    pairs; output_padding must be smaller than the stride or the dilation
    (as in torch), so it only adds rows no input reaches (or the last one a
    stride step leaves out)."""
    stride = positive_pair(stride, "stride")
    dilation = positive_pair(dilation, "dilation")
    pairs = []
    for value, name in ((padding, "padding"), (output_padding, "output_padding")):
        items = value if isinstance(value, (tuple, list)) else (value, value)
        if len(items) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w) of ints >= 0, got {value!r}")
        pair = tuple(as_int(v, name) for v in items)
        if min(pair) < 0:
            raise ValueError(f"{name} must be >= 0 on both axes, got {value!r}")
        pairs.append(pair)
    padding, output_padding = pairs
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= s and op >= d:
            raise ValueError(
                f"output_padding must be smaller than either the stride or the dilation on each axis, "
                f"got output_padding={output_padding}, stride={stride}, dilation={dilation}"
            )
    out = tuple((n - 1) * s - 2 * p + span(k, d) + op
                for n, k, p, op, s, d in zip(in_shape, kernel_shape, padding, output_padding, stride, dilation))
    if min(out) < 1:
        raise ValueError(
            f"conv_transpose2d output would be {out} for input {tuple(in_shape)}, kernel {tuple(kernel_shape)}, "
            f"padding {padding}, stride {stride}, dilation {dilation}: padding is too large"
        )
    pads = tuple((p, p) for p in padding)
    return Geometry(out, tuple(kernel_shape), pads, stride, dilation, tuple(in_shape), any(padding))


@functools.lru_cache(maxsize=4096)
def fft_length(n, real=False):
    """The transform length the fft backend uses for an axis of ``n``: the
    smallest 2^a 3^b 5^c (``real``) or 2^a 3^b 5^c 7^d 11^e (complex) >= n,
    as ``scipy.fft.next_fast_len`` (pocketfft) chooses it. The cost model
    uses the same function, so it predicts the transform that runs."""
    n = int(n)
    if n <= 6:
        return max(n, 1)
    primes = (2, 3, 5) if real else (2, 3, 5, 7, 11)
    best = 1 << (n - 1).bit_length()
    stack = [(1, 0)]
    while stack:  # every product of the primes below ``best``, each once
        value, first = stack.pop()
        for i in range(first, len(primes)):
            m = value * primes[i]
            if m >= best:
                continue
            if m >= n:
                best = m
            else:
                stack.append((m, i))
    return best


# Tiles of F(4,3) per call below which F(2,3) is faster: with few tiles the
# t^2 GEMMs are skinny (O x C times C x tiles) and bound by reading the
# transformed kernel, which is 36/16 = 2.25x larger for F(4,3). Measured on
# a 2-core EPYC (one thread, CPU time): 1x256x14x14 (16 tiles) and 8x512x7x7
# (32) faster with F(2,3), 1x128x28x28 (49) with F(4,3).
WINOGRAD_F4_MIN_TILES = 48


def winograd_tiles(n, ho, wo, double):
    """(m, tile rows, tile columns) of Winograd F(m x m, 3 x 3) on n images
    of an ho x wo output. float32 (``double`` False): m = 2 always -- F(4,3)
    in float32 errs 10-45x more than torch's float32 direct convolution on
    ResNet layers, F(2,3) 1-2x (see the winograd backend's docstring).
    float64: m = 4 unless the output is smaller than 4 on an axis (its tiles
    would be mostly padding) or there are fewer than
    ``WINOGRAD_F4_MIN_TILES`` F(4,3) tiles; else m = 2. Shared by the
    winograd backend and its cost-model family."""
    th, tw = -(-ho // 4), -(-wo // 4)
    if double and min(ho, wo) >= 4 and n * th * tw >= WINOGRAD_F4_MIN_TILES:
        return 4, th, tw
    return 2, -(-ho // 2), -(-wo // 2)


# A Winograd chunk's workspace is at least 1/8 of the transformed kernel U,
# which its batched GEMMs read whole. Measured on a 2-core EPYC (1 MiB L2),
# chunks of 0.5-16 MiB: the best sizes were 1/8 of U, within noise, from U =
# 1 MiB (f32, 128 channels) to 19 MiB (f64, 256 channels, F(4,3)); half the
# L2 was 1.3-3.4x slower for U >= 16 MiB, all of U 1.4-1.6x slower.
WINOGRAD_KERNEL_PER_CHUNK = 8


def winograd_chunks(n_tile_rows, tw, tile_bytes, kernel_bytes, threads, workspace_limit, chunk_bytes):
    """(tile rows, tile columns, chunks) of a Winograd call on
    ``n_tile_rows`` x ``tw`` tiles whose transformed input and output take
    ``tile_bytes`` per tile, with a transformed kernel U of
    ``kernel_bytes``. A chunk's workspace is ``chunk_bytes`` (half a core's
    L2: the transforms then work in L2), or 1/``WINOGRAD_KERNEL_PER_CHUNK``
    of U where that is larger (every chunk's GEMMs read all of U: fewer,
    larger chunks for many channels) -- within the workspace cap, never
    below one tile; with several threads, within each thread's share of the
    cap and small enough that every thread gets a chunk. Shared by the
    winograd backend and its cost-model family, so the model counts the
    chunks the backend runs."""
    total = n_tile_rows * tw
    target = max(chunk_bytes, kernel_bytes // WINOGRAD_KERNEL_PER_CHUNK)
    budget = min(workspace_limit, target)
    if threads > 1 and total >= 2:
        share = min(workspace_limit // threads, target)
        budget = max(tile_bytes, min(share, -(-total // threads) * tile_bytes))
    tiles = max(1, budget // tile_bytes)
    rows, cols = (min(n_tile_rows, tiles // tw), tw) if tiles >= tw else (1, tiles)
    return rows, cols, -(-n_tile_rows // rows) * -(-tw // cols)


def _row_fill(wo, lanes):
    """Share of the widest vector's lanes a row of ``wo`` outputs keeps
    busy: it runs on the widest vector it fills, its last one shifted."""
    for width in lanes:
        if wo >= width:
            return wo / (-(-wo // width) * width) * width / lanes[0]
    return 0.0  # the scalar kernel


def flat_row_length(ho, wo, row_stride, lanes, gain):
    """Outputs of the ONE long row that computes an ho x wo map whose input
    rows lie ``row_stride`` elements apart ((ho - 1) * row_stride + wo, the
    ``row_stride - wo`` between two rows discarded), when that row fills
    the vectors (``lanes``, widest first) at least ``gain`` times better
    than the map's own rows do; else None. The direct backend's narrow
    feature maps (7x7, 14x14) and its cost-model family share it."""
    if ho < 2 or row_stride <= 0 or not lanes:
        return None
    length = (ho - 1) * row_stride + wo
    flat_fill = ho * wo / (-(-length // lanes[0]) * lanes[0])
    return length if flat_fill >= gain * _row_fill(wo, lanes) else None
