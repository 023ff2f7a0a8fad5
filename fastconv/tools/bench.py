"""``python -m fastconv bench``: time every backend, ``auto`` and the peers.

Two sections: 2-D image filtering (:mod:`.cases`, :mod:`.contenders`) and
CNN layers, forward and backward, ``auto`` against torch
(:mod:`.layer_cases`, :mod:`.layer_contenders`), timed the same way and
reported in one table format and one JSON file.

The pieces: :mod:`.cases` (what is timed, the reference and the gate),
:mod:`.contenders` (who is timed, like for like), :mod:`.timing`
(interleaved rounds), :mod:`.report` (table, pytest-benchmark JSON, chart)
and :mod:`.machine` (versions, machine and commit info). This module only
runs them and parses the command line.

Nothing here is imported by ``import fastconv``.
"""
import argparse
import contextlib
import os
import sys

from .. import settings
from . import layer_cases as layers
from . import machine, report
from .cases import CASES, QUICK
from .layer_contenders import auto_choice as layer_choice
from .layer_contenders import layer_contenders
from .progress import progress as progress_display
from .timing import run_case

# Seconds of timing per layer case (quick, full): a layer call takes
# milliseconds, so fewer seconds than a 2-D case still give >= 5 rounds.
_LAYER_BUDGET = (3.0, 4.0)


@contextlib.contextmanager
def _threads(n):
    """fastconv (and so torch, set from it by the contenders) at ``n``
    threads for the block; None leaves the count alone. torch's count is
    restored too: ``torch.set_num_threads`` also lowers the OpenMP runtime's
    limit, which ``fastconv.get_threads()`` obeys, so a 1-thread case would
    otherwise hold every later case at 1."""
    if n is None:
        yield
        return
    before = settings._threads  # the set_threads() value (None: environment), restored after
    torch = sys.modules.get("torch")
    torch_before = torch.get_num_threads() if torch is not None else settings.get_threads()
    settings.set_threads(n)
    try:
        yield
    finally:
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(torch_before)
        settings.set_threads(before)


def run_layer_case(case, budget, **timing):
    """Time ``auto`` and torch on one :class:`~.layer_cases.LayerCase`
    (at its thread count); returns a :class:`~.timing.CaseRun`."""
    with _threads(case.threads):
        data = case.data()
        return run_case(case, budget=budget, contender_list=layer_contenders(), data=data,
                        ref=layers.reference(case, *data), check_fn=layers.check,
                        choose=lambda x, w, *_: layer_choice(case, x, w), **timing)


def run(full=False, out="bench-results", budget=None, cases=None, progress=True, file=None, layer_cases=None,
        **timing):
    """Run the benchmark, print a table per case, save JSON and a PNG chart.

    The default quick subset (2-D and layer cases) stays under about four
    minutes on a 2-core machine; ``full=True`` runs every case; ``cases``
    (2-D) and ``layer_cases`` pick them (passing one runs that section
    only). Other keyword arguments (``timing``) go to
    :func:`~.timing.run_case` (``contender_list`` and ``choose`` to the 2-D
    section only). Returns the JSON dict.
    """
    report.stats_class()  # pytest-benchmark is required: say so before timing anything
    file = file or sys.stdout
    picked = cases is not None or layer_cases is not None  # then only the sections picked
    selected = list(cases or ()) if picked else list(CASES if full else QUICK)
    selected_layers = list(layer_cases or ()) if picked else list(layers.LAYER_CASES if full else layers.LAYER_QUICK)
    layer_budget = budget if budget is not None else _LAYER_BUDGET[bool(full)]
    budget = budget if budget is not None else (8.0 if full else 6.0)
    versions = machine.versions()
    print("fastconv bench: " + ", ".join(f"{k} {v}" for k, v in versions.items()), file=file)
    print(f"cases: {len(selected)} 2-D + {len(selected_layers)} layer "
          f"({'full' if full else 'quick subset; --full for all'}); "
          f"{settings.get_threads()} threads unless the case name ends in -t<threads>; "
          "median of interleaved rounds, same timer for every contender", file=file)
    layer_timing = {k: v for k, v in timing.items() if k not in ("contender_list", "choose")}
    runs = []
    with progress_display(len(selected) + len(selected_layers), unit="case", bar=progress) as bar:
        for case in selected:
            bar.set_description(case.name)
            runs.append(run_case(case, budget=budget, **timing))
            bar.update(1)
        for case in selected_layers:
            bar.set_description(case.name)
            runs.append(run_layer_case(case, layer_budget, **layer_timing))
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
    parser.add_argument("--full", action="store_true", help="run every case (default: a quick subset, < 4 minutes)")
    parser.add_argument("--section", choices=("all", "2d", "layers"), default="all",
                        help="2-D image cases, CNN layer cases (auto vs torch, forward and backward), or both")
    parser.add_argument("--threads", default=None,
                        help="layer cases at these thread counts, e.g. 1,2 (default: fastconv.get_threads())")
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
    section = getattr(args, "section", "all")
    cases = CASES if args.full else QUICK
    layer_cases = layers.LAYER_CASES if args.full else layers.LAYER_QUICK
    if args.select:
        cases = [c for c in CASES if args.select in c.name]
        layer_cases = [c for c in layers.LAYER_CASES if args.select in c.name]
        if not cases and not layer_cases:
            names = [c.name for c in CASES + layers.LAYER_CASES]
            print(f"no case matches {args.select!r}; cases: {', '.join(names)}", file=sys.stderr)
            return 2
    if getattr(args, "threads", None):
        try:
            counts = [int(t) for t in args.threads.split(",")]
            if min(counts) < 1:
                raise ValueError
        except ValueError:
            print(f"--threads takes thread counts >= 1 separated by commas, e.g. 1,2; got {args.threads!r}",
                  file=sys.stderr)
            return 2
        layer_cases = layers.at_threads(layer_cases, counts)
    cases = [] if section == "layers" else cases
    layer_cases = [] if section == "2d" else layer_cases
    try:
        run(full=args.full, out=args.out, budget=args.budget, cases=cases, layer_cases=layer_cases,
            progress=not args.no_progress)
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
