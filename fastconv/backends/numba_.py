"""The numba backend: ``@njit(parallel=True, cache=True, nogil=True)`` kernels.

Imported only when the backend is first used (the registry is lazy), so
``import fastconv`` never pays for numba.

How the kernel is laid out, and why:

* Every array is handed to numba as a flat, C-contiguous 1-D view of its
  memory plus element strides. Numba then sees one array type per dtype
  (so one compiled signature each for float32 and float64, whatever the
  caller's layout or read-only flag), and every row slice is contiguous, so
  LLVM vectorises the inner loop without stride or index-sign checks.
* ``prange`` runs over one flattened (image, out-channel, output-row) index
  (channels or rows taken two at a time, see below), so a single 2-D image
  and a many-channel conv layer both keep every core busy. Consecutive rows land on the same thread, so the input rows they
  share stay in cache.
* An output row is zeroed, then each group of up to four taps (c, a, b)
  adds ``k * x_row[j*sw + b*dw]`` over the whole row: the row lives in L1
  and grouping cuts its loads/stores up to 4x. Taps are split into evenly
  sized groups (9 taps -> 3+3+3, not 4+4+1): each group is one pass.
* With unit horizontal stride, output rows are computed in pairs that read
  the same input vectors, so each load feeds two outputs: out-channels o and
  o+1 of a group (conv layers: half the loads), else rows i and i+1 when
  sh == dh (row i+1's kernel row a is row i's kernel row a+1; 7x7: 56 loads
  per 2 outputs instead of 98). This closes most of the gap to OpenCV.
* ``fastmath={"contract"}`` only lets LLVM fuse multiply-adds; it keeps
  IEEE NaN/inf semantics (full fastmath assumes there are none). Each
  dtype accumulates in itself: float32 stays float32 end to end.

Compiling costs ~5-8 s of CPU per dtype, once: ``cache=True`` stores the
machine code on disk (see ``_cache_dir``; a read-only install falls back to
NUMBA_CACHE_DIR or the user cache), and later processes load it in well
under a second. ``warm()`` does that ahead of time for every dtype.
"""
import contextlib
import math
import os
import threading
import types

import numba
import numpy as np
from numba import njit, prange
from numpy.lib.stride_tricks import as_strided

from ..settings import get_threads

_FASTMATH = {"contract"}  # FMA only: NaN/inf propagate exactly as in the oracle


# The two loop helpers are inlined at numba-IR level, so their loops compile in
# place; there is one loop per group size because LLVM only vectorises an
# inner loop it can see whole.
@njit(nogil=True, fastmath=_FASTMATH, inline="always")
def _add_taps(y, m, x0, x1, x2, x3, k0, k1, k2, k3, sw):
    """y[j] += sum over the first m of (k, x): k * x[j*sw], for every j."""
    n = y.shape[0]
    if sw == 1:  # contiguous loads: the case worth loops of its own
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


@njit(nogil=True, fastmath=_FASTMATH, inline="always")
def _add_taps_pair(y0, y1, m, x0, x1, x2, x3, k0, k1, k2, k3, l0, l1, l2, l3):
    """Unit stride: y0 += sum k*x and y1 += sum l*x, each x loaded once."""
    n = y0.shape[0]
    if m == 4:
        for j in range(n):
            a, b, c, d = x0[j], x1[j], x2[j], x3[j]
            y0[j] += k0 * a + k1 * b + k2 * c + k3 * d
            y1[j] += l0 * a + l1 * b + l2 * c + l3 * d
    elif m == 3:
        for j in range(n):
            a, b, c = x0[j], x1[j], x2[j]
            y0[j] += k0 * a + k1 * b + k2 * c
            y1[j] += l0 * a + l1 * b + l2 * c
    elif m == 2:
        for j in range(n):
            a, b = x0[j], x1[j]
            y0[j] += k0 * a + k1 * b
            y1[j] += l0 * a + l1 * b
    else:
        for j in range(n):
            a = x0[j]
            y0[j] += k0 * a
            y1[j] += l0 * a


