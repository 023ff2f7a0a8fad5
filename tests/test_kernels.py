"""fastconv.kernels: the chapter's kernels and exercises, asserted."""
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import fastconv
from fastconv import corr2d, kernels

# ---------------------------------------------------------------- exercise 1


def diagonal_image(n=6):
    """Bright on and above the main diagonal, dark below: one diagonal edge."""
    return np.triu(np.ones((n, n)))


K = np.array([[1.0, -1.0]])


def test_chapter_kernel_is_edge_1_0():
    np.testing.assert_array_equal(kernels.edge((1, 0)), K)
    np.testing.assert_array_equal(kernels.edge((1, 0)), -kernels.finite_difference(1, axis=1))


def test_exercise1_diagonal_image():
    # Each row steps dark -> bright once, just left of the diagonal: -1 there.
    Y = corr2d(diagonal_image(), K)
    expected = np.zeros((6, 5))
    expected[np.arange(1, 6), np.arange(0, 5)] = -1
    np.testing.assert_array_equal(Y, expected)


def test_exercise1_transposed_image():
    # The transpose swaps the bright and dark sides: bright -> dark, +1 on the diagonal.
    Y = corr2d(diagonal_image().T, K)
    expected = np.zeros((6, 5))
    expected[np.arange(5), np.arange(5)] = 1
    np.testing.assert_array_equal(Y, expected)


def test_exercise1_transposed_kernel():
    X = diagonal_image()
    Y = corr2d(X, K.T)
    expected = np.zeros((5, 6))
    expected[np.arange(5), np.arange(5)] = 1
    np.testing.assert_array_equal(Y, expected)
    np.testing.assert_array_equal(Y, corr2d(X.T, K).T)


def test_exercise1_edge_along_diagonal_gives_zero_with_roberts():
    X = diagonal_image()
    np.testing.assert_array_equal(corr2d(X, kernels.edge((1, 1))), np.zeros((5, 5)))
    # The difference across the edge, along (1, -1), sees the staircase on
    # both sides of it: X[i + 1, j] - X[i, j + 1] is -1 on two diagonals.
    expected = -(np.eye(5) + np.eye(5, k=-1))
    np.testing.assert_array_equal(corr2d(X, kernels.edge((1, -1))), expected)


def test_horizontal_edge_invisible_to_chapter_kernel():
    X = np.zeros((6, 8))
    X[3:] = 1
    np.testing.assert_array_equal(corr2d(X, K), np.zeros((6, 7)))
    Y = corr2d(X, K.T)
    np.testing.assert_array_equal(Y[2], -np.ones(8))
    assert np.count_nonzero(Y) == 8


@given(
    X=st.integers(1, 7).flatmap(
        lambda h: st.integers(2, 7).flatmap(
            lambda w: st.lists(st.integers(-9, 9), min_size=h * w, max_size=h * w).map(
                lambda v: np.array(v, dtype=float).reshape(h, w)
            )
        )
    )
)
def test_transposing_kernel_equals_transposing_image_and_output(X):
    np.testing.assert_array_equal(corr2d(X.T, K.T), corr2d(X, K).T)


# ---------------------------------------------------------------- edge(v)


def test_edge_named_cases():
    np.testing.assert_array_equal(kernels.edge((0, 1)), [[1.0], [-1.0]])
    np.testing.assert_array_equal(kernels.edge((1, 1)), [[1.0, 0.0], [0.0, -1.0]])
    np.testing.assert_array_equal(kernels.edge((-1, 0)), [[-1.0, 1.0]])
    np.testing.assert_array_equal(kernels.edge((3, 0)), K)  # length does not matter


directions = st.tuples(
    st.floats(-4, 4, allow_nan=False), st.floats(-4, 4, allow_nan=False)
).filter(lambda v: max(abs(v[0]), abs(v[1])) > 1e-3)


@given(directions)
def test_edge_kernel_sums_to_zero_and_is_small(v):
    E = kernels.edge(v)
    assert E.shape[0] <= 2 and E.shape[1] <= 2
    assert abs(E.sum()) < 1e-12
    assert np.count_nonzero(E) >= 2


@given(directions)
def test_edge_responds_along_v_not_across(v):
    """A ramp that changes only across v (constant along v, i.e. an edge
    running along v) gives zero; a ramp that changes along v does not."""
    vx, vy = v
    rows, cols = np.mgrid[0:6, 0:6].astype(float)
    E = kernels.edge(v)
    along = corr2d(cols * vy - rows * vx, E)  # constant along (vx, vy)
    np.testing.assert_allclose(along, 0, atol=1e-9)
    across = corr2d(cols * vx + rows * vy, E)  # grows along v
    expected = -(vx**2 + vy**2) / max(abs(vx), abs(vy))  # X(p) - X(p + v/|v|_inf)
    np.testing.assert_allclose(across, expected, rtol=1e-9)


