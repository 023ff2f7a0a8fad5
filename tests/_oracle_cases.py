"""Shared test helpers: tolerances, the oracle check, backends, layouts, strategies.

Import from any test module (pytest puts tests/ on sys.path because tests/
has no __init__.py):

    from _oracle_cases import assert_matches_oracle, backend_module, ...

Everything a test needs to know about "how close is close enough" lives in
``TOLERANCES`` below and nowhere else.
"""
import importlib.util
import os
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

import fastconv
from fastconv import backends as _registry

# ---------------------------------------------------------------------------
# Backends
# ---------------------------------------------------------------------------

ALL_BACKENDS = tuple(_registry.names())  # naive first: the oracle
COMPILED_BACKENDS = tuple(n for n in ALL_BACKENDS if n != "naive")  # every fast backend
# Backends that must load (and be the real compiled thing) under
# FASTCONV_REQUIRE_COMPILED=1.
REQUIRED_WHEN_COMPILED = ("cython", "numba", "winograd")
REQUIRE_COMPILED = os.environ.get("FASTCONV_REQUIRE_COMPILED", "0") == "1"

REPO_ROOT = Path(__file__).resolve().parents[1]


def backend_source_exists(name):
    """Is the backend's Python module present in the imported package?"""
    try:
        return importlib.util.find_spec(_registry.row(name).module) is not None
    except (ImportError, ValueError):
        return False


def backend_module(name):
    """The backend module, or skip/fail the calling test.

    * loads -> returned;
    * FASTCONV_REQUIRE_COMPILED=1 and name is cython, numba or winograd -> fail;
    * its module file exists but importing it fails, for a backend that
      does not depend on a build step (numba, gemm, ...) -> fail: that is a bug;
    * otherwise (not written yet, extension not built) -> skip, with the reason.
    """
    import pytest

    module = _registry.load(name)
    if module is not None:
        return module
    reason = _registry.load_error(name)
    if REQUIRE_COMPILED and name in REQUIRED_WHEN_COMPILED:
        pytest.fail(f"FASTCONV_REQUIRE_COMPILED=1 but backend {name!r} did not load: {reason}")
    if name not in ("cython", "winograd") and backend_source_exists(name) and "No module named 'numba'" not in str(reason):
        pytest.fail(f"backend {name!r} exists in {fastconv.__file__} but fails to import: {reason}")
    pytest.skip(f"backend {name!r} not available: {reason}")


# ---------------------------------------------------------------------------
# Tolerances (written once) and the oracle check
# ---------------------------------------------------------------------------

# Relative to the magnitude scale sum_ab |K[a,b]| * max|Xp| of each output
# element, which bounds the accumulated rounding error of any summation
# order. float32 kernels accumulate in float32 (up to ~k*eps32); the oracle
# sums in float64 and rounds once.
TOLERANCES = {
    np.dtype(np.float32): 2e-5,
    np.dtype(np.float64): 1e-12,
}


def tolerance(dtype):
    return TOLERANCES[np.dtype(dtype)]


def oracle(X, K, **kwargs):
    """The naive backend through the public API: the reference result."""
    kwargs.pop("backend", None)
    return fastconv.corr2d(X, K, backend="naive", **kwargs)


def _magnitude_scale(X, K):
    Xa = np.asarray(X)
    Ka = np.asarray(K)
    xmax = np.max(np.abs(Xa[np.isfinite(Xa)].astype(np.float64)), initial=0.0)
    kabs = np.abs(Ka.astype(np.float64))
    ksum = kabs[np.isfinite(kabs)].sum()
    return max(1.0, xmax * ksum)


def is_exact_case(X, K):
    """Integer/bool inputs computed in float64 are exact (small values): any
    summation order gives the same bits."""
    kinds = {np.asarray(X).dtype.kind, np.asarray(K).dtype.kind}
    return kinds <= set("biu")


def assert_close(result, expected, dtype, scale=1.0, exact=False, err_msg=""):
    """Same dtype, shape, NaN/inf positions; finite values within tolerance."""
    result = np.asarray(result)
    expected = np.asarray(expected)
    assert result.dtype == np.dtype(dtype), f"dtype {result.dtype}, expected {np.dtype(dtype)}. {err_msg}"
    assert result.shape == expected.shape, f"shape {result.shape}, expected {expected.shape}. {err_msg}"
    if exact:
        np.testing.assert_array_equal(result, expected, err_msg=err_msg)
        return
    tol = tolerance(dtype)
    # assert_allclose treats NaN == NaN and requires inf to match in sign.
    np.testing.assert_allclose(result, expected, rtol=tol, atol=tol * scale, err_msg=err_msg)


