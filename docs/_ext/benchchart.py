"""The Performance chart, drawn from the Performance table in
docs/benchmarks.md when the docs are built, so the chart always shows the
numbers the table gives (no timing happens here).

Two panels, one bar per case: ``auto`` / fastest peer and ``auto`` / best
fastconv backend, on a log scale around 1.
"""
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
PAGE = DOCS / "benchmarks.md"
OUT = DOCS / "_static" / "generated" / "performance.png"
RATIO = re.compile(r"([\d.]+)x")


def rows(text):
    """(case, auto/fastest peer, peer name, auto/best backend) per table row."""
    header = "| case | auto (chose) |"
    start = text.index(header)
    found = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        peer = re.match(r"([\d.]+)x \(([^)]+)\)", cells[-2])
        found.append((cells[0], float(peer.group(1)), peer.group(2), float(RATIO.match(cells[-1]).group(1))))
    if not found:
        raise ValueError(f"{PAGE}: no rows under {header!r}")
    return found


def draw(app=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    data = rows(PAGE.read_text())
    cases = [r[0] for r in data]
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.32 * len(cases) + 1.5), sharey=True)
    panels = ((axes[0], [r[1] for r in data], "auto / fastest peer (cv2, scipy, torch)"),
              (axes[1], [r[3] for r in data], "auto / fastest fastconv backend"))
    for ax, values, title in panels:
        colours = ["tab:green" if v <= 1.0 else "tab:red" for v in values]
        # bars grow from 1 (equal time) to the ratio, left when auto is faster
        ax.barh(range(len(cases)), [v - 1.0 for v in values], left=1.0, color=colours)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        lo, hi = min(values + [1.0]) / 1.5, max(values + [1.0]) * 1.3
        ax.set_xlim(lo, hi)
        steps = (0.25, 0.5, 1.0, 2, 4, 8) if hi / lo > 3 else (0.8, 0.9, 1.0, 1.1, 1.25)
        ticks = [t for t in steps if lo <= t <= hi]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}x"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("time ratio (below 1: auto is faster)")
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.2f}x ", va="center", ha="left" if v >= 1 else "right", fontsize=7)
    axes[0].set_yticks(range(len(cases)), cases, fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle("fastconv auto, from the Performance table (one bench --full run)", fontsize=11)
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=100)
    plt.close(fig)


def setup(app):
    app.connect("builder-inited", draw)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
