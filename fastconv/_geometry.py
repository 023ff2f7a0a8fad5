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
import operator
from dataclasses import dataclass

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
    if mode in MODES:
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
        plain = _plain(padding) and _plain(stride) and _plain(dilation)
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
        has_padding = any(p for pair in pads for p in pair)
        return cls(tuple(in_shape), tuple(kernel_shape), pads, stride, dilation, out_shape, has_padding)


_GEOMETRIES = {}
_GEOMETRY_CACHE_SIZE = 4096


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


def output_shape(input_shape, kernel_shape, *, padding=0, stride=1, dilation=1):
    """Shape of ``corr2d(X, K, padding=..., stride=..., dilation=...)``.

    ``input_shape`` and ``kernel_shape`` are (h, w) pairs; the parameters
    take every form :func:`fastconv.corr2d` takes. Raises ValueError when
    the kernel is larger than the padded input.
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
