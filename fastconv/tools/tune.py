"""``python -m fastconv tune``: fit the cost model's constants on this machine.

Times every modelled backend on a fixed spread of problems
(:func:`.spread.fit_spread`: 2-D images of many sizes with kernels 1x1 to
31x31, strides, dilations, NCHW conv layers with groups, and the layer
benchmark's forward layers), each call as ``auto`` makes it
(:func:`_run`), for float32 and float64, at the current thread count; fits each backend's constants by
non-negative least squares on relative error
(:func:`fastconv.planner.costmodel.fit`); writes the result as wisdom JSON
(the user cache file by default, or ``--output``) and prints how well the
fit explains the timings.

``--check`` instead times every backend on a *different*, seeded random
spread (:func:`.spread.check_spread`, plus the benchmark's cases) and
reports how often ``auto``'s model pick is the measured fastest, and its
regret (time of the pick / time of the fastest) -- with the wisdom in force.

The shipped ``fastconv/default_wisdom.json`` is this command's output
(``tools/fit_defaults.py`` runs it).
"""
import json
import math
from typing import NamedTuple, Optional

import numpy as np

from .. import _engine, backends, planner
from .._canonical import canonical
from .._geometry import Geometry
from .._version import __version__
from ..planner import calibration, costmodel, rules, wisdom
from ..planner.measure import time_call
from ..planner.signature import Problem, Signature
from ..settings import get_threads
from . import machine
from .progress import progress
from .spread import Spec, fit_spread

DTYPES = ("float32", "float64")
_PER_CALL_CAP = 2.0  # seconds: a backend slower than this on a problem is not timed again


class Timing(NamedTuple):
    """One problem in one dtype, and each backend's best time on it."""

    spec: Spec
    dtype: str
    geo: Geometry  # of the canonical problem (what the backends ran)
    times: dict  # {backend: seconds}
    kernel: np.ndarray  # the kernel timed (for the backends' ``accepts`` checks)
    x_shape: Optional[tuple] = None  # the canonical problem's input (N, C, H, W); None: spec.x

    @property
    def problem(self):
        return problem_of(self.spec, self.geo, self.dtype, self.x_shape)

    @property
    def signature(self):
        return signature_of(self.spec, self.geo, self.dtype, self.x_shape)


def signature_of(spec, geo, dtype, x_shape=None):
    return Signature(tuple(x_shape or spec.x), tuple(spec.w), geo.pads, geo.stride, geo.dilation, spec.groups,
                     np.dtype(dtype).char, get_threads(), False)


def problem_of(spec, geo, dtype, x_shape=None):
    return Problem.of(signature_of(spec, geo, dtype, x_shape))


# ------------------------------------------------------------------ timing

def _arrays(spec, dtype, rng):
    """(x, kernel, output, geometry) of the spec's canonical problem: what
    ``auto`` would run (see :mod:`fastconv._canonical`); x unpadded (the
    engine pads, or the backend takes the border itself, see :func:`_run`)."""
    x, geo = canonical(rng.standard_normal(spec.x).astype(dtype), spec.w[2:], spec.geometry(), "constant")
    x = np.ascontiguousarray(x)
    o, cg, kh, kw = spec.w
    if spec.rank1 and cg == 1:
        k = (rng.standard_normal((o, 1, kh, 1)) * rng.standard_normal((o, 1, 1, kw))).astype(dtype)
    else:
        k = rng.standard_normal(spec.w).astype(dtype)
    y = np.empty((spec.x[0], o) + geo.out_shape, dtype=dtype)
    return x, k, y, geo


def candidates():
    """Backends with a cost-model family that load here."""
    return [r.name for r in backends.rows() if r.family is not None and r.load() is not None]


def _run(x, k, y, geo, groups, name):
    """One call as ``auto`` makes it once ``name`` is picked: through the
    engine, which pads the input or lets the backend take a zero border
    itself (cython's and direct's in-kernel border, another code path than
    a padded input) or splits off the border strips, so the timings hold
    the per-call costs the planner's pick really pays."""
    _engine.correlate(x, k, geo, groups, backend=name, out=y)


