"""Exercise 4: cross-correlation as a matrix product, both ways round.

* ``fastconv.as_matrix``: the kernel becomes a doubly-blocked Toeplitz
  matrix W, ``W @ X.ravel() == corr2d(X, K).ravel()``; ``W.T`` is the
  backward pass to the input.
* ``fastconv.im2col`` (built elsewhere): the input becomes the patch
  matrix P, ``P @ K.ravel() == corr2d(X, K).ravel()``.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import fastconv
from fastconv import _toeplitz, as_matrix, corr2d

scipy_sparse = pytest.importorskip("scipy.sparse")

padding_forms = st.one_of(
    st.integers(0, 2),
    st.tuples(st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)), st.tuples(st.integers(0, 3), st.integers(0, 3))),
    st.sampled_from(["valid", "same", "full"]),
)
pairs = lambda lo, hi: st.one_of(st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi)))  # noqa: E731


@st.composite
def problems(draw):
    """A small image, kernel and geometry that fits."""
    shape = (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    kshape = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    kw = dict(padding=draw(padding_forms), stride=draw(pairs(1, 3)), dilation=draw(pairs(1, 2)))
    try:
        out_shape = fastconv.output_shape(shape, kshape, **kw)
    except ValueError:
        assume(False)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.standard_normal(shape)
    K = rng.standard_normal(kshape)
    G = rng.standard_normal(out_shape)
    return X, K, G, kw, out_shape


def adjoint_naive(K, G, in_shape, kw):
    """dL/dX for L = sum(G * corr2d(X, K)): scatter every tap, independently of as_matrix."""
    geo = fastconv._geometry.Geometry.from_args(in_shape, K.shape, kw["padding"], kw["stride"], kw["dilation"])
    (top, bottom), (left, right) = geo.pads
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    Ho, Wo = geo.out_shape
    Xp = np.zeros((in_shape[0] + top + bottom, in_shape[1] + left + right))
    i, j, a, b = np.meshgrid(np.arange(Ho), np.arange(Wo), np.arange(K.shape[0]), np.arange(K.shape[1]), indexing="ij")
    np.add.at(Xp, (i * sh + a * dh, j * sw + b * dw), G[i, j] * K[a, b])
    return Xp[top : top + in_shape[0], left : left + in_shape[1]]


# ---------------------------------------------------------------- the chapter's example


def test_chapter_example_matrix():
    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    W = as_matrix(K, X.shape, sparse=False)
    expected = np.array(
        [
            [0, 1, 0, 2, 3, 0, 0, 0, 0],
            [0, 0, 1, 0, 2, 3, 0, 0, 0],
            [0, 0, 0, 0, 1, 0, 2, 3, 0],
            [0, 0, 0, 0, 0, 1, 0, 2, 3],
        ],
        dtype=float,
    )
    np.testing.assert_array_equal(W, expected)
    np.testing.assert_array_equal(W @ X.ravel(), [19, 25, 37, 43])
    np.testing.assert_array_equal(as_matrix(K, X.shape).toarray(), expected)


# ---------------------------------------------------------------- forward identity


@given(problems())
def test_matrix_times_image_is_corr2d(problem):
    X, K, _, kw, out_shape = problem
    W = as_matrix(K, X.shape, **kw)
    assert W.shape == (out_shape[0] * out_shape[1], X.size)
    assert scipy_sparse.issparse(W)
    expected = corr2d(X, K, **kw)
    np.testing.assert_allclose((W @ X.ravel()).reshape(out_shape), expected, rtol=1e-12, atol=1e-12)
    dense = as_matrix(K, X.shape, sparse=False, **kw)
    assert isinstance(dense, np.ndarray)
    np.testing.assert_array_equal(dense, W.toarray())


@given(problems())
def test_one_stored_entry_per_tap_inside_the_input(problem):
    X, K, _, kw, out_shape = problem
    W = as_matrix(K, X.shape, **kw)
    # count the taps that read the input: correlate an all-ones image with an all-ones kernel
    taps = corr2d(np.ones(X.shape), np.ones(K.shape), **kw)
    assert W.nnz == int(taps.sum())
    np.testing.assert_array_equal(np.diff(W.indptr), taps.ravel())


def test_doubly_blocked_toeplitz_structure_at_stride_1():
    rng = np.random.default_rng(1)
    K = rng.standard_normal((3, 2))
    H, Wd = 6, 5
    W4 = as_matrix(K, (H, Wd), sparse=False).reshape(4, 4, H, Wd)
    # block (i, r) depends only on r - i, and inside a block entry (j, c) only on c - j
    for i in range(4):
        for r in range(H):
            block = W4[i, :, r, :]
            a = r - i
            expected = np.zeros((4, Wd))
            if 0 <= a < 3:
                for j in range(4):
                    expected[j, j : j + 2] = K[a]
            np.testing.assert_array_equal(block, expected)


def test_dtypes_follow_corr2d_rules():
    assert as_matrix(np.ones((2, 2), np.float32), (4, 4)).dtype == np.float32
    assert as_matrix(np.ones((2, 2), np.float32), (4, 4), sparse=False).dtype == np.float32
    assert as_matrix(np.ones((2, 2), np.int16), (4, 4)).dtype == np.float64
    assert as_matrix([[True, False]], (4, 4), sparse=False).dtype == np.float64


def test_float32_matches_corr2d():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((7, 9)).astype(np.float32)
    K = rng.standard_normal((3, 3)).astype(np.float32)
    W = as_matrix(K, X.shape, padding=1, stride=2)
    np.testing.assert_allclose(W @ X.ravel(), corr2d(X, K, padding=1, stride=2).ravel(), rtol=1e-5, atol=1e-5)


def test_zero_taps_are_stored_so_inf_propagates_like_corr2d():
    X = np.ones((3, 3))
    X[0, 0] = np.inf
    K = np.array([[0.0, 1.0], [1.0, 1.0]])
    W = as_matrix(K, X.shape)
    np.testing.assert_array_equal(W @ X.ravel(), corr2d(X, K).ravel())  # nan, 3, 3, 3


def test_without_scipy_sparse_gives_dense(monkeypatch):
    monkeypatch.setattr(_toeplitz, "_sparse_module", lambda: None)
    W = as_matrix(np.ones((2, 2)), (3, 3))
    assert isinstance(W, np.ndarray) and W.shape == (4, 9)


# ---------------------------------------------------------------- transpose = backward


@given(problems())
def test_transpose_gives_input_gradient(problem):
    X, K, G, kw, _ = problem
    W = as_matrix(K, X.shape, **kw)
    grad = (W.T @ G.ravel()).reshape(X.shape)
    np.testing.assert_allclose(grad, adjoint_naive(K, G, X.shape, kw), rtol=1e-12, atol=1e-12)
    # the adjoint identity <W x, g> == <x, W^T g>
    np.testing.assert_allclose(np.dot(corr2d(X, K, **kw).ravel(), G.ravel()), np.dot(X.ravel(), grad.ravel()), rtol=1e-9, atol=1e-9)


def test_transpose_matches_finite_differences():
    rng = np.random.default_rng(3)
    X, K = rng.standard_normal((5, 6)), rng.standard_normal((3, 2))
    kw = dict(padding=(1, 2), stride=(2, 1), dilation=(1, 2))
    G = rng.standard_normal(fastconv.output_shape(X.shape, K.shape, **kw))
    grad = (as_matrix(K, X.shape, **kw).T @ G.ravel()).reshape(X.shape)
    h = 1e-6
    numeric = np.empty_like(X)
    for idx in np.ndindex(X.shape):
        E = np.zeros_like(X)
        E[idx] = h
        numeric[idx] = np.sum(G * (corr2d(X + E, K, **kw) - corr2d(X - E, K, **kw))) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@given(problems())
def test_transpose_matches_corr2d_backward(problem):
    X, K, G, kw, _ = problem
    grad = (as_matrix(K, X.shape, **kw).T @ G.ravel()).reshape(X.shape)
    dX = fastconv.corr2d_backward(X, K, G, needs=("X",), **kw).X
    np.testing.assert_allclose(grad, dX, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- im2col, the other way round


@given(problems())
def test_im2col_times_kernel_is_corr2d(problem):
    X, K, _, kw, out_shape = problem
    P = fastconv.im2col(X, K.shape, **kw)
    assert P.shape == (out_shape[0] * out_shape[1], K.size)
    np.testing.assert_allclose((P @ K.ravel()).reshape(out_shape), corr2d(X, K, **kw), rtol=1e-12, atol=1e-12)
    # both matrices describe the same products: W[row] holds K where P[row] holds X
    W = as_matrix(K, X.shape, **kw)
    np.testing.assert_allclose(W @ X.ravel(), P @ K.ravel(), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- errors


def test_other_modes_are_refused_clearly():
    with pytest.raises(ValueError, match="zero padding only"):
        as_matrix(np.ones((3, 3)), (5, 5), padding=1, mode="reflect")


@pytest.mark.parametrize(
    "K, shape, kw, match",
    [
        (np.ones((4, 4)), (3, 3), {}, "larger than the padded input"),
        (np.ones((2, 2, 2)), (3, 3), {}, "2-D"),
        (np.ones((2, 2)), (3,), {}, "pair"),
        (np.ones((2, 2)), (0, 3), {}, "pair"),
        (np.ones((2, 2)), (3, 3), {"stride": 0}, "stride"),
        (np.ones((2, 2)), (3, 3), {"padding": "half"}, "unknown padding"),
    ],
)
def test_bad_arguments(K, shape, kw, match):
    with pytest.raises(ValueError, match=match):
        as_matrix(K, shape, **kw)


def test_complex_kernel_refused():
    with pytest.raises(TypeError):
        as_matrix(np.ones((2, 2), complex), (3, 3))
