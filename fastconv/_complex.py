"""Complex correlation as ONE real correlation, for every backend.

The real and imaginary parts of a complex x become two batches of images,
those of a complex w two sets of output channels (inside each group), so a
single real call computes all four products; :func:`combine` recombines
them as (a + ib)(c + id). x is padded once, in complex, first: a complex
cval fills both parts. The engine runs the result; ``plan`` explains the
same real call.
"""
import numpy as np

from ._dtypes import as_contiguous_operand, as_kernel_operand, complex_of
from ._geometry import Geometry
from ._padding import pad_spatial


def real_operands(x, w, geo, groups, mode, cval, dtype):
    """(xs, ws, geo): real (N', C, H', W') and (O', C/groups, kh, kw)
    operands in ``dtype`` and the unpadded geometry of the real call."""
    if geo.padded:
        x = pad_spatial(x, geo.pads, mode, cval)
        geo = Geometry.from_args(x.shape[-2:], geo.kernel_shape, 0, geo.stride, geo.dilation)
    xs = np.concatenate([x.real, x.imag]) if x.dtype.kind == "c" else x
    if w.dtype.kind == "c":
        o = w.shape[0]
        w5 = w.reshape((groups, o // groups) + w.shape[1:])
        ws = np.concatenate([w5.real, w5.imag], axis=1).reshape((2 * o,) + w.shape[1:])
    else:
        ws = w
    return as_kernel_operand(xs, dtype), as_contiguous_operand(ws, dtype), geo


def combine(r, n, o, groups, dtype, out=None):
    """The complex (n, o, Ho, Wo) result (written into ``out`` when given)
    from the real call's result ``r``, whose batch holds 1 or 2 parts of x
    and whose channels 1 or 2 parts of w per group."""
    xparts, wparts = r.shape[0] // n, r.shape[1] // o
    # r: (x part, n, group, w part, o/groups, Ho, Wo)
    r = r.reshape((xparts, n, groups, wparts, o // groups) + r.shape[-2:])
    if xparts == 2 and wparts == 2:
        re, im = r[0, :, :, 0] - r[1, :, :, 1], r[0, :, :, 1] + r[1, :, :, 0]
    elif xparts == 2:
        re, im = r[0, :, :, 0], r[1, :, :, 0]
    else:
        re, im = r[0, :, :, 0], r[0, :, :, 1]
    result = out if out is not None else np.empty((n, o) + r.shape[-2:], dtype=complex_of(dtype))
    result.real = re.reshape(result.shape)
    result.imag = im.reshape(result.shape)
    return result
