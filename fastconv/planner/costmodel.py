"""The cost model: predicted seconds for one backend on one problem.

A problem is a :class:`~fastconv.planner.signature.Problem`; a backend's
predicted time is a linear model over a few work terms of that problem,

    t = c[0] * 1  +  c[1] * f1  +  c[2] * f2  + ...

where the first term is the fixed per-call overhead and the others are
work counts (multiply-adds, elements copied, FFT butterflies, ...) that the
backend's algorithm performs. Work terms of multi-threaded backends are
divided by the thread count relative to the count the constants were fitted
with, so a fit made with 2 threads still ranks backends sensibly with 1.

The constants ``c`` are fitted per (backend, dtype) by ``python -m fastconv
tune`` with non-negative weighted least squares (relative error), see
:func:`fit`. Which work terms a backend has is decided by the algorithm
family its registry row names (a key of :data:`FAMILIES`); a backend with
no family has no model and is never picked by the model (it can still be
forced or measured).
"""
import math
import os

import numpy as np

from .. import settings
from .._geometry import fft_length, flat_row_length, input_extent, winograd_chunks, winograd_tiles

_CPUS = os.cpu_count() or 1


def _sizes(p):
    hp = p.h + p.pads[0][0] + p.pads[0][1]
    wp = p.w + p.pads[1][0] + p.pads[1][1]
    outputs = p.n * p.o * p.ho * p.wo
    taps = p.cg * p.kh * p.kw
    return hp, wp, outputs, taps


def _wakeups(p, macs):
    """Thread-team wake-ups of one call: none when it runs on the calling
    thread (below ``settings.SERIAL_MACS`` multiply-adds, or one thread),
    else one per woken thread (a fixed cost: it does not shrink with more
    threads, so the count is taken at the fit's thread count by
    :func:`features`' scaling)."""
    threads = min(p.threads, _CPUS)
    return float(threads) if threads > 1 and macs >= settings.SERIAL_MACS else 0.0


def _vector_paths(p, macs, vector_bytes):
    """(multiply-adds at column stride 2, on a vector path that de-interleaves
    two loads; multiply-adds on the scalar path: column strides above 2, or
    output rows narrower than one ``vector_bytes`` vector)."""
    lanes = vector_bytes // np.dtype(p.dtype).itemsize
    scalar = macs if p.stride[1] > 2 or p.wo < lanes else 0.0
    return (macs if p.stride[1] == 2 and not scalar else 0.0), scalar


def direct_terms(p):
    """Direct loops (cython, numba): multiply-adds, multiply-adds of problems
    small enough to run on the calling thread only (the cython backend does
    so below ``settings.SERIAL_MACS``, so they get no parallel speed-up), inner-loop starts per
    tap and per kernel row (short output rows cost more per MAC),
    stride-2 and scalar-path MACs (rows narrower than a vector, column
    strides above 2), input elements, thread wake-ups, and kernel rows on
    the scalar path (each scalar row call costs more than a vector one)."""
    hp, wp, outputs, taps = _sizes(p)
    macs = outputs * taps
    rows = macs / max(p.wo, 1)
    kernel_rows = p.n * p.o * p.ho * p.cg * p.kh  # row kernels that take a whole kernel row per call
    strided, scalar = _vector_paths(p, macs, 64)  # narrower than the widest vector (AVX-512): scalar rows
    return (macs, macs if macs < settings.SERIAL_MACS else 0.0, rows, kernel_rows, strided, scalar,
            p.n * p.c * hp * wp + outputs, _wakeups(p, macs), kernel_rows if scalar else 0.0)


# The blocked direct kernels' register block: output channels per block (rows
# per block where a group has one output channel; 8 on AVX-512, 4 on AVX2),
# and the taps summed in fresh registers before they are added to the
# output (at least 32, about sqrt(C/groups*kh*kw)).
_BLOCK = 8
_PARTIAL_TAPS = 32


_FLAT_GAIN = 1.25  # as the backend's (fastconv/backends/direct_.py)


