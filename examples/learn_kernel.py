"""The chapter's "Learning a Kernel", with fastconv computing the gradients.

X is the 6x8 image whose columns 2..5 are black (0) and the rest white (1);
Y = corr2d(X, [[1, -1]]) marks its vertical edges. A (1, 2) Conv2D layer
without bias starts from a random kernel and learns K from (X, Y) alone by
gradient descent on the summed squared error, lr 3e-2, printing the loss
every 2 iterations and the learned kernel at the end. Saves
learn_kernel.png (the loss curve) when matplotlib is installed.

    python examples/learn_kernel.py [--seed N] [--iterations N] [--outdir DIR]
"""
import argparse
import os

import numpy as np

import fastconv
from _plotting import pyplot, save


def edge_image():
    X = np.ones((6, 8))
    X[:, 2:6] = 0
    return X


def learn_kernel(iterations=10, lr=3e-2, seed=0, report=print):
    """Train a (1, 2) kernel on the edge image; returns (layer, losses)."""
    X = edge_image()
    Y = fastconv.corr2d(X, np.array([[1.0, -1.0]]))
    # Like the chapter's nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False):
    # one input and one output channel, PyTorch's default initialisation.
    layer = fastconv.Conv2D((1, 2), bias=False, init="kaiming", seed=seed)
    X4, Y4 = X.reshape(1, 1, 6, 8), Y.reshape(1, 1, 6, 7)  # (batch, channel, height, width)
    losses = []
    for i in range(iterations):
        Y_hat = layer(X4)
        loss = ((Y_hat - Y4) ** 2).sum()
        layer.backward(2 * (Y_hat - Y4))  # d loss / d Y_hat
        layer.step(lr)
        losses.append(loss)
        if (i + 1) % 2 == 0 and report is not None:
            report(f"epoch {i + 1}, loss {loss:.3f}")
    return layer, losses


def plot_losses(path, losses):
    plt = pyplot(path, "losses")
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.semilogy(range(1, len(losses) + 1), losses, marker="o")
    ax.set_xlabel("iteration")
    ax.set_ylabel("summed squared error")
    ax.set_title("Learning the kernel [[1, -1]]", fontsize=10)
    save(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--outdir", default=".", help="where to write learn_kernel.png")
    args = parser.parse_args(argv)
    layer, losses = learn_kernel(args.iterations, seed=args.seed)
    print("learned kernel:", layer.weight.reshape(1, 2))
    plot_losses(os.path.join(args.outdir, "learn_kernel.png"), losses)


if __name__ == "__main__":
    main()
