"""The numba backend against the oracle, plus what is specific to numba:
one compiled signature per dtype, read-only and strided views, threads,
the lazy import, warm() and describe(). The cross-backend hypothesis suite
lives elsewhere; these are fixed-seed cases that pin numba's own layout tricks."""
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("numba")

import fastconv  # noqa: E402
from fastconv.backends import naive  # noqa: E402
from fastconv.backends import numba_ as nb  # noqa: E402

TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}
DTYPES = [np.float32, np.float64]


def _oracle(xp, w, stride=(1, 1), dilation=(1, 1), groups=1):
    n, o = xp.shape[0], w.shape[0]
    kh, kw = w.shape[2:]
    ho = (xp.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (xp.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.empty((n, o, ho, wo), xp.dtype)
    naive.correlate(xp, w, out, stride, dilation, groups)
    return out


def _run(xp, w, stride=(1, 1), dilation=(1, 1), groups=1):
    expected = _oracle(xp, w, stride, dilation, groups)
    out = np.full_like(expected, np.nan)  # must be overwritten everywhere
    nb.correlate(xp, w, out, stride, dilation, groups)
    return out, expected


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(12))
def test_corr2d_matches_naive(seed, dtype):
    rng = np.random.default_rng(seed)
    h, wd = rng.integers(1, 24, size=2)
    kh, kw = rng.integers(1, 6, size=2)
    pad = tuple(int(p) for p in rng.integers(0, 3, size=2))
    stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
    # make sure the kernel fits the padded input
    h = max(h, dilation[0] * (kh - 1) + 1)
    wd = max(wd, dilation[1] * (kw - 1) + 1)
    X = rng.standard_normal((h, wd)).astype(dtype)
    K = rng.standard_normal((kh, kw)).astype(dtype)
    kwargs = dict(padding=pad, stride=stride, dilation=dilation)
    got = fastconv.corr2d(X, K, backend="numba", **kwargs)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, fastconv.corr2d(X, K, backend="naive", **kwargs), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "n, c, o, groups, k, stride, dilation",
    [
        (2, 3, 4, 1, (3, 3), (1, 1), (1, 1)),
        (1, 4, 6, 2, (3, 2), (2, 1), (1, 2)),
        (3, 6, 6, 6, (1, 5), (1, 3), (2, 1)),  # depthwise
        (1, 5, 2, 1, (4, 4), (3, 3), (1, 1)),  # 80 taps: many 4-tap groups
        (2, 2, 2, 2, (1, 1), (1, 1), (1, 1)),  # 1 tap
        (1, 3, 2, 1, (3, 4), (2, 1), (2, 1)),  # sh == dh == 2: paired rows, odd Ho
        (1, 2, 3, 1, (1, 3), (1, 1), (1, 1)),  # kh == 1: pairs share no kernel row
        (1, 1, 1, 1, (5, 1), (1, 1), (1, 1)),  # kw == 1
        (1, 2, 2, 1, (2, 2), (1, 2), (1, 3)),  # sw != 1: no pairing
        (2, 2, 5, 1, (3, 3), (1, 1), (1, 1)),  # out-channel pairs, one left over
        (1, 6, 6, 2, (2, 3), (2, 1), (1, 1)),  # channel pairs within each group
    ],
)
def test_conv_layer_groups(n, c, o, groups, k, stride, dilation, dtype):
    rng = np.random.default_rng(0)
    xp = rng.standard_normal((n, c, 11, 13)).astype(dtype)
    w = rng.standard_normal((o, c // groups) + k).astype(dtype)
    got, expected = _run(xp, w, stride, dilation, groups)
    np.testing.assert_allclose(got, expected, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_readonly_views(dtype):
    """Non-contiguous leading axes, read-only inputs, a strided out view."""
    rng = np.random.default_rng(1)
    big = rng.standard_normal((3, 8, 20, 30)).astype(dtype)
    xp = big[::2, 1::3, 2::2, 3:25]  # last axis contiguous, others strided
    xp.flags.writeable = False
    wbig = rng.standard_normal((6, 4, 3, 5)).astype(dtype)
    w = wbig[::2, ::2, :, 1:4]
    w.flags.writeable = False
    expected = _oracle(xp, w, (2, 1), (1, 2))
    host = np.full((expected.shape[0], expected.shape[1] * 2) + expected.shape[2:], -7.0, dtype)
    out = host[:, ::2]
    x_before, w_before = xp.copy(), w.copy()
    nb.correlate(xp, w, out, (2, 1), (1, 2), 1)
    np.testing.assert_allclose(out, expected, **TOL[dtype])
    assert np.all(host[:, 1::2] == -7.0)  # nothing written outside the view
    np.testing.assert_array_equal(xp, x_before)
    np.testing.assert_array_equal(w, w_before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_inf_propagate_like_oracle(dtype):
    rng = np.random.default_rng(2)
    xp = rng.standard_normal((1, 2, 9, 10)).astype(dtype)
    xp[0, 0, 4, 4] = np.nan
    xp[0, 1, 1, 7] = np.inf
    xp[0, 1, 6, 2] = -np.inf
    w = rng.standard_normal((2, 2, 3, 3)).astype(dtype)
    w[1, 0, 1, 1] = 0.0  # 0 * NaN must still be NaN: no skipped taps
    got, expected = _run(xp, w)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], **TOL[dtype])


def test_one_native_signature_per_dtype():
    """float32 is compiled as float32 (no upcast), and layouts/read-only flags
    don't multiply the signatures."""
    nb.warm()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 8, 9)).astype(np.float32)[:, ::2]
    x.flags.writeable = False
    nb.correlate(x, np.ones((1, 2, 2, 2), np.float32), np.empty((2, 1, 7, 8), np.float32), (1, 1), (1, 1), 1)
    dtypes = sorted(str(sig[0].dtype) for sig in nb._correlate.signatures)
    assert dtypes == ["float32", "float64"]
    assert set(nb.warm()) == {"float32", "float64"}


def test_obeys_thread_setting():
    import numba

    try:
        fastconv.set_threads(1)
        nb.correlate(*_small_args(np.float64))
        assert numba.get_num_threads() == 1
        fastconv.set_threads(fastconv.settings.MAX_THREADS)  # capped at numba's pool size, not an error
        nb.correlate(*_small_args(np.float64))
        assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS
    finally:
        fastconv.set_threads(None)


def _small_args(dtype):
    rng = np.random.default_rng(4)
    xp = rng.standard_normal((1, 1, 30, 30)).astype(dtype)
    w = rng.standard_normal((1, 1, 3, 3)).astype(dtype)
    return xp, w, np.empty((1, 1, 28, 28), dtype), (1, 1), (1, 1), 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_pool(dtype):
    """nogil kernels called from 8 Python threads at once stay correct."""
    rng = np.random.default_rng(5)
    cases = [(rng.standard_normal((40 + i, 37)).astype(dtype), rng.standard_normal((3, 3)).astype(dtype)) for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda xk: fastconv.corr2d(*xk, backend="numba", padding=1), cases))
    for (X, K), got in zip(cases, results):
        np.testing.assert_allclose(got, fastconv.corr2d(X, K, backend="naive", padding=1), **TOL[dtype])


def test_describe():
    info = nb.describe()
    assert info["numba"]
    assert {"threading_layer", "compiled", "cache_dir"} <= set(info)


def test_import_fastconv_does_not_import_numba():
    code = "import sys, fastconv; print('numba' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
