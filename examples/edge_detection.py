"""The chapter's "Object Edge Detection in Images", with fastconv.

X is a 6x8 image, white (1) except for a black band in columns 2..5. The
kernel K = [[1, -1]] computes X[i, j] - X[i, j + 1]: +1 where white turns
black (left to right), -1 where black turns white, 0 elsewhere. The
transposed image has only horizontal edges, which this kernel cannot see:
all zeros. The transposed kernel [[1], [-1]] finds them again.

Prints the arrays and saves edge_detection.png (input and outputs side by
side) when matplotlib is installed.

    python examples/edge_detection.py [--outdir DIR]
"""
import argparse
import os

import numpy as np

import fastconv
from _plotting import show_arrays
from fastconv import kernels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", default=".", help="where to write edge_detection.png")
    args = parser.parse_args(argv)

    X = np.ones((6, 8))
    X[:, 2:6] = 0
    K = np.array([[1.0, -1.0]])
    assert np.array_equal(K, kernels.edge((1, 0)))  # the chapter's kernel, from the library

    Y = fastconv.corr2d(X, K)
    Y_t = fastconv.corr2d(X.T, K)
    Y_tt = fastconv.corr2d(X.T, K.T)

    expected = np.zeros((6, 7))
    expected[:, 1], expected[:, 5] = 1, -1
    assert np.array_equal(Y, expected), Y
    assert not Y_t.any(), Y_t
    assert np.array_equal(Y_tt, expected.T), Y_tt

    np.set_printoptions(linewidth=120)
    print("X (6x8, black band in columns 2..5):\n", X)
    print("K =", K.tolist())
    print("Y = corr2d(X, K): 1 at the white->black edge, -1 at black->white:\n", Y)
    print("corr2d(X.T, K): horizontal edges are invisible to K:\n", Y_t)
    print("corr2d(X.T, K.T): the transposed kernel finds them:\n", Y_tt)
    print("backends available:", ", ".join(fastconv.available_backends()))

    os.makedirs(args.outdir, exist_ok=True)
    show_arrays(
        os.path.join(args.outdir, "edge_detection.png"),
        [("X", X), ("corr2d(X, [[1, -1]])", Y), ("X.T", X.T),
         ("corr2d(X.T, [[1, -1]])", Y_t), ("corr2d(X.T, [[1], [-1]])", Y_tt)],
    )


if __name__ == "__main__":
    main()
