"""The chunked data path: one task per output tile, on the input's own chunks.

A layer call on a dask array x ((H, W) or (N, C, H, W)) with geometry
``geo`` becomes, per input chunk, at most two tasks and no copy of the
chunk:

* an **export** task cutting from the chunk the strips its neighbours'
  windows read (their halos, and at the array's edges the padding that maps
  into this chunk, see ``_plan``), converted to the compute dtype. It runs
  where the chunk lives, so only these strips travel between workers;
* a **tile** task computing the outputs anchored in the chunk from the
  chunk itself (read in place) and the pieces around it: the neighbours'
  exported strips, slices of its own chunk (a reflected edge) and the
  ``cval`` fill. The outputs whose windows lie inside the chunk are computed
  on it directly; only the four border strips are assembled from pieces
  (the engine's interior + border-strip split, applied to chunks).

Every region runs :func:`fastconv._engine.correlate` with the call's own
kernel, dtype, exactness, groups and backend choice, so a tile's result is
the in-memory result on that window.
"""
import itertools
import math

import numpy as np

import dask.array as da
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from .. import _engine
from .._dtypes import as_contiguous_operand, as_kernel_operand
from .._geometry import Geometry, span
from . import _buffers
from ._plan import Run, axis_plan


class _Chunk:
    """What every task runs: the kernel and the call's options. One key of
    the graph holds it, so it travels once to each worker, not with every
    task."""

    def __init__(self, w, bias, groups, stride, dilation, backend, exact, measure, cval=0.0):
        self.w, self.bias, self.groups, self.exact, self.measure = w, bias, groups, exact, measure
        self.stride, self.dilation, self.backend, self.cval = stride, dilation, backend, cval
        self.spans = tuple(span(k, d) for k, d in zip(w.shape[2:], dilation))

    def __setstate__(self, state):
        # Unpickled on a worker, the kernel's buffer may be unaligned: give
        # the backends the layout they accept (a copy only when needed).
        self.__dict__.update(state)
        self.w = as_contiguous_operand(self.w, self.w.dtype)
        if self.bias is not None:
            self.bias = as_contiguous_operand(self.bias, self.bias.dtype)

    def run(self, window, target):
        window = as_kernel_operand(window, self.w.dtype)  # the layout backends accept (copies only if needed)
        geo = Geometry.from_args(window.shape[2:], self.w.shape[2:], 0, self.stride, self.dilation)
        _engine.correlate(window, self.w, geo, self.groups, "constant", 0.0, self.backend, target, self.exact,
                          self.measure, bias=self.bias)


class _Static:
    """Plain data handed to a task; wrapped so that dask does not look for
    keys or tasks inside it."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _as4(a, stack):
    """A chunk as the engine's (N, C, H, W): a stack's leading axes are the
    batch (one channel); a layer's chunk already is."""
    return a.reshape((math.prod(a.shape[:-2]), 1) + a.shape[-2:]) if stack else a  # (-1 fails on empty pieces)


def _export(block, cuts, dtype):
    """The strips (row index, column index) of ``block`` its neighbours read."""
    return tuple(np.array(_cut(block, r, c), dtype=dtype) for r, c in cuts.value)


def _cut(block, r, c):
    """``block``'s rows ``r`` and columns ``c`` (slices or index arrays)."""
    if isinstance(r, slice) or isinstance(c, slice):
        return block[..., r, c]
    return block[..., r[:, None], c[None, :]]


def _piece(grid, center, exports, cval, stack):
    """One of the 3 x 3 pieces around a tile, from its blocks: ("self", rows,
    columns) of the tile's own chunk, ("cut", export, strip) of a neighbour's
    export, ("fill", rows, columns) of ``cval``."""
    if grid is None:
        return None
    blocks = []
    for row in grid:
        blocks.append([])
        for kind, a, b in row:
            if kind == "self":
                block = _cut(center, a, b)
            elif kind == "cut":
                block = _as4(exports[a][b], stack)
            else:
                block = np.full(center.shape[:2] + (a, b), cval, dtype=center.dtype)
            blocks[-1].append(block)
    return blocks[0][0] if len(blocks) == 1 and len(blocks[0]) == 1 else np.block(blocks)


def _window(parts, lengths, rows, cols):
    """Rows [r0, r1) x columns [c0, c1), relative to the center, of the 3 x 3
    tile ``parts`` whose (before, center, after) lengths per axis are
    ``lengths``: a view when inside the center, else assembled."""
    segments = []
    for (lo, hi), (before, n, after) in zip((rows, cols), lengths):
        bounds = ((-before, 0), (0, n), (n, n + after))
        segments.append([(k, max(lo, b0) - b0, min(hi, b1) - b0) for k, (b0, b1) in enumerate(bounds)
                         if min(hi, b1) > max(lo, b0)])
    blocks = [[parts[i][j][..., a0:a1, b0:b1] for j, b0, b1 in segments[1]] for i, a0, a1 in segments[0]]
    if len(blocks) == 1 and len(blocks[0]) == 1:
        return blocks[0][0]
    return np.block(blocks)


