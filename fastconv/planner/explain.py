"""``fastconv.plan`` / ``fastconv.explain``: what ``backend="auto"`` runs for
a call, and why, as a frozen :class:`Plan`."""
from dataclasses import dataclass

from .. import _args
from .._padding import fill_is_finite
from . import rules, state
from .decision import forced, lookup, refine, signature_of
from .model import evaluate


@dataclass(frozen=True)
class Candidate:
    """One backend's standing for a problem."""

    name: str
    predicted: object  # seconds, or None when there is no model for it
    measured: object  # seconds, or None when not measured
    excluded: object  # why auto may not pick it (a sentence), or None


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


def plan(X, K, *, padding=0, stride=1, dilation=1, mode="constant", cval=0.0, backend="auto", out=None,
         measure=None, groups=1):
    """What ``corr2d(X, K, ...)`` (or ``conv2d(x, weight, ...)`` when X is
    (N, C, H, W) / (C, H, W)) would run, as a frozen :class:`Plan`.

    Takes corr2d's arguments (``out`` does not change the choice; ``mode``
    and ``cval`` only through a NaN/inf fill value), plus conv2d's ``groups``. With ``measure=True`` the
    candidates are timed now (and the winner cached, as a call would);
    ``print(plan)`` shows a table.
    """
    call = _args.plan_call(X, K, padding=padding, stride=stride, dilation=dilation, mode=mode, cval=cval,
                           backend=backend, groups=groups)
    x, w = call.x, call.w
    st = state.current()
    if backend != "auto":
        sig = signature_of(x, w, call.geo, call.groups, call.exact)
        chosen, reason = backend, f"backend={backend!r} requested"
    elif forced() is not None:
        sig = signature_of(x, w, call.geo, call.groups, call.exact)
        chosen, reason = forced(), "forced by FASTCONV_BACKEND"
    else:
        sig, decision = lookup(x, w, call.geo, call.groups, call.exact, measure)
        chosen = refine(decision, x, w, fill_is_finite(call.mode, call.cval, call.geo.padded))
        reason = _why(st, sig, decision, chosen, w)
    rows = evaluate(st, sig, load_all=True)[2]
    for row in rows:
        if row.excluded is None and rules.accepted(row.name, w) is not None:
            row.excluded = rules.Exclusion("values", f"rule: {rules.accepted(row.name, w)}")
    times = st.times.get(sig, {})
    candidates = tuple(Candidate(r.name, r.predicted, times.get(r.name), r.excluded and r.excluded.reason)
                       for r in rows)
    return Plan(chosen, reason, candidates, sig.to_json())


explain = plan
