"""The weight gradient of depthwise / few-channels-per-group layers (the
compiled per-tap dot products, ``_direct.depthwise_weight_grad``)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from _oracle_cases import REQUIRE_COMPILED, examples
from test_grad_paths import phase_cases

import fastconv
from fastconv import _grad_weight, conv2d_backward


def test_the_compiled_kernel_is_built_where_compiled_code_is_required():
    if REQUIRE_COMPILED:
        assert _grad_weight._grad_weight_taps.kernel_available(), "the weight-gradient kernels were not built"


@settings(max_examples=examples(60), deadline=None)
@given(case=phase_cases(), groups=st.integers(2, 5), seed=st.integers(0, 2**32 - 1))
def test_depthwise_weight_gradient_matches_the_oracle(case, groups, seed):
    x, w, kwargs = case
    cg = x.shape[1] // kwargs["groups"]
    og = w.shape[0] // kwargs["groups"]
    rng = np.random.default_rng(seed)
    # regroup the drawn case into `groups` groups of the same per-group shape
    x = rng.integers(-4, 5, (x.shape[0], groups * cg) + x.shape[2:]).astype(x.dtype)
    w = rng.integers(-4, 5, (groups * og, cg) + w.shape[2:]).astype(w.dtype)
    kwargs = dict(kwargs, groups=groups)
    r = rng.integers(-4, 5, fastconv.conv2d(x, w, **kwargs).shape).astype(x.dtype)
    ref = conv2d_backward(x, w, r, backend="naive", needs="weight", **kwargs).weight
    layouts = (x, np.repeat(x, 2, axis=3)[..., ::2], np.asfortranarray(x))  # same values: contiguous, strided, F-order
    got = conv2d_backward(layouts[seed % 3], w, r, needs="weight", **kwargs).weight
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(got, ref)  # small integers: exact


def test_depthwise_float32_accuracy_against_float64():
    """float32 weight gradient of a long depthwise reduction within 1e-6 of
    the largest gradient (for scale: torch's float32 error was 5.2e-6 on an
    (8, 64, 56, 56) depthwise layer)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 8, 64, 64)).astype(np.float32) + 3  # an offset makes long sums drift
    w = rng.standard_normal((16, 1, 3, 3)).astype(np.float32)
    g = rng.standard_normal((4, 16, 64, 64)).astype(np.float32) + 1
    got = conv2d_backward(x, w, g, groups=8, padding=1, needs="weight").weight
    ref = conv2d_backward(x.astype(np.float64), w.astype(np.float64), g.astype(np.float64), groups=8, padding=1,
                          needs="weight").weight
    assert np.abs(got - ref).max() <= 1e-6 * np.abs(ref).max()


def test_depthwise_non_finite_input_propagates():
    x = np.ones((1, 4, 6, 6), dtype=np.float32)
    x[0, 1, 2, 2] = np.inf
    w = np.ones((4, 1, 3, 3), dtype=np.float32)
    g = np.ones((1, 4, 4, 4), dtype=np.float32)
    got = conv2d_backward(x, w, g, groups=4, needs="weight").weight
    ref = conv2d_backward(x, w, g, groups=4, needs="weight", backend="naive").weight
    np.testing.assert_array_equal(got, ref)


