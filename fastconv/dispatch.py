"""Which backend runs a call made with ``backend="auto"``.

Order of decisions, per call:

1. ``FASTCONV_BACKEND=<name>`` forces a backend (debugging); an unknown or
   unavailable name raises a ValueError saying so.
2. A winner measured for this exact signature (``measure=True``,
   ``FASTCONV_PLANNER=measure``, or imported wisdom) is used as is.
3. Otherwise the rules and the cost model decide, once per signature:

   * rules first: a backend that does not load, has no fitted model, or is
     numba with kernels not yet compiled or cached for the dtype (a cold JIT
     takes seconds; ``fastconv.warm()``, ``measure=True`` or ``python -m
     fastconv tune`` compile them) is skipped; integer/bool inputs (exact
     results wanted) never go to ``fft`` or ``separable`` (neither sums tap
     by tap); ``separable`` only for one input channel per output and a
     2-D kernel; a tiny problem (at most ``tiny_macs`` multiply-adds) goes
     to the backend with the least call overhead;
   * then the cost model (:mod:`fastconv._costmodel`): lowest predicted time.

   When ``fft`` or ``separable`` wins, a runner-up that sums tap by tap is
   kept, and every call checks that x and w are all finite (one pass
   summing x, and only then); a NaN or inf sends the call to the runner-up,
   since one NaN spoils a whole FFT. When ``separable`` wins, every call
   also checks that the kernel is rank 1 (cached on the kernel's bytes)
   and otherwise runs the best other backend.

The signature is the full problem: input and kernel shapes (N, C, H, W and
O, C/groups, kh, kw), padding, stride, dilation, groups, dtype, thread
count and whether the inputs were integers. Decisions are cached per
signature in a dict (so ``choose`` costs a few microseconds after the first
call); measured winners in an LRU of at most ``MEASURE_CACHE_SIZE`` entries,
so varying shapes never re-measure a signature already seen (unless it was
evicted) and never grow memory without bound.

Wisdom (fitted constants + measured winners) is read lazily, once, on the
first decision; see :mod:`fastconv._wisdom` for where it lives.
"""
import json
import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from . import _costmodel as cm
from . import _wisdom, backends
from ._threads import get_threads

MEASURE_CACHE_SIZE = 256  # measured signatures kept (LRU)
DECISION_CACHE_SIZE = 4096  # modelled decisions kept (cheap to recompute)
_PLANNERS = ("estimate", "measure")
_DTYPE_NAMES = {"f": "float32", "d": "float64"}
_NAIVE_MEASURE_LIMIT = 0.05  # never time naive on problems predicted slower (s)
_NAIVE_MEASURE_MACS = 10_000  # ... or, without a model for it, larger than this

_state = None
_lock = threading.Lock()  # cache writes only; lookups stay lock-free


class _Env:
    """Reads of our few environment variables, cheap enough for every call:
    os.environ.get encodes the key and decodes the value each time (about
    1 us); CPython's os.environ keeps a plain dict underneath."""

    def __init__(self):
        data = getattr(os.environ, "_data", None)
        self._fast = isinstance(data, dict) and self._raw_key("PATH") in data
        self._data = data
        self._keys = {}

    @staticmethod
    def _raw_key(name):
        return name.upper() if os.name == "nt" else os.fsencode(name)

    def get(self, name):
        if not self._fast:
            return os.environ.get(name)
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = self._raw_key(name)
        value = self._data.get(key)
        if value is None or isinstance(value, str):
            return value
        return os.fsdecode(value)


_environ = _Env()


