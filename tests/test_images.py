"""Images as people have them: batches (..., H, W), channels anywhere via
``axes``, one kernel per channel, result dtypes (``dtype=``, ``out=``,
rounding and saturation), ndimage mode aliases and ignored-argument warnings.
Every fast path is checked against the oracle plane by plane."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from fastconv import kernels
from _oracle_cases import COMPILED_BACKENDS, examples, is_approximate, random_array, tolerance


def _planes_oracle(X, K, axes, **kwargs):
    """The oracle, one 2-D plane at a time, in X's layout (float64)."""
    Xm = np.moveaxis(X, axes, (-2, -1))
    batch = Xm.shape[:-2]
    planes = Xm.reshape((-1,) + Xm.shape[-2:]).astype(np.float64)
    K = np.asarray(K, dtype=np.float64)
    channels = K.shape[0] if K.ndim == 3 else 1
    out = [fastconv.corr2d(p, K[i % channels] if K.ndim == 3 else K, backend="naive", **kwargs)
           for i, p in enumerate(planes)]
    out = np.stack(out).reshape(batch + out[0].shape)
    return np.moveaxis(out, (-2, -1), axes)


@st.composite
def image_cases(draw):
    ndim = draw(st.integers(2, 4))
    axes = tuple(draw(st.permutations(range(ndim)))[:2])
    shape = [draw(st.integers(1, 3)) for _ in range(ndim)]
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    shape[axes[0]] = draw(st.integers(kh, kh + 7))
    shape[axes[1]] = draw(st.integers(kw, kw + 7))
    batch = [n for i, n in enumerate(shape) if i not in axes]
    stack = bool(batch) and draw(st.booleans())
    kshape = (batch[-1], kh, kw) if stack else (kh, kw)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X, K = random_array(rng, tuple(shape), dtype), random_array(rng, kshape, dtype)
    kwargs = {"padding": draw(st.sampled_from([0, 1, "same", "full"])),
              "stride": draw(st.sampled_from([1, 2, (1, 2)])),
              "mode": draw(st.sampled_from(["constant", "reflect", "symmetric", "edge", "wrap"]))}
    return X, K, axes, kwargs


@pytest.mark.parametrize("backend", ("naive",) + COMPILED_BACKENDS)
@settings(max_examples=examples(30))
@given(case=image_cases())
def test_batches_and_channels_match_the_oracle_plane_by_plane(backend, case):
    X, K, axes, kwargs = case
    if backend not in fastconv.available_backends():
        pytest.skip(f"{backend} not available")
    given_axes = axes if axes != (X.ndim - 2, X.ndim - 1) or axes[0] % 2 else None
    got = fastconv.corr2d(X, K, axes=given_axes, backend=backend, **kwargs)
    want = _planes_oracle(X, K, axes, **kwargs)
    assert got.shape == want.shape and got.dtype == X.dtype
    assert got.flags.c_contiguous
    tol = 1e-5 if is_approximate(backend) else tolerance(X.dtype)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, np.abs(want).max()))