@njit(nogil=True)
def _tap_table(cg, n_rows, r0, kw, xs, ws, dh, dw):
    """Offsets of the taps (c < cg, r0 <= r < r0 + n_rows, b < kw), in that
    order: in x from the window's origin, in w from the filter's start. Built
    once per call, so the per-row loops do no index arithmetic."""
    n = cg * n_rows * kw
    xt = np.empty(n, np.int64)
    wt = np.empty(n, np.int64)
    q = 0
    for c in range(cg):
        for r in range(r0, r0 + n_rows):
            for b in range(kw):
                xt[q] = c * xs[1] + r * dh * xs[2] + b * dw
                wt[q] = c * ws[1] + r * ws[2] + b
                q += 1
    return xt, wt


@njit(nogil=True, fastmath=_FASTMATH)
def _run_taps(ya, yb, pair, x, xo, w, wo, w_shift, xt, wt, sw):
    """Add the taps listed in (xt, wt) of the window at x offset xo into row
    ya with weights w[wo + wt[q]], and, when ``pair``, into row yb with
    weights w[wo + wt[q] + w_shift]."""
    taps = xt.shape[0]
    if taps == 0:
        return
    n_groups = (taps + 3) // 4
    size, bigger = taps // n_groups, taps % n_groups
    span = (ya.shape[0] - 1) * sw + 1  # input elements one row reads per tap
    q = 0
    for g in range(n_groups):
        m = size + 1 if g < bigger else size
        # slots past m repeat the group's last tap; the helpers ignore them
        q1, q2, q3 = q + min(1, m - 1), q + min(2, m - 1), q + min(3, m - 1)
        x0, x1, x2, x3 = xo + xt[q], xo + xt[q1], xo + xt[q2], xo + xt[q3]
        w0, w1, w2, w3 = wo + wt[q], wo + wt[q1], wo + wt[q2], wo + wt[q3]
        xr0, xr1 = x[x0:x0 + span], x[x1:x1 + span]
        xr2, xr3 = x[x2:x2 + span], x[x3:x3 + span]
        if pair:
            _add_taps_pair(ya, yb, m, xr0, xr1, xr2, xr3, w[w0], w[w1], w[w2], w[w3],
                           w[w0 + w_shift], w[w1 + w_shift], w[w2 + w_shift], w[w3 + w_shift])
        else:
            _add_taps(ya, m, xr0, xr1, xr2, xr3, w[w0], w[w1], w[w2], w[w3], sw)
        q += m


