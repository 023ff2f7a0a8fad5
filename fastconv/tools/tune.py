"""``python -m fastconv tune``: fit the cost model's constants on this machine.

Times every modelled backend on a fixed spread of problems (2-D images of
many sizes with kernels 1x1 to 31x31, strides, dilations, and NCHW conv
layers with groups), for float32 and float64, at the current thread count;
fits each backend's constants by non-negative least squares on relative
error (:func:`fastconv._costmodel.fit`); writes the result as wisdom JSON
(the user cache file by default, or ``--output``) and prints how well the
fit explains the timings.

``--check`` instead times every backend on a *different*, seeded random
spread of problems (odd sizes, even and non-square kernels, strides,
dilations, padding, channels, groups) and reports how often ``auto``'s
model pick is the measured fastest, and its regret (time of the pick /
time of the fastest) -- with the wisdom in force.

The shipped ``fastconv/default_wisdom.json`` is this command's output
(``tools/fit_defaults.py`` runs it).
"""
import math
import os
import platform
import sys
import time

import numpy as np

from .. import backends, planner
from .._geometry import Geometry
from .._version import __version__
from ..planner import costmodel, rules, state, wisdom
from ..planner.measure import time_call
from ..planner.model import evaluate
from ..planner.signature import Problem, Signature
from ..settings import get_threads

DTYPES = ("float32", "float64")
_PER_CALL_CAP = 2.0  # seconds: a backend slower than this on a problem is not timed again


def _progress(total, desc):
    try:
        from tqdm import tqdm
    except ImportError:
        return _Plain(total, desc)
    return tqdm(total=total, desc=desc, unit="case", file=sys.stderr, leave=True)


class _Plain:
    """Minimal stand-in for tqdm when it is not installed."""

    def __init__(self, total, desc):
        self.total, self.desc, self.n = total, desc, 0

    def update(self, k=1):
        self.n += k
        print(f"\r{self.desc}: {self.n}/{self.total}", end="", file=sys.stderr, flush=True)

    def set_postfix_str(self, s):
        pass

    def close(self):
        print(file=sys.stderr)


# ------------------------------------------------------------------ problems

def _case(x, w, padding=0, stride=1, dilation=1, groups=1, rank1=True):
    """One problem; ``rank1``: kernels with one input channel are outer
    products (timings do not depend on values, except the separable
    backend's, which only applies to those)."""
    return {"x": tuple(x), "w": tuple(w), "padding": padding, "stride": stride, "dilation": dilation,
            "groups": groups, "rank1": rank1}


def fit_spread(quick=False):
    """The problems the constants are fitted on."""
    cases = []
    sizes = (8, 24, 64, 160, 384, 1024) if quick else (8, 24, 64, 160, 384, 1024, 2048)
    kernels = (1, 3, 5, 11, 31) if quick else (1, 2, 3, 5, 7, 11, 17, 31)
    for s in sizes:
        for k in kernels:
            if k <= s and s * s * k * k <= 2.2e8:
                cases.append(_case((1, 1, s, s), (1, 1, k, k)))
    cases += [
        _case((1, 1, 37, 300), (1, 1, 3, 5)),
        _case((1, 1, 600, 45), (1, 1, 5, 3)),
        _case((1, 1, 512, 512), (1, 1, 3, 3), stride=2),
        _case((1, 1, 512, 512), (1, 1, 7, 7), stride=(1, 3)),
        _case((1, 1, 300, 300), (1, 1, 5, 5), dilation=3),
        _case((1, 1, 1024, 1024), (1, 1, 9, 9), padding=4),
        _case((1, 1, 128, 128), (1, 1, 1, 15)),
        _case((1, 3, 64, 64), (16, 3, 3, 3), padding=1),
        _case((4, 16, 32, 32), (32, 16, 3, 3), padding=1),
        _case((2, 32, 28, 28), (64, 32, 5, 5), padding=2),
        _case((1, 32, 64, 64), (32, 1, 3, 3), padding=1, groups=32),
        _case((4, 64, 28, 28), (128, 64, 1, 1)),
        _case((2, 8, 100, 100), (8, 8, 7, 7)),
        _case((1, 1, 256, 256), (8, 1, 5, 5)),
        _case((16, 3, 32, 32), (8, 3, 3, 3)),
        _case((1, 128, 14, 14), (128, 128, 3, 3), padding=1),
        _case((2, 16, 64, 64), (16, 16, 3, 3), padding=1, stride=2),
        _case((1, 4, 128, 128), (4, 2, 9, 9), groups=2),
        _case((1, 8, 64, 64), (8, 8, 3, 3), dilation=2),
        _case((2, 32, 7, 7), (32, 32, 3, 3), padding=1),
        _case((1, 64, 14, 14), (64, 64, 1, 1)),
        _case((4, 16, 16, 16), (32, 16, 3, 3), stride=2),
        _case((2, 24, 10, 10), (48, 24, 2, 2)),
    ]
    if not quick:
        cases += [
            _case((8, 64, 56, 56), (64, 64, 3, 3), padding=1),
            _case((1, 3, 224, 224), (32, 3, 7, 7), stride=2, padding=3),
            _case((1, 1, 2048, 2048), (1, 1, 3, 3), padding=1),
        ]
    return cases


