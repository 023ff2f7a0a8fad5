"""conv2d_backward and corr2d_backward: central finite differences (float64),
torch autograd, every backend against naive, boundary modes, errors.

The loss used throughout is L = sum(y * r) for a fixed random r, so
dL/dy = r is the ``grad_out`` passed to the backward functions.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from _oracle_cases import examples
from test_conv2d import conv_cases, is_approximate

import fastconv
from fastconv import CorrGrads, ConvGrads, conv2d, conv2d_backward, corr2d, corr2d_backward

MODES = ("constant", "reflect", "symmetric", "edge", "wrap")
TORCH_MODES = {"reflect": "reflect", "edge": "replicate", "wrap": "circular"}
EPS = 1e-6  # central-difference step (the functions are linear: only rounding matters)


def loss(y, r):
    return float((np.asarray(y, np.float64) * r).sum())


def directional_fd(f, a, v):
    """(f(a + eps v) - f(a - eps v)) / (2 eps): the derivative of f at a along v."""
    return (f(a + EPS * v) - f(a - EPS * v)) / (2 * EPS)


def elementwise_fd(f, a):
    """Central differences of scalar f with respect to every element of a."""
    g = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        e = np.zeros_like(a)
        e[idx] = EPS
        g[idx] = (f(a + e) - f(a - e)) / (2 * EPS)
    return g


def assert_grad_close(got, expected, scale=1.0, tol=1e-7):
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * max(1.0, scale))


# ---------------------------------------------------------------------------
# conv2d_backward against finite differences
# ---------------------------------------------------------------------------


@settings(max_examples=examples(40), deadline=None)
@given(case=conv_cases(dtypes=(np.float64,)), seed=st.integers(0, 2**32 - 1))
def test_conv2d_backward_matches_directional_finite_differences(case, seed):
    x, w, b, kwargs, _ = case
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(conv2d(x, w, b, **kwargs).shape)
    g = conv2d_backward(x, w, r, **kwargs)
    for name, value, v in (("x", x, rng.standard_normal(x.shape)), ("weight", w, rng.standard_normal(w.shape))):
        if name == "x":
            fd = directional_fd(lambda a: loss(conv2d(a, w, b, **kwargs), r), x, v)
        else:
            fd = directional_fd(lambda a: loss(conv2d(x, a, b, **kwargs), r), w, v)
        analytic = float((getattr(g, name) * v).sum())
        scale = np.abs(getattr(g, name)).sum() * np.abs(v).max()
        assert abs(analytic - fd) <= 1e-7 * max(1.0, scale), (name, analytic, fd)
    if b is not None:
        v = rng.standard_normal(b.shape)
        fd = directional_fd(lambda a: loss(conv2d(x, w, a, **kwargs), r), b, v)
        assert abs(float((g.bias * v).sum()) - fd) <= 1e-7 * max(1.0, np.abs(r).sum())


@pytest.mark.parametrize(
    "xshape, wshape, kwargs",
    [
        ((1, 2, 5, 4), (3, 2, 2, 3), dict(padding=1)),
        ((2, 2, 6, 5), (2, 1, 3, 2), dict(stride=2, padding=(1, 0), groups=2)),
        ((1, 3, 7, 6), (3, 1, 2, 2), dict(stride=(2, 3), dilation=(2, 1), padding=((2, 0), (1, 3)), groups=3)),
        ((1, 1, 6, 6), (1, 1, 3, 3), dict(stride=3, dilation=2, padding=2)),
        ((2, 4, 4, 5), (4, 2, 1, 1), dict(groups=2, stride=2)),
        ((1, 2, 5, 5), (2, 2, 2, 2), dict(padding="same", dilation=2)),
        ((1, 1, 3, 3), (2, 1, 2, 2), dict(padding="full", stride=2)),
    ],
)
def test_conv2d_backward_matches_elementwise_finite_differences(xshape, wshape, kwargs):
    rng = np.random.default_rng(sum(xshape) + sum(wshape))
    x, w, b = rng.standard_normal(xshape), rng.standard_normal(wshape), rng.standard_normal(wshape[0])
    r = rng.standard_normal(conv2d(x, w, b, **kwargs).shape)
    g = conv2d_backward(x, w, r, **kwargs)
    assert_grad_close(g.x, elementwise_fd(lambda a: loss(conv2d(a, w, b, **kwargs), r), x))
    assert_grad_close(g.weight, elementwise_fd(lambda a: loss(conv2d(x, a, b, **kwargs), r), w))
    assert_grad_close(g.bias, elementwise_fd(lambda a: loss(conv2d(x, w, a, **kwargs), r), b))


def test_pixels_the_forward_never_reads_get_zero_gradient():
    # stride 5 over a 3-padded 2x2 image reads padded rows/cols 0 and 5 only: all padding
    x = np.ones((1, 1, 2, 2))
    w = np.ones((1, 1, 1, 1))
    g = conv2d_backward(x, w, np.ones((1, 1, 2, 2)), padding=3, stride=5)
    np.testing.assert_array_equal(g.x, np.zeros_like(x))
    np.testing.assert_array_equal(g.weight, np.zeros_like(w))
    # the last row/column are skipped by the stride: zero there, non-zero elsewhere
    x = np.ones((1, 1, 5, 5))
    g = conv2d_backward(x, np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), stride=2)
    assert np.all(g.x[0, 0, :4, :4] == 1) and np.all(g.x[0, 0, 4:] == 0) and np.all(g.x[0, 0, :, 4:] == 0)


# ---------------------------------------------------------------------------
# conv2d_backward against torch autograd; every backend against naive
# ---------------------------------------------------------------------------


def torch_grads(x, w, b, r, geo, kwargs):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    (top, bottom), (left, right) = geo.pads
    y = F.conv2d(F.pad(xt, (left, right, top, bottom)), wt, bt, stride=kwargs["stride"], dilation=kwargs["dilation"],
                 groups=kwargs["groups"])
    y.backward(torch.tensor(r))
    return xt.grad.numpy(), wt.grad.numpy(), None if b is None else bt.grad.numpy()


@settings(max_examples=examples(40), deadline=None)
@given(case=conv_cases(), seed=st.integers(0, 2**32 - 1))
def test_conv2d_backward_matches_torch_autograd(case, seed):
    pytest.importorskip("torch")
    x, w, b, kwargs, geo = case
    r = np.random.default_rng(seed).standard_normal(conv2d(x, w, b, **kwargs).shape).astype(x.dtype)
    g = conv2d_backward(x, w, r, **kwargs)
    tx, tw, tb = torch_grads(x, w, b, r, geo, kwargs)
    tol = 1e-10 if x.dtype == np.float64 else 1e-4
    assert g.x.dtype == g.weight.dtype == g.bias.dtype == x.dtype
    assert_grad_close(g.x, tx, np.abs(w).sum() * np.abs(r).max(), tol)
    assert_grad_close(g.weight, tw, np.abs(x).max() * np.abs(r).sum(), tol)
    if b is not None:
        assert_grad_close(g.bias, tb, np.abs(r).sum(), tol)


@settings(max_examples=examples(15), deadline=None)
@given(case=conv_cases(max_side=7), seed=st.integers(0, 2**32 - 1))
def test_every_backend_gives_the_oracles_gradients(backend, case, seed):
    x, w, b, kwargs, _ = case
    r = np.random.default_rng(seed).standard_normal(conv2d(x, w, b, backend="naive", **kwargs).shape).astype(x.dtype)
    g = conv2d_backward(x, w, r, backend=backend, **kwargs)
    ref = conv2d_backward(x, w, r, backend="naive", **kwargs)
    tol = 1e-10 if x.dtype == np.float64 else 1e-4
    if is_approximate(backend):
        tol *= 100
    assert_grad_close(g.x, ref.x, np.abs(w).sum() * np.abs(r).max(), tol)
    assert_grad_close(g.weight, ref.weight, np.abs(x).max() * np.abs(r).sum(), tol)
    np.testing.assert_array_equal(g.bias, ref.bias)


def test_torch_autograd_function_wrapper_passes_gradcheck():
    """fastconv as a torch op: forward conv2d, backward conv2d_backward.
    torch.autograd.gradcheck compares it with torch's own finite differences."""
    torch = pytest.importorskip("torch")
    kw = dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2)

    class FastConv2d(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, b):
            ctx.save_for_backward(x, w)
            return torch.from_numpy(conv2d(x.detach().numpy(), w.detach().numpy(), b.detach().numpy(), **kw))

        @staticmethod
        def backward(ctx, grad_out):
            x, w = ctx.saved_tensors
            g = conv2d_backward(x.numpy(), w.numpy(), grad_out.numpy(), **kw)
            return torch.from_numpy(g.x), torch.from_numpy(g.weight), torch.from_numpy(g.bias)

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 6, 7, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(4, 2, 2, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(FastConv2d.apply, (x, w, b))


# ---------------------------------------------------------------------------
# conv2d_backward: the result type, needs, dtypes, shapes, errors
# ---------------------------------------------------------------------------


def test_needs_selects_gradients():
    x, w, r = np.ones((1, 2, 4, 4)), np.ones((3, 2, 2, 2)), np.ones((1, 3, 3, 3))
    g = conv2d_backward(x, w, r)
    assert isinstance(g, ConvGrads) and g._fields == ("x", "weight", "bias")
    gx, gw, gb = g  # unpacks like a tuple
    assert gx.shape == x.shape and gw.shape == w.shape and gb.shape == (3,)
    only_w = conv2d_backward(x, w, r, needs=("weight",))
    assert only_w.x is None and only_w.bias is None
    np.testing.assert_array_equal(only_w.weight, gw)
    only_x = conv2d_backward(x, w, r, needs="x")
    assert only_x.weight is None and only_x.bias is None
    np.testing.assert_array_equal(only_x.x, gx)
    np.testing.assert_array_equal(gb, [9.0, 9.0, 9.0])


def test_unbatched_and_dtypes():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    r = rng.standard_normal((3, 3, 3)).astype(np.float32)
    g = conv2d_backward(x, w, r)
    assert g.x.shape == (2, 5, 5) and all(a.dtype == np.float32 for a in g)
    g4 = conv2d_backward(x[None], w, r[None])
    np.testing.assert_allclose(g.x, g4.x[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g.weight, g4.weight, rtol=1e-6, atol=1e-6)
    # float64 grad_out promotes; integer inputs give float64 (and exact results)
    assert conv2d_backward(x, w, r.astype(np.float64)).x.dtype == np.float64
    gi = conv2d_backward(np.ones((1, 1, 3, 3), np.int32), np.ones((1, 1, 2, 2), np.uint8), np.ones((1, 1, 2, 2), np.int64))
    assert gi.x.dtype == gi.weight.dtype == gi.bias.dtype == np.float64
    np.testing.assert_array_equal(gi.x[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(gi.weight[0, 0], [[4, 4], [4, 4]])


def test_empty_batch_gradients():
    g = conv2d_backward(np.zeros((0, 2, 5, 5)), np.ones((3, 2, 3, 3)), np.zeros((0, 3, 3, 3)))
    assert g.x.shape == (0, 2, 5, 5)
    np.testing.assert_array_equal(g.weight, np.zeros((3, 2, 3, 3)))
    np.testing.assert_array_equal(g.bias, np.zeros(3))


def test_inputs_not_modified(backend):
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((2, 1, 3, 3)), rng.standard_normal((2, 2, 3, 3))]
    copies = [a.copy() for a in arrays]
    for a in arrays:
        a.setflags(write=False)
    conv2d_backward(*arrays, groups=2, backend=backend)
    for a, c in zip(arrays, copies):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize(
    "args, kwargs, exc, match",
    [
        ((np.ones((1, 2, 4, 4)), np.ones((3, 2, 2, 2)), np.ones((1, 3, 2, 3))), {}, ValueError,
         r"grad_out has shape \(1, 3, 2, 3\), expected \(1, 3, 3, 3\)"),
        ((np.ones((3, 4, 4)), np.ones((3, 2, 2, 2)), np.ones((3, 3, 3))), {}, ValueError, r"channel mismatch: x has 3"),
        ((np.ones((1, 2, 4, 4)), np.ones((3, 2, 2, 2)), np.ones((1, 3, 3, 3))), {"needs": ("x", "input")}, ValueError,
         r"unknown gradient 'input' in needs; accepted: 'x', 'weight', 'bias'"),
        ((np.ones((1, 2, 4, 4)), np.ones((3, 2, 2, 2)), np.ones((1, 3, 3, 3), complex)), {}, TypeError,
         r"grad_out has dtype complex128"),
        ((np.ones((1, 2, 4, 4)), np.ones((3, 2, 2, 2)), np.ones((1, 3, 3, 3))), {"backend": "nope"}, ValueError,
         r"unknown backend 'nope'"),
        ((np.ones((1, 2, 4, 4)), np.ones((3, 2, 2, 2)), np.ones((1, 3, 3, 3))), {"groups": 2}, ValueError,
         r"groups=2 does not divide the weight's 3 output channels"),
    ],
)
def test_conv2d_backward_errors(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        conv2d_backward(*args, **kwargs)


# ---------------------------------------------------------------------------
# corr2d_backward: every padding form and boundary mode
# ---------------------------------------------------------------------------


@st.composite
def corr_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.sampled_from([1, 2, (1, 3), (2, 1)]))
    dilation = draw(st.sampled_from([1, 2, (1, 2)]))
    padding = draw(st.one_of(st.integers(0, 3), st.tuples(st.integers(0, 3), st.integers(0, 3)),
                             st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)),
                                       st.tuples(st.integers(0, 3), st.integers(0, 3))),
                             st.sampled_from(["valid", "same", "full"])))
    mode = draw(st.sampled_from(MODES))
    dh, dw = dilation if isinstance(dilation, tuple) else (dilation, dilation)
    h = draw(st.integers(dh * (kh - 1) + 1, 9))
    w = draw(st.integers(dw * (kw - 1) + 1, 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kwargs = dict(padding=padding, stride=stride, dilation=dilation, mode=mode)
    if mode == "constant":
        kwargs["cval"] = draw(st.sampled_from([0.0, 1.5]))
    return rng.standard_normal((h, w)), rng.standard_normal((kh, kw)), rng.standard_normal(16 * 16), kwargs


@settings(max_examples=examples(60), deadline=None)
@given(case=corr_cases())
def test_corr2d_backward_matches_directional_finite_differences(case):
    X, K, noise, kwargs = case
    Y = corr2d(X, K, **kwargs)
    r = noise[: Y.size].reshape(Y.shape)
    g = corr2d_backward(X, K, r, **kwargs)
    assert isinstance(g, CorrGrads) and g.X.shape == X.shape and g.K.shape == K.shape
    rng = np.random.default_rng(0)
    v = rng.standard_normal(X.shape)
    fd = directional_fd(lambda a: loss(corr2d(a, K, **kwargs), r), X, v)
    assert abs(float((g.X * v).sum()) - fd) <= 1e-7 * max(1.0, np.abs(g.X).sum() * np.abs(v).max())
    v = rng.standard_normal(K.shape)
    fd = directional_fd(lambda a: loss(corr2d(X, a, **kwargs), r), K, v)
    assert abs(float((g.K * v).sum()) - fd) <= 1e-7 * max(1.0, np.abs(g.K).sum() * np.abs(v).max())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("padding", [2, ((3, 0), (1, 4)), "same", "full"])
def test_corr2d_backward_elementwise_finite_differences(mode, padding):
    rng = np.random.default_rng(11)
    X, K = rng.standard_normal((4, 5)), rng.standard_normal((2, 3))
    kwargs = dict(padding=padding, stride=(1, 2), mode=mode, cval=0.5)
    r = rng.standard_normal(corr2d(X, K, **kwargs).shape)
    g = corr2d_backward(X, K, r, **kwargs)
    assert_grad_close(g.X, elementwise_fd(lambda a: loss(corr2d(a, K, **kwargs), r), X))
    assert_grad_close(g.K, elementwise_fd(lambda a: loss(corr2d(X, a, **kwargs), r), K))


@settings(max_examples=examples(30), deadline=None)
@given(case=corr_cases())
def test_corr2d_backward_matches_torch_autograd(case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    X, K, noise, kwargs = case
    mode = kwargs["mode"]
    if mode == "symmetric":
        kwargs["mode"] = mode = "reflect"  # torch has no symmetric padding (checked by finite differences)
    geo = fastconv._geometry.Geometry.from_args(X.shape, K.shape, kwargs["padding"], kwargs["stride"], kwargs["dilation"])
    (top, bottom), (left, right) = geo.pads
    if mode == "reflect" and (max(top, bottom) >= X.shape[0] or max(left, right) >= X.shape[1]):
        kwargs["mode"] = mode = "edge"  # torch's reflect needs padding < size
    Y = corr2d(X, K, **kwargs)
    r = noise[: Y.size].reshape(Y.shape)
    g = corr2d_backward(X, K, r, **kwargs)
    Xt, Kt = torch.tensor(X, requires_grad=True), torch.tensor(K, requires_grad=True)
    pad = (left, right, top, bottom)
    if mode == "constant":
        Xp = F.pad(Xt[None, None], pad, value=kwargs.get("cval", 0.0))
    elif mode == "wrap" and (max(top, bottom) > X.shape[0] or max(left, right) > X.shape[1]):
        return  # torch's circular padding is limited to the input size
    else:
        Xp = F.pad(Xt[None, None], pad, mode=TORCH_MODES[mode])
    Yt = F.conv2d(Xp, Kt[None, None], stride=geo.stride, dilation=geo.dilation)[0, 0]
    np.testing.assert_allclose(Y, Yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    Yt.backward(torch.tensor(r))
    assert_grad_close(g.X, Xt.grad.numpy(), np.abs(K).sum() * np.abs(r).max(), 1e-10)
    assert_grad_close(g.K, Kt.grad.numpy(), np.abs(Xp.detach().numpy()).max() * np.abs(r).sum(), 1e-10)


def test_corr2d_backward_on_every_backend(backend):
    rng = np.random.default_rng(12)
    X, K = rng.standard_normal((9, 8)), rng.standard_normal((3, 2))
    for kwargs in (dict(padding=1), dict(padding="same", mode="reflect", stride=2), dict(dilation=2, mode="wrap", padding=3)):
        r = rng.standard_normal(corr2d(X, K, **kwargs).shape)
        g = corr2d_backward(X, K, r, backend=backend, **kwargs)
        ref = corr2d_backward(X, K, r, backend="naive", **kwargs)
        tol = 1e-8 if is_approximate(backend) else 1e-12
        np.testing.assert_allclose(g.X, ref.X, rtol=tol, atol=tol * 10)
        np.testing.assert_allclose(g.K, ref.K, rtol=tol, atol=tol * 100)


def test_corr2d_backward_chapter_example():
    """Y = corr2d(X, K) with X = 0..8, K = [[0,1],[2,3]]; dL/dK for L = sum(Y)
    is the sum of the four windows, dL/dX counts how often each pixel is used."""
    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[0.0, 1], [2, 3]])
    g = corr2d_backward(X, K, np.ones((2, 2)))
    np.testing.assert_array_equal(g.K, [[8, 12], [20, 24]])
    np.testing.assert_array_equal(g.X, [[0, 1, 1], [2, 6, 4], [2, 5, 3]])
    assert corr2d_backward(X, K, np.ones((2, 2)), needs="K").X is None


@pytest.mark.parametrize(
    "args, kwargs, exc, match",
    [
        ((np.ones((4, 4)), np.ones((2, 2)), np.ones((2, 2))), {}, ValueError,
         r"grad_out has shape \(2, 2\), expected \(3, 3\)"),
        ((np.ones((1, 4, 4)), np.ones((2, 2)), np.ones((3, 3))), {}, ValueError, r"grad_out has shape \(3, 3\), expected \(1, 3, 3\)"),
        ((np.ones((4,)), np.ones((2, 2)), np.ones((3, 3))), {}, ValueError, r"X must have at least 2 dimensions"),
        ((np.ones((4, 4)), np.ones((2, 2)), np.ones((3, 3))), {"mode": "bogus"}, ValueError, r"unknown mode 'bogus'"),
        ((np.ones((4, 4)), np.ones((2, 2)), np.ones((3, 3))), {"needs": ("x",)}, ValueError,
         r"unknown gradient 'x' in needs; accepted: 'X', 'K'"),
        ((np.ones((4, 4)), np.ones((5, 2)), np.ones((3, 3))), {}, ValueError, r"larger than the padded input"),
    ],
)
def test_corr2d_backward_errors(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        corr2d_backward(*args, **kwargs)
