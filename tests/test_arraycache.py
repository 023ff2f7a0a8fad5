"""The shared bounded cache of read-only arrays (fft, direct, winograd)."""
import threading

import numpy as np
import pytest

from fastconv._arraycache import SAMPLED_KEY_BYTES, ArrayCache


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


def _counting_build(calls, value):
    def build():
        calls.append(1)
        return np.full(3, value)
    return build


@pytest.mark.parametrize("shape", [(4, 3, 3, 3), (64, 64, 3, 3), (3, 5, 7, 11)])  # full-bytes and sampled keys
def test_cached_is_keyed_on_content_never_on_identity(shape):
    cache = ArrayCache(1 << 26)
    rng = np.random.default_rng(0)
    w = rng.standard_normal(shape).astype(np.float32)
    before = w.copy()
    calls = []
    first = cache.cached(w, ("p",), _counting_build(calls, 1.0))
    assert cache.cached(w, ("p",), _counting_build(calls, 2.0)) is first  # same array
    assert cache.cached(w.copy(), ("p",), _counting_build(calls, 2.0)) is first  # equal content, other array
    assert cache.cached(np.asfortranarray(w), ("p",), _counting_build(calls, 2.0)) is first  # other layout
    assert len(calls) == 1 and not first.flags.writeable
    np.testing.assert_array_equal(w, before)  # the kernel is never modified
    assert cache.cached(w, ("q",), _counting_build(calls, 3.0))[0] == 3.0  # other params: built again
    assert cache.cached(w.astype(np.float64), ("p",), _counting_build(calls, 4.0))[0] == 4.0  # other dtype
    # in place, one element that a sampled key does not read (the third: the
    # sample takes every n-th 8-byte word from the first): the copy kept
    # beside the entry catches it, and the change undone is caught again
    w.reshape(-1)[2] += 1.0
    assert cache.cached(w, ("p",), _counting_build(calls, 5.0))[0] == 5.0
    w.reshape(-1)[2] -= 1.0
    assert cache.cached(w, ("p",), _counting_build(calls, 6.0))[0] == 6.0
    assert len(calls) == 5
    kept = [guard.nbytes for _, guard in cache._entries.values() if guard is not None]
    assert len(kept) == (3 if w.nbytes >= SAMPLED_KEY_BYTES else 0)  # the sampled entry was replaced
    assert cache.nbytes == sum(a.nbytes for a in cache.values()) + sum(kept)


def test_cached_compares_bytes_not_values():
    cache = ArrayCache(1 << 26)
    big = np.zeros((64, 64, 3, 3))  # a sampled key
    calls = []
    cache.cached(big, (), _counting_build(calls, 1.0))
    signed = big.copy()
    signed.reshape(-1)[7] = -0.0  # equal as a value, not as bytes
    assert cache.cached(signed, (), _counting_build(calls, 2.0))[0] == 2.0 and len(calls) == 2
    nan = np.full((64, 64, 3, 3), np.nan)
    first = cache.cached(nan, (), _counting_build(calls, 3.0))
    assert cache.cached(nan.copy(), (), _counting_build(calls, 4.0)) is first  # NaN == NaN bytewise


def test_cached_stays_bounded_with_the_kept_copies():
    big = np.zeros((64, 64, 3, 3), dtype=np.float32)  # 144 KiB: sampled key, a copy is kept
    cache = ArrayCache(3 * 2 * big.nbytes, entry_fraction=0.5)
    rng = np.random.default_rng(1)
    for i in range(10):
        w = rng.standard_normal(big.shape).astype(np.float32)
        cache.cached(w, (), lambda: w * 2)
        assert cache.nbytes == 2 * big.nbytes * len(cache) <= cache.max_bytes
    assert len(cache) == 3
    huge = np.zeros((4 * 64, 64, 3, 3), dtype=np.float32)  # above the entry limit: built, not kept
    got = cache.cached(huge, (), lambda: huge + 1)
    assert got[0, 0, 0, 0] == 1.0 and len(cache) == 3
