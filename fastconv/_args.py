"""THE argument checks: every public entry point normalises its arguments
here into one :class:`Call`, so validation, conversion and error messages
are written once.

* :func:`corr2d_call` -- ``corr2d``, ``convolve2d``, ``corr2d_backward`` and
  ``plan`` on 2-D arrays: X (H, W), K (kh, kw), any boundary mode;
* :func:`conv2d_call` -- ``conv2d``, ``conv2d_backward``, ``Conv2D`` and
  ``plan`` on layers: x (N, C, H, W) or (C, H, W), weight (O, C/groups, kh,
  kw), optional bias, zero padding;
* :func:`conv_transpose2d_call` -- ``conv_transpose2d`` and its backward:
  x (N, C_in, H, W) or (C_in, H, W), weight (C_in, C_out/groups, kh, kw);
* :func:`patches_call` -- ``im2col``: X and a kernel *shape*;
* :func:`matrix_call` -- ``as_matrix``: K and an input *shape*;
* :func:`shape_pair`, :func:`image_2d`, :func:`check_out`,
  :func:`check_needs` and :func:`check_backend` for the pieces.

The Call's arrays are in the compute dtype (see :mod:`._dtypes`) and in the
layout every backend accepts; the caller's arrays are never modified.
"""
from typing import NamedTuple, Optional

import numpy as np

from . import backends
from ._dtypes import as_array, as_contiguous_operand, as_kernel_operand, dtype_rule, out_dtype_matches, refuse_lazy
from ._geometry import Geometry, as_int, check_mode, transposed_geometry
from ._padding import gather


class Call(NamedTuple):
    """One call's arguments, validated and converted.

    ``x`` (N, C, H, W) and ``w`` (O, C/groups, kh, kw) in ``dtype``; ``bias``
    (O,) or None; ``grad_out`` (N, O, Ho, Wo) or None (backward passes);
    ``exact``: every input was integer/bool, so results are wanted exact;
    ``batched``: the caller's x had a batch axis (results keep its ndim).
    ``transposed``: a ``conv_transpose2d`` call; ``geo`` is then the forward
    correlation it is the input gradient of (its ``in_shape`` is the result's).
    (A named tuple: built on every call, and a tuple is the cheapest record.)
    """

    x: Optional[np.ndarray]
    w: Optional[np.ndarray]
    geo: Geometry
    groups: int
    dtype: np.dtype
    exact: bool
    bias: Optional[np.ndarray] = None
    grad_out: Optional[np.ndarray] = None
    mode: str = "constant"
    cval: float = 0.0
    backend: str = "auto"
    batched: bool = True
    transposed: bool = False

    @property
    def out_shape(self):
        """The result's shape as the caller sees it: (N, O, Ho, Wo), (O, Ho,
        Wo) for an unbatched layer call, (Ho, Wo) for a 2-D call (and for
        im2col / as_matrix, which have no kernel values or no image)."""
        if self.w is None or self.x is None:
            return self.geo.out_shape
        if self.transposed:
            shape = (self.x.shape[0], self.w.shape[1] * self.groups) + self.geo.in_shape
        else:
            shape = (self.x.shape[0], self.w.shape[0]) + self.geo.out_shape
        return shape if self.batched else shape[1:]


def check_backend(backend):
    if backend != "auto":
        if not isinstance(backend, str):
            raise TypeError(f"backend must be 'auto' or a backend name (a str), got {backend!r}; available: "
                            + ", ".join(backends.available_backends()))
        backends.get(backend)  # raises with the list of available backends
    return backend


def check_cval(cval):
    """``cval`` as a float: a real number (int, float, numpy real scalar or
    0-d array); anything else is a TypeError naming what is accepted."""
    kind = type(cval)
    if kind is float or kind is int:
        return float(cval)
    if not isinstance(cval, (str, bytes)) and cval is not None:
        a = np.asarray(cval) if not isinstance(cval, np.ndarray) else cval
        if a.ndim == 0 and a.dtype.kind in "biuf":
            return float(a)
    raise TypeError(f"cval must be a real number (int or float, the fill value of mode='constant'), got {cval!r}")


