"""fastconv._engine: the interior/border split covers the output exactly
once and gives the same result as one padded call, a ``whole_input`` row is
never split, and ``out`` is written directly only when a backend may write
into it (else through a scratch array and a copy)."""
import types

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastconv
from _oracle_cases import MODES, tolerance
from fastconv import _engine, backends
from fastconv._geometry import Geometry, span
from fastconv._padding import pad_spatial

NAIVE = backends.load("naive")


@pytest.fixture
def recording_backend():
    """register(name, whole_input=...) -> list of the calls the backend gets;
    each call records xp and out (the arrays themselves). Unregistered after."""
    names = []

    def register(name, whole_input=False):
        calls = []

        def correlate(xp, w, out, stride, dilation, groups):
            calls.append(types.SimpleNamespace(xp=xp, out=out))
            NAIVE.correlate(xp, w, out, stride, dilation, groups)

        module = types.ModuleType(f"fastconv_test_{name}")
        module.correlate = correlate
        backends.register(name, module, whole_input=whole_input)
        names.append(name)
        return calls

    yield register
    for name in names:
        backends.unregister(name)


@st.composite
def geometries(draw, max_side=12):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pads = tuple((draw(st.integers(0, 5)), draw(st.integers(0, 5))) for _ in range(2))
    spans = [span(k, d) for k, d in zip(kernel, dilation)]
    shape = tuple(draw(st.integers(max(1, s - sum(p)), max(1, s - sum(p)) + max_side)) for s, p in zip(spans, pads))
    return Geometry.from_args(shape, kernel, pads, stride, dilation)


def _inside(i, n, pad_before, kernel_span, stride):
    """Does output i's window lie wholly inside the unpadded input?"""
    start = i * stride - pad_before
    return start >= 0 and start + kernel_span <= n


@given(geometries(max_side=20))
def test_regions_cover_the_output_exactly_once(geo):
    count = np.zeros(geo.out_shape, dtype=int)
    rects = _engine._regions(geo)
    for (i0, i1), (j0, j1) in rects:
        assert 0 <= i0 < i1 <= geo.out_shape[0] and 0 <= j0 < j1 <= geo.out_shape[1]
        count[i0:i1, j0:j1] += 1
    np.testing.assert_array_equal(count, 1)
    # the interior (first, when not empty) is exactly the outputs whose windows read no padding
    spans = [span(k, d) for k, d in zip(geo.kernel_shape, geo.dilation)]
    ranges = []
    for axis in range(2):
        lo, hi = _engine._interior(geo.in_shape[axis], geo.pads[axis][0], spans[axis], geo.stride[axis],
                                   geo.out_shape[axis])
        inside = [i for i in range(geo.out_shape[axis])
                  if _inside(i, geo.in_shape[axis], geo.pads[axis][0], spans[axis], geo.stride[axis])]
        assert list(range(lo, hi)) == inside
        ranges.append((lo, hi))
    if all(hi > lo for lo, hi in ranges):
        assert rects[0] == tuple(ranges)


@st.composite
def split_cases(draw):
    geo = draw(geometries())
    groups = draw(st.sampled_from([1, 1, 2]))
    n, cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    mode = draw(st.sampled_from(MODES))
    cval = draw(st.sampled_from([0.0, 2.5, -1.0]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, groups * cg) + geo.in_shape).astype(dtype)
    w = rng.standard_normal((groups * og, cg) + geo.kernel_shape).astype(dtype)
    return geo, x, w, groups, mode, cval


@given(split_cases())
def test_split_path_equals_one_padded_call(case):
    geo, x, w, groups, mode, cval = case
    shape = (x.shape[0], w.shape[0]) + geo.out_shape
    whole = np.full(shape, np.nan, dtype=x.dtype)
    NAIVE.correlate(pad_spatial(x, geo.pads, mode, cval), w, whole, geo.stride, geo.dilation, groups)
    split = np.full(shape, np.nan, dtype=x.dtype)
    before = x.copy()
    _engine._run_in_regions(NAIVE, x, w, geo, groups, mode, cval, split)
    np.testing.assert_array_equal(split, whole)  # same sums of the same values: same bits
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("name", [n for n in ("cython", "gemm", "numba") if backends.load(n) is not None][:2])
@pytest.mark.parametrize("mode", MODES)
def test_split_path_compiled_backend(name, mode):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 2, 17, 13))
    w = rng.standard_normal((2, 1, 3, 4))
    geo = Geometry.from_args(x.shape[2:], w.shape[2:], ((2, 3), (4, 1)), (1, 2), (2, 1))
    module = backends.get(name)
    whole = np.empty((2, 2) + geo.out_shape)
    module.correlate(pad_spatial(x, geo.pads, mode, 1.5), w, whole, geo.stride, geo.dilation, 2)
    split = np.full_like(whole, np.nan)
    _engine._run_in_regions(module, x, w, geo, 2, mode, 1.5, split)
    np.testing.assert_allclose(split, whole, rtol=tolerance(np.float64), atol=tolerance(np.float64) * 20)