class _State:
    """The wisdom in force and the caches built on it."""

    def __init__(self, doc, source):
        self.doc = doc
        self.source = source
        self.fit_threads = doc.get("fit_threads")
        self.tiny_macs = doc.get("tiny_macs", 0)
        self.coef = {}
        for backend, per_dtype in doc.get("model", {}).items():
            names = cm.term_names(backend)
            for dtype, entry in per_dtype.items():
                if names is not None and tuple(entry.get("terms", ())) == names:
                    self.coef[(backend, dtype)] = tuple(float(c) for c in entry["coef"])
        # decision: (backend, backend if x/w not finite, recheck numba?, decision if w not rank 1)
        self.decisions = {}
        self.measured = OrderedDict()  # key -> decision, LRU
        self.times = {}  # key -> {backend: measured seconds}
        for entry in doc.get("measured", []):
            try:
                key = _key_from_json(entry["signature"])
                self._remember(key, entry["winner"], entry.get("times") or {entry["winner"]: float("nan")})
            except (KeyError, TypeError, ValueError):
                continue  # an entry this version cannot read is skipped

    def _remember(self, key, winner, times):
        decision = _from_times(key, winner, times)
        with _lock:
            self.measured[key] = decision
            self.measured.move_to_end(key)
            self.times[key] = dict(times)
            while len(self.measured) > MEASURE_CACHE_SIZE:
                old, _ = self.measured.popitem(last=False)
                self.times.pop(old, None)


def _load():
    global _state
    if _state is None:
        doc = _wisdom.defaults()
        source = f"defaults ({_wisdom.DEFAULTS_PATH})"
        user = _wisdom.load_user()
        if user is not None:
            doc = _wisdom.merge(doc, user)
            source = str(_wisdom.user_path())
        _state = _State(doc, source)
    return _state


def reload_wisdom():
    """Drop the in-memory wisdom and caches; the next call reads the files again."""
    global _state
    _state = None


# ---------------------------------------------------------------- signatures

def _key(x_shape, w_shape, geo, groups, dtype_char, exact):
    return (tuple(x_shape), tuple(w_shape), geo.pads, geo.stride, geo.dilation, groups, dtype_char,
            get_threads(), bool(exact))


def _key_to_json(key):
    xs, ws, pads, stride, dil, groups, dt, threads, exact = key
    return {"x": list(xs), "w": list(ws), "pads": [list(p) for p in pads], "stride": list(stride),
            "dilation": list(dil), "groups": groups, "dtype": _DTYPE_NAMES[dt], "threads": threads,
            "exact": exact}


def _key_from_json(s):
    chars = {v: k for k, v in _DTYPE_NAMES.items()}
    return (tuple(s["x"]), tuple(s["w"]), tuple(tuple(p) for p in s["pads"]), tuple(s["stride"]),
            tuple(s["dilation"]), int(s["groups"]), chars[s["dtype"]], int(s["threads"]), bool(s["exact"]))


class _Geo:
    """The slice of Geometry the model needs, rebuilt from a key."""

    def __init__(self, key):
        xs, ws, self.pads, self.stride, self.dilation = key[:5]
        self.out_shape = tuple(
            (n + p[0] + p[1] - d * (k - 1) - 1) // s + 1
            for n, k, p, s, d in zip(xs[2:], ws[2:], self.pads, self.stride, self.dilation)
        )


def _problem(key):
    return cm.problem(key[0], key[1], _Geo(key), key[5], key[6], key[7], key[8])


# ----------------------------------------------------------------- the rules

def _numba_ready(module, dtype, disk=True):
    """Kernels for ``dtype`` compiled in this process or (``disk``) in numba's
    disk cache: loading those is not a compile. Unknown -> not ready."""
    ready = getattr(module, "ready", None)
    if ready is not None:
        return bool(ready(dtype, disk=disk))
    try:
        kernel = module._correlate
        if any(str(sig[0].dtype) == dtype for sig in kernel.signatures):
            return True
        if not disk:
            return False
        index = kernel._cache._cache_file._load_index()  # {} when stale
        return any(str(k[0][0].dtype) == dtype for k in index)
    except Exception:
        return False


# Backends that do not compute tap by tap: never for integer inputs (exact
# results wanted) nor for inputs holding NaN/inf.
_GUARDED = ("fft", "separable")


