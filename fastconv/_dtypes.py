"""The dtype rules, written once (the user guide's table, docs/guide/arguments.md, is tested against them).

Layers (``conv2d``: both operands are data, as in torch) promote
symmetrically with ``numpy.result_type``. Images (``corr2d`` and the
drop-ins) keep the *image's* precision, as image libraries do:

=====================  =====================  ===============================
image X                kernel K               computed in and returned as
=====================  =====================  ===============================
float32, float16       any real               float32
float64                any real               float64
bool, (u)int8/16       float (any)            float32
(u)int32/64            float (any)            float64
bool, int*, uint*      bool, int*, uint*      float64 (exact below 2**53)
complex, longdouble,   any                    TypeError naming the supported
object, str, ...                              dtypes
=====================  =====================  ===============================

``dtype=`` overrides the default: a float dtype is the compute and output
dtype (float16: computed in float32); an integer dtype rounds to nearest
(ties to even) and saturates to its range, as ``cv2.filter2D`` does with
``ddepth=-1``, computed in float32 for <= 16-bit integers (exact while every
sum of products stays below 2**24 in magnitude) and float64 for wider ones.
"""
import numpy as np

SUPPORTED = (np.dtype(np.float32), np.dtype(np.float64))
_ACCEPTED = "float32, float64, float16, bool, signed and unsigned integers"


def _check_kind(dtype, name, complex_ok=False):
    kinds = "biufc" if complex_ok else "biuf"
    if dtype.kind not in kinds or (dtype.kind == "f" and dtype.itemsize > 8) or dtype.itemsize > 16:
        accepted = _ACCEPTED + (", complex64, complex128" if complex_ok else "")
        hint = "" if complex_ok or dtype.kind != "c" else " (complex images: fastconv.corr2d, convolve2d)"
        raise TypeError(
            f"{name} has dtype {dtype}, which fastconv does not support here; "
            f"accepted input dtypes: {accepted} (computed in float32 or float64){hint}"
        )


def _compute_for(dt):
    """The compute dtype of a float (or narrow-integer) result dtype."""
    return SUPPORTED[0] if dt.itemsize <= 4 and dt.kind == "f" else SUPPORTED[1]


_RULES = {}  # (rule, input dtypes) -> (result dtype, all integer/bool?) (few distinct keys)


def dtype_rule(*named_arrays):
    """(compute/output dtype, exact) for arrays given as (name, ndarray)
    pairs, promoted symmetrically (the layer rule); ``exact``: every input is
    integer or bool, so results are wanted exact (the planner keeps such
    calls on backends that sum tap by tap)."""
    key = ("layer",) + tuple(a.dtype for _, a in named_arrays)
    rule = _RULES.get(key)
    if rule is None:
        for name, a in named_arrays:
            _check_kind(a.dtype, name)
        dt = np.result_type(*key[1:])
        dt = SUPPORTED[1] if dt.kind in "biu" or dt.itemsize > 4 else SUPPORTED[0]
        rule = _RULES[key] = (dt, all(d.kind in "biu" for d in key[1:]))
    return rule


def image_dtype_rule(*named_arrays):
    """Like :func:`dtype_rule`, but the first array is the image, whose
    precision the result keeps (the module docstring's table). Complex
    inputs count as floats of their parts' precision; the *compute* dtype
    returned is real (the engine correlates real and imaginary parts)."""
    key = ("image",) + tuple(a.dtype for _, a in named_arrays)
    rule = _RULES.get(key)
    if rule is None:
        for name, a in named_arrays:
            _check_kind(a.dtype, name, complex_ok=True)
        image = _real_part(key[1])
        exact = all(d.kind in "biu" for d in key[1:])
        if image.kind == "f":
            dt = _compute_for(image)
        elif exact:
            dt = SUPPORTED[1]
        else:  # integer image, float kernel: narrow images fit float32's 24 bits
            dt = SUPPORTED[0] if image.itemsize <= 2 else SUPPORTED[1]
        rule = _RULES[key] = (dt, exact)
    return rule


def _real_part(dt):
    return np.dtype(f"f{dt.itemsize // 2}") if dt.kind == "c" else dt


def complex_of(dtype):
    """The complex dtype whose parts are ``dtype`` (float32 -> complex64)."""
    return np.dtype(np.complex64) if np.dtype(dtype) == SUPPORTED[0] else np.dtype(np.complex128)


def result_dtype(*named_arrays):
    """The compute/output dtype for arrays given as (name, ndarray) pairs."""
    return dtype_rule(*named_arrays)[0]


def image_result_dtype(*named_arrays):
    """The default compute/output dtype of an image call (first array: the image)."""
    return image_dtype_rule(*named_arrays)[0]


_OUTPUTS = ("float16, float32, float64, complex64, complex128 or a signed/unsigned integer dtype "
            "(rounded and saturated)")


def output_dtypes(dtype, default, name="dtype"):
    """(compute dtype, output dtype) for a caller's ``dtype=`` (None: the
    rule's ``default``). An integer output dtype is computed in float32 up
    to 16 bits and float64 above; float16 in float32."""
    try:
        out = np.dtype(default if dtype is None else dtype)
    except TypeError:
        raise TypeError(f"{name}={dtype!r} is not a dtype; accepted: {_OUTPUTS}") from None
    if out.kind not in "iufc" or (out.kind == "f" and out.itemsize > 8) or out.itemsize > 16:
        raise TypeError(f"{name}={out} is not a supported output dtype; accepted: {_OUTPUTS}")
    if out.kind in "fc":
        return _compute_for(_real_part(out)), out
    return (SUPPORTED[0] if out.itemsize <= 2 else SUPPORTED[1]), out


_IMAGE_DTYPES = {}  # (input dtypes, asked result dtype, from out?) -> see image_call_dtypes (few distinct keys)


