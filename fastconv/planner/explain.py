"""``fastconv.plan`` / ``fastconv.explain``: what ``backend="auto"`` runs for
a call, and why, as a frozen :class:`Plan`."""
from dataclasses import dataclass

from typing import Any, Optional, Sequence

from .. import _args
from .._canonical import canonical
from .._complex import real_operands
from .._padding import fill_is_finite
from .._typing import ArrayLike, DTypeLike, ImageArray, Padding, Pair
from . import rules, state
from .decision import forced, lookup, refine, signature_of
from .model import evaluate


@dataclass(frozen=True)
class Candidate:
    """One backend's standing for a problem."""

    name: str
    predicted: Optional[float]  # seconds, or None when there is no model for it
    measured: Optional[float]  # seconds, or None when not measured
    excluded: Optional[str]  # why auto may not pick it (a sentence), or None


@dataclass(frozen=True)
class Plan:
    """What ``backend="auto"`` runs for one call, and why.

    ``backend``: the name that runs; ``reason``: the rule or model that
    decided; ``candidates``: every backend with its predicted (and
    measured, if any) seconds; ``signature``: the problem as cached.
    """

    backend: str
    reason: str
    candidates: tuple[Candidate, ...]
    signature: dict[str, Any]

    @property
    def predicted(self) -> dict[str, float]:
        return {c.name: c.predicted for c in self.candidates if c.predicted is not None}

    @property
    def measured(self) -> dict[str, float]:
        return {c.name: c.measured for c in self.candidates if c.measured is not None}

    def __str__(self) -> str:
        s = self.signature
        lines = [
            f"problem: x {tuple(s['x'])} w {tuple(s['w'])} pads {s['pads']} stride {s['stride']} "
            f"dilation {s['dilation']} groups {s['groups']} {s['dtype']} threads {s['threads']}"
            + (" exact sums wanted" if s["exact"] else ""),
            f"backend: {self.backend}   ({self.reason})",
            f"  {'':1}{'backend':<10}{'predicted':>12}{'measured':>12}  note",
        ]
        for c in self.candidates:
            mark = "*" if c.name == self.backend else " "
            lines.append(f"  {mark}{c.name:<10}{_fmt(c.predicted):>12}{_fmt(c.measured):>12}  {c.excluded or ''}".rstrip())
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


def _why(st, sig, decision, chosen, w):
    """The reason the decision's path through the per-call checks gives."""
    reason = "measured: fastest when timed on first sight of this signature" if sig in st.measured else None
    rejected = {}
    while decision.if_rejected is not None:
        refused = rules.accepted(decision.backend, w)
        if refused is None:
            break
        rejected[decision.backend] = refused
        decision = decision.if_rejected
    if reason is None or rejected:
        _, reason, _ = evaluate(st, sig, rejected=rejected or None)
        if rejected:
            reason = "; ".join(f"rule: {why}, so not {name}" for name, why in rejected.items()) + f"; then {reason}"
    if chosen == decision.nonfinite and chosen != decision.backend:
        reason = f"rule: inputs contain NaN/inf, {decision.backend} excluded ({reason})"
    return reason


def plan(X: ArrayLike, K: ArrayLike, *, padding: Padding = 0, stride: Pair = 1, dilation: Pair = 1,
         mode: str = "constant", cval: complex = 0.0, backend: str = "auto", out: Optional[ImageArray] = None,
         measure: Optional[bool] = None, groups: int = 1, axes: Optional[Sequence[int]] = None,
         dtype: DTypeLike = None) -> Plan:
    """What ``corr2d(X, K, ...)`` (or ``conv2d(x, weight, ...)`` for a 4-D
    weight K) would run, and why, as a frozen :class:`Plan`.

    ``fastconv.explain`` is the same function. ``print(plan)`` shows a table of
    every backend's predicted (and measured) time.

    Parameters
    ----------
    X, K : array_like
        corr2d's image (or stack, with ``axes``) and kernel (kh, kw) or
        (C, kh, kw), or conv2d's x (N, C, H, W) / (C, H, W) and 4-D weight
        (O, C/groups, kh, kw). A complex call is explained as the one real
        correlation it runs (real and imaginary parts stacked as images and
        output channels).
    padding, stride, dilation, backend
        As for :func:`corr2d`.
    mode, cval, out
        Accepted so that a call's arguments can be passed unchanged; ``out``
        does not change the choice, ``mode`` and ``cval`` only through a
        NaN/inf fill value.
    measure : bool, optional
        True times the candidates now (and caches the winner, as a call would).
    groups : int
        conv2d's groups (a 4-D K only).
    axes, dtype
        As for :func:`corr2d` (not with a 4-D K).

    Returns
    -------
    Plan
        ``backend`` (the name that runs), ``reason``, ``candidates`` and the
        problem ``signature``.

    Raises
    ------
    ValueError, TypeError
        Any argument the call itself would refuse.

    Examples
    --------
    >>> p = fastconv.plan(np.ones((64, 64)), np.ones((3, 3)), padding="same")
    >>> p.backend in fastconv.available_backends()
    True
    >>> fastconv.plan(np.ones((6, 8)), [[1, -1]], backend="gemm").reason
    "backend='gemm' requested"
    """
    call = _args.plan_call(X, K, padding=padding, stride=stride, dilation=dilation, mode=mode, cval=cval,
                           backend=backend, groups=groups, axes=axes, dtype=dtype, integer_ok=True)
    banded = call.pending  # an integer image and result the banded kernel takes when cython is chosen
    if banded:
        call = _args.to_planes(call)
    x, w, geo, mode, cval = call.x, call.w, call.geo, call.mode, call.cval
    if x.dtype.kind == "c" or w.dtype.kind == "c":
        x, w, geo = real_operands(x, w, geo, call.groups, mode, cval, call.dtype)
        mode, cval = "constant", 0.0
    x, geo = canonical(x, w.shape[2:], geo, mode)  # what the engine hands the planner
    st = state.current()
    if backend != "auto":
        sig = signature_of(x, w, geo, call.groups, call.exact)
        chosen, reason = backend, f"backend={backend!r} requested"
    elif forced() is not None:
        sig = signature_of(x, w, geo, call.groups, call.exact)
        chosen, reason = forced(), "forced by FASTCONV_BACKEND"
    else:
        sig, decision = lookup(x, w, geo, call.groups, call.exact, measure)
        chosen = refine(decision, x, w, fill_is_finite(mode, cval, geo.padded))
        reason = _why(st, sig, decision, chosen, w)
    if banded and chosen == "cython":
        reason += ("; integer image and result: cython's row kernels run band by band on the integer image "
                   "(fastconv.backends.banded), no float copy of it or of the result")
    rows = evaluate(st, sig, load_all=True)[2]
    for row in rows:
        if row.excluded is None and rules.accepted(row.name, w) is not None:
            row.excluded = rules.Exclusion("values", f"rule: {rules.accepted(row.name, w)}")
    times = st.times.get(sig, {})
    candidates = tuple(Candidate(r.name, r.predicted, times.get(r.name), r.excluded and r.excluded.reason)
                       for r in rows)
    return Plan(chosen, reason, candidates, sig.to_json())


explain = plan