def check_spread(n=60, seed=12345):
    """A seeded random spread for checking the picks (not used for fitting)."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < n:
        if rng.random() < 0.6:
            h, w = (int(v) for v in np.exp(rng.uniform(np.log(5), np.log(2500), 2)))
            kh, kw = (int(v) for v in rng.integers(1, 26, 2)) if rng.random() < 0.4 else (int(rng.integers(1, 10)),) * 2
            n_img, c, o, groups = 1, 1, 1, 1
        else:
            h = w = int(rng.choice([7, 14, 19, 28, 33, 56, 64, 100, 129]))
            kh = kw = int(rng.choice([1, 2, 3, 3, 3, 4, 5, 7]))
            n_img = int(rng.choice([1, 2, 4, 8]))
            c = int(rng.choice([1, 3, 8, 16, 32, 64]))
            groups = int(rng.choice([1, 1, 1, c])) if c > 1 else 1
            o = groups * int(rng.choice([1, 2, 4, 8, 16])) if groups > 1 else int(rng.choice([4, 8, 16, 32, 64]))
        stride = int(rng.choice([1, 1, 1, 2, 3]))
        dilation = int(rng.choice([1, 1, 1, 2]))
        padding = "same" if rng.random() < 0.3 else 0
        rank1 = bool(rng.random() < 0.5)
        try:
            geo = Geometry.from_args((h, w), (kh, kw), padding, stride, dilation)
        except ValueError:
            continue
        macs = n_img * o * geo.out_shape[0] * geo.out_shape[1] * (c // groups) * kh * kw
        if macs > 4e8:
            continue
        cases.append(_case((n_img, c, h, w), (o, c // groups, kh, kw), padding, stride, dilation, groups, rank1))
    return cases


def bench_spread():
    """The benchmark issue's cases (2-D and the conv layer), for --check."""
    cases = [_case((1, 1, 6, 8), (1, 1, 1, 2))]
    for s in (256, 2048):
        for k in (3, 5, 7):
            cases.append(_case((1, 1, s, s), (1, 1, k, k), padding="same"))
    cases += [_case((1, 1, 1024, 1024), (1, 1, 31, 31), padding="same"),
              _case((8, 64, 56, 56), (64, 64, 3, 3), padding=1)]
    return cases


# ------------------------------------------------------------------ timing

def _arrays(case, dtype, rng):
    n, c, h, w = case["x"]
    geo = Geometry.from_args((h, w), case["w"][2:], case["padding"], case["stride"], case["dilation"])
    hp, wp = (s + p[0] + p[1] for s, p in zip((h, w), geo.pads))
    x = rng.standard_normal((n, c, hp, wp)).astype(dtype)
    o, cg, kh, kw = case["w"]
    if case["rank1"] and cg == 1:
        k = (rng.standard_normal((o, 1, kh, 1)) * rng.standard_normal((o, 1, 1, kw))).astype(dtype)
    else:
        k = rng.standard_normal(case["w"]).astype(dtype)
    y = np.empty((n, case["w"][0]) + geo.out_shape, dtype=dtype)
    return x, k, y, geo


