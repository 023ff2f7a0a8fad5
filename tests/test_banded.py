"""Integer images in, integer images out on the banded kernel
(fastconv.backends.banded, dispatched by fastconv._corr2d): against the
naive oracle, against the float path it replaces, and the dispatch itself."""
import contextlib
import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from _oracle_cases import REQUIRE_COMPILED, examples

import fastconv
from fastconv import _args, _corr2d, compat
from fastconv import settings as fc_settings

INTS = (np.uint8, np.int8, np.uint16, np.int16)
MODES = ("constant", "reflect", "symmetric", "edge", "wrap")
needs_banded = pytest.mark.skipif(_corr2d._banded is None, reason="fastconv.backends._banded was not built")


def test_the_banded_kernel_is_built_where_compiled_code_is_required():
    if REQUIRE_COMPILED:
        assert _corr2d._banded is not None, "fastconv.backends._banded was not built"


@contextlib.contextmanager
def counting_banded_calls(serial_macs=None):
    """Count the calls that reach the banded kernel (and optionally lower the
    serial threshold so that small images split over threads)."""
    calls = []
    original, serial = _corr2d._banded.correlate, fc_settings.SERIAL_MACS

    def spy(*args):
        calls.append(args)
        return original(*args)

    _corr2d._banded.correlate = spy
    if serial_macs is not None:
        fc_settings.SERIAL_MACS = serial_macs
    try:
        yield calls
    finally:
        _corr2d._banded.correlate, fc_settings.SERIAL_MACS = original, serial


def rounded(y, dtype):
    """The oracle's float64 result as ``dtype``: ties to even, saturated, NaN -> 0."""
    info = np.iinfo(dtype)
    return np.clip(np.rint(np.nan_to_num(y, nan=0.0)), info.min, info.max).astype(dtype)


@st.composite
def integer_cases(draw):
    """An integer image in one of the layouts the banded kernel folds into
    (N, H, W, C), in a random memory layout, with a kernel whose taps are
    multiples of 1/8 (float32 sums of such products are exact, so results
    must equal the oracle's exactly, ties included)."""
    layout = draw(st.sampled_from(["2d", "stack", "hwc", "nhwc"]))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    # Images as small as one pixel: kernels larger than the image, padding wider than it
    h = draw(st.integers(1, 12 + (kh - 1) * dh))
    w = draw(st.integers(1, 12 + (kw - 1) * dw))
    c = draw(st.integers(1, 4))
    shape, axes = {"2d": ((h, w), None), "stack": ((2, h, w), None), "hwc": ((h, w, c), (0, 1)),
                   "nhwc": ((2, h, w, c), (1, 2))}[layout]
    dtype = np.dtype(draw(st.sampled_from(INTS)))
    info = np.iinfo(dtype)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.integers(info.min, int(info.max) + 1, shape).astype(dtype)
    memory = draw(st.sampled_from(["c", "fortran", "strided", "reversed", "swapped", "readonly"]))
    if memory == "fortran":
        X = np.asfortranarray(X)
    elif memory == "strided":
        X = np.repeat(X, 2, axis=-1)[..., ::2]
    elif memory == "reversed":
        X = np.ascontiguousarray(X[::-1])[::-1]
    elif memory == "swapped":
        X = X.astype(dtype.newbyteorder())
    elif memory == "readonly":
        X.flags.writeable = False
    K = rng.integers(-16, 17, (kh, kw)) / 8.0
    mode = draw(st.sampled_from(MODES))
    kwargs = {"padding": draw(st.sampled_from([0, 1, "same", "full", ((0, 2), (1, 0)), ((3, 0), (0, 4))])),
              "stride": draw(st.sampled_from([1, (2, 1), (1, 2), (3, 2)])), "dilation": (dh, dw), "mode": mode,
              "cval": draw(st.sampled_from([0.0, 2.5, -7.0])) if mode == "constant" else 0.0, "axes": axes}
    out_dtype = np.dtype(draw(st.sampled_from(INTS)))
    return X, K, out_dtype, kwargs


@needs_banded
@settings(max_examples=examples(150), deadline=None)
@given(case=integer_cases(), use_out=st.sampled_from([None, "contiguous", "strided"]), threaded=st.booleans())
def test_integer_images_match_the_oracle_exactly(case, use_out, threaded):
    X, K, out_dtype, kwargs = case
    X_before = X.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastconv.IgnoredArgumentWarning)
        try:
            want = rounded(fastconv.corr2d(X.astype(np.float64), K, backend="naive", **kwargs), out_dtype)
        except ValueError:  # the kernel is larger than the padded image: both paths refuse it
            with pytest.raises(ValueError):
                fastconv.corr2d(X, K, dtype=out_dtype, backend="cython", **kwargs)
            return
        pending = _args.corr2d_call(X, K, dtype=out_dtype, integer_ok=True, **kwargs).pending
        out = None
        if use_out == "contiguous":
            out = np.full(want.shape, 99, out_dtype)
        elif use_out == "strided":
            out = np.full(want.shape[:-1] + (2 * want.shape[-1],), 99, out_dtype)[..., ::2]
        with counting_banded_calls(0 if threaded else None) as calls:
            got = fastconv.corr2d(X, K, dtype=out_dtype, out=out, backend="cython", **kwargs)
    assert len(calls) == pending  # the dispatch runs the kernel exactly when integer_image takes the call
    assert got.dtype == out_dtype and got.shape == want.shape
    assert out is None or got is out
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(X, X_before)


