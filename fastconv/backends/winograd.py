"""Winograd backend: 3x3 stride-1 correlations with F(m x m, 3 x 3), m = 2 or 4.

Method (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural
Networks")
-----------------------------------------------------------------------
The output is cut into m x m tiles; tile (i, j) reads the (m+2) x (m+2)
input patch d at rows i*m.., columns j*m.. and, for a 3x3 kernel g,

    Y = A^T [ sum_c (G g_c G^T) * (B^T d_c B) ] A      (* elementwise)

so per tile and channel pair there are t^2 = (m+2)^2 multiplies instead of
9 m^2: F(2,3) 16 for 36 (2.25x fewer), F(4,3) 36 for 144 (4x fewer).

* input transform V = B^T d B and output transform A^T M A: compiled
  (_winograd.pyx + winograd.template.c: nogil, OpenMP over (tile row,
  channel), AVX-512/AVX2/SSE2 variants); tiles past the input read zeros,
  outputs past ``out`` are not written; so does a zero border around the
  input (``correlate_zero_border``, the engine's hook for zero padding):
  no padded copy of the input;
* the sum over input channels is t^2 batched GEMMs, per group
  M[k] (O/g x P) = U[k] (O/g x C/g) @ V[k] (C/g x P), numpy.matmul on BLAS
  (on one thread). With several threads, each thread runs whole chunks
  (transform, GEMMs, transform) on ``fastconv._workers``, at least one chunk
  per thread; a single chunk runs its transforms on OpenMP threads and its
  GEMMs through ``fastconv._blas.matmul`` (split over the same threads). Tiles are processed in chunks whose
  V and M fit ``settings.TRANSFORM_CHUNK_BYTES`` (half a core's L2) per thread, or 1/8 of U
  where that is larger (every chunk's GEMMs read all of U), within ``get_workspace_limit()``
  in all (whole tile rows when they fit, else pieces of one; a chunk never holds less than
  one tile; ``fastconv._geometry.winograd_chunks``);
* one input channel per output (2-D calls, depthwise): no GEMM; each tile
  row is transformed, multiplied by every output's U and transformed back
  in one compiled pass (no workspace beyond a tile row per thread);
* kernel transforms U = G g G^T are computed in float64, rounded once to
  the dtype and cached (keyed on the weight's content and the tile; at most
  256 MiB in all, a running byte total, one entry at most half of it: U of
  F(4,3) is 4x the weight, 75 MiB for a 512->512 float64 layer).

Tile choice (``fastconv._geometry.winograd_tiles``), the error/speed
trade-off:

* float32: always F(2,3). Measured max error against a float64 reference
  (N(0,1) inputs, weights N(0,1/(9C)), |y| up to ~5; README table): F(2,3)
  1.2e-6..2.7e-6, torch's float32 1.1e-6..2.0e-6, the cython backend
  3.4e-6..8.4e-6; F(4,3) 2.7e-5..5.3e-5, 10-45x torch's, which the
  project's float32 accuracy standard (no worse than the peers) rules out.
  F(4,3) stays available (``correlate(..., tile=4)``) for measurements.
* float64: F(4,3) (4x fewer multiplies; max error ~1e-13 on the same
  layers, against ~1.5e-14 for a direct sum) unless the output is smaller
  than 4 on an axis (tiles mostly padding) or a call has fewer than 48
  F(4,3) tiles (e.g. 1x256x14x14, 8x512x7x7): there the t^2 GEMMs are
  skinny and bound by reading the transformed kernel, 2.25x larger for
  F(4,3), and F(2,3) measured faster.

Scope and fallback: the transforms exist for 3x3 kernels at stride 1 and
dilation 1 only. :func:`supports` tells the planner so (``auto`` never
sends anything else here). A caller who forces ``backend="winograd"`` on
any other problem (a 5x5 kernel, a stride) gets the exact result of a
direct backend (cython, else gemm) -- documented and tested, never a
wrong answer and never an error for an input the interface allows.

Error bound (derivation)
------------------------
Standard model, unit roundoff u, gamma_n = n u / (1 - n u). Write |.|
for elementwise absolute values. Each computed transform is a signed sum
whose expression tree uses every term once with the magnitude of its
coefficient (see winograd.template.c), so by the usual dot-product bound
(Higham, sec. 3.1)

    |fl(B^T d B) - B^T d B| <= gamma_{2 nb} |B^T| |d| |B|      (two passes)
    |fl(U) - U|             <= (u + gamma^{(64)}_8) |G| |g| |G^T|
    |fl(sum_c U_c V_c) - sum_c U_c V_c| <= gamma_{Cg} sum_c |U_c| |V_c|
    |fl(A^T M A) - A^T M A| <= gamma_{2 na} |A^T| |M| |A|

with nb, na the non-zeros per row of B^T, A^T (+1 where a coefficient is
not a power of two): nb = 4, na = 5 for F(4,3); nb = 2, na = 3 for F(2,3).
The errors compound multiplicatively, so to all orders

    |Y_computed - Y| <= gamma_n * Yabs,   n = 2 nb + Cg + 2 na + 2,
    Yabs = |A^T| [ sum_c (|G| |g_c| |G^T|) * (|B^T| |d_c| |B|) ] |A|,

a componentwise bound: Yabs is the same Winograd algorithm run on |d|
with the absolute matrices. :func:`error_bound` computes it in float64
(relative error ~1e-15, covered by a 1e-6 margin). For the direct fallback it is
gamma_{Cg*kh*kw} * sum |w| |x| (the direct sum's bound).

How large is it? Yabs / sum |g| |d| is the error growth Barabasz et al.
2020 ("Error analysis and improving the accuracy of Winograd convolution
for deep neural networks", ACM TOMS) analyse: it grows with the magnitude
of the transform matrices' entries, so with the tile size. For constant
|d| and |g| it is 25/9 ~ 2.8 (F(2,3)) and 1369/81 ~ 17 (F(4,3), Lavin's
points 0, +-1, +-2), against 1 for a direct sum. tests/test_winograd.py
checks every result against this bound on random and adversarial data,
and that it is far below the result on ordinary data. Measured float32
max errors against a float64 reference are in the README backend table.

Not tap by tap: like fft, integer results are not exact, and inf/NaN
spread over a tile (inf - inf in a transform gives NaN where the direct
sum has +-inf). The registry row says ``exact=False``, so ``auto`` keeps
integer and non-finite inputs away (and ``FASTCONV_EXACT=1`` keeps every
input away).
"""
import os
import queue

