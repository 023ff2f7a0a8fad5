"""Which rows (columns) each output tile reads, and where they come from.

Pure index arithmetic on one spatial axis, no dask: the graph builder
(``_tiles``) applies it to rows and to columns.

The input is never padded or rechunked. Output i is anchored at padded
position ``i*stride + a`` with ``a = min(before, span-1)`` (input position
``i*stride`` for the usual paddings) and belongs to the tile of the input
chunk holding its anchor (the first tile also takes the anchors in the
leading padding, the last those in the trailing one), so output chunks
follow the input's chunks on the stride grid; a chunk holding no anchor
gives no tile (it still serves its neighbours' windows).

A tile's windows read its own chunk in place (the *center*) plus a *before*
and an *after* piece: positions of the neighbouring chunks, or of the
padding at the array's edges. Each piece is a list of *runs*, one per source
chunk: ``(chunk, local index, length)``, chunk -1 being ``cval`` (constant
mode). Padding is mapped to the input by :func:`fastconv._padding.source_index`
(the in-memory path's map), so a reflected edge is a reversed slice of the
edge chunk itself and a wrapped one a slice of the opposite chunk; a piece
spans several chunks only when they are thinner than the halo.
"""
from dataclasses import dataclass

import numpy as np

from .._padding import source_index


@dataclass(frozen=True)
class Run:
    chunk: int  # source chunk on this axis, -1: the constant fill
    index: object  # slice or int array, local to the chunk
    length: int


@dataclass(frozen=True)
class TileAxis:
    chunk: int  # the source chunk whose outputs this tile computes
    center: slice  # the part of that chunk the windows read, local to it
    before: tuple  # runs of the positions the windows read before the center
    after: tuple  # ... and after it
    n_out: int

    @property
    def lengths(self):
        """(before, center, after) lengths."""
        return (sum(r.length for r in self.before), self.center.stop - self.center.start,
                sum(r.length for r in self.after))


def _local_index(local):
    """A slice for a run of consecutive (or reversed) positions, else the
    index array (large paddings repeat positions)."""
    first, n = int(local[0]), len(local)
    if n == 1 or np.array_equal(local, np.arange(first, first + n)):
        return slice(first, first + n)
    if np.array_equal(local, np.arange(first, first - n, -1)):
        return slice(first, first - n if first - n >= 0 else None, -1)
    return local


def runs(positions, starts, ends, pad_before, mode):
    """Runs for the padded ``positions`` (an arange) of an axis whose input
    chunks span [starts[m], ends[m])."""
    if positions.size == 0:
        return ()
    src = source_index(positions - pad_before, int(ends[-1]), mode)
    chunk = np.where(src < 0, -1, np.searchsorted(ends, src, side="right"))
    cuts = np.flatnonzero(np.diff(chunk)) + 1
    out = []
    for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [src.size]])):
        m = int(chunk[lo])
        index = slice(0, hi - lo) if m < 0 else _local_index(src[lo:hi] - starts[m])
        out.append(Run(m, index, int(hi - lo)))
    return tuple(out)


def axis_plan(sizes, pad_before, stride, span, n_out, mode):
    """The tiles of one axis with input chunk ``sizes``: a list of
    :class:`TileAxis`, in order (their ``n_out`` are the output chunks)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    anchor = min(pad_before, span - 1)
    # Tile m owns the anchors in [bounds[m], bounds[m+1]); the first one from 0.
    bounds = [0] + [pad_before + int(s) for s in starts[1:]]
    first = [min(n_out, max(0, -(-(b - anchor) // stride))) for b in bounds] + [n_out]
    tiles = []
    for m in range(len(sizes)):
        o0, o1 = first[m], first[m + 1]
        if o1 <= o0:
            continue
        w0, w1 = o0 * stride, (o1 - 1) * stride + span  # padded positions the windows read
        c0, c1 = pad_before + int(starts[m]), pad_before + int(ends[m])  # the chunk's own positions
        lo, hi = max(w0, c0), min(w1, c1)
        if lo >= hi:  # the windows read only padding (or other chunks): an empty center
            lo = hi = min(max(c0, w0), w1)
        center = slice(lo - c0, hi - c0) if hi > lo else slice(0, 0)
        tiles.append(TileAxis(m, center, runs(np.arange(w0, lo), starts, ends, pad_before, mode),
                              runs(np.arange(hi, w1), starts, ends, pad_before, mode), o1 - o0))
    return tiles
