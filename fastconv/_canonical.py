"""Canonical problems: a call reduced to what the backends actually compute,
before the planner sees it, so that equivalent problems get the same
decision, the same cache entry and the cost the backends really pay.

Each reduction leaves every output value unchanged:

* (a kernel of extent 1 makes that axis's dilation irrelevant: Geometry
  itself already sets it to 1, so such problems share a signature;)
* padding after the input that no output reads (the stride leaves a
  remainder) is dropped; in constant mode, or with no padding before,
  input rows/columns no output reads are cropped too (a view). (In the
  other modes the padding before the input copies values that depend on
  the input's length, so its length must stay.)
* a kernel of extent 1 with stride s on an axis with no padding reads every
  s-th input row/column only: the input is subsampled (a view for rows; a
  copy of the kept columns, which the backend contract wants contiguous)
  and the stride becomes 1. Backends then run their stride-1 paths (gemm's
  1x1 product reads the input in place) instead of strided loops.

Depthwise convolutions need no reduction: groups = C with one input channel
per group is already how the problem is stated.
"""
import numpy as np

from ._geometry import Geometry, input_extent


def _axis(n, k, pads, stride, dilation, n_out, crop_ok):
    """One axis reduced: (input length kept, pads, stride, dilation, subsample step)."""
    before, after = pads
    extent = input_extent(n_out, k, stride, dilation)
    after = max(0, min(after, extent - before - n))  # trailing padding nobody reads
    if crop_ok or before == 0:
        n = max(1, min(n, extent - before))
    step = 1
    if k == 1 and stride > 1 and before == 0 and after == 0:
        step, stride, n = stride, 1, n_out
    return n, (before, after), stride, dilation, step


def canonical(x, kernel_shape, geo, mode):
    """(x, geo) for the reduced problem; x is (..., H, W), possibly a view or
    (for a subsampled last axis) a C-contiguous copy. Returns the inputs
    themselves when nothing reduces."""
    crop_ok = mode == "constant"
    axes = [_axis(n, k, p, s, d, o, crop_ok)
            for n, k, p, s, d, o in zip(geo.in_shape, kernel_shape, geo.pads, geo.stride, geo.dilation, geo.out_shape)]
    (h, ph, sh, dh, step_h), (w, pw, sw, dw, step_w) = axes
    if (h, w) == geo.in_shape and (ph, pw) == geo.pads and (sh, sw) == geo.stride and (dh, dw) == geo.dilation:
        return x, geo
    x_in = x
    x = x[..., : (h - 1) * step_h + 1 : step_h, : (w - 1) * step_w + 1 : step_w]
    if step_w > 1:
        x = np.ascontiguousarray(x)
    reduced = Geometry.from_args((h, w), tuple(kernel_shape), (ph, pw), (sh, sw), (dh, dw))
    if reduced.out_shape != geo.out_shape:  # outputs that read padding only: keep the problem as stated
        return x_in, geo
    return x, reduced
