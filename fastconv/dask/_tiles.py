"""The chunked data path: pad at the array's edges, exchange halos, run the
engine on every chunk.

A layer call on a dask array x (N, C, H, W) with geometry ``geo`` becomes:

1. **pad** only the array's edges, lazily: the boundary strips are built
   from the rows/columns they copy (``_padding.source_index``, the map the
   in-memory path uses), so the padded array Xp is x plus thin edge chunks;
2. **crop** Xp to the rows/columns the outputs read (``geo.extent``) and
   **merge** chunks too thin to serve as a neighbour's halo;
3. **tile**: output i is anchored at padded row ``i*s + a`` with
   ``a = min(top, span-1)`` (input row ``i*s`` for the usual paddings) and
   each chunk computes the outputs anchored in it, so output chunks follow
   the input's chunks on the stride grid. A chunk's windows reach ``a`` rows
   into the chunk above and ``span-1-a`` into the one below (columns alike).
   The halos arrive as eight small arrays around the chunk, never
   concatenated with it: the outputs whose windows lie inside the chunk read
   it in place and only the four border strips are assembled from pieces
   (the engine's interior + border-strip split, applied to chunks).

Every chunk runs :func:`fastconv._engine.correlate` with the call's own
kernel, dtype, exactness, groups and backend choice, so a chunk's result is
the in-memory result on that window.
"""
import operator

import numpy as np

import dask.array as da
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from .. import _engine
from .._dtypes import as_contiguous_operand, as_kernel_operand
from .._geometry import Geometry, span
from .._padding import source_index


def _pad_axis(x, axis, before, after, mode, cval):
    """``x`` padded on ``axis`` (2 or 3) with the boundary ``mode``; the
    strips are their own (thin) chunks."""
    n = x.shape[axis]
    pieces = []
    for positions in (np.arange(-before, 0), np.arange(n, n + after)):
        if positions.size == 0:
            pieces.append(None)
            continue
        if mode == "constant":
            shape = list(x.shape)
            shape[axis] = positions.size
            chunks = list(x.chunks)
            chunks[axis] = (positions.size,)
            pieces.append(da.full(tuple(shape), cval, dtype=x.dtype, chunks=tuple(chunks)))
        else:
            pieces.append(da.take(x, source_index(positions, n, mode), axis=axis))
    parts = [p for p in (pieces[0], x, pieces[1]) if p is not None]
    return parts[0] if len(parts) == 1 else da.concatenate(parts, axis=axis)


