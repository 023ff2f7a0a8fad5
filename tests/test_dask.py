"""fastconv.dask against the in-memory functions: every padding form, mode,
stride, dilation, dtype and chunking (hypothesis, on dask's synchronous
scheduler), the refusals (before anything is computed), and the in-memory
functions' refusal of dask arrays. The distributed tests (a real
LocalCluster: threads per worker, a killed worker, an out-of-core zarr
image) are in tests/test_dask_cluster.py."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from _oracle_cases import _magnitude_scale, assert_close, is_exact_case, random_array

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
import fastconv.dask as fd  # noqa: E402

MODES = ("constant", "reflect", "symmetric", "edge", "wrap")
X_DTYPES = (np.float32, np.float64, np.int16, np.uint8)
K_DTYPES = (np.float32, np.float64, np.int8)


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


@st.composite
def chunking(draw, n):
    """A random partition of an axis of length n (dask's chunk sizes)."""
    cuts = draw(st.sets(st.integers(1, n - 1), max_size=5)) if n > 1 else set()
    bounds = [0] + sorted(cuts) + [n]
    return tuple(b - a for a, b in zip(bounds, bounds[1:]))


padding_forms = st.one_of(
    st.integers(0, 4), st.sampled_from(["valid", "same", "full"]),
    st.tuples(st.integers(0, 4), st.integers(0, 4)),
    st.tuples(st.tuples(st.integers(0, 5), st.integers(0, 5)), st.tuples(st.integers(0, 5), st.integers(0, 5))),
)
pairs = st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3)))


def _expect_same(lazy, make_expected):
    """The dask call raises what the in-memory call raises, else agrees."""
    try:
        expected = make_expected()
    except ValueError as exc:
        with pytest.raises(ValueError) as info:
            lazy()
        assert str(info.value) == str(exc)
        return None, None
    result = lazy()
    assert isinstance(result, da.Array)
    assert result.dtype == expected.dtype and result.shape == expected.shape
    return result.compute(), expected


@settings(max_examples=50)
@given(data=st.data(), shape=st.tuples(st.integers(1, 30), st.integers(1, 30)),
       kshape=st.tuples(st.integers(1, 5), st.integers(1, 5)), padding=padding_forms, stride=pairs,
       dilation=pairs, mode=st.sampled_from(MODES), cval=st.sampled_from([0.0, 1.5, -2.0]),
       xdt=st.sampled_from(X_DTYPES), kdt=st.sampled_from(K_DTYPES),
       backend=st.sampled_from(["auto", "cython", "gemm"]), flip=st.booleans())
def test_corr2d_equals_the_in_memory_call(data, shape, kshape, padding, stride, dilation, mode, cval, xdt, kdt,
                                          backend, flip):
    rng = np.random.default_rng(sum(shape) * 31 + sum(kshape))
    X, K = random_array(rng, shape, xdt), random_array(rng, kshape, kdt)
    chunks = (data.draw(chunking(shape[0])), data.draw(chunking(shape[1])))
    kwargs = dict(padding=padding, stride=stride, dilation=dilation, mode=mode, cval=cval, backend=backend)
    lazy_fn, fn = (fd.convolve2d, fastconv.convolve2d) if flip else (fd.corr2d, fastconv.corr2d)
    got, expected = _expect_same(lambda: lazy_fn(da.from_array(X, chunks=chunks), K, **kwargs),
                                 lambda: fn(X, K, **kwargs))
    if got is not None:
        assert_close(got, expected, expected.dtype, scale=_magnitude_scale(X, K) + abs(cval),
                     exact=is_exact_case(X, K), err_msg=f"chunks {chunks}")


@settings(max_examples=25)
@given(data=st.data(), lead=st.lists(st.integers(1, 3), min_size=1, max_size=2),
       shape=st.tuples(st.integers(1, 12), st.integers(1, 12)), kshape=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       padding=padding_forms, stride=pairs, mode=st.sampled_from(MODES), xdt=st.sampled_from(X_DTYPES))
def test_a_stack_equals_the_in_memory_call(data, lead, shape, kshape, padding, stride, mode, xdt):
    """X (..., H, W), chunked on every axis: each image filtered alike."""
    rng = np.random.default_rng(sum(shape) + len(lead))
    X, K = random_array(rng, tuple(lead) + shape, xdt), random_array(rng, kshape, np.float64)
    chunks = tuple(data.draw(chunking(n)) for n in X.shape)
    kwargs = dict(padding=padding, stride=stride, mode=mode)
    got, expected = _expect_same(lambda: fd.corr2d(da.from_array(X, chunks=chunks), K, **kwargs),
                                 lambda: fastconv.corr2d(X, K, **kwargs))
    if got is not None:
        assert_close(got, expected, expected.dtype, scale=_magnitude_scale(X, K), exact=is_exact_case(X, K),
                     err_msg=f"chunks {chunks}")