def _timeable(name, p, k):
    """Could auto pick ``name`` for this problem and kernel (a cold JIT aside)?"""
    why = rules.exclusion(name, p)
    return (why is None or why.kind == "not ready") and rules.accepted(name, k) is None


def time_cases(specs, names, desc, oracle_outputs=3000, passes=3):
    """A :class:`Timing` for every spec and dtype: each backend's minimum
    over ``passes`` passes over the whole spread (spread out in time, so a
    busy spell on a shared machine inflates one sample, not all). Backends
    are timed only where auto could pick them (a backend with an
    ``accepts`` hook only on kernels it takes); the oracle (a row with a
    ``measure_limit``) only up to ``oracle_outputs`` output elements."""
    order = sorted(specs, key=lambda s: math.prod(s.x) * math.prod(s.w))
    results = {}
    skip = set()  # (dtype, spec index, backend) that took longer than the cap
    with progress(passes * len(order) * len(DTYPES), desc, leave=True) as bar:
        for _ in range(passes):
            rng = np.random.default_rng(0)  # same arrays every pass
            for dtype in DTYPES:
                slow = {}  # backend -> macs beyond which it took longer than the cap
                for i, spec in enumerate(order):
                    x, k, y, geo = _arrays(spec, dtype, rng)
                    x_shape = x.shape[:2] + geo.in_shape
                    p = problem_of(spec, geo, dtype, x_shape)
                    times = results.setdefault((dtype, i), Timing(spec, dtype, geo, {}, k, x_shape)).times
                    for name in names:
                        if backends.row(name).measure_limit is not None and p.n * p.o * p.ho * p.wo > oracle_outputs:
                            continue
                        if p.macs >= slow.get(name, math.inf) or (dtype, i, name) in skip:
                            continue
                        if not _timeable(name, p, k):
                            continue
                        t = time_call(_run, (x, k, y, geo, spec.groups, name), budget=0.02, max_reps=8)
                        times[name] = min(times.get(name, math.inf), t)
                        if t > _PER_CALL_CAP:
                            slow[name] = min(slow.get(name, math.inf), p.macs)
                        if t > 0.25:
                            skip.add((dtype, i, name))  # one sample is enough
                    bar.set_postfix_str(f"{dtype} x{spec.x} w{spec.w}")
                    bar.update()
    return list(results.values())


# ------------------------------------------------------------------ fitting

def fit_model(results, threads=None):
    """{backend: {dtype: {"terms", "coef", "n", "median_rel_err", "max_rel_err"}}}
    from a list of :class:`Timing`; ``threads``: the fit's thread count
    (default: the current one)."""
    threads = threads or get_threads()
    model = {}
    for name in sorted({b for r in results for b in r.times}):
        family = backends.row(name).family
        for dtype in DTYPES:
            mine = [r for r in results if r.dtype == dtype and name in r.times]
            rows = [costmodel.features(family, r.problem, threads) for r in mine]
            ts = [r.times[name] for r in mine]
            if not rows or len(rows) < len(rows[0]):
                continue
            coef = costmodel.fit(rows, ts)
            rel = np.abs(np.asarray(rows) @ coef / np.asarray(ts) - 1)
            model.setdefault(name, {})[dtype] = {
                "terms": list(costmodel.term_names(family)),
                "coef": [float(c) for c in coef],
                "n": len(ts),
                "median_rel_err": round(float(np.median(rel)), 3),
                "max_rel_err": round(float(rel.max()), 3),
            }
    return model


def save_timings(results, path, calibration_doc=None):
    """The raw timings as JSON (to inspect, or to refit without re-timing:
    ``tune --from-timings``), with the calibration measured beside them."""
    rows = [{"case": r.spec._asdict(), "dtype": r.dtype, "times": r.times} for r in results]
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"problems": rows, "calibration": calibration_doc}, f, indent=0, default=str)


