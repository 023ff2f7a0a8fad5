"""Figure helpers shared by the example scripts (matplotlib is optional).

Every example prints its arrays first; a figure is a bonus. Without
matplotlib ``pyplot()`` says the PNG was skipped and returns None.
"""
import numpy as np


def pyplot(path, what="arrays"):
    """matplotlib.pyplot on the Agg backend, or None (and a note) without it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: skipped {path} (the {what} are printed above)")
        return None
    return plt


def save(fig, path):
    """Write ``fig`` to ``path``, close it, and announce the file."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    print(f"wrote {path}")


def show_arrays(path, panels, ncols=5):
    """Save ``panels`` [(title, array), ...] in a grid, values written in each
    cell: images (titles without "corr2d") in grey, responses in blue-white-red."""
    plt = pyplot(path)
    if plt is None:
        return
    nrows = -(-len(panels) // ncols)
    ncols = min(ncols, len(panels))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.2 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (title, A) in zip(axes.flat, panels):
        signed = "corr2d" in title
        lim = max(1.0, np.abs(A).max())
        ax.imshow(A, cmap="coolwarm" if signed else "gray", vmin=-lim if signed else 0, vmax=lim)
        for (i, j), value in np.ndenumerate(A):
            ax.text(j, i, f"{value:g}", ha="center", va="center", fontsize=7,
                    color="black" if signed or value > 0.5 else "white")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    save(fig, path)
