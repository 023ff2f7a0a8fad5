"""fastconv on dask arrays: lazy, chunk by chunk, on any dask scheduler.

``fastconv.dask.corr2d``, ``convolve2d`` and ``conv2d`` take the in-memory
functions' arguments, with a ``dask.array.Array`` for the image (or batch),
and return a lazy dask array equal to the in-memory function on the whole
array (same dtype rules, same tolerance)::

    import dask.array as da, fastconv.dask
    X = da.from_zarr("image.zarr")                         # (H, W), any chunks
    Y = fastconv.dask.corr2d(X, K, padding="same", mode="reflect")
    Y.to_zarr("filtered.zarr")                             # or Y.compute()

* The boundary ``mode`` applies at the array's edges only; chunks exchange
  halos of ``dilation*(k-1)`` rows/columns (their bottom/right neighbours').
* Output chunk k holds the outputs i whose input row ``i*stride`` (column
  likewise) lies in input chunk k, so output chunks follow the input's
  chunks on the stride grid (``padding="same"`` keeps them exactly). The
  input is never padded, rechunked or converted as a whole: per chunk one
  task cuts the strips its neighbours read and one computes its outputs
  (see ``_tiles``); a chunk thinner than the halo serves its neighbours'
  windows alongside the next ones, a chunk holding no output gives no
  output chunk.
* ``conv2d``: the batch and spatial axes may be chunked; the channel axis is
  brought into one chunk (every output reads all of its group's channels).
* Every check happens when the graph is built, before anything is computed:
  unknown chunk sizes, wrong ndim, unsupported dtypes, bad padding/stride/
  dilation/mode/backend, a dask kernel.
* Inside a dask worker each chunk uses the worker's share of the cores:
  fastconv's thread count follows ``OMP_NUM_THREADS``, which dask's nanny
  sets to 1 per worker process (see ``fastconv.settings``).

This module imports dask; ``import fastconv`` never imports it (install
``fastconv[dask]``). fastconv's in-memory functions refuse dask arrays with
a pointer here instead of computing them whole.
"""
import math

import numpy as np

try:
    import dask.array as da
except ImportError as exc:  # pragma: no cover - exercised only without dask
    raise ImportError("fastconv.dask needs dask: pip install 'fastconv[dask]' (dask[array])") from exc

from .. import _args
from .._dtypes import as_contiguous_operand
from .._geometry import Geometry, positive_pair, span
from ._tiles import correlate

__all__ = ["conv2d", "convolve2d", "corr2d"]


def _dask_input(x, name, ndims, form):
    """Refuse anything but a dask array of the right ndim with known chunks."""
    if not isinstance(x, da.Array):
        raise TypeError(f"{name} must be a dask.array.Array, got {type(x).__name__}; for in-memory arrays use "
                        f"fastconv's own functions (or wrap it: dask.array.from_array({name}, chunks=...))")
    if type(getattr(x, "_meta", None)) is not np.ndarray:
        raise TypeError(f"{name}'s chunks must be numpy arrays, got {type(getattr(x, '_meta', None)).__name__} "
                        "chunks (cupy, sparse and masked chunks are not supported)")
    if x.ndim not in ndims:
        raise ValueError(f"{name} must be {form}, got shape {x.shape} (ndim {x.ndim})")
    if any(math.isnan(c) for axis in x.chunks for c in axis):
        raise ValueError(f"{name} has unknown chunk sizes {x.chunks} (e.g. after boolean indexing); call "
                         f"{name}.compute_chunk_sizes() first")
    if x.size == 0 and 0 in x.shape[-2:]:
        raise ValueError(f"{name} is empty (shape {x.shape}); every spatial axis needs at least one element")
    return x


def _in_memory(a, name, complex_ok=False):
    """The kernel (or bias) as a numpy array; a dask one is refused (it is
    small: compute it yourself)."""
    if isinstance(a, da.Array):
        raise TypeError(f"{name} is a dask array; fastconv.dask takes the {name} in memory: pass {name}.compute()")
    return _args.as_array(a, name, complex_ok=complex_ok)


def _proxy(x, kernel_shape, dilation, lead):
    """A tiny stand-in for ``x`` (its dtype, ``lead`` leading axes, a spatial
    size the kernel fits), so that THE argument checks of the in-memory call
    validate everything but the real spatial geometry."""
    dh, dw = positive_pair(dilation, "dilation")
    return np.zeros(lead + (span(kernel_shape[0], dh), span(kernel_shape[1], dw)), dtype=x.dtype)


