"""One bounded cache of read-only arrays, shared by the backends that
transform a kernel before using it (fft's spectra, direct's packed weights,
winograd's transformed kernels): filtering many images with one kernel (video
frames, a layer at inference, a benchmark loop) transforms it once.

:meth:`ArrayCache.cached` keys a transform on the kernel's content, never
on the array's identity alone (weights are updated in place between
training steps). Small kernels are keyed on their full bytes; a large one
(from ``SAMPLED_KEY_BYTES``) on a sample of its values, the hit confirmed
by comparing it with a copy kept beside the entry: copying, hashing and
comparing a 512x512x3x3 layer's bytes as a key took 3.0 ms a call, the
sample and the comparison 0.5 ms.

The cache is bounded by a running byte total (summing the entries on every
insert cost O(entries), 3.9 ms a call after 20,000 kernels), evicts the
least recently used entry first, and is safe to use from several threads.
"""
import threading
from collections import OrderedDict

import numpy as np

SAMPLED_KEY_BYTES = 64 << 10
_SAMPLES = 256  # values in a large kernel's key


def _words(a):
    """The bytes of C-contiguous ``a`` as the widest unsigned integers that
    tile them (a bytewise comparison: NaNs equal, -0.0 and 0.0 differ)."""
    raw = a.reshape(-1).view(np.uint8)
    for dtype in (np.uint64, np.uint32, np.uint16):
        if raw.size % np.dtype(dtype).itemsize == 0:
            return raw.view(dtype)
    return raw


def _size(entry):
    array, guard = entry
    return array.nbytes + (0 if guard is None else guard.nbytes)


class ArrayCache:
    """LRU of read-only arrays holding at most ``max_bytes``; an array larger
    than ``max_bytes * entry_fraction`` is never kept."""

    def __init__(self, max_bytes, entry_fraction=0.25):
        self.max_bytes = max_bytes
        self.entry_fraction = entry_fraction
        self._entries = OrderedDict()  # key -> (array, copy of the kernel that confirms a hit, or None)
        self._bytes = 0
        self._lock = threading.Lock()

    def admits(self, nbytes):
        """Could an array of ``nbytes`` be kept?"""
        return nbytes <= self.max_bytes * self.entry_fraction

    def cached(self, kernel, params, build):
        """``build()``, the read-only array a backend makes from ``kernel``
        under ``params`` (hashable: groups, transform sizes...), from the
        cache when an equal kernel (same shape, dtype and bytes) was built
        with equal ``params``; ``kernel`` is never modified or kept."""
        if not self.admits(kernel.nbytes):
            return build()
        kernel = np.ascontiguousarray(kernel)
        meta = (kernel.shape, kernel.dtype.str, params)
        if kernel.nbytes < SAMPLED_KEY_BYTES:
            key = meta + (kernel.tobytes(),)
            hit = self.get(key)
            return hit if hit is not None else self.put(key, build())
        words = _words(kernel)
        key = meta + (words[:: max(1, words.size // _SAMPLES)].tobytes(),)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is not None and np.array_equal(entry[1], words):
            return entry[0]
        return self._keep(key, build(), words.copy(), replace=True)

    def get(self, key):
        """The array cached under ``key`` (now the most recent), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key, array):
        """Make ``array`` read-only, keep it (if small enough) and return it;
        if another thread cached ``key`` meanwhile, that array is returned."""
        return self._keep(key, array, None, replace=False)

    def _keep(self, key, array, guard, replace):
        array.flags.writeable = False
        if not self.admits(array.nbytes):  # the array alone; the running total counts the copy too
            return array
        size = _size((array, guard))
        with self._lock:
            old = self._entries.get(key)
            if old is not None:
                if not replace:
                    return old[0]
                self._bytes -= _size(old)  # a kernel that shares the old one's sample
            self._entries[key] = (array, guard)
            self._entries.move_to_end(key)
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                self._bytes -= _size(self._entries.popitem(last=False)[1])
        return array

    def clear(self):
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def nbytes(self):
        """Bytes held now (the running total: the arrays and the copies of
        large kernels that confirm their hits)."""
        return self._bytes

    def __len__(self):
        return len(self._entries)

    def values(self):
        """The cached arrays."""
        with self._lock:
            return [array for array, _ in self._entries.values()]
