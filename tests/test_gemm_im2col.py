"""The gemm backend and im2col: what is specific to them.

The cross-backend hypothesis suite checks gemm like every other backend;
here: the im2col identity, direct backend calls with groups/strides/
dilations, the workspace cap (tiles used, results right, peak memory
bounded), the 1x1 path that skips im2col, and BLAS thread control.
"""
import sys
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import fastconv
from fastconv import _blas, settings
from fastconv._geometry import MODES
from fastconv.backends import gemm, naive

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}
DTYPES = [np.float32, np.float64]


@pytest.fixture
def cap():
    """Set the workspace cap for one test; restored afterwards."""
    yield settings.set_workspace_limit
    settings.set_workspace_limit(None)


@pytest.fixture
def tiles(monkeypatch):
    """Record (patch tile shape, workspace bytes) of every GEMM tile."""
    seen = []
    original = gemm._tile

    def spy(patches, wm, out_tile, work, result):
        extra = 0 if result is None else result.nbytes
        seen.append((patches.shape, work.nbytes + extra))
        return original(patches, wm, out_tile, work, result)

    monkeypatch.setattr(gemm, "_tile", spy)
    return seen


def _out_shape(xp, w, stride, dilation):
    kh, kw = w.shape[2:]
    ho = (xp.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (xp.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    return (xp.shape[0], w.shape[0], ho, wo)


def _both(xp, w, stride=(1, 1), dilation=(1, 1), groups=1):
    """(gemm result, oracle result) of one direct backend call."""
    shape = _out_shape(xp, w, stride, dilation)
    expected = np.empty(shape, xp.dtype)
    naive.correlate(xp, w, expected, stride, dilation, groups)
    got = np.full(shape, np.nan, xp.dtype)  # must be overwritten everywhere
    gemm.correlate(xp, w, got, stride, dilation, groups)
    return got, expected


def _data(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# --- im2col ---------------------------------------------------------------


@st.composite
def im2col_cases(draw):
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    padding = draw(
        st.one_of(
            st.sampled_from(["valid", "same", "full"]),
            st.integers(0, 3),
            st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)), st.tuples(st.integers(0, 3), st.integers(0, 3))),
        )
    )
    stride = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    dilation = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    mode = draw(st.sampled_from(MODES))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**16))
    return (h, w), (kh, kw), dict(padding=padding, stride=stride, dilation=dilation, mode=mode), dtype, seed


@given(im2col_cases())
def test_im2col_times_kernel_is_corr2d(case):
    (h, w), kshape, kwargs, dtype, seed = case
    try:
        oshape = fastconv.output_shape((h, w), kshape, **{k: kwargs[k] for k in ("padding", "stride", "dilation")})
    except ValueError:
        assume(False)  # kernel larger than the padded input
    X, K = _data((h, w), dtype, seed), _data(kshape, dtype, seed + 1)
    if kwargs["mode"] == "constant":
        kwargs["cval"] = 0.5
    cols = fastconv.im2col(X, kshape, **kwargs)
    assert cols.shape == (oshape[0] * oshape[1], kshape[0] * kshape[1])
    assert cols.dtype == dtype and cols.flags.c_contiguous
    expected = fastconv.corr2d(X, K, backend="naive", **kwargs)
    np.testing.assert_allclose((cols @ K.ravel()).reshape(oshape), expected, **TOL[dtype])


def test_im2col_chapter_example():
    X = np.arange(9.0).reshape(3, 3)
    cols = fastconv.im2col(X, (2, 2))
    np.testing.assert_array_equal(cols, [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])
    np.testing.assert_array_equal(cols @ np.array([0, 1, 2, 3.0]), [19, 25, 37, 43])