def test_depthwise_read_only_inputs():
    """The caller's read-only arrays reach the compiled kernel unchanged
    (no padding, already contiguous): it must accept them (found by the fuzzer)."""
    rng = np.random.default_rng(2)
    x, g = rng.random((2, 4, 6, 6)).astype(np.float32), rng.random((2, 4, 4, 4)).astype(np.float32)
    x.flags.writeable = g.flags.writeable = False
    w = rng.random((4, 1, 3, 3)).astype(np.float32)
    got = conv2d_backward(x, w, g, groups=4, needs="weight").weight
    ref = conv2d_backward(x, w, g, groups=4, needs="weight", backend="naive").weight
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def _kernel_reference(x, gy, groups, stride, dilation, pads, kshape):
    """float64 dL/dw by the oracle's correlation of the zero-padded input."""
    n, c = x.shape[:2]
    o = gy.shape[1]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), pads[0], pads[1]))
    geo = fastconv._geometry.Geometry.from_args(xp.shape[2:], kshape, 0, stride, dilation)
    return _grad_weight.weight_grad_by_correlation(xp, gy.astype(np.float64), geo, groups, (o, c // groups) + kshape,
                                                   backend="naive")


@settings(max_examples=examples(80), deadline=None)
@given(n=st.integers(1, 3), groups=st.integers(1, 4), cg=st.integers(1, 2), og=st.integers(1, 3),
       h=st.integers(1, 19), w=st.integers(1, 37), k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       pads=st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
       dtype=st.sampled_from([np.float32, np.float64]), threads=st.sampled_from([1, 2, 3]),
       seed=st.integers(0, 2**16))
def test_depthwise_kernel_against_the_oracle(n, groups, cg, og, h, w, k, stride, dilation, pads, dtype, threads, seed):
    """_direct.depthwise_weight_grad over shapes, strides, dilations, a zero
    border read in place (top/left given, bottom/right implied), planes
    narrower than a vector, several threads: within float32 rounding of the
    float64 oracle; the same bits for any thread count."""
    from fastconv.backends import _direct

    top, bottom, left, right = pads
    ho = (h + top + bottom - dilation[0] * (k[0] - 1) - 1) // stride[0] + 1
    wo = (w + left + right - dilation[1] * (k[1] - 1) - 1) // stride[1] + 1
    if ho < 1 or wo < 1:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, groups * cg, h, w)).astype(dtype)
    gy = rng.standard_normal((n, groups * og, ho, wo)).astype(dtype)
    ref = _kernel_reference(x, gy, groups, stride, dilation, ((top, bottom), (left, right)), k)
    outs = []
    for t in (1, threads):
        out = np.full((groups * og, cg) + k, np.nan)
        _direct.depthwise_weight_grad(x, gy, out, groups, *stride, *dilation, top, left, t, 0)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    scale = np.abs(x).max() * np.abs(gy).max() * n * ho * wo
    assert np.abs(outs[0] - ref).max() <= 64 * np.finfo(dtype).eps * scale


@pytest.mark.parametrize("cap", [1, 2, 3])
def test_depthwise_kernel_every_instruction_set_variant(cap):
    from fastconv.backends import _direct

    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 6, 41, 53)).astype(np.float32)  # rows wider than one vector, odd
    gy = rng.standard_normal((2, 6, 41, 27)).astype(np.float32)  # padding 1, stride (1, 2), 3x3
    ref = _kernel_reference(x, gy, 6, (1, 2), (1, 1), ((1, 1), (1, 1)), (3, 3))
    try:
        _direct._limit_simd(cap)
        out = np.empty((6, 1, 3, 3))
        _direct.depthwise_weight_grad(x, gy, out, 6, 1, 2, 1, 1, 1, 1, 2, 0)
    finally:
        _direct._limit_simd(3)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_depthwise_kernel_bad_arguments_raise():
    from fastconv.backends import _direct

    x = np.zeros((1, 4, 6, 6), np.float32)
    gy = np.zeros((1, 4, 4, 4), np.float32)
    out = np.zeros((4, 1, 3, 3))
    with pytest.raises(ValueError, match="must all be >= 1"):
        _direct.depthwise_weight_grad(x, gy, out, 4, 0, 1, 1, 1, 0, 0, 1, 0)
    with pytest.raises(ValueError, match="border"):
        _direct.depthwise_weight_grad(x, gy, out, 4, 1, 1, 1, 1, -1, 0, 1, 0)
    with pytest.raises(ValueError, match="do not match 2 groups"):
        _direct.depthwise_weight_grad(x, gy, out, 2, 1, 1, 1, 1, 0, 0, 1, 0)
    with pytest.raises(ValueError, match="empty"):
        _direct.depthwise_weight_grad(x, gy[:, :, :0], out, 4, 1, 1, 1, 1, 0, 0, 1, 0)