@pytest.mark.parametrize("v", [(1, 0), (0, 1), (1, 1), (1, -1), (-1, 1), (-2, 0)])
def test_edge_lattice_direction_ignores_steps_along_v(v):
    vx, vy = v
    rows, cols = np.mgrid[0:8, 0:8]
    step_along = ((cols * vy - rows * vx) > 0).astype(float)  # edge line runs along v
    proj = cols * vx + rows * vy
    step_across = (proj > np.median(proj)).astype(float)  # edge orthogonal to v
    E = kernels.edge(v)
    np.testing.assert_array_equal(corr2d(step_along, E), 0)
    assert np.any(corr2d(step_across, E) != 0)


def test_edge_rejects_zero_vector():
    with pytest.raises(ValueError, match="non-zero"):
        kernels.edge((0, 0))


# ---------------------------------------------------------------- finite differences


@pytest.mark.parametrize("order", [0, 1, 2, 3, 4, 5, 6])
def test_finite_difference_coefficients(order):
    F = kernels.finite_difference(order)
    assert F.shape == (1, order + 1)
    expected = [(-1) ** (order - b) * math.comb(order, b) for b in range(order + 1)]
    np.testing.assert_array_equal(F.ravel(), expected)
    np.testing.assert_array_equal(kernels.finite_difference(order, axis=0), F.T)


def test_second_difference_is_1_m2_1():
    np.testing.assert_array_equal(kernels.finite_difference(2), [[1.0, -2.0, 1.0]])


def _poly_samples(coeffs, n):
    x = np.arange(n, dtype=float)
    return np.polyval(coeffs, x)  # coeffs highest first, integers: exact in float64


@given(
    order=st.integers(0, 6),
    coeffs=st.lists(st.integers(-5, 5), min_size=7, max_size=7),
    axis=st.sampled_from([0, 1]),
)
def test_finite_difference_reproduces_polynomial_derivative_exactly(order, coeffs, axis):
    # A polynomial of degree `order`: its order-th derivative is order! * a_d.
    c = coeffs[: order + 1]
    n = order + 5
    p = _poly_samples(c, n)
    X = np.tile(p, (3, 1)) if axis == 1 else np.tile(p[:, None], (1, 3))
    Y = corr2d(X, kernels.finite_difference(order, axis=axis))
    np.testing.assert_array_equal(Y, math.factorial(order) * c[0])


@given(order=st.integers(0, 5), coeffs=st.lists(st.integers(-4, 4), min_size=7, max_size=7))
def test_finite_difference_exact_at_window_centre_one_degree_up(order, coeffs):
    c = coeffs[: order + 2]  # degree order + 1
    n = order + 6
    Y = corr2d(_poly_samples(c, n)[None, :], kernels.finite_difference(order)).ravel()
    deriv = np.polyder(np.poly1d(c), order) if order else np.poly1d(c)
    centres = np.arange(Y.size) + order / 2
    np.testing.assert_allclose(Y, deriv(centres), rtol=1e-12, atol=1e-9)


def test_finite_difference_bad_arguments():
    with pytest.raises(ValueError):
        kernels.finite_difference(-1)
    with pytest.raises(ValueError):
        kernels.finite_difference(1.5)
    with pytest.raises(ValueError, match="axis"):
        kernels.finite_difference(1, axis=2)


def test_first_difference_of_alternating_pattern_is_largest():
    # +1 -1 +1 ... gives 2**d: the strongest response per unit amplitude.
    x = (-1.0) ** np.arange(12)
    for d in range(1, 5):
        Y = corr2d(x[None, :], kernels.finite_difference(d))
        np.testing.assert_array_equal(np.abs(Y), 2.0**d)


# ---------------------------------------------------------------- Laplacian


