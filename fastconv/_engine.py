"""The data path every entry point shares: pad once, pick a backend, run it.

Inputs arrive here already validated and converted (see ``_api``): x is
(N, C, H, W) and w is (O, C/groups, kh, kw), both in the compute dtype and
in the layout backends accept.
"""
import numpy as np

from . import backends, dispatch
from ._padding import pad_spatial


def check_out(out, shape, dtype):
    """Validate a caller-supplied ``out`` array; returns it unchanged."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"out has shape {out.shape}, expected {tuple(shape)}")
    if out.dtype != dtype:
        raise TypeError(f"out has dtype {out.dtype}, expected {dtype} (the result dtype for these inputs)")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    return out


def _writable_directly(out, *inputs):
    """Can a backend write straight into ``out``?"""
    return (
        out.dtype.isnative
        and out.flags.aligned
        and out.strides[-1] == out.itemsize
        and all(s >= 0 for s in out.strides)
        and not any(np.may_share_memory(out, a) for a in inputs)
    )


def correlate(x, w, geo, *, groups=1, mode="constant", cval=0.0, backend="auto", out=None):
    """Cross-correlate (N, C, H, W) ``x`` with ``w``; ``out`` is a validated
    (N, O, Ho, Wo) array or None. Returns the result array."""
    name = dispatch.choose(x, w, geo, groups) if backend == "auto" else backend
    module = backends.get(name)
    xp = pad_spatial(x, geo.pads, mode, cval) if geo.padded else x
    shape = (x.shape[0], w.shape[0]) + geo.out_shape
    direct = out is not None and _writable_directly(out, x, w)
    target = out if direct else np.empty(shape, dtype=x.dtype)
    module.correlate(xp, w, target, geo.stride, geo.dilation, groups)
    if out is None:
        return target
    if not direct:
        out[...] = target
    return out
