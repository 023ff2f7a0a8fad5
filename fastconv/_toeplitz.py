"""Cross-correlation as one matrix: the doubly-blocked Toeplitz form (exercise 4).

For a fixed kernel, ``corr2d(X, K)`` is linear in X, so it is a matrix W of
shape (Ho*Wo, H*W) applied to ``X.ravel()``. Row ``i*Wo + j`` of W holds the
kernel's taps at the columns of the input pixels that output (i, j) reads:

    W[i*Wo + j, r*W + c] = K[a, b]   where r = i*sh + a*dh - top,
                                           c = j*sw + b*dw - left,

for every tap whose (r, c) lies inside the input; taps that land in the
zero padding have no entry. Each block row of W (one output row i) is a
Toeplitz matrix per kernel row, and the blocks repeat down the diagonal:
hence "doubly-blocked Toeplitz" (exactly Toeplitz at stride 1).

Its transpose maps an output gradient back to the input gradient,
``dL/dX = (W.T @ dL/dY.ravel()).reshape(H, W)``: the backward pass of a
convolution layer, written as a matrix (a "transposed convolution").

The other half of exercise 4 changes the input instead of the kernel:
:func:`fastconv.im2col` gives the patch matrix P with ``P @ K.ravel()``.
"""
import numpy as np

from ._args import matrix_call


def _sparse_module():
    try:
        import scipy.sparse as sp
    except ImportError:
        return None
    return sp


def as_matrix(K, input_shape, *, padding=0, stride=1, dilation=1, mode="constant", sparse=True):
    """The matrix W with ``(W @ X.ravel()).reshape(out_shape) == corr2d(X, K, ...)``.

    Parameters
    ----------
    K : array-like (kh, kw)
        The kernel. Its dtype decides W's dtype by the usual rules (float32
        stays float32; integers and bool become float64).
    input_shape : (H, W)
        Shape of the images W will be applied to.
    padding, stride, dilation
        Every form :func:`fastconv.corr2d` accepts.
    mode : "constant"
        Only zero padding is representable this way here: the padding
        contributes nothing, so taps that land in it simply have no entry.
        Other boundary modes raise ValueError (use ``corr2d`` for them).
    sparse : bool
        True (default): a ``scipy.sparse`` CSR array when scipy is
        importable, else a dense ndarray. False: always a dense ndarray.
        The dense form has (Ho*Wo) * (H*W) entries, almost all zero: use it
        only for small inputs.

    Returns
    -------
    W of shape (Ho*Wo, H*W), with (Ho, Wo) = ``fastconv.output_shape(...)``.
    The sparse form stores exactly one entry per tap that reads the input
    (zero kernel taps included, so ``0 * inf`` gives NaN as in corr2d).
    A tap that lands in the zero padding contributes ``0 * K[a, b]``: nothing
    for a finite tap, but NaN for an inf/NaN one, as in corr2d. So that
    ``W @ X.ravel()`` still equals corr2d there, each output row with such a
    tap gets a NaN at column 0 (added to any entry already there).

    ``W.T @ g.ravel()`` is the gradient with respect to X of
    ``sum(g * corr2d(X, K))``, i.e. the input gradient of the layer.

    Built with index arithmetic on arrays (no Python loop over outputs);
    cost is O(Ho * Wo * kh * kw).
    """
    call = matrix_call(K, input_shape, padding=padding, stride=stride, dilation=dilation, mode=mode)
    geo, dtype, K = call.geo, call.dtype, call.w[0, 0]
    input_shape = geo.in_shape
    H, W_ = input_shape
    kh, kw = K.shape
    Ho, Wo = geo.out_shape
    (top, _), (left, _) = geo.pads
    (sh, sw), (dh, dw) = geo.stride, geo.dilation

    # Input row per (output row i, kernel row a) and column per (j, b).
    r = np.arange(Ho)[:, None] * sh + np.arange(kh)[None, :] * dh - top  # (Ho, kh)
    c = np.arange(Wo)[:, None] * sw + np.arange(kw)[None, :] * dw - left  # (Wo, kw)
    shape4 = (Ho, Wo, kh, kw)
    rr = np.broadcast_to(r[:, None, :, None], shape4)
    cc = np.broadcast_to(c[None, :, None, :], shape4)
    inside = (rr >= 0) & (rr < H) & (cc >= 0) & (cc < W_)
    out_index = np.broadcast_to(
        (np.arange(Ho)[:, None] * Wo + np.arange(Wo)[None, :])[:, :, None, None], shape4
    )[inside]
    in_index = (rr * W_ + cc)[inside]
    values = np.broadcast_to(K.astype(dtype, copy=False)[None, None], shape4)[inside]

    # Outputs whose window puts an inf/NaN tap on the padding: NaN in corr2d.
    nan_rows = np.flatnonzero((~inside & ~np.isfinite(K)[None, None]).any(axis=(2, 3)))
    if nan_rows.size:
        out_index = np.concatenate([out_index, nan_rows])
        in_index = np.concatenate([in_index, np.zeros_like(nan_rows)])
        values = np.concatenate([values, np.full(nan_rows.size, np.nan, dtype=values.dtype)])

    n_out, n_in = Ho * Wo, H * W_
    sp = _sparse_module() if sparse else None
    if sp is None:
        dense = np.zeros((n_out, n_in), dtype=dtype)
        # Distinct taps of one output read distinct pixels (dilation >= 1),
        # so (out_index, in_index) pairs repeat only for the NaN entries,
        # which win over the tap there: plain assignment, NaN last.
        dense[out_index, in_index] = values
        return dense
    csr = getattr(sp, "csr_array", None) or sp.csr_matrix
    # Building from COO keeps explicit zeros and sums the duplicates (only
    # a NaN entry added to a tap at column 0: NaN).
    return csr((values, (out_index, in_index)), shape=(n_out, n_in))
