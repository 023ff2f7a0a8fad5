"""One bounded cache of read-only arrays, shared by the backends that
transform a kernel before using it (fft's spectra, direct's packed weights,
winograd's transformed kernels): filtering many images with one kernel (video
frames, a layer at inference, a benchmark loop) transforms it once.

Keys hold the kernel's full bytes (no hash collisions). The cache is bounded
by a running byte total (summing the entries on every insert cost O(entries),
3.9 ms a call after 20,000 kernels), evicts the least recently used entry
first, and is safe to use from several threads.
"""
import threading
from collections import OrderedDict


class ArrayCache:
    """LRU of read-only arrays holding at most ``max_bytes``; an array larger
    than ``max_bytes * entry_fraction`` is never kept."""

    def __init__(self, max_bytes, entry_fraction=0.25):
        self.max_bytes = max_bytes
        self.entry_fraction = entry_fraction
        self._entries = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def admits(self, nbytes):
        """Could an array of ``nbytes`` be kept? (Ask before building a key
        from a large kernel's bytes.)"""
        return nbytes <= self.max_bytes * self.entry_fraction

    def get(self, key):
        """The array cached under ``key`` (now the most recent), or None."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
            return hit

    def put(self, key, array):
        """Make ``array`` read-only, keep it (if small enough) and return it;
        if another thread cached ``key`` meanwhile, that array is returned."""
        array.flags.writeable = False
        if not self.admits(array.nbytes):
            return array
        with self._lock:
            old = self._entries.get(key)
            if old is not None:
                return old
            self._entries[key] = array
            self._bytes += array.nbytes
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                self._bytes -= self._entries.popitem(last=False)[1].nbytes
        return array

    def clear(self):
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def nbytes(self):
        """Bytes held now (the running total)."""
        return self._bytes

    def __len__(self):
        return len(self._entries)

    def values(self):
        with self._lock:
            return list(self._entries.values())
