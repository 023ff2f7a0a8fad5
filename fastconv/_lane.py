"""The fast lane of ``corr2d``: a repeated 2-D call skips the argument path.

The first call of a *call signature* -- X's and K's shapes, strides and
dtypes, every argument, the settings the backend choice reads
(``settings.choice_inputs``) -- goes the normal way (``_args``, the planner,
``_engine``); when it succeeds, what it decided is kept here, and later
calls with the same signature run straight from it:

* the planner's backend is ``cython``: one C call, ``_cython.plane``, with
  the zero border handled inside the kernel (no padded copy), GIL released;
* a backend with the ``correlate_zero_border`` hook (direct: each thread
  pads its band of rows in its own scratch): that hook, on X in place;
* any other backend the planner (or ``backend=``, ``FASTCONV_BACKEND``)
  chose: the engine's run of that backend, without the argument checks and
  the planner's lookup (the engine still pads, or splits off the border).

The lane takes plain 2-D calls only -- X and K numpy arrays of one dtype,
float32 or float64, native byte order, X's rows contiguous (any row stride,
negative too); ``padding``, ``stride``, ``dilation`` ints, strings or
tuples of ints; ``mode="constant"`` with ``cval=0``; no ``axes``, ``dtype``
or ``out``; a planner decision with no per-call check (no NaN guard, no
``accepts`` hook, no backend waiting for its JIT). Anything else, and any
call the C entry refuses (unaligned data, a non-finite K with a border),
runs the normal path, which computes the same thing and raises its errors.
:func:`fast_lane` says which way a call goes.

An entry is valid while the planner's state is the one it was made under
and unchanged (``State.generation``: measured winners, registry changes,
``warm()``); a new thread count or environment setting is a new signature.
"""
from typing import Any, NamedTuple, Optional

import numpy as np

from . import _args, _engine, backends, planner, settings
from ._canonical import canonical
from ._typing import ArrayLike
from .planner import state as _state

CACHE_SIZE = 1024  # call signatures kept; the oldest goes first
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class Entry(NamedTuple):
    """What one call signature runs: ``plane``, the C entry's geometry
    tuple; else ``border``, the backend's ``correlate_zero_border`` hook;
    else ``backend`` through the engine (no backend: the normal path).
    Valid while ``state`` is in force at ``generation``."""

    backend: str
    plane: Optional[tuple]
    border: Any
    geo: Any
    state: Any
    generation: int


_entries: dict = {}
_ndarray = np.ndarray
_plane = None  # the cython backend's plane(), bound when an entry first needs it (import stays light)
_SIMPLE = frozenset((int, str))


def _plain(v):
    """An int, a str, or a tuple of ints / pairs of ints (exact types: a
    bool or float must not share a key with the int it equals)."""
    kind = type(v)
    if kind is int or kind is str:
        return True
    if kind is not tuple:
        return False
    return all(type(e) is int or (type(e) is tuple and all(type(f) is int for f in e)) for e in v)


def _key(X, K, padding, stride, dilation, mode, cval, backend, measure):
    """The call signature (the thread count last), or None when the lane
    cannot take this call. Strides are not part of it: they change neither
    the planner's choice nor the result, and the C entry checks per call
    that it can read the arrays as laid out."""
    if type(X) is not _ndarray or type(K) is not _ndarray or type(mode) is not str or mode != "constant":
        return None
    if (type(cval) is not float and type(cval) is not int) or cval != 0 or type(backend) is not str:
        return None
    if not ((type(padding) in _SIMPLE or _plain(padding)) and (type(stride) in _SIMPLE or _plain(stride))
            and (type(dilation) in _SIMPLE or _plain(dilation))):
        return None
    if measure is not None and type(measure) is not bool:
        return None
    return (X.shape, X.dtype, K.shape, K.dtype, padding, stride, dilation, backend, measure) + settings.choice_inputs()


