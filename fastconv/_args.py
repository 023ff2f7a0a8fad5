"""THE argument checks: every public entry point normalises its arguments
here into one :class:`Call`, so validation, conversion and error messages
are written once.

* :func:`corr2d_call` -- ``corr2d``, ``convolve2d``, ``corr2d_backward`` and
  ``plan`` on images: X (..., H, W) or with ``axes``, K (kh, kw) or
  (C, kh, kw), any boundary mode, ``dtype``/``out`` of any real dtype;
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
import math
import warnings
from typing import Any, NamedTuple, Optional

import numpy as np

from . import _planes, _scratch, backends
from ._dtypes import (_aligned_copy, as_array, as_contiguous_operand, as_kernel_operand, complex_of, dtype_rule,
                      image_call_dtypes, out_dtype_matches, refuse_lazy)
from ._geometry import Geometry, as_int, check_mode, transposed_geometry
from ._padding import gather, pad_channels_last


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
    # Image calls only (corr2d_call): the caller's layout (None: a plain 2-D
    # image, see _planes), the validated ``out`` and the result dtype.
    layout: Any = None
    out: Optional[np.ndarray] = None
    out_dtype: Optional[np.dtype] = None
    x_finite: bool = False  # X was integer/bool: no NaN/inf to look for
    scratch: Any = None  # x when it is this thread's _scratch "input" buffer (given back by the caller)
    # An integer image call the banded kernel can take (see integer_image): x is
    # then the caller's (N, H, W, C) image, w (kh, kw), geo spatial; to_planes()
    # turns it into the engine's call.
    pending: bool = False

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


def check_cval(cval, complex_ok=False):
    """``cval`` as a float: a real number (int, float, numpy real scalar or
    0-d array), or as a complex where ``complex_ok`` (a complex image);
    anything else is a TypeError naming what is accepted."""
    kind = type(cval)
    if kind is float or kind is int:
        return float(cval)
    if not isinstance(cval, (str, bytes)) and cval is not None:
        a = np.asarray(cval) if not isinstance(cval, np.ndarray) else cval
        if a.ndim == 0 and a.dtype.kind in "biuf":
            return float(a)
        if complex_ok and a.ndim == 0 and a.dtype.kind == "c":
            return complex(a)
    raise TypeError(f"cval must be a real number (complex only for a complex X), got {cval!r}: the fill value "
                    f"of mode='constant' is an int or float")


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
        raise TypeError("needs must be a gradient name or a sequence of them, from "
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


class IgnoredArgumentWarning(UserWarning):
    """An argument was given where it cannot apply (``mode`` without
    padding, ``cval`` outside constant mode): it changes nothing.

    Issued by :func:`fastconv.corr2d`, :func:`fastconv.convolve2d` and
    :func:`fastconv.corr2d_backward` instead of ignoring the argument
    silently; ``warnings.simplefilter("error", fastconv.IgnoredArgumentWarning)``
    turns it into an exception, ``"ignore"`` silences it.

    Parameters
    ----------
    message : str
        What was ignored, and why it cannot apply.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     y = fastconv.corr2d(np.ones((3, 3)), np.ones((2, 2)), mode="edge")
    >>> caught[0].category is fastconv.IgnoredArgumentWarning
    True
    """


def _warn_ignored(mode, cval, geo):
    if mode != "constant" and not geo.padded:
        warnings.warn(f"mode={mode!r} has no effect: this call pads nothing (padding={geo.pads}); "
                      "boundary modes only fill padding", IgnoredArgumentWarning, stacklevel=4)
    elif cval != 0 and (mode != "constant" or not geo.padded):
        why = f"mode={mode!r} copies image values" if mode != "constant" else "this call pads nothing"
        warnings.warn(f"cval={cval!r} has no effect: {why}; cval only fills mode='constant' padding",
                      IgnoredArgumentWarning, stacklevel=4)


def _image_out(out, shape, out_dtype, explicit):
    """Validate a caller-supplied ``out`` of an image call; returns it."""
    if out is None:
        return None
    refuse_lazy(out, "out")
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"out has shape {out.shape}, expected {tuple(shape)}")
    if explicit and out.dtype != out_dtype:
        raise TypeError(f"out has dtype {out.dtype} but dtype={out_dtype} was asked for; give one or make them agree")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    return out


def corr2d_call(X, K, *, padding=0, stride=1, dilation=1, mode="constant", cval=0.0, backend="auto",
                grad_out=None, axes=None, dtype=None, out=None, integer_ok=False):
    """The :class:`Call` of ``corr2d(X, K, ...)`` (and of its backward pass
    when ``grad_out`` is given): X (..., H, W) or with ``axes`` naming its
    spatial axes, K (kh, kw) or a (C, kh, kw) stack, seen as the engine's
    planes (see :mod:`._planes`); ``out``'s dtype, or ``dtype``, sets the
    result dtype (see :mod:`._dtypes`). With ``integer_ok``, an integer image
    with an integer result that the banded kernel takes comes back
    ``pending`` (see :func:`integer_image`), not yet converted."""
    X = as_array(X, "X", complex_ok=grad_out is None)
    K = as_array(K, "K", complex_ok=grad_out is None)
    x_integer = X.dtype.kind in "biu"
    named = [("X", X), ("K", K)]
    if grad_out is not None:
        grad_out = as_array(grad_out, "grad_out")
        named.append(("grad_out", grad_out))
    plain = X.ndim == 2 and K.ndim == 2 and axes is None
    lay = None if plain else _planes.layout(X.shape, K.shape, axes)
    for a, name in ((X, "X"), (K, "K")):
        if a.size == 0:
            raise ValueError(f"{name} is empty (shape {a.shape}); every axis needs at least one element")
    given = out.dtype if dtype is None and isinstance(out, np.ndarray) else dtype
    # The forward call's dtypes: a backward pass computes in them whatever grad_out's dtype.
    compute, out_dtype, xdt, kdt, exact = image_call_dtypes(named[:2], given, dtype is None and given is not None)
    exact = exact and (grad_out is None or grad_out.dtype.kind in "biu")
    in_shape = X.shape if plain else tuple(X.shape[i] for i in lay.axes)
    geo = Geometry.from_args(in_shape, K.shape[-2:], padding, stride, dilation)
    mode = check_mode(mode)
    given_cval, cval = cval, check_cval(cval, complex_ok=X.dtype.kind == "c")
    if (mode != "constant" and not geo.padded) or cval != 0:
        _warn_ignored(mode, given_cval, geo)  # (the caller's spelling in the message)
    check_backend(backend)
    shape = geo.out_shape if plain else lay.shape(geo.out_shape)
    out = _image_out(out, shape, out_dtype, dtype is not None)
    w = as_contiguous_operand(K, kdt)
    if grad_out is not None:
        _grad_out(grad_out, shape, f"for X {X.shape} and K {K.shape}")
        grad_out = as_kernel_operand(grad_out, compute)[None, None] if plain else lay.to_planes(grad_out, compute)
    call = Call(X, w, geo, (lay.channels or 1) if lay else 1, compute, exact, None, grad_out, mode, cval, backend,
                False, False, lay, out, out_dtype, x_integer, None, True)
    if integer_ok and x_integer and out_dtype.kind in "iu" and grad_out is None:  # (cheap tests first)
        image = integer_image(call)
        if image is not None:
            return call._replace(x=image)
    return _to_planes(call, X)


def to_planes(call):
    """The engine's Call of a ``pending`` one (the float planes path)."""
    lay, hw = call.layout, call.geo.in_shape
    return _to_planes(call, call.x.reshape(hw if lay is None else lay.shape(hw)))