def test_channels_last_column_stride_keeps_the_float_path():
    X = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    assert not _args.corr2d_call(X, np.ones((2, 2)), axes=(0, 1), stride=(1, 2), dtype=np.uint8,
                                 integer_ok=True).pending
    assert _args.corr2d_call(X, np.ones((2, 2)), axes=(0, 1), stride=(2, 1), dtype=np.uint8, integer_ok=True).pending
    assert _args.corr2d_call(X[..., 0], np.ones((2, 2)), stride=(1, 2), dtype=np.uint8, integer_ok=True).pending
    for refused in ({"dtype": np.float32}, {"dtype": np.int32}, {"dtype": ">u2"}):  # float/32-bit/swapped results
        assert not _args.corr2d_call(X, np.ones((2, 2)), axes=(0, 1), integer_ok=True, **refused).pending
    assert not _args.corr2d_call(X, np.ones((3, 2, 2)), axes=(0, 1), dtype=np.uint8, integer_ok=True).pending
    assert not _args.corr2d_call(X.astype(np.int32), np.ones((2, 2)), axes=(0, 1), dtype=np.int16,
                                 integer_ok=True).pending


@needs_banded
@pytest.mark.parametrize("mode", MODES)
def test_random_kernels_equal_the_float_path(mode):
    """With any float kernel the banded sums are the cython backend's on the
    padded float32 image: the results equal today's float path rounded,
    except that a zero border (constant, cval 0) skips zero taps there."""
    rng = np.random.default_rng(3)
    rgb, gray = rng.integers(0, 256, (37, 41, 3), dtype=np.uint8), rng.integers(0, 256, (300, 200), dtype=np.uint8)
    for X, K in itertools.product((rgb, gray), (rng.standard_normal((3, 3)), rng.random((4, 5)),
                                                rng.standard_normal((1, 7)))):
        kwargs = {"padding": "same", "mode": mode, "axes": (0, 1) if X.ndim == 3 else None}
        with counting_banded_calls() as calls:
            got = fastconv.corr2d(X, K, dtype=np.uint8, backend="cython", **kwargs)
        assert len(calls) == 1
        y = fastconv.corr2d(X, K, dtype=np.float32, backend="cython", **kwargs)
        want = rounded(y.astype(np.float64), np.uint8)
        if mode == "constant":  # the zero border's sums may differ in the last bit: only ties can flip
            tie = np.abs(np.abs(y - np.floor(y)) - 0.5) < 1e-3
            np.testing.assert_array_equal(got[~tie], want[~tie])
            assert np.abs(got.astype(int) - want).max() <= 1
        else:
            np.testing.assert_array_equal(got, want)


@needs_banded
def test_nonfinite_kernels_keep_the_stores_semantics():
    X = np.arange(5 * 6 * 2, dtype=np.uint8).reshape(5, 6, 2)
    for bad in (np.nan, np.inf, -np.inf):
        K = np.ones((3, 3))
        K[1, 2] = bad
        for mode in ("constant", "reflect"):
            want = rounded(fastconv.corr2d(X.astype(np.float64), K, padding=1, mode=mode, axes=(0, 1),
                                           backend="naive"), np.int16)
            with counting_banded_calls() as calls:
                got = fastconv.corr2d(X, K, padding=1, mode=mode, axes=(0, 1), dtype=np.int16, backend="cython")
            assert len(calls) == 1
            np.testing.assert_array_equal(got, want)  # NaN -> 0, +-inf saturate, 0 * inf in the border -> 0


@needs_banded
def test_calls_from_many_threads_at_once():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(11)
    images = [rng.integers(0, 256, (90 + i, 70, 3), dtype=np.uint8) for i in range(16)]
    K = rng.standard_normal((3, 3))
    kwargs = {"padding": "same", "mode": "symmetric", "axes": (0, 1), "dtype": np.uint8, "backend": "cython"}
    want = [fastconv.corr2d(X, K, **kwargs) for X in images]
    with counting_banded_calls(0) as calls, ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda X: fastconv.corr2d(X, K, **kwargs), images * 4))
    assert len(calls) == 64
    for i, y in enumerate(got):
        np.testing.assert_array_equal(y, want[i % 16])


