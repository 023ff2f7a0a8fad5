"""Classic kernels: edges, finite differences, blurs.

Every function returns a new ndarray ready for :func:`fastconv.corr2d`,
float64 unless ``dtype=`` asks for float32 (or float16), e.g. to filter a
float32 or 8-bit image without any conversion of the kernel. Axis conventions follow the array, not a plot:
axis 0 is rows (``y``, pointing *down* the array), axis 1 is columns
(``x``, pointing right). Derivative kernels are written for
cross-correlation (what ``corr2d`` and a CNN layer compute), so
``corr2d(X, finite_difference(1, axis=1))`` is ``+dX/dx``; flip a kernel
on both axes (``K[::-1, ::-1]``) to use it with :func:`fastconv.convolve2d`.

The chapter's edge detector ``[[1, -1]]`` is :func:`edge` of the direction
``(1, 0)``, which is ``-finite_difference(1, axis=1)``: it computes
``X[i, j] - X[i, j + 1]``, so a bright-to-dark step (left to right) gives
``+1`` and a dark-to-bright step ``-1``.

Chapter exercise 1 (diagonal edges), in short: ``[[1, -1]]`` responds to
every edge that is not purely horizontal, one response per row where the
edge crosses it. For ``X = np.triu(np.ones((n, n)))`` (bright on and above
the diagonal) each row steps from dark to bright once, so the output is a
diagonal line of ``-1`` just below the main diagonal. Transposing X swaps
the bright and dark sides: the steps become bright-to-dark and the output
is a line of ``+1`` on the main diagonal. Transposing the kernel to
``[[1], [-1]]`` differentiates down the columns instead, and
``corr2d(X, K.T) == corr2d(X.T, K).T`` always holds, so here it also gives
``+1`` on the diagonal. A purely horizontal edge gives zero with
``[[1, -1]]`` and the full response with ``[[1], [-1]]``; an edge running
along a diagonal gives zero with the kernel that differences along that
diagonal (``edge((1, 1))`` for this X, the Roberts cross). ``examples/diagonal_edges.py`` shows and
``tests/test_kernels.py`` asserts each case.
"""
import math

from typing import Optional, Sequence

import numpy as np

from ._typing import DTypeLike, FloatArray, Pair

__all__ = [
    "box",
    "edge",
    "finite_difference",
    "gaussian",
    "laplacian",
    "scharr",
    "sobel",
]


def _typed(K, dtype):
    """``K`` (computed in float64) as the float ``dtype`` asked for."""
    dt = np.dtype(dtype)
    if dt.kind != "f" or dt.itemsize > 8:
        raise TypeError(f"dtype must be float16, float32 or float64, got {dt}")
    return K if dt == K.dtype else K.astype(dt)


def _axis(axis):
    if isinstance(axis, bool) or axis not in (0, 1, -1, -2):
        raise ValueError(f"axis must be 0 (rows, y) or 1 (columns, x), got {axis!r}")
    return axis % 2


def _along(k1d, axis):
    """A 1-D kernel as a (1, n) row (axis 1) or an (n, 1) column (axis 0)."""
    k1d = np.asarray(k1d, dtype=np.float64)
    return k1d[None, :].copy() if axis == 1 else k1d[:, None].copy()


def _trim(K):
    """Drop all-zero border rows and columns (a kernel is defined up to a shift)."""
    rows = np.flatnonzero(np.any(K != 0, axis=1))
    cols = np.flatnonzero(np.any(K != 0, axis=0))
    return np.ascontiguousarray(K[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])


