"""Output arrays of tile tasks, recycled once nothing refers to them.

dask's nanny starts every worker with ``MALLOC_TRIM_THRESHOLD_=65536``, so
the C allocator hands a freed chunk-sized block straight back to the
operating system, and the next task's output faults in every page again.
On the machine measured that costs about as much as a 3x3 correlation of
the chunk itself: a fresh 2048x2048 float32 array written once took
3.0-3.4 ms in a worker against 0.6 ms in a plain process, beside 3.1 ms of
filtering.

:func:`empty` keeps up to :data:`KEEP` arrays per (shape, dtype) and hands
one out again only when this module holds the sole references to it (the
consumer, and every view of it, is gone), its pages still resident; else it
allocates a fresh array as ``np.empty`` would, and keeps it if there is
room. So a worker retains at most ``KEEP`` output chunks per chunk shape
beyond those dask holds, for at most :data:`SHAPES` shapes.
"""
import sys
import threading
from collections import OrderedDict

import numpy as np

KEEP = 2  # arrays kept per (shape, dtype): the outputs of tasks a worker runs back to back
SHAPES = 4  # (shape, dtype) keys kept, the least recently used dropped first
MIN_BYTES = 1 << 20  # smaller arrays cost little to allocate: plain numpy

_kept = OrderedDict()  # (shape, dtype) -> [array, ...]
_lock = threading.Lock()


def _unused(arrays, i):
    """Does nothing but ``arrays`` refer to ``arrays[i]``?"""
    return sys.getrefcount(arrays[i]) <= _UNUSED


# _unused's count for an array only its list refers to (the list's reference
# and getrefcount's argument), measured rather than assumed.
_probe = [np.empty(0)]
_UNUSED = sys.getrefcount(_probe[0])
del _probe


def empty(shape, dtype):
    """An uninitialised C-contiguous array of ``shape`` and ``dtype``, as
    ``np.empty``: a kept one that nothing refers to any more, or a new one."""
    dtype = np.dtype(dtype)
    shape = tuple(int(n) for n in shape)
    if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize < MIN_BYTES:
        return np.empty(shape, dtype)
    key = (shape, dtype.str)
    with _lock:
        arrays = _kept.setdefault(key, [])
        _kept.move_to_end(key)
        for i in range(len(arrays)):
            if _unused(arrays, i):
                return arrays[i]
        out = np.empty(shape, dtype)
        if len(arrays) < KEEP:
            arrays.append(out)
        while len(_kept) > SHAPES:
            _kept.popitem(last=False)
        return out