def check_out(out, shape, dtype):
    """Validate a caller-supplied ``out`` array; returns it unchanged."""
    if out is None:
        return None
    refuse_lazy(out, "out")
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"out has shape {out.shape}, expected {tuple(shape)}")
    if not out_dtype_matches(out.dtype, dtype):
        raise TypeError(f"out has dtype {out.dtype}, expected {dtype} (the result dtype for these inputs; "
                        "either byte order)")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    return out


def check_needs(needs, accepted):
    """The set of gradient names in ``needs`` (a name or a sequence of them)."""
    if isinstance(needs, str):
        needs = (needs,)
    if not isinstance(needs, (tuple, list, set, frozenset)):
        raise TypeError(f"needs must be a gradient name or a sequence of them, from "
                        + ", ".join(map(repr, accepted)) + f"; got {needs!r}")
    needs = tuple(needs)
    unknown = [n for n in needs if n not in accepted]
    if unknown:
        raise ValueError(f"unknown gradient {unknown[0]!r} in needs; accepted: " + ", ".join(map(repr, accepted)))
    return set(needs)


def image_2d(a, name):
    """Refuse anything but a non-empty 2-D array (hinting at conv2d for 3-D/4-D)."""
    if a.ndim != 2:
        hint = "; for (N, C, H, W) batches use fastconv.conv2d" if a.ndim in (3, 4) else ""
        raise ValueError(f"{name} must be 2-D, got shape {a.shape} (ndim {a.ndim}){hint}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape}); every axis needs at least one element")
    return a


def _grad_out(grad_out, expected, context):
    if grad_out.shape != tuple(expected):
        raise ValueError(
            f"grad_out has shape {grad_out.shape}, expected {tuple(expected)} (the forward output's shape {context})"
        )


def corr2d_call(X, K, *, padding=0, stride=1, dilation=1, mode="constant", cval=0.0, backend="auto",
                grad_out=None):
    """The :class:`Call` of ``corr2d(X, K, ...)`` (and of its backward pass
    when ``grad_out`` is given): x (1, 1, H, W), w (1, 1, kh, kw)."""
    X = as_array(X, "X")
    K = as_array(K, "K")
    named = [("X", X), ("K", K)]
    if grad_out is not None:
        grad_out = as_array(grad_out, "grad_out")
        named.append(("grad_out", grad_out))
    image_2d(X, "X")
    image_2d(K, "K")
    dtype, exact = dtype_rule(*named)
    geo = Geometry.from_args(X.shape, K.shape, padding, stride, dilation)
    check_mode(mode)
    cval = check_cval(cval)
    check_backend(backend)
    if grad_out is not None:
        _grad_out(grad_out, geo.out_shape, f"for X {X.shape} and K {K.shape}")
        grad_out = as_kernel_operand(grad_out, dtype)[None, None]
    else:
        X, geo = _compacted(X, geo, mode, cval, dtype)
    return Call(as_kernel_operand(X, dtype)[None, None], as_contiguous_operand(K, dtype)[None, None], geo, 1,
                dtype, exact, None, grad_out, mode, cval, backend, False)


def _compacted(x, geo, mode, cval, dtype):
    """(x, geo), or the gathered input and its geometry when the outputs
    read only a small part of x (see ``Geometry.compact``): a stride far
    longer than the kernel never reads most of the input, so it is neither
    padded nor copied (nor materialised, for a broadcast array)."""
    compact = geo.compact
    if compact is None:
        return x, geo
    (rows, cols), small = compact
    return gather(x, rows, cols, geo.pads, mode, cval, dtype), small


def _layer_ndim(a, name, allowed, form):
    if a.ndim not in allowed:
        hint = "; for a single 2-D image use fastconv.corr2d" if a.ndim == 2 and name == "x" else ""
        raise ValueError(f"{name} must be {form}, got shape {a.shape} (ndim {a.ndim}){hint}")


def _nonempty(a, name, axes):
    if any(a.shape[i] == 0 for i in axes):
        raise ValueError(f"{name} is empty (shape {a.shape}); every axis needs at least one element")


