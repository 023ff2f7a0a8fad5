"""Cross-checks against other libraries (test-only dependencies): scipy.signal
correlate2d / convolve2d, scipy.ndimage.correlate with every boundary mode
under its ndimage name, numpy.pad, and OpenCV's filter2D border names.

These pin the README's boundary-mode table and the "same" convention (an
even kernel's extra padding row/column goes at the bottom/right)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from fastconv._padding import NDIMAGE_NAMES, NUMPY_NAMES
from _oracle_cases import MODES, assert_close, _magnitude_scale, examples, is_approximate

scipy_signal = pytest.importorskip("scipy.signal")
ndimage = pytest.importorskip("scipy.ndimage")


def _tol_check(backend, got, expected, X, K, **kwargs):
    from _oracle_cases import assert_matches_oracle

    if is_approximate(backend):
        assert_matches_oracle(got, X, K, expected=np.asarray(expected, dtype=got.dtype), backend=backend, **kwargs)
    else:
        assert_close(got, np.asarray(expected, dtype=got.dtype), got.dtype, _magnitude_scale(X, K))


@st.composite
def images_and_kernels(draw, min_side=1):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    h, w = draw(st.integers(min_side, 12)), draw(st.integers(min_side, 12))
    return rng.standard_normal((h, w)), rng.standard_normal((kh, kw))


# The README's table, written out: fastconv -> (numpy.pad, scipy.ndimage, OpenCV)
README_TABLE = {
    "constant": ("constant", "constant", "BORDER_CONSTANT"),
    "reflect": ("reflect", "mirror", "BORDER_REFLECT_101"),
    "symmetric": ("symmetric", "reflect", "BORDER_REFLECT"),
    "edge": ("edge", "nearest", "BORDER_REPLICATE"),
    "wrap": ("wrap", "grid-wrap", "BORDER_WRAP"),
}


def test_mode_tables_agree_with_padding_module():
    assert set(README_TABLE) == set(MODES) == set(NUMPY_NAMES) == set(NDIMAGE_NAMES)
    for mode, (np_name, nd_name, _) in README_TABLE.items():
        assert NUMPY_NAMES[mode] == np_name
        assert NDIMAGE_NAMES[mode] == nd_name


@pytest.mark.parametrize("scipy_mode, padding", [("valid", "valid"), ("full", "full"), ("same", "same")])
@settings(max_examples=examples(40))
@given(data=images_and_kernels())
def test_scipy_signal_correlate2d(backend, scipy_mode, padding, data):
    X, K = data
    if scipy_mode == "valid" and (K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]):
        X, K = K, X  # scipy would swap; keep the kernel the smaller
    if scipy_mode == "valid" and (K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]):
        return
    expected = scipy_signal.correlate2d(X, K, mode=scipy_mode)
    got = fastconv.corr2d(X, K, padding=padding, backend=backend)
    _tol_check(backend, got, expected, X, K, padding=padding)


@pytest.mark.parametrize("boundary, mode", [("fill", "constant"), ("wrap", "wrap"), ("symm", "symmetric")])
@settings(max_examples=examples(30))
@given(data=images_and_kernels(min_side=5))
def test_scipy_signal_boundaries(backend, boundary, mode, data):
    X, K = data
    expected = scipy_signal.correlate2d(X, K, mode="same", boundary=boundary)
    got = fastconv.corr2d(X, K, padding="same", mode=mode, backend=backend)
    _tol_check(backend, got, expected, X, K, padding="same", mode=mode)


@pytest.mark.parametrize("scipy_mode, padding", [("valid", "valid"), ("full", "full"), ("same", "same")])
@settings(max_examples=examples(30))
@given(data=images_and_kernels(min_side=5))
def test_scipy_signal_convolve2d(backend, scipy_mode, padding, data):
    X, K = data
    expected = scipy_signal.convolve2d(X, K, mode=scipy_mode)
    got = fastconv.convolve2d(X, K, padding=padding, backend=backend)
    if scipy_mode == "same":
        # scipy centres a convolution's "same" on the flipped kernel's other
        # side for even kernels; compare on odd kernels, where both agree.
        if K.shape[0] % 2 == 0 or K.shape[1] % 2 == 0:
            return
    _tol_check(backend, got, expected, X, K[::-1, ::-1].copy(), padding=padding)


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=examples(40))
@given(data=images_and_kernels(), cval=st.sampled_from([0.0, 1.5, -3.0]))
def test_scipy_ndimage_correlate(backend, mode, data, cval):
    """ndimage centres a kernel at k//2; fastconv's "same" puts an even
    kernel's extra row/column at the bottom/right, which is ndimage's
    ``origin=-1`` on that axis (origin 0 for odd sizes)."""
    X, K = data
    origin = [-1 if k % 2 == 0 else 0 for k in K.shape]
    expected = ndimage.correlate(X, K, mode=NDIMAGE_NAMES[mode], cval=cval, origin=origin)
    got = fastconv.corr2d(X, K, padding="same", mode=mode, cval=cval, backend=backend)
    _tol_check(backend, got, expected, X, K, padding="same", mode=mode, cval=cval)


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=examples(40))
@given(data=images_and_kernels(), pads=st.tuples(*[st.integers(0, 6)] * 4), cval=st.sampled_from([0.0, 2.0]))
def test_numpy_pad(backend, mode, data, pads, cval):
    """Padding by fastconv equals numpy.pad under the README's name, for any
    width (also wider than the image)."""
    X, K = data
    pairs = ((pads[0], pads[1]), (pads[2], pads[3]))
    if any(k > n + sum(p) for k, n, p in zip(K.shape, X.shape, pairs)):
        return
    extra = {"constant_values": cval} if mode == "constant" else {}
    Xp = np.pad(X, pairs, mode=NUMPY_NAMES[mode], **extra)
    expected = fastconv.corr2d(Xp, K, backend="naive")
    got = fastconv.corr2d(X, K, padding=pairs, mode=mode, cval=cval, backend=backend)
    _tol_check(backend, got, expected, X, K, padding=pairs, mode=mode, cval=cval)


@pytest.mark.parametrize("mode", [m for m in MODES if m != "wrap"])  # filter2D has no BORDER_WRAP
def test_opencv_filter2d(backend, mode):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(3)
    X = rng.standard_normal((23, 17))
    for kshape in [(3, 3), (5, 3), (2, 2), (4, 5)]:
        K = rng.standard_normal(kshape)
        # anchor = the kernel element over the output pixel: (k-1)//2 is
        # fastconv's "same" (OpenCV's default anchor k//2 differs for even k)
        anchor = ((kshape[1] - 1) // 2, (kshape[0] - 1) // 2)
        border = getattr(cv2, README_TABLE[mode][2])
        expected = cv2.filter2D(X, -1, K, anchor=anchor, borderType=border)
        got = fastconv.corr2d(X, K, padding="same", mode=mode, backend=backend)
        _tol_check(backend, got, expected, X, K, padding="same", mode=mode)


def test_opencv_copymakeborder_wrap():
    """BORDER_WRAP exists for copyMakeBorder (not filter2D): check the name."""
    cv2 = pytest.importorskip("cv2")
    X = np.arange(12.0).reshape(3, 4)
    expected = cv2.copyMakeBorder(X, 2, 1, 3, 2, cv2.BORDER_WRAP)
    np.testing.assert_array_equal(expected, np.pad(X, ((2, 1), (3, 2)), mode="wrap"))
    got = fastconv.corr2d(X, [[1.0]], padding=((2, 1), (3, 2)), mode="wrap", backend="naive")
    np.testing.assert_array_equal(got, expected)
