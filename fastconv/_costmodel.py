"""The cost model: predicted seconds for one backend on one problem.

A problem is described by its signature (see :class:`Problem`); a backend's
predicted time is a linear model over a few work terms of that problem,

    t = c[0] * 1  +  c[1] * f1  +  c[2] * f2  + ...

where the first term is the fixed per-call overhead and the others are
work counts (multiply-adds, elements copied, FFT butterflies, ...) that the
backend's algorithm performs. Work terms of multi-threaded backends are
divided by the thread count relative to the count the constants were fitted
with, so a fit made with 2 threads still ranks backends sensibly with 1.

The constants ``c`` are fitted per (backend, dtype) by ``python -m fastconv
tune`` with non-negative weighted least squares (relative error), see
:func:`fit`. Which work terms a backend has is decided by its algorithm
family in :data:`FAMILIES`; a backend with no family has no model and is
never picked by the model (it can still be forced or measured).
"""
import math
import os
from collections import namedtuple

import numpy as np

_CPUS = os.cpu_count() or 1

# Everything the model (and the decision caches) key on.
Problem = namedtuple(
    "Problem",
    "n c h w o cg kh kw pads stride dilation groups dtype threads exact ho wo",
)


def problem(x_shape, w_shape, geo, groups, dtype_char, threads, exact):
    n, c, h, w = x_shape
    o, cg, kh, kw = w_shape
    ho, wo = geo.out_shape
    return Problem(n, c, h, w, o, cg, kh, kw, geo.pads, geo.stride, geo.dilation, groups,
                   dtype_char, threads, bool(exact), ho, wo)


def _smooth(n):
    """Smallest 2**a 3**b 5**c >= n (the FFT backends pad to such lengths)."""
    best = 1 << max(0, (n - 1).bit_length())
    f5 = 1
    while f5 < best:
        f35 = f5
        while f35 < best:
            m = f35
            while m < n:
                m *= 2
            best = min(best, m)
            f35 *= 3
        f5 *= 5
    return best


def _sizes(p):
    hp = p.h + p.pads[0][0] + p.pads[0][1]
    wp = p.w + p.pads[1][0] + p.pads[1][1]
    outputs = p.n * p.o * p.ho * p.wo
    taps = p.cg * p.kh * p.kw
    return hp, wp, outputs, taps


SERIAL_BELOW = 1 << 20  # multiply-adds below which a direct backend may stay on one thread


def direct_terms(p):
    """Direct loops (cython, numba): multiply-adds, multiply-adds of problems
    small enough to run on the calling thread only (the cython backend does
    so below 2**20, so they get no parallel speed-up), inner-loop starts per
    tap and per kernel row (short output rows cost more per MAC),
    strided-row MACs, and input elements."""
    hp, wp, outputs, taps = _sizes(p)
    macs = outputs * taps
    rows = macs / max(p.wo, 1)
    kernel_rows = p.n * p.o * p.ho * p.cg * p.kh  # row kernels that take a whole kernel row per call
    strided = macs if p.stride[1] > 1 else 0.0
    return (macs, macs if macs < SERIAL_BELOW else 0.0, rows, kernel_rows, strided, p.n * p.c * hp * wp + outputs)


def gemm_terms(p):
    """im2col + BLAS: the im2col copy, the GEMM multiply-adds, GEMM calls
    (one per image and group), and output elements."""
    _, _, outputs, taps = _sizes(p)
    cols = p.n * p.groups * taps * p.ho * p.wo
    return (cols, outputs * taps, p.n * p.groups, outputs)


