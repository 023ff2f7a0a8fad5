"""The bench report: a table per case, pytest-benchmark JSON, a PNG chart.

The JSON is what ``pytest --benchmark-json`` writes (so ``pytest-benchmark
compare`` reads it), and its statistics are pytest-benchmark's own
(:class:`pytest_benchmark.stats.Stats`): pytest-benchmark is in the
``bench`` extra, and the ``bench`` command requires it.
"""
import datetime
import json

from . import machine

BENCH_EXTRA = "pip install 'fastconv[bench]'"


def stats_class():
    """pytest-benchmark's ``Stats``; RuntimeError naming the extra when it is
    not installed."""
    try:
        from pytest_benchmark.stats import Stats
    except ImportError as exc:
        raise RuntimeError(f"the bench report needs pytest-benchmark ({exc}); install it with {BENCH_EXTRA}") from None
    return Stats


def stats(times, iterations=1):
    """pytest-benchmark's per-benchmark ``"stats"`` dict for per-call
    ``times`` (seconds, one per round): its ``Stats`` fields, then ``data``
    and ``iterations``, as its ``Metadata.as_dict`` writes them."""
    s = stats_class()()
    for t in times:
        s.update(t)
    d = s.as_dict()
    d["data"] = list(times)
    d["iterations"] = iterations
    return d


def fmt_time(t):
    if t is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:7.2f} {unit}"
    return f"{t / 1e-9:7.0f} ns"


def format_table(run):
    """The text table of one :class:`~.timing.CaseRun`: contenders that ran,
    fastest first, with their speed-up over the oracle and ratio to the
    fastest peer; then the skipped and failed ones with the reason."""
    ran = [r for r in run.results if r.times]
    oracle = next((r for r in ran if r.contender.oracle), None)
    peers = [r for r in ran if r.contender.kind == "peer"]
    best_peer = min(peers, key=lambda r: r.median) if peers else None
    vs = f"vs {oracle.contender.name}" if oracle else "vs oracle"
    lines = [
        f"{run.case.name}  (auto chose: {run.chosen}"
        + (f"; fastest peer: {best_peer.contender.name}" if best_peer else "; no peer ran")
        + ")",
        f"  {'contender':<20}{'median':>11}{vs:>12}{'/ best peer':>13}{'rounds':>8}",
    ]
    for r in sorted(ran, key=lambda r: r.median):
        speedup = f"{oracle.median / r.median:,.0f}x" if oracle else "-"
        ratio = f"{r.median / best_peer.median:.2f}x" if best_peer else "-"
        lines.append(f"  {r.contender.name:<20}{fmt_time(r.median):>11}{speedup:>12}{ratio:>13}{len(r.times):>8}")
    for r in run.results:
        if not r.times:
            why = f"FAILED: {r.failed}" if r.failed else r.skipped
            lines.append(f"  {r.contender.name:<20}  {why}")
    return "\n".join(lines)


def _benchmark(r, chosen, versions):
    param = f"{r.case.name}-{r.contender.name}"
    suite = r.case.suite  # "benchmarks/file.py::test_function" of the pytest-benchmark suite with the same cases
    return {
        "group": r.case.name,
        "name": f"{suite.split('::')[-1]}[{param}]",
        "fullname": f"{suite}[{param}]",
        "params": {"case": r.case.name, "contender": r.contender.name},
        "param": param,
        "extra_info": {"kind": r.contender.kind, "auto_chose": chosen, "versions": versions},
        "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": len(r.times),
                    "max_time": None, "min_time": None, "warmup": True},
        "stats": stats(r.times, r.iterations),
    }


def to_json(runs, versions):
    """A dict in pytest-benchmark's ``--benchmark-json`` schema, one
    benchmark per contender that ran (named as in the case's pytest-benchmark
    suite, ``benchmarks/test_bench_2d.py`` or ``test_bench_layers.py``)."""
    stats_class()  # fail before anything else when pytest-benchmark is missing
    from pytest_benchmark import __version__ as pb_version

    return {
        "machine_info": machine.benchmark_machine_info(),
        "commit_info": machine.commit_info(),
        "benchmarks": [_benchmark(r, run.chosen, versions) for run in runs for r in run.results if r.times],
        "datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "version": pb_version,
    }


def write_json(doc, path):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
    return path


def save_chart(runs, path):
    """Bars of every contender's median time per case, log scale. Returns
    None on success or the reason it was skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return f"matplotlib not installed ({exc})"
    n = len(runs)
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False)
    colors = {"auto": "tab:red", "fastconv": "tab:blue", "peer": "tab:gray"}
    for ax, run in zip(axes.flat, runs):
        ran = sorted((r for r in run.results if r.times), key=lambda r: r.median)
        ax.barh([r.contender.name for r in ran], [r.median * 1e3 for r in ran],
                color=[colors[r.contender.kind] for r in ran])
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_title(f"{run.case.name} (auto: {run.chosen})", fontsize=9)
        ax.set_xlabel("median time per call [ms]", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("fastconv vs peers (red: auto, blue: fastconv backends, gray: peers)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
