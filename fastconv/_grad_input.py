"""The input gradient of a (strided, dilated, grouped) correlation, by
stride phases, and the adjoint of the padding.

For ``y = conv2d(x, w)`` with stride s and dilation d, dL/d(padded x) on
the positions p = r (mod s) of each axis (one of the sh*sw phases) is a
stride-1 correlation of grad_out with only the taps that land on that
phase, flipped on both axes and with in/out channels swapped within each
group (:func:`fastconv._geometry.stride_phase` has the index arithmetic).
The phases' taps partition the kernel, so the phases together do exactly
a forward pass's multiply-adds: no zeros are inserted into grad_out. Each
phase runs through ``fastconv._engine.correlate`` (any backend, the
planner's choice for ``auto``) and is written into the strided view of
the gradient that holds its positions. Phases no tap reaches, and the
rows/columns the forward pass never read, get zeros.

Layers with few input channels per group (the RGB stem) and many output
channels take a GEMM and its scatter instead (:func:`_by_col2im`): the
phases' correlations would have only C/groups output channels, fewer than
a direct kernel's register block (1x3x224x224 * 64x3x7x7 s2: 4 phases with
3 output channels each).

For corr2d's boundary modes other than "constant" the gradient of the
padded input is then folded back onto the pixels the padding copied
(:func:`unpad_adjoint`).
"""
import numpy as np

from . import _blas, _engine
from ._geometry import Geometry, stride_phase
from ._padding import NUMPY_NAMES
from .settings import get_workspace_limit

# col2im when the gradient has fewer channels per group than this (a
# direct kernel's register block is 8 channels on AVX-512) and the GEMM's
# reduction, the output channels per group, at least _COL2IM_MIN_OUT.
_COL2IM_MAX_CHANNELS = 8
_COL2IM_MIN_OUT = 16


def _swapped_flipped(w, groups):
    """(O, C/G, kh, kw) weight as the input gradient's kernel: (C, O/G, kh, kw),
    in/out channels swapped inside each group (not yet flipped: phases flip
    their own taps)."""
    out_channels, cin, kh, kw = w.shape
    og = out_channels // groups
    return w.reshape(groups, og, cin, kh, kw).transpose(0, 2, 1, 3, 4).reshape(groups * cin, og, kh, kw)


def _spans(phases):
    """Per phase, the range [lo, hi) of grad_out rows its padded input
    covers (it may reach past grad_out's ends, where the padding is zero)."""
    return [None if p is None else (p.rows.start - p.pads[0], p.rows.stop + p.pads[1]) for p in phases]


def _zero_extended(gy, spans_h, spans_w):
    """grad_out over the union of every phase's span, zeros outside its own
    rows and columns, and the (row, column) origin of that union: every
    phase's padded input is then a view of one array. One copy at most (none
    when no span passes grad_out's ends), as the engine's own padding would
    make, but never its interior + border-strip split: that pays for one
    large image, and loses on a gradient's many small ones (32x6x24x24
    grad_out, 5x5 kernel: 1.06 ms split, 0.31 ms padded)."""
    (lo_h, hi_h), (lo_w, hi_w) = ((min(s[0] for s in spans if s), max(s[1] for s in spans if s))
                                  for spans in (spans_h, spans_w))
    ho, wo = gy.shape[2:]
    if lo_h >= 0 and lo_w >= 0 and hi_h <= ho and hi_w <= wo:
        return gy, (0, 0)
    out = np.zeros(gy.shape[:2] + (hi_h - lo_h, hi_w - lo_w), dtype=gy.dtype)
    r0, r1, c0, c1 = max(lo_h, 0), min(hi_h, ho), max(lo_w, 0), min(hi_w, wo)
    out[:, :, r0 - lo_h : r1 - lo_h, c0 - lo_w : c1 - lo_w] = gy[:, :, r0:r1, c0:c1]
    return out, (lo_h, lo_w)


