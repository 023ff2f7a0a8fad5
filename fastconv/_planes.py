"""Images as people have them: a stack ``(..., H, W)``, or channels anywhere
with the two spatial axes named by ``axes`` (scipy's spelling; ``(0, 1)``
for a channels-last ``(H, W, C)`` colour image), seen as the engine's
``(N, C, H, W)`` planes and back.

Every axis that is not spatial is a batch axis. One 2-D kernel filters every
plane (x ``(N, 1, H, W)``, w ``(1, 1, kh, kw)``); a ``(C, kh, kw)`` stack
gives each channel its own kernel, the channel axis being the *last*
non-spatial axis (x ``(N, C, H, W)``, w ``(C, 1, kh, kw)``, groups ``C``).
Either way all planes go to the backend in one call.

A channels-last image filtered with one 2-D kernel at column stride 1 skips
the planes altogether (:meth:`Layout.merge`): its (H, W, C) rows are read as
one (H, W*C) plane and the kernel's columns are C apart (column dilation
``dw*C``), so output element (i, j*C + c) is channel c's (i, j). No
transposes: the input is used in place (or converted once) and the result
comes out in the caller's layout.
"""
import math

import numpy as np

from ._dtypes import as_kernel_operand
from ._geometry import as_int


def spatial_axes(axes, ndim):
    """The two spatial axes as non-negative ints, in the caller's order."""
    if axes is None:
        return (ndim - 2, ndim - 1)
    if not isinstance(axes, (tuple, list)) or len(axes) != 2:
        raise ValueError(f"axes must name the two spatial axes (rows, columns), e.g. (0, 1) for an (H, W, C) "
                         f"image; got {axes!r}")
    pair = tuple(as_int(a, "axes") for a in axes)
    for a in pair:
        if not -ndim <= a < ndim:
            raise ValueError(f"axes {axes!r} is out of range for X with {ndim} dimensions "
                             f"(accepted: {-ndim} to {ndim - 1})")
    pair = tuple(a % ndim for a in pair)
    if pair[0] == pair[1]:
        raise ValueError(f"axes {axes!r} names the same axis twice; give two different spatial axes")
    return pair


class Layout:
    """Where the caller's image keeps its planes: ``axes`` (rows, columns),
    the batch shape (the other axes, in order) and the number of kernels."""

    __slots__ = ("axes", "ndim", "batch", "channels", "merged")

    def __init__(self, axes, ndim, batch, channels):
        self.axes, self.ndim, self.batch, self.channels = axes, ndim, batch, channels
        self.merged = 0  # > 0: the trailing channels are folded into the columns (see merge)

    def mergeable(self, x_shape, column_stride):
        """The channel count C folded into the column axis when the kernel is
        one 2-D kernel, the spatial pair is followed only by channel axes and
        the column stride is 1 (output columns j*C + c then step by 1); else 0."""
        rows, cols = self.axes
        if self.channels or cols != rows + 1 or cols == self.ndim - 1 or column_stride != 1:
            return 0
        return math.prod(x_shape[cols + 1:])

    def merge(self, channels):
        """From now on see planes as (N, 1, h, w*C) with C = ``channels``."""
        self.merged = channels

    @property
    def moved(self):
        """Is the spatial pair anywhere but the last two axes, in order?"""
        return self.axes != (self.ndim - 2, self.ndim - 1)

    def planes_shape(self, hw):
        """(N, C, h, w) of the engine's view for spatial size ``hw``."""
        n = math.prod(self.batch)
        if self.merged:
            return (n // self.merged, 1, hw[0], hw[1] * self.merged)
        return (n // self.channels if self.channels else n, self.channels or 1) + tuple(hw)

    def shape(self, hw):
        """The caller-layout shape of an array with spatial size ``hw``."""
        shape = list(self.batch)
        for axis, n in sorted(zip(self.axes, hw)):
            shape.insert(axis, n)
        return tuple(shape)

    def to_planes(self, a, dtype):
        """The caller-layout array ``a`` as (N, C, h, w) planes in ``dtype``,
        in the layout backends accept (one copy at most: a transpose and a
        dtype conversion are the same pass)."""
        if self.moved:
            moved = np.moveaxis(a, self.axes, (-2, -1))
            a = np.empty(moved.shape, dtype=dtype)
            _copy_planes(a, moved)
        return as_kernel_operand(a.reshape(self.planes_shape(a.shape[-2:])), dtype)

    def planes_view(self, a):
        """The (N, C, h, w) *view* of the caller-layout array ``a`` (an
        ``out``), or None when it cannot be had without a copy."""
        moved = np.moveaxis(a, self.axes, (-2, -1)) if self.moved and not self.merged else a
        view = moved.view()
        try:
            view.shape = self.planes_shape([a.shape[i] for i in self.axes])
        except AttributeError:
            return None
        return view

    def from_planes(self, y):
        """An (N, C, h, w) result in the caller's layout (C-contiguous)."""
        if self.merged:
            return y.reshape(self.shape((y.shape[-2], y.shape[-1] // self.merged)))
        y = y.reshape(self.batch + y.shape[-2:])
        if self.moved:
            out = np.empty(np.moveaxis(y, (-2, -1), self.axes).shape, dtype=y.dtype)
            _copy_planes(np.moveaxis(out, self.axes, (-2, -1)), y)
            return out
        return y


# Up to this many planes are copied one by one (see _copy_planes).
_PLANE_LOOP_MAX = 256


def _copy_planes(dst, src):
    """``dst[...] = src`` for two (..., h, w) arrays of which one is a
    channels-last view. numpy's single strided copy of such a pair runs its
    innermost loop over the few channels: a 1920x1080 RGB frame took 14 ms
    (uint8) to go from planes to channels-last and back, plane by plane
    2.2 ms."""
    lead = dst.shape[:-2]
    if math.prod(lead) > _PLANE_LOOP_MAX:
        np.copyto(dst, src, casting="unsafe")
        return
    for index in np.ndindex(lead):
        np.copyto(dst[index], src[index], casting="unsafe")


def layout(x_shape, k_shape, axes):
    """The :class:`Layout` of image ``x_shape`` with kernel ``k_shape`` (2-D,
    or a (C, kh, kw) stack matching the last non-spatial axis)."""
    ndim = len(x_shape)
    if ndim < 2:
        raise ValueError(f"X must have at least 2 dimensions (H, W), got shape {tuple(x_shape)}")
    pair = spatial_axes(axes, ndim)
    batch = tuple(n for i, n in enumerate(x_shape) if i not in pair)
    if len(k_shape) == 2:
        return Layout(pair, ndim, batch, 0)
    if len(k_shape) != 3:
        raise ValueError(f"K must be a 2-D kernel (kh, kw) or a (C, kh, kw) stack of one kernel per channel, "
                         f"got shape {tuple(k_shape)}")
    if not batch or batch[-1] != k_shape[0]:
        have = f"its channel axis (the last non-spatial axis) has {batch[-1]}" if batch else "it has no channel axis"
        raise ValueError(f"K is a stack of {k_shape[0]} kernels, one per channel, but X has shape {tuple(x_shape)} "
                         f"with spatial axes {pair}: {have}; pass axes= naming the spatial axes")
    return Layout(pair, ndim, batch, k_shape[0])
