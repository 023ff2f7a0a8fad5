"""fastconv.backends' registry, driven from outside the package: a backend
registered from a test is listed, can be forced, is planned for once wisdom
gives its family constants, and is picked by ``auto`` exactly when the rules
and its model allow; unregistering removes every trace of it."""
import types

import numpy as np
import pytest

import fastconv
from _oracle_cases import assert_matches_oracle
from fastconv import backends, planner
from fastconv.planner import costmodel, rules, state
from fastconv.planner.signature import Problem, Signature

NAIVE = backends.load("naive")
DTYPES = ("float32", "float64")


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """Own (absent) wisdom file, no forcing variables, fresh planner state;
    ``registry.add(name, **row)`` registers a recording backend and returns
    its list of calls. Everything registered is removed afterwards and the
    wisdom is reloaded, so other tests see the shipped state."""
    monkeypatch.setenv("FASTCONV_WISDOM", str(tmp_path / "wisdom.json"))
    monkeypatch.delenv("FASTCONV_BACKEND", raising=False)
    monkeypatch.delenv("FASTCONV_PLANNER", raising=False)
    planner.reload_wisdom()
    added = []

    def add(name, accepts=None, **row):
        calls = []

        def correlate(xp, w, out, stride, dilation, groups):
            calls.append(xp.shape)
            NAIVE.correlate(xp, w, out, stride, dilation, groups)

        module = types.ModuleType(f"fastconv_test_{name}")
        module.correlate = correlate
        if accepts is not None:
            module.accepts = accepts
        backends.register(name, module, **row)
        added.append(name)
        return calls

    yield types.SimpleNamespace(add=add, added=added)
    for name in added:
        if name in backends.names():
            backends.unregister(name)
    planner.reload_wisdom()


def wisdom_for(name, coef, family="direct"):
    terms = list(costmodel.term_names(family))
    return {"format": 1, "model": {name: {dt: {"terms": terms, "coef": [coef] * len(terms)} for dt in DTYPES}},
            "measured": []}


