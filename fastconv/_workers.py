"""fastconv's own worker threads, for work that runs outside OpenMP: BLAS
calls (see ``_blas.matmul``) and the Winograd backend's chunks.

:func:`run` calls a function on every item of a list with ``threads``
threads: the calling thread and ``threads - 1`` pool workers each take the
next item until none is left (so uneven items balance themselves). The
functions it runs release the GIL (numpy.matmul on BLAS, compiled kernels),
so the threads run in parallel. The pools are kept for later calls and
dropped in a child process after ``fork()`` (their threads do not survive
it; new ones are started on demand). A call made from inside a worker runs
serially on that worker: nested pools could otherwise wait on each other;
and while a thread runs items, ``fastconv.get_threads()`` is 1 there, so a
kernel it calls does not start an OpenMP team of its own.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from .settings import run_serially

_pools = {}  # workers -> ThreadPoolExecutor
_pool_lock = threading.Lock()
_local = threading.local()  # .inside: this thread is running run()'s items


def _after_fork_in_child():
    _pools.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _pool(workers):
    with _pool_lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="fastconv-worker")
        return pool


def run(fn, items, threads):
    """``fn(item)`` for every item of the sequence ``items``, on up to
    ``threads`` threads (the caller's included). Returns when all are done;
    the first exception raised by ``fn`` is re-raised (items not started by
    then are skipped)."""
    n = min(threads, len(items))
    if n <= 1 or getattr(_local, "inside", False):
        for item in items:
            fn(item)
        return
    lock = threading.Lock()
    pending = iter(items)
    failed = []

    def drain():
        _local.inside = True
        run_serially(True)  # the kernels an item calls take one thread: this split is the parallelism
        try:
            while not failed:
                with lock:
                    item = next(pending, _DONE)
                if item is _DONE:
                    return
                try:
                    fn(item)
                except BaseException as exc:  # stop the others, re-raised below
                    failed.append(exc)
        finally:
            _local.inside = False
            run_serially(False)

    futures = [_pool(n - 1).submit(drain) for _ in range(n - 1)]
    drain()
    for future in futures:
        future.result()
    if failed:
        raise failed[0]


_DONE = object()
