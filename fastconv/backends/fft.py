"""FFT backend: cross-correlation through real FFTs.

Method
------
For one image x (Hp, Wp) and one (dilated) kernel k (KH, KW), the circular
cross-correlation ``ifft(fft(x) * conj(fft(k)))`` computed at transform size
L1 >= Hp, L2 >= Wp equals the valid cross-correlation on its first
Hp-KH+1 rows and Wp-KW+1 columns: index i + a never exceeds Hp - 1 < L1,
so nothing wraps. The transform sizes are therefore the padded input's size
rounded up to a fast length (:func:`next_fast_len`, the same as
``scipy.fft.next_fast_len``), not input +
kernel - 1. Details:

* padding is applied by the engine before this backend runs; the input is
  first cropped to the rows/columns any output actually reads;
* dilation builds the dilated kernel (zeros between taps);
* stride computes the stride-1 result and keeps every s-th row/column --
  only the kept rows go through the last (real) inverse transform;
* the 2-D transforms are split into a real transform along the last axis
  (done only on the rows that hold data: the kernel's KH rows, not L1) and
  a complex one along the rows, with ``workers=fastconv.get_threads()``;
* NCHW and groups: the images of a chunk are transformed in one batched
  call, the kernels of a block of output channels in another, and the sum
  over input channels is one complex matrix product per frequency
  (``matmul`` over (F, n, Cg) x (F, Cg, B)); a single-channel or depthwise
  problem is a plain elementwise product. Blocks of output channels keep
  their kernel spectra within a third of ``fastconv.get_workspace_limit()``,
  chunks of images the input spectra, products and inverse transforms
  within the rest (at least one image and one channel each: a single
  plane's spectrum larger than the limit is still computed);
* the conjugated kernel spectrum of recent calls is cached (keyed on the
  kernel's content, dilation and transform size; at most 64 MiB): repeated
  calls with one kernel transform it once (``clear_cache()`` empties it);
* float32 inputs use single-precision transforms (complex64) and give
  float32; float64 gives float64. Without scipy, numpy.fft is used (no
  worker threads).

Not kept: overlap-save (blocked FFT). Tiles of 128..512 with the kernel
transformed once per tile size were measured against the single full
transform (one thread, CPU time, this 2-core machine): 1024x1024 with
31x31 float64 25.3 ms full vs 27.2 ms at best (tile 384), 42.8 ms at
tile 128; float32 10.9 vs 10.5; 2048x2048 31x31 float32 60.3 vs 54.3;
1024x1024 15x15 float64 23.6 vs 19.8 -- at most 10-16% on shapes where a
direct backend or the separable path wins anyway, and slower on the
headline shape, so the code stays one transform.

Error bound
-----------
An FFT-based product is not computed tap by tap, so its rounding error is
spread over every output element rather than proportional to that
element's own terms. The classical bound for FFT convolution (Higham,
*Accuracy and Stability of Numerical Algorithms*, sec. 24.1) gives, per
output image and with u the unit roundoff of the dtype,

    max |y_fft - y| <= ||y_fft - y||_2
                    <~ c * u * log2(L1*L2) * ||x||_2 * ||k||_2

summed over the input channels a given output reads. ``error_bound``
returns this estimate with c = 3 plus a term Cg*u for the channel sum,
and the tests check against exactly that. In relative terms: an output
element whose true value is much smaller than ||x||*||k|| (e.g. an edge
detector on a flat region, true answer 0) gets an absolute error of the
order of u*||x||*||k||*log n, not a small relative error -- direct
backends are far more accurate there. Exact integer-valued results are
therefore NOT guaranteed (a direct backend gives them for small integers).

Non-finite inputs
-----------------
One NaN or inf anywhere in an image turns (almost) the whole output of
that image into NaN, because every frequency mixes every pixel. This
backend computes what the FFT gives and does not check; its registry row
says ``exact=False``, so ``backend="auto"`` never chooses it for inputs that
are not all finite (a planner rule). The row also says ``whole_input``:
the engine's interior + border-strip split would cost five transforms.
"""
import numpy as np

try:  # scipy.fft: single precision kept, worker threads, next_fast_len
    import scipy.fft as _fft

    _HAVE_SCIPY = True
except ImportError:  # pragma: no cover - exercised only without scipy
    _fft = np.fft
    _HAVE_SCIPY = False