@settings(max_examples=25)
@given(data=st.data(), shape=st.tuples(st.integers(1, 16), st.integers(1, 16)),
       kshape=st.tuples(st.integers(1, 4), st.integers(1, 4)), padding=padding_forms, stride=pairs,
       mode=st.sampled_from(MODES), cval=st.sampled_from([0.0, 1.5, 2 - 1j]),
       dtypes=st.sampled_from([(np.complex64, np.float32), (np.float64, np.complex128), (np.complex128, np.complex64),
                               (np.int16, np.complex64)]))
def test_complex_inputs_equal_the_in_memory_call(data, shape, kshape, padding, stride, mode, cval, dtypes):
    rng = np.random.default_rng(sum(shape) + sum(kshape))
    X, K = (random_array(rng, s, d) + (1j * random_array(rng, s, d).real if np.dtype(d).kind == "c" else 0)
            for s, d in ((shape, dtypes[0]), (kshape, dtypes[1])))
    X, K = X.astype(dtypes[0]), K.astype(dtypes[1])
    if isinstance(cval, complex) and X.dtype.kind != "c":
        cval = 1.5
    chunks = (data.draw(chunking(shape[0])), data.draw(chunking(shape[1])))
    kwargs = dict(padding=padding, stride=stride, mode=mode, cval=cval)
    got, expected = _expect_same(lambda: fd.corr2d(da.from_array(X, chunks=chunks), K, **kwargs),
                                 lambda: fastconv.corr2d(X, K, **kwargs))
    if got is not None:
        assert got.dtype == expected.dtype
        scale = 2 * _magnitude_scale(np.abs(X), np.abs(K)) + abs(cval)
        for part in (np.real, np.imag):
            assert_close(part(got), part(expected), part(expected).dtype, scale=scale, err_msg=f"chunks {chunks}")


@settings(max_examples=30)
@given(data=st.data(), n=st.integers(0, 3), cg=st.sampled_from([(1, 1, 1), (2, 3, 1), (1, 2, 2), (2, 1, 2), (1, 1, 3)]),
       hw=st.tuples(st.integers(1, 14), st.integers(1, 14)), kshape=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       padding=padding_forms, stride=pairs, dilation=pairs, dtype=st.sampled_from([np.float32, np.float64]),
       with_bias=st.booleans(), batched=st.booleans())
