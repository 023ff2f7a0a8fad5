"""fastconv.conv2d: the chapter's multi-channel examples, every backend
against the naive oracle and an independent reference, torch.nn.functional.conv2d
where installed, dtype rules, layouts and errors.

The ``backend`` fixture (conftest.py) runs a test on every backend that
loads; shapes stay small because ``naive`` is a Python loop.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from _oracle_cases import examples

F64_TOL = 1e-12
F32_TOL = 2e-5


def reference_conv2d(x, w, b=None, *, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """float64 NCHW conv2d written from the definition: per tap, a strided
    slice of the zero-padded input times the weight column (no fastconv code)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    ho = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, o, ho, wo))
    og = o // groups
    for g in range(groups):
        xs = xp[:, g * cg : (g + 1) * cg]
        for a in range(kh):
            for bb in range(kw):
                patch = xs[:, :, a * dh : a * dh + (ho - 1) * sh + 1 : sh, bb * dw : bb * dw + (wo - 1) * sw + 1 : sw]
                y[:, g * og : (g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og : (g + 1) * og, :, a, bb])
    if b is not None:
        y += np.asarray(b, dtype=np.float64)[:, None, None]
    return y


def as_pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def is_approximate(backend):
    """Backends that do not compute tap by tap (fft) publish ``error_bound``;
    they are held to a looser tolerance here (their own bound is tested in
    the core tests) and are not expected to propagate NaN position by position."""
    module = fastconv.backends.load(backend) if backend else None
    return module is not None and hasattr(module, "error_bound")


APPROX_FACTOR = 100  # tolerance multiplier for approximate backends


def assert_close_scaled(result, expected, x, w, dtype, b=None, backend=None):
    """Within the dtype's tolerance relative to max|x| * max_o sum|w[o]| (+ |b|)."""
    assert result.dtype == np.dtype(dtype)
    assert result.shape == expected.shape
    scale = max(1.0, np.abs(np.asarray(x, np.float64)).max() * np.abs(np.asarray(w, np.float64)).sum(axis=(1, 2, 3)).max())
    if b is not None:
        scale += np.abs(np.asarray(b, np.float64)).max()
    tol = F32_TOL if np.dtype(dtype) == np.float32 else F64_TOL
    if is_approximate(backend):
        tol *= APPROX_FACTOR
    np.testing.assert_allclose(result, expected, rtol=tol, atol=tol * scale)


# ---------------------------------------------------------------------------
# The chapter's examples (multiple input and output channels)
# ---------------------------------------------------------------------------

CHAPTER_X = np.array([[[0.0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]])
CHAPTER_K = np.array([[[0.0, 1], [2, 3]], [[1.0, 2], [3, 4]]])


def assert_same(a, b, backend):
    """Bit-equal for direct backends; within 1e-12 relative for approximate ones."""
    if is_approximate(backend):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(b).max()))
    else:
        np.testing.assert_array_equal(a, b)


def test_chapter_multi_input_channels(backend):
    Y = fastconv.conv2d(CHAPTER_X, CHAPTER_K[None], backend=backend)
    assert_same(Y, [[[56.0, 72.0], [104.0, 120.0]]], backend)
    # ... which is the sum over channels of the 2-D corr2d
    by_channel = sum(fastconv.corr2d(x, k, backend=backend) for x, k in zip(CHAPTER_X, CHAPTER_K))
    assert_same(Y[0], by_channel, backend)


def test_chapter_multi_output_channels(backend):
    K = np.stack((CHAPTER_K, CHAPTER_K + 1, CHAPTER_K + 2))  # (3, 2, 2, 2)
    Y = fastconv.conv2d(CHAPTER_X, K, backend=backend)
    expected = [
        [[56.0, 72.0], [104.0, 120.0]],
        [[76.0, 100.0], [148.0, 172.0]],
        [[96.0, 128.0], [192.0, 224.0]],
    ]
    assert_same(Y, np.array(expected), backend)
    for i in range(3):  # each output channel is the multi-input result for its kernel
        assert_same(Y[i], fastconv.conv2d(CHAPTER_X, K[i : i + 1], backend=backend)[0], backend)