def _key(case, geo, dtype):
    return Signature(tuple(case["x"]), tuple(case["w"]), geo.pads, geo.stride, geo.dilation, case["groups"],
                     np.dtype(dtype).char, get_threads(), False)


def _candidates():
    """Backends with a cost-model family that load here."""
    return [r.name for r in backends.rows() if r.family is not None and r.load() is not None]


def _timeable(name, p, k):
    """Could auto pick ``name`` for this problem and kernel (a cold JIT aside)?"""
    why = rules.exclusion(name, p)
    return (why is None or why.kind == "not ready") and rules.accepted(name, k) is None


def time_cases(cases, names, desc, naive_limit=3000, passes=3):
    """[(case, dtype, geo, {backend: seconds}, w)] for every case and dtype:
    the minimum over ``passes`` passes over the whole spread (spread out in
    time, so a busy spell on a shared machine inflates one sample, not all).
    Backends are timed only where auto could pick them (separable: rank-1
    kernels with one input channel per output)."""
    order = sorted(cases, key=lambda c: math.prod(c["x"]) * math.prod(c["w"]))
    results = {}
    skip = set()  # (dtype, case index, backend) that took longer than the cap
    bar = _progress(passes * len(order) * len(DTYPES), desc)
    try:
        for _ in range(passes):
            rng = np.random.default_rng(0)  # same arrays every pass
            for dtype in DTYPES:
                slow = {}  # backend -> macs beyond which it took longer than the cap
                for i, case in enumerate(order):
                    x, k, y, geo = _arrays(case, dtype, rng)
                    p = Problem.of(_key(case, geo, dtype))
                    macs = p.macs
                    _, _, _, times, _ = results.setdefault((dtype, i), (case, dtype, geo, {}, k))
                    for name in names:
                        if backends.row(name).measure_limit is not None and p.n * p.o * p.ho * p.wo > naive_limit:
                            continue  # the oracle: only on small problems
                        if macs >= slow.get(name, math.inf) or (dtype, i, name) in skip:
                            continue
                        if not _timeable(name, p, k):
                            continue
                        args = (x, k, y, geo.stride, geo.dilation, case["groups"])
                        t = time_call(backends.get(name).correlate, args, budget=0.02, max_reps=8)
                        times[name] = min(times.get(name, math.inf), t)
                        if t > _PER_CALL_CAP:
                            slow[name] = min(slow.get(name, math.inf), macs)
                        if t > 0.25:
                            skip.add((dtype, i, name))  # one sample is enough
                    bar.set_postfix_str(f"{dtype} x{case['x']} w{case['w']}")
                    bar.update()
    finally:
        bar.close()
    return list(results.values())


# ------------------------------------------------------------------ fitting

def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    versions = {"python": sys.version.split()[0], "numpy": np.__version__}
    for mod in ("scipy", "numba"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cpus": cpus, "platform": platform.platform(), "threads": get_threads(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "loadavg_at_end": load, **versions}


def fit_model(results):
    """{backend: {dtype: {"terms", "coef", "median_rel_err", "max_rel_err", "n"}}}."""
    threads = get_threads()
    model = {}
    for name in sorted({b for _, _, _, times, _ in results for b in times}):
        for dtype in DTYPES:
            rows, ts = [], []
            for case, dt, geo, times, _ in results:
                if dt == dtype and name in times:
                    p = Problem.of(_key(case, geo, dtype))
                    rows.append(costmodel.features(backends.row(name).family, p, threads))
                    ts.append(times[name])
            if not rows or len(rows) < len(rows[0]):
                continue
            coef = costmodel.fit(rows, ts)
            pred = np.asarray(rows) @ coef
            rel = np.abs(pred / np.asarray(ts) - 1)
            model.setdefault(name, {})[dtype] = {
                "terms": list(costmodel.term_names(backends.row(name).family)),
                "coef": [float(c) for c in coef],
                "n": len(ts),
                "median_rel_err": round(float(np.median(rel)), 3),
                "max_rel_err": round(float(rel.max()), 3),
            }
    return model


TINY_MACS_CAP = 100_000


def tiny_macs(model):
    """Multiply-adds below which call overhead dominates: the work at which
    a direct backend's predicted work time equals its overhead (smallest
    over direct backends and dtypes, at most TINY_MACS_CAP)."""
    best = None
    for name, per_dtype in model.items():
        if name not in backends.names() or backends.row(name).family != "direct":
            continue
        for entry in per_dtype.values():
            overhead, per_mac = entry["coef"][0], entry["coef"][1] + entry["coef"][2]  # tiny runs serially
            if per_mac > 0:
                m = overhead / per_mac
                best = m if best is None else min(best, m)
    return int(min(best or 0, TINY_MACS_CAP))


def save_timings(results, path):
    """The raw timings as JSON (to inspect or refit without re-timing)."""
    import json

    rows = [{"case": {k: v for k, v in case.items()}, "dtype": dtype, "times": times}
            for case, dtype, _, times, _ in results]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=0, default=str)


