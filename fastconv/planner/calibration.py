"""Calibration: a short measurement of this machine in the units the cost
model's constants are made of, so constants fitted on one machine rank the
backends right on another.

Each modelled backend runs two probe problems on one thread: a tiny one
(its per-call overhead) and a work-bound one (its kernel's arithmetic rate:
the direct kernels' vector FMA rate, the GEMM rate, the FFT rate, ...);
one large array copy measures memory bandwidth. ``tune`` stores these
probe times beside every constant it fits (the entry's ``"probe"``); a
calibration on the running machine stores its own (the document's
``"calibration"``). The state then rescales each constant by the ratio of
the two (:func:`ratios`): the overhead by the median of the overhead
probes' ratios, memory terms (:data:`~.costmodel.MEMORY_TERMS`) by the
copy's, the other work terms by the machine's median work ratio times the
backend's own deviation from it where that exceeds timing noise. What a
ratio cannot carry over (a kernel whose cost changes shape on the other
CPU, such as a stride-2 path that goes scalar on AVX2, or a cache
hierarchy bending one backend's curve) stays wrong until the user runs
``python -m fastconv tune``.

It takes about 0.4 s and runs (see :func:`needed`):

* explicitly: ``fastconv.calibrate()`` or ``python -m fastconv tune --calibrate``;
* once per machine, at the first decision the model has to rank when the
  constants in force were fitted on another CPU (cpu model name or CPU count
  differ from the calibration on record), announced with a
  :class:`CalibrationWarning` and saved to the user's wisdom file so it
  does not run again; ``FASTCONV_CALIBRATE=0`` turns this off.
"""
import os
import time
import warnings

import numpy as np

from .. import backends, settings
from . import rules
from .costmodel import MEMORY_TERMS
from .measure import time_call
from .signature import DTYPE_NAMES, Problem, Signature

# (x shape, w shape, groups): 3x3 rank-1 kernels at stride 1 every backend
# takes. The overhead probe is a few hundred multiply-adds; work probes in
# order of preference (the first a backend takes): a conv layer, a depthwise
# one (one channel per output: the rank-1 backends take only these).
OVERHEAD_PROBE = ((1, 1, 10, 10), (1, 1, 3, 3), 1)
WORK_PROBES = (((1, 16, 40, 40), (16, 16, 3, 3), 1), ((1, 16, 160, 160), (16, 1, 3, 3), 16))
_COPY_BYTES = 32 << 20  # beyond a last-level cache of a few MB per core
_RATIO_LIMIT = 8.0  # a probe ratio beyond this is a measuring accident, not a machine
_NOISE = 1.25  # a backend's rate relative to the others' counts only beyond this factor


class CalibrationWarning(UserWarning):
    """``auto`` is calibrating the cost model for this machine (once)."""


