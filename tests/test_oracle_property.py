"""Property tests: every backend agrees with the naive oracle.

Shapes (1x1, kernel equal to the input, primes, tall, wide, random), every
padding form, stride, dilation, boundary mode, dtype and memory layout. The
oracle itself is checked against an independent numpy reference.
"""
import zlib
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from fastconv import _engine
from _oracle_cases import (
    ALL_INPUT_DTYPES,
    FLOAT_DTYPES,
    LAYOUTS,
    assert_close,
    assert_matches_oracle,
    backend_calls,
    backend_module,
    corr2d_cases,
    examples,
    is_approximate,
    oracle,
    pads_for,
    random_array,
    reference_corr2d,
    snapshot,
    as_pair,
    _magnitude_scale,
)


@settings(max_examples=examples(250))
@given(case=corr2d_cases())
def test_corr2d_matches_oracle(compiled_backend, case):
    X, K, kwargs = case
    assert_matches_oracle(fastconv.corr2d(X, K, backend=compiled_backend, **kwargs), X, K, backend=compiled_backend, **kwargs)


@settings(max_examples=examples(120))
@given(case=corr2d_cases(dtypes=ALL_INPUT_DTYPES, mixed=True, max_side=9))
def test_corr2d_every_dtype_matches_oracle(compiled_backend, case):
    X, K, kwargs = case
    assert_matches_oracle(fastconv.corr2d(X, K, backend=compiled_backend, **kwargs), X, K, backend=compiled_backend, **kwargs)


@settings(max_examples=examples(120))
@given(
    case=corr2d_cases(max_side=9),
    x_layout=st.sampled_from(sorted(LAYOUTS)),
    k_layout=st.sampled_from(sorted(LAYOUTS)),
)
def test_corr2d_memory_layouts(backend, case, x_layout, k_layout):
    X, K, kwargs = case
    Xl, Kl = LAYOUTS[x_layout](X), LAYOUTS[k_layout](K)
    # a list of Python floats is float64: the canonical array is what numpy reads
    X = np.asarray(Xl) if x_layout == "list" else X
    K = np.asarray(Kl) if k_layout == "list" else K
    expected = oracle(X, K, **kwargs)
    before = snapshot(Xl), snapshot(Kl)
    result = fastconv.corr2d(Xl, Kl, backend=backend, **kwargs)
    assert snapshot(Xl) == before[0] and snapshot(Kl) == before[1], "an input was modified"
    assert isinstance(result, np.ndarray) and result.flags.writeable and result.flags.c_contiguous
    assert not np.may_share_memory(result, np.asarray(Xl)) and not np.may_share_memory(result, np.asarray(Kl))
    assert_matches_oracle(result, X, K, expected=expected, backend=backend, **kwargs)


@settings(max_examples=examples(200))
@given(call=backend_calls())
def test_backend_correlate_direct(compiled_backend, call):
    """The backend interface itself: N > 1, C > 1, groups, strided views,
    read-only inputs, a view for ``out`` prefilled with NaN."""
    xp, w, out, stride, dilation, groups = call
    module = backend_module(compiled_backend)
    naive = backend_module("naive")
    expected = np.empty(out.shape, dtype=out.dtype)
    naive.correlate(xp, w, expected, stride, dilation, groups)
    xs, ws = xp.copy(), w.copy()
    base = out.base
    base_before = None if base is None else base.copy()
    module.correlate(xp, w, out, stride, dilation, groups)
    np.testing.assert_array_equal(xp, xs)
    np.testing.assert_array_equal(w, ws)
    if base is not None:  # nothing written outside the view
        mask = np.ones(base.shape, dtype=bool)
        mask[:, :, 1 : 1 + out.shape[2], 1 : 1 + out.shape[3]] = False
        np.testing.assert_array_equal(base[mask], base_before[mask])
    assert not np.isnan(out).any(), "out was not completely overwritten"
    if is_approximate(compiled_backend):
        bound = module.error_bound(xp, w, out.shape, stride, dilation, groups)
        tol = bound + np.finfo(out.dtype).eps * np.abs(expected)
        assert np.all(np.abs(out.astype(np.float64) - expected) <= tol)
    else:
        scale = max(1.0, np.abs(xp).max() * np.abs(w).sum(axis=(1, 2, 3)).max())
        assert_close(out, expected, out.dtype, scale)


