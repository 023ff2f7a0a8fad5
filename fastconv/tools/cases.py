"""The 2-D benchmark cases, their float64 reference and the correctness gate.

One registry serves both the pytest-benchmark suite (``benchmarks/``, which
imports :data:`CASES`, :func:`check`, :func:`reference` from here) and the
``bench`` command (:mod:`.bench`), so the two always time the same problems
the same way. It lives inside the package, not in ``benchmarks/``, so that
``python -m fastconv bench`` also works from an installed wheel.

Like for like: every contender (:mod:`.contenders`) computes the same-size
("same") 2-D cross-correlation with a zero (constant) border, and its
result is checked once against :func:`reference` before it is timed.
"""
import math
from dataclasses import dataclass

import numpy as np

from .._geometry import padding_pairs


@dataclass(frozen=True)
class Case:
    """One 2-D problem: an image (H, W) correlated with a kernel (kh, kw)."""

    image: tuple
    kernel: tuple
    dtype: str
    quick: bool = False  # part of the default ``bench`` subset
    oracle: bool = False  # run the slow oracle backend on it (small cases only)
    chapter: bool = False  # the textbook's 6x8 edge image and K = [[1, -1]]
    gauss: bool = False  # a Gaussian blur kernel (rank 1) instead of a random one
    suite = "benchmarks/test_bench_2d.py::test_2d"  # the pytest-benchmark name in the JSON

    @property
    def name(self):
        (h, w), (kh, kw) = self.image, self.kernel
        return f"{h}x{w}-{kh}x{kw}{'gauss' if self.gauss else ''}-{self.dtype}"

    @property
    def macs(self):
        return math.prod(self.image) * math.prod(self.kernel)

    def data(self):
        """(X, K) for this case, deterministic."""
        dtype = np.dtype(self.dtype)
        if self.chapter:
            X = np.ones(self.image, dtype=dtype)
            X[:, 2:6] = 0
            return X, np.array([[1, -1]], dtype=dtype)
        rng = np.random.default_rng([*self.image, *self.kernel])
        X = rng.standard_normal(self.image).astype(dtype)
        if self.gauss:  # sigma = k/6: the usual "kernel spans +-3 sigma" blur
            g = [np.exp(-((np.arange(k) - (k - 1) / 2) ** 2) / (2 * (k / 6) ** 2)) for k in self.kernel]
            K = np.outer(g[0] / g[0].sum(), g[1] / g[1].sum()).astype(dtype)
        else:
            K = rng.standard_normal(self.kernel).astype(dtype)
        return X, K


def _build_cases():
    cases = []
    for dtype in ("float32", "float64"):
        cases.append(Case((6, 8), (1, 2), dtype, quick=dtype == "float64", oracle=True, chapter=True))
        for size in (256, 2048, 4096):
            for k in (3, 5, 7):
                quick = (size, k, dtype) in {(256, 3, "float32"), (2048, 3, "float32"), (2048, 5, "float64")}
                cases.append(Case((size, size), (k, k), dtype, quick=quick, oracle=(size, k) == (256, 3)))
        # quick: float32 only -- in float64, torch (~20 s) and im2col+GEMM
        # (~10 s) need more per call than the whole quick run may take
        # (--full runs it)
        cases.append(Case((1024, 1024), (31, 31), dtype, quick=dtype == "float32"))
    # rank-1 (blur) kernels: where a backend that needs them applies
    cases.append(Case((2048, 2048), (7, 7), "float32", gauss=True))
    cases.append(Case((1024, 1024), (31, 31), "float32", gauss=True, quick=True))
    return tuple(cases)


CASES = _build_cases()
QUICK = tuple(c for c in CASES if c.quick)


def same_pads(kernel_shape):
    """((top, bottom), (left, right)) of fastconv's padding="same" (extra
    row/column of an even kernel at the bottom/right)."""
    return padding_pairs("same", tuple(kernel_shape))


def reference(X, K):
    """Independent float64 "same", zero-border cross-correlation: the
    textbook formula vectorised over output positions (one shifted
    multiply-add per kernel tap), in row blocks to stay in cache."""
    (top, bottom), (left, right) = same_pads(K.shape)
    H, W = X.shape
    kh, kw = K.shape
    Xp = np.zeros((H + top + bottom, W + left + right))
    Xp[top : top + H, left : left + W] = X
    K = np.asarray(K, dtype=np.float64)
    Y = np.zeros((H, W))
    block = max(1, (1 << 20) // max(W, 1))
    for r0 in range(0, H, block):
        r1 = min(H, r0 + block)
        acc = Y[r0:r1]
        for a in range(kh):
            for b in range(kw):
                acc += K[a, b] * Xp[r0 + a : r1 + a, b : b + W]
    return Y


def check(case, got, ref):
    """Raise AssertionError unless ``got`` matches the float64 reference.

    This is a gate against garbage (wrong alignment, wrong dtype, a fast
    path that skips work), not an accuracy test -- accuracy is tested in
    tests/ against the oracle with per-backend bounds. The bar is
    max |got - ref| <= sqrt(eps) * max|ref|: FFT and direct results in the
    case's dtype pass easily; one misplaced row does not.
    """
    got = np.asarray(got)
    assert got.shape == ref.shape, f"{case.name}: shape {got.shape}, expected {ref.shape}"
    assert got.dtype == np.dtype(case.dtype), f"{case.name}: dtype {got.dtype}, expected {case.dtype}"
    scale = max(float(np.abs(ref).max()), 1e-300)
    err = float(np.abs(got.astype(np.float64) - ref).max())
    rtol = float(np.sqrt(np.finfo(case.dtype).eps))
    assert err <= rtol * scale, f"{case.name}: max error {err:.3g} > {rtol:.2g} * {scale:.3g}"