def _exclusion(name, dtype, p, exclude=()):
    """Why ``name`` may not be picked by auto for problem ``p``, or None."""
    if name in exclude:
        return "rule: the kernel is not rank 1"
    if name in _GUARDED and p.exact:
        return f"rule: integer inputs want exact results; {name} does not sum tap by tap"
    if name == "separable" and not cm.separable_applies(p):
        return "rule: needs one input channel per output and a 2-D rank-1 kernel"
    module = backends.load(name)
    if module is None:
        return f"not available ({backends.load_error(name)})"
    if name == "numba" and not _numba_ready(module, dtype):
        return f"rule: numba kernels for {dtype} not compiled or cached (cold JIT takes seconds; fastconv.warm() compiles them)"
    return None


def _preferred(key):
    """Preference order when there is no model at all."""
    p = _problem(key)
    for name in ("cython", "gemm", "numba", "naive"):
        if _exclusion(name, _DTYPE_NAMES[key[6]], p) is None:
            return name
    return "naive"


def _from_times(key, winner, times):
    """A decision from measured times (see _State.decisions)."""
    def best(exclude):
        left = {b: t for b, t in times.items() if b not in exclude}
        return min(left, key=left.get) if left else _preferred(key)

    fallback = best(_GUARDED) if winner in _GUARDED else None
    alt = None
    if winner == "separable":
        second = best(("separable",))
        alt = (second, best(_GUARDED) if second in _GUARDED else None, False, None)
    return (winner, fallback, False, alt)


def _evaluate(state, key, load_all=False, exclude=()):
    """The model's view of one signature: (decision, reason, rows), where
    rows are [name, predicted seconds or None, why excluded or None].
    Backends are imported in order of predicted time and only as far as
    needed, unless ``load_all`` (for explain)."""
    p = _problem(key)
    dtype = _DTYPE_NAMES[key[6]]
    rows = []
    for name in backends.names():
        coef = state.coef.get((name, dtype))
        pred = cm.predict(coef, name, p, state.fit_threads) if coef else None
        rows.append([name, pred, None if coef else "no fitted model (run python -m fastconv tune)"])
    modelled = [r for r in rows if r[1] is not None]
    tiny = cm.macs(p) <= state.tiny_macs
    if tiny:  # least fixed overhead; naive's per-output Python loop is overhead too
        modelled = [r for r in modelled if r[0] != "naive"] or modelled
        modelled.sort(key=lambda r: state.coef[(r[0], dtype)][0])
    else:
        modelled.sort(key=lambda r: r[1])
    chosen = fallback = None
    recheck = False
    for row in modelled:
        if chosen is not None and (fallback is not None or chosen not in _GUARDED) and not load_all:
            break
        row[2] = _exclusion(row[0], dtype, p, exclude)
        if row[2] is not None:
            recheck = recheck or (chosen is None and row[0] == "numba" and row[2].startswith("rule: numba"))
            continue
        if chosen is None:
            chosen = row[0]
        elif chosen in _GUARDED and fallback is None and row[0] not in _GUARDED:
            fallback = row[0]
    if load_all:
        for row in rows:
            if row[1] is None and backends.load(row[0]) is None:
                row[2] = f"not available ({backends.load_error(row[0])})"
    if chosen is None:
        chosen = _preferred(key)
        reason = "no fitted model for any available backend: preference order"
    elif tiny:
        reason = f"rule: tiny problem ({cm.macs(p)} multiply-adds <= {state.tiny_macs}): least call overhead"
    else:
        reason = "model: lowest predicted time"
    if chosen in _GUARDED:
        fallback = fallback or _preferred(key)
        reason += f"; inputs with NaN/inf go to {fallback}"
    alt = None
    if chosen == "separable":
        alt = _evaluate(state, key, exclude=exclude + ("separable",))[0]
        recheck = recheck or alt[2]
        reason += f"; kernels not of rank 1 go to {alt[0]}"
    return (chosen, fallback, recheck, alt), reason, rows


_rank1_cache = {}


def _rank1(w):
    """Is every kernel in ``w`` rank 1 (the separable backend applies)?
    Cached on the kernel's bytes: w is small whenever this is asked."""
    key = (w.shape, w.dtype.char, w.tobytes())
    hit = _rank1_cache.get(key)
    if hit is None:
        module = backends.load("separable")
        hit = module is not None and module.supports(w) is None
        if len(_rank1_cache) >= 256:
            _rank1_cache.clear()
        _rank1_cache[key] = hit
    return hit


