"""``fastconv._blas.map_serial_blas``: results in item order, BLAS on one
thread inside the pool and the caller's BLAS count back afterwards,
concurrent callers, and a child forked after a pooled call."""
import multiprocessing
import threading

import numpy as np
import pytest

import fastconv
from fastconv import _blas


def _blas_count():
    counts = _blas.current_threads()
    return min(counts.values()) if counts else None


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_results_in_order_and_blas_restored(threads):
    before = _blas_count()
    seen = []

    def work(i):
        seen.append(_blas_count())
        return i * i, threading.get_ident()

    got = _blas.map_serial_blas(work, range(9), threads)
    assert [r[0] for r in got] == [i * i for i in range(9)]
    if threads > 1 and before is not None:
        assert set(seen) == {1}  # BLAS on one thread inside the pool
    assert _blas_count() == before


def test_concurrent_callers_get_their_own_results():
    a = np.random.default_rng(0).standard_normal((40, 40))
    out = {}

    def caller(k):
        out[k] = _blas.map_serial_blas(lambda i: float((a * (k + i)).sum()), range(6), 2)

    workers = [threading.Thread(target=caller, args=(k,)) for k in range(6)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    for k in range(6):
        assert out[k] == [float((a * (k + i)).sum()) for i in range(6)]


def _child(q):
    q.put(_blas.map_serial_blas(lambda i: i + 1, range(4), 2))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_pool_works_in_a_forked_child():
    _blas.map_serial_blas(lambda i: i, range(4), 2)  # the parent's pool exists
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    p.join(60)
    assert p.exitcode == 0 and q.get(timeout=5) == [1, 2, 3, 4]


def test_weight_gradient_agrees_at_every_thread_count():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 16, 14, 14))
    w = rng.standard_normal((16, 16, 3, 3))
    g = rng.standard_normal(fastconv.conv2d(x, w, padding=1).shape)
    results = []
    for n in (1, 2, 3):
        fastconv.set_threads(n)
        try:
            results.append(fastconv.conv2d_backward(x, w, g, padding=1, needs="weight").weight)
        finally:
            fastconv.set_threads(None)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(results[2], results[0], rtol=1e-13, atol=1e-13)
