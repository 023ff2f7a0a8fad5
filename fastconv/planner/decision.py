"""Which backend runs a call made with ``backend="auto"``.

Order of decisions, per call:

1. ``FASTCONV_BACKEND=<name>`` forces a backend (debugging); an unknown or
   unavailable name raises a ValueError saying so.
2. A winner measured for this exact signature (``measure=True``,
   ``FASTCONV_PLANNER=measure``, or imported wisdom) is used as is.
3. Otherwise the rules (:mod:`.rules`) and the cost model
   (:mod:`.costmodel`) decide, once per signature: among the backends the
   rules allow, the lowest predicted time (for a tiny problem, at most a
   wisdom file's ``tiny_macs`` multiply-adds, the least per-call overhead,
   among rows marked ``tiny``; ``tune`` sets no such threshold). Before
   the first such decision of a wisdom state, constants fitted on another
   machine are calibrated once (:func:`auto_calibrate`,
   :mod:`.calibration`); :func:`calibrate_machine` (``fastconv.calibrate``)
   does it on request.

When an inexact backend wins, an exact runner-up is kept, and every call
checks that x and w are all finite (one pass summing each); a NaN or inf
sends the call to the runner-up. When the winner has an ``accepts(w)``
hook, every call asks it (cached on the kernel's bytes) and runs the
decision made without that backend when it refuses.
"""
import time
from typing import Any, Sequence

from .. import backends, settings
from .._typing import DTypeLike
from . import calibration, rules, state, wisdom
from .measure import measure as measure_candidates
from .model import evaluate
from .signature import Signature


def forced():
    """The backend ``FASTCONV_BACKEND`` forces, checked, or None."""
    name = settings.forced_backend()
    if name is None:
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


_new_tuple = tuple.__new__  # builds a Signature from one tuple, without a Python-level __new__ per call


def signature_of(x, w, geo, groups, exact):
    """The planner's key; ``exact``: the inputs were all integer/bool (the
    exact setting is folded in, see ``rules.wants_exact``)."""
    return Signature(x.shape, w.shape, geo.pads, geo.stride, geo.dilation, groups, x.dtype.char,
                     settings.get_threads(), rules.wants_exact(exact))


def lookup(x, w, geo, groups, exact=False, measure=None):
    """(signature, the cached or new decision) for this call, before the
    per-call checks of the kernel's values and of finiteness."""
    st = state.current()
    sig = _new_tuple(Signature, (x.shape, w.shape, geo.pads, geo.stride, geo.dilation, groups, x.dtype.char,
                                 settings.get_threads(), rules.wants_exact(exact)))
    decision = st.measured.get(sig)
    if decision is not None:
        try:
            st.measured.move_to_end(sig)
        except KeyError:  # evicted by another thread meanwhile
            pass
    elif settings.measuring(measure):
        decision = measure_candidates(st, sig, x, w, geo, groups)
    else:
        decision = st.decisions.get(sig)
        if decision is None or decision.waiting is not None:
            decision = decide(st, sig, decision)
    return sig, decision


def refine(decision, x, w, fill_finite=True, x_finite=False):
    """The backend that runs this call: the decision after the kernel's
    ``accepts`` check and the finiteness check (of x unless ``x_finite``
    says it is, of w and, through ``fill_finite``, the padding's fill value)."""
    while decision.if_rejected is not None and rules.accepted(decision.backend, w) is not None:
        decision = decision.if_rejected
    if decision.nonfinite is not None and not (fill_finite and rules.finite(x, w, x_finite)):
        return decision.nonfinite
    return decision.backend


def choose(x, w, geo, groups, exact=False, measure=None, fill_finite=True, x_finite=False):
    """Name of the backend to run ``x`` (N, C, H, W) against ``w`` with ``geo``.

    ``exact``: the caller's inputs were all integer/bool (exact backends only).
    ``measure``: time the candidates on first sight of this signature
    (None: ``FASTCONV_PLANNER``). ``fill_finite``: False when the padding
    fills with NaN or inf (``cval``): the padded input is then not finite
    though x is. ``x_finite``: x was converted from integers (so it is).
    """
    if settings.forced_backend() is not None:
        return forced()
    decision = lookup(x, w, geo, groups, exact, measure)[1]
    if decision.if_rejected is None and decision.nonfinite is None:
        return decision.backend  # the common case: no per-call check to make
    return refine(decision, x, w, fill_finite, x_finite)