def edge(v: Sequence[float], *, dtype: DTypeLike = np.float64) -> FloatArray:
    """Edge detector for edges orthogonal to the direction ``v = (v1, v2)``.

    ``v1`` is the horizontal (column, x) component and ``v2`` the vertical
    one (row, y, pointing down the array). The kernel computes the difference
    ``X(p) - X(p + v/|v|_inf)`` between a pixel and the point one step along
    ``v``, that point read by bilinear interpolation from its (at most four)
    neighbours; all-zero border rows and columns are dropped.

    It responds most strongly to edges orthogonal to ``v``, i.e. edges that run
    in the direction ``(v2, -v1)``: there the image changes along ``v``. An
    image that does not change along ``v`` (an edge running *along* v, or any
    linear ramp orthogonal to v) gives exactly zero when ``v`` is a lattice
    direction (an axis or a diagonal); for other directions ramps still give
    zero and sharp steps give a small residue from the interpolation.
    ``edge((1, 0))`` is the chapter's ``[[1, -1]]`` (vertical edges),
    ``edge((0, 1))`` is ``[[1], [-1]]`` (horizontal edges), ``edge((1, 1))`` is
    ``[[1, 0], [0, -1]]`` (Roberts cross: edges along the anti-diagonal), and
    ``edge(-v)`` is ``-edge(v)`` up to a shift.

    Parameters
    ----------
    v : (v1, v2)
        A finite, non-zero direction.
    dtype : dtype, optional
        The kernel's float dtype: float16, float32 or float64 (the default).

    Returns
    -------
    ndarray
        The kernel, float64, at most 2 x 2.

    Raises
    ------
    ValueError
        ``v`` is not a finite, non-zero pair.

    Examples
    --------
    >>> kernels.edge((1, 0))
    array([[ 1., -1.]])
    >>> kernels.edge((1, 1))
    array([[ 1.,  0.],
           [ 0., -1.]])
    """
    v = np.asarray(v, dtype=np.float64)
    if v.shape != (2,) or not np.all(np.isfinite(v)) or not np.any(v):
        raise ValueError(f"v must be a finite, non-zero pair (v1, v2), got {v!r}")
    vx, vy = v / np.max(np.abs(v))  # one step: the larger component is +-1
    K = np.zeros((3, 3))
    K[1, 1] = 1.0
    # bilinear weights of the point (row 1 + vy, column 1 + vx)
    r0, c0 = math.floor(1 + vy), math.floor(1 + vx)
    fr, fc = (1 + vy) - r0, (1 + vx) - c0
    for dr, wr in ((0, 1 - fr), (1, fr)):
        for dc, wc in ((0, 1 - fc), (1, fc)):
            if wr * wc != 0:
                K[r0 + dr, c0 + dc] -= wr * wc
    return _typed(_trim(K), dtype)


def finite_difference(order: int, axis: int = 1, *, dtype: DTypeLike = np.float64) -> FloatArray:
    """The smallest kernel for the derivative of order ``d = order`` along ``axis``.

    It has ``d + 1`` taps: the binomial coefficients ``C(d, b)`` with
    alternating signs, ``K[b] = (-1)**(d - b) * C(d, b)`` (the d-th forward
    difference). ``d + 1`` is also the minimum size: a kernel with d taps sees
    d samples, which a polynomial of degree d - 1 fits exactly, so it cannot
    tell ``x**d`` from a lower-degree polynomial. ``corr2d`` with it reproduces
    the d-th derivative of any polynomial of degree d exactly (a constant,
    ``d! * a_d``), and of degree d + 1 exactly at the window's centre
    (``x + d/2``). Order 1 is ``[[-1, 1]]``, the negative of the chapter's
    ``[[1, -1]]``. Higher orders respond most strongly to alternating,
    checkerboard-like detail at the pixel scale (the pattern ``+1, -1, +1, ...``
    gives ``2**d``) and amplify noise accordingly.

    Parameters
    ----------
    order : int
        The derivative's order, >= 0.
    axis : {0, 1}
        1 (x, columns; shape (1, d + 1)) or 0 (y, rows; shape (d + 1, 1)).
    dtype : dtype, optional
        The kernel's float dtype: float16, float32 or float64 (the default).

    Returns
    -------
    ndarray
        The kernel, float64.

    Raises
    ------
    TypeError
        ``order`` is not an int.
    ValueError
        ``order`` < 0 or ``axis`` not 0 or 1.

    Examples
    --------
    >>> kernels.finite_difference(2)
    array([[ 1., -2.,  1.]])
    >>> fastconv.corr2d([np.arange(6.0) ** 2], kernels.finite_difference(2))   # d2/dx2 of x**2
    array([[2., 2., 2., 2.]])
    """
    if isinstance(order, bool):
        raise TypeError("order must be an int >= 0")
    d = int(order)
    if d != order or d < 0:
        raise ValueError(f"order must be an int >= 0, got {order!r}")
    return _typed(_along([(-1) ** (d - b) * math.comb(d, b) for b in range(d + 1)], _axis(axis)), dtype)


