"""Chapter exercise 1: an image with a diagonal edge, and what [[1, -1]] does to it.

X is 8x8, bright (1) on and above the main diagonal and dark (0) below: one
edge running diagonally. Each row crosses it once, so K = [[1, -1]] answers
in every row:

* corr2d(X, K): -1 just below the diagonal (dark -> bright, left to right);
* corr2d(X.T, K): the transpose swaps the sides (bright -> dark), +1 on the
  diagonal;
* corr2d(X, K.T): the transposed kernel differences down the columns, +1 on
  the diagonal; in general corr2d(X, K.T) == corr2d(X.T, K).T;
* fastconv.kernels.edge((1, 1)), the difference along the edge, sees
  nothing; edge((1, -1)), across it, sees the staircase on both sides.

Prints each result and saves diagonal_edges.png when matplotlib is
installed.

    python examples/diagonal_edges.py [--outdir DIR]
"""
import argparse
import os

import numpy as np

import fastconv
from _plotting import show_arrays
from fastconv import kernels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", default=".", help="where to write diagonal_edges.png")
    args = parser.parse_args(argv)

    n = 8
    X = np.triu(np.ones((n, n)))
    K = np.array([[1.0, -1.0]])
    results = {
        "corr2d(X, K)": fastconv.corr2d(X, K),
        "corr2d(X.T, K)": fastconv.corr2d(X.T, K),
        "corr2d(X, K.T)": fastconv.corr2d(X, K.T),
        "corr2d(X, edge((1, 1)))": fastconv.corr2d(X, kernels.edge((1, 1))),
        "corr2d(X, edge((1, -1)))": fastconv.corr2d(X, kernels.edge((1, -1))),
    }

    below = np.eye(n, n - 1, k=-1)  # ones at (i, i - 1)
    on = np.eye(n, n - 1)  # ones at (i, i)
    assert np.array_equal(results["corr2d(X, K)"], -below)
    assert np.array_equal(results["corr2d(X.T, K)"], on)
    assert np.array_equal(results["corr2d(X, K.T)"], on.T)
    assert np.array_equal(results["corr2d(X, K.T)"], results["corr2d(X.T, K)"].T)
    assert not results["corr2d(X, edge((1, 1)))"].any()
    assert np.array_equal(results["corr2d(X, edge((1, -1)))"], -(np.eye(n - 1) + np.eye(n - 1, k=-1)))

    np.set_printoptions(linewidth=120)
    print("X: bright on and above the diagonal\n", X)
    print("edge((1, 1)) =", kernels.edge((1, 1)).tolist(), " edge((1, -1)) =", kernels.edge((1, -1)).tolist())
    for title, Y in results.items():
        print(f"{title}:\n", Y)

    os.makedirs(args.outdir, exist_ok=True)
    show_arrays(
        os.path.join(args.outdir, "diagonal_edges.png"),
        [("X", X), ("X.T", X.T)] + list(results.items()),
        ncols=4,
    )


if __name__ == "__main__":
    main()
