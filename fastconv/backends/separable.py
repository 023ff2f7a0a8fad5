"""Separable backend: a rank-1 kernel as two 1-D passes.

A kernel K (kh, kw) of rank 1 (box, Gaussian, Sobel's smoothing part, any
outer product ``col * row``) satisfies

    corr(X, K) = corr(corr(X, row[None, :]), col[:, None])

so the kh*kw multiply-adds per output become kh + kw. The two passes run on
the fastest direct backend that is loaded (``cython``; else a vectorised
NumPy shift-and-add), through the ordinary backend interface: the row pass
with stride (1, sw) and dilation (1, dw) over the rows the output needs,
the column pass with stride (sh, 1) and dilation (dh, 1).

Scope: the two-pass path runs where each output channel reads one input
channel (2-D calls and depthwise convolutions: C/groups == 1) and every
kernel is rank 1 and genuinely 2-D. :func:`supports` says whether a problem
qualifies (None) or why not. Any other problem is handed whole to the
inner direct backend, so the backend is correct for every input the
interface allows (the shared property tests run it on random kernels) but
only faster on rank-1 kernels. Its planner hooks say so: ``supports``
(one input channel per output, a 2-D kernel) and ``accepts`` (the kernel's
values are rank 1); the cost model decides between it and the direct
backends (it loses to direct on 3x3; see the README's measurements).

Rank test and accuracy: K is split by pivoted cross approximation (see
:func:`factors`) and taken as rank 1 when the residual R = K - col*row
has ||R||_F <= 4 * u * max(kh, kw) * ||K||_F (u: the dtype's unit
roundoff). Using the factors instead of K then changes each output by at
most ||R||_2 * ||window||_2, the same order as the rounding of a direct
sum of kh*kw terms. The
intermediate (row-filtered) image is stored in the input dtype, band by
band (see ``_BAND_BYTES``).

Being a reordering of the sum (and an approximation of K within rounding),
it publishes :func:`error_bound`, like fft: integer inputs do not get
exact results, so auto must not choose it for integer inputs.

NaN/inf: every 1-D tap is multiplied, so a NaN spreads over the same
kh x kw footprint as in the oracle; inf can differ (inf - inf in the row
pass gives NaN where the direct sum might give +-inf), so, as with fft,
auto should keep non-finite inputs on direct backends.
"""
import numpy as np

from .. import _scratch, _workers
from .._geometry import input_extent
from .._padding import pad_spatial, source_index
from ..settings import get_threads
from . import load as _load_backend

__all__ = ["accepts", "correlate", "correlate_mapped_border", "correlate_zero_border", "error_bound", "factors",
           "supports", "describe"]

_INNER_PREFERENCE = ("cython",)


def factors(w):
    """(col (O, kh), row (O, kw)) with w[o, 0] ~= outer(col[o], row[o]) in
    w's dtype, or None when some kernel is not rank 1 (or C/groups != 1).

    Pivoted cross approximation, no LAPACK (so no BLAS thread pool is woken
    on every call): with (i, j) the entry of largest magnitude, col = K[:, j]
    and row = K[i, :] / K[i, j]; exact for an exactly rank-1 K, and the
    kernel counts as rank 1 when the residual R = K - outer(col, row) has
    ||R||_F <= 4 * u * max(kh, kw) * ||K||_F (u: the dtype's unit roundoff).
    Integer-valued kernels such as box filters keep integer factors.
    """
    if w.ndim != 4 or w.shape[1] != 1:
        return None
    o, _, kh, kw = w.shape
    u = np.finfo(w.dtype).eps / 2
    w64 = np.asarray(w[:, 0], dtype=np.float64)
    if not np.isfinite(w64).all():  # NaN/inf taps: the direct path propagates them
        return None
    cols = np.zeros((o, kh))
    rows = np.zeros((o, kw))
    for i in range(o):
        K = w64[i]
        a, b = np.unravel_index(np.argmax(np.abs(K)), K.shape)
        pivot = K[a, b]
        if pivot == 0.0:  # the zero kernel: zero factors
            continue
        col, row = K[:, b], K[a, :] / pivot
        residual = np.sqrt(((K - np.multiply.outer(col, row)) ** 2).sum())
        if residual > 4 * u * max(kh, kw) * np.sqrt((K**2).sum()):
            return None
        cols[i], rows[i] = col, row
    return cols.astype(w.dtype), rows.astype(w.dtype)


def supports(problem):
    """Planner hook: None when the problem's shape suits two 1-D passes (one
    input channel per output, a genuinely 2-D kernel), else the reason."""
    if problem.cg != 1 or problem.kh == 1 or problem.kw == 1:
        return "separable: needs one input channel per output and a 2-D rank-1 kernel"
    return None