def test_conv2d_equals_the_in_memory_call(data, n, cg, hw, kshape, padding, stride, dilation, dtype, with_bias,
                                          batched):
    c, o, groups = cg[0] * cg[2], cg[1] * cg[2], cg[2]  # (channels, outputs) per group, groups
    rng = np.random.default_rng(n + sum(hw))
    x = random_array(rng, (max(n, 1) if not batched else n, c) + hw, dtype)
    if not batched:
        x = x[0]
    w = random_array(rng, (o, c // groups) + kshape, dtype)
    bias = random_array(rng, (o,), dtype) if with_bias else None
    chunks = tuple(data.draw(chunking(s)) if s else (0,) for s in x.shape)
    kwargs = dict(padding=padding, stride=stride, dilation=dilation, groups=groups)
    got, expected = _expect_same(lambda: fd.conv2d(da.from_array(x, chunks=chunks), w, bias, **kwargs),
                                 lambda: fastconv.conv2d(x, w, bias, **kwargs))
    if got is not None:
        scale = _magnitude_scale(x, w) * c + (0 if bias is None else np.abs(bias).max())
        assert_close(got, expected, dtype, scale=scale, err_msg=f"chunks {chunks}")


@pytest.mark.parametrize("layout", ["fortran", "transposed", "sliced"])
def test_chunks_in_any_memory_layout(layout):
    rng = np.random.default_rng(5)
    base = rng.standard_normal((41, 37))
    X = {"fortran": da.from_array(np.asfortranarray(base), chunks=(9, 10)),
         "transposed": da.from_array(base.T.copy(), chunks=(8, 13)).T,
         "sliced": da.from_array(base, chunks=(10, 10))[:, ::-1][:, ::-1]}[layout]
    K = rng.standard_normal((4, 3))
    np.testing.assert_allclose(fd.corr2d(X, K, padding="same", mode="reflect").compute(),
                               fastconv.corr2d(base, K, padding="same", mode="reflect"), rtol=1e-12, atol=1e-12)


def test_output_chunks_follow_the_stride_grid():
    X = da.ones((100, 90), chunks=(30, 25))
    Y = fd.corr2d(X, np.ones((3, 3)), stride=2, padding=1)
    assert Y.shape == fastconv.output_shape((100, 90), (3, 3), stride=2, padding=1)
    # Output chunk k holds the outputs i whose input row i*stride lies in input chunk k.
    assert Y.chunks == ((15, 15, 15, 5), (13, 12, 13, 7))
    assert fd.corr2d(X, np.ones((4, 5)), padding="same").chunks == X.chunks
    # Chunks thinner than the 6-row halo are not merged: a window reads several
    # neighbours' strips; the last 3 chunks hold no output (they serve as halos).
    thin = fd.corr2d(da.ones((60, 60), chunks=2), np.ones((7, 7)))
    assert thin.chunks == ((2,) * 27, (2,) * 27)
    np.testing.assert_array_equal(thin.compute(), 49.0)


def test_the_input_is_neither_padded_nor_rechunked_nor_converted():
    """One graph layer on top of the input's: per chunk one export task (the
    strips its neighbours read) and one tile task, for every boundary mode
    and a dtype conversion."""
    X = da.ones((100, 90), chunks=(30, 25), dtype=np.int16)
    for mode in ("constant", "reflect", "wrap"):
        Y = fd.corr2d(X, np.ones((3, 3)), padding="same", mode=mode)
        assert len(Y.dask.layers) == len(X.dask.layers) + 1
        own = Y.dask.layers[Y.name]
        assert len(own) == 1 + 2 * X.npartitions  # the kernel, exports, tiles


# --------------------------------------------------------------- refusals

@pytest.fixture
def computed():
    """A dask array that records whether any of its chunks was computed."""
    log = []

    def mark(block):
        log.append(block.shape)
        return block

    return da.ones((20, 20), chunks=10).map_blocks(mark, dtype=float, meta=np.empty((0, 0))), log


def test_bad_input_raises_before_any_computation(computed):
    X, log = computed
    K = np.ones((3, 3))
    cases = [
        (lambda: fd.corr2d(X[X[:, 0] > 0], K), ValueError, "unknown chunk sizes"),
        (lambda: fd.corr2d(X[0], K), ValueError, "(H, W) or a stack (..., H, W)"),
        (lambda: fd.corr2d(X[:0], K), ValueError, "X is empty"),
        (lambda: fd.corr2d(X[None], K, axes=(1, 2)), TypeError, "no axes="),
        (lambda: fd.corr2d(X, np.ones((2, 3, 3))), ValueError, "K must be 2-D"),
        (lambda: fd.corr2d(X.astype(np.complex64), K, cval="1"), TypeError, "cval"),
        (lambda: fd.corr2d(X, K.astype(object)), TypeError, "object"),
        (lambda: fd.corr2d(da.ma.masked_equal(X, 0.0), K), TypeError, "masked"),
        (lambda: fd.corr2d(X, da.from_array(K)), TypeError, "K.compute()"),
        (lambda: fd.corr2d(np.ones((20, 20)), K), TypeError, "dask.array.Array"),
        (lambda: fd.corr2d(X, K, out=np.empty((18, 18))), TypeError, "no out="),
        (lambda: fd.corr2d(X, np.ones((30, 3))), ValueError, "larger than the padded input"),
        (lambda: fd.corr2d(X, K, mode="mirrored"), ValueError, "unknown mode"),
        (lambda: fd.corr2d(X, K, stride=0), ValueError, "stride"),
        (lambda: fd.corr2d(X, K, backend="nope"), ValueError, "nope"),
        (lambda: fd.conv2d(X, np.ones((1, 1, 3, 3))), ValueError, "(N, C, H, W) or (C, H, W)"),
        (lambda: fd.conv2d(X[None, None], np.ones((1, 2, 3, 3))), ValueError, "channel mismatch"),
        (lambda: fd.conv2d(X[None, None], np.ones((2, 1, 3, 3)), np.ones(3)), ValueError, "bias must have shape"),
    ]
    for call, kind, words in cases:
        with pytest.raises(kind) as info:
            call()
        assert words in str(info.value), (words, str(info.value))
    assert log == [], "a refused call computed chunks"


def test_in_memory_functions_refuse_dask_arrays(computed):
    X, log = computed
    K = np.ones((3, 3))
    calls = [lambda: fastconv.corr2d(X, K), lambda: fastconv.convolve2d(X, K), lambda: fastconv.corr2d(K, X),
             lambda: fastconv.conv2d(X[None, None], np.ones((1, 1, 3, 3))), lambda: fastconv.plan(X, K),
             lambda: fastconv.corr2d_backward(X, K, np.ones((18, 18))), lambda: fastconv.im2col(X, (3, 3))]
    for call in calls:
        with pytest.raises(TypeError, match="fastconv.dask") as info:
            call()
        assert "compute it whole" in str(info.value)
    with pytest.raises(TypeError, match="dask.array.store"):
        fastconv.corr2d(np.ones((20, 20)), K, out=da.zeros((18, 18)))
    assert log == []


def test_import_fastconv_does_not_import_dask():
    import subprocess
    import sys

    code = "import sys, fastconv; fastconv.corr2d([[1.0]], [[1.0]]); print(any(m.startswith('dask') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_kernel_arrives_aligned_on_a_worker():
    """Unpickled from a network buffer, the kernel may be unaligned: the
    chunk runner hands the backends an aligned copy."""
    from fastconv.dask._tiles import _Chunk

    raw = np.zeros(4 * 9 + 1, np.uint8)[1:].view(np.float32).reshape(1, 1, 3, 3)
    assert not raw.flags.aligned
    chunk = _Chunk(raw, None, 1, (1, 1), (1, 1), "auto", False, None)
    state = chunk.__dict__.copy()
    arrived = _Chunk.__new__(_Chunk)
    arrived.__setstate__(state)
    assert arrived.w.flags.aligned and arrived.w.flags.c_contiguous
    out = np.empty((1, 1, 4, 4), np.float32)
    arrived.run(np.ones((1, 1, 6, 6), np.float32), out)
    np.testing.assert_array_equal(out, 0.0)
