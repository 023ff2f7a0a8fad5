"""The numba backend: ``@njit(parallel=True, cache=True, nogil=True)`` kernels.

Imported only when the backend is first used (the registry is lazy), so
``import fastconv`` never pays for numba.

How the kernel is laid out, and why:

* Every array is handed to numba as a flat, C-contiguous 1-D view of its
  memory plus element strides. Numba then sees one array type per dtype
  (so one compiled signature each for float32 and float64, whatever the
  caller's layout or read-only flag), and every row slice is contiguous, so
  LLVM vectorises the inner loop without stride or index-sign checks.
* ``prange`` runs over the flattened (image, out-channel, output-row) index,
  so a single 2-D image and a many-channel conv layer both keep every core
  busy. Consecutive rows land on the same thread, so the input rows they
  share stay in cache.
* Per output row, the row is zeroed and then each group of up to four taps
  (c, a, b) adds ``k * x_row[j*sw + b*dw]`` over the whole row. The row is
  small enough to live in L1; grouping taps cuts its loads/stores up to 4x.
  Unit horizontal stride gets its own loops (contiguous loads).
* ``fastmath={"contract"}`` only lets LLVM fuse multiply-adds; it keeps
  IEEE NaN/inf semantics (full fastmath assumes there are none). Each
  dtype accumulates in itself: float32 stays float32 end to end.
"""
import os

import numba
import numpy as np
from numba import njit, prange
from numpy.lib.stride_tricks import as_strided

from .._threads import get_threads

_FASTMATH = {"contract"}  # FMA only: NaN/inf propagate exactly as in the oracle


# The tap helper is inlined into the kernel at numba-IR level, so its loops
# are compiled in place; it exists to keep the kernel readable. One loop per
# group size, because LLVM only vectorises an inner loop it can see whole.
@njit(nogil=True, fastmath=_FASTMATH, inline="always")
def _add_taps(y, m, x0, x1, x2, x3, k0, k1, k2, k3, sw):
    """y[j] += sum over the first m of (k, x): k * x[j*sw], for every j."""
    n = y.shape[0]
    if sw == 1:  # contiguous loads: the case worth a loop of its own
        if m == 4:
            for j in range(n):
                y[j] += k0 * x0[j] + k1 * x1[j] + k2 * x2[j] + k3 * x3[j]
        elif m == 3:
            for j in range(n):
                y[j] += k0 * x0[j] + k1 * x1[j] + k2 * x2[j]
        elif m == 2:
            for j in range(n):
                y[j] += k0 * x0[j] + k1 * x1[j]
        else:
            for j in range(n):
                y[j] += k0 * x0[j]
    else:
        if m == 4:
            for j in range(n):
                s = j * sw
                y[j] += k0 * x0[s] + k1 * x1[s] + k2 * x2[s] + k3 * x3[s]
        elif m == 3:
            for j in range(n):
                s = j * sw
                y[j] += k0 * x0[s] + k1 * x1[s] + k2 * x2[s]
        elif m == 2:
            for j in range(n):
                s = j * sw
                y[j] += k0 * x0[s] + k1 * x1[s]
        else:
            for j in range(n):
                y[j] += k0 * x0[j * sw]


