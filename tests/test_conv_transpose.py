"""fastconv.conv_transpose2d and conv_transpose2d_backward: torch's
conv_transpose2d and autograd where installed, the definition (the adjoint
of conv2d) and finite differences without it, every backend against the
oracle, and bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from _oracle_cases import examples

import fastconv
from fastconv import ConvGrads, conv2d, conv_transpose2d, conv_transpose2d_backward

EPS = 1e-6


@st.composite
def transpose_cases(draw, dtypes=(np.float64, np.float32), max_side=6):
    """(x, w, b, kwargs) for conv_transpose2d: every stride, padding,
    output_padding (< stride or < dilation), groups and dilation torch accepts."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    # padding small enough that the output keeps at least one row/column
    full = [(n - 1) * s + d * (k - 1) + op + 1
            for n, s, d, k, op in zip((h, w), stride, dilation, (kh, kw), output_padding)]
    padding = tuple(draw(st.integers(0, min(3, (f - 1) // 2))) for f in full)
    dtype = draw(st.sampled_from(dtypes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((draw(st.integers(1, 2)), cin, h, w)).astype(dtype)
    weight = rng.standard_normal((cin, cout // groups, kh, kw)).astype(dtype)
    bias = rng.standard_normal(cout).astype(dtype) if draw(st.booleans()) else None
    kwargs = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    return x, weight, bias, kwargs


def _scale(x, w):
    return max(1.0, np.abs(x).max() * np.abs(w).sum())


@settings(max_examples=examples(60), deadline=None)
@given(case=transpose_cases())
def test_matches_torch_forward_and_backward(case):
    torch = pytest.importorskip("torch")
    x, w, b, kwargs = case
    tol = 1e-10 if x.dtype == np.float64 else 2e-5
    y = conv_transpose2d(x, w, b, **kwargs)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    yt = torch.nn.functional.conv_transpose2d(xt, wt, bt, **kwargs)
    assert y.shape == tuple(yt.shape) and y.dtype == x.dtype
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=tol, atol=tol * _scale(x, w))
    r = np.random.default_rng(0).standard_normal(y.shape).astype(x.dtype)
    yt.backward(torch.tensor(r))
    g = conv_transpose2d_backward(x, w, r, **kwargs)
    np.testing.assert_allclose(g.x, xt.grad.numpy(), rtol=tol, atol=tol * _scale(r, w))
    np.testing.assert_allclose(g.weight, wt.grad.numpy(), rtol=tol, atol=tol * np.abs(x).max() * np.abs(r).sum())
    if b is not None:
        np.testing.assert_allclose(g.bias, bt.grad.numpy(), rtol=tol, atol=tol * np.abs(r).sum())


@settings(max_examples=examples(60), deadline=None)
@given(case=transpose_cases(dtypes=(np.float64,)), seed=st.integers(0, 2**32 - 1))
def test_is_the_adjoint_of_conv2d(case, seed):
    """<conv2d(z, w), x> == <z, conv_transpose2d(x, w)> for every z of the
    output's shape (conv2d's output cropped to x's size: output_padding
    rows beyond the stride are ones no input reaches)."""
    x, w, _, kwargs = case
    y = conv_transpose2d(x, w, **kwargs)
    z = np.random.default_rng(seed).standard_normal(y.shape)
    conv_kwargs = {k: kwargs[k] for k in ("stride", "padding", "groups", "dilation")}
    cz = conv2d(z, w, **conv_kwargs)[:, :, : x.shape[2], : x.shape[3]]
    lhs, rhs = float((cz * x).sum()), float((z * y).sum())
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, np.abs(cz).sum() * np.abs(x).max())


@settings(max_examples=examples(30), deadline=None)
@given(case=transpose_cases(dtypes=(np.float64,), max_side=4), seed=st.integers(0, 2**32 - 1))
def test_backward_matches_directional_finite_differences(case, seed):
    x, w, b, kwargs = case
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(conv_transpose2d(x, w, b, **kwargs).shape)
    g = conv_transpose2d_backward(x, w, r, **kwargs)
    b = np.zeros(r.shape[1]) if b is None else b

    def loss(xx, ww, bb):
        return float((conv_transpose2d(xx, ww, bb, **kwargs) * r).sum())

    perturbed = ((g.x, lambda e: (x + e, w, b)), (g.weight, lambda e: (x, w + e, b)), (g.bias, lambda e: (x, w, b + e)))
    for got, args in perturbed:
        v = rng.standard_normal(got.shape)
        fd = (loss(*args(EPS * v)) - loss(*args(-EPS * v))) / (2 * EPS)
        assert abs(float((got * v).sum()) - fd) <= 1e-6 * max(1.0, np.abs(got).sum() * np.abs(v).max())


@settings(max_examples=examples(10), deadline=None)
@given(case=transpose_cases(max_side=4))
def test_every_backend_gives_the_oracles_result(backend, case):
    x, w, b, kwargs = case
    ref = conv_transpose2d(x, w, b, backend="naive", **kwargs)
    tol = (1e-10 if x.dtype == np.float64 else 2e-5) * (100 if fastconv.backends.row(backend).exact is False else 1)
    np.testing.assert_allclose(conv_transpose2d(x, w, b, backend=backend, **kwargs), ref, rtol=tol,
                               atol=tol * _scale(x, w))
    r = np.ones(ref.shape, x.dtype)
    g, gref = (conv_transpose2d_backward(x, w, r, backend=name, **kwargs) for name in (backend, "naive"))
    np.testing.assert_allclose(g.x, gref.x, rtol=tol, atol=tol * _scale(r, w))
    np.testing.assert_allclose(g.weight, gref.weight, rtol=tol, atol=tol * np.abs(x).max() * r.size)


def test_unbatched_needs_integers_and_inputs_untouched():
    x = np.arange(2 * 3 * 3, dtype=np.int32).reshape(2, 3, 3)
    w = np.ones((2, 1, 2, 2), np.uint8)
    for a in (x, w):
        a.setflags(write=False)
    y = conv_transpose2d(x, w, None, 2)
    assert y.shape == (1, 6, 6) and y.dtype == np.float64
    # stride 2 with a 2x2 kernel: each input pixel is copied to its own 2x2 block, channels summed
    np.testing.assert_array_equal(y[0], np.kron(x.sum(axis=0), np.ones((2, 2))))
    g = conv_transpose2d_backward(x, w, np.ones((1, 6, 6)), stride=2, needs="weight")
    assert isinstance(g, ConvGrads) and g.x is None and g.bias is None
    np.testing.assert_array_equal(g.weight[:, 0], np.broadcast_to(x.sum(axis=(1, 2))[:, None, None], (2, 2, 2)))
    empty = conv_transpose2d(np.zeros((0, 2, 3, 3)), w)
    assert empty.shape == (0, 1, 4, 4)
    ge = conv_transpose2d_backward(np.zeros((0, 2, 3, 3)), w, np.zeros((0, 1, 4, 4)))
    assert ge.x.shape == (0, 2, 3, 3) and not ge.weight.any() and not ge.bias.any()


X, W = np.ones((1, 4, 5, 5)), np.ones((4, 3, 3, 3))


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((X, W), dict(stride=2, output_padding=2),
         r"output_padding must be smaller than either the stride or the dilation"),
        ((X, W), dict(output_padding=1), r"output_padding must be smaller"),
        ((X, np.ones((3, 3, 3, 3))), {}, r"channel mismatch: x has 4 channels.*\(4, C_out/groups, kh, kw\)"),
        ((X, W), dict(groups=3), r"groups=3 does not divide the input's 4 channels"),
        ((X, W, np.ones(4)), {}, r"bias must have shape \(3,\)"),
        ((X, W), dict(padding=4), r"padding is too large"),
        ((X, W), dict(padding=-1), r"padding must be >= 0"),
        ((X, W), dict(padding=(1, 2, 3)), r"padding must be an int or a pair"),
        ((X, W), dict(stride=0), r"stride must be >= 1"),
        ((np.ones((4, 5)), W), {}, r"x must be \(N, C_in, H, W\) or \(C_in, H, W\)"),
        ((X, np.ones((4, 3, 3))), {}, r"weight must be \(C_in, C_out/groups, kh, kw\)"),
        ((X, W), dict(backend="nope"), r"unknown backend 'nope'"),
    ],
)
def test_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv_transpose2d(*args, **kwargs)


def test_backward_errors():
    with pytest.raises(ValueError, match=r"grad_out has shape \(1, 3, 6, 6\), expected \(1, 3, 7, 7\)"):
        conv_transpose2d_backward(X, W, np.ones((1, 3, 6, 6)))
    with pytest.raises(ValueError, match=r"unknown gradient 'input'"):
        conv_transpose2d_backward(X, W, np.ones((1, 3, 7, 7)), needs=("input",))
    with pytest.raises(TypeError, match=r"grad_out has dtype complex128"):
        conv_transpose2d_backward(X, W, np.ones((1, 3, 7, 7), complex))