def is_approximate(name):
    """A backend that does not compute tap by tap (fft) publishes
    ``error_bound(xp, w, out_shape, stride, dilation, groups)``: it is
    checked against that bound instead of TOLERANCES, integer results are
    not exact, and one NaN may spread over its whole output (documented)."""
    module = _registry.load(name)
    return module is not None and hasattr(module, "error_bound")


def _assert_within_error_bound(name, result, expected, X, K, kwargs):
    from fastconv._padding import pad_spatial
    from fastconv._geometry import Geometry

    dtype = expected.dtype
    geo = Geometry.from_args(np.shape(X), np.shape(K), kwargs.get("padding", 0),
                             kwargs.get("stride", 1), kwargs.get("dilation", 1))
    xp = pad_spatial(np.asarray(X, dtype=dtype)[None, None], geo.pads, kwargs.get("mode", "constant"),
                     float(kwargs.get("cval", 0.0)))
    w = np.asarray(K, dtype=dtype)[None, None]
    bound = _registry.load(name).error_bound(xp, w, (1, 1) + expected.shape, geo.stride, geo.dilation, 1)[0, 0]
    tol = bound + np.finfo(dtype).eps * np.abs(expected)
    assert result.dtype == dtype and result.shape == expected.shape
    err = np.abs(result.astype(np.float64) - expected)
    assert np.all(err <= tol), f"{name}: max error {err.max():.3g} exceeds its error bound; kwargs={kwargs}"


def assert_matches_oracle(result, X, K, *, expected=None, backend=None, **kwargs):
    """``result`` (from ``backend``) equals ``corr2d(X, K, backend="naive", **kwargs)``
    up to the dtype's tolerance (exactly, for integer inputs), with the same
    dtype, shape and NaN/inf. ``X`` and ``K`` should be the canonical
    (plain ndarray) inputs. An approximate backend (see ``is_approximate``)
    is held to its own published error bound instead."""
    if expected is None:
        expected = oracle(X, K, **kwargs)
    if backend is not None and is_approximate(backend):
        _assert_within_error_bound(backend, np.asarray(result), expected, X, K, kwargs)
        return
    scale = _magnitude_scale(X, K)
    if kwargs.get("mode", "constant") == "constant":
        cval = kwargs.get("cval", 0.0)
        if np.isfinite(cval):
            scale = max(scale, abs(cval) * _magnitude_scale(1.0, K))
    assert_close(result, expected, expected.dtype, scale, exact=is_exact_case(X, K), err_msg=f"kwargs={kwargs}")