from .. import _blas
from .._arraycache import ArrayCache
from .._geometry import fft_length, input_extent
from ..settings import get_threads, get_workspace_limit

__all__ = ["clear_cache", "correlate", "error_bound", "next_fast_len", "transform_shape", "describe"]


def next_fast_len(n, real=False):
    """The transform length used for an axis of ``n``
    (:func:`fastconv._geometry.fft_length`: scipy's ``next_fast_len``
    choice, computed without scipy, shared with the cost model)."""
    return fft_length(int(n), real)


def _kw():
    return {"workers": get_threads()} if _HAVE_SCIPY else {}


def transform_shape(w_shape, out_shape, stride, dilation):
    """(rows, cols, L1, L2): the input extent read and the transform sizes."""
    (sh, sw), (dh, dw) = stride, dilation
    kh, kw = w_shape[-2:]
    ho, wo = out_shape[-2:]
    rows, cols = input_extent(ho, kh, sh, dh), input_extent(wo, kw, sw, dw)
    return rows, cols, next_fast_len(rows), next_fast_len(cols, real=True)


def _dilated(w, dilation):
    dh, dw = dilation
    if dh == 1 and dw == 1:
        return w
    o, c, kh, kw = w.shape
    wd = np.zeros((o, c, (kh - 1) * dh + 1, (kw - 1) * dw + 1), dtype=w.dtype)
    wd[..., ::dh, ::dw] = w
    return wd


def _forward(a, L1, L2, kw):
    """2-D real FFT of the last two axes at size (L1, L2): real transform on
    the rows that hold data, then the complex one along the rows."""
    f = _fft.rfft(a, n=L2, axis=-1, **kw)
    return _fft.fft(f, n=L1, axis=-2, **({**kw, "overwrite_x": True} if _HAVE_SCIPY else {}))


def _forward_image(a, L1, L2, kw):
    """Like :func:`_forward`, for a large input: zero-pad it once into an
    (L1, L2) buffer ourselves, so that both transforms run at their exact
    length (scipy's own zero-padding for ``n=`` is a single-threaded copy
    per call, about half the cost of the row transform itself) and the
    column transform works in place."""
    rows, cols = a.shape[-2:]
    if rows == L1 and cols == L2:
        buf = a
    else:
        buf = np.empty(a.shape[:-2] + (L1, L2), dtype=a.dtype)
        buf[..., :rows, :cols] = a
        buf[..., :rows, cols:] = 0
        buf[..., rows:, :] = 0
    f = _fft.rfft(buf, axis=-1, **kw)
    return _fft.fft(f, axis=-2, **({**kw, "overwrite_x": True} if _HAVE_SCIPY else {}))


# Kernel spectra of recent calls, keyed on the kernel's content and the
# transform size (see fastconv._arraycache).
_KERNEL_MAX_BYTES = 1 << 20
_cache = ArrayCache(64 << 20)


def _kernel_spectrum(w, dilation, L1, L2, kw):
    if w.nbytes > _KERNEL_MAX_BYTES:
        return _spectrum(w, dilation, L1, L2, kw)
    return _cache.cached(w, (tuple(dilation), L1, L2), lambda: _spectrum(w, dilation, L1, L2, kw))


def _spectrum(w, dilation, L1, L2, kw):
    K = _forward(_dilated(w, dilation), L1, L2, kw)
    np.conjugate(K, out=K)
    return K


def clear_cache():
    """Forget the cached kernel spectra."""
    _cache.clear()


