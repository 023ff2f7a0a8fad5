"""The input gradient's col2im path (few input channels per group, many
output channels: the RGB stem) against the oracle, over strides,
dilations, groups, asymmetric padding, dtypes, layouts and workspace caps
that split the images into tiles; non-finite values propagate as the
oracle's."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from _oracle_cases import examples

import fastconv
from fastconv import _grad_input, conv2d_backward


@st.composite
def stem_cases(draw):
    groups = draw(st.sampled_from([1, 2]))
    cg = draw(st.integers(1, _grad_input._COL2IM_MAX_CHANNELS - 1))
    og = draw(st.integers(_grad_input._COL2IM_MIN_OUT, 20))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 3)))
    pads = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))
    h = draw(st.integers(max(1, dilation[0] * (kh - 1) + 1 - sum(pads[0])), 15))
    w = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - sum(pads[1])), 15))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((draw(st.integers(1, 3)), groups * cg, h, w)).astype(dtype)
    weight = rng.standard_normal((groups * og, cg, kh, kw)).astype(dtype)
    if draw(st.booleans()):
        weight = np.asfortranarray(weight)
    kwargs = dict(stride=stride, dilation=dilation, padding=pads, groups=groups)
    g = rng.standard_normal(fastconv.conv2d(x, weight, **kwargs).shape).astype(dtype)
    if draw(st.booleans()):
        g = np.repeat(g, 2, axis=-1)[..., ::2]  # strided grad_out
    return x, weight, g, kwargs


@settings(max_examples=examples(80), deadline=None)
@given(case=stem_cases(), limit=st.sampled_from([None, 1, 5000]))
def test_col2im_matches_the_oracle(case, limit):
    x, w, g, kwargs = case
    ref = conv2d_backward(x.astype(np.float64), w.astype(np.float64), g.astype(np.float64), needs="x",
                          backend="naive", **kwargs).x
    fastconv.set_workspace_limit(limit)
    try:
        got = conv2d_backward(x, w, g, needs="x", **kwargs).x
    finally:
        fastconv.set_workspace_limit(None)
    assert got.dtype == x.dtype and got.shape == x.shape
    tol = 1e-12 if x.dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * max(1.0, np.abs(ref).max()))


def test_col2im_is_the_path_and_propagates_nan(monkeypatch):
    calls = []
    original = _grad_input._by_col2im
    monkeypatch.setattr(_grad_input, "_by_col2im", lambda *a: calls.append(1) or original(*a))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 20, 20))
    w = rng.standard_normal((32, 3, 7, 7))
    g = rng.standard_normal(fastconv.conv2d(x, w, stride=2, padding=3).shape)
    g[0, 4, 3, 3] = np.nan
    got = conv2d_backward(x, w, g, stride=2, padding=3, needs="x").x
    ref = conv2d_backward(x, w, g, stride=2, padding=3, needs="x", backend="naive").x
    assert calls
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-12, atol=1e-12)
