"""The planner's rules: which backends ``auto`` may pick for a problem, and
the :class:`Decision` a choice is cached as.

Every rule reads a registry row or calls one of its module's hooks; none
names a backend:

* a backend that does not load is unavailable;
* a call that wants exact sums -- integer/bool inputs, or any input while
  ``FASTCONV_EXACT=1`` / ``fastconv.set_exact(True)`` is on (see
  :func:`wants_exact`, folded into the signature so cached decisions follow
  the setting) -- never goes to an inexact backend (``exact=False``: it
  does not sum tap by tap: fft, separable, winograd);
* a dtype the row does not list is refused;
* the module's ``supports(problem)`` hook may refuse the problem's shape;
* the module's ``ready(dtype)`` hook may say its kernels are not compiled
  yet (a cold JIT takes seconds: ``fastconv.warm()`` compiles them);
* the module's ``accepts(w)`` hook may refuse the kernel's values; it is
  asked per call (cached on the kernel's bytes), so a decision for such a
  backend carries the decision to use when it refuses.
"""
from typing import NamedTuple, Optional

import numpy as np

from .. import backends, settings
from .signature import Problem


class Exclusion(NamedTuple):
    """Why ``auto`` may not pick a backend: ``kind`` is one of
    "unavailable", "rule", "not ready", "values", "no model"."""

    kind: str
    reason: str

    def __str__(self):
        return self.reason


class Decision(NamedTuple):
    """What runs for one signature.

    ``backend``: the pick. ``nonfinite``: the exact runner-up that takes
    calls whose inputs hold NaN/inf (set when the pick is inexact: one NaN
    spoils a whole FFT). ``waiting``: a backend that would have won but was
    not ready (cold JIT): the decision is made again once it is.
    ``if_rejected``: the decision to use when the pick's ``accepts(w)``
    hook refuses the call's kernel.
    """

    backend: str
    nonfinite: Optional[str] = None
    waiting: Optional[str] = None
    if_rejected: Optional["Decision"] = None


def exclusion(name, p, rejected=None):
    """Why backend ``name`` may not run problem ``p``, or None. ``rejected``:
    {backend: reason} for backends whose ``accepts`` hook refused this
    call's kernel."""
    row = backends.row(name)
    if rejected and name in rejected:
        return Exclusion("values", f"rule: {rejected[name]}")
    if not row.exact and p.exact:
        why = "exact backends only (FASTCONV_EXACT=1 / set_exact(True))" if settings.get_exact() else \
            "integer inputs want exact results"
        return Exclusion("rule", f"rule: {why}; {name} does not sum tap by tap")
    if p.dtype_name not in row.dtypes:
        return Exclusion("rule", f"rule: {name} runs {', '.join(row.dtypes)}, not {p.dtype_name}")
    if row.load() is None:
        return Exclusion("unavailable", f"not available ({backends.load_error(name)})")
    supports = row.hook("supports")
    why = supports(p) if supports is not None else None
    if why is not None:
        return Exclusion("rule", f"rule: {why}")
    if not ready(name, p.dtype_name):
        return Exclusion("not ready", f"rule: {name} kernels for {p.dtype_name} not compiled or cached "
                                      "(a cold JIT takes seconds; fastconv.warm() compiles them)")
    return None


def wants_exact(integer_inputs):
    """Does a call want exact sums (the signature's ``exact`` field)? Its
    inputs are all integer/bool, or the user setting asks for exact
    backends only (``settings.get_exact()``)."""
    return bool(integer_inputs) or settings.get_exact()


def ready(name, dtype, disk=True):
    """The row's ``ready`` hook (True when it has none)."""
    hook = backends.row(name).hook("ready")
    return True if hook is None else bool(hook(dtype, disk=disk))


def preferred(p, exclude=()):
    """The first backend by the rows' ``preference`` that may run ``p``: the
    choice when no backend has a fitted model."""
    ranked = sorted((r for r in backends.rows() if r.preference is not None and r.name not in exclude),
                    key=lambda r: r.preference)
    for row in ranked:
        if exclusion(row.name, p) is None:
            return row.name
    for row in ranked:  # nothing qualifies: the most preferred that loads at all
        if row.load() is not None:
            return row.name
    raise RuntimeError("no fastconv backend can be loaded: " +
                       "; ".join(f"{r.name}: {backends.load_error(r.name)}" for r in ranked))


def is_exact(name):
    return name in backends.names() and backends.row(name).exact


def has_value_check(name):
    return name in backends.names() and backends.row(name).hook("accepts") is not None


def from_times(sig, winner, times, problem=None):
    """A decision from measured seconds per backend (``times``)."""
    p = problem or Problem.of(sig)

    def best(keep, exclude=()):
        left = {b: t for b, t in times.items() if keep(b) and b not in exclude}
        return min(left, key=left.get) if left else preferred(p, exclude)

    nonfinite = None if is_exact(winner) else best(is_exact)
    alt = None
    if has_value_check(winner):
        second = best(lambda b: True, (winner,))
        alt = Decision(second, None if is_exact(second) else best(is_exact, (winner,)))
    return Decision(winner, nonfinite, None, alt)


_accepted_cache = {}


def accepted(name, w):
    """None when backend ``name`` takes kernel ``w`` (always, without an
    ``accepts`` hook), else the hook's reason. Cached on the kernel's bytes:
    w is small whenever this is asked (the backends with such a hook take
    one channel per output)."""
    hook = backends.row(name).hook("accepts")
    if hook is None:
        return None
    key = (name, w.shape, w.dtype.char, w.tobytes())
    hit = _accepted_cache.get(key, False)
    if hit is False:
        hit = hook(w)
        if len(_accepted_cache) >= 256:
            _accepted_cache.clear()
        _accepted_cache[key] = hit
    return hit


backends.on_change(_accepted_cache.clear)  # a re-registered name may answer differently


def finite(x, w, x_finite=False):
    """True when x and w hold no NaN/inf (``x_finite``: x is known to, being
    converted from integers, so only w is read). A sum is NaN/inf whenever
    any term is (overflow to inf only makes this answer False, the safe side)."""
    with np.errstate(all="ignore"):
        return bool(np.isfinite(np.add.reduce(w, axis=None))
                    and (x_finite or np.isfinite(np.add.reduce(x, axis=None))))
