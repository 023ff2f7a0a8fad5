"""float32 long sums: as close to a float64 reference as the peers'.

scipy.ndimage's own test_gauss03: a 100x100 float32 ramp filtered by a
sigma-1 Gaussian (9x9, truncate 4) with ndimage's "reflect" border must sum
to the input's 49995000 within 1.5. A single float32 accumulator per output
drifted by -2.75 (cython) and -2.07 (gemm); partial sums (per kernel row in
the C kernel, K blocks in the GEMM) fix it.
"""
import numpy as np
import pytest

import fastconv
from fastconv import kernels
from _oracle_cases import ALL_BACKENDS, is_approximate

RAMP = np.arange(100 * 100, dtype=np.float32).reshape(100, 100)


@pytest.mark.parametrize("backend", [b for b in ALL_BACKENDS if not is_approximate(b)])
@pytest.mark.parametrize("sigma, size", [(1.0, 9), (1.0, 5), (2.0, 17)])
def test_gauss03_sum_of_a_smoothed_ramp(backend, sigma, size):
    if backend not in fastconv.available_backends():
        pytest.skip(f"{backend} not available")
    K = kernels.gaussian(sigma, size, dtype=np.float32)
    y = fastconv.corr2d(RAMP, K, padding="same", mode="symmetric", backend=backend)
    assert y.dtype == np.float32
    assert abs(y.sum(dtype=np.float64) - RAMP.sum(dtype=np.float64)) < 1.5
    # and each value within a few float32 ulps of float64 accumulation
    ref = fastconv.corr2d(RAMP.astype(np.float64), K.astype(np.float64), padding="same", mode="symmetric",
                          backend="naive")
    assert np.abs(y - ref).max() <= 8 * np.spacing(np.float32(1e4))


def test_gauss03_against_scipy_ndimage():
    ndimage = pytest.importorskip("scipy.ndimage")
    K = kernels.gaussian(1.0, 9)
    ours = fastconv.corr2d(RAMP, K, padding="same", mode="symmetric")
    theirs = ndimage.correlate(RAMP, K, mode="reflect")
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=8 * np.spacing(np.float32(1e4)))