def _finite(x, w):
    """True when x and w hold no NaN/inf. A sum is NaN/inf whenever any term
    is (overflow to inf only makes this answer False, the safe side)."""
    with np.errstate(all="ignore"):
        return bool(np.isfinite(np.add.reduce(w, axis=None)) and np.isfinite(np.add.reduce(x, axis=None)))


# ---------------------------------------------------------------- the choice

def _forced(name):
    if name == "auto":
        return None
    if name not in backends.names():
        raise ValueError(
            f"FASTCONV_BACKEND={name!r} is not a fastconv backend; known: {', '.join(backends.names())} (or 'auto')"
        )
    if backends.load(name) is None:
        raise ValueError(
            f"FASTCONV_BACKEND={name!r} is not available ({backends.load_error(name)}); "
            f"available: {', '.join(backends.available_backends())}"
        )
    return name


def _measuring(measure):
    if measure is not None:
        return bool(measure)
    planner = _environ.get("FASTCONV_PLANNER")
    if not planner:
        return False
    if planner not in _PLANNERS:
        raise ValueError(f"FASTCONV_PLANNER={planner!r}; accepted: {', '.join(_PLANNERS)}")
    return planner == "measure"


def choose(x, w, geo, groups, exact=False, measure=None):
    """Name of the backend to run ``x`` (N, C, H, W) against ``w`` with ``geo``.

    ``exact``: the caller's inputs were all integer/bool (never fft).
    ``measure``: time the candidates on first sight of this signature
    (None: ``FASTCONV_PLANNER``).
    """
    forced = _environ.get("FASTCONV_BACKEND")
    if forced and _forced(forced):
        return forced
    state = _state or _load()
    key = (x.shape, w.shape, geo.pads, geo.stride, geo.dilation, groups, x.dtype.char, get_threads(), exact)
    decision = state.measured.get(key)
    if decision is not None:
        try:
            state.measured.move_to_end(key)
        except KeyError:  # evicted by another thread meanwhile
            pass
    elif _measuring(measure):
        decision = _measure(state, key, x, w, geo, groups)
    else:
        decision = state.decisions.get(key)
        if decision is None or decision[2]:
            decision = _decide(state, key, decision)
    if decision[3] is not None and not _rank1(w):
        decision = decision[3]
    if decision[1] is not None and not _finite(x, w):
        return decision[1]
    return decision[0]


def _decide(state, key, previous):
    """Model decision for ``key``, cached. ``previous`` is set when the last
    decision skipped a cold numba that would have won: re-evaluate cheaply
    until numba is warm."""
    if previous is not None:
        module = backends.load("numba")
        if module is None or not _numba_ready(module, _DTYPE_NAMES[key[6]], disk=False):
            return previous
    decision = _evaluate(state, key)[0]
    with _lock:
        if len(state.decisions) >= DECISION_CACHE_SIZE:
            del state.decisions[next(iter(state.decisions))]
        state.decisions[key] = decision
    return decision


# --------------------------------------------------------------- measuring

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


def _measure(state, key, x, w, geo, groups):
    """Time every eligible backend on this problem (zero-padded x, scratch
    output), remember the winner; numba is compiled for it if needed."""
    from ._padding import pad_spatial

    _, _, rows = _evaluate(state, key, load_all=True)
    dtype = _DTYPE_NAMES[key[6]]
    small = cm.macs(_problem(key)) <= _NAIVE_MEASURE_MACS
    candidates = []
    p = _problem(key)
    for name, pred, _ in rows:  # a cold numba or a backend without a model is timed too
        if (name in _GUARDED and p.exact) or backends.load(name) is None:
            continue
        if name == "separable" and not (cm.separable_applies(p) and _rank1(w)):
            continue
        if name == "naive" and not (small if pred is None else pred <= _NAIVE_MEASURE_LIMIT):
            continue
        candidates.append((math.inf if pred is None else pred, name))
    candidates.sort()
    xp = pad_spatial(x, geo.pads, "constant", 0.0) if geo.padded else x
    y = np.empty((x.shape[0], w.shape[0]) + tuple(geo.out_shape), dtype=x.dtype)
    times = {}
    for _, name in candidates:
        module = backends.get(name)
        if name == "numba" and hasattr(module, "warm"):
            module.warm((dtype,))
        best = min(times.values(), default=math.inf)
        times[name] = time_call(module.correlate, (xp, w, y, geo.stride, geo.dilation, groups), best)
    if not times:
        times[_preferred(key)] = float("nan")
    winner = min(times, key=times.get)
    state._remember(key, winner, times)
    return state.measured[key]


