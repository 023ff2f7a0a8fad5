"""``python -m fastconv tune --check``: how well ``auto`` picks on problems
the fit never saw.

Times every modelled backend on a seeded random spread
(:func:`.spread.check_spread`), the hard cases (:func:`.spread.hard_spread`:
issue 14's misses, 1x1 and depthwise layers, strides and dilations on large
and tiny images, many channels on tiny images) and the benchmark's cases
(:func:`.spread.bench_spread`: the 2-D ones and every forward layer of
``bench --section layers``, which the fit sees too), in float32 and
float64, each as its canonical problem through the engine (what ``auto``
runs, see :func:`.tune.time_cases`); then asks the model in force for its
pick and reports how often it is the measured fastest, how often within
1.10x of it, the worst and the geometric-mean regret (time of the pick /
time of the fastest). ``--json PATH`` also writes every problem's timings,
pick and regret, so a before/after comparison needs no re-timing
(``--rescore PATH``, :func:`rescore`, picks again on saved timings with
the wisdom in force).
"""
import json
import math
from typing import NamedTuple

from .. import planner
from .._version import __version__
from ..planner import calibration, rules, state, wisdom
from ..planner.model import evaluate
from . import machine
from .spread import bench_spread, check_spread, hard_spread
from .tune import Timing, candidates, load_timings, time_cases


class Pick(NamedTuple):
    """The model's pick on one timed problem against the measured fastest."""

    timing: Timing
    pick: str
    fastest: str
    regret: float  # time of the pick / time of the fastest

    def describe(self):
        t = self.timing.times
        return (f"{self.timing.dtype:<8} {self.timing.spec.describe()}: picked {self.pick} "
                f"({t.get(self.pick, math.inf):.3g}s), fastest {self.fastest} ({t[self.fastest]:.3g}s), "
                f"regret {self.regret:.2f}")


def picks(results, st=None):
    """A :class:`Pick` per :class:`~.tune.Timing`, with the wisdom ``st`` (default: in force)."""
    st = st or state.current()
    out = []
    for r in results:
        decision = evaluate(st, r.signature)[0]
        while decision.if_rejected is not None and rules.accepted(decision.backend, r.kernel) is not None:
            decision = decision.if_rejected
        fastest = min(r.times, key=r.times.get)
        out.append(Pick(r, decision.backend, fastest, r.times.get(decision.backend, math.inf) / r.times[fastest]))
    return out


def summary(found):
    """{"problems", "fastest", "within_1.10", "worst", "geomean"} of a list of picks."""
    total = len(found)
    return {
        "problems": total,
        "fastest": sum(p.pick == p.fastest for p in found),
        "within_1.10": sum(p.regret <= 1.10 for p in found),
        "worst": max(p.regret for p in found),
        "geomean": math.exp(sum(math.log(p.regret) for p in found) / total),
    }


def report_line(s):
    n = s["problems"]
    return (f"{n} problems: picked the fastest {s['fastest']}/{n} ({s['fastest'] / n:.0%}); "
            f"within 1.10x {s['within_1.10']}/{n} ({s['within_1.10'] / n:.0%}); worst regret {s['worst']:.2f}x; "
            f"geometric-mean regret {s['geomean']:.3f}x")


def print_report(found, source, file=None):
    print(f"wisdom: {source}", file=file)
    print("worst picks:", file=file)
    for p in sorted(found, key=lambda p: -p.regret)[:12]:
        print("  " + p.describe(), file=file)
    print(report_line(summary(found)), file=file)


def to_json(found, source):
    """The check as a JSON-able document: machine, wisdom, summary, and per
    problem the spec, dtype, every backend's time, the pick and its regret."""
    return {
        "fastconv": __version__, "machine": machine.wisdom_machine(), "wisdom": source,
        "summary": summary(found),
        "problems": [{"case": p.timing.spec._asdict(), "dtype": p.timing.dtype, "times": p.timing.times,
                      "pick": p.pick, "fastest": p.fastest, "regret": p.regret} for p in found],
    }


def check(n=60, seed=12345, bench=True, hard=True, json_path=None):
    """Model picks vs measured fastest on unseen problems; prints a table
    (and writes ``json_path``) and returns the summary dict."""
    names = candidates()
    planner.warm()
    specs = check_spread(n, seed) + (hard_spread() if hard else []) + (bench_spread() if bench else [])
    results = time_cases(specs, names, "check")
    st = state.current()
    found = picks(results, st)
    print_report(found, st.source)
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(to_json(found, st.source), f, indent=1, default=str)
        print(f"wrote {json_path}")
    return summary(found)


def rescore(path, json_path=None):
    """A saved check (``--json``) scored again with the wisdom in force,
    without timing anything; prints the report and returns the summary."""
    st = state.current()
    found = picks(load_timings(path)[0], st)
    print_report(found, st.source)
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(to_json(found, st.source), f, indent=1, default=str)
    return summary(found)


def calibrate_report(file=None):
    """``tune --calibrate``: calibrate, save, and print each backend's factors."""
    cal = planner.calibrate()
    st = state.current()
    print(f"calibrated for {cal['machine']['cpu']} ({cal['machine']['cpus']} CPUs); saved to {wisdom.user_path()}",
          file=file)
    print(f"{'backend':<10}{'dtype':<9}{'overhead':>9}{'work':>7}{'memory':>8}  (factors on the fitted constants)",
          file=file)
    for (name, dtype), (over, work, memory) in sorted(calibration.ratios(st.doc).items()):
        print(f"{name:<10}{dtype:<9}{over:>9.2f}{work:>7.2f}{memory:>8.2f}", file=file)
    return cal
