"""Every documented error, one test each; the same error whatever the backend
(arguments are checked once, before any backend runs)."""
import re

import numpy as np
import pytest

import fastconv

X = np.ones((5, 6))
K = np.ones((2, 3))


@pytest.fixture(params=["corr2d", "convolve2d"])
def fn(request):
    return getattr(fastconv, request.param)


@pytest.mark.parametrize("shape", [(5,), ()])
def test_ndim_below_2_input(fn, backend, shape):
    with pytest.raises(ValueError, match=r"X must have at least 2 dimensions \(H, W\), got shape"):
        fn(np.ones(shape), K, backend=backend)


@pytest.mark.parametrize("shape", [(3,), (), (1, 1, 2, 3)])
def test_kernel_neither_2d_nor_a_stack(fn, backend, shape):
    with pytest.raises(ValueError, match=r"K must be a 2-D kernel \(kh, kw\) or a \(C, kh, kw\) stack"):
        fn(X, np.ones(shape), backend=backend)


def test_kernel_stack_without_channel_axis_hints_at_axes(fn):
    with pytest.raises(ValueError, match=r"stack of 1 kernels.*no channel axis.*axes="):
        fn(X, np.ones((1, 2, 3)))
    with pytest.raises(ValueError, match=r"stack of 2 kernels.*channel axis .* has 3"):
        fn(np.ones((5, 6, 3)), np.ones((2, 2, 3)), axes=(0, 1))


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0)])
def test_empty_arrays(fn, backend, shape):
    with pytest.raises(ValueError, match="empty"):
        fn(np.ones(shape), K, backend=backend)
    with pytest.raises(ValueError, match="empty"):
        fn(X, np.ones(shape), backend=backend)
    with pytest.raises(ValueError, match="empty"):
        fn([[]], K, backend=backend)


@pytest.mark.parametrize(
    "xshape, kshape, kwargs",
    [
        ((3, 3), (4, 2), {}),
        ((3, 3), (2, 4), {"padding": "valid"}),
        ((3, 3), (6, 6), {"padding": 1}),
        ((5, 5), (3, 3), {"dilation": 3}),
        ((2, 8), (3, 1), {"padding": ((0, 0), (4, 4))}),
    ],
)
def test_kernel_larger_than_padded_input(fn, backend, xshape, kshape, kwargs):
    with pytest.raises(ValueError, match="larger than the padded input") as info:
        fn(np.ones(xshape), np.ones(kshape), backend=backend, **kwargs)
    msg = str(info.value)
    assert str(kshape) in msg, msg  # the kernel's shape
    assert str(xshape) in msg, msg  # the input's shape
    with pytest.raises(ValueError, match="larger than the padded input"):
        fastconv.output_shape(xshape, kshape, **kwargs)


@pytest.mark.parametrize("name", ["stride", "dilation"])
@pytest.mark.parametrize("value", [0, -1, (1, 0), (0, 2), [2, -3]])
def test_stride_dilation_below_one(fn, backend, name, value):
    with pytest.raises(ValueError, match=f"{name} must be >= 1"):
        fn(X, K, backend=backend, **{name: value})


@pytest.mark.parametrize("name", ["stride", "dilation"])
@pytest.mark.parametrize("value", [(1, 2, 3), (), 1.5, "2", True, None])
def test_stride_dilation_malformed(name, value):
    with pytest.raises((ValueError, TypeError), match=name):
        fastconv.corr2d(X, K, **{name: value})


@pytest.mark.parametrize("padding", ["SAME", "causal", "", "reflect"])
def test_unknown_padding_string_lists_accepted(fn, padding):
    with pytest.raises(ValueError, match="unknown padding") as info:
        fn(X, K, padding=padding)
    for accepted in ("'valid'", "'same'", "'full'"):
        assert accepted in str(info.value)


@pytest.mark.parametrize("padding", [-1, (1, -2), ((0, 0), (-1, 0))])
def test_negative_padding(padding):
    with pytest.raises(ValueError, match="padding must be >= 0"):
        fastconv.corr2d(X, K, padding=padding)


@pytest.mark.parametrize("padding", [(1, 2, 3), ((1, 2, 3), (0, 0)), 1.5, True, None])
def test_malformed_padding(padding):
    with pytest.raises((ValueError, TypeError), match="padding"):
        fastconv.corr2d(X, K, padding=padding)


@pytest.mark.parametrize("mode", ["zeros", "circular", "REFLECT", "reflect101", "", None])
def test_unknown_mode_lists_accepted(fn, backend, mode):
    with pytest.raises(ValueError, match="unknown mode") as info:
        fn(X, K, mode=mode, backend=backend)
    for accepted in ("constant", "reflect", "symmetric", "edge", "wrap"):
        assert repr(accepted) in str(info.value)


@pytest.mark.parametrize("name", ["cuda", "scipy", "Naive", ""])
def test_unknown_backend_lists_available(fn, name):
    with pytest.raises(ValueError, match="unknown backend") as info:
        fn(X, K, backend=name)
    for available in fastconv.available_backends():
        assert available in str(info.value)