def tune(output=None, quick=False, timings=None):
    load_at_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    names = _candidates()
    planner.warm()  # compile (or load) JIT kernels now: timings must not include the JIT
    results = time_cases(fit_spread(quick), names, "tune")
    if timings:
        save_timings(results, timings)
    model = fit_model(results)
    info = machine()
    info["loadavg_at_start"] = load_at_start
    doc = {"format": wisdom.FORMAT, "fastconv": __version__, "machine": info, "fit_threads": get_threads(),
           "tiny_macs": tiny_macs(model), "model": model, "measured": []}
    path = wisdom.write(doc, output or wisdom.user_path())
    planner.import_wisdom(doc)
    print(f"wrote {path}")
    print(f"{'backend':<10}{'dtype':<9}{'cases':>6}{'median err':>12}{'max err':>9}  constants")
    for name, per_dtype in model.items():
        for dtype, e in per_dtype.items():
            consts = ", ".join(f"{t}={c:.3g}" for t, c in zip(e["terms"], e["coef"]))
            print(f"{name:<10}{dtype:<9}{e['n']:>6}{e['median_rel_err']:>12.1%}{e['max_rel_err']:>9.0%}  {consts}")
    print(f"tiny_macs = {doc['tiny_macs']}")
    return doc


# ------------------------------------------------------------------ checking

def check(n=60, seed=12345, bench=True):
    """Model picks vs measured fastest on unseen problems; prints a table and
    returns (fraction right, fraction within 10%, worst regret)."""
    names = _candidates()
    planner.warm()
    cases = check_spread(n, seed) + (bench_spread() if bench else [])
    results = time_cases(cases, names, "check")
    st = state.current()
    right = within = 0
    regrets = []
    lines = []
    for case, dtype, geo, times, k in results:
        key = _key(case, geo, dtype)
        decision = evaluate(st, key)[0]
        while decision.if_rejected is not None and rules.accepted(decision.backend, k) is not None:
            decision = decision.if_rejected
        pick = decision.backend
        fastest = min(times, key=times.get)
        regret = times.get(pick, math.inf) / times[fastest]
        right += pick == fastest
        within += regret <= 1.10
        regrets.append(regret)
        lines.append((regret, f"{dtype:<8} x{case['x']} w{case['w']} pad={case['padding']} s={case['stride']} "
                               f"d={case['dilation']} g={case['groups']}{' rank1' if case['rank1'] and case['w'][1] == 1 else ''}: picked {pick} ({times.get(pick, math.inf):.3g}s), "
                               f"fastest {fastest} ({times[fastest]:.3g}s), regret {regret:.2f}"))
    lines.sort(key=lambda t: -t[0])
    print(f"wisdom: {st.source}")
    print("worst picks:")
    for _, line in lines[:12]:
        print("  " + line)
    total = len(results)
    geo_mean = math.exp(sum(math.log(r) for r in regrets) / total)
    print(f"{total} problems: picked the fastest {right}/{total} ({right / total:.0%}); "
          f"within 1.10x {within}/{total} ({within / total:.0%}); worst regret {max(regrets):.2f}x; "
          f"geometric-mean regret {geo_mean:.3f}x")
    return right / total, within / total, max(regrets)
