"""Argument normalisation: padding, stride, dilation, boundary mode.

Every public entry point turns its keyword arguments into one frozen
:class:`Geometry` here, so that validation and error messages are written
once and the backends never see anything but plain integer tuples.
"""
import operator
from dataclasses import dataclass

from ._shapes import output_length, span

PADDING_STRINGS = ("valid", "same", "full")
MODES = ("constant", "reflect", "symmetric", "edge", "wrap")

_PADDING_FORMS = (
    "an int >= 0, (ph, pw), ((top, bottom), (left, right)), "
    "or one of " + ", ".join(repr(s) for s in PADDING_STRINGS)
)


def _as_int(value, name):
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
    pair = tuple(_as_int(v, name) for v in items)
    if min(pair) < 1:
        raise ValueError(f"{name} must be >= 1 on both axes, got {value!r}")
    return pair


def _padding_pairs(padding, kernel_span):
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
                pairs.append((_as_int(axis[0], "padding"), _as_int(axis[1], "padding")))
            else:
                p = _as_int(axis, "padding")
                pairs.append((p, p))
    else:
        p = _as_int(padding, "padding")
        pairs = [(p, p), (p, p)]
    if min(min(pair) for pair in pairs) < 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    return tuple(pairs)


def check_mode(mode):
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; accepted: " + ", ".join(repr(m) for m in MODES))
    return mode


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
        pads = _padding_pairs(padding, kernel_span)
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
