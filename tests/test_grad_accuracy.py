"""float32 gradients against a float64 reference, beside torch's own float32
gradients on the same data (issue 9, item 5): the weight gradient at
least as close as torch's; the input gradient, which the forward backends
compute (stride phases: no zero insertion), within a small factor of it.
Skipped without torch."""
import numpy as np
import pytest

import fastconv

CASES = [
    # the case: stride 2, dilation 2, 5x5 (zero insertion drifted to 5.6x torch's error)
    ((2, 16, 31, 31), (8, 16, 5, 5), dict(stride=2, dilation=2, padding=4)),
    ((2, 8, 25, 25), (6, 8, 5, 5), dict(stride=2, dilation=2, padding=2)),
    ((4, 16, 20, 20), (8, 16, 3, 3), dict(padding=1)),
    ((2, 4, 30, 30), (4, 2, 3, 3), dict(stride=(2, 3), groups=2, padding=1)),
    ((8, 32, 28, 28), (32, 32, 3, 3), dict(padding=1)),  # large enough for the float32 blocked GEMM
    ((4, 6, 17, 19), (6, 1, 5, 5), dict(groups=6, dilation=2, stride=2)),
    ((4, 32, 30, 30), (64, 32, 3, 3), dict(stride=2, padding=1)),  # per-tap GEMMs over stride phases
    ((1, 3, 64, 64), (32, 3, 7, 7), dict(stride=2, padding=3)),  # an RGB stem: the col2im input gradient
]
# dL/dx error allowed relative to torch's: NOT yet torch's level (the forward
# backends' float32 sums; 2.2x on the first case on the dev box)
INPUT_FACTOR = 3.0


def _errors(torch, x, w, r, kwargs):
    """Max errors of (torch float32, fastconv float32) dx and dw against float64."""

    def torch_grads(dtype):
        xt = torch.tensor(x.astype(dtype), requires_grad=True)
        wt = torch.tensor(w.astype(dtype), requires_grad=True)
        torch.nn.functional.conv2d(xt, wt, **kwargs).backward(torch.tensor(r.astype(dtype)))
        return xt.grad.numpy().astype(np.float64), wt.grad.numpy().astype(np.float64)

    ref = torch_grads(np.float64)
    theirs = torch_grads(np.float32)
    ours = fastconv.conv2d_backward(x.astype(np.float32), w.astype(np.float32), r.astype(np.float32),
                                    needs=("x", "weight"), **kwargs)
    return [(np.abs(t - e).max(), np.abs(o.astype(np.float64) - e).max())
            for t, o, e in zip(theirs, (ours.x, ours.weight), ref)]


@pytest.mark.parametrize("x_shape, w_shape, kwargs", CASES)
def test_float32_gradients_as_close_as_torchs(x_shape, w_shape, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(sum(x_shape) + sum(w_shape))
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape) / np.sqrt(np.prod(w_shape[1:]))
    r = rng.standard_normal(fastconv.conv2d(x, w, **kwargs).shape)
    (torch_dx, our_dx), (torch_dw, our_dw) = _errors(torch, x, w, r, kwargs)
    assert our_dw <= torch_dw, f"weight gradient error {our_dw:.3g} vs torch's {torch_dw:.3g}"
    assert our_dx <= INPUT_FACTOR * torch_dx, f"input gradient error {our_dx:.3g} vs torch's {torch_dx:.3g}"


def test_integer_weight_gradient_is_exact():
    rng = np.random.default_rng(3)
    x = rng.integers(-1000, 1000, (2, 6, 20, 20))
    w = rng.integers(-10, 10, (8, 3, 3, 3))
    r = rng.integers(-1000, 1000, (2, 8, 9, 9))
    g = fastconv.conv2d_backward(x, w, r, stride=2, groups=2, needs="weight")
    ref = fastconv.conv2d_backward(x, w, r, stride=2, groups=2, needs="weight", backend="naive")
    np.testing.assert_array_equal(g.weight, ref.weight)
    assert g.weight.dtype == np.float64


@pytest.mark.parametrize("shape", [(8, 64, 56, 56), (1, 16, 97, 101), (3, 5, 7, 9)])
def test_float32_bias_gradient_as_close_as_torchs(shape):
    """The bias gradient (pairwise float32 sums per image and channel, then
    float64 over the images) against a float64 reference, beside torch's."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(sum(shape))
    g = (rng.standard_normal(shape) + 0.5).astype(np.float32)  # an offset: sums that grow
    x = rng.standard_normal((shape[0], 2) + shape[2:]).astype(np.float32)
    w = np.zeros((shape[1], 2, 1, 1), np.float32)
    ref = g.astype(np.float64).sum(axis=(0, 2, 3))
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    bt = torch.zeros(shape[1], requires_grad=True)
    theirs = torch.autograd.grad(torch.nn.functional.conv2d(xt, wt, bt), (bt,), torch.from_numpy(g))[0].numpy()
    ours = fastconv.conv2d_backward(x, w, g, needs="bias").bias
    assert ours.dtype == np.float32
    assert np.abs(ours - ref).max() <= max(np.abs(theirs - ref).max(), np.spacing(np.abs(ref).max()))
    strided = fastconv.conv2d_backward(x, w, np.repeat(g, 2, axis=-1)[..., ::2], needs="bias").bias  # not contiguous
    np.testing.assert_allclose(strided, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())