import numpy as np

from .. import _blas, _workers
from .._arraycache import ArrayCache
from .._patches import patch_view
from .._geometry import winograd_chunks, winograd_tiles
from ..settings import SERIAL_MACS, TRANSFORM_CHUNK_BYTES, get_threads, get_workspace_limit
from . import _winograd
from . import load as _load_backend

__all__ = ["clear_cache", "correlate", "correlate_zero_border", "error_bound", "supports", "tile_for",
           "transform_matrices", "describe"]

_FALLBACK_PREFERENCE = ("cython", "gemm")

_MATRICES = {
    2: (np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64),
        np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]),
        np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)),
    4: (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=np.float64),
        np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
        np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
                 dtype=np.float64)),
}
# Non-zeros per row of B^T and A^T (+1 for a coefficient that is not a power of two).
_TERMS = {2: (2, 3), 4: (4, 5)}


def transform_matrices(m):
    """(B^T, G, A^T) of F(m x m, 3 x 3) in float64."""
    return _MATRICES[m]


def tile_for(n, ho, wo, dtype):
    """The output tile m for n images of ho x wo outputs in ``dtype``
    (``fastconv._geometry.winograd_tiles``)."""
    return winograd_tiles(n, ho, wo, np.dtype(dtype) == np.float64)[0]


def supports(problem):
    """Planner hook: None for a 3x3 kernel at stride 1 and dilation 1."""
    if (problem.kh, problem.kw) != (3, 3) or tuple(problem.stride) != (1, 1) or tuple(problem.dilation) != (1, 1):
        return "winograd: only 3x3 kernels at stride 1 and dilation 1"
    return None


def _supported(w, stride, dilation):
    return w.shape[2:] == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)


def _fallback():
    for name in _FALLBACK_PREFERENCE:
        module = _load_backend(name)
        if module is not None:
            return module
    raise RuntimeError("winograd: no direct backend loads for the fallback")  # gemm needs only numpy


# ------------------------------------------------------- kernel transforms

_cache = ArrayCache(256 << 20, entry_fraction=0.5)  # transformed kernels (see fastconv._arraycache)


def _kernel_transform(w, m, groups):
    """U in the dtype of w: (t*t, groups, O/groups, C/groups) for the GEMMs,
    or (O, t*t) when C/groups == 1 (the fused path). Cached."""
    return _cache.cached(w, (m, groups), lambda: _transform(w, m, groups))