# ------------------------------------------------------------------- wisdom

def _current_doc(state):
    doc = {k: v for k, v in state.doc.items() if k != "measured"}
    doc["measured"] = [
        {"signature": _key_to_json(key), "winner": dec[0], "times": state.times.get(key, {})}
        for key, dec in state.measured.items()
    ]
    return doc


def export_wisdom(path=None):
    """Save the wisdom in force (fitted constants and every measured winner)
    as JSON to ``path``, by default the file fastconv reads at start-up
    (``$FASTCONV_WISDOM`` or the user cache directory). Returns the path."""
    target = _wisdom.user_path() if path is None else path
    return str(_wisdom.write(_current_doc(_load()), target))


def import_wisdom(path_or_dict):
    """Merge wisdom (a path to a JSON file, or the dict itself) over the
    wisdom in force: its constants replace ours per (backend, dtype), its
    measured winners are added. Cached decisions are dropped."""
    global _state
    if isinstance(path_or_dict, dict):
        doc = _wisdom.validate(json.loads(json.dumps(path_or_dict)), "the dict given")
        where = "dict"
    else:
        doc = _wisdom.read(path_or_dict)
        where = str(path_or_dict)
    state = _load()
    _state = _State(_wisdom.merge(_current_doc(state), doc), f"{state.source} + {where}")


def forget_wisdom():
    """Forget fitted constants and measured winners in this process: back to
    the shipped defaults (files on disk are left alone; delete the one
    :func:`wisdom_path` names to forget for good)."""
    global _state
    _state = _State(_wisdom.defaults(), f"defaults ({_wisdom.DEFAULTS_PATH}); user wisdom forgotten")


def wisdom_path():
    """The wisdom file read at start-up and written by ``export_wisdom()``."""
    return str(_wisdom.user_path())


# --------------------------------------------------------------- explaining

@dataclass(frozen=True)
class Candidate:
    """One backend's standing for a problem."""

    name: str
    predicted: object  # seconds, or None when there is no model for it
    measured: object  # seconds, or None when not measured
    excluded: object  # why auto may not pick it, or None


@dataclass(frozen=True)
class Plan:
    """What ``backend="auto"`` runs for one call, and why.

    ``backend``: the name that runs; ``reason``: the rule or model that
    decided; ``candidates``: every backend with its predicted (and
    measured, if any) seconds; ``signature``: the problem as cached.
    """

    backend: str
    reason: str
    candidates: tuple
    signature: dict

    @property
    def predicted(self):
        return {c.name: c.predicted for c in self.candidates if c.predicted is not None}

    @property
    def measured(self):
        return {c.name: c.measured for c in self.candidates if c.measured is not None}

    def __str__(self):
        s = self.signature
        lines = [
            f"problem: x {tuple(s['x'])} w {tuple(s['w'])} pads {s['pads']} stride {s['stride']} "
            f"dilation {s['dilation']} groups {s['groups']} {s['dtype']} threads {s['threads']}"
            + (" integer inputs" if s["exact"] else ""),
            f"backend: {self.backend}   ({self.reason})",
            f"  {'':1}{'backend':<10}{'predicted':>12}{'measured':>12}  note",
        ]
        for c in self.candidates:
            mark = "*" if c.name == self.backend else " "
            lines.append(
                f"  {mark}{c.name:<10}{_fmt(c.predicted):>12}{_fmt(c.measured):>12}  {c.excluded or ''}".rstrip()
            )
        return "\n".join(lines)