def check_groups(groups, in_channels, weight_shape):
    """Validate ``groups`` against C (from x) and the (O, C/groups, kh, kw) weight."""
    groups = as_int(groups, "groups")
    out_channels = weight_shape[0]
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    if in_channels % groups:
        raise ValueError(f"groups={groups} does not divide the input's {in_channels} channels")
    if out_channels % groups:
        raise ValueError(f"groups={groups} does not divide the weight's {out_channels} output channels")
    if weight_shape[1] * groups != in_channels:
        raise ValueError(
            f"channel mismatch: x has {in_channels} channels, so with groups={groups} the weight "
            f"must have shape (O, {in_channels // groups}, kh, kw); got {tuple(weight_shape)}"
        )
    return groups


def conv2d_call(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, backend="auto",
                grad_out=None):
    """The :class:`Call` of ``conv2d(x, weight, bias, ...)`` (and of its
    backward pass when ``grad_out`` is given)."""
    x = as_array(x, "x")
    weight = as_array(weight, "weight")
    _layer_ndim(x, "x", (3, 4), "(N, C, H, W) or (C, H, W)")
    _layer_ndim(weight, "weight", (4,), "(O, C/groups, kh, kw)")
    batched = x.ndim == 4
    if not batched:
        x = x[None]
    # A batch of zero images is allowed (as in torch); nothing else may be empty.
    _nonempty(x, "x", (1, 2, 3))
    _nonempty(weight, "weight", (0, 1, 2, 3))
    groups = check_groups(groups, x.shape[1], weight.shape)
    named = [("x", x), ("weight", weight)]
    if bias is not None:
        bias = as_array(bias, "bias")
        if bias.shape != (weight.shape[0],):
            raise ValueError(
                f"bias must have shape ({weight.shape[0]},), one value per output channel; got {bias.shape}"
            )
        named.append(("bias", bias))
    if grad_out is not None:
        grad_out = as_array(grad_out, "grad_out")
        named.append(("grad_out", grad_out))
    dtype, exact = dtype_rule(*named)
    geo = Geometry.from_args(x.shape[2:], weight.shape[2:], padding, stride, dilation)
    check_backend(backend)
    if grad_out is None:
        x, geo = _compacted(x, geo, "constant", 0.0, dtype)
    call = Call(as_kernel_operand(x, dtype), as_contiguous_operand(weight, dtype), geo, groups, dtype, exact,
                None if bias is None else as_contiguous_operand(bias, dtype), None, "constant", 0.0, backend, batched)
    if grad_out is not None:
        _grad_out(grad_out, call.out_shape, f"for x {tuple(call.x.shape if batched else call.x.shape[1:])} "
                                            f"and weight {weight.shape}")
        call = call._replace(grad_out=as_kernel_operand(grad_out if batched else grad_out[None], dtype))
    return call


def conv_transpose2d_call(x, weight, bias=None, *, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                          backend="auto", grad_out=None):
    """The :class:`Call` of ``conv_transpose2d(x, weight, bias, ...)`` (and of
    its backward pass when ``grad_out`` is given): x (N, C_in, H, W), w
    (C_in, C_out/groups, kh, kw) -- the weight of the conv2d whose input
    gradient this is -- and ``geo`` that conv2d's geometry."""
    x = as_array(x, "x")
    weight = as_array(weight, "weight")
    _layer_ndim(x, "x", (3, 4), "(N, C_in, H, W) or (C_in, H, W)")
    _layer_ndim(weight, "weight", (4,), "(C_in, C_out/groups, kh, kw)")
    batched = x.ndim == 4
    if not batched:
        x = x[None]
    _nonempty(x, "x", (1, 2, 3))
    _nonempty(weight, "weight", (0, 1, 2, 3))
    groups = as_int(groups, "groups")
    in_channels = x.shape[1]
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    if in_channels % groups:
        raise ValueError(f"groups={groups} does not divide the input's {in_channels} channels")
    if weight.shape[0] != in_channels:
        raise ValueError(
            f"channel mismatch: x has {in_channels} channels, so the weight must have shape "
            f"({in_channels}, C_out/groups, kh, kw) (conv_transpose2d's weight is (C_in, C_out/groups, kh, kw)); "
            f"got {weight.shape}"
        )
    out_channels = weight.shape[1] * groups
    named = [("x", x), ("weight", weight)]
    if bias is not None:
        bias = as_array(bias, "bias")
        if bias.shape != (out_channels,):
            raise ValueError(
                f"bias must have shape ({out_channels},), one value per output channel "
                f"(weight.shape[1] * groups); got {bias.shape}"
            )
        named.append(("bias", bias))
    if grad_out is not None:
        grad_out = as_array(grad_out, "grad_out")
        named.append(("grad_out", grad_out))
    dtype, exact = dtype_rule(*named)
    geo = transposed_geometry(x.shape[2:], weight.shape[2:], padding, output_padding, stride, dilation)
    check_backend(backend)
    call = Call(as_kernel_operand(x, dtype), np.ascontiguousarray(weight, dtype=dtype), geo, groups, dtype, exact,
                None if bias is None else np.asarray(bias, dtype=dtype), None, "constant", 0.0, backend, batched,
                True)
    if grad_out is not None:
        _grad_out(grad_out, call.out_shape, f"for x {tuple(call.x.shape if batched else call.x.shape[1:])} "
                                            f"and weight {weight.shape}")
        call = call._replace(grad_out=as_kernel_operand(grad_out if batched else grad_out[None], dtype))
    return call