@pytest.mark.parametrize("mode", MODES)
def test_engine_splits_large_inputs_unless_the_row_says_whole_input(recording_backend, monkeypatch, mode):
    monkeypatch.setattr(_engine, "_PAD_COPY_LIMIT", 0)  # every padded call counts as large
    split_calls = recording_backend("test_split")
    whole_calls = recording_backend("test_whole", whole_input=True)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 2, 11, 9))
    w = rng.standard_normal((3, 2, 3, 2))
    geo = Geometry.from_args(x.shape[2:], w.shape[2:], ((2, 1), (1, 2)), 1, 1)
    expected = np.empty((1, 3) + geo.out_shape)
    NAIVE.correlate(pad_spatial(x, geo.pads, mode, 0.5), w, expected, geo.stride, geo.dilation, 1)

    got = _engine.correlate(x, w, geo, mode=mode, cval=0.5, backend="test_split")
    np.testing.assert_array_equal(got, expected)
    assert len(split_calls) == len(_engine._regions(geo)) == 5  # the control: this case is split

    got = _engine.correlate(x, w, geo, mode=mode, cval=0.5, backend="test_whole")
    np.testing.assert_array_equal(got, expected)
    assert len(whole_calls) == 1
    assert whole_calls[0].xp.shape == (1, 2) + geo.padded_shape


def test_engine_does_not_split_small_unpadded_or_tap_heavy_calls(recording_backend, monkeypatch):
    calls = recording_backend("test_count")
    x = np.random.default_rng(2).standard_normal((1, 1, 12, 12))
    w = np.ones((1, 1, 3, 3))
    padded = Geometry.from_args((12, 12), (3, 3), 1, 1, 1)
    _engine.correlate(x, w, padded, backend="test_count")  # 1 KiB: below _PAD_COPY_LIMIT
    assert len(calls) == 1 and calls[0].xp.shape == (1, 1, 14, 14)
    monkeypatch.setattr(_engine, "_PAD_COPY_LIMIT", 0)
    calls.clear()
    _engine.correlate(x, w, Geometry.from_args((12, 12), (3, 3), 0, 1, 1), backend="test_count")
    assert len(calls) == 1 and calls[0].xp is x  # no padding: the input itself, in one call
    calls.clear()
    many = np.ones((8, 1, 3, 3))  # 8 * 9 = 72 taps per input element > _SPLIT_MAX_TAPS
    assert 8 * 9 > _engine._SPLIT_MAX_TAPS
    _engine.correlate(x, many, padded, backend="test_count")
    assert len(calls) == 1


def _case():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 1, 8, 9))
    w = rng.standard_normal((1, 1, 3, 2))
    geo = Geometry.from_args((8, 9), (3, 2), 0, 1, 1)
    expected = np.empty((1, 1) + geo.out_shape)
    NAIVE.correlate(x, w, expected, (1, 1), (1, 1), 1)
    return x, w, geo, expected


def test_out_contiguous_or_row_view_is_written_directly(recording_backend):
    calls = recording_backend("test_out")
    x, w, geo, expected = _case()
    out = np.full(expected.shape, np.nan)
    assert _engine.correlate(x, w, geo, backend="test_out", out=out) is out
    assert calls[-1].out is out
    np.testing.assert_array_equal(out, expected)
    big = np.full((1, 1, 10, 12), np.nan)
    view = big[:, :, 1:7, 2:10]  # last axis contiguous, rows further apart: allowed
    _engine.correlate(x, w, geo, backend="test_out", out=view)
    assert calls[-1].out is view
    np.testing.assert_array_equal(view, expected)
    assert np.isnan(big).sum() == big.size - view.size  # nothing outside the view written


@pytest.mark.parametrize("layout", ["strided_columns", "negative_strides", "overlaps_x", "byteswapped"])
def test_out_that_a_backend_may_not_write_goes_through_a_copy(recording_backend, layout):
    calls = recording_backend("test_out")
    x, w, geo, expected = _case()
    shape = expected.shape
    big = None
    if layout == "strided_columns":
        big = np.full(shape[:3] + (2 * shape[3],), np.nan)
        out = big[..., ::2]
    elif layout == "negative_strides":
        big = np.full(shape, np.nan)
        out = big[:, :, ::-1, ::-1]
    elif layout == "overlaps_x":
        x = x.copy()
        out = x[:, :, 1:1 + shape[2], 0:shape[3]]  # writing it would change x under the backend
    else:
        out = np.full(shape, np.nan, dtype=np.dtype(np.float64).newbyteorder())
    assert not _engine._writable_directly(out, x, w)
    assert _engine.correlate(x, w, geo, backend="test_out", out=out) is out
    target = calls[-1].out
    assert not np.shares_memory(target, out) and not np.shares_memory(target, x)
    np.testing.assert_array_equal(out, expected)
    if big is not None and layout == "strided_columns":
        assert np.isnan(big[..., 1::2]).all()


def test_public_out_overlapping_the_input():
    """corr2d(X, K, out=X): the result is that of the original X."""
    X = np.arange(42.0).reshape(6, 7)
    K = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, 1.0]])
    expected = fastconv.corr2d(X.copy(), K, padding="same", backend="naive")
    for name in ("naive", "auto"):
        Y = X.copy()
        assert fastconv.corr2d(Y, K, padding="same", backend=name, out=Y) is Y
        np.testing.assert_allclose(Y, expected, rtol=1e-12, atol=1e-12)


def test_out_none_returns_a_fresh_array(recording_backend):
    calls = recording_backend("test_out")
    x, w, geo, expected = _case()
    got = _engine.correlate(x, w, geo, backend="test_out")
    assert got is calls[-1].out and got.flags.c_contiguous and got.dtype == x.dtype
    np.testing.assert_array_equal(got, expected)
