"""The fast gradient paths against the oracle (``backend="naive"``, whose
weight gradient is the correlation form): stride phases with strides
larger than the kernel and dilations sharing factors with the stride
(phases no tap reaches), and the weight-gradient GEMM under workspace caps
that force bands of rows, pieces of rows, blocks and remainders, for both
layouts of the patch matrix, both dtypes and integer inputs."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from _oracle_cases import examples

import fastconv
from fastconv import conv2d_backward, corr2d_backward


@st.composite
def phase_cases(draw):
    groups = draw(st.sampled_from([1, 2]))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = (draw(st.integers(1, 6)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 4)), draw(st.integers(1, 3)))
    pads = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))
    h = draw(st.integers(max(1, dilation[0] * (kh - 1) + 1 - sum(pads[0])), 17))
    w = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - sum(pads[1])), 13))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int32]))
    layout = draw(st.sampled_from(["C", "F", "strided"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(-4, 5, (draw(st.integers(1, 3)), groups * cg, h, w)).astype(dtype)
    if layout == "F":
        x = np.asfortranarray(x)
    elif layout == "strided":
        x = np.repeat(x, 2, axis=-1)[..., ::2]
    weight = rng.integers(-4, 5, (groups * og, cg, kh, kw)).astype(dtype)
    return x, weight, dict(stride=stride, dilation=dilation, padding=pads, groups=groups)


def _limits():
    return st.sampled_from([None, 1, 200, 3000, 40_000])


@settings(max_examples=examples(80), deadline=None)
@given(case=phase_cases(), limit=_limits(), seed=st.integers(0, 2**32 - 1))
def test_gradients_match_the_oracle(case, limit, seed):
    x, w, kwargs = case
    r = np.random.default_rng(seed).integers(-4, 5, fastconv.conv2d(x, w, **kwargs).shape).astype(x.dtype)
    ref = conv2d_backward(x, w, r, backend="naive", **kwargs)
    fastconv.set_workspace_limit(limit)
    try:
        got = conv2d_backward(x, w, r, **kwargs)
    finally:
        fastconv.set_workspace_limit(None)
    # small integers: every path is exact in float64 and float32
    for a, b in zip(got, ref):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("limit", [None, 5000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_reductions_many_blocks(limit, dtype):
    """Enough positions for several tiles and blocks plus a remainder."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 45, 47)).astype(dtype)
    w = rng.standard_normal((6, 2, 3, 2)).astype(dtype)
    kwargs = dict(stride=(1, 2), padding=1, groups=2)
    r = rng.standard_normal(fastconv.conv2d(x, w, **kwargs).shape).astype(dtype)
    ref = conv2d_backward(x.astype(np.float64), w.astype(np.float64), r.astype(np.float64), backend="naive", **kwargs)
    fastconv.set_workspace_limit(limit)
    try:
        got = conv2d_backward(x, w, r, **kwargs)
    finally:
        fastconv.set_workspace_limit(None)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.abs(b).max())


@pytest.mark.parametrize("mode", ["reflect", "symmetric", "edge", "wrap", "constant"])
def test_corr2d_strided_phases_fold_the_border(mode):
    rng = np.random.default_rng(6)
    X, K = rng.integers(-3, 4, (11, 9)).astype(float), rng.integers(-3, 4, (3, 4)).astype(float)
    kwargs = dict(padding=((2, 3), (4, 1)), stride=(3, 2), dilation=(2, 2), mode=mode, cval=1.0)
    r = rng.integers(-3, 4, fastconv.corr2d(X, K, **kwargs).shape).astype(float)
    got, ref = corr2d_backward(X, K, r, **kwargs), corr2d_backward(X, K, r, backend="naive", **kwargs)
    np.testing.assert_array_equal(got.X, ref.X)
    np.testing.assert_array_equal(got.K, ref.K)


def test_non_finite_values_propagate():
    x = np.ones((1, 2, 6, 6))
    x[0, 1, 2, 3] = np.nan
    w = np.ones((2, 2, 3, 3))
    g = conv2d_backward(x, w, np.ones((1, 2, 2, 2)), stride=2)
    ref = conv2d_backward(x, w, np.ones((1, 2, 2, 2)), stride=2, backend="naive")
    np.testing.assert_array_equal(np.isnan(g.weight), np.isnan(ref.weight))
    assert np.isnan(g.weight).any()