def run(X, K, padding, stride, dilation, mode, cval, backend, measure, normal):
    """``corr2d``'s result for this call: from the lane when its signature
    has a valid entry (made now, after the normal path ran, when it has
    none), else the normal path's, ``normal(X, K, padding, ..., measure)``."""
    key = _key(X, K, padding, stride, dilation, mode, cval, backend, measure)
    if key is None:
        return normal(X, K, padding, stride, dilation, mode, cval, backend, measure)
    entry = _entries.get(key)
    if entry is not None:
        st = entry.state
        if st is _state._state and st.generation == entry.generation:
            if entry.plane is not None:
                y = _plane(X, K, entry.plane, key[-1], settings.SERIAL_MACS)
            elif entry.border is not None:
                y = _bordered(entry, X, K)
            else:
                y = _through_engine(entry, X, K) if entry.backend else None
            if y is not None:
                return y
            return normal(X, K, padding, stride, dilation, mode, cval, backend, measure)
    st = _state.current()
    generation = st.generation  # before the normal path: a change meanwhile makes the entry stale
    y = normal(X, K, padding, stride, dilation, mode, cval, backend, measure)
    _learn(key, X, K, padding, stride, dilation, backend, measure, st, generation)
    return y


def _bordered(entry, X, K):
    """The backend's own zero border, on X read in place (the engine's run
    when X's layout or the backend's hook says no)."""
    if X.strides[1] == X.itemsize and X.strides[0] >= 0 and X.flags.aligned and K.flags.aligned:
        geo = entry.geo
        out = np.empty(geo.out_shape, X.dtype)
        if entry.border(X[None, None], K[None, None], out[None, None], geo.pads, geo.stride, geo.dilation, 1):
            return out
    return _through_engine(entry, X, K)


def _through_engine(entry, X, K):
    if not X.flags.aligned or not K.flags.aligned:
        return None
    x = X[None, None] if X.strides[1] == X.itemsize and X.strides[0] >= 0 else np.ascontiguousarray(X)[None, None]
    w = np.ascontiguousarray(K)[None, None]
    return _engine.correlate(x, w, entry.geo, 1, "constant", 0.0, entry.backend)[0, 0]


def _learn(key, X, K, padding, stride, dilation, backend, measure, st, generation):
    """Keep what the normal path decided for ``key`` (an entry with no
    backend when the lane cannot take it)."""
    entry = _make(X, K, padding, stride, dilation, backend, measure, st, generation)
    if len(_entries) >= CACHE_SIZE:
        try:
            del _entries[next(iter(_entries))]
        except (KeyError, RuntimeError, StopIteration):  # another thread got there first
            pass
    _entries[key] = entry


def _why_not(X, K, call):
    """Why the lane cannot take a call the normal path validated, or None."""
    if X.ndim != 2 or K.ndim != 2:
        return "X and K must be 2-D"
    if X.dtype not in _FLOATS or K.dtype != X.dtype or call.dtype != X.dtype or call.out_dtype != X.dtype:
        return "X and K must both be float32 or both float64"
    if not X.dtype.isnative or not K.dtype.isnative:
        return "byte-swapped data"
    if call.geo.compact is not None:
        return "the stride skips most of X (the normal path gathers the rows and columns read)"
    return None


def _choice(call, measure):
    """(backend, None) the normal path runs for ``call``, or (None, the
    reason the lane cannot follow it: a per-call check)."""
    if call.backend != "auto":
        return call.backend, None
    name = planner.decision.forced()
    if name is not None:
        return name, None
    x, geo = canonical(call.x, call.w.shape[2:], call.geo, call.mode)
    sig = planner.decision.signature_of(x, call.w, geo, call.groups, call.exact)
    if settings.measuring(measure) and sig not in _state.current().measured:
        return None, "the planner is to measure this signature and has no winner for it yet"
    # (never measures here: measure=False still finds a winner measured before)
    decision = planner.decision.lookup(x, call.w, geo, call.groups, call.exact, False)[1]
    if decision.nonfinite is not None:
        return None, f"{decision.backend} is approximate: every call checks X and K for NaN/inf"
    if decision.if_rejected is not None:
        return None, f"{decision.backend} asks for every kernel whether it takes it"
    if decision.waiting is not None:
        return None, f"the planner decides again once {decision.waiting} is compiled"
    return decision.backend, None