def _task(chunk, plan, block, *exports):
    """One output tile from its input chunk ``block`` and its neighbours'
    exports. ``plan``: the 3 x 3 piece grids, the (before, center, after)
    lengths and the outputs per axis."""
    grids, lengths, (ni, nj), stack = plan.value
    lead = block.shape[:-2]
    dtype = chunk.w.dtype
    center = as_kernel_operand(_as4(block, stack), dtype)  # a copy only for another dtype or layout
    parts = [[_piece(grids[i][j], center, exports, chunk.cval, stack) for j in range(3)] for i in range(3)]
    (sh, sw), (kh, kw) = chunk.stride, chunk.spans
    (bi, ci, _), (bj, cj, _) = lengths
    (i0, i1), (j0, j1) = (_engine._interior(c, b, k, s, no)
                          for c, b, k, s, no in ((ci, bi, kh, sh, ni), (cj, bj, kw, sw, nj)))
    out = _buffers.empty((center.shape[0], chunk.w.shape[0], ni, nj), dtype)  # recycled: see _buffers
    regions = (((i0, i1), (j0, j1)), ((0, i0), (0, nj)), ((i1, ni), (0, nj)), ((i0, i1), (0, j0)),
               ((i0, i1), (j1, nj)))
    for (p0, p1), (q0, q1) in regions:
        if p1 > p0 and q1 > q0:
            window = _window(parts, lengths, (p0 * sh - bi, (p1 - 1) * sh + kh - bi),
                             (q0 * sw - bj, (q1 - 1) * sw + kw - bj))
            chunk.run(window, out[..., p0:p1, q0:q1])
    return out.reshape(lead + (ni, nj)) if stack else out


def _tile_grids(trow, tcol, strip_of):
    """The 3 x 3 piece grids of the tile (trow, tcol) (None where a piece is
    empty); ``strip_of(r, c, rows, cols)`` registers a strip of source chunk
    (r, c) for export and returns (export position, strip position)."""
    own = (trow.chunk, tcol.chunk)
    axes = [(t.before, (Run(t.chunk, t.center, t.lengths[1]),), t.after) for t in (trow, tcol)]
    grids = [[None] * 3 for _ in range(3)]
    for (i, row_runs), (j, col_runs) in itertools.product(enumerate(axes[0]), enumerate(axes[1])):
        if row_runs and col_runs:
            grids[i][j] = [[("fill", r.length, c.length) if r.chunk < 0 or c.chunk < 0 else
                            ("self", r.index, c.index) if (r.chunk, c.chunk) == own else
                            ("cut",) + strip_of(r.chunk, c.chunk, r.index, c.index)
                            for c in col_runs] for r in row_runs]
    return grids


def _index_key(index):
    return ("s", index.start, index.stop, index.step) if isinstance(index, slice) else ("a",) + tuple(index.tolist())


def _graph(x, name, chunk, rows, cols, dtype, stack):
    """Per input chunk one export task (if a neighbour reads it) and one
    tile task (if outputs are anchored in it)."""
    kernel, halo = name + "-kernel", name + "-halo"
    dsk = {kernel: chunk}
    strips = {}  # (lead block index, row chunk, column chunk) -> {strip key: (position, rows, cols)}
    for lead in itertools.product(*(range(n) for n in x.numblocks[:-2])):
        for (ti, trow), (tj, tcol) in itertools.product(enumerate(rows), enumerate(cols)):
            sources = {}  # export -> position among the tile's arguments

            def strip_of(r, c, ri, ci, lead=lead, sources=sources):
                cut = strips.setdefault(lead + (r, c), {})
                found = cut.setdefault((_index_key(ri), _index_key(ci)), (len(cut), ri, ci))
                return sources.setdefault(lead + (r, c), len(sources)), found[0]

            grids = _tile_grids(trow, tcol, strip_of)
            plan = _Static((grids, (trow.lengths, tcol.lengths), (trow.n_out, tcol.n_out), stack))
            dsk[(name,) + lead + (ti, tj)] = ((_task, kernel, plan, (x.name,) + lead + (trow.chunk, tcol.chunk))
                                              + tuple((halo,) + source for source in sources))
    for source, cut in strips.items():
        listed = _Static([(ri, ci) for _, ri, ci in sorted(cut.values(), key=lambda v: v[0])])
        dsk[(halo,) + source] = (_export, (x.name,) + source, listed, dtype)
    return dsk


def correlate(x, call, geo, measure=None, stack=False):
    """The lazy result of the validated layer ``call`` (its kernel, bias,
    dtype, mode, ...) on the dask array ``x`` whose spatial geometry is
    ``geo``: (N, C, H, W) -> (N, O, Ho, Wo), or with ``stack`` (a one-channel
    kernel) (..., H, W) -> (..., Ho, Wo)."""
    if not stack and len(x.chunks[1]) > 1:
        x = x.rechunk({1: -1})  # every output reads all of its group's channels
    spans = tuple(span(k, d) for k, d in zip(geo.kernel_shape, geo.dilation))
    rows, cols = (axis_plan(x.chunks[a], p[0], s, k, n, call.mode)
                  for a, p, s, k, n in zip((-2, -1), geo.pads, geo.stride, spans, geo.out_shape))
    chunk = _Chunk(call.w, call.bias, call.groups, geo.stride, geo.dilation, call.backend, call.exact, measure,
                   call.cval)
    name = "fastconv-tile-" + tokenize(x.name, chunk.w, chunk.bias, call.groups, geo, call.mode, call.cval,
                                       call.backend, call.exact, measure, call.dtype)
    graph = HighLevelGraph.from_collections(name, _graph(x, name, chunk, rows, cols, call.dtype, stack),
                                            dependencies=[x])
    spatial = (tuple(t.n_out for t in rows), tuple(t.n_out for t in cols))
    out_chunks = x.chunks[:-2] + spatial if stack else (x.chunks[0], (call.w.shape[0],)) + spatial
    return da.Array(graph, name, chunks=out_chunks, meta=np.empty((0,) * x.ndim, dtype=call.dtype))
