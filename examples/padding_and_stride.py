"""The chapter's "Padding and Stride": every shape it computes, checked.

Output size per axis: floor((n + p_before + p_after - d*(k - 1) - 1) / s) + 1,
available as fastconv.output_shape. The chapter's cases:

* 8x8 input, 3x3 kernel, padding 1 (or "same")       -> 8x8
* 8x8 input, 5x3 kernel, padding (2, 1)              -> 8x8; "valid" -> 4x6
* 8x8 input, 3x3 kernel, padding 1, stride 2         -> 4x4
* 8x8 input, 3x5 kernel, padding (0, 1), stride (3, 4) -> 2x2
* X = 0..8 (3x3), K = [[0, 1], [2, 3]], padding 1, stride (3, 2) -> [[0, 8], [6, 8]]

and the receptive-field example from "Feature Map and Receptive Field":
after two 2x2 layers on a 3x3 input, the single output sees all nine inputs.

Prints a table and saves padding_and_stride.png (the padded 3x3 input with
the four windows the stride picks, and the result) when matplotlib is
installed.

    python examples/padding_and_stride.py [--outdir DIR]
"""
import argparse
import os

import numpy as np

import fastconv
from _plotting import pyplot, save

CASES = [
    # (description, kernel shape, keyword arguments, expected output shape)
    ("3x3 kernel, padding 1", (3, 3), dict(padding=1), (8, 8)),
    ('3x3 kernel, padding "same"', (3, 3), dict(padding="same"), (8, 8)),
    ("5x3 kernel, padding (2, 1)", (5, 3), dict(padding=(2, 1)), (8, 8)),
    ('5x3 kernel, padding "valid"', (5, 3), dict(padding="valid"), (4, 6)),
    ("3x3 kernel, padding 1, stride 2", (3, 3), dict(padding=1, stride=2), (4, 4)),
    ("3x5 kernel, padding (0, 1), stride (3, 4)", (3, 5), dict(padding=(0, 1), stride=(3, 4)), (2, 2)),
]


def check_shapes():
    X = np.random.default_rng(0).uniform(size=(8, 8))
    print(f"{'8x8 input, ...':<44} {'output_shape':>12} {'corr2d':>8}")
    for text, kshape, kw, expected in CASES:
        predicted = fastconv.output_shape(X.shape, kshape, **kw)
        actual = fastconv.corr2d(X, np.ones(kshape), **kw).shape
        assert predicted == actual == expected, (text, predicted, actual, expected)
        print(f"{text:<44} {str(predicted):>12} {str(actual):>8}")


def save_figure(path, Xp, windows, Y):
    plt = pyplot(path)
    if plt is None:
        return
    from matplotlib.patches import Rectangle

    fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3.4), gridspec_kw={"width_ratios": [5, 2]})
    left.imshow(np.zeros_like(Xp), cmap="gray_r", vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(Xp):
        left.text(j, i, f"{value:g}", ha="center", va="center", color="grey" if value == 0 else "black")
    colours = ["tab:red", "tab:blue", "tab:green", "tab:orange"]
    for colour, (r, c) in zip(colours, windows):
        left.add_patch(Rectangle((c - 0.45, r - 0.45), 1.9, 1.9, fill=False, lw=2, ec=colour))
    left.set_title("X = 0..8 padded by 1; windows at stride (3, 2)", fontsize=9)
    right.imshow(np.zeros_like(Y), cmap="gray_r", vmin=0, vmax=1)
    for k, ((i, j), value) in enumerate(np.ndenumerate(Y)):
        right.text(j, i, f"{value:g}", ha="center", va="center", color=colours[k], fontsize=14)
    right.set_title("K = [[0, 1], [2, 3]]:\nY = corr2d(X, K, padding=1,\nstride=(3, 2))", fontsize=9)
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    save(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", default=".", help="where to write padding_and_stride.png")
    args = parser.parse_args(argv)

    check_shapes()

    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    Y = fastconv.corr2d(X, K, padding=1, stride=(3, 2))
    assert np.array_equal(Y, [[0, 8], [6, 8]]), Y
    print("\ncorr2d(0..8, [[0, 1], [2, 3]], padding=1, stride=(3, 2)) =", Y.tolist())
    # In the padded input, output (i, j) reads the 2x2 window at (3i, 2j).
    windows = [(3 * i, 2 * j) for i in range(2) for j in range(2)]

    rf = fastconv.receptive_field([2, 2], input_shape=(3, 3))
    print("\nreceptive fields, 3x3 input, two 2x2 layers:")
    print(rf)
    first = X[rf.region(0, 0, 0)]
    assert sorted(first.ravel()) == [0, 1, 3, 4]
    assert rf.region(1, 0, 0) == (slice(0, 3), slice(0, 3))
    print("output 19 =", fastconv.corr2d(X, K)[0, 0], "reads inputs", sorted(first.ravel().astype(int).tolist()),
          "; the final output reads all nine")

    os.makedirs(args.outdir, exist_ok=True)
    save_figure(os.path.join(args.outdir, "padding_and_stride.png"), np.pad(X, 1), windows, Y)


if __name__ == "__main__":
    main()