def cpu_brand():
    """The CPU's model name (from /proc/cpuinfo on Linux), else what
    :func:`platform.processor` says, else the architecture."""
    import platform

    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_key():
    """What a calibration is valid for: the CPU model and the CPUs usable."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return {"cpu": cpu_brand(), "cpus": cpus}


def _operands(probe, dtype, rng):
    x_shape, w_shape, groups = probe
    x = rng.standard_normal(x_shape).astype(dtype)
    o, cg, kh, kw = w_shape
    w = (rng.standard_normal((o, cg, kh, 1)) * rng.standard_normal((o, cg, 1, kw))).astype(dtype)
    y = np.empty((x_shape[0], o, x_shape[2] - kh + 1, x_shape[3] - kw + 1), dtype=dtype)
    sig = Signature(x_shape, w_shape, ((0, 0), (0, 0)), (1, 1), (1, 1), groups, np.dtype(dtype).char, 1, False)
    return (x, w, y, (1, 1), (1, 1), groups), Problem.of(sig)


def _runs(name, probe, dtype, rng):
    """The probe's arguments when backend ``name`` could run it now (its
    kernels compiled: calibration never waits for a JIT), else None."""
    args, p = _operands(probe, dtype, rng)
    if rules.exclusion(name, p) is not None or rules.accepted(name, args[1]) is not None:
        return None
    return args


def _copy_seconds():
    a = np.ones(_COPY_BYTES // 8)
    b = np.empty_like(a)
    return time_call(np.copyto, (b, a), budget=0.02, max_reps=5)


def measure(rounds=5, budget=0.003):
    """Probe this machine: ``{"machine", "date", "copy", "probes": {backend:
    {dtype: {"overhead", "work", "work_probe"}}}}`` (seconds; each the
    minimum over ``rounds`` interleaved rounds), on one thread."""
    rng = np.random.default_rng(0)
    plan = []
    for row in backends.rows():
        if row.family is None or row.measure_limit is not None or row.load() is None:
            continue  # no model, or the oracle (seconds per probe)
        for dtype in row.dtypes:
            if dtype not in DTYPE_NAMES.values():
                continue
            tiny = _runs(row.name, OVERHEAD_PROBE, dtype, rng)
            work = next(((i, a) for i, probe in enumerate(WORK_PROBES)
                         if (a := _runs(row.name, probe, dtype, rng)) is not None), None)
            if tiny is not None and work is not None:
                plan.append((row.name, dtype, tiny, work))
    best = {}
    with settings.threads_limited(1):
        for _ in range(rounds):
            best["copy"] = min(best.get("copy", np.inf), _copy_seconds())
            for name, dtype, tiny, (index, work) in plan:
                fn = backends.get(name).correlate
                for kind, args in (("overhead", tiny), ("work", work)):
                    t = time_call(fn, args, budget=budget, max_reps=20)
                    best[name, dtype, kind] = min(best.get((name, dtype, kind), np.inf), t)
    probes = {}
    for name, dtype, _, (index, _) in plan:
        probes.setdefault(name, {})[dtype] = {"overhead": best[name, dtype, "overhead"],
                                              "work": best[name, dtype, "work"], "work_probe": index}
    return {"machine": machine_key(), "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "copy": best["copy"], "probes": probes}


def _ratio(here, there):
    if not here or not there:
        return 1.0
    return min(max(here / there, 1 / _RATIO_LIMIT), _RATIO_LIMIT)


def ratios(doc):
    """{(backend, dtype): (overhead, work, memory)} factors that carry the
    constants of ``doc``'s model entries (measured with their ``"probe"``
    times) to the machine ``doc["calibration"]`` describes. Entries without
    a comparable probe get none (their constants stand as fitted).

    The work factor is the machine's speed (the median work ratio: a
    uniform change ranks nothing differently) times the backend's own
    deviation from it when that exceeds timing noise (its kernel runs
    relatively faster or slower here: another vector width, another BLAS);
    per-call overhead is one machine unit (the interpreter and call path
    every backend shares), so its factor is the median over all probed
    backends, which also keeps a few noisy microsecond timings from
    steering tiny problems; memory is the copy's."""
    cal = doc.get("calibration") or {}
    probes = cal.get("probes") or {}
    found = {}
    for backend, per_dtype in doc.get("model", {}).items():
        for dtype, entry in per_dtype.items():
            ref, here = entry.get("probe"), probes.get(backend, {}).get(dtype)
            if ref and here and here.get("work_probe") == ref.get("work_probe"):
                found[backend, dtype] = (_ratio(here["overhead"], ref["overhead"]), _ratio(here["work"], ref["work"]),
                                         _ratio(cal.get("copy"), ref.get("copy")))
    if not found:
        return {}
    overhead = float(np.median([r[0] for r in found.values()]))
    speed = float(np.median([r[1] for r in found.values()]))
    return {key: (overhead, speed * _beyond_noise(work / speed), memory) for key, (_, work, memory) in found.items()}


def _beyond_noise(deviation):
    """A backend's work ratio relative to the machine's median, when it
    exceeds what timing noise makes of one probe (on a loaded machine,
    single-thread probes repeat within about +-20%), else 1."""
    return deviation if abs(np.log(deviation)) > np.log(_NOISE) else 1.0


def scales(terms, factors):
    """Per-term factors from one entry's (overhead, work, memory) factors
    (None: all 1)."""
    if factors is None:
        return (1.0,) * len(terms)
    over, work, memory = factors
    return tuple(over if t == "overhead" else memory if t in MEMORY_TERMS else work for t in terms)


def reference_probe(calibration, backend, dtype):
    """The entry ``"probe"`` that ``tune`` stores beside constants it fitted
    right after ``calibration`` (None when the backend was not probed)."""
    here = ((calibration or {}).get("probes") or {}).get(backend, {}).get(dtype)
    return None if here is None else dict(here, copy=calibration["copy"])


def needed(doc):
    """Should ``auto`` calibrate before ranking with ``doc``? When its
    constants carry probe times, the calibration on record is for another
    machine (or missing), and ``FASTCONV_CALIBRATE`` is not ``0``."""
    if not settings.auto_calibrate():
        return False
    probed = any("probe" in e for per in doc.get("model", {}).values() for e in per.values())
    return probed and (doc.get("calibration") or {}).get("machine") != machine_key()


def announce(seconds, where):
    warnings.warn(f"fastconv: calibrated the cost model's constants for this CPU ({machine_key()['cpu']}) "
                  f"in {seconds:.2f} s, once; saved to {where}. fastconv.calibrate() runs it again, "
                  "FASTCONV_CALIBRATE=0 turns the automatic run off.", CalibrationWarning, stacklevel=2)