def test_chapter_1x1_is_matrix_multiplication(backend):
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (3, 3, 3))
    K = rng.normal(0, 1, (2, 3, 1, 1))
    Y1 = fastconv.conv2d(X, K, backend=backend)
    Y2 = (K.reshape(2, 3) @ X.reshape(3, 9)).reshape(2, 3, 3)
    np.testing.assert_allclose(Y1, Y2, rtol=1e-12, atol=1e-11)


def test_single_channel_equals_corr2d(backend):
    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[0.0, 1], [2, 3]])
    Y = fastconv.conv2d(X[None, None], K[None, None], backend=backend)
    assert_same(Y[0, 0], np.array([[19.0, 25.0], [37.0, 43.0]]), backend)
    assert_same(Y[0, 0], fastconv.corr2d(X, K, backend=backend), backend)


# ---------------------------------------------------------------------------
# Property tests: every backend against the oracle and the reference
# ---------------------------------------------------------------------------


@st.composite
def conv_cases(draw, dtypes=(np.float32, np.float64), max_side=9):
    """(x, w, b, kwargs) for conv2d: channels, groups (depthwise too), every padding form."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    depthwise = draw(st.booleans()) and groups > 1
    cg = 1 if depthwise else draw(st.integers(1, 3))
    og = draw(st.integers(1, 2 if depthwise else 3))
    n = draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.sampled_from([1, 2, 3, (1, 2), (3, 1)]))
    dilation = draw(st.sampled_from([1, 1, 2, (2, 1)]))
    padding = draw(
        st.one_of(
            st.integers(0, 2),
            st.tuples(st.integers(0, 2), st.integers(0, 2)),
            st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)), st.tuples(st.integers(0, 2), st.integers(0, 2))),
            st.sampled_from(["valid", "same", "full"]),
        )
    )
    dh, dw = as_pair(dilation)
    from fastconv._geometry import Geometry

    spans = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    h = draw(st.integers(max(1, spans[0] - 4), max_side))
    w = draw(st.integers(max(1, spans[1] - 4), max_side))
    try:
        geo = Geometry.from_args((h, w), (kh, kw), padding, stride, dilation)
    except ValueError:  # kernel larger than the padded input: use the kernel's span
        h, w = max(h, spans[0]), max(w, spans[1])
        geo = Geometry.from_args((h, w), (kh, kw), padding, stride, dilation)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from(dtypes))
    x = rng.standard_normal((n, cg * groups, h, w)).astype(dtype)
    weight = rng.standard_normal((og * groups, cg, kh, kw)).astype(dtype)
    b = rng.standard_normal(og * groups).astype(dtype) if draw(st.booleans()) else None
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return x, weight, b, kwargs, geo


@settings(max_examples=examples(40), deadline=None)
@given(case=conv_cases())
def test_every_backend_matches_oracle_and_reference(backend, case):
    x, w, b, kwargs, geo = case
    result = fastconv.conv2d(x, w, b, backend=backend, **kwargs)
    expected = reference_conv2d(x, w, b, stride=geo.stride, pads=geo.pads, dilation=geo.dilation, groups=kwargs["groups"])
    assert_close_scaled(result, expected, x, w, x.dtype, b, backend)
    if backend != "naive":
        oracle = fastconv.conv2d(x, w, b, backend="naive", **kwargs)
        assert_close_scaled(result, oracle, x, w, x.dtype, b, backend)


@settings(max_examples=examples(40), deadline=None)
@given(case=conv_cases())
def test_matches_torch(case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b, kwargs, geo = case
    result = fastconv.conv2d(x, w, b, **kwargs)
    # torch takes symmetric padding only: pad explicitly, then a valid conv
    (top, bottom), (left, right) = geo.pads
    xt = F.pad(torch.from_numpy(x), (left, right, top, bottom))
    bt = None if b is None else torch.from_numpy(b)
    expected = F.conv2d(xt, torch.from_numpy(w), bt, stride=kwargs["stride"], dilation=kwargs["dilation"], groups=kwargs["groups"])
    assert_close_scaled(result, expected.numpy().astype(np.float64), x, w, x.dtype, b)


def test_torch_padding_forms_agree():
    """conv2d's int/pair/"same"/"valid" padding mean what torch's do."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 9, 8))
    w = rng.standard_normal((6, 2, 4, 3))
    for padding in (1, (2, 1), "same", "valid"):
        ours = fastconv.conv2d(x, w, groups=2, padding=padding, dilation=(1, 2))
        theirs = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), groups=2, padding=padding, dilation=(1, 2)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12, err_msg=str(padding))