def shape_pair(value, name):
    """An (h, w) pair of ints >= 1 (an int means a square); floats, bools
    and other lengths are refused, never truncated."""
    items = value if isinstance(value, (tuple, list)) else None
    if items is None or len(items) != 2:
        if isinstance(value, (tuple, list)) or name != "kernel_shape":
            raise ValueError(f"{name} must be a pair (h, w) of ints >= 1, got {value!r}")
        items = (value, value)
    pair = tuple(as_int(v, name) for v in items)
    if min(pair) < 1:
        raise ValueError(f"{name} must be a pair (h, w) of ints >= 1, got {value!r}")
    return pair


def patches_call(X, kernel_shape, *, padding=0, stride=1, dilation=1, mode="constant", cval=0.0):
    """``im2col``'s arguments: x (1, 1, H, W) in corr2d's dtype for X alone;
    ``w`` is None (only the kernel's shape, ``geo.kernel_shape``, matters)."""
    X = image_2d(as_array(X, "X"), "X")
    kernel_shape = shape_pair(kernel_shape, "kernel_shape")
    dtype, exact = dtype_rule(("X", X))
    geo = Geometry.from_args(X.shape, kernel_shape, padding, stride, dilation)
    check_mode(mode)
    return Call(as_kernel_operand(X, dtype)[None, None], None, geo, 1, dtype, exact, None, None, mode,
                check_cval(cval), "auto", False)


def matrix_call(K, input_shape, *, padding=0, stride=1, dilation=1, mode="constant"):
    """``as_matrix``'s arguments: w (1, 1, kh, kw) in corr2d's dtype for K
    alone; ``x`` is None (only the input's shape, ``geo.in_shape``, matters).
    Only zero padding is representable as one matrix."""
    K = image_2d(as_array(K, "K"), "K")
    if mode != "constant":
        raise ValueError(
            f"as_matrix represents zero padding only (mode='constant'), got mode={mode!r}; "
            "for other boundary modes pad X yourself (numpy.pad) and use padding=0"
        )
    input_shape = shape_pair(input_shape, "input_shape")
    dtype, exact = dtype_rule(("K", K))
    geo = Geometry.from_args(input_shape, K.shape, padding, stride, dilation)
    return Call(None, as_contiguous_operand(K, dtype)[None, None], geo, 1, dtype, exact, None, None, mode, 0.0,
                "auto", False)


def plan_call(X, K, *, padding=0, stride=1, dilation=1, mode="constant", cval=0.0, backend="auto", groups=1):
    """``plan``'s arguments: corr2d's for 2-D X and K (groups 1), else
    conv2d's."""
    X = as_array(X, "X")
    K = as_array(K, "K")
    if X.ndim == 2 and K.ndim == 2 and groups == 1:
        return corr2d_call(X, K, padding=padding, stride=stride, dilation=dilation, mode=mode, cval=cval,
                           backend=backend)
    check_mode(mode)
    return conv2d_call(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups, backend=backend)