def _transform(w, m, groups):
    _, G, _ = _MATRICES[m]
    o, cg = w.shape[:2]
    t = m + 2
    u = np.matmul(np.matmul(G, np.asarray(w, dtype=np.float64)), G.T)  # (O, Cg, t, t)
    if cg == 1:
        return np.ascontiguousarray(u.reshape(o, t * t), dtype=w.dtype)
    return np.ascontiguousarray(u.reshape(groups, o // groups, cg, t * t).transpose(3, 0, 1, 2), dtype=w.dtype)


def clear_cache():
    """Forget the cached kernel transforms."""
    _cache.clear()


# ------------------------------------------------------------- correlate

def correlate(xp, w, out, stride, dilation, groups, tile=None, bias=None):
    """The backend interface, ``bias`` added by the output transform;
    ``tile`` (2 or 4) overrides the tile choice (tests and accuracy
    measurements)."""
    if not _supported(w, stride, dilation):
        _fallback().correlate(xp, w, out, stride, dilation, groups)
        if bias is not None:
            out += bias[:, None, None]
        return
    _correlate(xp, w, out, groups, ((0, 0), (0, 0)), tile, bias)


def correlate_zero_border(x, w, out, pads, stride, dilation, groups, tile=None, bias=None):
    """Engine hook: ``correlate`` of x inside a zero border of ``pads``, the
    input transform reading the border as zeros (no padded copy of x).
    False, computing nothing, where Winograd does not apply (the engine
    then pads and runs ``correlate``, which falls back)."""
    if not _supported(w, stride, dilation):
        return False
    _correlate(x, w, out, groups, tuple(tuple(int(v) for v in p) for p in pads), tile, bias)
    return True


def _correlate(xp, w, out, groups, pads, tile, bias):
    """Winograd of xp within a zero border ``pads`` (zeros where none),
    plus ``bias`` (None or one value per output channel)."""
    n, c = xp.shape[:2]
    o, cg = w.shape[:2]
    ho, wo = out.shape[2:]
    m, th, tw = winograd_tiles(n, ho, wo, xp.dtype == np.float64)
    if tile is not None:
        if tile not in _MATRICES:
            raise ValueError(f"tile must be 2 or 4, got {tile!r}")
        m, th, tw = tile, -(-ho // tile), -(-wo // tile)
    t2 = (m + 2) ** 2
    macs = n * o * ho * wo * cg * 9
    threads = 1 if macs < SERIAL_MACS or _forked_child else get_threads()
    if threads > 1:
        _note_team()
    u = _kernel_transform(w, m, groups)
    if cg == 1:
        _winograd.fused(m, xp, u, out, groups, threads, pads, bias)
        return
    tile_bytes = t2 * (c + o) * xp.itemsize
    rows, cols, _ = winograd_chunks(n * th, tw, tile_bytes, u.nbytes, threads, get_workspace_limit(),
                                    TRANSFORM_CHUNK_BYTES)
    chunks = [(r0, min(n * th, r0 + rows), j0, min(cols, tw - j0))
              for r0 in range(0, n * th, rows) for j0 in range(0, tw, cols)]
    args = (m, xp, u, out, ho, wo, t2, c, o, groups, cg, pads, bias)
    if threads == 1 or len(chunks) == 1:  # one chunk: threads inside the transforms and BLAS
        work = np.empty(t2 * (c + o) * rows * cols, dtype=xp.dtype)
        for chunk in chunks:
            _chunk(args, chunk, work, threads)
        return
    # Several chunks: each thread runs whole chunks (transform, GEMMs,
    # transform) serially, BLAS on one thread. Alternating OpenMP regions and
    # BLAS's own threads instead costs a hand-over of both cores at every
    # phase, which on a loaded machine measured 10-100x slower.
    slots = queue.SimpleQueue()
    for _ in range(min(threads, len(chunks))):
        slots.put(np.empty(t2 * (c + o) * rows * cols, dtype=xp.dtype))

    def run(chunk):
        work = slots.get()
        try:
            _chunk(args, chunk, work, 1)
        finally:
            slots.put(work)

    with _blas.threads(1):
        _workers.run(run, chunks, threads)


def _chunk(args, chunk, work, threads):
    """Input transform, t^2 GEMMs and output transform of one chunk of tiles
    (tile rows [r0, r1), tile columns [j0, j0 + ntw)), in ``work``."""
    m, xp, u, out, ho, wo, t2, c, o, groups, cg, pads, bias = args
    r0, r1, j0, ntw = chunk
    p = (r1 - r0) * ntw
    v = work[: t2 * c * p].reshape(t2, c, p)
    mm = work[t2 * c * p : t2 * (c + o) * p].reshape(t2, o, p)
    _winograd.input_transform(m, xp, ho, wo, r0, r1, j0, ntw, v, threads, pads)
    product = (u, v.reshape(t2, groups, cg, p), mm.reshape(t2, groups, o // groups, p))
    if threads > 1:
        _blas.matmul(*product)
    else:  # on one of several chunk threads, or a serial call: BLAS is on one thread
        with _blas.threads(1):
            np.matmul(*product[:2], out=product[2])
    _winograd.output_transform(m, mm, out, r0, r1, j0, ntw, threads, bias)


# Fork safety: OpenMP's thread team does not survive fork() (the worker
# pool is fastconv._workers', which handles its own). In a child forked after a threaded call, calls run on the calling
# thread (the transforms' OpenMP regions then have one thread: their
# ``if (threads > 1)`` clause keeps them off the dead team).
_team_ran = False
_forked_child = False


def _note_team():
    global _team_ran
    _team_ran = True


def _after_fork_in_child():
    global _forked_child
    if _team_ran:
        _forked_child = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# ------------------------------------------------------------ error bound

def _gamma(n, u):
    return n * u / (1 - n * u)


def _abs_winograd(xp, w, out_shape, groups, m):
    """Yabs of the module docstring, float64, (N, O, Ho, Wo): the Winograd
    algorithm on |x| and |w| with the absolute transform matrices."""
    BT, G, AT = (np.abs(a) for a in _MATRICES[m])
    n, c = xp.shape[:2]
    o, cg = w.shape[:2]
    ho, wo = out_shape[2:]
    t = m + 2
    th, tw = -(-ho // m), -(-wo // m)
    x = np.zeros((n, c, th * m + 2, tw * m + 2))
    rows, cols = min(xp.shape[2], th * m + 2), min(xp.shape[3], tw * m + 2)
    x[:, :, :rows, :cols] = np.abs(np.asarray(xp[:, :, :rows, :cols], dtype=np.float64))
    patches = np.lib.stride_tricks.sliding_window_view(x, (t, t), axis=(2, 3))[:, :, ::m, ::m]  # (N,C,th,tw,t,t)
    v = np.einsum("ka,ncijab,lb->ncijkl", BT, patches, BT, optimize=True)
    u = np.einsum("ka,ocab,lb->ockl", G, np.abs(np.asarray(w, dtype=np.float64)), G, optimize=True)
    og = o // groups
    vg = v.reshape(n, groups, cg, th, tw, t, t)
    ug = u.reshape(groups, og, cg, t, t)
    mm = np.einsum("gqckl,ngcijkl->ngqijkl", ug, vg, optimize=True).reshape(n, o, th, tw, t, t)
    y = np.einsum("pk,noijkl,ql->noipjq", AT, mm, AT, optimize=True).reshape(n, o, th * m, tw * m)
    return y[:, :, :ho, :wo]


def _abs_direct(xp, w, out_shape, stride, dilation, groups):
    """sum |w| |x| of every output, float64 (the direct fallback's scale)."""
    o, cg, kh, kw = w.shape
    view = patch_view(xp, (kh, kw), stride, dilation, out_shape[2:], groups)  # (N, G, Cg, kh, kw, Ho, Wo)
    wa = np.abs(np.asarray(w, dtype=np.float64)).reshape(groups, o // groups, cg, kh, kw)
    y = np.einsum("ngcabij,gqcab->ngqij", np.abs(view.astype(np.float64)), wa, optimize=True)
    return y.reshape(out_shape)


def error_bound(xp, w, out_shape, stride, dilation, groups, tile=None):
    """Max abs error of :func:`correlate` against exact arithmetic, per output
    element: gamma_n * Yabs (see the module docstring), an array of
    ``out_shape``. For the direct fallback: gamma_{Cg*kh*kw} * sum |w||x|."""
    u = np.finfo(xp.dtype).eps / 2
    cg = w.shape[1]
    if not _supported(w, stride, dilation):
        return _gamma(cg * w.shape[2] * w.shape[3], u) * (1 + 1e-6) * _abs_direct(xp, w, out_shape, stride, dilation,
                                                                                  groups)
    m = tile or tile_for(out_shape[0], *out_shape[2:], xp.dtype)
    nb, na = _TERMS[m]
    n_terms = 2 * nb + cg + 2 * na + 2
    eps_w = 8 * np.finfo(np.float64).eps / 2  # the float64 kernel transform before its rounding
    return (_gamma(n_terms, u) + eps_w) * (1 + 1e-6) * _abs_winograd(xp, w, out_shape, groups, m)


def describe():
    return {"kind": "Winograd F(4x4,3x3) / F(2x2,3x3): compiled transforms + batched BLAS GEMMs",
            "simd": _winograd.SIMD, "openmp": _winograd.OPENMP, "blas": _blas.describe()}