@pytest.mark.parametrize("channels", [1, 3, 5])
def test_depthwise(backend, channels):
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((2, channels, 7, 6))
    w = rng.standard_normal((2 * channels, 1, 3, 3))  # channel multiplier 2
    y = fastconv.conv2d(x, w, groups=channels, padding=1, backend=backend)
    for o in range(2 * channels):
        for n in range(2):
            np.testing.assert_allclose(y[n, o], fastconv.corr2d(x[n, o // 2], w[o, 0], padding=1, backend="naive"), rtol=1e-12, atol=1e-11)


# ---------------------------------------------------------------------------
# dtypes, shapes, layouts, out=
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "xdt, wdt, bdt, expected",
    [
        (np.float32, np.float32, None, np.float32),
        (np.float32, np.float32, np.float32, np.float32),
        (np.float64, np.float64, None, np.float64),
        (np.float32, np.float64, None, np.float64),
        (np.float32, np.float32, np.float64, np.float64),
        (np.int32, np.int32, None, np.float64),
        (np.uint8, np.float32, None, np.float32),
        (np.bool_, np.int16, np.int64, np.float64),
        (np.float16, np.float16, None, np.float32),
    ],
)
def test_dtype_rules(xdt, wdt, bdt, expected):
    x = np.ones((1, 2, 4, 4), dtype=xdt)
    w = np.ones((3, 2, 2, 2), dtype=wdt)
    b = None if bdt is None else np.arange(3).astype(bdt)
    y = fastconv.conv2d(x, w, b)
    assert y.dtype == expected
    expected_values = 8.0 + (0 if b is None else np.arange(3.0)[:, None, None])
    np.testing.assert_array_equal(y[0], np.broadcast_to(expected_values, (3, 3, 3)))


def test_unbatched_input_gives_unbatched_output(backend):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 6, 5))
    w = rng.standard_normal((4, 3, 2, 2))
    b = rng.standard_normal(4)
    y3 = fastconv.conv2d(x, w, b, backend=backend, padding=1)
    y4 = fastconv.conv2d(x[None], w, b, backend=backend, padding=1)
    assert y3.shape == (4, 7, 6)
    assert_same(y3, y4[0], backend)


def test_empty_batch():
    y = fastconv.conv2d(np.zeros((0, 2, 5, 5)), np.ones((3, 2, 3, 3)), np.ones(3), padding=1)
    assert y.shape == (0, 3, 5, 5) and y.dtype == np.float64


@pytest.mark.parametrize(
    "layout",
    [
        lambda a: a,
        lambda a: np.asfortranarray(a),
        lambda a: np.ascontiguousarray(a[..., ::-1])[..., ::-1],
        lambda a: np.ascontiguousarray(a.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3),
        lambda a: a.astype(a.dtype.newbyteorder()),
        lambda a: a.tolist(),
    ],
    ids=["C", "fortran", "negative_strides", "NC_transposed", "byteswapped", "list"],
)
def test_layouts_and_inputs_unmodified(backend, layout):
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((2, 2, 5, 6))
    w0 = rng.standard_normal((2, 2, 3, 2))
    x, w = layout(x0), layout(w0)
    before = (np.array(x).copy(), np.array(w).copy())
    y = fastconv.conv2d(x, w, stride=(2, 1), padding=1, backend=backend)
    expected = reference_conv2d(x0, w0, stride=(2, 1), pads=((1, 1), (1, 1)))
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-11)
    np.testing.assert_array_equal(np.array(x), before[0])
    np.testing.assert_array_equal(np.array(w), before[1])