def _by_col2im(w, gy, geo, groups, rows, cols, out):
    """:func:`padded_input_grad` as per group W^T (C/G*kh*kw, O/G) @ gy
    (O/G, positions), in tiles of images under the workspace cap, each
    tap's rows of the product added into the strided window of the padded
    gradient it came from (kh*kw adds)."""
    n, o = gy.shape[:2]
    _, cg, kh, kw = w.shape
    og, (ho, wo), (sh, sw), (dh, dw) = o // groups, geo.out_shape, geo.stride, geo.dilation
    hu, wu = geo.extent
    wt = np.ascontiguousarray(w.reshape(groups, og, cg * kh * kw).transpose(0, 2, 1))
    per_image = (groups * cg * kh * kw * ho * wo + cg * groups * hu * wu) * gy.itemsize
    step = max(1, min(n, get_workspace_limit() // max(per_image, 1)))
    for n0 in range(0, n, step):
        n1 = min(n, n0 + step)
        gm = gy[n0:n1].reshape(n1 - n0, groups, og, ho * wo)
        lhs = wt[None]  # (1, G, C/G*kh*kw, O/G), broadcast over the images
        prod = np.empty((n1 - n0, groups, cg * kh * kw, ho * wo), dtype=np.result_type(lhs, gm))
        _blas.matmul(lhs, gm, prod)  # on fastconv's threads, one BLAS thread each
        prod = prod.reshape(n1 - n0, groups * cg, kh, kw, ho, wo)
        full = np.zeros((n1 - n0, groups * cg, hu, wu), dtype=gy.dtype)
        for a in range(kh):
            for b in range(kw):
                full[:, :, a * dh : a * dh + (ho - 1) * sh + 1 : sh, b * dw : b * dw + (wo - 1) * sw + 1 : sw] += \
                    prod[:, :, a, b]
        out[n0:n1] = full[:, :, rows[0] : rows[1], cols[0] : cols[1]]


def padded_input_grad(w, gy, geo, groups, rows, cols, out, *, backend="auto", exact=False):
    """Write rows [r0, r1) x columns [c0, c1) of dL/d(padded input) into
    ``out`` (N, C, r1 - r0, c1 - c0) for weight ``w`` and ``gy`` (N, O, Ho, Wo)."""
    if backend == "auto" and w.shape[1] < _COL2IM_MAX_CHANNELS and w.shape[0] // groups >= _COL2IM_MIN_OUT:
        _by_col2im(w, gy, geo, groups, rows, cols, out)
        return
    (kh, kw), (sh, sw), (dh, dw) = w.shape[2:], geo.stride, geo.dilation
    wt = _swapped_flipped(w, groups)
    ho, wo = geo.out_shape
    phases_h = [stride_phase(kh, sh, dh, r, rows[0], rows[1], ho) for r in range(sh)]
    phases_w = [stride_phase(kw, sw, dw, r, cols[0], cols[1], wo) for r in range(sw)]
    if None in phases_h or None in phases_w:
        out[...] = 0  # some positions receive no tap (phases partition the rest)
    if all(p is None for p in phases_h) or all(p is None for p in phases_w):
        return
    if len(phases_h) == len(phases_w) == 1:  # stride 1: one correlation, its border read in place where it can
        _padded_correlation(gy, wt, phases_h[0], phases_w[0], groups, out, backend, exact)
        return
    spans_h, spans_w = _spans(phases_h), _spans(phases_w)
    extended, (lo_h, lo_w) = _zero_extended(gy, spans_h, spans_w)
    for ph, span_h in zip(phases_h, spans_h):
        for pw, span_w in zip(phases_w, spans_w):
            if ph is None or pw is None:
                continue
            (h0, h1), (w0, w1) = span_h, span_w
            kernel = np.ascontiguousarray(wt[:, :, ph.taps, pw.taps][:, :, ::-1, ::-1])
            g = extended[:, :, h0 - lo_h : h1 - lo_h, w0 - lo_w : w1 - lo_w]
            sub = Geometry.from_args(g.shape[2:], kernel.shape[2:], 0, 1, (ph.dilation, pw.dilation))
            target = out[:, :, ph.start :: sh, pw.start :: sw]
            _engine.correlate(g, kernel, sub, groups=groups, backend=backend, out=target, exact=exact)


def _padded_correlation(gy, wt, ph, pw, groups, out, backend, exact):
    """The one phase of a stride-1 input gradient: grad_out's rows and
    columns the phase reads, inside the zero padding its span reaches past
    them, correlated with its flipped taps. The engine hands the padding to
    a backend that reads a zero border in place (no copy of grad_out), else
    pads once (never the interior + border-strip split, see
    :func:`_zero_extended`)."""
    kernel = np.ascontiguousarray(wt[:, :, ph.taps, pw.taps][:, :, ::-1, ::-1])
    g = gy[:, :, ph.rows, pw.rows]
    sub = Geometry.from_args(g.shape[2:], kernel.shape[2:], (ph.pads, pw.pads), 1, (ph.dilation, pw.dilation))
    _engine.correlate(g, kernel, sub, groups=groups, backend=backend, out=out[:, :, ph.start :: 1, pw.start :: 1],
                      exact=exact, split=False)


def input_grad(x_shape, w, gy, geo, groups, *, mode="constant", backend="auto", exact=False):
    """dL/dx (N, C, H, W) for weight ``w``, ``gy`` (N, O, Ho, Wo) and boundary ``mode``."""
    n_images, channels, h, w_in = x_shape
    hu, wu = geo.extent
    (top, _), (left, _) = geo.pads
    if mode == "constant":
        # Only the un-padded part of the padded input's gradient is kept.
        rows, cols = (top, min(top + h, hu)), (left, min(left + w_in, wu))
        if n_images == 0 or rows[1] <= rows[0] or cols[1] <= cols[0]:
            return np.zeros(x_shape, dtype=gy.dtype)
        shape = (rows[1] - rows[0], cols[1] - cols[0])
        gx = np.empty(x_shape, dtype=gy.dtype) if shape == (h, w_in) else np.zeros(x_shape, dtype=gy.dtype)
        padded_input_grad(w, gy, geo, groups, rows, cols, gx[:, :, : shape[0], : shape[1]], backend=backend,
                          exact=exact)
        return gx
    gxp = np.zeros((n_images, channels) + geo.padded_shape, dtype=gy.dtype)
    if n_images:
        padded_input_grad(w, gy, geo, groups, (0, hu), (0, wu), gxp[:, :, :hu, :wu], backend=backend, exact=exact)
    return unpad_adjoint(gxp, (h, w_in), geo.pads, mode)


def unpad_adjoint(gp, shape, pads, mode):
    """The adjoint of padding the last two axes by ``pads`` with ``mode``:
    every padded position's gradient is added to the pixel it copied."""
    for axis, n, (before, after) in ((-2, shape[0], pads[0]), (-1, shape[1], pads[1])):
        g = np.moveaxis(gp, axis, 0)
        folded = g[before : before + n].copy()
        if before or after:
            # np.pad of the indices says which pixel each padded position copies.
            source = np.pad(np.arange(n), (before, after), mode=NUMPY_NAMES[mode])
            border = np.r_[0:before, before + n : before + n + after]
            np.add.at(folded, source[border], g[border])
        gp = np.moveaxis(folded, 0, axis)
    return np.ascontiguousarray(gp)
