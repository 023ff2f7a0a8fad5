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

For corr2d's boundary modes other than "constant" the gradient of the
padded input is then folded back onto the pixels the padding copied
(:func:`unpad_adjoint`).
"""
import numpy as np

from . import _engine
from ._geometry import Geometry, stride_phase
from ._padding import NUMPY_NAMES


def _swapped_flipped(w, groups):
    """(O, C/G, kh, kw) weight as the input gradient's kernel: (C, O/G, kh, kw),
    in/out channels swapped inside each group (not yet flipped: phases flip
    their own taps)."""
    out_channels, cin, kh, kw = w.shape
    og = out_channels // groups
    return w.reshape(groups, og, cin, kh, kw).transpose(0, 2, 1, 3, 4).reshape(groups * cin, og, kh, kw)


def padded_input_grad(w, gy, geo, groups, rows, cols, out, *, backend="auto", exact=False):
    """Write rows [r0, r1) x columns [c0, c1) of dL/d(padded input) into
    ``out`` (N, C, r1 - r0, c1 - c0) for weight ``w`` and ``gy`` (N, O, Ho, Wo)."""
    (kh, kw), (sh, sw), (dh, dw) = w.shape[2:], geo.stride, geo.dilation
    wt = _swapped_flipped(w, groups)
    ho, wo = geo.out_shape
    phases_h = [stride_phase(kh, sh, dh, r, rows[0], rows[1], ho) for r in range(sh)]
    phases_w = [stride_phase(kw, sw, dw, r, cols[0], cols[1], wo) for r in range(sw)]
    if None in phases_h or None in phases_w:
        out[...] = 0  # some positions receive no tap (phases partition the rest)
    for ph in phases_h:
        for pw in phases_w:
            if ph is None or pw is None:
                continue
            kernel = np.ascontiguousarray(wt[:, :, ph.taps, pw.taps][:, :, ::-1, ::-1])
            g = gy[:, :, ph.rows, pw.rows]
            sub = Geometry.from_args(g.shape[2:], kernel.shape[2:], (ph.pads, pw.pads), 1, (ph.dilation, pw.dilation))
            target = out[:, :, ph.start :: sh, pw.start :: sw]
            _engine.correlate(g, kernel, sub, groups=groups, backend=backend, out=target, exact=exact)


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