def _to_planes(call, X):
    """The engine's Call of ``call`` (from corr2d_call) with image X (grad_out is already planes)."""
    lay, geo, mode, cval, grad_out = call.layout, call.geo, call.mode, call.cval, call.grad_out
    plain = lay is None
    xdt = complex_of(call.dtype) if X.dtype.kind == "c" else call.dtype
    w = call.w[None, None] if plain else call.w.reshape((lay.channels or 1, 1) + call.w.shape[-2:])
    if grad_out is None and plain:
        X, geo = _compacted(X, geo, mode, cval, xdt)
    scratch = None
    channels = 0 if grad_out is not None or plain else lay.mergeable(X.shape, geo.stride[1])
    if channels:
        x, geo, mode, scratch = _merged(X, lay, geo, mode, xdt, channels)
    else:
        x = as_kernel_operand(X, xdt)[None, None] if plain else lay.to_planes(X, xdt)
    if grad_out is None and not plain:
        x, geo = _compacted(x, geo, mode, cval, xdt)
    return Call(x, w, geo, call.groups, call.dtype, call.exact, None, grad_out, mode, cval, call.backend, False, False,
                lay, call.out, call.out_dtype, call.x_finite, scratch, False)


def integer_image(call):
    """The (N, H, W, C) view (or copy) of a pending call's image X when the
    banded integer kernel (``fastconv.backends.banded``) can compute it, else
    None: an 8- or 16-bit integer X and result (computed in float32), one
    2-D real kernel, spatial axes next to each other with only channel axes
    after them (or none), a column stride of 1 unless there is one channel,
    and no stride so long that most of X is never read (see _compacted)."""
    X, lay, geo, out_dtype = call.x, call.layout, call.geo, call.out_dtype
    if X.dtype.kind not in "iu" or X.dtype.itemsize > 2 or out_dtype.kind not in "iu" or out_dtype.itemsize > 2 \
            or not out_dtype.isnative \
            or call.dtype.itemsize != 4 or call.w.ndim != 2 or call.w.dtype.kind != "f" or geo.compact is not None:
        return None
    if lay is None:
        n, c = 1, 1
    else:
        rows, cols = lay.axes
        if cols != rows + 1 or lay.channels:
            return None
        n, c = math.prod(X.shape[:rows]), math.prod(X.shape[cols + 1:])
    if c > 1 and geo.stride[1] != 1:
        return None
    if not (X.dtype.isnative and X.flags.aligned):
        X = _aligned_copy(X)
    return X.reshape((n,) + geo.in_shape + (c,))


