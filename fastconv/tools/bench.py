"""``python -m fastconv bench``: time every backend, ``auto`` and the peers.

The pieces: :mod:`.cases` (what is timed, the reference and the gate),
:mod:`.contenders` (who is timed, like for like), :mod:`.timing`
(interleaved rounds), :mod:`.report` (table, pytest-benchmark JSON, chart)
and :mod:`.machine` (versions, machine and commit info). This module only
runs them and parses the command line.

Nothing here is imported by ``import fastconv``.
"""
import argparse
import os
import sys

from . import machine, report
from .cases import CASES, QUICK
from .progress import progress as progress_display
from .timing import run_case


def run(full=False, out="bench-results", budget=None, cases=None, progress=True, file=None, **timing):
    """Run the benchmark, print a table per case, save JSON and a PNG chart.

    The default quick subset stays under about three minutes on a 2-core
    machine; ``full=True`` runs every case; ``cases`` picks them. Other
    keyword arguments (``timing``) go to :func:`~.timing.run_case`. Returns the JSON dict.
    """
    report.stats_class()  # pytest-benchmark is required: say so before timing anything
    file = file or sys.stdout
    selected = list(cases) if cases is not None else list(CASES if full else QUICK)
    budget = budget if budget is not None else (8.0 if full else 6.0)
    versions = machine.versions()
    print("fastconv bench: " + ", ".join(f"{k} {v}" for k, v in versions.items()), file=file)
    print(f"cases: {len(selected)} ({'full' if full else 'quick subset; --full for all'}); "
          "median of interleaved rounds, same timer for every contender", file=file)
    runs = []
    with progress_display(len(selected), unit="case", bar=progress) as bar:
        for case in selected:
            bar.set_description(case.name)
            runs.append(run_case(case, budget=budget, **timing))
            bar.update(1)
    for case_run in runs:
        print("\n" + report.format_table(case_run), file=file)
    os.makedirs(out, exist_ok=True)
    data = report.to_json(runs, versions)
    json_path = report.write_json(data, os.path.join(out, "bench.json"))
    png_path = os.path.join(out, "bench.png")
    why_not = report.save_chart(runs, png_path)
    print(f"\nsaved {json_path} (pytest-benchmark JSON schema)", file=file)
    print(f"saved {png_path}" if why_not is None else f"chart skipped: {why_not}", file=file)
    return data


def add_arguments(parser):
    parser.add_argument("--full", action="store_true", help="run every case (default: a quick subset, < 3 minutes)")
    parser.add_argument("--out", default="bench-results",
                        help="directory for bench.json and bench.png (default ./bench-results)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of timing per case (default 6, or 8 with --full)")
    parser.add_argument("-k", dest="select", default=None, help="only cases whose name contains this string")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (plain lines on stderr)")
    parser.add_argument("--dask", action="store_true",
                        help="instead: fastconv.dask vs dask-image on a LocalCluster, and in-memory fastconv")
    parser.add_argument("--dask-size", type=int, default=16384, help="--dask image side (default 16384)")
    parser.add_argument("--dask-chunk", type=int, default=2048, help="--dask chunk side (default 2048)")
    parser.add_argument("--dask-kernels", default="3,5,31", help="--dask kernel sides (default 3,5,31)")
    parser.add_argument("--images", action="store_true",
                        help="instead: colour frames, stacks and the compat drop-ins against OpenCV and scipy")
    parser.add_argument("--memory", action="store_true",
                        help="instead: peak extra memory of one call per backend (conv layers and 2-D filters)")


def run_from_args(args):
    if getattr(args, "dask", False):
        from .dask_bench import run as run_dask

        run_dask(size=args.dask_size, chunk=args.dask_chunk, kernels=[int(k) for k in args.dask_kernels.split(",")])
        return 0
    if getattr(args, "memory", False):
        return _run_memory()
    if getattr(args, "images", False):
        from .image_bench import run as run_images

        run_images(out=args.out, budget=args.budget or 4.0)
        return 0
    cases = CASES if args.full else QUICK
    if args.select:
        cases = [c for c in CASES if args.select in c.name]
        if not cases:
            print(f"no case matches {args.select!r}; cases: {', '.join(c.name for c in CASES)}", file=sys.stderr)
            return 2
    try:
        run(full=args.full, out=args.out, budget=args.budget, cases=cases, progress=not args.no_progress)
    except RuntimeError as exc:  # pytest-benchmark missing
        if report.BENCH_EXTRA not in str(exc):
            raise
        print(f"fastconv bench: {exc}", file=sys.stderr)
        return 1
    return 0


def _run_memory():
    from . import memory

    reason = memory.available()
    if reason is not None:
        print(f"fastconv bench --memory: {reason}", file=sys.stderr)
        return 1
    print("peak extra memory of one float32 call beyond its operands (warm: weights already cached;"
          " cold: caches emptied first; kept: left cached)")
    print(memory.format_table(memory.measure()))
    return 0


def main(argv=None):
    """Entry point of ``python -m fastconv bench`` (argument parsing lives here
    so that ``__main__`` only wires the subcommand)."""
    parser = argparse.ArgumentParser(prog="python -m fastconv bench",
                                     description="Benchmark fastconv against its peers.")
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
