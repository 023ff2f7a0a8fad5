"""The chunked data path: pad at the array's edges, exchange halos, run the
engine on every chunk.

A layer call on a dask array x (N, C, H, W) with geometry ``geo`` becomes:

1. **pad** only the array's edges, lazily: the boundary strips are built
   from the rows/columns they copy (``_padding.source_index``, the map the
   in-memory path uses), so the padded array Xp is x plus thin edge chunks;
2. **crop** Xp to the rows/columns the outputs read (``geo.extent``) and
   **merge** chunks too thin to serve as a neighbour's halo;
3. **tile**: each chunk computes the outputs whose windows *start* in it
   (so output chunks follow the stride grid), reading up to ``span - 1``
   rows/columns of its bottom/right neighbours. The halos arrive as three
   small arrays (bottom strip, right strip, corner), never concatenated with
   the chunk: the outputs whose windows lie inside the chunk read it in
   place and only the two border strips are assembled from pieces (the
   engine's interior + border-strip idea, applied to chunks).

Every chunk runs :func:`fastconv._engine.correlate` with the call's own
kernel, dtype, exactness, groups and backend choice, so a chunk's result is
the in-memory result on that window.
"""
import numpy as np

import dask.array as da

from .. import _engine
from .._dtypes import as_kernel_operand
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


def merged_chunks(sizes, inner, last):
    """Chunk sizes with every chunk but the last >= ``inner`` and the last >=
    ``last``: thin chunks are merged into the next one (a final thin one
    into the one before). Sizes add up to the same total."""
    out = []
    for n in sizes:
        if n == 0:
            continue
        if out and out[-1] < inner:
            out[-1] += n
        else:
            out.append(n)
    while len(out) > 1 and out[-1] < last:
        tail = out.pop()
        out[-1] += tail
    return tuple(out)


def axis_plan(sizes, stride, n_out):
    """Per chunk of a padded axis: (offset of its first window start inside
    the chunk, number of outputs whose windows start in it)."""
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    first = [-(-int(a) // stride) for a in starts] + [n_out]
    return tuple((first[k] * stride - int(starts[k]), first[k + 1] - first[k]) for k in range(len(sizes)))


def _halo(x, axis, depth):
    """For each chunk along ``axis``: the first ``depth`` elements of the next
    chunk, as an array with as many chunks as ``x``. The last chunk (and
    every chunk when ``depth`` is 0) gets one element it never reads: dask
    drops zero-size chunks from a concatenation."""
    index = [slice(None)] * x.ndim
    strips = []
    for b in list(np.cumsum(x.chunks[axis])[:-1]) + [x.shape[axis] - 1]:
        index[axis] = slice(int(b), int(b) + (depth if depth and b < x.shape[axis] - 1 else 1))
        strips.append(x[tuple(index)])
    return da.concatenate(strips, axis=axis)


class _Chunk:
    """What every task needs (small, pickled once per task): the kernel and
    the per-chunk output plan."""

    def __init__(self, w, bias, groups, stride, dilation, backend, exact, measure, rows, cols):
        self.w, self.bias, self.groups, self.exact, self.measure = w, bias, groups, exact, measure
        self.stride, self.dilation, self.backend, self.rows, self.cols = stride, dilation, backend, rows, cols
        self.spans = tuple(span(k, d) for k, d in zip(w.shape[2:], dilation))

    def run(self, window, target):
        window = as_kernel_operand(window, self.w.dtype)  # the layout backends accept (copies only if needed)
        geo = Geometry.from_args(window.shape[2:], self.w.shape[2:], 0, self.stride, self.dilation)
        _engine.correlate(window, self.w, geo, self.groups, "constant", 0.0, self.backend, target, self.exact,
                          self.measure)
        if self.bias is not None:
            target += self.bias[:, None, None]


def _inside(n, offset, kernel_span, stride, n_out):
    """How many of a chunk's ``n_out`` outputs have windows wholly inside its
    ``n`` elements (the rest read the halo)."""
    room = n - offset - kernel_span
    return 0 if room < 0 else min(n_out, room // stride + 1)


def _window(parts, rows, cols, split):
    """Rows [r0, r1) x columns [c0, c1) of the tile [[center, right],
    [bottom, corner]] whose center is ``split`` (h, w): a view when inside
    the center, else assembled from the pieces."""
    (r0, r1), (c0, c1), (h, w) = rows, cols, split
    row_parts = [(0, r0, min(r1, h)), (1, max(r0, h) - h, r1 - h)]
    col_parts = [(0, c0, min(c1, w)), (1, max(c0, w) - w, c1 - w)]
    blocks = [[parts[i][j][..., a0:a1, b0:b1] for j, b0, b1 in col_parts if b1 > b0]
              for i, a0, a1 in row_parts if a1 > a0]
    if len(blocks) == 1 and len(blocks[0]) == 1:
        return blocks[0][0]
    return np.block(blocks)


def _task(center, bottom, right, corner, chunk, block_id=None):
    """One output chunk: the interior from the chunk in place, then the
    bottom strip and the right strip from the halos."""
    (oi, ni), (oj, nj) = chunk.rows[block_id[2]], chunk.cols[block_id[3]]
    (sh, sw), (kh, kw) = chunk.stride, chunk.spans
    h, w = center.shape[2:]
    pc, qc = _inside(h, oi, kh, sh, ni), _inside(w, oj, kw, sw, nj)
    out = np.empty((center.shape[0], chunk.w.shape[0], ni, nj), dtype=chunk.w.dtype)
    parts = ((center, right), (bottom, corner))
    for (p0, p1), (q0, q1) in (((0, pc), (0, qc)), ((pc, ni), (0, nj)), ((0, pc), (qc, nj))):
        if p1 > p0 and q1 > q0:
            window = _window(parts, (oi + p0 * sh, oi + (p1 - 1) * sh + kh), (oj + q0 * sw, oj + (q1 - 1) * sw + kw),
                             (h, w))
            chunk.run(window, out[..., p0:p1, q0:q1])
    return out


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
    chunks = tuple(merged_chunks(xp.chunks[a], max(s - 1, st), s) for a, s, st in zip((2, 3), spans, geo.stride))
    if chunks != xp.chunks[2:]:
        xp = xp.rechunk({2: chunks[0], 3: chunks[1]})
    rows, cols = (axis_plan(c, st, n) for c, st, n in zip(chunks, geo.stride, geo.out_shape))
    bottom_halo = _halo(xp, 2, spans[0] - 1)
    right_halo = _halo(xp, 3, spans[1] - 1)
    corner = _halo(bottom_halo, 3, spans[1] - 1)
    chunk = _Chunk(call.w, call.bias, call.groups, geo.stride, geo.dilation, call.backend, call.exact, measure,
                   rows, cols)
    out_chunks = (xp.chunks[0], (call.w.shape[0],), tuple(n for _, n in rows), tuple(n for _, n in cols))
    return da.map_blocks(_task, xp, bottom_halo, right_halo, corner, chunk=chunk, chunks=out_chunks,
                         dtype=call.dtype, meta=np.empty((0, 0, 0, 0), dtype=call.dtype), token="fastconv-tile")
