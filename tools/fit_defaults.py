"""Fit the cost-model defaults shipped in fastconv/default_wisdom.json.

Run from the root of a clone, with the package built in place or installed,
on the machine the defaults should describe, when it is otherwise idle:

    python tools/fit_defaults.py            # the full spread (a few minutes)
    python tools/fit_defaults.py --quick

It is exactly ``python -m fastconv tune --output fastconv/default_wisdom.json``
(the same spread, timing and fit, see fastconv/tools/tune.py), 3 to 5
minutes on a 2-core machine: time every backend, measure the calibration
probes (about 0.4 s) that go with the constants, fit, write; the JSON records
the machine, library versions, thread count, load average and the
calibration. ``--timings FILE`` also saves the timings and probes,
``--from-timings FILE`` refits them without timing; on a shared machine,
time twice or three times and refit them together (each backend's minimum
over the files, so fewer scheduler stalls reach the fit):

    python tools/fit_defaults.py --timings t1.json   # (twice more: t2, t3)
    python tools/fit_defaults.py --from-timings t1.json,t2.json,t3.json

Then check the picks on problems the fit never saw (``--json`` to keep the
timings; ``--rescore a.json,b.json`` scores several check runs merged):

    FASTCONV_WISDOM=fastconv/default_wisdom.json python -m fastconv tune --check
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastconv.tools import tune  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer problems (about a third of the time)")
    parser.add_argument("--timings", default=None, help="also save the raw timings to this JSON file")
    parser.add_argument("--only", default=None, help="comma-separated backends to fit and merge into the file")
    parser.add_argument("--from-timings", default=None, help="refit timings saved by --timings instead of timing (several: comma-separated)")
    args = parser.parse_args()
    only = None if args.only is None else args.only.split(",")
    tune.tune(output=ROOT / "fastconv" / "default_wisdom.json", quick=args.quick, timings=args.timings, only=only,
              from_timings=args.from_timings)