def accepts(w):
    """Planner hook: None when every kernel in ``w`` (O, C/groups, kh, kw) is
    rank 1 within rounding, else the reason."""
    if w.shape[1] != 1:
        return "only one input channel per output (2-D or depthwise), got C/groups = %d" % w.shape[1]
    if w.shape[2] == 1 or w.shape[3] == 1:
        return "the kernel is already 1-D (a direct backend does one pass)"
    if factors(w) is None:
        return "the kernel is not rank 1 (within rounding)"
    return None


def _inner():
    for name in _INNER_PREFERENCE:
        module = _load_backend(name)
        if module is not None:
            return module
    return _numpy_pass


class _NumpyPass:
    """Fallback 1-D passes: one shifted multiply-add per tap, in the dtype."""

    @staticmethod
    def correlate(xp, w, out, stride, dilation, groups):
        (sh, sw), (dh, dw) = stride, dilation
        n, o, ho, wo = out.shape
        og = o // groups
        cg, kh, kw = w.shape[1:]
        out[...] = 0
        for oc in range(o):
            acc = out[:, oc]
            for c in range(cg):  # the inner pass may be handed a whole problem (see correlate)
                src = xp[:, (oc // og) * cg + c]
                for a in range(kh):
                    for b in range(kw):
                        rows = slice(a * dh, a * dh + (ho - 1) * sh + 1, sh)
                        acc += w[oc, c, a, b] * src[:, rows, b * dw : b * dw + (wo - 1) * sw + 1 : sw]


_numpy_pass = _NumpyPass()


# A large call's row-filtered intermediate is made band by band, each band
# of at most ~_BAND_BYTES in the thread's scratch buffer, so the column
# pass reads it from L2: a whole-image intermediate is a fresh array the
# size of the output, whose page faults and memory traffic cost more than
# the arithmetic of both passes on a 1080p colour frame. Below
# _WHOLE_BYTES one call per pass (threaded inside) costs less than bands.
_BAND_BYTES = 1 << 20
_WHOLE_BYTES = 8 << 20
_MIN_BANDS = 8  # per image, when one image is banded: enough to balance the threads


def _bands(n, o, ho, wo, kh, sh, dh, itemsize):
    """[((i0, i1), (r0, r1))]: chunks of images and bands of output rows,
    at most ~_BAND_BYTES of intermediate each (whole images when several
    fit; bands at least four kernel spans tall, as the row pass redoes each
    band's halo rows), or the whole call when it is small."""
    row_bytes = o * wo * itemsize  # one intermediate row of one image
    whole = input_extent(ho, kh, sh, dh) * row_bytes
    if n * whole <= _WHOLE_BYTES:
        return [((0, n), (0, ho))]
    if whole <= _BAND_BYTES:
        per = max(1, _BAND_BYTES // whole)
        return [((i, min(i + per, n)), (0, ho)) for i in range(0, n, per)]
    span_h = (kh - 1) * dh + 1
    band = max(1, (max(_BAND_BYTES // row_bytes, 4 * span_h) - span_h) // sh + 1)
    band = min(band, -(-ho // _MIN_BANDS)) if n == 1 else band
    return [((i, i + 1), (r, min(r + band, ho))) for i in range(n) for r in range(0, ho, band)]


def correlate(xp, w, out, stride, dilation, groups):
    inner = _inner()
    f = None if (w.shape[2] == 1 or w.shape[3] == 1) else factors(w)
    if f is None:  # not rank 1, several channels, or already 1-D: one direct pass
        inner.correlate(xp, w, out, stride, dilation, groups)
        return
    _passes(inner, xp, f, w.shape, out, stride, dilation, groups, None)


def correlate_zero_border(x, w, out, pads, stride, dilation, groups):
    """Engine hook: ``correlate`` of x inside a zero border of ``pads``,
    with no padded copy and no border strips: the row pass reads the
    border's columns as zeros (the inner backend's own hook) and leaves the
    border's rows zero, the column pass runs as usual. False, computing
    nothing, where the kernel does not factor or the inner backend has no
    such hook (the engine then pads)."""
    return _border_hook(x, w, out, pads, stride, dilation, groups, "constant")


def correlate_mapped_border(x, w, out, pads, stride, dilation, groups, mode):
    """Engine hook: the same for a border whose padding copies input
    elements (reflect, symmetric, edge, wrap): the row pass maps the
    border's columns (the inner backend's hook), and each border row of
    the intermediate is its source row filtered."""
    return _border_hook(x, w, out, pads, stride, dilation, groups, mode)


def _border_hook(x, w, out, pads, stride, dilation, groups, mode):
    inner = _inner()
    name = "correlate_zero_border" if mode == "constant" else "correlate_mapped_border"
    if getattr(inner, name, None) is None or w.shape[2] == 1 or w.shape[3] == 1:
        return False
    f = factors(w)
    if f is None:
        return False
    _passes(inner, x, f, w.shape, out, stride, dilation, groups, (pads, mode))
    return True


def _passes(inner, x, f, wshape, out, stride, dilation, groups, border):
    """The two 1-D passes of factors ``f`` = (cols, rows) of a kernel of
    ``wshape``, band by band; ``border``: (pads, mode) of a border around x
    that the row pass makes itself (None: x is already padded)."""
    cols, rows = f
    o, _, kh, kw = wshape
    ho, wo = out.shape[2:]
    (sh, sw), (dh, dw) = stride, dilation
    rows = np.ascontiguousarray(rows[:, None, None, :])
    cols = np.ascontiguousarray(cols[:, None, :, None])
    items = _bands(x.shape[0], o, ho, wo, kh, sh, dh, x.itemsize)
    height = x.shape[2]

    def filter_rows(xs, tmp):
        """Row-filter every row of xs into tmp, the border's columns made
        by the inner backend's hook (padded here if it declines)."""
        pads, mode = border
        side = ((0, 0), tuple(pads[1]))
        done = (inner.correlate_zero_border(xs, rows, tmp, side, (1, sw), (1, dw), groups) if mode == "constant"
                else inner.correlate_mapped_border(xs, rows, tmp, side, (1, sw), (1, dw), groups, mode))
        if not done:
            inner.correlate(pad_spatial(xs, side, mode, 0.0), rows, tmp, (1, sw), (1, dw), groups)

    def row_pass(xs, tmp, first, extent):
        # tmp's rows are the (padded) input rows [first, first + extent)
        if border is None:
            inner.correlate(xs[:, :, first:first + extent], rows, tmp, (1, sw), (1, dw), groups)
            return
        pads, mode = border
        top = pads[0][0]
        lo, hi = first - top, first + extent - top  # the same rows, in x's own numbering
        a, b = max(lo, 0), min(hi, height)
        if a < b:
            filter_rows(xs[:, :, a:b], tmp[:, :, a - lo:b - lo])
        edge = np.r_[0:min(a, hi) - lo, max(b, lo) - lo:extent]  # the border's rows, as tmp rows
        if edge.size == 0:
            return
        if mode == "constant":
            tmp[:, :, edge] = 0
            return
        filtered = np.empty(tmp.shape[:2] + (edge.size, wo), dtype=tmp.dtype)  # their source rows, in one call
        filter_rows(np.ascontiguousarray(xs[:, :, source_index(lo + edge, height, mode)]), filtered)
        tmp[:, :, edge] = filtered

    def band(item):
        (i0, i1), (r0, r1) = item
        first, extent = r0 * sh, input_extent(r1 - r0, kh, sh, dh)
        tmp = _scratch.take("separable", (i1 - i0, o, extent, wo), x.dtype)
        # row pass: each output channel o reads input channel o // (O/groups)
        row_pass(x[i0:i1], tmp, first, extent)
        # column pass: depthwise over the O intermediate channels
        inner.correlate(tmp, cols, out[i0:i1, :, r0:r1], (sh, 1), (dh, 1), o)
        _scratch.give_back("separable", tmp)

    if len(items) == 1:  # small: one call per pass, the inner backend threads it
        band(items[0])
    else:  # the bands are the parallelism; each pass runs on one thread
        _workers.run(band, items, get_threads())


def error_bound(xp, w, out_shape, stride, dilation, groups):
    """Max abs error against exact arithmetic, per (N, O) output image:
    u * (Cg*kh*kw + kh + kw + 4 + 4*max(kh, kw)*sqrt(kh*kw)) * sum|w_o| * max|x_g|.

    The Cg*kh*kw term covers the direct fallback and the sums of both
    passes (a sum of n terms errs by at most ~n*u*sum|terms|); kh + kw + 4
    the two roundings of the factors and of the intermediate image; the
    last term the rank-1 approximation: it changes an output by at most
    ||R||_2 * ||window||_2 <= 4*u*max(kh, kw) * ||K||_F * sqrt(kh*kw) * max|x|,
    with ||K||_F <= sum|K|.
    Returns an (N, O, 1, 1) array.
    """
    n, c = xp.shape[:2]
    o, cg, kh, kw = w.shape
    og = o // groups
    u = np.finfo(xp.dtype).eps / 2
    xmax = np.abs(np.asarray(xp, dtype=np.float64)).max(axis=(2, 3))  # (N, C)
    xmax = np.where(np.isfinite(xmax), xmax, np.inf)
    xg = xmax.reshape(n, groups, cg).max(axis=2)  # (N, groups)
    xo = np.repeat(xg, og, axis=1)  # (N, O)
    wsum = np.abs(np.asarray(w, dtype=np.float64)).sum(axis=(1, 2, 3))  # (O,)
    factor = u * (cg * kh * kw + kh + kw + 4 + 4 * max(kh, kw) * np.sqrt(kh * kw))
    return (factor * xo * wsum[None, :])[..., None, None]


def describe():
    inner = _inner()
    name = getattr(inner, "__name__", "numpy").rsplit(".", 1)[-1]
    return {"kind": f"rank-1 kernels as two 1-D passes on {name}"}
