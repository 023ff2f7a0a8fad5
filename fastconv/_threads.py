"""The one thread-count setting every backend obeys.

Default: ``FASTCONV_NUM_THREADS`` if set, else the number of CPUs this
process may run on; read once, on first use (every backend call asks, so
the answer must not cost a syscall), and read again after
``set_threads(None)``.
"""
import functools
import os

_threads = None


@functools.cache
def _default():
    env = os.environ.get("FASTCONV_NUM_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def get_threads():
    """Threads fastconv's kernels use (OpenMP, Numba and BLAS alike)."""
    return _threads if _threads is not None else _default()


def set_threads(n):
    """Set the thread count for every backend; ``None`` restores the default."""
    global _threads
    if n is None:
        _threads = None
        _default.cache_clear()
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive int or None, got {n!r}")
    _threads = n