def _merged(X, lay, geo, mode, dtype, channels):
    """(x, geo, mode, scratch) of a channels-last call seen as one plane per image
    whose columns interleave C channels (see ``_planes.Layout.merge``): the
    column padding and dilation scale by C. A boundary mode other than
    "constant" must not mix channels, so it is applied here, on the (N, H,
    W, C) image, in the same pass as the dtype conversion. A copy goes to
    this thread's scratch buffer (``scratch`` is then x, else None)."""
    lay.merge(channels)
    (top, bottom), (left, right) = geo.pads
    (sh, _), (dh, dw) = geo.stride, geo.dilation
    h, w = geo.in_shape
    images = X.size // (h * w * channels)
    if mode != "constant" and geo.padded:
        x = _scratch.take("input", (images, h + top + bottom, w + left + right, channels), dtype)
        pad_channels_last(X.reshape(images, h, w, channels), geo.pads, mode, x)
        h, w = h + top + bottom, w + left + right
        pads, mode = 0, "constant"
    else:
        x = X
        if X.dtype != dtype or not (X.flags.c_contiguous and X.flags.aligned):
            x = _scratch.take("input", X.shape, dtype)
            np.copyto(x, X, casting="unsafe")
        pads = ((top, bottom), (left * channels, right * channels))
    merged = Geometry.from_args((h, w * channels), geo.kernel_shape, pads, (sh, 1), (dh, dw * channels))
    return x.reshape(images, 1, h, w * channels), merged, mode, (x if x is not X else None)


