"""The shared bounded cache of read-only arrays (fft, direct, winograd)."""
import threading

import numpy as np

from fastconv._arraycache import ArrayCache


def test_lru_bounded_by_a_running_byte_total():
    cache = ArrayCache(10 * 8 * 4, entry_fraction=0.5)  # room for ten 4-element float64 arrays
    for i in range(25):
        got = cache.put(i, np.full(4, float(i)))
        assert not got.flags.writeable
        assert cache.nbytes == sum(a.nbytes for a in cache.values()) <= cache.max_bytes
    assert len(cache) == 10 and cache.get(0) is None and cache.get(24)[0] == 24.0
    cache.get(15)  # now the most recent: survives the next eviction
    cache.put(99, np.zeros(4))
    assert cache.get(15) is not None and cache.get(16) is None


def test_too_large_arrays_are_returned_but_not_kept():
    cache = ArrayCache(1000, entry_fraction=0.25)
    big = np.zeros(40)  # 320 bytes > 250
    assert not cache.admits(big.nbytes)
    assert cache.put("big", big) is big and len(cache) == 0 and not big.flags.writeable


def test_first_array_wins_a_race_and_totals_stay_exact():
    cache = ArrayCache(1 << 20)
    results = []

    def worker(k):
        results.append(cache.put("key", np.full(8, float(k))))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(r) for r in results}) == 1 and len(cache) == 1 and cache.nbytes == 64
    cache.clear()
    assert cache.nbytes == 0 and len(cache) == 0