@needs_banded
def test_out_aliasing_the_image():
    rng = np.random.default_rng(7)
    X = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    K = rng.random((3, 3)) / 4
    want = fastconv.corr2d(X, K, padding="same", mode="edge", axes=(0, 1), dtype=np.uint8)
    got = fastconv.corr2d(X, K, padding="same", mode="edge", axes=(0, 1), out=X)
    assert got is X
    np.testing.assert_array_equal(X, want)


@needs_banded
def test_auto_follows_the_planner():
    """auto runs the banded kernel where the planner picks cython for the
    float32 problem, and the float path where it picks another backend."""
    rng = np.random.default_rng(2)
    X = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    K = rng.standard_normal((3, 3))
    call = _args.corr2d_call(X, K, padding=1, mode="reflect", axes=(0, 1), dtype=np.uint8, integer_ok=True)
    with counting_banded_calls() as calls:
        fastconv.corr2d(X, K, padding=1, mode="reflect", axes=(0, 1), dtype=np.uint8)
    assert len(calls) == _corr2d.banded_chosen(call)
    with counting_banded_calls() as calls:
        fastconv.corr2d(X, K, padding=1, mode="reflect", axes=(0, 1), dtype=np.uint8, backend="gemm")
    assert not calls
    assert not _corr2d.banded_chosen(call._replace(backend="direct")) and _corr2d.banded_chosen(
        call._replace(backend="cython"))


@needs_banded
@pytest.mark.parametrize("shape, axes", [((60, 70, 3), (0, 1)), ((60, 70), None), ((3, 40, 50), None)])
@pytest.mark.parametrize("mode", ["constant", "reflect"])
@pytest.mark.parametrize("kernel", ["random 3x3", "gaussian 5x5", "box 15x15"])
def test_plan_shows_the_decision(shape, axes, mode, kernel):
    """plan() explains the float32 problem the banded kernel replaces: it
    shows cython exactly when the call runs the banded kernel."""
    rng = np.random.default_rng(5)
    X = rng.integers(0, 256, shape, dtype=np.uint8)
    K = {"random 3x3": rng.standard_normal((3, 3)), "gaussian 5x5": fastconv.kernels.gaussian(1.0, 5),
         "box 15x15": np.ones((15, 15)) / 225}[kernel]
    kwargs = {"padding": "same", "mode": mode, "axes": axes, "dtype": np.uint8}
    call = _args.corr2d_call(X, K, integer_ok=True, **kwargs)
    assert call.pending
    plan = fastconv.plan(X, K, **kwargs)
    assert _corr2d.banded_chosen(call) == (plan.backend == "cython") == ("band by band" in plan.reason)


@needs_banded
def test_filter2d_runs_the_banded_kernel_and_agrees_with_opencv():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(8)
    count = 0
    for src in (rng.integers(0, 256, (23, 31, 3), dtype=np.uint8), rng.integers(0, 65536, (19, 17), dtype=np.uint16),
                rng.integers(-30000, 30000, (18, 21, 2), dtype=np.int16)):
        for kshape in ((3, 3), (2, 2), (4, 5), (1, 6)):
            K = rng.standard_normal(kshape)
            for border in ("BORDER_CONSTANT", "BORDER_REPLICATE", "BORDER_REFLECT", "BORDER_REFLECT_101"):
                for anchor in ((-1, -1), (0, 0), (kshape[1] - 1, kshape[0] - 1)):
                    with counting_banded_calls(0) as calls:
                        ours = compat.filter2D(src, -1, K, anchor=anchor, borderType=getattr(compat, border))
                    theirs = cv2.filter2D(src, -1, K, anchor=anchor, borderType=getattr(cv2, border))
                    assert ours.dtype == theirs.dtype
                    # float32 sums on both sides, in different orders: a tie may round either way
                    assert np.abs(ours.astype(np.int64) - theirs.astype(np.int64)).max() <= 1
                    assert np.mean(ours == theirs) > 0.99
                    count += len(calls)
    print(f"cv2.filter2D integer images on the banded kernel: {count} cases agree")
    assert count >= 100  # under auto: the planner chose cython for these


@needs_banded
@pytest.mark.parametrize("dtype", INTS)
def test_compiled_store_equals_the_numpy_store(dtype):
    from fastconv._dtypes import store

    rng = np.random.default_rng(9)
    y = (rng.standard_normal(5000) * 40000).astype(np.float32)
    y[:8] = [np.nan, np.inf, -np.inf, 0.5, 1.5, -2.5, 255.5, 32767.5]
    y[8:200] = np.arange(-96, 96) + 0.5  # ties
    y = y.reshape(50, 100)
    got = _corr2d.store_result(y.copy(), np.dtype(dtype))
    want = store(y.copy(), np.dtype(dtype))
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
    out = np.empty(y.shape, dtype)
    assert _corr2d.store_result(y.copy(), np.dtype(dtype), out) is out
    np.testing.assert_array_equal(out, want)