def decide(st, sig, previous):
    """Model decision for ``sig``, cached. ``previous`` is set when the last
    decision skipped a backend that was not ready and would have won: decide
    again (cheaply) once that backend is ready in this process."""
    if previous is not None and not rules.ready(previous.waiting, sig.dtype_name, disk=False):
        return previous
    if not st.calibration_checked:  # once per wisdom state: constants from another machine?
        auto_calibrate(st)
    decision = evaluate(st, sig)[0]
    st.cache(sig, decision)
    return decision


def warm(dtypes: Sequence[DTypeLike] = ("float32", "float64")) -> dict[str, float]:
    """Compile (or load from disk) every backend's JIT kernels now.

    ``backend="auto"`` skips numba while its kernels for a dtype are neither
    compiled nor in numba's disk cache (a cold JIT takes seconds); after this
    call it may pick them.

    Parameters
    ----------
    dtypes : sequence of dtype-like
        The dtypes to compile for (default float32 and float64).

    Returns
    -------
    dict
        ``{dtype name: seconds taken}`` summed over the backends that compile,
        or ``{}`` when none does.

    Raises
    ------
    TypeError
        A dtype fastconv does not compute in.

    Examples
    --------
    >>> took = fastconv.warm(["float64"])
    >>> set(took) <= {"float64"}
    True
    """
    took = {}
    for entry in backends.rows():
        hook = entry.hook("warm")
        if hook is None:
            continue
        for dtype, seconds in hook(tuple(dtypes)).items():
            took[dtype] = took.get(dtype, 0.0) + seconds
    st = state.peek()
    if st is not None:
        st.forget_decisions()
    return took


def calibrate_machine(save: bool = True) -> dict[str, Any]:
    """Measure this machine's speed in the cost model's units and rank with it.

    Each modelled backend runs a tiny and a work-bound probe problem on one
    thread, and one large copy measures memory bandwidth (about 0.3 s in
    all). The constants in force are rescaled by these times over the ones
    measured where they were fitted; see ``fastconv.planner.calibration``.
    ``auto`` runs this once by itself on a machine whose constants came from
    another CPU (``FASTCONV_CALIBRATE=0`` turns that off); call it yourself
    after changing what the machine runs (e.g. the SIMD level), or to
    choose when the 0.3 s are spent.

    Parameters
    ----------
    save : bool, optional
        Also store the calibration in the user's wisdom file (default True),
        so later processes use it without measuring.

    Returns
    -------
    dict
        The calibration: ``"machine"``, ``"date"``, ``"copy"`` (seconds of
        the copy) and ``"probes"`` (``{backend: {dtype: {"overhead",
        "work", "work_probe"}}}``, seconds).

    Raises
    ------
    OSError
        ``save`` and the wisdom file cannot be written.

    Examples
    --------
    >>> cal = fastconv.calibrate(save=False)
    >>> sorted(cal) == ["copy", "date", "machine", "probes"]
    True
    """
    cal = calibration.measure()
    state.current().set_calibration(cal)
    if save:
        wisdom.write({"format": wisdom.FORMAT, "model": {}, "measured": [], "calibration": cal}, wisdom.user_path())
    return cal


def auto_calibrate(st):
    """Calibrate once before ``st``'s first ranking when its constants were
    fitted on another machine (:func:`.calibration.needed`), announced."""
    with state.lock:
        if st.calibration_checked:
            return
        st.calibration_checked = True
    if not calibration.needed(st.doc):
        return
    t0 = time.perf_counter()
    cal = calibration.measure()
    st.set_calibration(cal)
    try:
        where = wisdom.write({"format": wisdom.FORMAT, "model": {}, "measured": [], "calibration": cal},
                             wisdom.user_path())
    except OSError as exc:
        where = f"this process only (the wisdom file cannot be written: {exc})"
    calibration.announce(time.perf_counter() - t0, where)