def _compacted(x, geo, mode, cval, dtype):
    """(x, geo), or the gathered input and its geometry when the outputs
    read only a small part of x (see ``Geometry.compact``): a stride far
    longer than the kernel never reads most of the input, so it is neither
    padded nor copied (nor materialised, for a broadcast 2-D image)."""
    compact = geo.compact
    if compact is None:
        return x, geo
    (rows, cols), small = compact
    return gather(x, rows, cols, geo.pads, mode, cval, dtype), small


def planes_out(call):
    """The (N, C, Ho, Wo) view of the caller's ``out`` a backend can write
    into, or None (no out, another dtype, or no view without a copy)."""
    out = call.out
    if out is None:
        return None
    computed = call.dtype if call.x.dtype.kind != "c" and call.w.dtype.kind != "c" else complex_of(call.dtype)
    if out.dtype != computed:
        return None
    return out[None, None] if call.layout is None else call.layout.planes_view(out)


def restore(call, y):
    """An (N, C, h, w) result of ``call`` in the caller's layout."""
    return y[0, 0] if call.layout is None else call.layout.from_planes(y)


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


def _layer_arrays(x, weight, x_form, weight_form):
    """x (made 4-D) and weight of a layer call, checked; and whether x was batched."""
    x = as_array(x, "x")
    weight = as_array(weight, "weight")
    _layer_ndim(x, "x", (3, 4), x_form)
    _layer_ndim(weight, "weight", (4,), weight_form)
    batched = x.ndim == 4
    if not batched:
        x = x[None]
    # A batch of zero images is allowed (as in torch); nothing else may be empty.
    _nonempty(x, "x", (1, 2, 3))
    _nonempty(weight, "weight", (0, 1, 2, 3))
    return x, weight, batched


def _bias_and_grad_out(named, bias, out_channels, grad_out, note=""):
    """bias (checked: one value per output channel) and grad_out as arrays,
    appended to ``named`` for the dtype rule."""
    if bias is not None:
        bias = as_array(bias, "bias")
        if bias.shape != (out_channels,):
            raise ValueError(
                f"bias must have shape ({out_channels},), one value per output channel{note}; got {bias.shape}"
            )
        named.append(("bias", bias))
    if grad_out is not None:
        grad_out = as_array(grad_out, "grad_out")
        named.append(("grad_out", grad_out))
    return bias, grad_out


def _with_grad_out(call, grad_out, weight_shape):
    """``call`` carrying grad_out (checked against the forward output's shape)."""
    if grad_out is None:
        return call
    batched = call.batched
    _grad_out(grad_out, call.out_shape, f"for x {tuple(call.x.shape if batched else call.x.shape[1:])} "
                                        f"and weight {weight_shape}")
    return call._replace(grad_out=as_kernel_operand(grad_out if batched else grad_out[None], call.dtype))


def conv2d_call(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, backend="auto",
                grad_out=None):
    """The :class:`Call` of ``conv2d(x, weight, bias, ...)`` (and of its
    backward pass when ``grad_out`` is given)."""
    x, weight, batched = _layer_arrays(x, weight, "(N, C, H, W) or (C, H, W)", "(O, C/groups, kh, kw)")
    groups = check_groups(groups, x.shape[1], weight.shape)
    named = [("x", x), ("weight", weight)]
    bias, grad_out = _bias_and_grad_out(named, bias, weight.shape[0], grad_out)
    dtype, exact = dtype_rule(*named)
    geo = Geometry.from_args(x.shape[2:], weight.shape[2:], padding, stride, dilation)
    check_backend(backend)
    if grad_out is None:
        x, geo = _compacted(x, geo, "constant", 0.0, dtype)
    call = Call(as_kernel_operand(x, dtype), as_contiguous_operand(weight, dtype), geo, groups, dtype, exact,
                None if bias is None else as_contiguous_operand(bias, dtype), None, "constant", 0.0, backend, batched)
    return _with_grad_out(call, grad_out, weight.shape)