def fft_terms(p):
    """Real 2-D FFTs at fast lengths covering the input rows/columns the
    output reads (as the fft backend does: a real transform along rows that
    hold data, a complex one along columns): forward transforms of the
    images plus the inverse ones (only kept rows go through the last real
    transform), the kernels' transforms, the spectral multiply-adds summed
    over input channels, and output elements."""
    _, _, outputs, _ = _sizes(p)
    rows = (p.ho - 1) * p.stride[0] + (p.kh - 1) * p.dilation[0] + 1
    cols = (p.wo - 1) * p.stride[1] + (p.kw - 1) * p.dilation[1] + 1
    l1, l2 = _smooth(rows), _smooth(cols)
    f2 = l2 // 2 + 1
    row_fft = l2 * math.log2(max(l2, 2))
    col_fft = f2 * l1 * math.log2(max(l1, 2))
    forward = p.n * p.c * (rows * row_fft + col_fft)
    inverse = p.n * p.o * (col_fft + p.ho * row_fft)
    kernels = p.o * p.cg * ((p.kh - 1) * p.dilation[0] * row_fft + row_fft + col_fft)
    spectral = p.n * p.o * p.cg * l1 * f2
    return (forward + inverse, kernels, spectral, outputs)


def separable_terms(p):
    """Two 1-D passes (rank-1 kernels): the row pass over the input rows the
    output needs, the column pass; one SVD per output channel; elements of
    the intermediate image and output."""
    hp, wp, outputs, _ = _sizes(p)
    rows_needed = (p.ho - 1) * p.stride[0] + (p.kh - 1) * p.dilation[0] + 1
    tmp = p.n * p.o * rows_needed * p.wo
    return (tmp * p.kw + outputs * p.kh, p.o, tmp + outputs)


def separable_applies(p):
    """Structurally possible: one input channel per output, a 2-D kernel
    (the kernel's values must also be rank 1: checked per call)."""
    return p.cg == 1 and p.kh > 1 and p.kw > 1


def naive_terms(p):
    """Python loop over outputs, numpy work per output."""
    _, _, outputs, taps = _sizes(p)
    return (outputs, outputs * taps)


# family -> (term function, names of the terms, do the terms scale with threads?)
FAMILIES = {
    "direct": (direct_terms, ("macs", "serial_macs", "row_starts", "kernel_rows", "strided_macs", "elements"), True),
    "gemm": (gemm_terms, ("im2col", "gemm_macs", "gemm_calls", "outputs"), True),
    "fft": (fft_terms, ("fft_butterflies", "kernel_butterflies", "spectral_macs", "outputs"), True),
    "separable": (separable_terms, ("pass_macs", "kernels", "elements"), True),
    "naive": (naive_terms, ("outputs", "macs"), False),
}

# backend name -> family. Backends not listed have no model.
BACKEND_FAMILY = {
    "naive": "naive",
    "cython": "direct",
    "numba": "direct",
    "gemm": "gemm",
    "fft": "fft",
    "separable": "separable",
}


def term_names(backend):
    family = BACKEND_FAMILY.get(backend)
    return None if family is None else ("overhead",) + FAMILIES[family][1]


def features(backend, p, fit_threads=None):
    """The model's feature vector (leading 1 for the overhead) for ``p``."""
    terms, _, threaded = FAMILIES[BACKEND_FAMILY[backend]]
    work = terms(p)
    scale = 1.0
    if threaded and fit_threads:
        scale = fit_threads / max(1, min(p.threads, _CPUS))
    return (1.0,) + tuple(v * scale for v in work)


def macs(p):
    return p.n * p.o * p.ho * p.wo * p.cg * p.kh * p.kw


def predict(coef, backend, p, fit_threads=None):
    """Predicted seconds; ``coef`` as fitted (same order as :func:`term_names`)."""
    return float(sum(c * f for c, f in zip(coef, features(backend, p, fit_threads))))


def _nnls(a, b):
    """Non-negative least squares by trying every subset of columns (the
    models have at most 5 terms: 31 small lstsq solves), no scipy needed."""
    n = a.shape[1]
    best, best_loss = np.zeros(n), float(b @ b)
    for mask in range(1, 1 << n):
        cols = [j for j in range(n) if mask >> j & 1]
        sol, *_ = np.linalg.lstsq(a[:, cols], b, rcond=None)
        if (sol < 0).any():
            continue
        loss = float(((a[:, cols] @ sol - b) ** 2).sum())
        if loss < best_loss:
            best = np.zeros(n)
            best[cols] = sol
            best_loss = loss
    return best


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