def _make(X, K, padding, stride, dilation, backend, measure, st, generation):
    call = _args.corr2d_call(X, K, padding=padding, stride=stride, dilation=dilation, backend=backend)
    reason = _why_not(X, K, call)
    name = None
    if reason is None:
        name, reason = _choice(call, measure)
    if reason is not None:
        return Entry("", None, None, None, st, generation)
    return Entry(name, *_runner(name, call), st, generation)


def _runner(name, call):
    """(plane, border, geo) of an entry running backend ``name``."""
    global _plane
    geo = call.geo
    plane = getattr(backends.get(name), "plane", None) if name == "cython" else None
    if plane is not None:
        _plane = plane
        return (geo.pads[0][0], geo.pads[1][0]) + geo.out_shape + geo.stride + geo.dilation, None, geo
    border = backends.row(name).hook("correlate_zero_border")
    # The hook runs the problem as stated, so only where the engine's
    # canonical form of it is the same problem.
    if border is not None and geo.padded and canonical(call.x, call.w.shape[2:], geo, "constant")[1] is geo:
        return None, border, geo
    return None, None, geo


def fast_lane(X: ArrayLike, K: ArrayLike, **kwargs: Any) -> str:
    """Which way ``corr2d(X, K, **kwargs)`` runs once its call signature was seen.

    Parameters
    ----------
    X, K : array_like
        The image and the kernel, as :func:`fastconv.corr2d` takes them.
    **kwargs
        Any keyword arguments of :func:`fastconv.corr2d`.

    Returns
    -------
    str
        ``"lane: cython, one C call, zero border in the kernel"``,
        ``"lane: <backend> through the engine"``, or ``"normal path: "``
        and the reason the lane does not take the call.

    Raises
    ------
    ValueError, TypeError
        As :func:`fastconv.corr2d` for bad arguments.

    Examples
    --------
    >>> fastconv.fast_lane(np.ones((6, 8)), np.ones((1, 2)), padding="same", backend="cython")
    'lane: cython, one C call, zero border in the kernel'
    >>> fastconv.fast_lane(np.ones((6, 8)), np.ones((1, 2)), padding="same", mode="edge")
    "normal path: mode='edge', cval=0.0 (the lane takes mode='constant' with cval=0)"
    """
    opts = {"padding": 0, "stride": 1, "dilation": 1, "mode": "constant", "cval": 0.0, "backend": "auto",
            "measure": None}
    extra = sorted(set(kwargs) - set(opts))
    call = _args.corr2d_call(X, K, **{k: v for k, v in kwargs.items() if k != "measure"})
    if extra:
        return "normal path: " + ", ".join(extra) + " given (the lane takes none of axes, dtype, out)"
    opts.update(kwargs)
    if opts["mode"] != "constant" or opts["cval"] != 0:
        return f"normal path: mode={opts['mode']!r}, cval={opts['cval']!r} (the lane takes mode='constant' with cval=0)"
    if type(X) is not np.ndarray or type(K) is not np.ndarray:
        return "normal path: X and K must be numpy arrays (not array-likes or subclasses)"
    if _key(X, K, opts["padding"], opts["stride"], opts["dilation"], opts["mode"], opts["cval"], opts["backend"],
            opts["measure"]) is None:
        return "normal path: padding, stride and dilation must be ints, strings or tuples of ints"
    reason = _why_not(X, K, call)
    name = None
    if reason is None:
        name, reason = _choice(call, opts["measure"])
    if reason is not None:
        return "normal path: " + reason
    plane, border, _ = _runner(name, call)
    if plane is not None:
        return "lane: cython, one C call, zero border in the kernel"
    if border is not None:
        return f"lane: {name}, zero border in the kernel"
    return f"lane: {name} through the engine"


def clear() -> None:
    """Forget every entry (tests; entries also go stale on their own)."""
    _entries.clear()


backends.on_change(clear)