def _correlate_tasks(x, xs, w, ws, y, ys, shape, stride, dilation, groups, t0, t1):
    """Tasks [t0, t1) of the flattened (image, out-channel pair, row pair)
    index (see :func:`task_count`). x, w, y: flat 1-D views; xs, ws, ys:
    their element strides (N/O, C, H, W); shape: (N, O, Ho, Wo, C/groups,
    kh, kw)."""
    n_img, n_out, ho, wo, cg, kh, kw = shape
    sh, sw = stride
    dh, dw = dilation
    o_per_group = n_out // groups
    # Work in pairs of output rows that read the same input vectors, so each
    # load feeds two rows (unit stride only: the pair loops are contiguous):
    # - out-channels o and o+1 of one group read identical windows;
    # - else rows i and i+1 of one channel: row i+1's kernel row a reads input
    #   row (i+1)*sh + a*dh, row i's kernel row a+1 exactly when sh == dh.
    chan_pairs = sw == 1 and o_per_group >= 2
    row_pairs = sw == 1 and sh == dh and not chan_pairs
    o_step = 2 if chan_pairs else 1
    i_step = 2 if row_pairs else 1
    o_items = (o_per_group + o_step - 1) // o_step  # per group
    i_items = (ho + i_step - 1) // i_step
    # Tap sets: a lone row or a channel pair takes every kernel row; a row pair
    # feeds kernel rows 1..kh-1 of row i (= rows 0..kh-2 of row i+1) to both
    # rows, row 0 to the first only and input row kh to the second only.
    x_all, w_all = _tap_table(cg, kh, 0, kw, xs, ws, dh, dw)
    x_mid, w_mid = _tap_table(cg, kh - 1, 1, kw, xs, ws, dh, dw)
    x_top, w_top = _tap_table(cg, 1, 0, kw, xs, ws, dh, dw)
    x_bot, w_bot = _tap_table(cg, 1, kh, kw, xs, ws, dh, dw)
    for t in prange(t0, t1):
        i = (t % i_items) * i_step
        og = (t // i_items) % (groups * o_items)
        n = t // (i_items * groups * o_items)
        g = og // o_items
        o = g * o_per_group + (og % o_items) * o_step
        yo = n * ys[0] + o * ys[1] + i * ys[2]
        xo = n * xs[0] + g * cg * xs[1] + i * sh * xs[2]  # window origin of row i
        wbase = o * ws[0]
        y0 = y[yo:yo + wo]
        y0[:] = 0
        if chan_pairs and o + 1 < (g + 1) * o_per_group:
            mode, y1_off, w_shift = 1, ys[1], ws[0]
        elif row_pairs and i + 1 < ho:
            mode, y1_off, w_shift = 2, ys[2], -ws[2]
        else:
            mode, y1_off, w_shift = 0, 0, 0
        y1 = y[yo + y1_off:yo + y1_off + wo]
        y1[:] = 0
        # One call site, so the loops are compiled once.
        for part in range(3 if mode == 2 else 1):
            if mode == 0:
                ya, yb, both, xt, wt, wa = y0, y0, False, x_all, w_all, wbase
            elif mode == 1:
                ya, yb, both, xt, wt, wa = y0, y1, True, x_all, w_all, wbase
            elif part == 0:
                ya, yb, both, xt, wt, wa = y0, y1, True, x_mid, w_mid, wbase
            elif part == 1:
                ya, yb, both, xt, wt, wa = y0, y0, False, x_top, w_top, wbase
            else:  # input row kh is kernel row kh-1 of row i+1
                ya, yb, both, xt, wt, wa = y1, y1, False, x_bot, w_bot, wbase - ws[2]
            _run_taps(ya, yb, both, x, xo, w, wa, w_shift, xt, wt, sw)


# The same loops compiled twice: parallel, and serial for a child process
# forked after a parallel call (numba's OpenMP and workqueue layers do not
# survive fork(): the child is killed or hangs). The serial one is compiled
# only when such a child first calls (cache=True: later ones load it).
# (The serial copy gets a name of its own: numba's disk cache is keyed on
# the function's qualified name, so one name would mix the two.)
_correlate = njit(parallel=True, cache=True, nogil=True, fastmath=_FASTMATH)(_correlate_tasks)
_correlate_serial = njit(parallel=False, cache=True, nogil=True, fastmath=_FASTMATH)(
    types.FunctionType(_correlate_tasks.__code__.replace(co_name="_correlate_serial",
                                                         co_qualname="_correlate_serial"),
                       _correlate_tasks.__globals__, "_correlate_serial"))


def task_count(shape, stride, dilation, groups):
    """Length of ``_correlate``'s task index for these arguments (it must
    agree with the pairing rule there)."""
    n_img, n_out, ho, wo, cg, kh, kw = shape
    o_per_group = n_out // groups
    chan_pairs = stride[1] == 1 and o_per_group >= 2
    row_pairs = stride[1] == 1 and stride[0] == dilation[0] and not chan_pairs
    o_items = -(-o_per_group // (2 if chan_pairs else 1))
    i_items = -(-ho // (2 if row_pairs else 1))
    return n_img * groups * o_items * i_items


# Multiply-adds per kernel launch: between launches the interpreter runs, so
# a pending Ctrl-C raises KeyboardInterrupt within a few milliseconds of work.
CHUNK_MACS = 1 << 28

_parallel_ran = False  # a parallel kernel ran in this process
_forked = False  # this is a child forked after one did


def _after_fork_in_child():
    global _forked
    _forked = _forked or _parallel_ran


os.register_at_fork(after_in_child=_after_fork_in_child)


def _flat(a, writeable):
    """A C-contiguous 1-D view spanning ``a``'s memory, and ``a``'s strides in
    elements. Valid because the registry guarantees non-negative, aligned
    strides (multiples of the itemsize) and a contiguous last axis."""
    it = a.itemsize
    strides = tuple(s // it for s in a.strides)
    if a.flags.c_contiguous:  # the common case, and 20x cheaper than as_strided
        flat = a.reshape(-1)
    else:
        span = 1 + sum((n - 1) * s for n, s in zip(a.shape, strides))
        flat = as_strided(a, shape=(span,), strides=(it,))
    # Inputs always read-only: numba types read-only arrays separately, so this
    # keeps one compiled signature per dtype (and the view can't write back).
    if not writeable:
        flat.flags.writeable = False
    return flat, strides


def _use_threads():
    """Obey fastconv's thread setting (numba's is per calling thread, and cheap).
    This also starts numba's threading layer if nothing has yet."""
    n = max(1, min(get_threads(), numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)


_serial = threading.Lock()
_guard = None


def _call_guard():
    """numba's fallback threading layer, workqueue, is not thread-safe: two
    Python threads running parallel kernels at once abort the process. On it,
    calls take turns; tbb and omp run them concurrently."""
    global _guard
    if _guard is None:
        try:
            layer = numba.threading_layer()
        except ValueError:  # not started yet (cannot happen after _use_threads)
            return _serial
        _guard = _serial if layer == "workqueue" else contextlib.nullcontext()
    return _guard


def correlate(xp, w, out, stride, dilation, groups):
    global _parallel_ran
    x1, xs = _flat(xp, False)
    w1, ws = _flat(w, False)
    y1, ys = _flat(out, True)
    # plain ints throughout, so numba never compiles a second signature for,
    # say, numpy.int32 strides
    shape = tuple(int(v) for v in out.shape + w.shape[1:])
    stride = (int(stride[0]), int(stride[1]))
    dilation = (int(dilation[0]), int(dilation[1]))
    groups = int(groups)
    tasks = task_count(shape, stride, dilation, groups)
    macs_per_task = max(1, math.prod(shape) // max(1, tasks))
    per_chunk = max(1, CHUNK_MACS // macs_per_task)
    if _forked:
        kernel, guard = _correlate_serial, contextlib.nullcontext()
    else:
        _use_threads()
        kernel, guard = _correlate, _call_guard()
        _parallel_ran = True
    with guard:
        for t0 in range(0, tasks, per_chunk):
            kernel(x1, xs, w1, ws, y1, ys, shape, stride, dilation, groups, t0, min(tasks, t0 + per_chunk))


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


def ready(dtype, disk=True):
    """Kernels for ``dtype`` (a dtype name) compiled in this process or, with
    ``disk``, present in numba's disk cache (loading those is not a
    compile). Unknown -> not ready. The disk check reads numba's cache index
    through an internal attribute, guarded: a numba that moves it makes
    this answer False (auto then skips numba until ``warm()``), never an
    error."""
    if any(str(sig[0].dtype) == dtype for sig in _correlate.signatures):
        return True
    if not disk:
        return False
    try:
        index = _correlate._cache._cache_file._load_index()  # {} when stale
        return any(str(k[0][0].dtype) == dtype for k in index)
    except Exception:
        return False


def _cache_dir():
    """Where numba reads/writes this kernel's cache, in numba's locator order:
    NUMBA_CACHE_DIR if set, else __pycache__ next to this file if writable,
    else the user-wide cache (~/.cache/numba on Linux). A numba internal,
    hence the getattr guard."""
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
