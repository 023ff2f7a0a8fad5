"""The FFT backend against the oracle, with a tolerance from its error bound.

The tolerance is not a magic number: it is ``fft.error_bound`` (the
documented u * log2(L1*L2) * ||x|| * ||k|| estimate) plus the oracle's own
rounding to the output dtype, u * |y|.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from fastconv.backends import fft, naive
from fastconv._padding import pad_spatial
from fastconv._geometry import Geometry

DTYPES = (np.float32, np.float64)


def _tolerance(xp, w, ref, stride, dilation, groups):
    u = np.finfo(ref.dtype).eps / 2
    return fft.error_bound(xp, w, ref.shape, stride, dilation, groups) + u * np.abs(ref)


def _both(xp, w, stride=(1, 1), dilation=(1, 1), groups=1):
    n = xp.shape[0]
    o, _, kh, kw = w.shape
    ho = (xp.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (xp.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    got = np.full((n, o, ho, wo), np.nan, dtype=xp.dtype)
    ref = np.empty_like(got)
    fft.correlate(xp, w, got, stride, dilation, groups)
    naive.correlate(xp, w, ref, stride, dilation, groups)
    return got, ref


def _assert_close(got, ref, tol):
    err = np.abs(got.astype(np.float64) - ref)
    assert np.all(err <= tol), f"max error {err.max():.3g} exceeds bound (min bound {np.min(tol):.3g})"


# ---------------------------------------------------------------- examples


def test_chapter_example():
    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_allclose(fastconv.corr2d(X, K, backend="fft"), [[19, 25], [37, 43]], atol=1e-12)


def test_chapter_edge_image():
    X = np.ones((6, 8))
    X[:, 2:6] = 0
    Y = fastconv.corr2d(X, np.array([[1.0, -1.0]]), backend="fft")
    expected = np.zeros((6, 7))
    expected[:, 1] = 1
    expected[:, 5] = -1
    np.testing.assert_allclose(Y, expected, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_preserved(dtype):
    X = np.random.default_rng(0).standard_normal((17, 23)).astype(dtype)
    K = np.ones((3, 4), dtype=dtype)
    assert fastconv.corr2d(X, K, backend="fft").dtype == dtype


def test_float32_uses_single_precision_transforms():
    # if the transforms ran in float64 the error would be ~1e-16 relative;
    # single precision shows float32-level error, which proves no silent
    # upcast (and no float64 memory traffic) happens inside.
    rng = np.random.default_rng(1)
    X = rng.standard_normal((64, 64))
    K = rng.standard_normal((5, 5))
    y32 = fastconv.corr2d(X.astype(np.float32), K.astype(np.float32), backend="fft")
    y64 = fastconv.corr2d(X.astype(np.float32).astype(np.float64), K.astype(np.float32).astype(np.float64), backend="fft")
    rel = np.abs(y32 - y64).max() / np.abs(y64).max()
    assert 1e-9 < rel < 1e-5


def test_inputs_not_modified():
    rng = np.random.default_rng(2)
    xp = rng.standard_normal((2, 4, 12, 13))
    w = rng.standard_normal((4, 2, 3, 3))
    xc, wc = xp.copy(), w.copy()
    _both(xp, w, (2, 1), (1, 2), groups=2)
    np.testing.assert_array_equal(xp, xc)
    np.testing.assert_array_equal(w, wc)


def test_nan_spreads_at_least_as_far_as_oracle():
    X = np.random.default_rng(3).standard_normal((20, 20))
    X[7, 9] = np.nan
    K = np.ones((3, 3))
    got = fastconv.corr2d(X, K, backend="fft")
    ref = fastconv.corr2d(X, K, backend="naive")
    assert np.all(np.isnan(got[np.isnan(ref)]))  # documented: FFT spreads NaN further


def test_big_kernel_equal_to_input():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((31, 29))
    got, ref = _both(X[None, None], X[None, None].copy())
    assert got.shape == (1, 1, 1, 1)
    _assert_close(got, ref, _tolerance(X[None, None], X[None, None], ref, (1, 1), (1, 1), 1))


def test_numpy_fallback(monkeypatch):
    monkeypatch.setattr(fft, "_fft", np.fft)
    monkeypatch.setattr(fft, "_HAVE_SCIPY", False)
    rng = np.random.default_rng(5)
    for dtype in DTYPES:
        xp = rng.standard_normal((2, 4, 11, 14)).astype(dtype)
        w = rng.standard_normal((6, 2, 3, 2)).astype(dtype)
        got, ref = _both(xp, w, (1, 2), (2, 1), groups=2)
        assert got.dtype == dtype
        _assert_close(got, ref, _tolerance(xp, w, ref, (1, 2), (2, 1), 2))


@pytest.mark.parametrize("real", [False, True])
@pytest.mark.parametrize("n", [1, 2, 7, 11, 13, 97, 1000, 1025, 4097])
def test_next_fast_len_is_the_smallest_smooth_length(n, real):
    """The shared transform length: smallest 5-smooth (real) or 11-smooth
    (complex) length >= n, the same one the cost model predicts."""
    primes = (2, 3, 5) if real else (2, 3, 5, 7, 11)
    m = fft.next_fast_len(n, real=real)
    assert m >= n
    assert _is_smooth(m, primes)
    assert all(not _is_smooth(k, primes) for k in range(n, m))


def _is_smooth(k, primes=(2, 3, 5)):
    for p in primes:
        while k % p == 0:
            k //= p
    return k == 1


def test_error_bound_is_not_vacuous():
    # the bound must be far below the size of the result, or it proves nothing
    rng = np.random.default_rng(6)
    xp = rng.standard_normal((1, 1, 256, 256))
    w = rng.standard_normal((1, 1, 7, 7))
    got, ref = _both(xp, w)
    bound = fft.error_bound(xp, w, ref.shape, (1, 1), (1, 1), 1)
    assert bound.max() < 1e-9 * np.abs(ref).max()
    _assert_close(got, ref, _tolerance(xp, w, ref, (1, 1), (1, 1), 1))


# ------------------------------------------------------ property tests


@st.composite
def problems_2d(draw):
    h = draw(st.integers(1, 19))
    w = draw(st.integers(1, 19))
    kh = draw(st.integers(1, 6))
    kw = draw(st.integers(1, 6))
    dh = draw(st.integers(1, 3))
    dw = draw(st.integers(1, 3))
    padding = draw(st.sampled_from([0, 1, (2, 0), "same", "full", ((0, 3), (1, 2))]))
    stride = draw(st.sampled_from([1, 2, (1, 3), (3, 2)]))
    mode = draw(st.sampled_from(["constant", "reflect", "symmetric", "edge", "wrap"]))
    dtype = draw(st.sampled_from(DTYPES))
    layout = draw(st.sampled_from(["C", "F", "T", "neg", "ro"]))
    return h, w, kh, kw, (dh, dw), padding, stride, mode, dtype, layout


def _layout(a, layout):
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "T":
        return np.ascontiguousarray(a.T).T
    if layout == "neg":
        return np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1]
    if layout == "ro":
        a = a.copy()
        a.flags.writeable = False
    return a


@settings(max_examples=150, deadline=None)
@given(problems_2d(), st.integers(0, 2**32 - 1))
def test_corr2d_matches_oracle(problem, seed):
    h, w, kh, kw, dilation, padding, stride, mode, dtype, layout = problem
    rng = np.random.default_rng(seed)
    X = _layout(rng.standard_normal((h, w)).astype(dtype), layout)
    K = rng.standard_normal((kh, kw)).astype(dtype)
    try:
        geo = Geometry.from_args(X.shape, K.shape, padding, stride, dilation)
    except ValueError:
        return  # kernel larger than the padded input: the API's job, tested elsewhere
    got = fastconv.corr2d(X, K, padding=padding, stride=stride, dilation=dilation, mode=mode, backend="fft")
    ref = fastconv.corr2d(X, K, padding=padding, stride=stride, dilation=dilation, mode=mode, backend="naive")
    assert got.dtype == ref.dtype == dtype
    xp = pad_spatial(np.asarray(X)[None, None], geo.pads, mode, 0.0)
    tol = _tolerance(xp, K[None, None], ref[None, None], geo.stride, geo.dilation, 1)[0, 0]
    _assert_close(got, ref, tol)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3),
    groups=st.sampled_from([1, 2, 3]),
    cg=st.integers(1, 3),
    og=st.integers(1, 3),
    h=st.integers(1, 13),
    w=st.integers(1, 13),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    stride=st.sampled_from([(1, 1), (2, 2), (1, 3)]),
    dilation=st.sampled_from([(1, 1), (2, 1), (2, 3)]),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**32 - 1),
    workspace=st.sampled_from([None, 1, 3000]),
)
def test_nchw_groups_match_oracle(n, groups, cg, og, h, w, kh, kw, stride, dilation, dtype, seed, workspace):
    """Also under tiny workspace limits: one image per chunk and one output
    channel per block (1 byte), or a few (3000 bytes)."""
    span_h = dilation[0] * (kh - 1) + 1
    span_w = dilation[1] * (kw - 1) + 1
    h, w = max(h, span_h), max(w, span_w)
    rng = np.random.default_rng(seed)
    xp = rng.standard_normal((n, groups * cg, h, w)).astype(dtype)
    wt = rng.standard_normal((groups * og, cg, kh, kw)).astype(dtype)
    fastconv.set_workspace_limit(workspace)
    try:
        got, ref = _both(xp, wt, stride, dilation, groups)
    finally:
        fastconv.set_workspace_limit(None)
    assert got.dtype == dtype
    _assert_close(got, ref, _tolerance(xp, wt, ref, stride, dilation, groups))


def test_torch_agrees_on_a_layer():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    xp = rng.standard_normal((2, 6, 20, 18))
    wt = rng.standard_normal((9, 2, 3, 5))
    got, _ = _both(xp, wt, (2, 1), (1, 2), groups=3)
    ref = torch.nn.functional.conv2d(torch.from_numpy(xp), torch.from_numpy(wt), stride=(2, 1), dilation=(1, 2), groups=3).numpy()
    _assert_close(got, ref, _tolerance(xp, wt, ref, (2, 1), (1, 2), 3) * 2)


def test_kernel_spectrum_cache_tracks_kernel_contents():
    fft.clear_cache()
    rng = np.random.default_rng(8)
    X = rng.standard_normal((40, 50))
    K = rng.standard_normal((5, 5))
    first = fastconv.corr2d(X, K, backend="fft")
    np.testing.assert_array_equal(fastconv.corr2d(X, K, backend="fft"), first)  # served from the cache
    K[2, 2] += 1.0  # same shape, same object, new contents: must not reuse the old spectrum
    got = fastconv.corr2d(X, K, backend="fft")
    ref = fastconv.corr2d(X, K, backend="naive")
    np.testing.assert_allclose(got, ref, atol=1e-10)
    assert len(fft._cache) == 2
    fft.clear_cache()
    assert len(fft._cache) == 0


def test_layer_keeps_to_the_workspace_limit():
    """Peak extra memory of a conv layer stays near the limit (it was the
    spectra of every plane and kernel at once: ~86 MiB here)."""
    memory = pytest.importorskip("fastconv.tools.memory")
    if memory.available() is not None:
        pytest.skip(memory.available())
    memory._fix_mmap_threshold()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 64, 56, 56)).astype(np.float32)
    wt = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    fastconv.set_workspace_limit(16 << 20)
    try:
        fastconv.conv2d(x, wt, padding=1, backend="fft")
        fft.clear_cache()
        peak, cached = memory.peak_extra(lambda: fastconv.conv2d(x, wt, padding=1, backend="fft"),
                                         8 * 64 * 56 * 56 * 4)
    finally:
        fastconv.set_workspace_limit(None)
    padded = 8 * 64 * 58 * 58 * 4  # the engine's padded copy of x, not fft's workspace
    # What stays is the kernel-spectrum cache (at most 64 MiB in all), not workspace.
    assert cached <= 64 << 20
    assert peak - cached <= padded + (16 << 20) * 1.25
