"""Receptive fields of a stack of 2-D correlation layers.

Per axis, after a layer with kernel k, stride s, padding (p_before, p_after)
and dilation d applied to a map whose receptive field has size r, jump j
(input pixels between neighbouring elements) and start o (input coordinate
where element 0's field begins):

    r' = r + d*(k - 1)*j        j' = j*s        o' = o - p_before*j

starting from the input itself, r = j = 1 and o = 0. Element i of the
layer's output then sees input coordinates ``o' + i*j'`` to
``o' + i*j' + r' - 1`` (before clipping to the input).

:meth:`ReceptiveField.region` goes the other way for one element: it walks
the index interval back through the layers, clipping it at every layer to
the elements that exist there (padding holds zeros, which depend on
nothing), and returns the input rectangle.
"""
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ._geometry import Geometry, padding_pairs, positive_pair, span

_LAYER_FORMS = (
    "a layer is (kernel, stride, padding, dilation) with trailing items optional, "
    "a dict with keys kernel (or kernel_size), stride, padding, dilation, "
    "or an object with attributes kernel_size, stride, padding, dilation"
)


@dataclass(frozen=True)
class LayerField:
    """Receptive-field arithmetic after one layer, each entry an (h, w) pair."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))
    dilation: tuple[int, int]
    size: tuple[int, int]  # receptive field of one output element, in input pixels
    jump: tuple[int, int]  # input pixels between neighbouring output elements
    offset: tuple[int, int]  # input coordinate of the top-left of element (0, 0)'s field
    out_shape: Optional[tuple[int, int]] = None  # (Ho, Wo) when the input shape is known


def _layer_args(layer):
    if isinstance(layer, dict):
        unknown = set(layer) - {"kernel", "kernel_size", "stride", "padding", "dilation"}
        if unknown or ("kernel" in layer) == ("kernel_size" in layer):
            raise ValueError(f"bad layer {layer!r}: {_LAYER_FORMS}")
        kernel = layer.get("kernel", layer.get("kernel_size"))
        return kernel, layer.get("stride", 1), layer.get("padding", 0), layer.get("dilation", 1)
    if isinstance(layer, (tuple, list)):
        if not 1 <= len(layer) <= 4:
            raise ValueError(f"bad layer {layer!r}: {_LAYER_FORMS}")
        return tuple(layer) + (1, 0, 1)[len(layer) - 1 :]
    if hasattr(layer, "kernel_size"):
        return (
            layer.kernel_size,
            getattr(layer, "stride", 1),
            getattr(layer, "padding", 0),
            getattr(layer, "dilation", 1),
        )
    if isinstance(layer, int):
        return layer, 1, 0, 1
    raise TypeError(f"bad layer {layer!r}: {_LAYER_FORMS}")


class ReceptiveField:
    """Result of :func:`receptive_field`; ``fields[l]`` describes layer l's output."""

    def __init__(self, fields: Sequence[LayerField], input_shape: Optional[Sequence[int]]) -> None:
        self.fields = tuple(fields)
        self.input_shape = input_shape

    def __len__(self) -> int:
        return len(self.fields)

    def __getitem__(self, index: int) -> LayerField:
        return self.fields[index]

    @property
    def size(self) -> tuple[int, int]:
        """Receptive field (h, w) of one element of the last layer."""
        return self.fields[-1].size

    @property
    def jump(self) -> tuple[int, int]:
        return self.fields[-1].jump

    @property
    def offset(self) -> tuple[int, int]:
        return self.fields[-1].offset

    def region(self, layer_index: int, i: int, j: int) -> tuple[slice, slice]:
        """Input rectangle that output element (i, j) of layer ``layer_index`` depends on.

        An element that reads only padding gets empty slices. The rectangle is
        exact (every pixel in it can change the element, for kernels without zero
        taps; no pixel outside can) when, up to that layer, no kernel is dilated
        and no layer below it has a stride larger than its kernel. Otherwise the
        dependencies have holes and the rectangle is their bounding box: still
        nothing outside it matters.

        Parameters
        ----------
        layer_index : int
            The layer (negative counts from the end).
        i, j : int
            The element's position in that layer's output.

        Returns
        -------
        tuple of slice
            ``(rows, cols)``, clipped to the input, so ``X[rf.region(l, i, j)]``
            is the patch.

        Raises
        ------
        ValueError
            No ``input_shape`` was given to :func:`receptive_field`.
        IndexError
            ``layer_index`` out of range, or (i, j) outside the layer's output.

        Examples
        --------
        >>> rf = fastconv.receptive_field([(3, 2)], input_shape=(7, 7))
        >>> rf.region(0, 1, 2)
        (slice(2, 5, None), slice(4, 7, None))
        """
        if self.input_shape is None:
            raise ValueError("region() needs the input shape: call receptive_field(layers, input_shape=(H, W))")
        n = len(self.fields)
        if not -n <= layer_index < n:
            raise IndexError(f"layer_index {layer_index} out of range for {n} layers")
        layer_index %= n
        shape = self.fields[layer_index].out_shape
        if not (0 <= i < shape[0] and 0 <= j < shape[1]):
            raise IndexError(f"element ({i}, {j}) is outside layer {layer_index}'s output of shape {shape}")
        bounds = [[i, i], [j, j]]
        for index in range(layer_index, -1, -1):
            f = self.fields[index]
            below = self.fields[index - 1].out_shape if index else self.input_shape
            for axis in (0, 1):
                lo, hi = bounds[axis]
                s, d, k, p = f.stride[axis], f.dilation[axis], f.kernel[axis], f.pads[axis][0]
                lo, hi = max(lo * s - p, 0), min(hi * s - p + span(k, d) - 1, below[axis] - 1)
                if lo > hi:  # reads only padding
                    return slice(0, 0), slice(0, 0)
                bounds[axis] = [lo, hi]
        return tuple(slice(lo, hi + 1) for lo, hi in bounds)

    def __repr__(self) -> str:
        lines = ["layer  kernel  stride  dilation  size    jump    offset   out_shape"]
        for index, f in enumerate(self.fields):
            lines.append(
                f"{index:<6} {_pair(f.kernel):<7} {_pair(f.stride):<7} {_pair(f.dilation):<9} "
                f"{_pair(f.size):<7} {_pair(f.jump):<7} {_pair(f.offset):<8} "
                f"{'?' if f.out_shape is None else _pair(f.out_shape)}"
            )
        return "\n".join(lines)