@settings(max_examples=examples(200))
@given(case=corr2d_cases(dtypes=(np.float64, np.int16)))
def test_oracle_matches_independent_reference(case):
    """naive (through the shared argument/padding code) against a reference
    written from the definition with numpy.pad."""
    X, K, kwargs = case
    dil = as_pair(kwargs["dilation"])
    pads = pads_for(kwargs["padding"], K.shape, dil)
    expected = reference_corr2d(
        X, K, pads=pads, stride=as_pair(kwargs["stride"]), dilation=dil,
        mode=kwargs["mode"], cval=kwargs.get("cval", 0.0),
    )
    result = oracle(X, K, **kwargs)
    assert result.shape == fastconv.output_shape(X.shape, K.shape, padding=kwargs["padding"],
                                                 stride=kwargs["stride"], dilation=kwargs["dilation"])
    assert_close(result, expected, np.float64, _magnitude_scale(X, K) + abs(kwargs.get("cval", 0)) * np.abs(K).sum())


@settings(max_examples=examples(120))
@given(case=corr2d_cases(max_side=12))
def test_border_strip_path_matches_oracle(backend, case):
    """The engine splits large padded images into an interior and four
    border strips; force that path on small inputs and compare."""
    X, K, kwargs = case
    expected = oracle(X, K, **kwargs)
    with mock.patch.object(_engine, "_PAD_COPY_LIMIT", 0), mock.patch.object(_engine, "_SPLIT_MAX_TAPS", 10**9):
        result = fastconv.corr2d(X, K, backend=backend, **kwargs)
    assert_matches_oracle(result, X, K, expected=expected, backend=backend, **kwargs)


@settings(max_examples=examples(60))
@given(case=corr2d_cases(max_side=9))
def test_auto_backend_matches_oracle(case):
    X, K, kwargs = case
    assert_matches_oracle(fastconv.corr2d(X, K, **kwargs), X, K, **kwargs)


@settings(max_examples=examples(60))
@given(case=corr2d_cases(max_side=9))
def test_convolve2d_is_corr2d_with_flipped_kernel(backend, case):
    X, K, kwargs = case
    conv = fastconv.convolve2d(X, K, backend=backend, **kwargs)
    corr = fastconv.corr2d(X, np.ascontiguousarray(K[::-1, ::-1]), backend=backend, **kwargs)
    np.testing.assert_array_equal(conv, corr)
    assert conv.dtype == corr.dtype


# ---------------------------------------------------------------------------
# Named shape families, deterministic (one test each, so a failure names it)
# ---------------------------------------------------------------------------

SPECIAL_SHAPES = {
    "1x1-1x1": ((1, 1), (1, 1), 0),
    "1x1-same3x3": ((1, 1), (3, 3), "same"),
    "kernel=input": ((7, 5), (7, 5), "valid"),
    "kernel=input-full": ((4, 6), (4, 6), "full"),
    "primes": ((13, 11), (5, 3), 0),
    "primes-same-even": ((11, 7), (2, 4), "same"),
    "tall": ((31, 2), (3, 1), 0),
    "wide": ((2, 31), (1, 3), 0),
    "tall-kernel": ((9, 9), (9, 1), "same"),
    "row": ((1, 17), (1, 4), "same"),
    "column": ((17, 1), (4, 1), "same"),
}


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", ["constant", "reflect", "symmetric", "edge", "wrap"])
@pytest.mark.parametrize("shape_id", sorted(SPECIAL_SHAPES))
def test_special_shapes(compiled_backend, shape_id, mode, dtype):
    xshape, kshape, padding = SPECIAL_SHAPES[shape_id]
    rng = np.random.default_rng(zlib.crc32(shape_id.encode()))
    X, K = random_array(rng, xshape, dtype), random_array(rng, kshape, dtype)
    kwargs = {"padding": padding, "mode": mode}
    assert_matches_oracle(fastconv.corr2d(X, K, backend=compiled_backend, **kwargs), X, K, backend=compiled_backend, **kwargs)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_large_image_with_padding(compiled_backend, dtype):
    """Above the engine's pad-copy limit (the strip path), against a
    float64 reference (the naive loop would be slow at this size)."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((400, 700)).astype(dtype)
    K = rng.standard_normal((3, 4)).astype(dtype)
    for mode in ("constant", "reflect", "wrap"):
        result = fastconv.corr2d(X, K, padding="same", mode=mode, cval=0.5, backend=compiled_backend)
        expected = reference_corr2d(X, K, pads=pads_for("same", K.shape), mode=mode, cval=0.5)
        if is_approximate(compiled_backend):
            assert_matches_oracle(result, X, K, expected=expected.astype(dtype), backend=compiled_backend,
                                  padding="same", mode=mode, cval=0.5)
        else:
            assert_close(result, expected.astype(dtype), dtype, _magnitude_scale(X, K), err_msg=mode)