def test_unavailable_backend_lists_available(monkeypatch):
    from fastconv import backends

    backends.register("broken", "fastconv.backends._no_such_module")
    try:
        with pytest.raises(ValueError, match=r"backend 'broken' is not available") as info:
            fastconv.corr2d(X, K, backend="broken")
        msg = str(info.value)
        assert "available: " + ", ".join(fastconv.available_backends()) in msg
        assert "_no_such_module" in msg  # why it did not load
        # it did not break anything else, auto included
        np.testing.assert_array_equal(fastconv.corr2d(X, K, backend="naive"), np.full((4, 4), 6.0))
        np.testing.assert_array_equal(fastconv.corr2d(X, K), np.full((4, 4), 6.0))
    finally:
        backends.unregister("broken")
    assert "broken" not in backends.names()


@pytest.mark.parametrize(
    "value",
    [
        np.array([["a", "b"], ["c", "d"]]),
        np.array([[object(), 1], [2, 3]], dtype=object),
        np.array([[1, 2], [3, 4]], dtype=object),
        [["a", "b"], ["c", "d"]],
        "abc",
        [[1, 2], [3]],  # ragged
        {"not": "an array"},
    ],
    ids=["str", "object", "object-ints", "list-of-str", "string", "ragged", "dict"],
)
def test_object_and_str_inputs_raise_type_error(fn, value):
    with pytest.raises(TypeError):
        fn(value, K)
    with pytest.raises(TypeError):
        fn(X, value)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_result_dtype_must_be_complex(fn, dtype):
    with pytest.raises(TypeError, match="complex inputs give complex results"):
        fn(X.astype(dtype), K, dtype=np.float64)
    with pytest.raises(TypeError, match="complex inputs give complex results"):
        fn(X, K.astype(dtype), out=np.empty((4, 4)))
    with pytest.raises(TypeError, match=r"cval must be a real number \(complex only for a complex X\)"):
        fn(X, K, padding=1, cval=1j)
    with pytest.raises(TypeError, match="accepted input dtypes.*complex64, complex128"):
        fn(X.astype(np.clongdouble), K)


def test_complex_refused_by_layers_with_a_hint():
    with pytest.raises(TypeError, match=r"complex images: fastconv.corr2d"):
        fastconv.conv2d(np.ones((1, 1, 4, 4), complex), np.ones((1, 1, 2, 2)))


@pytest.mark.parametrize("shape", [(4, 5), (5, 4), (4,), (1, 4, 4), (16,)])
def test_out_wrong_shape(fn, backend, shape):
    with pytest.raises(ValueError, match=r"out has shape .* expected \(4, 4\)"):
        fn(X, K, backend=backend, out=np.empty(shape))


@pytest.mark.parametrize("dtype", [np.clongdouble, np.bool_, "M8[s]", np.longdouble])
def test_out_unsupported_dtype(fn, backend, dtype):
    with pytest.raises(TypeError, match="not a supported output dtype; accepted: float16, float32, float64, complex64"):
        fn(X, K, backend=backend, out=np.empty((4, 4), dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.int64, ">f8"])
def test_out_dtype_disagreeing_with_dtype(fn, backend, dtype):
    with pytest.raises(TypeError, match="out has dtype .* but dtype=float64 was asked for"):
        fn(X, K, backend=backend, dtype=np.float64, out=np.empty((4, 4), dtype=dtype))


@pytest.mark.parametrize("dtype", [np.clongdouble, "U3", bool, "f16", "nonsense"])
def test_unsupported_result_dtype(fn, dtype):
    with pytest.raises(TypeError, match="accepted: float16, float32, float64, complex64, complex128 or a signed/unsigned integer"):
        fn(X, K, dtype=dtype)


def test_out_not_an_array_or_read_only(fn):
    with pytest.raises(TypeError, match="out must be a numpy.ndarray"):
        fn(X, K, out=[[0.0] * 4] * 4)
    ro = np.empty((4, 4))
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        fn(X, K, out=ro)


def test_errors_leave_out_untouched():
    out = np.full((4, 4), 3.0)
    with pytest.raises(ValueError):
        fastconv.corr2d(X, K, mode="bogus", out=out)
    assert (out == 3.0).all()


@pytest.mark.parametrize("call", [
    lambda: fastconv.output_shape((5,), (3, 3)),
    lambda: fastconv.output_shape((5, 5, 5), (3, 3)),
    lambda: fastconv.output_shape((5, 5), (3,)),
    lambda: fastconv.output_shape((5, 0), (1, 1)),
    lambda: fastconv.as_matrix(np.ones((2, 2)), (5.7, 6.2)),
    lambda: fastconv.as_matrix(np.ones((2, 2)), (5,)),
    lambda: fastconv.im2col(np.ones((5, 5)), (2.5, 2)),
    lambda: fastconv.im2col(np.ones((5, 5)), (2, 2, 2)),
])
def test_malformed_shapes_are_refused_not_truncated(call):
    with pytest.raises((TypeError, ValueError), match=r"must be (a pair|an int)"):
        call()