def test_read_only_inputs(backend):
    x = np.ones((1, 1, 4, 4))
    w = np.ones((1, 1, 2, 2))
    b = np.ones(1)
    for a in (x, w, b):
        a.setflags(write=False)
    assert_same(fastconv.conv2d(x, w, b, backend=backend), np.full((1, 1, 3, 3), 5.0), backend)


def test_out_argument(backend):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    out = np.full((2, 3, 5, 5), np.nan, dtype=np.float32)
    y = fastconv.conv2d(x, w, b, padding=1, out=out, backend=backend)
    assert y is out
    assert_close_scaled(out, reference_conv2d(x, w, b, pads=((1, 1), (1, 1))), x, w, np.float32, b, backend)
    # a non-contiguous out (written through a copy) and the unbatched form
    big = np.zeros((3, 5, 10), dtype=np.float32)
    view = big[:, :, ::2]
    assert fastconv.conv2d(x[0], w, b, padding=1, out=view, backend=backend) is view
    np.testing.assert_allclose(view, out[0], rtol=1e-5, atol=1e-5)


def test_threads_setting_does_not_change_results(backend):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 8, 8))
    w = rng.standard_normal((4, 3, 3, 3))
    expected = fastconv.conv2d(x, w, padding=1, backend=backend)
    old = fastconv.get_threads()
    try:
        fastconv.set_threads(1)
        np.testing.assert_allclose(fastconv.conv2d(x, w, padding=1, backend=backend), expected, rtol=1e-12, atol=1e-12)
    finally:
        fastconv.set_threads(old)


def test_nan_and_inf_propagate(backend):
    if is_approximate(backend):
        pytest.skip(f"{backend} spreads one NaN over the whole image (documented)")
    x = np.ones((1, 2, 4, 4))
    x[0, 1, 1, 1] = np.nan
    x[0, 0, 3, 3] = np.inf
    w = np.ones((2, 2, 2, 2))
    w[1] = 0.0  # 0 * inf and 0 * nan are nan too: every tap is multiplied
    y = fastconv.conv2d(x, w, backend=backend)
    expected = reference_conv2d(np.nan_to_num(x, nan=0, posinf=0), w)
    nan_mask = np.zeros((1, 2, 3, 3), dtype=bool)
    nan_mask[0, :, 0:2, 0:2] = True
    nan_mask[0, 1, 2, 2] = True  # 0 * inf
    assert np.array_equal(np.isnan(y), nan_mask)
    assert y[0, 0, 2, 2] == np.inf
    finite = ~np.isnan(y) & np.isfinite(y)
    np.testing.assert_array_equal(y[finite], expected[finite])


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

X4 = np.ones((2, 4, 6, 6))
W4 = np.ones((6, 2, 3, 3))