def test_colour_image_channels_last_one_backend_call(monkeypatch):
    from fastconv import _engine

    calls = []
    real = _engine.correlate
    monkeypatch.setattr(_engine, "correlate", lambda *a, **k: calls.append(a[0].shape) or real(*a, **k))
    rng = np.random.default_rng(0)
    img = (rng.random((12, 17, 3)) * 255).astype(np.uint8)
    K = kernels.gaussian(1.0, 5)
    got = fastconv.corr2d(img, K, axes=(0, 1), padding="same", mode="reflect")
    # One plane whose columns interleave the channels, padded per channel (16 rows, (17 + 4) * 3 columns).
    assert calls == [(1, 1, 16, 63)], "all channels in one engine call, in place"
    assert got.shape == img.shape and got.dtype == np.float32
    want = np.stack([fastconv.corr2d(img[:, :, c].astype(np.float64), K, padding="same", mode="reflect")
                     for c in range(3)], axis=-1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


@st.composite
def channels_last_cases(draw):
    """Channels-last images (..., H, W, C...) with one 2-D kernel: the calls
    whose channels are folded into the columns (see fastconv._planes)."""
    lead = [draw(st.integers(1, 2)) for _ in range(draw(st.integers(0, 1)))]
    trail = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 2)))]
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h = draw(st.integers((kh - 1) * dh + 1, (kh - 1) * dh + 8))
    w = draw(st.integers((kw - 1) * dw + 1, (kw - 1) * dw + 8))
    shape = tuple(lead) + (h, w) + tuple(trail)
    dtype = draw(st.sampled_from([np.uint8, np.int16, np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = (rng.integers(0, 200, shape) if dtype in (np.uint8, np.int16) else rng.standard_normal(shape)).astype(dtype)
    if draw(st.booleans()):  # a strided view: every other column
        X = np.repeat(X, 2, axis=len(lead) + 1)[(slice(None),) * (len(lead) + 1) + (slice(None, None, 2),)]
    K = rng.standard_normal((kh, kw))
    mode = draw(st.sampled_from(["constant", "reflect", "symmetric", "edge", "wrap"]))
    kwargs = {"padding": draw(st.sampled_from([0, 1, "same", "full", ((0, 2), (1, 0))])),
              "stride": draw(st.sampled_from([1, (2, 1), (3, 1)])), "dilation": (dh, dw), "mode": mode,
              "cval": draw(st.sampled_from([0.0, 2.5])) if mode == "constant" else 0.0}
    return X, K, (len(lead), len(lead) + 1), kwargs


@settings(max_examples=examples(60))
@given(case=channels_last_cases(), use_out=st.booleans())
def test_channels_folded_into_columns_match_the_oracle(case, use_out):
    X, K, axes, kwargs = case
    X_before = X.copy()
    want = _planes_oracle(X, K, axes, **kwargs)
    out = np.full(want.shape, np.nan) if use_out else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastconv.IgnoredArgumentWarning)
        got = fastconv.corr2d(X, K, axes=axes, dtype=np.float64, out=out, **kwargs)
    assert got.shape == want.shape and got.dtype == np.float64
    assert out is None or got is out
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9 * max(1.0, np.abs(want).max()))
    np.testing.assert_array_equal(X, X_before)


def test_kernel_stack_is_one_kernel_per_channel():
    rng = np.random.default_rng(1)
    X = rng.random((2, 3, 9, 8))
    Ks = rng.random((3, 3, 2))
    got = fastconv.corr2d(X, Ks)
    for n in range(2):
        for c in range(3):
            np.testing.assert_allclose(got[n, c], fastconv.corr2d(X[n, c], Ks[c]), rtol=1e-12)
    flipped = fastconv.convolve2d(X, Ks)
    np.testing.assert_allclose(flipped[1, 2], fastconv.convolve2d(X[1, 2], Ks[2]), rtol=1e-12)


def test_out_in_callers_layout_is_written_in_place():
    rng = np.random.default_rng(2)
    X = rng.random((6, 7, 3)).astype(np.float32)
    out = np.zeros((6, 7, 3), np.float32)
    got = fastconv.corr2d(X, np.ones((3, 3)), axes=(0, 1), padding=1, out=out)
    assert got is out
    np.testing.assert_allclose(out, fastconv.corr2d(X, np.ones((3, 3)), axes=(0, 1), padding=1), rtol=1e-6)
    stack = np.zeros((4, 5, 6))
    assert fastconv.corr2d(rng.random((4, 5, 6)), [[1.0]], out=stack) is stack


def test_batch_backward_matches_plane_by_plane():
    rng = np.random.default_rng(3)
    X, Ks, g = rng.random((5, 6, 2)), rng.random((2, 2, 3)), rng.random((5, 6, 2))
    grads = fastconv.corr2d_backward(X, Ks, g, padding="same", mode="wrap", axes=(0, 1))
    assert grads.X.shape == X.shape and grads.K.shape == Ks.shape
    for c in range(2):
        one = fastconv.corr2d_backward(X[:, :, c], Ks[c], g[:, :, c], padding="same", mode="wrap")
        np.testing.assert_allclose(grads.X[:, :, c], one.X, rtol=1e-12)
        np.testing.assert_allclose(grads.K[c], one.K, rtol=1e-12)
    # A shared kernel's gradient is the sum over the planes.
    X3, g3 = rng.random((3, 5, 6)), rng.random((3, 4, 4))
    shared = fastconv.corr2d_backward(X3, np.ones((2, 3)), g3).K
    np.testing.assert_allclose(shared, sum(fastconv.corr2d_backward(X3[i], np.ones((2, 3)), g3[i]).K
                                           for i in range(3)), rtol=1e-12)


@pytest.mark.parametrize("axes, message", [
    ((0, 3), r"out of range for X with 3 dimensions \(accepted: -3 to 2\)"),
    ((1, -2), "names the same axis twice"),
    ((0,), "must name the two spatial axes"),
    ("01", "must name the two spatial axes"),
    ((0, 1.0), "axes must be an int"),
])
def test_bad_axes(axes, message):
    with pytest.raises((ValueError, TypeError), match=message):
        fastconv.corr2d(np.ones((5, 6, 3)), np.ones((2, 2)), axes=axes)


# ------------------------------------------------------------------ dtypes

def test_image_keeps_its_precision():
    X32 = np.ones((5, 6), np.float32)
    assert fastconv.corr2d(X32, kernels.box(3)).dtype == np.float32
    assert fastconv.corr2d(X32, np.ones((2, 2), np.int32)).dtype == np.float32
    assert fastconv.corr2d(np.ones((5, 6), np.uint8), kernels.box(3)).dtype == np.float32
    assert fastconv.corr2d(np.ones((5, 6), np.uint16), kernels.box(3)).dtype == np.float32
    assert fastconv.corr2d(np.ones((5, 6), np.int32), kernels.box(3)).dtype == np.float64
    assert fastconv.corr2d(np.ones((5, 6), np.uint8), np.ones((2, 2), np.uint8)).dtype == np.float64
    assert fastconv.corr2d(np.ones((5, 6)), np.ones((2, 2), np.float32)).dtype == np.float64


@pytest.mark.parametrize("dtype, want", [(np.float32, np.float32), (np.float64, np.float64),
                                         (np.float16, np.float16), ("float32", np.float32)])
def test_dtype_chooses_the_result(dtype, want):
    X = np.arange(30, dtype=np.uint8).reshape(5, 6)
    got = fastconv.corr2d(X, kernels.box(2), dtype=dtype)
    assert got.dtype == want
    np.testing.assert_allclose(got, fastconv.corr2d(X.astype(float), kernels.box(2)), rtol=1e-3)


def test_integer_dtype_rounds_half_to_even_and_saturates():
    X = np.array([[0, 1, 2, 3, 250, 255]], np.uint8)
    K = np.array([[0.5, 0.5]])
    got = fastconv.corr2d(X, K, dtype=np.uint8)
    np.testing.assert_array_equal(got, [[0, 2, 2, 126, 252]])  # 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 126.5 -> 126
    assert got.dtype == np.uint8
    big = fastconv.corr2d(X, np.array([[2.0, 2.0]]), dtype=np.uint8)
    assert big.max() == 255  # saturated, not wrapped
    neg = fastconv.corr2d(X, np.array([[-1.0, 0.0]]), dtype=np.uint8)
    assert neg.min() == 0
    s16 = fastconv.corr2d(np.full((2, 2), 30000, np.int16), np.ones((1, 2)), dtype=np.int16)
    np.testing.assert_array_equal(s16, [[32767], [32767]])
    nan = fastconv.corr2d(np.array([[np.nan, 1.0]]), np.ones((1, 1)), dtype=np.int32)
    np.testing.assert_array_equal(nan, [[0, 1]])
    wide = fastconv.corr2d(np.full((1, 2), 2.0**62), np.ones((1, 2)), dtype=np.int64)
    assert wide[0, 0] == np.iinfo(np.int64).max - 1023  # the largest float64 below 2**63


def test_out_dtype_sets_the_result_dtype():
    X = np.arange(30, dtype=np.uint8).reshape(5, 6)
    for dtype in (np.float16, np.float32, np.float64, np.uint8, np.int16, ">f8"):
        out = np.empty((4, 5), dtype)
        got = fastconv.corr2d(X, kernels.box(2), out=out)
        assert got is out
        want = fastconv.corr2d(X, kernels.box(2), dtype=np.dtype(dtype).newbyteorder("="))
        np.testing.assert_array_equal(out, want)


def test_float32_is_exact_for_small_integer_results():
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    K = rng.integers(-9, 10, (5, 5))
    exact = fastconv.corr2d(img, K)  # integers with integers: float64, exact
    for backend in ("naive",) + tuple(b for b in COMPILED_BACKENDS if not is_approximate(b)):
        if backend in fastconv.available_backends():
            got = fastconv.corr2d(img, K, dtype=np.float32, backend=backend)
            np.testing.assert_array_equal(got, exact)  # |sums| < 2**24


@pytest.mark.parametrize("name", ["box", "gaussian", "laplacian", "finite_difference", "edge", "sobel", "scharr"])
def test_kernels_accept_dtype(name):
    args = {"box": (3,), "gaussian": (1.0,), "laplacian": (), "finite_difference": (2,), "edge": ((1, 1),),
            "sobel": (), "scharr": ()}[name]
    fn = getattr(kernels, name)
    default, k32 = fn(*args), fn(*args, dtype=np.float32)
    for a, b in zip(*(v if isinstance(v, tuple) else (v,) for v in (default, k32))):
        assert a.dtype == np.float64 and b.dtype == np.float32
        np.testing.assert_array_equal(b, a.astype(np.float32))
    with pytest.raises(TypeError, match="dtype must be float16, float32 or float64"):
        fn(*args, dtype=np.int32)


# ------------------------------------------------------------------ modes

@pytest.mark.parametrize("alias, canonical", [("mirror", "reflect"), ("nearest", "edge"), ("grid-wrap", "wrap"),
                                              ("grid-constant", "constant")])
def test_ndimage_aliases(alias, canonical):
    rng = np.random.default_rng(5)
    X, K = rng.random((7, 9)), rng.random((3, 4))
    np.testing.assert_array_equal(fastconv.corr2d(X, K, padding="same", mode=alias),
                                  fastconv.corr2d(X, K, padding="same", mode=canonical))
    g = rng.random((7, 9))
    a = fastconv.corr2d_backward(X, K, g, padding="same", mode=alias)
    b = fastconv.corr2d_backward(X, K, g, padding="same", mode=canonical)
    np.testing.assert_array_equal(a.X, b.X)


def test_reflect_keeps_numpys_meaning_and_says_so():
    X = np.arange(4.0)[None]
    got = fastconv.corr2d(X, [[1.0]], padding=((0, 0), (2, 2)), mode="reflect")
    np.testing.assert_array_equal(got, np.pad(X, ((0, 0), (2, 2)), mode="reflect"))
    assert "mirror" in fastconv.corr2d.__doc__
    with pytest.raises(ValueError, match="'reflect' is numpy's.*'mirror'.*ndimage's 'reflect' is 'symmetric'"):
        fastconv.corr2d(X, [[1.0]], mode="reflect-101")


def test_mode_and_cval_that_cannot_apply_warn():
    X, K = np.ones((5, 6)), np.ones((2, 2))
    with pytest.warns(fastconv.IgnoredArgumentWarning, match="mode='reflect' has no effect"):
        fastconv.corr2d(X, K, mode="reflect")
    with pytest.warns(fastconv.IgnoredArgumentWarning, match="cval=2.0 has no effect: mode='edge'"):
        fastconv.corr2d(X, K, padding=1, mode="edge", cval=2.0)
    with pytest.warns(fastconv.IgnoredArgumentWarning, match="cval=1 has no effect: this call pads nothing"):
        fastconv.corr2d(X, K, cval=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastconv.corr2d(X, K, padding=1, mode="reflect")
        fastconv.corr2d(X, K, padding=1, cval=2.0)
        fastconv.corr2d(X, K)


# ------------------------------------------------------------------ complex

@pytest.mark.parametrize("backend", ("naive",) + COMPILED_BACKENDS)
@settings(max_examples=examples(20))
@given(case=image_cases(), parts=st.sampled_from(["both", "image", "kernel"]), cval=st.sampled_from([0, 1.5, 2 - 1j]))
def test_complex_through_real_correlations(backend, case, parts, cval):
    X, K, axes, kwargs = case
    if backend not in fastconv.available_backends():
        pytest.skip(f"{backend} not available")
    rng = np.random.default_rng(X.size)
    cdt = np.complex64 if X.dtype == np.float32 else np.complex128
    Xc = (X + 1j * rng.standard_normal(X.shape)).astype(cdt) if parts != "kernel" else X
    Kc = (K + 1j * rng.standard_normal(K.shape)).astype(cdt) if parts != "image" else K
    if np.iscomplexobj(cval) and parts == "kernel":
        cval = 1.5
    if kwargs["mode"] == "constant" and kwargs["padding"] != 0:
        kwargs = dict(kwargs, cval=cval)
    got = fastconv.corr2d(Xc, Kc, axes=axes, backend=backend, **kwargs)
    assert got.dtype == cdt
    xr, xi = np.real(Xc), np.imag(Xc)
    kr, ki = np.real(Kc), np.imag(Kc)
    kw_im = dict(kwargs, cval=np.imag(kwargs.get("cval", 0)))
    kw_re = dict(kwargs, cval=np.real(kwargs.get("cval", 0)))
    want = (_planes_oracle(xr, kr, axes, **kw_re) - _planes_oracle(xi, ki, axes, **kw_im)
            + 1j * (_planes_oracle(xr, ki, axes, **kw_re) + _planes_oracle(xi, kr, axes, **kw_im)))
    tol = 1e-5 if is_approximate(backend) else tolerance(X.dtype)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, np.abs(want).max()))


def test_complex_convolve2d_and_out():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((7, 8)) + 1j * rng.standard_normal((7, 8))
    K = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    np.testing.assert_allclose(fastconv.convolve2d(X, K), fastconv.corr2d(X, K[::-1, ::-1]), rtol=1e-12)
    out = np.empty((5, 6), np.complex128)
    assert fastconv.corr2d(X, K, out=out) is out
    np.testing.assert_allclose(out, fastconv.corr2d(X, K), rtol=1e-12)
    with pytest.raises(TypeError, match="grad_out|complex"):
        fastconv.corr2d_backward(X, K, out)


def test_unaligned_channels_last_image_is_copied_before_the_kernels_read_it():
    rng = np.random.default_rng(3)
    X = np.zeros(4 * 5 * 3 * 4 + 1, np.uint8)[1:].view(np.float32).reshape(4, 5, 3)  # C-contiguous, unaligned
    assert not X.flags.aligned
    X[...] = rng.random((4, 5, 3))
    got = fastconv.corr2d(X, np.ones((3, 3)), axes=(0, 1), padding=1)
    np.testing.assert_allclose(got, _planes_oracle(X, np.ones((3, 3)), (0, 1), padding=1), rtol=1e-5, atol=1e-5)