def _pair(p):
    return f"{p[0]}x{p[1]}" if p[0] != p[1] else str(p[0])


def receptive_field(layers: Sequence[Any], input_shape: Optional[Sequence[int]] = None) -> ReceptiveField:
    """Receptive-field size, jump and offset after every layer of a stack.

    With ``input_shape`` every layer is also checked to fit and its output
    shape recorded, and :meth:`ReceptiveField.region` gives the input rectangle
    behind any element (exact without dilation; otherwise a bounding box).

    Parameters
    ----------
    layers : sequence
        Each layer is ``(kernel, stride, padding, dilation)`` (trailing items
        optional; defaults 1, 0, 1) or a bare kernel size, a dict with those
        keys, or an object with ``kernel_size``, ``stride``, ``padding`` and
        ``dilation`` attributes (a :class:`Conv2D` layer). ``kernel`` is the
        kernel's shape (int or (kh, kw)); the other items take every form
        :func:`fastconv.corr2d` takes, including "valid", "same" and "full".
    input_shape : (H, W), optional
        The input's shape.

    Returns
    -------
    ReceptiveField
        One :class:`LayerField` per layer (``rf[i]``), the last layer's
        ``size``, ``jump`` and ``offset``, and ``region(layer, i, j)``.

    Raises
    ------
    ValueError
        A malformed layer, or (with ``input_shape``) a layer whose kernel is
        larger than its padded input.
    TypeError
        A layer in none of the accepted forms.

    Examples
    --------
    The chapter's example: a 3x3 input, a 2x2 layer, then another 2x2 layer.

    >>> rf = fastconv.receptive_field([2, 2], input_shape=(3, 3))
    >>> rf[0].size, rf[1].size
    ((2, 2), (3, 3))
    >>> rf.region(0, 0, 0)   # the output 19 reads inputs 0, 1, 3, 4
    (slice(0, 2, None), slice(0, 2, None))
    >>> rf.region(1, 0, 0)   # the final z reads all nine
    (slice(0, 3, None), slice(0, 3, None))
    """
    layers = list(layers)
    if not layers:
        raise ValueError("layers is empty; " + _LAYER_FORMS)
    if input_shape is not None:
        shape = tuple(int(n) for n in input_shape)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"input_shape must be a pair (H, W) of ints >= 1, got {input_shape!r}")
        input_shape = shape
    size, jump, offset = (1, 1), (1, 1), (0, 0)
    shape = input_shape
    fields = []
    for index, layer in enumerate(layers):
        kernel, stride, padding, dilation = _layer_args(layer)
        try:
            kernel = positive_pair(kernel, "kernel")
            if shape is not None:
                geo = Geometry.from_args(shape, kernel, padding, stride, dilation)
                stride, dilation, pads, shape = geo.stride, geo.dilation, geo.pads, geo.out_shape
            else:
                stride = positive_pair(stride, "stride")
                dilation = positive_pair(dilation, "dilation")
                pads = padding_pairs(padding, tuple(span(k, d) for k, d in zip(kernel, dilation)))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"layer {index}: {exc}") from None
        size = tuple(r + d * (k - 1) * jp for r, d, k, jp in zip(size, dilation, kernel, jump))
        offset = tuple(o - p[0] * jp for o, p, jp in zip(offset, pads, jump))
        jump = tuple(jp * s for jp, s in zip(jump, stride))
        fields.append(LayerField(kernel, stride, pads, dilation, size, jump, offset, shape))
    return ReceptiveField(fields, input_shape)
