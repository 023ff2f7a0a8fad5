"""How well the shipped defaults pick on a narrower-SIMD machine, before and
after a calibration: an emulation of an AVX2-only CPU on an AVX-512 one.

    python tools/check_limited_simd.py            # cap 2: AVX2 (1: SSE2)
    python tools/check_limited_simd.py --cap 2 --json avx2.json

Every compiled fastconv extension with a ``_limit_simd`` testing hook is
capped to the given instruction set (the compiled kernels then run their
AVX2 variants: half the vector width, AVX2's register blocking); ``tune
--check``'s problems are timed once, then scored twice from those same
timings: with the constants in force as they are, and after
``fastconv.calibrate(save=False)`` measured under the cap.

What the emulation does not capture: BLAS (the gemm backend), numpy's FFT
and numba's JIT still run AVX-512 code; the clock, caches, memory
bandwidth and core count stay this machine's. So it moves only the
compiled direct kernels' speed relative to the rest -- the kind of change
a calibration's per-backend probes are meant to follow.
"""
import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import fastconv  # noqa: E402
from fastconv import backends, planner  # noqa: E402
from fastconv.planner import state  # noqa: E402
from fastconv.tools import check, tune  # noqa: E402
from fastconv.tools.spread import bench_spread, check_spread, hard_spread  # noqa: E402


def limit_simd(cap):
    """Cap every compiled extension that has the hook; {module: variant now}."""
    done = {}
    for info in pkgutil.iter_modules(backends.__path__, backends.__name__ + "."):
        if not info.name.rsplit(".", 1)[1].startswith("_"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:
            continue
        if hasattr(module, "_limit_simd"):
            done[info.name] = module._limit_simd(cap)
    return done


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cap", type=int, default=2, help="instruction-set cap: 2 AVX2, 1 SSE2 (default 2)")
    parser.add_argument("--json", default=None, help="write both reports (and the timings) to this file")
    args = parser.parse_args()
    print("variants:", limit_simd(args.cap))
    planner.warm()
    specs = check_spread() + hard_spread() + bench_spread()
    results = tune.time_cases(specs, tune.candidates(), "check")
    st = state.current()
    before = check.picks(results, st)
    print("== constants as shipped")
    check.print_report(before, st.source)
    cal = fastconv.calibrate(save=False)
    after = check.picks(results, state.current())
    print("== after fastconv.calibrate() under the cap")
    check.print_report(after, state.current().source + " + calibration")
    if args.json:
        doc = {"cap": args.cap, "calibration": cal, "before": check.to_json(before, st.source),
               "after": check.to_json(after, "calibrated")}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, default=str)


if __name__ == "__main__":
    main()