def _inputs(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((23, 19)).astype(dtype), rng.standard_normal((3, 4)).astype(dtype)


def _candidate(p, name):
    (c,) = [c for c in p.candidates if c.name == name]
    return c


def test_registered_backend_is_listed_and_can_be_forced(registry):
    calls = registry.add("testdirect", family="direct")
    assert "testdirect" in backends.names() and "testdirect" in fastconv.available_backends()
    assert backends.load_error("testdirect") is None
    X, K = _inputs()
    for kwargs in ({}, {"padding": "same", "mode": "reflect"}, {"stride": 2, "dilation": (1, 2), "padding": 1}):
        calls.clear()
        result = fastconv.corr2d(X, K, backend="testdirect", **kwargs)
        assert calls, "the forced backend did not run"
        assert_matches_oracle(result, X, K, **kwargs)
    p = fastconv.plan(X, K, backend="testdirect")
    assert p.backend == "testdirect" and "requested" in p.reason


def test_plan_lists_it_with_a_prediction_once_wisdom_has_its_constants(registry):
    registry.add("testdirect", family="direct")
    X, K = _inputs()
    before = _candidate(fastconv.plan(X, K), "testdirect")
    assert before.predicted is None and "no fitted model" in before.excluded
    fastconv.import_wisdom(wisdom_for("testdirect", 1e-15))
    p = fastconv.plan(X, K)
    after = _candidate(p, "testdirect")
    st = state.current()
    coef = st.coef("testdirect", "float64")
    assert coef == (1e-15,) * len(costmodel.term_names("direct"))
    expected = costmodel.predict(coef, "direct", Problem.of(Signature.from_json(p.signature)), st.fit_threads)
    assert after.predicted == pytest.approx(expected) and after.predicted > 0
    assert after.excluded is None


def test_auto_picks_it_when_its_model_is_cheapest(registry):
    calls = registry.add("testdirect", family="direct")
    X, K = _inputs()
    fastconv.import_wisdom(wisdom_for("testdirect", 1e-15))
    assert fastconv.plan(X, K).backend == "testdirect"
    result = fastconv.corr2d(X, K, padding="same")
    assert calls, "auto did not run the cheapest backend"
    assert_matches_oracle(result, X, K, padding="same")
    big_X = np.random.default_rng(1).standard_normal((300, 300))  # not tiny: the model, not the overhead rule
    assert fastconv.plan(big_X, K).backend == "testdirect"


def test_auto_does_not_pick_it_when_its_model_is_expensive(registry):
    calls = registry.add("testdirect", family="direct")
    X, K = _inputs()
    fastconv.import_wisdom(wisdom_for("testdirect", 1.0))
    p = fastconv.plan(X, K)
    assert p.backend != "testdirect"
    assert _candidate(p, "testdirect").predicted >= 1.0
    fastconv.corr2d(X, K)
    assert calls == []


def test_inexact_backend_integer_inputs_and_nonfinite_fallback(registry):
    calls = registry.add("testinexact", family="direct", exact=False)
    fastconv.import_wisdom(wisdom_for("testinexact", 1e-15))
    X, K = _inputs()
    p = fastconv.plan(X, K)
    assert p.backend == "testinexact"
    assert "NaN/inf go to" in p.reason
    (lookup_decision,) = [planner.decision.lookup(*_prepared(X, K))[1]]
    assert lookup_decision.nonfinite is not None and rules.is_exact(lookup_decision.nonfinite)
    # integer inputs want exact results: never the inexact backend
    Xi, Ki = (X * 10).astype(np.int32), (K * 10).astype(np.int16)
    pi = fastconv.plan(Xi, Ki)
    assert pi.backend != "testinexact"
    assert "integer inputs want exact results" in _candidate(pi, "testinexact").excluded
    calls.clear()
    assert_matches_oracle(fastconv.corr2d(Xi, Ki), Xi, Ki)
    assert calls == []
    # a NaN goes to the exact runner-up
    Xn = X.copy()
    Xn[5, 7] = np.nan
    assert fastconv.plan(Xn, K).backend == lookup_decision.nonfinite
    result = fastconv.corr2d(Xn, K)
    assert calls == []
    np.testing.assert_array_equal(np.isnan(result), np.isnan(fastconv.corr2d(Xn, K, backend="naive")))
    # finite float inputs still go to it
    fastconv.corr2d(X, K)
    assert len(calls) == 1


def _prepared(X, K):
    from fastconv import _args

    call = _args.corr2d_call(X, K)
    return call.x, call.w, call.geo, call.groups, call.exact


def test_accepts_hook_refusal_runs_the_if_rejected_decision(registry):
    refusal = "test: kernels with a negative sum refused"
    calls = registry.add("testpicky", family="direct",
                         accepts=lambda w: None if float(w.sum()) >= 0 else refusal)
    fastconv.import_wisdom(wisdom_for("testpicky", 1e-15))
    X, _ = _inputs()
    good, bad = np.ones((3, 4)), -np.ones((3, 4))  # same signature, different values
    assert fastconv.plan(X, good).backend == "testpicky"
    fastconv.corr2d(X, good)
    assert len(calls) == 1
    p = fastconv.plan(X, bad)
    assert p.backend != "testpicky"
    assert refusal in p.reason
    assert refusal in _candidate(p, "testpicky").excluded
    _, decision = planner.decision.lookup(*_prepared(X, bad))
    assert decision.backend == "testpicky" and decision.if_rejected.backend == p.backend
    result = fastconv.corr2d(X, bad)
    assert len(calls) == 1  # refused: not run
    assert_matches_oracle(result, X, bad)


def test_unavailable_module_is_never_picked(registry):
    backends.register("testbroken", "fastconv_tests_no_such_module", family="direct")
    registry.added.append("testbroken")
    assert "testbroken" in backends.names()
    assert "testbroken" not in fastconv.available_backends()
    assert backends.load_error("testbroken").startswith("ModuleNotFoundError")
    fastconv.import_wisdom(wisdom_for("testbroken", 1e-15))
    X, K = _inputs()
    p = fastconv.plan(X, K)
    assert p.backend != "testbroken"
    assert "not available (ModuleNotFoundError" in _candidate(p, "testbroken").excluded
    with pytest.raises(ValueError, match="'testbroken' is not available"):
        fastconv.corr2d(X, K, backend="testbroken")


def test_unregister_removes_it(registry):
    calls = registry.add("testgone", family="direct")
    fastconv.import_wisdom(wisdom_for("testgone", 1e-15))
    X, K = _inputs()
    assert fastconv.plan(X, K).backend == "testgone"  # and the decision is cached
    backends.unregister("testgone")
    assert "testgone" not in backends.names() and "testgone" not in fastconv.available_backends()
    p = fastconv.plan(X, K)
    assert "testgone" not in [c.name for c in p.candidates]
    assert p.backend != "testgone"
    calls.clear()
    assert_matches_oracle(fastconv.corr2d(X, K), X, K)
    assert calls == []
    with pytest.raises(ValueError, match="unknown backend 'testgone'"):
        fastconv.corr2d(X, K, backend="testgone")
    with pytest.raises(ValueError, match="unknown backend 'testgone'"):
        backends.unregister("testgone")


def test_unregister_forgets_measured_winners(registry):
    """A measured winner that is no longer registered must not be run by auto
    (nor make every auto call on that signature raise)."""
    registry.add("testmeasured", family="direct")
    X, K = _inputs()
    x, w, geo, groups, exact = _prepared(X, K)
    sig = planner.decision.signature_of(x, w, geo, groups, exact)
    fastconv.import_wisdom({"format": 1, "model": {}, "measured": [
        {"signature": sig.to_json(), "winner": "testmeasured", "times": {"testmeasured": 1e-7}}]})
    assert fastconv.plan(X, K).backend == "testmeasured"
    backends.unregister("testmeasured")
    assert_matches_oracle(fastconv.corr2d(X, K), X, K)
    assert fastconv.plan(X, K).backend in fastconv.available_backends()


def test_reregistering_a_name_does_not_reuse_the_old_accepts_answers(registry):
    """rules.accepted caches hook answers on (name, kernel bytes); a new
    module registered under the same name must be asked itself."""
    registry.add("testhook", family="direct", accepts=lambda w: "old module refuses everything")
    w = np.ones((1, 1, 3, 3))
    assert rules.accepted("testhook", w) == "old module refuses everything"
    backends.unregister("testhook")
    registry.add("testhook", family="direct", accepts=lambda w: None)
    assert rules.accepted("testhook", w) is None


def test_register_errors(registry):
    before = backends.names()
    module = types.ModuleType("fastconv_test_errors")
    module.correlate = NAIVE.correlate
    with pytest.raises(ValueError, match="already registered"):
        backends.register("naive", module)
    assert backends.row("naive").module == "fastconv.backends.naive"  # unchanged
    for bad_name in ("auto", "", 3, None):
        with pytest.raises(ValueError, match="non-empty string other than 'auto'"):
            backends.register(bad_name, module)
    for bad_module in (42, NAIVE.correlate, None, b"fastconv.backends.naive"):
        with pytest.raises(TypeError, match="module must be an import path or a module"):
            backends.register("testbad", bad_module)
    assert backends.names() == before
    # replace=True replaces
    calls = registry.add("testreplace", family="direct")
    other = types.ModuleType("fastconv_test_replacement")
    other.correlate = NAIVE.correlate
    row = backends.register("testreplace", other, family="gemm", replace=True)
    assert backends.row("testreplace") is row and row.family == "gemm"
    assert backends.load("testreplace") is other
    fastconv.corr2d(np.ones((4, 4)), np.ones((2, 2)), backend="testreplace")
    assert calls == []