@pytest.mark.parametrize(
    "args, kwargs, exc, match",
    [
        ((np.ones((6, 6)), W4), {}, ValueError, r"x must be \(N, C, H, W\) or \(C, H, W\).*fastconv.corr2d"),
        ((np.ones((1, 2, 3, 4, 5)), W4), {}, ValueError, r"x must be .*\(ndim 5\)"),
        ((X4, np.ones((6, 4, 3))), {}, ValueError, r"weight must be \(O, C/groups, kh, kw\)"),
        ((X4, np.ones((6, 3, 3, 3))), {}, ValueError, r"channel mismatch: x has 4 channels"),
        ((X4, W4), {}, ValueError, r"channel mismatch.*groups=1.*\(O, 4, kh, kw\)"),
        ((X4, np.ones((6, 1, 3, 3))), {"groups": 3}, ValueError, r"groups=3 does not divide the input's 4 channels"),
        ((X4, np.ones((6, 1, 3, 3))), {"groups": 4}, ValueError, r"groups=4 does not divide the weight's 6 output"),
        ((X4, W4), {"groups": 0}, ValueError, r"groups must be >= 1"),
        ((X4, W4), {"groups": True}, TypeError, r"groups must be an int"),
        ((X4, W4), {"groups": 2.0}, TypeError, r"groups must be an int"),
        ((X4, W4, np.ones(5)), {"groups": 2}, ValueError, r"bias must have shape \(6,\).*got \(5,\)"),
        ((X4, W4, np.ones((6, 1))), {"groups": 2}, ValueError, r"bias must have shape"),
        ((np.ones((2, 0, 6, 6)), np.ones((6, 0, 3, 3))), {}, ValueError, r"x is empty"),
        ((np.ones((2, 4, 0, 6)), W4), {"groups": 2}, ValueError, r"x is empty"),
        ((X4, np.ones((0, 2, 3, 3))), {"groups": 2}, ValueError, r"weight is empty"),
        ((X4, np.ones((6, 2, 7, 3))), {"groups": 2}, ValueError, r"kernel of shape \(7, 3\) is larger than the padded input \(6, 6\)"),
        ((X4, W4), {"groups": 2, "stride": 0}, ValueError, r"stride must be >= 1"),
        ((X4, W4), {"groups": 2, "dilation": (1, 0)}, ValueError, r"dilation must be >= 1"),
        ((X4, W4), {"groups": 2, "padding": "circular"}, ValueError, r"unknown padding 'circular'; accepted"),
        ((X4, W4), {"groups": 2, "padding": -1}, ValueError, r"padding must be >= 0"),
        ((X4, W4), {"groups": 2, "backend": "cudnn"}, ValueError, r"unknown backend 'cudnn'; available: naive"),
        ((X4.astype(complex), W4), {"groups": 2}, TypeError, r"x has dtype complex128.*accepted input dtypes"),
        ((X4, W4.astype(object)), {"groups": 2}, TypeError, r"weight has dtype object"),
        ((X4, W4, np.array(["a"] * 6)), {"groups": 2}, TypeError, r"bias has dtype <U1"),
        ((X4, W4), {"groups": 2, "out": np.empty((2, 6, 4, 5))}, ValueError, r"out has shape \(2, 6, 4, 5\), expected \(2, 6, 4, 4\)"),
        ((X4, W4), {"groups": 2, "out": np.empty((2, 6, 4, 4), np.float32)}, TypeError, r"out has dtype float32, expected float64"),
        ((X4, W4), {"groups": 2, "out": [[0.0]]}, TypeError, r"out must be a numpy.ndarray"),
    ],
)
def test_errors(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fastconv.conv2d(*args, **kwargs)


def test_error_messages_match_corr2d():
    """The shared checks say the same thing for conv2d and corr2d."""
    for kwargs in ({"stride": 0}, {"padding": "circular"}, {"dilation": (1, 0)}, {"backend": "cudnn"}):
        with pytest.raises(ValueError) as c:
            fastconv.corr2d(np.ones((6, 6)), np.ones((3, 3)), **kwargs)
        with pytest.raises(ValueError) as v:
            fastconv.conv2d(np.ones((1, 1, 6, 6)), np.ones((1, 1, 3, 3)), **kwargs)
        assert str(c.value) == str(v.value)


def test_out_may_alias_the_input(backend):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 5, 5))
    w = rng.standard_normal((2, 2, 3, 3))
    b = rng.standard_normal(2)
    expected = reference_conv2d(x, w, b, pads=((1, 1), (1, 1)))
    y = fastconv.conv2d(x, w, b, padding=1, out=x, backend=backend)
    assert y is x
    np.testing.assert_allclose(x, expected, rtol=1e-10, atol=1e-10)