def correlate(xp, w, out, stride, dilation, groups):
    n_img, n_chan = xp.shape[:2]
    o_chan, cg = w.shape[:2]
    og = o_chan // groups
    rows, cols, L1, L2 = transform_shape(w.shape, out.shape, stride, dilation)
    kw = _kw()
    plane = L1 * (L2 // 2 + 1) * 2 * xp.itemsize  # bytes of one spectrum
    budget = get_workspace_limit()
    xp = xp[..., :rows, :cols]
    if cg == 1 and og == 1:  # one input channel per output (2-D, depthwise): elementwise products
        K = _kernel_spectrum(w, dilation, L1, L2, kw)[:, 0]  # (O, L1, F2)
        for n0, n1 in _chunks(n_img, _fitting(budget - K.nbytes, _PER_PLANE * n_chan * plane)):
            X = _forward_image(xp[n0:n1], L1, L2, kw)
            _inverse(np.multiply(X, K[None], out=X), out[n0:n1], stride, L2, kw)
        return
    # Blocks of output channels (inside one group) whose kernel spectra take
    # at most a third of the workspace; chunks of images for the rest: the
    # input spectra (N, Cg) and the products (N, block) with their inverse.
    block = min(og, _fitting(budget // 3, cg * plane))
    images = _fitting(budget - block * cg * plane, _PER_PLANE * (cg + block) * plane)
    for g in range(groups):
        for o0 in range(g * og, (g + 1) * og, block):
            o1 = min((g + 1) * og, o0 + block)
            K = _kernel_spectrum(w[o0:o1], dilation, L1, L2, kw)  # (B, Cg, L1, F2), conjugated; read-only
            ks = K.reshape(o1 - o0, cg, -1).transpose(2, 1, 0)  # (F, Cg, B)
            for n0, n1 in _chunks(n_img, images):
                X = _forward_image(xp[n0:n1, g * cg : (g + 1) * cg], L1, L2, kw)  # (n, Cg, L1, F2)
                xs = X.reshape(n1 - n0, cg, -1).transpose(2, 0, 1)  # (F, n, Cg)
                prod = np.empty((xs.shape[0], n1 - n0, o1 - o0), dtype=X.dtype)
                _blas.matmul(xs, ks, prod)  # (see fastconv._blas: BLAS on one thread)
                Y = prod.transpose(1, 2, 0).reshape((n1 - n0, o1 - o0) + X.shape[-2:])
                _inverse(Y, out[n0:n1, o0:o1], stride, L2, kw)


# Bytes alive per input or output plane of a chunk, in spectra: the padded
# real copy and the real-transform result beside the spectrum on the way in;
# the product, its transposed copy and the inverse's real result on the way
# out (measured with ``bench --memory``).
_PER_PLANE = 3


def _fitting(budget, per_item):
    """How many items of ``per_item`` bytes fit ``budget`` (at least one)."""
    return max(1, int(budget // max(per_item, 1)))


def _chunks(n, size):
    return [(i, min(n, i + size)) for i in range(0, n, size)]


def _inverse(Y, out, stride, L2, kw):
    """out = the strided rows/columns of the inverse transform of Y (which
    it may overwrite): complex transform along the rows, keep the rows the
    output needs, then the real transform along the columns on those only."""
    (sh, sw), (ho, wo) = stride, out.shape[-2:]
    inv_kw = {**kw, "overwrite_x": True} if _HAVE_SCIPY else {}
    t = _fft.ifft(Y, axis=-2, **inv_kw)[..., : (ho - 1) * sh + 1 : sh, :]
    y = _fft.irfft(t, n=L2, axis=-1, **kw)
    out[...] = y[..., : (wo - 1) * sw + 1 : sw]


def error_bound(xp, w, out_shape, stride, dilation, groups, c=3.0):
    """Estimated max abs error of :func:`correlate` against exact arithmetic,
    per output (N, O) image: u * (c*log2(L1*L2) + Cg) * ||x_g||_2 * ||w_o||_2.

    ``x_g`` is the group of input channels output channel o reads (cropped
    to the rows/columns read); u is the unit roundoff of the dtype. Returns
    an (N, O, 1, 1) array broadcastable against the output.
    """
    rows, cols, L1, L2 = transform_shape(w.shape, out_shape, stride, dilation)
    u = np.finfo(xp.dtype).eps / 2
    n_img = xp.shape[0]
    o_chan, cg = w.shape[:2]
    og = o_chan // groups
    x64 = np.asarray(xp[..., :rows, :cols], dtype=np.float64)
    xnorm = np.sqrt((x64**2).sum(axis=(-2, -1)))  # (N, C)
    xgroup = np.sqrt((xnorm**2).reshape(n_img, groups, cg).sum(axis=-1))  # (N, groups)
    wnorm = np.sqrt((np.asarray(w, dtype=np.float64) ** 2).sum(axis=(1, 2, 3)))  # (O,)
    xo = np.repeat(xgroup, og, axis=1)  # (N, O)
    factor = u * (c * np.log2(L1 * L2) + cg)
    return (factor * xo * wnorm[None, :])[..., None, None]


def describe():
    if _HAVE_SCIPY:
        import scipy

        return {"kind": f"real FFT via scipy.fft {scipy.__version__} (workers=threads)"}
    return {"kind": f"real FFT via numpy.fft {np.__version__} (single-threaded)"}