def laplacian(diagonals: bool = False, *, dtype: DTypeLike = np.float64) -> FloatArray:
    """The discrete Laplacian ``d2/dx2 + d2/dy2``, in its smallest 2-D form.

    ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]``: the sum of the second differences
    ``[1, -2, 1]`` along each axis. 3 x 3 is the minimum size, because a second
    derivative needs three samples along each axis. It is zero on constants and
    linear ramps (and any quadratic with ``a_xx + a_yy = 0``); it responds most
    strongly to isolated points (a single bright pixel on dark gives -4 at the
    pixel and +1 at its four neighbours) and to thin lines, and changes sign
    across an edge (the zero crossing marks the edge).

    Parameters
    ----------
    diagonals : bool
        True gives the 8-neighbour form ``[[1, 1, 1], [1, -8, 1], [1, 1, 1]]``,
        more isotropic; it equals three times the Laplacian plus a fourth-order
        term.
    dtype : dtype, optional
        The kernel's float dtype: float16, float32 or float64 (the default).

    Returns
    -------
    ndarray
        The 3 x 3 kernel, float64.

    Examples
    --------
    >>> kernels.laplacian()
    array([[ 0.,  1.,  0.],
           [ 1., -4.,  1.],
           [ 0.,  1.,  0.]])
    """
    if diagonals:
        K = np.ones((3, 3))
        K[1, 1] = -8.0
        return _typed(K, dtype)
    return _typed(np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]), dtype)


def _size_pair(n, name):
    items = n if isinstance(n, (tuple, list)) else (n, n)
    if len(items) != 2 or any(isinstance(v, bool) or int(v) != v or v < 1 for v in items):
        raise ValueError(f"{name} must be an int >= 1 or a pair (h, w) of them, got {n!r}")
    return tuple(int(v) for v in items)


def box(n: Pair, *, dtype: DTypeLike = np.float64) -> FloatArray:
    """Box blur: an n x n (or ``n = (h, w)``) kernel of equal weights summing to 1.

    Each output is the mean of its window. Why blur: to suppress pixel noise
    before taking derivatives (whose kernels amplify it), to remove detail
    finer than a chosen scale, and to low-pass an image before downsampling
    (stride) so fine patterns do not alias into coarse ones. The box is the
    cheapest blur but not a good low-pass filter (its frequency response has
    side lobes, and it leaves blocky artefacts); :func:`gaussian` is smoother.

    Parameters
    ----------
    n : int or (h, w)
        The size, each >= 1.
    dtype : dtype, optional
        The kernel's float dtype: float16, float32 or float64 (the default).

    Returns
    -------
    ndarray
        (h, w), float64, every entry ``1 / (h*w)``.

    Raises
    ------
    ValueError
        A size that is not an int >= 1 or a pair of them.

    Examples
    --------
    >>> kernels.box((1, 4))
    array([[0.25, 0.25, 0.25, 0.25]])
    """
    h, w = _size_pair(n, "n")
    return _typed(np.full((h, w), 1.0 / (h * w)), dtype)


