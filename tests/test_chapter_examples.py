"""The textbook chapter's examples, exactly, on every backend."""
import numpy as np
import pytest

import fastconv
from _oracle_cases import is_approximate

SEED_X = np.arange(9.0).reshape(3, 3)
SEED_K = np.array([[0.0, 1.0], [2.0, 3.0]])


def _check_values(backend, got, expected):
    if is_approximate(backend):  # fft: integer-valued results to rounding
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9 * max(1.0, np.abs(expected).max()))
    else:
        np.testing.assert_array_equal(got, expected)


def test_seed_example(backend):
    got = fastconv.corr2d(SEED_X, SEED_K, backend=backend)
    assert got.dtype == np.float64
    _check_values(backend, got, [[19.0, 25.0], [37.0, 43.0]])


def test_seed_example_integer_inputs(backend):
    got = fastconv.corr2d(np.arange(9).reshape(3, 3), [[0, 1], [2, 3]], backend=backend)
    assert got.dtype == np.float64
    _check_values(backend, got, [[19.0, 25.0], [37.0, 43.0]])


def _edge_image():
    X = np.ones((6, 8))
    X[:, 2:6] = 0
    return X


def test_vertical_edge_detection(backend):
    Y = fastconv.corr2d(_edge_image(), np.array([[1.0, -1.0]]), backend=backend)
    expected = np.zeros((6, 7))
    expected[:, 1] = 1
    expected[:, 5] = -1
    _check_values(backend, Y, expected)


def test_transposed_image_gives_zeros(backend):
    Y = fastconv.corr2d(_edge_image().T, np.array([[1.0, -1.0]]), backend=backend)
    assert Y.shape == (8, 5)
    _check_values(backend, Y, np.zeros((8, 5)))


@pytest.mark.parametrize(
    "xshape, kshape, kwargs, out_shape",
    [
        ((8, 8), (3, 3), {"padding": 1}, (8, 8)),
        ((8, 8), (3, 3), {"padding": "same"}, (8, 8)),
        ((8, 8), (5, 3), {"padding": (2, 1)}, (8, 8)),
        ((8, 8), (5, 3), {"padding": "valid"}, (4, 6)),
        ((8, 8), (3, 3), {"padding": 1, "stride": 2}, (4, 4)),
        ((8, 8), (3, 5), {"padding": (0, 1), "stride": (3, 4)}, (2, 2)),
    ],
)
def test_output_shapes(backend, xshape, kshape, kwargs, out_shape):
    rng = np.random.default_rng(0)
    X, K = rng.standard_normal(xshape), rng.standard_normal(kshape)
    assert fastconv.output_shape(xshape, kshape, **kwargs) == out_shape
    Y = fastconv.corr2d(X, K, backend=backend, **kwargs)
    assert Y.shape == out_shape


def test_padding_and_stride_example(backend):
    got = fastconv.corr2d(SEED_X, SEED_K, padding=1, stride=(3, 2), backend=backend)
    _check_values(backend, got, [[0.0, 8.0], [6.0, 8.0]])
