"""The per-thread scratch buffers (fastconv._scratch) never leak into results."""
import threading

import numpy as np

import fastconv
from fastconv import _scratch, kernels


def test_a_buffer_given_back_is_reused_and_a_nested_take_is_fresh():
    a = _scratch.take("test", (4, 5), np.float32)
    b = _scratch.take("test", (4, 5), np.float32)  # a is out: b must not share it
    assert not np.shares_memory(a, b)
    _scratch.give_back("test", a)
    c = _scratch.take("test", (2, 3), np.float64)
    assert np.shares_memory(a, c) and c.shape == (2, 3) and c.dtype == np.float64 and c.flags.c_contiguous


def test_arrays_over_the_workspace_cap_are_not_kept():
    fastconv.set_workspace_limit(1024)
    try:
        a = _scratch.take("test-big", (1024,), np.float32)
        _scratch.give_back("test-big", a)
        assert not np.shares_memory(a, _scratch.take("test-big", (1024,), np.float32))
    finally:
        fastconv.set_workspace_limit(None)


def test_threads_have_their_own_buffers():
    a = _scratch.take("test-thread", (8,), np.float64)
    _scratch.give_back("test-thread", a)
    seen = []
    worker = threading.Thread(target=lambda: seen.append(_scratch.take("test-thread", (8,), np.float64)))
    worker.start()
    worker.join()
    assert not np.shares_memory(a, seen[0])


def test_results_of_consecutive_calls_are_independent():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (40, 30, 3), dtype=np.uint8) for _ in range(3)]
    K = kernels.gaussian(1.0, 5)
    for dtype, mode in ((np.uint8, "reflect"), (np.float32, "reflect"), (np.uint8, "constant"), (None, "edge")):
        results = [fastconv.corr2d(f, K, padding="same", mode=mode, axes=(0, 1), dtype=dtype) for f in frames]
        for f, got in zip(frames, results):
            want = fastconv.corr2d(f, K, padding="same", mode=mode, axes=(0, 1), dtype=dtype)
            np.testing.assert_array_equal(got, want)
            assert not np.shares_memory(got, want)
