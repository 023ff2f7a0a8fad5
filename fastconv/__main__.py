"""``python -m fastconv info``: the configuration report; ``tune``: fit the
planner's cost model; ``bench``: time every backend against the peers.
The ``fastconv`` console script is the same command line."""
import argparse
import os
import sys
from typing import Optional, Sequence

from ._version import __version__


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=_prog(), description=__doc__)
    parser.add_argument("--version", action="version", version=f"fastconv {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions, available backends, OpenMP and threads")
    _add_tune(sub)
    _add_bench(sub)
    args = parser.parse_args(argv)
    if args.command == "info":
        from .tools.info import show_config

        show_config()
    if args.command == "tune":
        return _run_tune(args)
    if args.command == "bench":
        return _run_bench(args)
    return 0


def _prog():
    """How the user ran us: ``python -m fastconv`` or the ``fastconv`` script."""
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python -m fastconv" if script in ("__main__.py", "-m", "") else script


def _add_tune(sub):
    p = sub.add_parser("tune", help="fit the dispatcher's cost model on this machine and save it as wisdom")
    p.add_argument("--output", help="wisdom file to write (default: $FASTCONV_WISDOM or the user cache dir)")
    p.add_argument("--quick", action="store_true", help="fewer problems (about a third of the time)")
    p.add_argument("--check", action="store_true",
                   help="don't fit: time every backend on unseen problems and report how often auto picks the fastest")
    p.add_argument("--calibrate", action="store_true",
                   help="don't fit: measure this machine in the model's units (about 0.4 s) and save it with the "
                        "user's wisdom, so constants fitted elsewhere rank right here")
    p.add_argument("--cases", type=int, default=60, help="random problems for --check (default 60)")
    p.add_argument("--seed", type=int, default=12345, help="seed of --check's problems")
    p.add_argument("--timings", default=None, help="also save the fit's raw timings to this JSON file")
    p.add_argument("--from-timings", default=None, metavar="TIMINGS_JSON",
                   help="don't time: refit the timings a run with --timings saved (several files joined by "
                        "commas: each backend's minimum over them)")
    p.add_argument("--json", default=None, help="with --check or --rescore: also write the report (timings, "
                                                "picks, regrets) as JSON to this file")
    p.add_argument("--rescore", default=None, metavar="CHECK_JSON",
                   help="don't time: score the picks of the wisdom in force on a saved --check --json report "
                        "(several joined by commas: each backend's minimum over them)")
    p.add_argument("--only", help="comma-separated backends: fit just these and merge them into the output's "
                                  "constants (for a backend added after the file was fitted)")


def _run_tune(args):
    from .tools import tune as _tune

    if args.calibrate:
        from .tools import check as _check

        _check.calibrate_report()
    elif args.rescore:
        from .tools import check as _check

        _check.rescore(args.rescore, json_path=args.json)
    elif args.check:
        from .tools import check as _check

        _check.check(n=args.cases, seed=args.seed, json_path=args.json)
    else:
        only = None if args.only is None else [n.strip() for n in args.only.split(",") if n.strip()]
        _tune.tune(output=args.output, quick=args.quick, timings=args.timings, only=only,
                   from_timings=args.from_timings)
    return 0


def _add_bench(sub):
    from .tools.bench import add_arguments

    add_arguments(sub.add_parser("bench", help="time every backend, auto and the peers; table, JSON and PNG chart"))


def _run_bench(args):
    from .tools.bench import run_from_args

    return run_from_args(args)


if __name__ == "__main__":
    raise SystemExit(main())