def test_laplacian_forms():
    L = kernels.laplacian()
    np.testing.assert_array_equal(L, [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    F2 = kernels.finite_difference(2)
    np.testing.assert_array_equal(L, np.pad(F2, ((1, 1), (0, 0))) + np.pad(F2.T, ((0, 0), (1, 1))))
    L8 = kernels.laplacian(diagonals=True)
    assert L8.sum() == 0 and L8[1, 1] == -8


@given(coeffs=st.lists(st.integers(-5, 5), min_size=6, max_size=6), diagonals=st.booleans())
def test_laplacian_of_quadratic_is_exact(coeffs, diagonals):
    a, b, c, d, e, f = coeffs
    y, x = np.mgrid[0:7, 0:7].astype(float)
    X = a * x**2 + b * y**2 + c * x * y + d * x + e * y + f
    expected = 2 * (a + b) * (3 if diagonals else 1)
    np.testing.assert_array_equal(corr2d(X, kernels.laplacian(diagonals)), expected)


def test_laplacian_strongest_on_isolated_point():
    X = np.zeros((5, 5))
    X[2, 2] = 1
    Y = corr2d(X, kernels.laplacian(), padding=1)
    assert Y[2, 2] == -4 and np.abs(Y).max() == 4
    assert Y[1, 2] == Y[3, 2] == Y[2, 1] == Y[2, 3] == 1


# ---------------------------------------------------------------- blurs


blur_kernels = st.one_of(
    st.integers(1, 6).map(kernels.box),
    st.tuples(st.integers(1, 5), st.integers(1, 5)).map(kernels.box),
    st.floats(0.2, 2.5).map(kernels.gaussian),
    st.tuples(st.floats(0.2, 2.0), st.integers(1, 6)).map(lambda t: kernels.gaussian(t[0], size=t[1])),
    st.tuples(st.floats(0.3, 2.0), st.floats(0.3, 2.0)).map(kernels.gaussian),
)


@given(B=blur_kernels, value=st.floats(-1e3, 1e3), padding=st.sampled_from([0, "valid"]))
def test_blur_preserves_constant_image(B, value, padding):
    np.testing.assert_allclose(B.sum(), 1.0, rtol=1e-12)
    assert np.all(B > 0)
    X = np.full((B.shape[0] + 3, B.shape[1] + 2), value)
    Y = corr2d(X, B, padding=padding)
    np.testing.assert_allclose(Y, value, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(Y.mean(), X.mean(), rtol=1e-12, atol=1e-9)


@given(B=blur_kernels, seed=st.integers(0, 2**16))
def test_blur_with_wrap_preserves_mean_of_any_image(B, seed):
    X = np.random.default_rng(seed).standard_normal((9, 8))
    assume(B.shape[0] <= 9 and B.shape[1] <= 8)
    Y = corr2d(X, B, padding="same", mode="wrap")
    np.testing.assert_allclose(Y.mean(), X.mean(), atol=1e-12)


def test_gaussian_default_size_and_symmetry():
    G = kernels.gaussian(1.0)
    assert G.shape == (7, 7)
    np.testing.assert_allclose(G, G[::-1, ::-1])
    np.testing.assert_allclose(G, G.T)
    assert G[3, 3] == G.max()
    assert kernels.gaussian((0.5, 2.0)).shape == (5, 13)


def test_blur_bad_arguments():
    with pytest.raises(ValueError):
        kernels.box(0)
    with pytest.raises(ValueError):
        kernels.gaussian(0)
    with pytest.raises(ValueError):
        kernels.gaussian(1.0, size=0)


# ---------------------------------------------------------------- Sobel / Scharr


@pytest.mark.parametrize("pair", [kernels.sobel, kernels.scharr])
def test_gradient_pairs(pair):
    gx, gy = pair()
    np.testing.assert_array_equal(gy, gx.T)
    assert gx.sum() == 0 and np.all(gx[:, 1] == 0)
    y, x = np.mgrid[0:6, 0:6].astype(float)
    nx, ny = pair(normalize=True)
    ramp = 3 * x - 2 * y
    np.testing.assert_allclose(corr2d(ramp, nx), 3, rtol=1e-12)
    np.testing.assert_allclose(corr2d(ramp, ny), -2, rtol=1e-12)


def test_sobel_values():
    gx, _ = kernels.sobel()
    np.testing.assert_array_equal(gx, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    sx, _ = kernels.scharr()
    np.testing.assert_array_equal(sx, [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]])


def test_kernels_are_fresh_float64_arrays():
    for make in (lambda: kernels.edge((1, 0)), kernels.laplacian, lambda: kernels.box(3),
                 lambda: kernels.gaussian(1), lambda: kernels.finite_difference(2)):
        a, b = make(), make()
        assert a.dtype == np.float64 and a.flags.c_contiguous
        a[...] = 7
        assert not np.array_equal(a, b)


def test_module_is_public():
    assert fastconv.kernels is kernels