def _outputs(sizes, stride, anchor, n_out):
    """Per chunk: (index of its first output, number of outputs). Output i
    belongs to the chunk holding padded position ``i*stride + anchor``."""
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
    first = [min(n_out, max(0, -(-(a - anchor) // stride))) for a in starts] + [n_out]
    return [(first[k], first[k + 1] - first[k]) for k in range(len(sizes))]


def axis_plan(sizes, stride, anchor, before, after, n_out):
    """Chunk sizes for one padded axis, merged until every chunk holds at
    least one output and can give its neighbours their halos (``before``
    rows to the next chunk, ``after`` rows to the previous one); and per
    chunk (start of its first window relative to the chunk, outputs)."""
    given, sizes, thin = sizes, [], max(before, after, stride)
    for n in (int(n) for n in given if n):  # one greedy pass does most merging: a chunk of >= stride
        if sizes and sizes[-1] < thin:     # positions holds an output unless it is past the last one
            sizes[-1] += n
        else:
            sizes.append(n)
    while True:
        counts = _outputs(sizes, stride, anchor, n_out)
        last = len(sizes) - 1
        bad = [k for k, n in enumerate(sizes)
               if counts[k][1] == 0 or (k < last and n < before) or (k > 0 and n < after)]
        if not bad or last == 0:
            break
        k = bad[0]
        j = k + 1 if k < last else k - 1
        sizes[min(j, k)] = sizes[j] + sizes[k]
        del sizes[max(j, k)]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
    return tuple(sizes), tuple((i0 * stride - a, n) for (i0, n), a in zip(counts, starts))


class _Chunk:
    """What every task runs: the kernel and the call's options. One key of
    the graph holds it, so it travels once to each worker, not with every
    task."""

    def __init__(self, w, bias, groups, stride, dilation, backend, exact, measure):
        self.w, self.bias, self.groups, self.exact, self.measure = w, bias, groups, exact, measure
        self.stride, self.dilation, self.backend = stride, dilation, backend
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
                          self.measure)
        if self.bias is not None:
            target += self.bias[:, None, None]


def _window(parts, rows, cols):
    """Rows [r0, r1) x columns [c0, c1), relative to the center chunk, of the
    3 x 3 tile ``parts`` (halo strips around the center; None where the
    array ends): a view when inside the center, else assembled."""
    h, w = parts[1][1].shape[2:]
    above = 0 if parts[0][1] is None else parts[0][1].shape[2]
    left = 0 if parts[1][0] is None else parts[1][0].shape[3]
    segments = []
    for (lo, hi), n, before in ((rows, h, above), (cols, w, left)):
        bounds = ((-before, 0), (0, n), (n, hi))
        segments.append([(k, max(lo, b0) - b0, min(hi, b1) - b0) for k, (b0, b1) in enumerate(bounds)
                         if min(hi, b1) > max(lo, b0)])
    blocks = [[parts[i][j][..., a0:a1, b0:b1] for j, b0, b1 in segments[1]] for i, a0, a1 in segments[0]]
    if len(blocks) == 1 and len(blocks[0]) == 1:
        return blocks[0][0]
    return np.block(blocks)


def _task(chunk, plan, *pieces):
    """One output chunk from its input chunk and the 8 halo strips around it
    (row by row, the center in the middle); ``plan`` is ((start of the first
    window relative to the chunk, outputs) for rows, for columns). The
    outputs whose windows lie inside the chunk read it in place; the four
    border strips are assembled."""
    parts = (pieces[0:3], pieces[3:6], pieces[6:9])
    center = parts[1][1]
    (ri, ni), (rj, nj) = plan
    (sh, sw), (kh, kw) = chunk.stride, chunk.spans
    (i0, i1), (j0, j1) = (tuple(max(v, 0) for v in _engine._interior(n, -r, k, s, no))
                          for n, r, k, s, no in zip(center.shape[2:], (ri, rj), (kh, kw), (sh, sw), (ni, nj)))
    out = np.empty((center.shape[0], chunk.w.shape[0], ni, nj), dtype=chunk.w.dtype)
    regions = (((i0, i1), (j0, j1)), ((0, i0), (0, nj)), ((i1, ni), (0, nj)), ((i0, i1), (0, j0)),
               ((i0, i1), (j1, nj)))
    for (p0, p1), (q0, q1) in regions:
        if p1 > p0 and q1 > q0:
            window = _window(parts, (ri + p0 * sh, ri + (p1 - 1) * sh + kh), (rj + q0 * sw, rj + (q1 - 1) * sw + kw))
            chunk.run(window, out[..., p0:p1, q0:q1])
    return out


def _strip(extent, depth, side):
    """The slice of a neighbour chunk of length ``extent`` that is a halo of
    ``depth``: its last elements for the neighbour before (side -1), its
    first for the one after (side 1), all of it for the center (side 0)."""
    return slice(None) if side == 0 else slice(extent - depth, extent) if side < 0 else slice(0, depth)


def _tile_graph(xp, name, chunk, halos, rows, cols):
    """The tasks: per chunk, up to 8 getitem tasks cutting halo strips from
    its neighbours (run where the neighbour lives: only strips travel) and
    one :func:`_task`."""
    kernel = name + "-kernel"
    dsk = {kernel: chunk}
    n_rows, n_cols = len(xp.chunks[2]), len(xp.chunks[3])
    for n in range(len(xp.chunks[0])):
        for i in range(n_rows):
            for j in range(n_cols):
                pieces = []
                for di in (-1, 0, 1):
                    for dj in (-1, 0, 1):
                        a, b = i + di, j + dj
                        depths = (halos[0][di > 0] if di else 0, halos[1][dj > 0] if dj else 0)
                        if not (0 <= a < n_rows and 0 <= b < n_cols) or (di and not depths[0]) or (dj and not depths[1]):
                            pieces.append(None)
                        elif di == dj == 0:
                            pieces.append((xp.name, n, 0, a, b))
                        else:
                            key = (name + "-halo", n, i, j, di, dj)
                            cut = (slice(None), slice(None), _strip(xp.chunks[2][a], depths[0], di),
                                   _strip(xp.chunks[3][b], depths[1], dj))
                            dsk[key] = (operator.getitem, (xp.name, n, 0, a, b), cut)
                            pieces.append(key)
                dsk[(name, n, 0, i, j)] = (_task, kernel, (rows[i], cols[j])) + tuple(pieces)
    return dsk


def correlate(x, call, geo, measure=None):
    """The lazy (N, O, Ho, Wo) result of the validated layer ``call`` (its
    kernel, bias, dtype, mode, ...) on the dask array ``x`` (N, C, H, W),
    whose spatial geometry is ``geo``."""
    x = x.astype(call.dtype) if x.dtype != call.dtype else x
    if len(x.chunks[1]) > 1:
        x = x.rechunk({1: -1})  # every output reads all of its group's channels
    (top, bottom), (left, right) = geo.pads
    xp = _pad_axis(x, 2, top, bottom, call.mode, call.cval)
    xp = _pad_axis(xp, 3, left, right, call.mode, call.cval)
    (eh, ew), spans = geo.extent, tuple(span(k, d) for k, d in zip(geo.kernel_shape, geo.dilation))
    xp = xp[:, :, :eh, :ew]
    # Output i is anchored at padded row i*s + min(top, span-1): input row i*s
    # for the usual paddings, so output chunks follow the input's chunks.
    anchors = tuple(min(p[0], s - 1) for p, s in zip(geo.pads, spans))
    (rows_sizes, rows), (cols_sizes, cols) = (
        axis_plan(xp.chunks[a], st, an, an, s - 1 - an, n)
        for a, st, an, s, n in zip((2, 3), geo.stride, anchors, spans, geo.out_shape))
    if (rows_sizes, cols_sizes) != xp.chunks[2:]:
        xp = xp.rechunk({2: rows_sizes, 3: cols_sizes})
    chunk = _Chunk(call.w, call.bias, call.groups, geo.stride, geo.dilation, call.backend, call.exact, measure)
    halos = tuple((a, s - 1 - a) for a, s in zip(anchors, spans))  # (above, below), (left, right)
    name = "fastconv-tile-" + tokenize(xp.name, chunk.w, chunk.bias, call.groups, geo, call.backend, call.exact,
                                       measure)
    graph = HighLevelGraph.from_collections(name, _tile_graph(xp, name, chunk, halos, rows, cols), dependencies=[xp])
    out_chunks = (xp.chunks[0], (call.w.shape[0],), tuple(n for _, n in rows), tuple(n for _, n in cols))
    return da.Array(graph, name, chunks=out_chunks, meta=np.empty((0, 0, 0, 0), dtype=call.dtype))
