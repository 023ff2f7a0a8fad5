"""BLAS thread control and fastconv's matrix products.

:func:`matmul` is how fastconv multiplies matrices: ``np.matmul`` split
over fastconv's own threads (``fastconv.get_threads()``), BLAS on one thread
in each. Not on BLAS's threads, because OpenBLAS's workers spin for about
0.1 s after every threaded call (2^28 cycles, its THREAD_TIMEOUT) and
fastconv's OpenMP kernels running in that time share the cores with them:
a direct-backend layer called right after a 2-thread sgemm measured 2-4x
slower than alone, and at its solo speed when OpenBLAS was started with
OPENBLAS_THREAD_TIMEOUT=4 (2-core EPYC). BLAS's workers are never woken
by fastconv. Under other load, OpenBLAS's spinning barriers also lose more
than the split does.

For any other code that calls BLAS (np.dot, ...), :class:`threads` limits
it; the limit is lowered only::

    with _blas.threads(1):
        np.dot(a, b, out=c)

One ``threadpoolctl.ThreadpoolController`` is created lazily (it scans the
loaded libraries, which costs milliseconds) and reused. Per call we only
read the BLAS libraries' current thread count (a C call, about a
microsecond) and lower it to fastconv's count only when it is higher: a
caller's limit (``threadpool_limits(1, user_api="blas")``, or
OPENBLAS_NUM_THREADS=1 as dask's nanny sets in each worker) is never raised.
It is restored when the outermost concurrent fastconv call leaves, so the
caller's BLAS setting survives. Without threadpoolctl this is a no-op and :func:`describe` says
BLAS threads are not controlled.

:func:`map_serial_blas` runs many small GEMMs on fastconv's threads, one
BLAS thread each: OpenBLAS's own team on a 64 x 64 x 3248 sgemm hands
both cores over at every call, and beside another busy process measured
0.4 GFLOP/s on 2 threads against 62 GFLOP/s on 1 (2-core EPYC, load 2).
"""
import threading

import numpy as np

from . import _workers
from .settings import SERIAL_MACS, get_threads

_lock = threading.Lock()
_libs = None  # list of threadpoolctl lib controllers for BLAS, once scanned
_error = None  # why BLAS threads cannot be controlled, if they cannot
_active = 0  # fastconv calls currently inside threads()
_saved = []  # (lib, thread count before we changed it)


def _blas_libs():
    """The BLAS lib controllers, scanned once (empty list when unavailable)."""
    global _libs, _error
    if _libs is None:
        with _lock:
            if _libs is None:
                try:
                    from threadpoolctl import ThreadpoolController
                except ImportError:
                    _error = "threadpoolctl is not installed"
                    _libs = []
                else:
                    controller = ThreadpoolController()
                    _libs = [lib for lib in controller.lib_controllers if lib.user_api == "blas"]
                    if not _libs:
                        _error = "threadpoolctl found no BLAS library it can control"
    return _libs


def _enter(n):
    global _active
    with _lock:
        for lib in _libs:
            current = lib.num_threads
            if current > n:  # lower only: never raise a caller's limit
                # Remember only the value found by the outermost call.
                if _active == 0:
                    _saved.append((lib, current))
                lib.set_num_threads(n)
        _active += 1


def _exit():
    global _active
    with _lock:
        _active -= 1
        if _active == 0:
            # Refcounted so that one thread never restores the count while
            # another fastconv call is still inside BLAS.
            while _saved:
                lib, count = _saved.pop()
                lib.set_num_threads(count)


class threads:
    """Context manager: run the block with BLAS limited to at most ``n``
    threads (default ``fastconv.get_threads()``; fewer if BLAS has fewer). A class, not a generator: this
    runs on every backend call, and it is about half the overhead."""

    __slots__ = ("_n", "_on")

    def __init__(self, n=None):
        self._n = n
        self._on = False

    def __enter__(self):
        if _blas_libs():
            _enter(get_threads() if self._n is None else self._n)
            self._on = True
        return self

    def __exit__(self, *exc):
        if self._on:
            self._on = False
            _exit()


def current_threads():
    """BLAS thread count per library as {internal_api: n} ({} if unknown)."""
    return {lib.internal_api: lib.num_threads for lib in _blas_libs()}


def describe():
    """One line for show_config(): which BLAS and whether fastconv controls its threads."""
    libs = _blas_libs()
    if not libs:
        return f"BLAS threads not controlled ({_error})"
    names = ", ".join(f"{lib.internal_api} {lib.version}" for lib in libs)
    return f"{names}; threads controlled via threadpoolctl"


def map_serial_blas(fn, items, n=None):
    """``[fn(item) for item in items]``, the items spread over ``n`` threads
    (default ``fastconv.get_threads()``; ``fastconv._workers``) with BLAS on
    one thread in each; in the calling thread when ``n`` or the item count
    is 1 (BLAS on one thread for ``n=1``, else on up to ``get_threads()``).
    ``fn`` must release the GIL in its work (numpy's matmul does)."""
    items = list(items)
    blas = 1 if n == 1 else None  # one item alone may use BLAS's threads; n=1 asked for: serial BLAS too
    n = min(get_threads() if n is None else n, len(items))
    if n <= 1:
        with threads(blas):
            return [fn(item) for item in items]
    results = [None] * len(items)

    def one(i):
        results[i] = fn(items[i])

    with threads(1):
        _workers.run(one, range(len(items)), n)
    return results


# Pieces of a split product keep whole cache lines of columns.
_COLUMN_ALIGN = 16


def matmul(a, b, out):
    """``np.matmul(a, b, out=out)`` on fastconv's threads, BLAS on one
    thread in each (see the module docstring): split along out's first axis
    when it is a batch of at least as many matrices as threads, else along
    the longer of out's rows and columns; products below
    ``settings.SERIAL_MACS`` multiply-adds run on the calling thread."""
    if a.shape[-1] != b.shape[-2] or out.shape[-2:] != (a.shape[-2], b.shape[-1]):
        raise ValueError(f"matmul: shapes {a.shape} @ {b.shape} do not give out's {out.shape}")
    n = get_threads()
    with threads(1):
        parts = _split(a, b, out, n) if n > 1 and out.size * a.shape[-1] >= SERIAL_MACS else None
        if parts is None:
            np.matmul(a, b, out=out)
        else:
            _workers.run(_multiply, parts, n)


def _multiply(part):
    a, b, out = part
    np.matmul(a, b, out=out)


def _bounds(length, pieces, align):
    """``pieces`` (start, stop) ranges covering [0, length), starts multiples of ``align``."""
    step = -(-length // (pieces * align)) * align
    return [(i, min(length, i + step)) for i in range(0, length, step)]


def _split(a, b, out, pieces):
    """(a, b, out) views whose products fill ``out``, or None."""
    if out.ndim >= 3 and out.shape[0] >= pieces:
        def take(arr, lo, hi):  # an operand broadcast along the batch axis stays whole
            return arr[lo:hi] if arr.ndim == out.ndim and arr.shape[0] == out.shape[0] else arr
        return [(take(a, lo, hi), take(b, lo, hi), out[lo:hi]) for lo, hi in _bounds(out.shape[0], pieces, 1)]
    rows, cols = out.shape[-2:]
    if cols >= rows and cols >= 2 * _COLUMN_ALIGN:
        return [(a, b[..., lo:hi], out[..., lo:hi]) for lo, hi in _bounds(cols, pieces, _COLUMN_ALIGN)]
    if rows >= 2:
        return [(a[..., lo:hi, :], b, out[..., lo:hi, :]) for lo, hi in _bounds(rows, pieces, 1)]
    return None
