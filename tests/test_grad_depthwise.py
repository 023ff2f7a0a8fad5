"""The weight gradient of depthwise / few-channels-per-group layers (the
compiled per-tap dot products in fastconv.backends._depthwise_grad)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from _oracle_cases import REQUIRE_COMPILED, examples
from test_grad_paths import phase_cases

import fastconv
from fastconv import _grad_weight, conv2d_backward


def test_the_compiled_kernel_is_built_where_compiled_code_is_required():
    if REQUIRE_COMPILED:
        assert _grad_weight._depthwise_grad is not None, "fastconv.backends._depthwise_grad was not built"


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
