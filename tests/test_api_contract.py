"""The public contract, on every backend: inputs never modified, ``out=``,
NaN/inf propagate exactly as in the oracle, auto and show_config."""
import io
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from _oracle_cases import (
    LAYOUTS,
    assert_matches_oracle,
    corr2d_cases,
    examples,
    is_approximate,
    oracle,
    snapshot,
)


# ---------------------------------------------------------------------------
# Inputs are never modified
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("padding", [0, "same", 2])
def test_inputs_not_modified(backend, layout, padding):
    rng = np.random.default_rng(5)
    X = LAYOUTS[layout](rng.standard_normal((9, 7)))
    K = LAYOUTS[layout](rng.standard_normal((3, 2)))
    before = snapshot(X), snapshot(K)
    out = np.full(fastconv.output_shape((9, 7), (3, 2), padding=padding), np.nan)
    fastconv.corr2d(X, K, padding=padding, mode="reflect", backend=backend)
    fastconv.corr2d(X, K, padding=padding, backend=backend, out=out)
    fastconv.convolve2d(X, K, padding=padding, mode="wrap", backend=backend)
    assert snapshot(X) == before[0]
    assert snapshot(K) == before[1]


def test_result_is_a_fresh_array(backend):
    """Even with nothing to pad and nothing to convert, the result is not a
    view of an input, and writing to it leaves the inputs alone."""
    X = np.ones((4, 4))
    K = np.ones((1, 1))
    Y = fastconv.corr2d(X, K, backend=backend)
    assert not np.may_share_memory(Y, X) and not np.may_share_memory(Y, K)
    Y[...] = 7
    assert (X == 1).all() and (K == 1).all()


# ---------------------------------------------------------------------------
# out=
# ---------------------------------------------------------------------------


def _make_out(kind, shape, dtype):
    if kind == "contiguous":
        return np.full(shape, np.nan, dtype=dtype)
    if kind == "fortran":
        return np.asfortranarray(np.full(shape, np.nan, dtype=dtype))
    if kind == "strided":
        return np.full((shape[0] * 2, shape[1] * 3), np.nan, dtype=dtype)[::2, ::3]
    if kind == "row_slice":
        return np.full((shape[0], shape[1] + 4), np.nan, dtype=dtype)[:, 2 : 2 + shape[1]]
    if kind == "negative":
        return np.full(shape, np.nan, dtype=dtype)[::-1, ::-1]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["contiguous", "fortran", "strided", "row_slice", "negative"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_is_written_and_returned(backend, kind, dtype):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((10, 9)).astype(dtype)
    K = rng.standard_normal((3, 4)).astype(dtype)
    for kwargs in ({}, {"padding": "same", "mode": "symmetric"}, {"padding": 1, "stride": 2, "dilation": (1, 2)}):
        out = _make_out(kind, fastconv.output_shape(X.shape, K.shape, **{k: v for k, v in kwargs.items() if k != "mode"}), dtype)
        base = out.base
        result = fastconv.corr2d(X, K, backend=backend, out=out, **kwargs)
        assert result is out
        assert_matches_oracle(out, X, K, backend=backend, **kwargs)
        if base is not None:  # nothing written outside the view (it was NaN, results are finite)
            assert np.isnan(base).sum() == base.size - out.size


def test_out_may_alias_the_input(backend):
    """out=X with padding "same": the result is as if computed into a new array."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((8, 8))
    K = rng.standard_normal((3, 3))
    expected = oracle(X, K, padding="same")
    Xc = X.copy()
    result = fastconv.corr2d(Xc, K, padding="same", backend=backend, out=Xc)
    assert result is Xc
    assert_matches_oracle(Xc, X, K, expected=expected, backend=backend, padding="same")


def test_out_for_convolve2d(backend):
    X = np.arange(12.0).reshape(3, 4)
    out = np.empty((2, 3))
    assert fastconv.convolve2d(X, [[1, 2], [3, 4]], backend=backend, out=out) is out
    assert_matches_oracle(out, X, np.array([[4.0, 3.0], [2.0, 1.0]]), backend=backend)


# ---------------------------------------------------------------------------
# NaN and inf
# ---------------------------------------------------------------------------


@settings(max_examples=examples(60))
@given(case=corr2d_cases(max_side=9), data=st.data())
def test_nan_and_inf_propagate_like_the_oracle(compiled_backend, case, data):
    """Direct backends multiply every tap: NaN, +-inf and inf*0 = NaN land
    exactly where the oracle puts them. (fft spreads NaN by design: it is
    held to "NaN at least where the oracle has it".)"""
    X, K, kwargs = case
    X, K = X.copy(), K.copy()
    specials = [np.nan, np.inf, -np.inf, 0.0]
    for arr in (X, K):
        n = data.draw(st.integers(0, min(3, arr.size)), label="count")
        for _ in range(n):
            idx = data.draw(st.tuples(st.integers(0, arr.shape[0] - 1), st.integers(0, arr.shape[1] - 1)))
            arr[idx] = data.draw(st.sampled_from(specials))
    expected = oracle(X, K, **kwargs)
    got = fastconv.corr2d(X, K, backend=compiled_backend, **kwargs)
    if is_approximate(compiled_backend):
        assert np.isnan(got[np.isnan(expected)]).all()
        return
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
    finite = np.isfinite(expected)
    clean_X = np.where(np.isfinite(X), X, 0)
    clean_K = np.where(np.isfinite(K), K, 0)
    scale = max(1.0, np.abs(clean_X).max(initial=0) * np.abs(clean_K).sum())
    from _oracle_cases import tolerance

    np.testing.assert_allclose(got[finite], expected[finite], rtol=tolerance(got.dtype), atol=tolerance(got.dtype) * scale)


def test_inf_times_zero_kernel_tap_is_nan(compiled_backend):
    """A zero kernel tap over an inf pixel gives NaN, as in the oracle (no
    backend may skip zero taps)."""
    if is_approximate(compiled_backend):
        pytest.skip("fft does not compute tap by tap (documented)")
    X = np.ones((5, 5))
    X[2, 2] = np.inf
    K = np.array([[1.0, 0.0, 1.0]])
    got = fastconv.corr2d(X, K, backend=compiled_backend)
    expected = oracle(X, K)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    assert np.isnan(got[2, 1])


def test_nan_cval(backend):
    X = np.ones((4, 4))
    got = fastconv.corr2d(X, np.ones((3, 3)), padding=1, cval=np.nan, backend=backend)
    expected = oracle(X, np.ones((3, 3)), padding=1, cval=np.nan)
    if is_approximate(backend):
        assert np.isnan(got[np.isnan(expected)]).all()
    else:
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        assert np.isnan(got[0]).all() and got[1, 1] == 9.0


# ---------------------------------------------------------------------------
# auto, registry, configuration
# ---------------------------------------------------------------------------


def test_available_backends_lists_naive_first():
    names = fastconv.available_backends()
    assert names[0] == "naive"
    assert set(names) <= set(fastconv.backends.names())


def test_show_config_names_every_backend():
    buf = io.StringIO()
    fastconv.show_config(file=buf)
    text = buf.getvalue()
    for name in fastconv.backends.names():
        assert name in text
    assert fastconv.__version__ in text


def test_python_m_fastconv_info(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "fastconv", "info"], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in ("naive", "cython", "numba", "gemm"):
        assert name in proc.stdout