def conv_transpose2d_call(x, weight, bias=None, *, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                          backend="auto", grad_out=None):
    """The :class:`Call` of ``conv_transpose2d(x, weight, bias, ...)`` (and of
    its backward pass when ``grad_out`` is given): x (N, C_in, H, W), w
    (C_in, C_out/groups, kh, kw) -- the weight of the conv2d whose input
    gradient this is -- and ``geo`` that conv2d's geometry."""
    x, weight, batched = _layer_arrays(x, weight, "(N, C_in, H, W) or (C_in, H, W)", "(C_in, C_out/groups, kh, kw)")
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
    named = [("x", x), ("weight", weight)]
    bias, grad_out = _bias_and_grad_out(named, bias, weight.shape[1] * groups, grad_out,
                                        " (weight.shape[1] * groups)")
    dtype, exact = dtype_rule(*named)
    geo = transposed_geometry(x.shape[2:], weight.shape[2:], padding, output_padding, stride, dilation)
    check_backend(backend)
    call = Call(as_kernel_operand(x, dtype), as_contiguous_operand(weight, dtype), geo, groups, dtype, exact,
                None if bias is None else as_contiguous_operand(bias, dtype), None, "constant", 0.0, backend, batched,
                True)
    return _with_grad_out(call, grad_out, weight.shape)


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
    mode = check_mode(mode)
    return Call(as_kernel_operand(X, dtype)[None, None], None, geo, 1, dtype, exact, None, None, mode,
                check_cval(cval), "auto", False)


def matrix_call(K, input_shape, *, padding=0, stride=1, dilation=1, mode="constant"):
    """``as_matrix``'s arguments: w (1, 1, kh, kw) in corr2d's dtype for K
    alone; ``x`` is None (only the input's shape, ``geo.in_shape``, matters).
    Only zero padding is representable as one matrix."""
    K = image_2d(as_array(K, "K"), "K")
    if check_mode(mode) != "constant":
        raise ValueError(
            f"as_matrix represents zero padding only (mode='constant'), got mode={mode!r}; "
            "for other boundary modes pad X yourself (numpy.pad) and use padding=0"
        )
    input_shape = shape_pair(input_shape, "input_shape")
    dtype, exact = dtype_rule(("K", K))
    geo = Geometry.from_args(input_shape, K.shape, padding, stride, dilation)
    return Call(None, as_contiguous_operand(K, dtype)[None, None], geo, 1, dtype, exact, None, None, mode, 0.0,
                "auto", False)


def plan_call(X, K, *, padding=0, stride=1, dilation=1, mode="constant", cval=0.0, backend="auto", groups=1,
              axes=None, dtype=None, integer_ok=False):
    """``plan``'s arguments: conv2d's for a 4-D weight K, else corr2d's
    (an image or a stack, ``axes``, ``dtype``, K (kh, kw) or (C, kh, kw));
    ``integer_ok`` as for :func:`corr2d_call` (a pending call: see
    :func:`to_planes`)."""
    K = as_array(K, "K", complex_ok=True)
    if K.ndim == 4:
        if axes is not None or dtype is not None:
            raise ValueError("axes and dtype are corr2d's arguments; a 4-D K is a conv2d weight "
                             f"(O, C/groups, kh, kw), got shape {K.shape}")
        check_mode(mode)
        return conv2d_call(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups, backend=backend)
    if groups != 1:
        raise ValueError(f"groups={groups!r} applies to a conv2d weight (O, C/groups, kh, kw); K has shape {K.shape}")
    return corr2d_call(X, K, padding=padding, stride=stride, dilation=dilation, mode=mode, cval=cval,
                       backend=backend, axes=axes, dtype=dtype, integer_ok=integer_ok)
