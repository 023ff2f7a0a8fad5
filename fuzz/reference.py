"""An independent float64 reference for the fuzzer: numpy.pad for the
boundary modes and one strided slice per kernel tap, written without any
fastconv code, so a shared bug cannot hide in both sides.

Everything is (N, C, H, W) input and (O, C/groups, kh, kw) weight; 2-D
calls are the N = C = O = 1 case.
"""
import numpy as np

NUMPY_MODES = {"constant": "constant", "reflect": "reflect", "symmetric": "symmetric", "edge": "edge", "wrap": "wrap"}


def pads_of(padding, kernel, dilation):
    """((top, bottom), (left, right)) from corr2d's padding forms."""
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        return tuple(((s - 1) // 2, s - 1 - (s - 1) // 2) for s in spans)
    if padding == "full":
        return tuple((s - 1, s - 1) for s in spans)
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    return tuple(p if isinstance(p, tuple) else (p, p) for p in padding)


def pad(x, pads, mode, cval):
    widths = [(0, 0)] * (x.ndim - 2) + [tuple(pads[0]), tuple(pads[1])]
    if mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=cval)
    return np.pad(x, widths, mode=NUMPY_MODES[mode])


def _taps(xp, kernel, out_shape, stride, dilation):
    """Yield (a, b, view) with view[..., i, j] = xp[..., i*sh + a*dh, j*sw + b*dw]."""
    (ho, wo), (sh, sw), (dh, dw) = out_shape, stride, dilation
    for a in range(kernel[0]):
        for b in range(kernel[1]):
            yield a, b, xp[..., a * dh: a * dh + (ho - 1) * sh + 1: sh, b * dw: b * dw + (wo - 1) * sw + 1: sw]


def out_shape(hw, kernel, pads, stride, dilation):
    return tuple((n + p[0] + p[1] - d * (k - 1) - 1) // s + 1
                 for n, k, p, s, d in zip(hw, kernel, pads, stride, dilation))


def conv(x, w, pads, stride, dilation, groups=1, mode="constant", cval=0.0, bias=None, magnitude=False):
    """The cross-correlation in float64; ``magnitude``: of |x| and |w| (the
    sum of the absolute terms, the scale of the rounding error)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    if magnitude:
        x, w = np.abs(x), np.abs(w)
    xp = pad(x, pads, mode, cval if not magnitude else abs(cval))
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    og = o // groups
    shape = out_shape(x.shape[2:], (kh, kw), pads, stride, dilation)
    y = np.zeros((n, o) + shape)
    with np.errstate(all="ignore"):
        for a, b, v in _taps(xp, (kh, kw), shape, stride, dilation):
            for g in range(groups):
                y[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", v[:, g * cg:(g + 1) * cg],
                                                       w[g * og:(g + 1) * og, :, a, b])
    if bias is not None:
        y += np.abs(bias)[:, None, None] if magnitude else np.asarray(bias, np.float64)[:, None, None]
    return y


def grads(x, w, gy, pads, stride, dilation, groups=1, mode="constant", cval=0.0):
    """(dL/dx, dL/dw) of L = sum(gy * conv(x, w)), in float64, by the
    adjoint of each tap's slice and of numpy.pad (index bookkeeping)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    gy = np.asarray(gy, np.float64)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    xp = pad(x, pads, mode, cval)
    shape = gy.shape[2:]
    gw = np.zeros_like(w)
    gxp = np.zeros_like(xp)
    (sh, sw), (dh, dw) = stride, dilation
    for a, b, v in _taps(xp, (kh, kw), shape, stride, dilation):
        for g in range(groups):
            gsl = gy[:, g * og:(g + 1) * og]
            gw[g * og:(g + 1) * og, :, a, b] = np.einsum("nohw,nchw->oc", gsl, v[:, g * cg:(g + 1) * cg])
            contrib = np.einsum("nohw,oc->nchw", gsl, w[g * og:(g + 1) * og, :, a, b])
            gxp[:, g * cg:(g + 1) * cg, a * dh: a * dh + (shape[0] - 1) * sh + 1: sh,
                b * dw: b * dw + (shape[1] - 1) * sw + 1: sw] += contrib
    # Adjoint of the padding: every padded position's gradient goes to the pixel it copies.
    rows = np.pad(np.arange(h), pads[0], mode="constant", constant_values=-1) if mode == "constant" else \
        np.pad(np.arange(h), pads[0], mode=NUMPY_MODES[mode])
    cols = np.pad(np.arange(wd), pads[1], mode="constant", constant_values=-1) if mode == "constant" else \
        np.pad(np.arange(wd), pads[1], mode=NUMPY_MODES[mode])
    keep = (rows >= 0)[:, None] & (cols >= 0)[None, :]
    r, q = np.meshgrid(rows, cols, indexing="ij")
    gx = np.zeros_like(x)
    np.add.at(gx, (slice(None), slice(None), r[keep], q[keep]), gxp[:, :, keep])
    return gx, gw