def corr2d(X, K, *, padding=0, stride=1, dilation=1, mode="constant", cval=0.0, backend="auto", out=None,
           measure=None, axes=None):
    """:func:`fastconv.corr2d` of a dask array ``X`` (H, W) or a stack (...,
    H, W) (any chunks, on every axis) with an in-memory 2-D kernel ``K``: a
    lazy dask array of the output shape and dtype :func:`fastconv.corr2d`
    gives for the whole array, every image of a stack filtered alike.
    Complex X and/or K (and a complex ``cval`` for a complex X) go through
    real chunked correlations recombined as (a + ib)(c + id).
    ``out`` is not accepted (the result is lazy: write it with
    ``dask.array.store`` or ``to_zarr``); nor are ``axes`` and kernel
    stacks (yet)."""
    _refuse_out(out)
    X = _dask_input(X, "X", range(2, 33), "(H, W) or a stack (..., H, W)")
    if X.size == 0:
        raise ValueError(f"X is empty (shape {X.shape}); every axis needs at least one element")
    if axes is not None:
        raise TypeError("fastconv.dask.corr2d takes no axes= (yet): move the spatial axes last first, e.g. "
                        "dask.array.moveaxis(X, (0, 1), (-2, -1)) for an (H, W, C) image")
    K = _args.image_2d(_in_memory(K, "K", complex_ok=True), "K")
    geo = Geometry.from_args(X.shape[-2:], K.shape, padding, stride, dilation)
    call = _args.corr2d_call(_proxy(X, K.shape, dilation, ()), K, padding=padding, stride=stride,
                             dilation=dilation, mode=mode, cval=cval, backend=backend)
    if X.dtype.kind == "c" or call.w.dtype.kind == "c":
        return _complex(X, call, geo, measure)
    return correlate(X, call, geo, measure, stack=True)


def _complex(X, call, geo, measure):
    """A complex X and/or K through real chunked correlations, recombined as
    (a + ib)(c + id), like the in-memory path (a complex ``cval`` pads each
    part with its own part)."""
    cval = complex(call.cval)
    xs = [(X.real, cval.real), (X.imag, cval.imag)] if X.dtype.kind == "c" else [(X, cval.real)]
    w = call.w
    ws = [w.real, w.imag] if w.dtype.kind == "c" else [w]
    r = [[correlate(x, call._replace(w=as_contiguous_operand(k, call.dtype), cval=fill), geo, measure, stack=True)
          for k in ws] for x, fill in xs]
    if len(xs) == 2 and len(ws) == 2:
        re, im = r[0][0] - r[1][1], r[0][1] + r[1][0]
    elif len(xs) == 2:
        re, im = r[0][0], r[1][0]
    else:
        re, im = r[0][0], r[0][1]
    return da.map_blocks(_combine, re, im, result=call.out_dtype, dtype=call.out_dtype,
                         meta=np.empty((0,) * re.ndim, call.out_dtype))


def _combine(re, im, result):
    out = np.empty(re.shape, dtype=result)
    out.real, out.imag = re, im
    return out


def convolve2d(X, K, **kwargs):
    """True 2-D convolution of a dask array: :func:`corr2d` with ``K``
    flipped on both axes (as :func:`fastconv.convolve2d`)."""
    K = _args.image_2d(_in_memory(K, "K", complex_ok=True), "K")
    return corr2d(X, K[::-1, ::-1], **kwargs)


def conv2d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, backend="auto", out=None,
           measure=None):
    """:func:`fastconv.conv2d` of a dask array ``x`` (N, C, H, W) or (C, H, W)
    with in-memory ``weight`` (and ``bias``): a lazy dask array (N, O, Ho,
    Wo) or (O, Ho, Wo). The batch and spatial axes may be chunked in any
    way; the channel axis is merged into one chunk."""
    _refuse_out(out)
    x = _dask_input(x, "x", (3, 4), "(N, C, H, W) or (C, H, W)")
    weight = _in_memory(weight, "weight")
    bias = None if bias is None else _in_memory(bias, "bias")
    if weight.ndim != 4:
        raise ValueError(f"weight must be (O, C/groups, kh, kw), got shape {weight.shape} (ndim {weight.ndim})")
    batched = x.ndim == 4
    x4 = x if batched else x[None]
    geo = Geometry.from_args(x4.shape[2:], weight.shape[2:], padding, stride, dilation)
    call = _args.conv2d_call(_proxy(x4, weight.shape[2:], dilation, (1, x4.shape[1])), weight, bias,
                             stride=stride, padding=padding, dilation=dilation, groups=groups, backend=backend)
    if x4.shape[0] == 0:  # an empty batch (allowed, as in memory)
        y = da.zeros((0, weight.shape[0]) + geo.out_shape, dtype=call.dtype)
    else:
        y = correlate(x4, call, geo, measure)
    return y if batched else y[0]


def _refuse_out(out):
    if out is not None:
        raise TypeError("fastconv.dask returns a lazy dask array and takes no out=; write the result with "
                        "dask.array.store(result, target) or result.to_zarr(...)")
