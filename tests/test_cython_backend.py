"""What is specific to the cython backend: every code path of its row kernel
(vector blocks, shifted row-end vector, stride-2 shuffles, scalar path for
other strides and short rows) in every instruction-set variant this CPU
runs, its memory layouts, describe(), thread-count independence, the
released GIL, and the extension's own argument checks (it imports nothing
from fastconv: threads and the serial threshold are arguments). The
cross-backend hypothesis suite lives elsewhere."""
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _oracle_cases import backend_module

import fastconv
from fastconv.backends import naive

TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}
DTYPES = [np.float32, np.float64]


@pytest.fixture(scope="module")
def cy():
    return backend_module("cython")


# 3: AVX-512, 2: AVX2+FMA, 1: SSE2 (each capped at what this CPU runs).
@pytest.fixture(params=[3, 2, 1], ids=["isa<=avx512", "isa<=avx2", "isa<=sse2"])
def cy_isa(cy, request):
    from fastconv.backends import _cython

    _cython._limit_simd(request.param)
    yield cy
    _cython._limit_simd(3)


def _out_shape(xp, w, stride, dilation):
    kh, kw = w.shape[2:]
    ho = (xp.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (xp.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    return (xp.shape[0], w.shape[0], ho, wo)


def _check(cy, xp, w, stride=(1, 1), dilation=(1, 1), groups=1, out=None):
    shape = _out_shape(xp, w, stride, dilation)
    expected = np.empty(shape, xp.dtype)
    naive.correlate(xp, w, expected, stride, dilation, groups)
    if out is None:
        out = np.full(shape, np.nan, xp.dtype)  # must be overwritten everywhere
    cy.correlate(xp, w, out, stride, dilation, groups)
    np.testing.assert_allclose(out, expected, **TOL[xp.dtype.type])
    return out


# Output widths around every block boundary of both dtypes (4 to 16 lanes per
# vector, 4 vectors per wide block), at strides 1 and 2 (vector paths) and 3
# (scalar path).
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("wo", [1, 7, 8, 9, 15, 16, 17, 31, 33, 47, 48, 63, 64, 65, 100, 129])
@pytest.mark.parametrize("sw", [1, 2, 3])
def test_row_widths(cy_isa, dtype, wo, sw):
    rng = np.random.default_rng(wo * 10 + sw)
    kw = 3
    xp = rng.standard_normal((1, 2, 6, (wo - 1) * sw + kw)).astype(dtype)
    w = rng.standard_normal((3, 2, 3, kw)).astype(dtype)
    _check(cy_isa, xp, w, stride=(1, sw))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(20))
def test_random_layers(cy_isa, dtype, seed):
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 2, 3]))
    cin, cout = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 3))
    kh, kw = (int(v) for v in rng.integers(1, 6, 2))
    stride = tuple(int(v) for v in rng.integers(1, 4, 2))
    dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
    hp = dilation[0] * (kh - 1) + int(rng.integers(1, 20))
    wp = dilation[1] * (kw - 1) + int(rng.integers(1, 160))
    xp = rng.standard_normal((int(rng.integers(1, 3)), cin, hp, wp)).astype(dtype)
    w = rng.standard_normal((cout, cin // groups, kh, kw)).astype(dtype)
    _check(cy_isa, xp, w, stride, dilation, groups)


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_views_readonly_inputs_and_out(cy, dtype):
    rng = np.random.default_rng(1)
    big = rng.standard_normal((2, 5, 40, 90)).astype(dtype)
    xp = big[:, 1:4, 3:35, 2:80]  # outer axes strided, last axis contiguous
    xp.flags.writeable = False
    wbig = rng.standard_normal((4, 6, 3, 5)).astype(dtype)
    w = wbig[:, ::2]  # non-contiguous weights
    w.flags.writeable = False
    shape = _out_shape(xp, w, (1, 1), (1, 1))
    outbig = np.full((shape[0], shape[1] + 1, shape[2] + 2, shape[3] + 3), 7.0, dtype)
    out = outbig[:, 1:, 1:-1, :-3]
    before = xp.copy(), w.copy()
    _check(cy, xp, w, out=out)
    assert np.all(outbig[:, 0] == 7.0) and np.all(outbig[..., -3:] == 7.0)  # nothing written outside out
    np.testing.assert_array_equal(xp, before[0])
    np.testing.assert_array_equal(w, before[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nonfinite_propagates_like_oracle(cy_isa, dtype, value):
    rng = np.random.default_rng(2)
    xp = rng.standard_normal((1, 1, 12, 150)).astype(dtype)
    xp[0, 0, 5, 70] = value
    w = rng.standard_normal((1, 1, 3, 3)).astype(dtype)
    w[0, 0, 1, 1] = 0.0  # a zero tap over the bad value: 0 * inf is still NaN
    out = _check(cy_isa, xp, w)
    assert not np.isfinite(out[0, 0, 3:6, 68:71]).any()
    assert np.isfinite(out[0, 0, :3]).all()


def test_describe(cy):
    info = cy.describe()
    assert isinstance(info["openmp"], bool)
    assert isinstance(info["max_threads"], int) and info["max_threads"] >= 1
    assert isinstance(info["simd"], str) and info["simd"]
    if not info["openmp"]:
        assert info["max_threads"] == 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_does_not_change_bits(cy, dtype):
    # Each output row is summed by one thread in a fixed order.
    rng = np.random.default_rng(3)
    xp = rng.standard_normal((2, 3, 40, 70)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    results = []
    for n in (1, 2, 3):
        fastconv.set_threads(n)
        try:
            results.append(_check(cy, xp, w))
        finally:
            fastconv.set_threads(None)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


def test_concurrent_calls_from_8_threads(cy):
    rng = np.random.default_rng(4)
    cases = []
    for i in range(8):
        dtype = DTYPES[i % 2]
        xp = rng.standard_normal((1, 2, 50, 70 + i)).astype(dtype)
        w = rng.standard_normal((2, 2, 3, 3)).astype(dtype)
        expected = np.empty(_out_shape(xp, w, (1, 1), (1, 1)), dtype)
        naive.correlate(xp, w, expected, (1, 1), (1, 1), 1)
        cases.append((xp, w, expected))

    def run(i):
        xp, w, expected = cases[i % 8]
        out = np.empty_like(expected)
        cy.correlate(xp, w, out, (1, 1), (1, 1), 1)
        return np.allclose(out, expected, **TOL[xp.dtype.type])

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(run, range(64)))


def test_gil_released_during_compute(cy):
    # A pure-Python thread keeps counting while a long correlate runs.
    xp = np.ones((1, 16, 200, 400))
    w = np.ones((16, 16, 5, 5))
    out = np.empty(_out_shape(xp, w, (1, 1), (1, 1)))
    ticks = []
    started, done = threading.Event(), threading.Event()

    def counter():
        started.set()
        while not done.is_set():
            ticks.append(time.perf_counter())

    t = threading.Thread(target=counter)
    t.start()
    started.wait()
    fastconv.set_threads(1)
    try:
        t0 = time.perf_counter()
        cy.correlate(xp, w, out, (1, 1), (1, 1), 1)
        t1 = time.perf_counter()
    finally:
        fastconv.set_threads(None)
        done.set()
        t.join()
    assert np.all(out == 16 * 25)
    during = [x for x in ticks if t0 + 0.25 * (t1 - t0) < x < t0 + 0.75 * (t1 - t0)]
    assert during, "no Python thread ran during the kernel: the GIL was held"


def _direct_case(dtype=np.float64):
    # groups=2: xp has 2 * 2 channels, w 6 output channels of 2 each.
    rng = np.random.default_rng(5)
    xp = rng.standard_normal((2, 4, 10, 12)).astype(dtype)
    w = rng.standard_normal((6, 2, 3, 3)).astype(dtype)
    return xp, w


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads_and_serial_below_are_arguments(cy, dtype, threads):
    # serial_below=0 forces the thread team even on a small problem; the bits
    # do not depend on it (each row is summed by one thread in a fixed order).
    from fastconv.backends import _cython

    xp, w = _direct_case(dtype)
    expected = np.empty((2, 6, 8, 10), dtype)
    naive.correlate(xp, w, expected, (1, 1), (1, 1), 2)
    results = []
    for serial_below in (0, 1 << 62):
        out = np.full(expected.shape, np.nan, dtype)
        _cython.correlate(xp, w, out, (1, 1), (1, 1), 2, threads, serial_below)
        np.testing.assert_allclose(out, expected, **TOL[dtype])
        results.append(out)
    np.testing.assert_array_equal(results[0], results[1])


def test_cython_backend_passes_threads_and_serial_threshold(cy, monkeypatch):
    """The backend hands the extension fastconv's thread setting and the
    serial threshold the cost model also uses (settings.SERIAL_MACS)."""
    seen = []
    monkeypatch.setattr(cy, "_cython", type("Stub", (), {"correlate": staticmethod(lambda *a, **k: seen.append(a[-2:]))}))
    monkeypatch.setattr(fastconv.settings, "SERIAL_MACS", 12345)
    fastconv.set_threads(3)
    try:
        cy.correlate(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), np.empty((1, 1, 3, 3)), (1, 1), (1, 1), 1)
    finally:
        fastconv.set_threads(None)
    assert seen == [(3, 12345)]


# Inconsistent calls of the extension itself: (out shape, stride, dilation,
# groups, threads) against xp (2, 4, 10, 12) and w (6, 2, 3, 3), whose
# consistent call is ((2, 6, 8, 10), (1, 1), (1, 1), 2, 1).
BAD_CALLS = {
    "images": ((1, 6, 8, 10), (1, 1), (1, 1), 2, 1),
    "out-channels": ((2, 4, 8, 10), (1, 1), (1, 1), 2, 1),
    "groups-0": ((2, 6, 8, 10), (1, 1), (1, 1), 0, 1),
    "groups-negative": ((2, 6, 8, 10), (1, 1), (1, 1), -2, 1),
    "groups-not-dividing": ((2, 6, 8, 10), (1, 1), (1, 1), 4, 1),
    "in-channels": ((2, 6, 8, 10), (1, 1), (1, 1), 3, 1),
    "in-channels-groups-1": ((2, 6, 8, 10), (1, 1), (1, 1), 1, 1),
    "height": ((2, 6, 9, 10), (1, 1), (1, 1), 2, 1),
    "width": ((2, 6, 8, 11), (1, 1), (1, 1), 2, 1),
    "height-by-stride": ((2, 6, 8, 10), (2, 1), (1, 1), 2, 1),
    "width-by-stride": ((2, 6, 8, 10), (1, 2), (1, 1), 2, 1),
    "height-by-dilation": ((2, 6, 8, 10), (1, 1), (2, 1), 2, 1),
    "width-by-dilation": ((2, 6, 8, 10), (1, 1), (1, 3), 2, 1),
    "stride-0": ((2, 6, 8, 10), (0, 1), (1, 1), 2, 1),
    "stride-negative": ((2, 6, 8, 10), (1, -1), (1, 1), 2, 1),
    "dilation-0": ((2, 6, 8, 10), (1, 1), (1, 0), 2, 1),
    "threads-0": ((2, 6, 8, 10), (1, 1), (1, 1), 2, 0),
    "threads-negative": ((2, 6, 8, 10), (1, 1), (1, 1), 2, -3),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_inconsistent_arguments_raise(cy, dtype, case):
    from fastconv.backends import _cython

    xp, w = _direct_case(dtype)
    shape, stride, dilation, groups, threads = BAD_CALLS[case]
    out = np.full(shape, 7.0, dtype)
    with pytest.raises(ValueError):
        _cython.correlate(xp, w, out, stride, dilation, groups, threads, 0)
    assert np.all(out == 7.0)  # checked before anything is written
    # ... and the module still works.
    good = np.empty((2, 6, 8, 10), dtype)
    _cython.correlate(xp, w, good, (1, 1), (1, 1), 2, 2, 0)
    expected = np.empty_like(good)
    naive.correlate(xp, w, expected, (1, 1), (1, 1), 2)
    np.testing.assert_allclose(good, expected, **TOL[dtype])


def test_extension_imports_nothing_from_fastconv(cy):
    # Load the compiled module by its file in a fresh interpreter: it must
    # initialise, compute, and leave no fastconv module but itself imported.
    from fastconv.backends import _cython

    code = f"""
import importlib.util, sys
import numpy as np
spec = importlib.util.spec_from_file_location("_cython", {_cython.__file__!r})
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
out = np.empty((1, 1, 2, 2))
m.correlate(np.arange(9.0).reshape(1, 1, 3, 3), np.ones((1, 1, 2, 2)), out, (1, 1), (1, 1), 1, 1, 1 << 20)
assert out.ravel().tolist() == [8.0, 12.0, 20.0, 24.0], out
others = sorted(k for k in sys.modules if k.split(".")[0] == "fastconv" and k != "fastconv.backends._cython")
assert not others, others
print("ok")
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