def test_im2col_dtypes_and_inputs():
    assert fastconv.im2col(np.ones((4, 4), np.int16), 2).dtype == np.float64
    assert fastconv.im2col(np.ones((4, 4), np.float32), (2, 3)).dtype == np.float32
    X = np.arange(20.0).reshape(4, 5)
    before = X.copy()
    np.testing.assert_array_equal(fastconv.im2col(X.T, (2, 2)), fastconv.im2col(np.ascontiguousarray(X.T), (2, 2)))
    np.testing.assert_array_equal(fastconv.im2col(X.tolist(), (2, 2)), fastconv.im2col(X, (2, 2)))
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize(
    "args, kwargs, error",
    [
        ((np.ones((2, 3, 3)), (2, 2)), {}, ValueError),  # not 2-D
        ((np.ones((3, 3)), (4, 1)), {}, ValueError),  # kernel larger than input
        ((np.ones((3, 3)), (0, 1)), {}, ValueError),  # kernel size < 1
        ((np.ones((3, 3)), (2, 2)), {"mode": "bogus"}, ValueError),
        ((np.ones((3, 3)), (2, 2)), {"padding": "huge"}, ValueError),
        ((np.ones((3, 3), complex), (2, 2)), {}, TypeError),
    ],
)
def test_im2col_errors(args, kwargs, error):
    with pytest.raises(error):
        fastconv.im2col(*args, **kwargs)


# --- the backend against the oracle ----------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "n, c, o, groups, kernel, stride, dilation",
    [
        (1, 1, 1, 1, (3, 3), (1, 1), (1, 1)),
        (2, 4, 6, 1, (3, 2), (2, 1), (1, 2)),
        (3, 4, 6, 2, (2, 3), (1, 3), (2, 1)),
        (2, 6, 6, 6, (3, 3), (2, 2), (1, 1)),  # depthwise
        (2, 6, 12, 3, (5, 1), (3, 2), (2, 3)),
        (1, 3, 2, 1, (11, 13), (1, 1), (1, 1)),  # kernel as large as the input
    ],
)
def test_backend_matches_oracle(dtype, n, c, o, groups, kernel, stride, dilation):
    xp = _data((n, c, 11, 13), dtype, 1)
    w = _data((o, c // groups) + kernel, dtype, 2)
    got, expected = _both(xp, w, stride, dilation, groups)
    np.testing.assert_allclose(got, expected, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_corr2d_gemm_matches_naive(dtype, mode):
    X, K = _data((17, 23), dtype, 3), _data((4, 3), dtype, 4)
    for kwargs in (dict(padding="same"), dict(padding=(2, 1), stride=(2, 3), dilation=(1, 2)), dict(padding="full")):
        got = fastconv.corr2d(X, K, backend="gemm", mode=mode, **kwargs)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, fastconv.corr2d(X, K, backend="naive", mode=mode, **kwargs), **TOL[dtype])


def test_strided_out_rectangle():
    """The engine hands backends sub-rectangles of out whose rows are not
    evenly spaced; gemm must fill exactly that rectangle."""
    xp, w = _data((2, 4, 12, 15), np.float64, 5), _data((6, 2, 3, 3), np.float64, 6)
    big = np.zeros((2, 6, 10, 20))
    gemm.correlate(xp, w, big[..., 2:15], (1, 1), (1, 1), 2)
    expected = np.empty((2, 6, 10, 13))
    naive.correlate(xp, w, expected, (1, 1), (1, 1), 2)
    np.testing.assert_allclose(big[..., 2:15], expected, **TOL[np.float64])
    assert not big[..., :2].any() and not big[..., 15:].any()


def test_nan_and_inf_propagate_like_the_oracle():
    xp = _data((1, 2, 8, 8), np.float64, 7)
    xp[0, 1, 3, 4], xp[0, 0, 6, 1] = np.nan, np.inf
    got, expected = _both(xp, _data((3, 2, 3, 3), np.float64, 8))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))


# --- the workspace cap --------------------------------------------------------


