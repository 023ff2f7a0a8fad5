"""The dtype rules, written once (the README's table is tested against them).

=====================  ==========================================
inputs                 computed in and returned as
=====================  ==========================================
float32 (both)         float32
float64 (either)       float64
float16                float32 (no native half-precision kernels)
bool, int*, uint*      float64 (exact for integers below 2**53)
mixed                  numpy.result_type, then the rows above
complex, longdouble,   TypeError naming the supported dtypes
object, str, ...
=====================  ==========================================
"""
import numpy as np

SUPPORTED = (np.dtype(np.float32), np.dtype(np.float64))
_ACCEPTED = "float32, float64, float16, bool, signed and unsigned integers"


def _unsupported(dtype):
    return dtype.kind not in "biuf" or (dtype.kind == "f" and dtype.itemsize > 8)


def _check_kind(dtype, name):
    if _unsupported(dtype):
        raise TypeError(
            f"{name} has dtype {dtype}, which fastconv does not support; "
            f"accepted input dtypes: {_ACCEPTED} (computed in float32 or float64)"
        )


_RULES = {}  # tuple of input dtypes -> (result dtype, all integer/bool?) (few distinct keys)


def dtype_rule(*named_arrays):
    """(compute/output dtype, exact) for arrays given as (name, ndarray)
    pairs; ``exact``: every input is integer or bool, so results are wanted
    exact (the planner keeps such calls on backends that sum tap by tap)."""
    key = tuple([a.dtype for _, a in named_arrays])  # (a list comprehension: cheaper than a generator here)
    rule = _RULES.get(key)
    if rule is None:
        for name, a in named_arrays:
            _check_kind(a.dtype, name)
        dt = np.result_type(*key)
        dt = SUPPORTED[1] if dt.kind in "biu" or dt.itemsize > 4 else SUPPORTED[0]
        rule = _RULES[key] = (dt, all(d.kind in "biu" for d in key))
    return rule


def result_dtype(*named_arrays):
    """The compute/output dtype for arrays given as (name, ndarray) pairs."""
    return dtype_rule(*named_arrays)[0]


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


def as_array(value, name):
    """np.asarray with a TypeError instead of numpy's for unusable objects.
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
    if kind not in "biuf" or (kind == "f" and a.dtype.itemsize > 8):  # _unsupported, inlined: every call pays
        _check_kind(a.dtype, name)
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