def reference_corr2d(X, K, *, pads=((0, 0), (0, 0)), stride=(1, 1), dilation=(1, 1), mode="constant", cval=0.0):
    """An independent float64 reference written from the definition with
    numpy.pad and explicit index arithmetic (no fastconv code involved)."""
    X = np.asarray(X, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    if mode == "constant":
        Xp = np.pad(X, pads, mode="constant", constant_values=cval)
    else:
        Xp = np.pad(X, pads, mode=mode)
    (sh, sw), (dh, dw) = stride, dilation
    kh, kw = K.shape
    ho = (Xp.shape[0] - dh * (kh - 1) - 1) // sh + 1
    wo = (Xp.shape[1] - dw * (kw - 1) - 1) // sw + 1
    Y = np.zeros((ho, wo))
    for a in range(kh):
        for b in range(kw):
            Y += K[a, b] * Xp[a * dh : a * dh + (ho - 1) * sh + 1 : sh, b * dw : b * dw + (wo - 1) * sw + 1 : sw]
    return Y


def pads_for(padding, kernel_shape, dilation=(1, 1)):
    """((top, bottom), (left, right)) from a padding argument, written
    independently of fastconv._geometry (the documented rules)."""
    spans = [d * (k - 1) + 1 for k, d in zip(kernel_shape, dilation)]
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":  # extra row/column after (bottom/right), like PyTorch
        return tuple(((s - 1) // 2, (s - 1) - (s - 1) // 2) for s in spans)
    if padding == "full":
        return tuple((s - 1, s - 1) for s in spans)
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    return tuple(tuple(p) if isinstance(p, (tuple, list)) else (p, p) for p in padding)


# ---------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------

FLOAT_DTYPES = (np.float32, np.float64)
INT_DTYPES = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
ALL_INPUT_DTYPES = FLOAT_DTYPES + (np.float16, np.bool_) + INT_DTYPES


def random_array(rng, shape, dtype):
    """Values exact in the dtype and small enough that integer sums are exact."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype.kind == "u":
        return rng.integers(0, 20, size=shape).astype(dtype)
    if dtype.kind == "i":
        return rng.integers(-20, 20, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------------------
# Memory layouts: each takes a C-contiguous array and returns an array-like
# with the same values in another layout. None of them copies into a layout
# that a backend could write to the caller's data through.
# ---------------------------------------------------------------------------


class ArrayLike:
    """An object that is not an ndarray but has __array__."""

    def __init__(self, a):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)


def _fortran(a):
    return np.asfortranarray(a)


def _transposed(a):
    return np.ascontiguousarray(a.T).T


def _negative_strides(a):
    return np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1]


def _strided_slice(a):
    big = np.zeros((2 * a.shape[0] + 1, 3 * a.shape[1] + 2), dtype=a.dtype)
    big[1::2, 2::3] = a
    return big[1::2, 2::3]


def _column_slice(a):  # rows contiguous but padded: last axis contiguous, row stride larger
    big = np.zeros((a.shape[0], a.shape[1] + 5), dtype=a.dtype)
    big[:, 3 : 3 + a.shape[1]] = a
    return big[:, 3 : 3 + a.shape[1]]


def _read_only(a):
    b = a.copy()
    b.setflags(write=False)
    return b


def _byteswapped(a):
    return a.astype(a.dtype.newbyteorder())


def _unaligned(a):
    if a.dtype.itemsize == 1:
        return a.copy()
    buf = np.zeros(a.nbytes + 1, dtype=np.uint8)
    b = np.frombuffer(buf.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    b[...] = a
    return b


def _broadcast(a):
    # a read-only view with a zero stride: only possible when rows repeat
    return np.broadcast_to(a[:1], a.shape) if (a == a[:1]).all() else _read_only(a)


LAYOUTS = {
    "C": lambda a: a,
    "fortran": _fortran,
    "transposed": _transposed,
    "negative_strides": _negative_strides,
    "strided_slice": _strided_slice,
    "column_slice": _column_slice,
    "read_only": _read_only,
    "byteswapped": _byteswapped,
    "unaligned": _unaligned,
    "list": lambda a: a.tolist(),
    "array_like": ArrayLike,
}


def snapshot(a):
    """(bytes, strides, flags) of an ndarray, or a deep copy of a list, to
    prove an input was not modified."""
    if isinstance(a, np.ndarray):
        return (a.tobytes(), a.strides, a.flags.writeable, a.dtype.str)
    if isinstance(a, ArrayLike):
        return snapshot(a._a)
    import copy

    return copy.deepcopy(a)


# ---------------------------------------------------------------------------
# hypothesis strategies
# ---------------------------------------------------------------------------


def examples(n):
    """Example count for one property test: ``n`` under the "ci" profile
    (max_examples 100), scaled by max_examples/100 under the others."""
    from hypothesis import settings

    return max(5, int(n * settings.default.max_examples / 100))


# ---------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------

PADDING_STRINGS = ("valid", "same", "full")
MODES = ("constant", "reflect", "symmetric", "edge", "wrap")
PRIMES = (2, 3, 5, 7, 11, 13)


def _pair(draw, elements):
    a = draw(elements)
    return a if draw(st.booleans()) else (a, draw(elements))


@st.composite
def padding_args(draw):
    """Any accepted padding form (the argument as a user writes it)."""
    kind = draw(st.sampled_from(["int", "pair", "pairs", "string"]))
    small = st.integers(0, 3)
    if kind == "int":
        return draw(small)
    if kind == "pair":
        return (draw(small), draw(small)) if draw(st.booleans()) else [draw(small), draw(small)]
    if kind == "pairs":
        return ((draw(small), draw(small)), (draw(small), draw(small)))
    return draw(st.sampled_from(PADDING_STRINGS))


def as_pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


@st.composite
def corr2d_cases(draw, dtypes=FLOAT_DTYPES, mixed=False, max_side=14):
    """(X, K, kwargs) for corr2d: shapes that always fit, every option.

    Shape families: random, 1x1, kernel equal to the input, primes, tall, wide.
    """
    family = draw(st.sampled_from(["random", "random", "1x1", "kernel=input", "primes", "tall", "wide"]))
    stride = _pair(draw, st.integers(1, 3))
    dilation = _pair(draw, st.sampled_from([1, 1, 2, 3]))
    padding = draw(padding_args())
    mode = draw(st.sampled_from(MODES))
    if family == "1x1":
        kshape, padding, dilation = (1, 1), draw(st.sampled_from([0, "same", "valid", "full", 1])), 1
        xshape = (1, 1)
    elif family == "kernel=input":
        xshape = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
        kshape, padding, dilation = xshape, draw(st.sampled_from(["valid", 0, "same", "full"])), 1
    else:
        if family == "primes":
            kshape = (draw(st.sampled_from((1, 2, 3, 5))), draw(st.sampled_from((1, 2, 3, 5))))
        elif family == "tall":
            kshape = (draw(st.integers(1, 5)), draw(st.integers(1, 2)))
        elif family == "wide":
            kshape = (draw(st.integers(1, 2)), draw(st.integers(1, 5)))
        else:
            kshape = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
        pads = pads_for(padding, kshape, as_pair(dilation))
        spans = [d * (k - 1) + 1 for k, d in zip(kshape, as_pair(dilation))]
        low = [max(1, s - sum(p)) for s, p in zip(spans, pads)]
        if family == "primes":
            sides = [draw(st.sampled_from([p for p in PRIMES + (17,) if p >= lo] or [lo])) for lo in low]
        elif family == "tall":
            sides = [max(low[0], draw(st.integers(9, 2 * max_side))), draw(st.integers(low[1], low[1] + 2))]
        elif family == "wide":
            sides = [draw(st.integers(low[0], low[0] + 2)), max(low[1], draw(st.integers(9, 2 * max_side)))]
        else:
            sides = [draw(st.integers(lo, max(lo, max_side))) for lo in low]
        xshape = tuple(sides)
    kwargs = {"padding": padding, "stride": stride, "dilation": dilation, "mode": mode}
    if mode == "constant" and draw(st.booleans()):
        kwargs["cval"] = draw(st.sampled_from([1.0, -2.5, 3]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    xdt = draw(st.sampled_from(dtypes))
    kdt = draw(st.sampled_from(dtypes)) if mixed else xdt
    X = random_array(rng, xshape, xdt)
    K = random_array(rng, kshape, kdt)
    return X, K, kwargs


@st.composite
def backend_calls(draw, dtypes=FLOAT_DTYPES):
    """Arguments for a direct backend ``correlate(xp, w, out, stride, dilation, groups)``
    call with N > 1, C > 1 and groups, in layouts the interface allows."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    n = draw(st.integers(1, 3))
    cg = draw(st.integers(1, 3))
    og = draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 1, 2])))
    spans = [d * (k - 1) + 1 for k, d in zip((kh, kw), dilation)]
    hp, wp = (draw(st.integers(s, s + 8)) for s in spans)
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    xp = rng.standard_normal((n, groups * cg, hp, wp)).astype(dtype)
    w = rng.standard_normal((groups * og, cg, kh, kw)).astype(dtype)
    ho, wo = ((p - s) // st_ + 1 for p, s, st_ in zip((hp, wp), spans, stride))
    layout = draw(st.sampled_from(["contiguous", "views", "read_only"]))
    if layout == "views":  # every axis but the last strided, last axis contiguous
        big = np.zeros((2 * n, groups * cg + 1, hp + 3, wp + 4), dtype=dtype)
        view = big[::2, 1:, 1 : 1 + hp, 2 : 2 + wp]
        view[...] = xp
        xp = view
        wbig = np.zeros((groups * og, cg, kh + 1, kw + 2), dtype=dtype)
        wbig[:, :, :kh, 1 : 1 + kw] = w
        w = wbig[:, :, :kh, 1 : 1 + kw]
    elif layout == "read_only":
        xp.setflags(write=False)
        w.setflags(write=False)
    out_layout = draw(st.sampled_from(["contiguous", "view"]))
    shape = (n, groups * og, ho, wo)
    if out_layout == "view":
        obig = np.full((n, groups * og, ho + 2, wo + 3), np.nan, dtype=dtype)
        out = obig[:, :, 1 : 1 + ho, 1 : 1 + wo]
    else:
        out = np.full(shape, np.nan, dtype=dtype)  # garbage: must be overwritten
    return xp, w, out, stride, dilation, groups