@njit(nogil=True, inline="always")
def _tap(q, kh, kw, xs, ws, dh, dw):
    """Offsets of tap q (flattened over c, a, b) in x (relative to the window's
    origin) and in w (relative to the out-channel's filter)."""
    c = q // (kh * kw)
    a = (q // kw) % kh
    b = q % kw
    return c * xs[1] + a * dh * xs[2] + b * dw, c * ws[1] + a * ws[2] + b


@njit(parallel=True, cache=True, nogil=True, fastmath=_FASTMATH)
def _correlate(x, xs, w, ws, y, ys, shape, stride, dilation, groups):
    """x, w, y: flat 1-D views; xs, ws, ys: their element strides (N/O, C, H, W);
    shape: (N, O, Ho, Wo, C/groups, kh, kw)."""
    n_img, n_out, ho, wo, cg, kh, kw = shape
    sh, sw = stride
    dh, dw = dilation
    o_per_group = n_out // groups
    taps = cg * kh * kw
    # Taps go in as few groups of <= 4 as possible, sized evenly (9 -> 3+3+3,
    # not 4+4+1): each group is one pass over the output row.
    n_groups = (taps + 3) // 4
    size, bigger = taps // n_groups, taps % n_groups
    span = (wo - 1) * sw + 1  # input elements one output row reads per tap
    for t in prange(n_img * n_out * ho):
        i = t % ho
        o = (t // ho) % n_out
        n = t // (ho * n_out)
        c0 = (o // o_per_group) * cg
        yb = n * ys[0] + o * ys[1] + i * ys[2]
        row = y[yb:yb + wo]
        row[:] = 0
        xb = n * xs[0] + c0 * xs[1] + i * sh * xs[2]  # window origin for this row
        wb = o * ws[0]
        q = 0
        for g in range(n_groups):
            m = size + 1 if g < bigger else size
            # slots past m repeat the group's last tap; _add_taps ignores them
            xo0, wo0 = _tap(q, kh, kw, xs, ws, dh, dw)
            xo1, wo1 = _tap(q + min(1, m - 1), kh, kw, xs, ws, dh, dw)
            xo2, wo2 = _tap(q + min(2, m - 1), kh, kw, xs, ws, dh, dw)
            xo3, wo3 = _tap(q + min(3, m - 1), kh, kw, xs, ws, dh, dw)
            _add_taps(row, m,
                      x[xb + xo0:xb + xo0 + span], x[xb + xo1:xb + xo1 + span],
                      x[xb + xo2:xb + xo2 + span], x[xb + xo3:xb + xo3 + span],
                      w[wb + wo0], w[wb + wo1], w[wb + wo2], w[wb + wo3], sw)
            q += m


def _flat(a, writeable):
    """A C-contiguous 1-D view spanning ``a``'s memory, and ``a``'s strides in
    elements. Valid because the registry guarantees non-negative, aligned
    strides (multiples of the itemsize) and a contiguous last axis."""
    it = a.itemsize
    strides = tuple(s // it for s in a.strides)
    span = 1 + sum((n - 1) * s for n, s in zip(a.shape, strides))
    # writeable=False for inputs: numba types read-only arrays separately, so
    # always marking them read-only keeps one signature per dtype.
    return as_strided(a, shape=(span,), strides=(it,), writeable=writeable), strides


def _use_threads():
    """Obey fastconv's thread setting (numba's is per calling thread, and cheap)."""
    n = max(1, min(get_threads(), numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)


def correlate(xp, w, out, stride, dilation, groups):
    x1, xs = _flat(xp, False)
    w1, ws = _flat(w, False)
    y1, ys = _flat(out, True)
    _use_threads()
    # plain ints throughout, so numba never compiles a second signature for,
    # say, numpy.int32 strides
    shape = out.shape + w.shape[1:]
    sh, sw = stride
    dh, dw = dilation
    _correlate(x1, xs, w1, ws, y1, ys, shape, (int(sh), int(sw)), (int(dh), int(dw)), int(groups))


def warm(dtypes=("float32", "float64")):
    """Compile (or load from the on-disk cache) the kernel for each dtype, so
    no later call pays for the JIT. Returns {dtype: seconds taken}."""
    import time

    took = {}
    for name in dtypes:
        dt = np.dtype(name)
        t0 = time.perf_counter()
        x = np.zeros((1, 2, 4, 4), dt)
        w = np.zeros((2, 1, 2, 2), dt)
        correlate(x, w, np.empty((1, 2, 3, 3), dt), (1, 1), (1, 1), 2)
        took[dt.name] = time.perf_counter() - t0
    return took


def _cache_dir():
    """Where numba reads/writes this kernel's cache: __pycache__ next to this
    file when writable, else NUMBA_CACHE_DIR or the user-wide cache (numba's
    own locator order). Uses a numba internal, hence the guard."""
    return getattr(getattr(_correlate, "_cache", None), "_cache_path", None)


def describe():
    try:
        layer = numba.threading_layer()
    except ValueError:  # not initialised until the first parallel call; don't force it
        layer = "not initialised yet"
    compiled = sorted({str(sig[0].dtype) for sig in _correlate.signatures})
    return {
        "kind": "numba @njit(parallel, cache, nogil) kernels",
        "numba": numba.__version__,
        "threading_layer": layer,
        "max_threads": numba.config.NUMBA_NUM_THREADS,
        "compiled": ", ".join(compiled) or "none yet (compiles or loads from cache on first use)",
        "cache_dir": _cache_dir(),
        "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR") or None,
    }