def _timing_rows(path):
    """(rows, calibration or None) of one saved timings or check file."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    return (doc, None) if isinstance(doc, list) else (doc["problems"], doc.get("calibration"))


def load_timings(path):
    """(list of :class:`Timing`, calibration or None) from a file that
    :func:`save_timings` or ``tune --check --json`` wrote (a bare list of
    rows too); each problem in its canonical form, with a kernel like the
    one timed. Several files (a list, or paths joined by commas) merge into
    one: per problem and dtype each backend's minimum over the files (more
    passes, so fewer of a shared machine's stalls; the calibration is the
    first file's)."""
    paths = path.split(",") if isinstance(path, str) else [path] if not isinstance(path, (list, tuple)) else path
    merged, cal = {}, None
    for one in paths:
        rows, found = _timing_rows(one)
        cal = cal if cal is not None else found
        for row in rows:
            key = (json.dumps(row["case"], sort_keys=True, default=str), row["dtype"])
            times = merged.setdefault(key, (row, {}))[1]
            for name, t in row["times"].items():
                times[name] = min(times.get(name, math.inf), t)
    rng = np.random.default_rng(0)
    out = []
    for row, times in merged.values():
        spec = Spec(**{k: tuple(v) if isinstance(v, list) else v for k, v in row["case"].items()})
        x, k, _, geo = _arrays(spec, row["dtype"], rng)
        out.append(Timing(spec, row["dtype"], geo, times, k, x.shape[:2] + geo.in_shape))
    return out, cal


def print_fit(model, file=None):
    print(f"{'backend':<10}{'dtype':<9}{'cases':>6}{'median err':>12}{'max err':>9}  constants", file=file)
    for name, per_dtype in model.items():
        for dtype, e in per_dtype.items():
            consts = ", ".join(f"{t}={c:.3g}" for t, c in zip(e["terms"], e["coef"]))
            print(f"{name:<10}{dtype:<9}{e['n']:>6}{e['median_rel_err']:>12.1%}{e['max_rel_err']:>9.0%}  {consts}",
                  file=file)


def tune(output=None, quick=False, timings=None, only=None, from_timings=None):
    """Time, fit, write and load the wisdom; returns the document. The
    output is checked first (before minutes of timing), and the measured
    winners already in it are kept (the file is merged, see
    :func:`fastconv.planner.wisdom.write`).

    ``from_timings``: refit the timings a previous run saved (``timings``)
    instead of timing again.

    ``only``: fit just these backends (names) and merge their constants
    into the file's, keeping every other backend's constants and the thread
    count as they are (for a backend added after the
    file was fitted; the file must have been fitted at this thread count)."""
    target = wisdom.check_target(output or wisdom.user_path())
    load_at_start = machine.loadavg()
    names = candidates()
    if only is not None:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise ValueError(f"cannot fit {', '.join(unknown)}: not a modelled backend that loads here "
                             f"(modelled and available: {', '.join(names)})")
        names = [n for n in names if n in only]
    planner.warm()  # compile (or load) JIT kernels now: timings must not include the JIT
    if from_timings:  # refit saved timings; the probes saved with them (else measured now, on this machine)
        results, cal = load_timings(from_timings)
        results = [r._replace(times={b: t for b, t in r.times.items() if b in names}) for r in results]
        cal = cal or calibration.measure()
    else:
        results = time_cases(fit_spread(quick), names, "tune")
        cal = calibration.measure()  # right after the timings: the probe times these constants were fitted with
    if timings:
        save_timings(results, timings, cal)
    model = fit_model(results)
    for name, per_dtype in model.items():
        for dtype, entry in per_dtype.items():
            probe = calibration.reference_probe(cal, name, dtype)
            if probe is not None:
                entry["probe"] = probe
    info = machine.wisdom_machine()
    info["loadavg_at_start"] = load_at_start
    if from_timings:  # the machine and load entries are the refit's, not the timings'
        info["refit_from_timings"] = str(from_timings)
    if only is None:
        doc = {"format": wisdom.FORMAT, "fastconv": __version__, "machine": info, "fit_threads": get_threads(),
               "tiny_macs": 0,  # the model ranks tiny problems too: its overhead terms are fitted on them
               "model": model, "measured": [], "calibration": cal,
               "partial_fits": {}}  # a full fit replaces any partial one recorded in the file
    else:
        doc = {"format": wisdom.FORMAT, "model": model, "measured": [], "calibration": cal,
               "partial_fits": {name: info for name in names}}
    path = wisdom.write(doc, target)
    planner.import_wisdom(doc)
    print(f"wrote {path}")
    print_fit(model)
    return doc