def gaussian(sigma: float, size: Optional[Pair] = None, *, dtype: DTypeLike = np.float64) -> FloatArray:
    """Gaussian blur, sampled on a grid and normalised to sum 1.

    The Gaussian is the blur that suppresses fine detail most smoothly: its
    spectrum is again a Gaussian (no side lobes, no ringing) and blurring twice
    with sigma1 and sigma2 equals blurring once with ``hypot(sigma1, sigma2)``.

    Parameters
    ----------
    sigma : float or (sigma_y, sigma_x)
        Positive standard deviations, in pixels.
    size : int or (h, w), optional
        Default ``2 * ceil(3 * sigma) + 1`` per axis (covering +-3 sigma, where
        the density has fallen to about 1 %). Even sizes are allowed; the
        centre then lies between two pixels.
    dtype : dtype, optional
        The kernel's float dtype: float16, float32 or float64 (the default).

    Returns
    -------
    ndarray
        The kernel, float64, summing to 1.

    Raises
    ------
    ValueError
        A non-positive or non-finite sigma, or a bad size.

    Examples
    --------
    >>> G = kernels.gaussian(1.0)
    >>> G.shape, round(float(G.sum()), 12)
    ((7, 7), 1.0)
    >>> int(np.linalg.matrix_rank(G))   # rank 1: the separable backend runs it as two 1-D passes
    1
    """
    sig = sigma if isinstance(sigma, (tuple, list)) else (sigma, sigma)
    if len(sig) != 2 or not all(np.isfinite(s) and s > 0 for s in sig):
        raise ValueError(f"sigma must be a positive float or a pair of them, got {sigma!r}")
    if size is None:
        size = tuple(2 * math.ceil(3 * s) + 1 for s in sig)
    h, w = _size_pair(size, "size")
    axes = []
    for s, n in zip(sig, (h, w)):
        t = np.arange(n) - (n - 1) / 2
        g = np.exp(-0.5 * (t / s) ** 2)
        axes.append(g / g.sum())
    K = np.outer(*axes)
    return _typed(K / K.sum(), dtype)


def _gradient_pair(smooth, normalize, dtype):
    dx = np.outer(smooth, [-1.0, 0.0, 1.0])  # responds to d/dx (vertical edges)
    if normalize:
        dx /= 2 * np.sum(smooth)
    return _typed(dx, dtype), _typed(np.ascontiguousarray(dx.T), dtype)


def sobel(normalize: bool = False, *, dtype: DTypeLike = np.float64) -> tuple[FloatArray, FloatArray]:
    """The Sobel pair ``(gx, gy)`` of 3 x 3 gradient kernels.

    ``gx = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]`` is a central difference along
    x smoothed by ``[1, 2, 1]`` along y; it responds most strongly to vertical
    edges (dark on the left, bright on the right gives a positive response),
    and ``gy = gx.T`` to horizontal ones. The smoothing across the derivative
    makes it less sensitive to noise than ``[[1, -1]]``. Gradient magnitude:
    ``hypot(corr2d(X, gx), corr2d(X, gy))``.

    Parameters
    ----------
    normalize : bool
        True divides the kernels by 8 so that a ramp of slope 1 gives exactly 1
        (the derivative); unnormalised is the OpenCV convention.
    dtype : dtype, optional
        The kernel's float dtype: float16, float32 or float64 (the default).

    Returns
    -------
    (ndarray, ndarray)
        ``(gx, gy)``, float64.

    Examples
    --------
    >>> gx, gy = kernels.sobel()
    >>> gx
    array([[-1.,  0.,  1.],
           [-2.,  0.,  2.],
           [-1.,  0.,  1.]])
    >>> ramp = np.tile(np.arange(5.0), (3, 1))
    >>> fastconv.corr2d(ramp, kernels.sobel(normalize=True)[0])
    array([[1., 1., 1.]])
    """
    return _gradient_pair(np.array([1.0, 2.0, 1.0]), normalize, dtype)


def scharr(normalize: bool = False, *, dtype: DTypeLike = np.float64) -> tuple[FloatArray, FloatArray]:
    """The Scharr pair ``(gx, gy)``: like :func:`sobel` with smoothing ``[3, 10, 3]``.

    ``gx = [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]]``, ``gy = gx.T``. The weights
    are chosen so that the gradient's direction is estimated with less angular
    error than Sobel's (better rotational symmetry).

    Parameters
    ----------
    normalize : bool
        True divides by 32, making a slope-1 ramp give exactly 1.
    dtype : dtype, optional
        The kernel's float dtype: float16, float32 or float64 (the default).

    Returns
    -------
    (ndarray, ndarray)
        ``(gx, gy)``, float64.

    Examples
    --------
    >>> gx, gy = kernels.scharr()
    >>> gy
    array([[ -3., -10.,  -3.],
           [  0.,   0.,   0.],
           [  3.,  10.,   3.]])
    """
    return _gradient_pair(np.array([3.0, 10.0, 3.0]), normalize, dtype)
