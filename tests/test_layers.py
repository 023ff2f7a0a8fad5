"""fastconv.Conv2D: the chapter's layer, "Learning a Kernel", and the
general layer against torch.nn.Conv2d (forward and gradients)."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import fastconv
from fastconv import Conv2D

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "learn_kernel.py"


def load_example():
    """Import the script as ``python examples/learn_kernel.py`` would run it:
    with its own folder (and so the shared ``_plotting`` helpers) on the path."""
    spec = importlib.util.spec_from_file_location("learn_kernel", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLE.parent))
    return module


def test_chapter_layer_is_the_special_case():
    """Conv2D(kernel_size) on a 2-D image is the chapter's corr2d(x, weight) + bias."""
    layer = Conv2D((2, 3), seed=1)
    assert layer.weight.shape == (1, 1, 2, 3) and layer.bias.shape == (1,)
    assert np.all((layer.weight >= 0) & (layer.weight < 1)) and np.all(layer.bias == 0)  # torch.rand / zeros
    layer.bias[:] = 0.25
    X = np.random.default_rng(0).standard_normal((6, 8))
    Y = layer(X)
    assert Y.shape == (5, 6)
    np.testing.assert_allclose(Y, fastconv.corr2d(X, layer.weight[0, 0]) + layer.bias[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(layer.forward(X), Y)


def test_learning_a_kernel_example(capsys, tmp_path):
    """The example with seed 0: after 10 iterations (the chapter's count)
    the loss has fallen by >= 20x and the kernel is within 0.1 of [1, -1]."""
    example = load_example()
    layer, losses = example.learn_kernel(iterations=10, lr=3e-2, seed=0)
    assert len(losses) == 10
    assert losses[0] / losses[-1] >= 20
    np.testing.assert_allclose(layer.weight.reshape(2), [1.0, -1.0], atol=0.1)
    assert layer.bias is None
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in printed] == ["epoch 2", "epoch 4", "epoch 6", "epoch 8", "epoch 10"]
    assert all(line.startswith(f"epoch {2 * (i + 1)}, loss ") for i, line in enumerate(printed))
    example.main(["--outdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert out.count("epoch") == 5 and "learned kernel:" in out
    if "wrote" in out:  # matplotlib installed
        assert (tmp_path / "learn_kernel.png").stat().st_size > 0


def test_learning_a_kernel_with_2d_arrays():
    """The same training loop on plain 2-D arrays with the chapter's own class
    (uniform init, with a bias: lr 1e-2, since the bias's summed-loss
    curvature 2*42 makes lr 3e-2 diverge)."""
    X = np.ones((6, 8))
    X[:, 2:6] = 0
    Y = fastconv.corr2d(X, np.array([[1.0, -1.0]]))
    layer = Conv2D((1, 2), bias=True, seed=3)
    first = None
    for _ in range(100):
        Y_hat = layer(X)
        loss = ((Y_hat - Y) ** 2).sum()
        first = loss if first is None else first
        grad_x = layer.backward(2 * (Y_hat - Y))
        assert grad_x.shape == X.shape
        layer.step(1e-2)
    assert loss < first / 20
    np.testing.assert_allclose(layer.weight.reshape(2), [1.0, -1.0], atol=0.1)


@pytest.mark.parametrize(
    "config",
    [
        dict(kernel_size=3, in_channels=2, out_channels=4, padding=1),
        dict(kernel_size=(2, 3), in_channels=4, out_channels=6, stride=(2, 1), dilation=(1, 2), groups=2),
        dict(kernel_size=3, in_channels=3, out_channels=3, groups=3, bias=False, padding="same"),
    ],
)
def test_layer_matches_torch_conv2d(config):
    torch = pytest.importorskip("torch")
    layer = Conv2D(**config, init="kaiming", seed=5)
    ref = torch.nn.Conv2d(
        config["in_channels"], config["out_channels"], config["kernel_size"], stride=config.get("stride", 1),
        padding=config.get("padding", 0), dilation=config.get("dilation", 1), groups=config.get("groups", 1),
        bias=config.get("bias", True), dtype=torch.float64,
    )
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(layer.weight))
        if layer.bias is not None:
            ref.bias.copy_(torch.from_numpy(layer.bias))
    x = np.random.default_rng(6).standard_normal((2, config["in_channels"], 7, 8))
    xt = torch.tensor(x, requires_grad=True)
    y, yt = layer(x), ref(xt)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    r = np.random.default_rng(7).standard_normal(y.shape)
    grad_x = layer.backward(r)
    yt.backward(torch.from_numpy(r))
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.grad_weight, ref.weight.grad.numpy(), rtol=1e-10, atol=1e-10)
    if layer.bias is not None:
        np.testing.assert_allclose(layer.grad_bias, ref.bias.grad.numpy(), rtol=1e-10, atol=1e-10)
    else:
        assert layer.grad_bias is None
    # one SGD step is param -= lr * grad, like torch.optim.SGD
    w0 = layer.weight.copy()
    layer.step(0.1)
    np.testing.assert_allclose(layer.weight, w0 - 0.1 * ref.weight.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_layer_learns_a_multichannel_kernel():
    rng = np.random.default_rng(9)
    target = rng.standard_normal((3, 2, 3, 3))
    x = rng.standard_normal((4, 2, 8, 8))
    y = fastconv.conv2d(x, target, np.array([0.5, -0.5, 1.0]), padding=1)
    layer = Conv2D(3, 2, 3, padding=1, init="zeros")
    losses = []
    for _ in range(200):
        y_hat = layer(x)
        losses.append(((y_hat - y) ** 2).mean())
        layer.backward(2 * (y_hat - y) / y.size)
        layer.step(0.5)
    assert losses[-1] < 1e-3 * losses[0]
    np.testing.assert_allclose(layer.weight, target, atol=0.05)


def test_inits_seeds_and_dtype():
    a, b = Conv2D(3, 4, 8, init="kaiming", seed=0), Conv2D(3, 4, 8, init="kaiming", seed=0)
    np.testing.assert_array_equal(a.weight, b.weight)
    bound = 1 / np.sqrt(4 * 9)
    assert np.abs(a.weight).max() <= bound and np.abs(a.bias).max() <= bound
    z = Conv2D(2, init="zeros")
    assert not z.weight.any() and not z.bias.any()
    f = Conv2D(2, 2, 2, dtype=np.float32, seed=1)
    x = np.ones((2, 5, 5), dtype=np.float32)
    y = f(x)
    assert y.dtype == np.float32 and y.shape == (2, 4, 4)
    f.backward(np.ones_like(y))
    f.step(0.1)
    assert f.weight.dtype == f.bias.dtype == np.float32
    assert "Conv2D(kernel_size=(2, 2), in_channels=2, out_channels=2" in repr(f)
    assert len(f.parameters()) == 2 and len(Conv2D(2, bias=False).parameters()) == 1


def test_backward_overwrites_and_uses_last_input():
    layer = Conv2D(2, seed=0)
    x1, x2 = np.ones((4, 4)), 2 * np.ones((4, 4))
    layer(x1)
    layer.backward(np.ones((3, 3)))
    g1 = layer.grad_weight.copy()
    layer(x2)
    layer.backward(np.ones((3, 3)))
    np.testing.assert_array_equal(layer.grad_weight, 2 * g1)  # not g1 + 2 * g1


@pytest.mark.parametrize(
    "make, call, exc, match",
    [
        (lambda: Conv2D(0), None, ValueError, "kernel_size must be >= 1"),
        (lambda: Conv2D((1, 2, 3)), None, ValueError, "kernel_size must be an int or a pair"),
        (lambda: Conv2D(3, 4, 6, groups=4), None, ValueError, "groups=4 must divide both"),
        (lambda: Conv2D(3, init="xavier"), None, ValueError, "unknown init 'xavier'; accepted: 'uniform'"),
        (lambda: Conv2D(3, dtype=np.int32), None, TypeError, "dtype must be float32 or float64"),
        (lambda: Conv2D(3, in_channels=2), lambda l: l(np.ones((5, 5))), ValueError, "a 2-D input needs in_channels=1"),
        (lambda: Conv2D(3), lambda l: l.backward(np.ones((3, 3))), RuntimeError, r"backward\(\) called before forward"),
        (lambda: Conv2D(3), lambda l: l.step(0.1), RuntimeError, r"step\(\) called before backward"),
        (lambda: Conv2D(3, 2), lambda l: l(np.ones((1, 3, 5, 5))), ValueError, "channel mismatch"),
    ],
)
def test_layer_errors(make, call, exc, match):
    with pytest.raises(exc, match=match):
        layer = make()
        call(layer)