def image_call_dtypes(named, given, from_out):
    """(compute, result, x operand, k operand dtypes, exact) of an image call
    whose result dtype was asked as ``given`` (None: the default rule).
    Complex operands stay complex (the engine splits their parts)."""
    try:
        key = (tuple(a.dtype for _, a in named), given, from_out)
        found = _IMAGE_DTYPES.get(key)
    except TypeError:  # an unhashable dtype argument: output_dtypes names the problem
        key, found = None, None
    if found is not None:
        return found
    default, exact = image_dtype_rule(*named)
    is_complex = any(a.dtype.kind == "c" for _, a in named)
    compute, out_dtype = output_dtypes(given, complex_of(default) if is_complex else default,
                                       "out's dtype" if from_out else "dtype")
    if is_complex and out_dtype.kind != "c":
        raise TypeError(f"complex inputs give complex results; the result dtype must be complex64 or complex128, "
                        f"not {out_dtype}")
    xdt, kdt = (complex_of(compute) if a.dtype.kind == "c" else compute for _, a in named[:2])
    found = (compute, out_dtype, xdt, kdt, exact)
    if key is not None and len(_IMAGE_DTYPES) < 1024:
        _IMAGE_DTYPES[key] = found
    return found


def store(result, out_dtype, out=None):
    """``result`` (in the compute dtype) as ``out_dtype``, written into
    ``out`` when given. Integer outputs are rounded to nearest (ties to even)
    and saturated to the dtype's range, NaN giving 0 (cv2's saturate_cast)."""
    if out_dtype.kind in "iu":
        info = np.iinfo(out_dtype)
        # The largest float not above the maximum (2**63 - 1 rounds up to 2**63).
        hi = float(info.max) if int(float(info.max)) <= info.max else np.nextafter(float(info.max), 0)
        # Clipping to integer bounds first rounds the same; +-inf saturate too.
        result = np.clip(result, info.min, hi, out=result if result.flags.writeable else None)
        # NaN -> 0. np.nan_to_num would build +-inf masks as well (a third
        # of a colour frame's whole filter time); after the clip the sum
        # is finite unless some element is NaN.
        if np.isnan(np.add.reduce(result, axis=None)):
            np.copyto(result, 0, where=np.isnan(result))
        target = np.empty(result.shape, dtype=out_dtype) if out is None else out
        np.rint(result, out=target, casting="unsafe")  # rounded and converted in one pass
        return target
    if out is None:
        return result if result.dtype == out_dtype else result.astype(out_dtype)
    np.copyto(out, result, casting="unsafe")
    return out


def refuse_lazy(value, name):
    """A dask collection (anything with ``__dask_graph__`` on its type; dask
    itself is never imported) is refused instead of silently computed whole."""
    if hasattr(type(value), "__dask_graph__"):
        kind = f"{name} is a dask collection ({type(value).__module__}.{type(value).__name__})"
        if name == "out":
            raise TypeError(f"{kind}; out= takes a numpy.ndarray. fastconv.dask's functions return a lazy dask "
                            "array: write it with dask.array.store(result, target) or result.to_zarr(...)")
        raise TypeError(
            f"{kind}; fastconv's in-memory functions would compute it whole. Use fastconv.dask (corr2d, "
            f"convolve2d, conv2d: lazy, chunk by chunk, on any dask scheduler), or pass {name}.compute() to "
            "work in memory"
        )


def as_array(value, name, complex_ok=False):
    """np.asarray with a TypeError instead of numpy's for unusable objects
    (complex dtypes only where ``complex_ok``: the image functions).
    Masked arrays are refused: their mask would be silently dropped; so are
    dask arrays (see :func:`refuse_lazy`)."""
    if type(value) is not np.ndarray:
        refuse_lazy(value, name)
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a numpy masked array; fastconv does not honour masks (the mask would be dropped). "
            f"Pass {name}.filled(value) to choose what masked elements count as, or {name}.data to ignore the mask"
        )
    try:
        a = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} could not be read as a numeric array: {exc}") from None
    kind = a.dtype.kind
    if kind not in ("biufc" if complex_ok else "biuf") or (kind == "f" and a.dtype.itemsize > 8) \
            or a.dtype.itemsize > 16:  # _check_kind's test, inlined: every call pays
        _check_kind(a.dtype, name, complex_ok)
    return a


def as_kernel_operand(a, dtype):
    """``a`` as ``dtype`` in native byte order, aligned, last axis contiguous and
    all strides >= 0: the layout every backend accepts. Copies only when needed,
    and never returns the caller's array in a form a backend could write to."""
    a = np.asarray(a, dtype=dtype)
    ok = (
        a.flags.aligned
        and a.dtype.isnative
        and a.strides[-1] == a.itemsize
        and min(a.strides) >= 0  # (every operand here has ndim >= 1)
    )
    return a if ok else _aligned_copy(a)


def as_contiguous_operand(a, dtype):
    """``a`` as a C-contiguous, aligned ``dtype`` array in native byte order
    (weights, bias): ``np.ascontiguousarray`` alone keeps an unaligned one."""
    a = np.ascontiguousarray(a, dtype=dtype)  # ``dtype`` is native, so the result is too
    return a if a.flags.aligned else _aligned_copy(a)


def _aligned_copy(a):
    # A new array is always aligned (numpy allocates with the dtype's alignment).
    return np.array(a, dtype=a.dtype.newbyteorder("="), order="C", copy=True)


def out_dtype_matches(out_dtype, dtype):
    """Is a caller's ``out`` of this dtype usable for results in ``dtype``?
    Either byte order is (a non-native one is written through a copy)."""
    return out_dtype == dtype or (out_dtype.kind == dtype.kind and out_dtype.newbyteorder("=") == dtype)
