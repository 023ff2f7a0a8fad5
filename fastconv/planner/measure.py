"""Measuring: time the candidate backends on a problem and keep the winner.

Used on first sight of a signature when ``measure=True`` (or
``FASTCONV_PLANNER=measure``), and by ``python -m fastconv tune``. The
candidates run on a zero-padded copy of the input into a scratch output, in
order of predicted time; one whose warm-up alone is 4x slower than the best
so far is not timed further. A backend whose row has a ``measure_limit``
is skipped on problems predicted slower than that (the oracle on a large
image would take minutes). A backend with a ``warm`` hook is compiled first,
so its timing is not a JIT's.
"""
import math
import time

import numpy as np

from .. import backends
from .._padding import pad_spatial
from . import rules
from .model import evaluate
from .signature import Problem


def time_call(fn, args, best=math.inf, budget=0.05, max_reps=20):
    """Minimum seconds of ``fn(*args)`` over a few runs after one warm-up.
    Stops early when the warm-up alone is 4x slower than ``best``."""
    t0 = time.perf_counter()
    fn(*args)
    first = time.perf_counter() - t0
    if first > 4 * best:
        return first
    reps = max(2, min(max_reps, int(budget / max(first, 1e-7))))
    t = first
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(*args)
        t = min(t, time.perf_counter() - t0)
    return t


def measurable(name, p, w, predicted=None):
    """May backend ``name`` be timed on problem ``p`` with kernel ``w``?
    Compiling (a cold JIT) is allowed here: that is what measuring is for."""
    why = rules.exclusion(name, p)
    if why is not None and why.kind != "not ready":
        return False
    if rules.accepted(name, w) is not None:
        return False
    row = backends.row(name)
    if row.measure_limit is None:
        return True
    return p.macs <= (row.measure_macs or 0) if predicted is None else predicted <= row.measure_limit


def measure(st, sig, x, w, geo, groups):
    """Time every eligible backend on this problem, remember and return the
    decision."""
    _, _, rows = evaluate(st, sig, load_all=True)
    p = Problem.of(sig)
    candidates = sorted((math.inf if r.predicted is None else r.predicted, r.name)
                        for r in rows if measurable(r.name, p, w, r.predicted))
    xp = pad_spatial(x, geo.pads, "constant", 0.0) if geo.padded else x
    y = np.empty((x.shape[0], w.shape[0]) + tuple(geo.out_shape), dtype=x.dtype)
    times = {}
    for _, name in candidates:
        entry = backends.row(name)
        warm = entry.hook("warm")
        if warm is not None:
            warm((p.dtype_name,))
        best = min(times.values(), default=math.inf)
        times[name] = time_call(entry.load().correlate, (xp, w, y, geo.stride, geo.dilation, groups), best)
    if not times:
        times[rules.preferred(p)] = float("nan")
    winner = min(times, key=times.get)
    decision = rules.from_times(sig, winner, times, p)
    st.remember(sig, decision, times)
    return decision
