"""BLAS thread control: make BLAS obey ``fastconv.get_threads()``, without
ever raising the caller's BLAS limit.

Usage, around any code that calls BLAS (np.matmul, np.dot, ...)::

    with _blas.threads():
        np.matmul(a, b, out=c)

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
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from .settings import get_threads

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


_pools = {}  # thread count -> ThreadPoolExecutor, kept for later calls


def _drop_pools_in_child():
    _pools.clear()  # a pool's threads do not survive fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_pools_in_child)


def map_serial_blas(fn, items, n=None):
    """``[fn(item) for item in items]``, the items spread over ``n`` threads
    (default ``fastconv.get_threads()``) with BLAS on one thread in each;
    in the calling thread when ``n`` or the item count is 1 (BLAS on one
    thread for ``n=1``, else on up to ``get_threads()``). ``fn`` must release the GIL in its work (numpy's
    matmul does) and must not itself call this function."""
    items = list(items)
    blas = 1 if n == 1 else None  # one item alone may use BLAS's threads; n=1 asked for: serial BLAS too
    n = min(get_threads() if n is None else n, len(items))
    if n <= 1:
        with threads(blas):
            return [fn(item) for item in items]
    with _lock:
        pool = _pools.get(n)
        if pool is None:
            pool = _pools[n] = ThreadPoolExecutor(n, thread_name_prefix="fastconv-blas")
    with threads(1):
        return list(pool.map(fn, items))