def test_workspace_limit_setting(monkeypatch, cap):
    monkeypatch.delenv("FASTCONV_WORKSPACE_MB", raising=False)
    assert fastconv.get_workspace_limit() == 64 * 2**20
    monkeypatch.setenv("FASTCONV_WORKSPACE_MB", "1.5")
    assert fastconv.get_workspace_limit() == 3 * 2**19
    cap(4096)
    assert fastconv.get_workspace_limit() == 4096  # the setter beats the environment
    cap(None)
    monkeypatch.setenv("FASTCONV_WORKSPACE_MB", "lots")
    with pytest.raises(ValueError, match="FASTCONV_WORKSPACE_MB"):
        fastconv.get_workspace_limit()
    for bad in (0, -1, 1.5, True, "64"):
        with pytest.raises(ValueError):
            fastconv.set_workspace_limit(bad)


@pytest.mark.parametrize(
    "limit, expect",
    [
        (10**9, "images"),  # all images in one tile
        (10_000, "rows"),  # bands of rows
        (1_000, "cols"),  # less than one output row: pieces of a row
        (1, "cols"),  # less than one column: one column per tile
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_tiles_respect_the_cap(cap, tiles, limit, expect, dtype):
    xp, w = _data((3, 4, 20, 25), dtype, 9), _data((6, 2, 3, 3), dtype, 10)
    cap(limit)
    got, expected = _both(xp, w, (1, 2), (2, 1), groups=2)
    np.testing.assert_allclose(got, expected, **TOL[dtype])
    one_column = 4 * 3 * 3 * np.dtype(dtype).itemsize
    shapes = [s for s, _ in tiles]
    assert max(b for _, b in tiles) <= max(min(limit, gemm.CACHE_TILE), one_column)
    if expect == "images":
        assert len(tiles) == 1 and shapes[0][0] == 3
    elif expect == "rows":
        assert len(tiles) > 3 and all(s[0] == 1 and s[-1] == 12 for s in shapes)
    else:
        assert all(s[0] == 1 and s[-2] == 1 and s[-1] < 12 for s in shapes)


def test_cap_on_strided_out_counts_the_scratch_result(cap, tiles):
    xp, w = _data((2, 4, 12, 15), np.float64, 11), _data((6, 2, 3, 3), np.float64, 12)
    cap(3000)
    big = np.zeros((2, 6, 10, 20))
    gemm.correlate(xp, w, big[..., 2:15], (1, 1), (1, 1), 2)
    assert max(b for _, b in tiles) <= 3000


def test_large_input_peak_memory_is_bounded(cap):
    """A 4096x4096 float32 image with a 31x31 kernel: the full patch matrix
    would be 961x the output; the scratch memory stays under the cap. (Stride
    16 keeps the test fast; the tiling logic is the same at stride 1.)"""
    limit = 2**20
    cap(limit)
    xp = np.ones((1, 1, 4096, 4096), np.float32)
    w = np.full((1, 1, 31, 31), 1 / 961, np.float32)
    out = np.empty(_out_shape(xp, w, (16, 16), (1, 1)), np.float32)
    full_patch_matrix = out.size * 961 * 4
    tracemalloc.start()
    try:
        gemm.correlate(xp, w, out, (16, 16), (1, 1), 1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert full_patch_matrix > 200 * limit
    assert peak <= limit + 64 * 1024
    np.testing.assert_allclose(out, 1.0, rtol=1e-5)


# --- the 1x1 path -------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_1x1_skips_im2col(monkeypatch, dtype, groups):
    def no_im2col(*args):
        raise AssertionError("1x1 kernel at stride 1 must not build a patch matrix")

    monkeypatch.setattr(gemm, "_tiled", no_im2col)
    xp, w = _data((3, 4, 9, 7), dtype, 13), _data((8, 4 // groups, 1, 1), dtype, 14)
    got, expected = _both(xp, w, groups=groups)
    np.testing.assert_allclose(got, expected, **TOL[dtype])


def test_1x1_strided_and_awkward_layouts(monkeypatch):
    xp, w = _data((2, 4, 9, 7), np.float64, 15), _data((6, 4, 1, 1), np.float64, 16)
    # stride 2: the patch "matrix" is just the subsampled input
    got, expected = _both(xp, w, stride=(2, 2))
    np.testing.assert_allclose(got, expected, **TOL[np.float64])
    # input rows not evenly spaced (a column slice): falls back to the tiled path
    wide = _data((2, 4, 9, 12), np.float64, 17)
    got, expected = _both(wide[..., 2:9], w)
    np.testing.assert_allclose(got, expected, **TOL[np.float64])


# --- BLAS threads ---------------------------------------------------------------

needs_threadpoolctl = pytest.mark.skipif(not _blas._blas_libs(), reason=_blas.describe())


@pytest.fixture
def threads():
    yield fastconv.set_threads
    fastconv.set_threads(None)


@needs_threadpoolctl
def test_gemm_runs_blas_on_one_thread_whatever_set_threads(monkeypatch, threads):
    """fastconv's threads split the products (fastconv._blas.matmul); BLAS
    itself runs on one thread inside them, and the caller's setting is
    back afterwards."""
    before = _blas.current_threads()
    seen = []

    class Spy:
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def matmul(*args, **kwargs):
            seen.append(_blas.current_threads())
            return np.matmul(*args, **kwargs)

    monkeypatch.setattr(_blas, "np", Spy())
    xp, w = _data((1, 2, 10, 10), np.float64, 18), _data((3, 2, 3, 3), np.float64, 19)
    for n in (1, 2, 3):
        threads(n)
        seen.clear()
        _both(xp, w)
        assert seen and all(s == {lib: 1 for lib in before} for s in seen)
        assert _blas.current_threads() == before


@needs_threadpoolctl
def test_blas_limit_skips_setting_when_already_right(monkeypatch, threads):
    lib = _blas._blas_libs()[0]
    calls = []
    monkeypatch.setattr(type(lib), "set_num_threads", lambda self, n: calls.append(n))
    threads(lib.num_threads)
    with _blas.threads():
        pass
    assert calls == []


@needs_threadpoolctl
def test_concurrent_calls_with_limited_threads(threads):
    threads(1)
    before = _blas.current_threads()
    xp, w = _data((2, 4, 16, 16), np.float32, 20), _data((8, 4, 3, 3), np.float32, 21)
    expected = _both(xp, w)[1]

    def run(_):
        out = np.empty_like(expected)
        gemm.correlate(xp, w, out, (1, 1), (1, 1), 1)
        return out

    with ThreadPoolExecutor(8) as pool:
        for got in pool.map(run, range(32)):
            np.testing.assert_allclose(got, expected, **TOL[np.float32])
    assert _blas.current_threads() == before


def test_without_threadpoolctl_threads_are_not_controlled(monkeypatch):
    monkeypatch.setattr(_blas, "_libs", None)
    monkeypatch.setattr(_blas, "_error", None)
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails
    assert "not controlled" in gemm.describe()["blas"]
    got, expected = _both(_data((1, 1, 6, 6), np.float64, 22), _data((1, 1, 2, 2), np.float64, 23))
    np.testing.assert_allclose(got, expected, **TOL[np.float64])


# --- images folded into the GEMM's columns -------------------------------------


def test_fold_rule():
    # weight gradient of (8,64,56,56)x(64,64,3,3) pad 1: 9 columns per "image", W 64 x 25088
    assert gemm._fold_pays(9, 64, 8 * 56 * 56)
    # forward passes of conv layers: the columns are not the skinny dimension
    assert not gemm._fold_pays(56 * 56, 64, 64 * 9)
    assert not gemm._fold_pays(24 * 24, 6, 25)


@pytest.fixture
def folded_calls(monkeypatch):
    """Force the folded path (wherever two images fit in a tile) and record
    (images per tile, writes out in place) of every folded call."""
    calls = []
    original = gemm._folded

    def spy(*args):
        calls.append(args[-2:])
        return original(*args)

    monkeypatch.setattr(gemm, "_fold_pays", lambda *args: True)
    monkeypatch.setattr(gemm, "_folded", spy)
    return calls


@st.composite
def folded_cases(draw):
    n = draw(st.integers(2, 5))
    groups = draw(st.integers(1, 3))
    cg, og = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    dilation = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    ho, wo = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    hp = (ho - 1) * stride[0] + (kh - 1) * dilation[0] + 1 + draw(st.integers(0, stride[0] - 1))
    wp = (wo - 1) * stride[1] + (kw - 1) * dilation[1] + 1 + draw(st.integers(0, stride[1] - 1))
    dtype = draw(st.sampled_from(DTYPES))
    layout = draw(st.sampled_from(["contiguous", "column slice", "O-major", "O-major sliced"]))
    # cap: everything in one tile, or as few as two images per tile
    cap = draw(st.sampled_from([None, 2, 3]))
    seed = draw(st.integers(0, 2**16))
    return n, groups, cg, og, (kh, kw), stride, dilation, (hp, wp), dtype, layout, cap, seed


def _out_array(shape, dtype, layout):
    """An out array of ``shape`` (N, O, Ho, Wo) laid out as the engine or
    grad.py may pass it, plus the larger array it lives in."""
    n, o, ho, wo = shape
    if layout == "contiguous":
        base = np.full(shape, np.nan, dtype)
        return base, base
    if layout == "column slice":  # rows not evenly spaced, as in the engine's strips
        base = np.full((n, o, ho, wo + 3), np.nan, dtype)
        return base, base[..., 1 : 1 + wo]
    if layout == "O-major":  # grad.py's weight gradient: out is gw.transpose(1, 0, 2, 3)
        base = np.full((o, n, ho, wo), np.nan, dtype)
        return base, base.transpose(1, 0, 2, 3)
    base = np.full((o, n, ho + 1, wo + 2), np.nan, dtype)
    return base, base[:, :, 1:, 2:].transpose(1, 0, 2, 3)


@given(folded_cases())
def test_folded_path_matches_oracle(case):
    n, groups, cg, og, kernel, stride, dilation, (hp, wp), dtype, layout, cap_images, seed = case
    assume(kernel != (1, 1) or stride != (1, 1))  # 1x1 at stride 1 needs no patch matrix
    xp = _data((n, groups * cg, hp, wp), dtype, seed)
    w = _data((groups * og, cg) + kernel, dtype, seed + 1)
    shape = _out_shape(xp, w, stride, dilation)
    expected = np.empty(shape, dtype)
    naive.correlate(xp, w, expected, stride, dilation, groups)
    base, out = _out_array(shape, dtype, layout)
    before = base.copy()
    calls = []
    original = gemm._folded
    saved = gemm._fold_pays, gemm._folded, gemm.CACHE_TILE
    per_image = shape[2] * shape[3] * (groups * cg * kernel[0] * kernel[1] + shape[1]) * xp.itemsize
    limit = None if cap_images is None else cap_images * per_image

    def spy(*args):
        calls.append(args[-2:])
        return original(*args)

    gemm._fold_pays, gemm._folded = (lambda *args: True), spy
    try:
        if limit is not None:
            # room for ``cap_images`` images' patch columns and scratch result
            settings.set_workspace_limit(limit)
            gemm.CACHE_TILE = limit
        gemm.correlate(xp, w, out, stride, dilation, groups)
    finally:
        gemm._fold_pays, gemm._folded, gemm.CACHE_TILE = saved
        settings.set_workspace_limit(None)
    assert len(calls) == 1
    nt, direct = calls[0]
    assert 2 <= nt <= n
    if limit is not None:  # patch columns (+ scratch result unless written in place) within the cap
        assert nt * shape[2] * shape[3] * (groups * cg * kernel[0] * kernel[1] + (0 if direct else shape[1])) * xp.itemsize <= limit
    if layout == "O-major":
        assert direct  # grad.py's weight-gradient layout is written in place
    np.testing.assert_allclose(out, expected, **TOL[dtype])
    # nothing outside ``out`` was written
    mask = np.ones(base.shape, bool)
    if layout == "column slice":
        mask[..., 1 : 1 + shape[3]] = False
    elif layout == "O-major sliced":
        mask[:, :, 1:, 2:] = False
    else:
        mask[...] = False
    np.testing.assert_array_equal(base[mask], before[mask])


@pytest.mark.parametrize("dtype", DTYPES)
def test_folded_tiles_respect_the_cap(cap, folded_calls, dtype):
    xp, w = _data((6, 4, 9, 8), dtype, 24), _data((6, 2, 3, 3), dtype, 25)
    out = np.empty(_out_shape(xp, w, (1, 1), (1, 1)), dtype)
    per_image = 7 * 6 * (4 * 9 + 6) * np.dtype(dtype).itemsize  # patch columns + scratch result
    limit = 2 * per_image + 100
    cap(limit)
    tracemalloc.start()
    try:
        gemm.correlate(xp, w, out, (1, 1), (1, 1), 2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert folded_calls == [(2, False)]
    assert peak <= limit + 16 * 1024
    expected = np.empty_like(out)
    naive.correlate(xp, w, expected, (1, 1), (1, 1), 2)
    np.testing.assert_allclose(out, expected, **TOL[dtype])


def test_folded_falls_back_when_one_image_exceeds_the_cap(cap, folded_calls, tiles):
    xp, w = _data((3, 2, 10, 10), np.float64, 26), _data((4, 2, 3, 3), np.float64, 27)
    cap(2000)  # less than one image's patch matrix
    got, expected = _both(xp, w)
    np.testing.assert_allclose(got, expected, **TOL[np.float64])
    assert folded_calls == [] and tiles


def test_weight_gradient_is_one_wide_folded_gemm(monkeypatch):
    """conv2d_backward's weight gradient of (8,64,56,56)x(64,64,3,3) pad 1
    reaches the folded path: per group a (64 x 25088) @ (25088 x images*9)
    GEMM written straight into the weight gradient."""
    shapes = []
    original = gemm._folded

    def spy(xp, wm, out5, *args):
        shapes.append((wm.shape, xp.shape, out5.shape, args[-2:]))
        return original(xp, wm, out5, *args)

    monkeypatch.setattr(gemm, "_folded", spy)
    rng = np.random.default_rng(28)
    x = rng.standard_normal((8, 64, 56, 56), np.float32)
    w = rng.standard_normal((64, 64, 3, 3), np.float32)
    g = rng.standard_normal((8, 64, 56, 56), np.float32)
    gw = fastconv.conv2d_backward(x, w, g, padding=1, needs="weight", backend="gemm").weight
    [(wm_shape, xp_shape, out_shape, (nt, direct))] = shapes
    assert wm_shape == (1, 64, 8 * 56 * 56) and xp_shape[:2] == (64, 8) and out_shape[-2:] == (3, 3)
    assert direct and nt * 9 >= gemm._FOLD_MIN_COLUMNS
    ref = fastconv.conv2d_backward(
        x[:2, :, :9, :9].astype(np.float64), w.astype(np.float64), g[:2, :, :9, :9].astype(np.float64),
        padding=1, needs="weight", backend="naive",
    ).weight
    small = fastconv.conv2d_backward(x[:2, :, :9, :9], w, g[:2, :, :9, :9], padding=1, needs="weight", backend="gemm")
    np.testing.assert_allclose(small.weight, ref, rtol=1e-4, atol=1e-4)
    assert gw.shape == (64, 64, 3, 3) and np.isfinite(gw).all()
