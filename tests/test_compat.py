"""fastconv.compat against the libraries it replaces, case by case (skipped
where a library is not installed): scipy.ndimage, scipy.signal, OpenCV.
Each test also counts its agreements, printed with -s."""
import itertools

import numpy as np
import pytest

from fastconv import compat

ndimage = pytest.importorskip("scipy.ndimage") if False else None
KERNELS = [(3, 3), (4, 4), (2, 5), (1, 3), (5, 1), (1, 1), (4, 3)]


def _close(ours, theirs, dtype):
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    if np.dtype(dtype).kind in "iu":
        np.testing.assert_array_equal(ours, theirs)
    else:
        tol = 2e-5 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-12
        np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol * max(1.0, np.abs(theirs).max()))


# ------------------------------------------------------------------ scipy.ndimage

ND_MODES = ["reflect", "constant", "nearest", "mirror", "wrap", "grid-wrap", "grid-constant", "grid-mirror"]


def test_ndimage_every_mode_origin_and_even_kernel():
    nd = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((9, 11))
    count = 0
    for kshape in KERNELS:
        K = rng.standard_normal(kshape)
        origins = list(itertools.product(*(range(-(k // 2), (k - 1) // 2 + 1) for k in kshape)))
        for mode, origin in itertools.product(ND_MODES, origins):
            for fn in ("correlate", "convolve"):
                ours = getattr(compat, fn)(X, K, mode=mode, cval=1.5, origin=origin)
                theirs = getattr(nd, fn)(X, K, mode=mode, cval=1.5, origin=origin)
                _close(ours, theirs, np.float64)
                count += 1
    print(f"scipy.ndimage correlate/convolve: {count} cases agree")
    assert count > 500


@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.int16, np.uint16])
def test_ndimage_output_dtypes(dtype):
    nd = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(1)
    X = (rng.random((12, 13)) * 200).astype(dtype)
    # Results in the output dtype's range (ndimage wraps around outside it,
    # fastconv.compat saturates: the one documented difference).
    for K in (rng.random((3, 3)) / 4.5, np.ones((2, 2)) / 4, rng.integers(0, 2, (5, 5)) / 25.0):
        for output in (None, np.float64, np.float32):
            ours = compat.correlate(X, K, output=output)
            theirs = nd.correlate(X, K, output=output)
            if theirs.dtype.kind in "iu":  # ndimage truncates toward zero; tolerate ties of float rounding
                assert ours.dtype == theirs.dtype
                assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1
                assert np.mean(ours == theirs) > 0.99
            else:
                _close(ours, theirs, np.float32 if np.float32 in (output, dtype) else np.float64)
        out = np.empty(X.shape, np.float64)
        assert compat.correlate(X, K, output=out) is out
        _close(out, nd.correlate(X, K, output=np.float64), np.float64)


def test_ndimage_axes_and_nd_weights():
    nd = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(2)
    X = rng.random((6, 7, 3))
    K = rng.random((3, 2))
    _close(compat.correlate(X, K, axes=(0, 1)), nd.correlate(X, K, axes=(0, 1)), np.float64)
    _close(compat.convolve(X, K, axes=(0, 1), mode="mirror", origin=(1, -1)),
           nd.convolve(X, K, axes=(0, 1), mode="mirror", origin=(1, -1)), np.float64)
    stack = rng.random((4, 8, 9))
    W = rng.random((1, 3, 3))  # a 3-D weight that filters two axes
    _close(compat.correlate(stack, W), nd.correlate(stack, W), np.float64)


def test_ndimage_refusals():
    with pytest.raises(NotImplementedError, match="filters at most two"):
        compat.correlate(np.ones((4, 5, 6)), np.ones((2, 2, 2)))
    with pytest.raises(NotImplementedError, match="two axes"):
        compat.correlate(np.ones(5), np.ones(3))
    with pytest.raises(ValueError, match=r"invalid origin 2 for a kernel of size 3: accepted -1 to 1"):
        compat.correlate(np.ones((5, 5)), np.ones((3, 3)), origin=2)
    with pytest.raises(RuntimeError, match="boundary mode not supported"):
        compat.correlate(np.ones((5, 5)), np.ones((3, 3)), mode="edge")
    with pytest.raises(NotImplementedError, match="per-axis modes"):
        compat.correlate(np.ones((5, 5)), np.ones((3, 3)), mode=("reflect", "wrap"))


# ------------------------------------------------------------------ scipy.signal

def test_signal_every_mode_boundary_and_swap():
    sg = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(3)
    count = 0
    shapes = [((7, 9), (3, 3)), ((7, 9), (4, 2)), ((6, 6), (6, 6)), ((5, 8), (2, 9)), ((3, 4), (5, 6)),
              ((8, 5), (1, 1)), ((2, 3), (7, 8))]
    for (xs, ks), mode, boundary in itertools.product(shapes, ("full", "same", "valid"), ("fill", "wrap", "symm")):
        a, b = rng.standard_normal(xs), rng.standard_normal(ks)
        for fn in ("correlate2d", "convolve2d"):
            try:
                theirs = getattr(sg, fn)(a, b, mode=mode, boundary=boundary, fillvalue=2.5)
            except ValueError:
                with pytest.raises(ValueError, match="at least as large as the other"):
                    getattr(compat, fn)(a, b, mode=mode, boundary=boundary, fillvalue=2.5)
                continue
            ours = getattr(compat, fn)(a, b, mode=mode, boundary=boundary, fillvalue=2.5)
            _close(ours, theirs, np.float64)
            count += 1
    print(f"scipy.signal correlate2d/convolve2d: {count} cases agree")
    assert count > 100


@pytest.mark.parametrize("dtypes", [(np.float32, np.float32), (np.float32, np.float64), (np.int32, np.int32),
                                    (np.uint8, np.float32)])
def test_signal_result_dtype(dtypes):
    sg = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(4)
    a = (rng.random((9, 8)) * 10).astype(dtypes[0])
    b = (rng.random((3, 2)) * 3).astype(dtypes[1])
    for mode in ("full", "same", "valid"):
        ours, theirs = compat.correlate2d(a, b, mode), sg.correlate2d(a, b, mode)
        _close(ours, theirs, theirs.dtype)


def test_signal_refusals():
    with pytest.raises(ValueError, match="must both be 2-D"):
        compat.correlate2d(np.ones((2, 3, 4)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="Acceptable mode flags"):
        compat.correlate2d(np.ones((3, 3)), np.ones((2, 2)), mode="reflect")
    with pytest.raises(ValueError, match="Acceptable boundary flags"):
        compat.convolve2d(np.ones((3, 3)), np.ones((2, 2)), boundary="mirror")


# ------------------------------------------------------------------ OpenCV

CV_BORDERS = ["BORDER_CONSTANT", "BORDER_REPLICATE", "BORDER_REFLECT", "BORDER_REFLECT_101", "BORDER_DEFAULT"]


def test_opencv_every_border_anchor_and_even_kernel():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(5)
    count = 0
    for src in (rng.standard_normal((9, 12)).astype(np.float32), rng.standard_normal((7, 8, 3))):
        for kshape in KERNELS:
            K = rng.standard_normal(kshape)
            anchors = [(-1, -1)] + [(x, y) for y in range(kshape[0]) for x in range(kshape[1])][:6]
            for border, anchor in itertools.product(CV_BORDERS, anchors):
                for flag in (0, cv2.BORDER_ISOLATED):
                    b = getattr(cv2, border) | flag
                    ours = compat.filter2D(src, -1, K, anchor=anchor, delta=0.25, borderType=b)
                    theirs = cv2.filter2D(src, -1, K, anchor=anchor, delta=0.25, borderType=b)
                    _close(ours, theirs, src.dtype)
                    count += 1
    print(f"cv2.filter2D: {count} cases agree")
    assert count > 500


@pytest.mark.parametrize("src_dtype, ddepths", [(np.uint8, ["-1", "CV_16S", "CV_16U", "CV_32F", "CV_64F"]),
                                                (np.uint16, ["-1", "CV_32F", "CV_64F"]),
                                                (np.int16, ["-1", "CV_32F"]),
                                                (np.float32, ["-1", "CV_64F"]), (np.float64, ["-1"])])
def test_opencv_depths_and_saturation(src_dtype, ddepths):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(6)
    src = (rng.random((20, 30, 3)) * 250).astype(src_dtype)
    for ddepth in ddepths:
        d = -1 if ddepth == "-1" else getattr(cv2, ddepth)
        for K in (np.ones((3, 3)) / 9, np.array([[-1.0, 0, 3.0]]), rng.random((5, 5)) * 2 - 0.5):
            try:
                theirs = cv2.filter2D(src, d, K)
            except cv2.error:  # OpenCV 5 refuses some depth pairs for 3 channels; fastconv computes them
                continue
            ours = compat.filter2D(src, d, K)
            assert ours.dtype == theirs.dtype
            if theirs.dtype.kind in "iu":  # float32 sums on both sides; a tie may round either way
                assert np.abs(ours.astype(np.int64) - theirs.astype(np.int64)).max() <= 1
                assert np.mean(ours == theirs) > 0.99
            else:
                _close(ours, theirs, theirs.dtype)
    dst = np.empty(src.shape, src.dtype)
    assert compat.filter2D(src, -1, np.ones((2, 2)), dst=dst) is dst


def test_opencv_refusals():
    cv2 = pytest.importorskip("cv2")
    img = np.ones((5, 6), np.float32)
    with pytest.raises(ValueError, match="BORDER_WRAP is not supported by filter2D"):
        compat.filter2D(img, -1, np.ones((3, 3)), borderType=compat.BORDER_WRAP)
    with pytest.raises(cv2.error):
        cv2.filter2D(img, -1, np.ones((3, 3)), borderType=cv2.BORDER_WRAP)
    with pytest.raises(ValueError, match="anchor .* lies outside the 3x3 kernel"):
        compat.filter2D(img, -1, np.ones((3, 3)), anchor=(3, 0))
    with pytest.raises(ValueError, match="ddepth 0 is not supported for a CV_32F source"):
        compat.filter2D(img, compat.CV_8U, np.ones((3, 3)))
    with pytest.raises(ValueError, match="borderType 5 is not supported"):
        compat.filter2D(img, -1, np.ones((3, 3)), borderType=compat.BORDER_TRANSPARENT)


def test_constants_have_opencv_values():
    cv2 = pytest.importorskip("cv2")
    for name in compat.__all__:
        if name.startswith(("BORDER_", "CV_")):
            assert getattr(compat, name) == getattr(cv2, name), name


# ------------------------------------------------------------------ complex

def test_complex_against_scipy():
    nd = pytest.importorskip("scipy.ndimage")
    sg = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(7)
    X = rng.standard_normal((6, 7)) + 1j * rng.standard_normal((6, 7))
    K = rng.standard_normal((3, 2)) + 1j * rng.standard_normal((3, 2))
    count = 0
    for a, b in ((X, K), (X.real, K), (X, K.real), (X.astype(np.complex64), K.real.astype(np.float32))):
        dt = np.result_type(a, b)
        for fn, mode in itertools.product(("correlate", "convolve"), ("reflect", "mirror", "constant", "wrap")):
            _close(getattr(compat, fn)(a, b, mode=mode, origin=(1, -1)),
                   getattr(nd, fn)(a, b, mode=mode, origin=(1, -1)), np.float32 if dt == np.complex64 else dt)
            count += 1
        for (p, q), fn, mode, boundary in itertools.product(((a, b), (b, a)), ("correlate2d", "convolve2d"),
                                                            ("full", "same", "valid"), ("fill", "wrap", "symm")):
            _close(getattr(compat, fn)(p, q, mode, boundary), getattr(sg, fn)(p, q, mode, boundary),
                   np.float32 if dt == np.complex64 else dt)
            count += 1
    print(f"complex against scipy.ndimage and scipy.signal: {count} cases agree")
