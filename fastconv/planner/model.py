"""The cost model's ranking of the backends for one signature.

:func:`evaluate` predicts every backend's time from its fitted constants,
then walks them from the fastest down, asking the rules (:mod:`.rules`)
which may run, and returns the :class:`~.rules.Decision` with the reason and
every backend's row (prediction and exclusion), which ``plan()`` shows.
"""
from .. import backends
from . import costmodel, rules
from .rules import Decision
from .signature import Problem


class Row:
    """One backend's standing while a decision is made."""

    __slots__ = ("name", "predicted", "excluded")

    def __init__(self, name, predicted, excluded):
        self.name, self.predicted, self.excluded = name, predicted, excluded


def evaluate(st, sig, load_all=False, rejected=None):
    """The model's view of one signature: (decision, reason, rows).

    Backends are imported in order of predicted time and only as far as
    needed, unless ``load_all`` (for explain). ``rejected``: {backend:
    reason} for backends whose ``accepts`` hook refused the kernel."""
    p = Problem.of(sig)
    dtype = p.dtype_name
    rows = []
    for entry in backends.rows():
        coef = st.coef(entry.name, dtype)
        pred = costmodel.predict(coef, entry.family, p, st.fit_threads) if coef else None
        rows.append(Row(entry.name, pred, None if coef else
                        rules.Exclusion("no model", "no fitted model (run python -m fastconv tune)")))
    modelled = [r for r in rows if r.predicted is not None]
    tiny = p.macs <= st.tiny_macs
    if tiny:  # least fixed overhead, among the rows that take tiny problems
        modelled = [r for r in modelled if backends.row(r.name).tiny] or modelled
        modelled.sort(key=lambda r: st.coef(r.name, dtype)[0])
    else:
        modelled.sort(key=lambda r: r.predicted)
    chosen = nonfinite = waiting = None
    for row in modelled:
        done = chosen is not None and (nonfinite is not None or rules.is_exact(chosen))
        if done and not load_all:
            break
        row.excluded = rules.exclusion(row.name, p, rejected)
        if row.excluded is not None:
            if chosen is None and waiting is None and row.excluded.kind == "not ready":
                waiting = row.name
            continue
        if chosen is None:
            chosen = row.name
        elif not rules.is_exact(chosen) and nonfinite is None and rules.is_exact(row.name):
            nonfinite = row.name
    if load_all:
        for row in rows:
            if row.predicted is None and backends.load(row.name) is None:
                row.excluded = rules.Exclusion("unavailable", f"not available ({backends.load_error(row.name)})")
    if chosen is None:
        chosen = rules.preferred(p, tuple(rejected or ()))
        reason = "no fitted model for any available backend: preference order"
    elif tiny:
        reason = f"rule: tiny problem ({p.macs} multiply-adds <= {st.tiny_macs}): least call overhead"
    else:
        reason = "model: lowest predicted time"
    if not rules.is_exact(chosen):
        nonfinite = nonfinite or rules.preferred(p, tuple(rejected or ()))
        reason += f"; inputs with NaN/inf go to {nonfinite}"
    alt = None
    if rules.has_value_check(chosen):
        refused = dict(rejected or {})
        refused[chosen] = "refused by its accepts() check"
        alt = evaluate(st, sig, rejected=refused)[0]
        waiting = waiting or alt.waiting
        reason += f"; kernels {chosen} refuses go to {alt.backend}"
    return Decision(chosen, nonfinite, waiting, alt), reason, rows
