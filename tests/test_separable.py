"""The separable backend (rank-1 kernels as two 1-D passes) against the oracle.

Tolerance: the backend's published ``error_bound`` plus the oracle's own
rounding, u * |y| (the same rule as for fft). The shared property tests
already run it on random (full-rank) kernels, where it delegates to a
direct backend; these tests aim at the two-pass path itself.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from fastconv.backends import naive, separable
from fastconv._padding import pad_spatial
from fastconv._geometry import Geometry

DTYPES = (np.float32, np.float64)


def _check(got, ref, xp, w, stride, dilation, groups):
    u = np.finfo(ref.dtype).eps / 2
    tol = separable.error_bound(xp, w, ref.shape, stride, dilation, groups) + u * np.abs(ref)
    err = np.abs(got.astype(np.float64) - ref)
    assert np.all(err <= tol), f"max error {err.max():.3g}, bound {tol.min():.3g}"


def _gauss(k, sigma):
    x = np.arange(k) - (k - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return np.outer(g / g.sum(), g / g.sum())


@pytest.mark.parametrize("kernel", ["box", "gauss", "binomial", "outer", "sobel_x"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_classic_kernels_take_the_two_pass_path(kernel, dtype):
    K = {
        "box": np.ones((5, 5)) / 25,
        "gauss": _gauss(7, 1.5),
        "binomial": np.outer([1, 2, 1], [1, 2, 1]) / 16,
        "outer": np.outer([1.0, -2.0, 0.5, 3.0], [0.25, 1.0, -1.0]),
        "sobel_x": np.outer([1, 2, 1], [-1, 0, 1]),
    }[kernel].astype(dtype)
    w = K[None, None]
    assert separable.accepts(w) is None
    col, row = separable.factors(w)
    np.testing.assert_allclose(np.outer(col[0], row[0]), K, atol=10 * np.finfo(dtype).eps * np.abs(K).max())
    X = np.random.default_rng(0).standard_normal((40, 37)).astype(dtype)
    got = fastconv.corr2d(X, K, padding="same", backend="separable")
    ref = fastconv.corr2d(X, K, padding="same", backend="naive")
    assert got.dtype == dtype
    xp = pad_spatial(X[None, None], Geometry.from_args(X.shape, K.shape, "same").pads, "constant", 0.0)
    _check(got[None, None], ref[None, None], xp, w, (1, 1), (1, 1), 1)


def test_supports_reasons():
    rng = np.random.default_rng(1)
    assert "not rank 1" in separable.accepts(rng.standard_normal((1, 1, 3, 3)))
    assert "C/groups" in separable.accepts(np.ones((2, 3, 3, 3)))
    assert "1-D" in separable.accepts(np.ones((1, 1, 1, 5)))
    assert separable.accepts(np.ones((4, 1, 3, 3))) is None  # depthwise box
    assert separable.factors(np.full((1, 1, 3, 3), np.nan)) is None


def test_full_rank_kernel_is_delegated_and_correct():
    rng = np.random.default_rng(2)
    xp = rng.standard_normal((2, 3, 15, 16))
    w = rng.standard_normal((6, 3, 3, 3))
    got = np.empty((2, 6, 13, 14))
    ref = np.empty_like(got)
    separable.correlate(xp, w, got, (1, 1), (1, 1), 1)
    naive.correlate(xp, w, ref, (1, 1), (1, 1), 1)
    _check(got, ref, xp, w, (1, 1), (1, 1), 1)


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 3),
    mult=st.integers(1, 2),
    h=st.integers(1, 25),
    wd=st.integers(1, 25),
    kh=st.integers(2, 7),
    kw=st.integers(2, 7),
    stride=st.sampled_from([(1, 1), (2, 2), (1, 3), (3, 1)]),
    dilation=st.sampled_from([(1, 1), (2, 1), (1, 2), (3, 2)]),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**32 - 1),
)
def test_rank1_depthwise_matches_oracle(n, c, mult, h, wd, kh, kw, stride, dilation, dtype, seed):
    rng = np.random.default_rng(seed)
    h = max(h, dilation[0] * (kh - 1) + 1)
    wd = max(wd, dilation[1] * (kw - 1) + 1)
    xp = rng.standard_normal((n, c, h, wd)).astype(dtype)
    o = c * mult
    w = np.einsum("oa,ob->oab", rng.standard_normal((o, kh)), rng.standard_normal((o, kw)))[:, None].astype(dtype)
    ho = (h - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    got = np.full((n, o, ho, wo), np.nan, dtype=dtype)
    ref = np.empty_like(got)
    separable.correlate(xp, w, got, stride, dilation, c)
    naive.correlate(xp, w, ref, stride, dilation, c)
    _check(got, ref, xp, w, stride, dilation, c)


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(6, 20),
    wd=st.integers(6, 20),
    k=st.integers(2, 5),
    padding=st.sampled_from([0, 1, "same", "full", ((0, 2), (3, 1))]),
    mode=st.sampled_from(["constant", "reflect", "symmetric", "edge", "wrap"]),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**32 - 1),
)
def test_corr2d_rank1_with_padding_modes(h, wd, k, padding, mode, dtype, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((h, wd)).astype(dtype)
    K = np.outer(rng.standard_normal(k), rng.standard_normal(k + 1)).astype(dtype)
    got = fastconv.corr2d(X, K, padding=padding, mode=mode, backend="separable")
    ref = fastconv.corr2d(X, K, padding=padding, mode=mode, backend="naive")
    geo = Geometry.from_args(X.shape, K.shape, padding)
    xp = pad_spatial(X[None, None], geo.pads, mode, 0.0)
    _check(got[None, None], ref[None, None], xp, K[None, None], (1, 1), (1, 1), 1)


def test_integer_kernels_keep_integer_factors():
    col, row = separable.factors(np.outer([1.0, 2.0, 1.0], [1.0, 0.0, -1.0])[None, None])
    np.testing.assert_array_equal(np.outer(col[0], row[0]), np.outer([1, 2, 1], [1, 0, -1]))
    col, row = separable.factors(np.ones((1, 1, 5, 5)))
    np.testing.assert_array_equal(col, np.ones((1, 5)))
    np.testing.assert_array_equal(row, np.ones((1, 5)))


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 3),
    mult=st.integers(1, 2),
    h=st.integers(1, 30),
    wd=st.integers(1, 30),
    kh=st.integers(2, 6),
    kw=st.integers(2, 6),
    pads=st.tuples(st.integers(0, 7), st.integers(0, 7), st.integers(0, 7), st.integers(0, 7)),
    stride=st.sampled_from([(1, 1), (2, 2), (1, 3), (3, 1)]),
    dilation=st.sampled_from([(1, 1), (2, 1), (1, 2)]),
    band_bytes=st.sampled_from([None, 64, 512]),
    mode=st.sampled_from(["constant", "reflect", "symmetric", "edge", "wrap"]),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**32 - 1),
)
def test_border_hooks_match_the_padded_input(n, c, mult, h, wd, kh, kw, pads, stride, dilation, band_bytes, mode,
                                             dtype, seed):
    """The hooks (the row pass makes the border's columns, the border's
    rows are zero or their source rows filtered) give the padded path's
    result, whole or in bands (``band_bytes``: tiny bands, some of them all
    border), and the oracle's within the bound."""
    rng = np.random.default_rng(seed)
    border = ((pads[0], pads[1]), (pads[2], pads[3]))
    x = rng.standard_normal((n, c, h, wd)).astype(dtype)
    xp = np.pad(x, ((0, 0), (0, 0)) + border, mode=mode)
    ho = (xp.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (xp.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if ho < 1 or wo < 1:
        return
    o = c * mult
    w = np.einsum("oa,ob->oab", rng.standard_normal((o, kh)), rng.standard_normal((o, kw)))[:, None].astype(dtype)
    got = np.full((n, o, ho, wo), np.nan, dtype=dtype)
    padded = np.full_like(got, np.nan)
    ref = np.empty(got.shape)
    with pytest.MonkeyPatch.context() as mp:
        if band_bytes is not None:  # every call in bands
            mp.setattr(separable, "_BAND_BYTES", band_bytes)
            mp.setattr(separable, "_WHOLE_BYTES", 0)
        if mode == "constant":
            assert separable.correlate_zero_border(x, w, got, border, stride, dilation, c)
        else:
            assert separable.correlate_mapped_border(x, w, got, border, stride, dilation, c, mode)
        separable.correlate(xp, w, padded, stride, dilation, c)
    naive.correlate(xp.astype(np.float64), w.astype(np.float64), ref, stride, dilation, c)
    np.testing.assert_allclose(got, padded, rtol=4 * np.finfo(dtype).eps, atol=4 * np.finfo(dtype).eps * np.abs(ref).max())
    _check(got, ref, xp, w, stride, dilation, c)


def test_zero_border_hook_declines_what_it_does_not_factor():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 1, 9, 9))
    out = np.full((1, 1, 9, 9), np.nan)
    pads = ((1, 1), (1, 1))
    assert not separable.correlate_zero_border(x, rng.standard_normal((1, 1, 3, 3)), out, pads, (1, 1), (1, 1), 1)
    assert not separable.correlate_zero_border(x, np.ones((1, 1, 1, 3)), out, ((0, 0), (1, 1)), (1, 1), (1, 1), 1)
    assert np.isnan(out).all()  # nothing computed


@pytest.mark.parametrize("mode", ["constant", "reflect", "wrap"])
def test_border_hooks_pad_the_rows_themselves_where_the_inner_backend_declines(mode, monkeypatch):
    inner = separable._inner()

    class Declining:
        correlate = staticmethod(inner.correlate)

        @staticmethod
        def correlate_zero_border(*args, **kw):
            return False

        correlate_mapped_border = correlate_zero_border

    monkeypatch.setattr(separable, "_inner", lambda: Declining)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 11, 13))
    w = np.einsum("oa,ob->oab", rng.standard_normal((2, 3)), rng.standard_normal((2, 4)))[:, None]
    border = ((2, 1), (3, 2))
    xp = np.pad(x, ((0, 0), (0, 0)) + border, mode=mode)
    got = np.full((1, 2, 11, 13), np.nan)
    hook = separable.correlate_zero_border if mode == "constant" else (
        lambda *a: separable.correlate_mapped_border(*a, mode))
    assert hook(x, w, got, border, (1, 1), (1, 1), 2)
    ref = np.empty_like(got)
    naive.correlate(xp, w, ref, (1, 1), (1, 1), 2)
    _check(got, ref, xp, w, (1, 1), (1, 1), 2)