def _fmt(t):
    if t is None:
        return "-"
    if t != t:
        return "?"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-6:.2g} us"


def _prepare(X, K, padding, stride, dilation, groups):
    """Normalise like corr2d (2-D X, K) or conv2d (x (N, C, H, W) or
    (C, H, W), weight (O, C/groups, kh, kw)); returns x4, w4, geo, groups, exact."""
    from ._dtypes import as_array, as_kernel_operand, result_dtype
    from ._params import Geometry

    X = as_array(X, "X")
    K = as_array(K, "K")
    if X.ndim == 2 and K.ndim == 2 and groups == 1:
        from ._api import _check_2d

        _check_2d(X, "X")
        _check_2d(K, "K")
        dtype = result_dtype(("X", X), ("K", K))
        geo = Geometry.from_args(X.shape, K.shape, padding, stride, dilation)
        x4 = as_kernel_operand(X, dtype)[None, None]
        w4 = np.ascontiguousarray(K, dtype=dtype)[None, None]
    else:
        from ._conv import prepare

        call = prepare(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups)
        x4, w4, geo, groups = call.x, call.weight, call.geo, call.groups
    exact = X.dtype.kind in "biu" and K.dtype.kind in "biu"
    return x4, w4, geo, groups, exact


def plan(X, K, *, padding=0, stride=1, dilation=1, mode="constant", cval=0.0, backend="auto", out=None,
         measure=None, groups=1):
    """What ``corr2d(X, K, ...)`` (or ``conv2d(x, weight, ...)`` when X is
    (N, C, H, W) / (C, H, W)) would run, as a frozen :class:`Plan`.

    Takes corr2d's arguments (``mode``, ``cval`` and ``out`` do not change
    the choice), plus conv2d's ``groups``. With ``measure=True`` the
    candidates are timed now (and the winner cached, as a call would);
    ``print(plan)`` shows a table.
    """
    from ._params import check_mode

    check_mode(mode)
    x4, w4, geo, groups, exact = _prepare(X, K, padding, stride, dilation, groups)
    state = _load()
    key = _key(x4.shape, w4.shape, geo, groups, x4.dtype.char, exact)
    _, reason, rows = _evaluate(state, key, load_all=True)
    forced = _environ.get("FASTCONV_BACKEND")
    if backend != "auto":
        backends.get(backend)
        chosen, reason = backend, f"backend={backend!r} requested"
    elif forced and _forced(forced):
        chosen, reason = forced, "forced by FASTCONV_BACKEND"
    else:
        chosen = choose(x4, w4, geo, groups, exact, measure)
        if key in state.measured:
            reason = "measured: fastest when timed on first sight of this signature"
        decision = state.measured.get(key) or state.decisions.get(key)
        if decision is not None and decision[3] is not None and not _rank1(w4):
            _, alt_reason, _ = _evaluate(state, key, exclude=("separable",))
            reason = f"rule: the kernel is not rank 1, so not separable; then {alt_reason}"
            decision = decision[3]
        if decision is not None and chosen == decision[1] and decision[1] != decision[0]:
            reason = f"rule: inputs contain NaN/inf, {decision[0]} excluded ({reason})"
    for row in rows:
        if row[0] == "separable" and row[2] is None and not _rank1(w4):
            row[2] = "rule: the kernel is not rank 1"
    times = state.times.get(key, {})
    candidates = tuple(Candidate(name, pred, times.get(name), why) for name, pred, why in rows)
    return Plan(chosen, reason, candidates, _key_to_json(key))


explain = plan


def warm(dtypes=("float32", "float64")):
    """Compile (or load from numba's disk cache) the numba kernels now, so
    ``backend="auto"`` may pick numba without a cold JIT on a later call.
    Returns {dtype: seconds taken}, or {} when numba is not available."""
    module = backends.load("numba")
    if module is None or not hasattr(module, "warm"):
        return {}
    took = module.warm(tuple(dtypes))
    if _state is not None:
        _state.decisions.clear()
    return took