def _as_computed(p):
    """``p`` as the blocked kernels compute it: a narrow map (7x7, 14x14) of
    a layer with several output channels per group at equal strides 1 or 2
    runs as one long row (``_geometry.flat_row_length``, here with 64-byte
    vectors), unless a zero border is taken inside the kernel (a padded
    problem whose groups fit one channel block). Returns (problem, flattened?)."""
    og = p.o // p.groups
    padded = any(v for pair in p.pads for v in pair)
    if og < 2 or p.stride[0] != p.stride[1] or p.stride[1] > 2 or (padded and og <= _BLOCK):
        return p, False
    lanes = tuple(v // np.dtype(p.dtype).itemsize for v in (64, 32, 16))
    length = flat_row_length(p.ho, p.wo, p.w + p.pads[1][0] + p.pads[1][1], lanes, _FLAT_GAIN)
    return (p, False) if length is None else (p._replace(ho=1, wo=length), True)


def _weights(p):
    """Weight elements: a backend that caches a transformed copy of the
    weights (packed, FFT'd, Winograd-transformed) keys it on their content,
    so every call reads and compares them (``fastconv._arraycache``) --
    0.5 ms for a 512x512x3x3 layer, whatever the image size."""
    return float(p.o * p.cg * p.kh * p.kw)


def blocked_direct_terms(p):
    """Register-blocked direct convolution: multiply-adds; again those of
    one output channel per group (depthwise, single-channel images: no
    channel block shares an input vector, one load per FMA), and those on
    the scalar path (column strides other than 1 and 2, rows narrower than
    a 16-byte vector), as extra costs on top; multiply-adds of serial
    problems (below ``settings.SERIAL_MACS``); tap iterations per block
    row (each costs its loads and broadcasts whatever the row's width:
    narrow rows pay more per MAC); memory traffic: input elements plus
    output elements once per chunk of input channels; thread wake-ups;
    flattened calls (their strided views, scratch result and copy out
    are a fixed cost in Python, most of a small layer's call); and the
    weights' cache key (:func:`_weights`); all of the
    problem as the kernels compute it (:func:`_as_computed`)."""
    p, flat = _as_computed(p)
    hp, wp, outputs, taps = _sizes(p)
    macs = outputs * taps
    og = p.o // p.groups
    single = macs if og == 1 else 0.0
    strided, scalar = _vector_paths(p, macs, 16)  # the narrowest block is one 16-byte vector
    strided /= min(og, _BLOCK)  # the de-interleaving is per input load; a load feeds a block's channels
    blocks = p.groups * -(-og // _BLOCK)
    block_taps = p.n * blocks * p.ho * taps / (_BLOCK if og == 1 else 1)
    k = p.kh * p.kw
    chunks = -(-p.cg // max(1, -(-_PARTIAL_TAPS // k), round(math.sqrt(p.cg * k) / k)))
    return (macs, single, strided, scalar, macs if macs < settings.SERIAL_MACS else 0.0, block_taps,
            p.n * p.c * hp * wp + outputs * chunks, _wakeups(p, macs), float(flat), _weights(p))


def gemm_terms(p):
    """im2col + BLAS: the im2col copy, the GEMM multiply-adds, GEMM calls
    (one per image and group), output elements, and the wake-ups of the
    threads a product above ``settings.SERIAL_MACS`` is split over (their
    hand-off costs tens of microseconds: on a many-channel layer over a
    tiny map it is most of the call)."""
    _, _, outputs, taps = _sizes(p)
    direct_1x1 = p.kh == p.kw == 1 and p.stride == (1, 1)  # the GEMM reads the input in place: no im2col
    cols = 0 if direct_1x1 else p.n * p.groups * taps * p.ho * p.wo
    return (cols, outputs * taps, p.n * p.groups, outputs, _wakeups(p, outputs * taps))


def fft_terms(p):
    """Real 2-D FFTs at fast lengths covering the input rows/columns the
    output reads (as the fft backend does: a real transform along rows that
    hold data, a complex one along columns): forward transforms of the
    images plus the inverse ones (only kept rows go through the last real
    transform), the kernels' transforms, the spectral multiply-adds summed
    over input channels, and output elements."""
    _, _, outputs, _ = _sizes(p)
    rows = input_extent(p.ho, p.kh, p.stride[0], p.dilation[0])
    cols = input_extent(p.wo, p.kw, p.stride[1], p.dilation[1])
    l1, l2 = fft_length(rows), fft_length(cols, real=True)
    f2 = l2 // 2 + 1
    row_fft = l2 * math.log2(max(l2, 2))
    col_fft = f2 * l1 * math.log2(max(l1, 2))
    forward = p.n * p.c * (rows * row_fft + col_fft)
    inverse = p.n * p.o * (col_fft + p.ho * row_fft)
    kernels = p.o * p.cg * ((p.kh - 1) * p.dilation[0] * row_fft + row_fft + col_fft)
    spectral = p.n * p.o * p.cg * l1 * f2
    return (forward + inverse, kernels, spectral, outputs, _weights(p))


def separable_terms(p):
    """Two 1-D passes (rank-1 kernels) on a direct backend: the direct
    family's multiply-adds, row starts, scalar-path multiply-adds and
    elements of the row pass (over the input rows the output needs) plus
    those of the column pass (depthwise over the intermediate image; its
    rows as narrow as the output's), and one factorisation per output
    channel."""
    hp, wp, _, _ = _sizes(p)
    rows_needed = input_extent(p.ho, p.kh, p.stride[0], p.dilation[0])
    flat = ((0, 0), (0, 0))
    row_pass = p._replace(h=rows_needed, w=wp, pads=flat, o=p.o, cg=1, kh=1, ho=rows_needed,
                          stride=(1, p.stride[1]), dilation=(1, p.dilation[1]))
    col_pass = p._replace(c=p.o, h=rows_needed, w=p.wo, pads=flat, cg=1, kw=1, groups=p.o,
                          stride=(p.stride[0], 1), dilation=(p.dilation[0], 1))
    passes = [dict(zip(_DIRECT_TERMS, direct_terms(q))) for q in (row_pass, col_pass)]
    return tuple(passes[0][t] + passes[1][t] for t in _PASS_TERMS) + (p.o,)


def winograd_terms(p):
    """Winograd F(m x m, 3 x 3) (m as the backend picks it): transformed
    elements (t^2 per tile and channel, written by the input transform and
    read by the output transform, one term: with as many channels in as out
    two terms could not be told apart), the transformed products'
    multiply-adds (t^2 per tile, output channel and input channel of its
    group, by batched GEMMs; when C/groups == 1 the elementwise products are
    part of the one fused pass and counted with the transformed elements), and
    transformed-kernel elements read (all of U once per chunk of tiles: what
    makes few-tile, many-channel layers memory-bound), the batched GEMMs'
    BLAS calls (t^2 per chunk: most of a small layer's time), and the
    weights' cache key (:func:`_weights`)."""
    m, th, tw = winograd_tiles(p.n, p.ho, p.wo, p.dtype == "d")
    t2 = (m + 2) ** 2
    tiles = p.n * th * tw
    itemsize = 4 if p.dtype == "f" else 8
    if p.cg == 1:  # fused: no GEMM, no workspace
        return (tiles * t2 * (p.c + p.o), 0.0, 0.0, 0.0, _weights(p))
    threads = min(p.threads, _CPUS) if p.n * p.o * p.ho * p.wo * p.cg * 9 >= settings.SERIAL_MACS else 1
    chunks = winograd_chunks(p.n * th, tw, t2 * (p.c + p.o) * itemsize, t2 * p.o * p.cg * itemsize, threads,
                             settings.get_workspace_limit(), settings.TRANSFORM_CHUNK_BYTES)[2]
    return (tiles * t2 * (p.c + p.o), tiles * t2 * p.o * p.cg, chunks * t2 * p.o * p.cg, float(chunks * t2),
            _weights(p))


def naive_terms(p):
    """Python loop over outputs, numpy work per output."""
    _, _, outputs, taps = _sizes(p)
    return (outputs, outputs * taps)


_DIRECT_TERMS = ("macs", "serial_macs", "row_starts", "kernel_rows", "strided_macs", "scalar_macs", "elements",
                 "wakeups", "scalar_kernel_rows")
_PASS_TERMS = ("macs", "row_starts", "scalar_macs", "elements")  # the direct terms of 1-D passes that matter

# family -> (term function, names of the terms, do the terms scale with threads?)
FAMILIES = {
    "direct": (direct_terms, _DIRECT_TERMS, True),
    "blocked_direct": (blocked_direct_terms, ("macs", "single_channel_macs", "strided_loads", "scalar_macs",
                                              "serial_macs", "block_taps", "elements", "wakeups", "flat_calls", "weights"), True),
    "im2col_gemm": (gemm_terms, ("im2col", "gemm_macs", "gemm_calls", "outputs", "wakeups"), True),
    "fourier": (fft_terms, ("fft_butterflies", "kernel_butterflies", "spectral_macs", "outputs", "weights"), True),
    "rank1_passes": (separable_terms, tuple("pass_" + t for t in _PASS_TERMS) + ("kernels",), True),
    "winograd_transforms": (winograd_terms, ("transformed", "products", "kernel_reads", "gemm_calls", "weights"),
                            True),
    "python_loops": (naive_terms, ("outputs", "macs"), False),
}


# Work terms that count elements moved rather than arithmetic: a calibration
# carries them to another machine by its memory bandwidth, the others by the
# backend's arithmetic rate (see .calibration).
MEMORY_TERMS = frozenset({"elements", "outputs", "im2col", "pass_elements", "weights"})


def term_names(family):
    """("overhead", work terms...) of ``family``, or None when it is unknown."""
    entry = FAMILIES.get(family)
    return None if entry is None else ("overhead",) + entry[1]


def features(family, p, fit_threads=None):
    """The model's feature vector (leading 1 for the overhead) for ``p``."""
    terms, _, threaded = FAMILIES[family]
    work = terms(p)
    scale = 1.0
    if threaded and fit_threads:
        scale = fit_threads / max(1, min(p.threads, _CPUS))
    return (1.0,) + tuple(v * scale for v in work)


def predict(coef, family, p, fit_threads=None):
    """Predicted seconds; ``coef`` as fitted (same order as :func:`term_names`)."""
    return float(sum(c * f for c, f in zip(coef, features(family, p, fit_threads))))


def _nnls(a, b, max_iter=None):
    """Non-negative least squares, Lawson and Hanson's active-set method
    (no scipy needed): the exact solution, for any number of terms."""
    n = a.shape[1]
    x = np.zeros(n)
    active = np.zeros(n, dtype=bool)
    grad = a.T @ b
    tol = 1e-12 * max(1.0, float(np.abs(grad).max()))
    for _ in range(max_iter or 3 * n + 10):
        if active.all() or grad[~active].max() <= tol:
            break
        active[np.argmax(np.where(active, -np.inf, grad))] = True
        while True:
            z = np.zeros(n)
            z[active] = np.linalg.lstsq(a[:, active], b, rcond=None)[0]
            if (z[active] > 0).all():
                break
            bad = active & (z <= 0)  # step back to the boundary, drop the terms that reach it
            step = np.min(x[bad] / (x[bad] - z[bad]))
            x = x + step * (z - x)
            active &= x > tol
            if not active.any():
                z = np.zeros(n)
                break
        x = z
        grad = a.T @ (b - a @ x)
    return x


def fit(rows, times, rounds=8, slow_outlier=3.0, fast_outlier=4.0, stall=1e-3):
    """Constants c >= 0 such that ``rows @ c`` predicts ``times`` with small
    *relative* error in both directions.

    Weighted non-negative least squares, iterated: the first round weighs
    each timing by 1/t; later rounds by 1/sqrt(t * predicted) (about the
    log error, so over- and under-prediction count alike) and leave out
    stalls -- timings more than ``slow_outlier`` times *and* ``stall``
    seconds slower than predicted (a shared machine's scheduler adds
    milliseconds, never a fraction of a call) -- and timings
    ``fast_outlier`` times faster than predicted.
    """
    a = np.asarray(rows, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    scale = np.abs(a).max(axis=0)
    scale[scale == 0] = 1.0
    a = a / scale
    keep = np.ones(len(t), dtype=bool)
    weight = 1.0 / t
    coef = np.zeros(a.shape[1])
    for r in range(rounds):
        coef = _nnls(a[keep] * weight[keep, None], t[keep] * weight[keep])
        pred = np.maximum(a @ coef, 1e-12)
        weight = 1.0 / np.sqrt(t * pred)
        if r >= 1:
            stalled = (t > slow_outlier * pred) & (t - pred > stall)
            keep = ~stalled & (t * fast_outlier >= pred)
            if keep.sum() < max(len(t) // 2, a.shape[1]):
                keep = np.ones(len(t), dtype=bool)
    return coef / scale
