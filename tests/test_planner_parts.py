"""The planner's parts, each against its own contract: Signature/Problem,
the cost model's feature vectors, the rules' exclusions and measured
decisions, the wisdom state (import/export/forget through a file) and the
bounded decision caches. No timing: decisions are steered with hand-made
wisdom or recorded directly."""
import json
import math
import types
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastconv
from fastconv import _args, backends, planner
from fastconv._geometry import Geometry, span
from fastconv.planner import costmodel, decision, rules, state, wisdom
from fastconv.planner.rules import Decision, Exclusion
from fastconv.planner.signature import Problem, Signature

NAIVE = backends.load("naive")


@pytest.fixture(autouse=True)
def isolated_wisdom(tmp_path, monkeypatch):
    """Each test: its own (absent) wisdom file, no forcing variables, fresh
    state; test backends registered through ``registry`` are removed."""
    monkeypatch.setenv("FASTCONV_WISDOM", str(tmp_path / "wisdom.json"))
    monkeypatch.delenv("FASTCONV_BACKEND", raising=False)
    monkeypatch.delenv("FASTCONV_PLANNER", raising=False)
    planner.reload_wisdom()
    yield tmp_path / "wisdom.json"
    planner.reload_wisdom()


@pytest.fixture
def registry():
    added = []

    def add(name, module=None, **row):
        if module is None:
            module = types.ModuleType(f"fastconv_test_{name}")
            module.correlate = NAIVE.correlate
        backends.register(name, module, **row)
        added.append(name)
        return module

    yield add
    for name in added:
        if name in backends.names():
            backends.unregister(name)


# ---------------------------------------------------------------- signature

@st.composite
def signatures(draw):
    groups = draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pads = tuple((draw(st.integers(0, 6)), draw(st.integers(0, 6))) for _ in range(2))
    spans = [span(k, d) for k, d in zip((kh, kw), dilation)]
    h, w = (draw(st.integers(max(1, s - sum(p)), max(1, s - sum(p)) + 40)) for s, p in zip(spans, pads))
    n, cg, og = draw(st.integers(1, 8)), draw(st.integers(1, 8)), draw(st.integers(1, 8))
    return Signature((n, groups * cg, h, w), (groups * og, cg, kh, kw), pads, stride, dilation, groups,
                     draw(st.sampled_from("fd")), draw(st.integers(1, 64)), draw(st.booleans()))


@given(signatures())
def test_signature_json_round_trip(sig):
    doc = json.loads(json.dumps(sig.to_json()))
    assert doc["dtype"] == sig.dtype_name
    back = Signature.from_json(doc)
    assert back == sig and hash(back) == hash(sig)
    assert all(type(v) is int for v in back.x + back.w + back.stride + back.dilation)
    assert type(back.exact) is bool and type(back.groups) is int


@given(signatures())
def test_problem_sizes_agree_with_geometry(sig):
    geo = Geometry.from_args(sig.x[2:], sig.w[2:], sig.pads, sig.stride, sig.dilation)
    p = Problem.of(sig)
    assert (p.ho, p.wo) == geo.out_shape
    assert p.padded_hw == geo.padded_shape
    assert (p.n, p.c, p.h, p.w, p.o, p.cg, p.kh, p.kw) == sig.x + sig.w
    assert p.macs == p.n * p.o * p.ho * p.wo * p.cg * p.kh * p.kw
    assert p.dtype_name == sig.dtype_name and p.exact == sig.exact


# ---------------------------------------------------------------- costmodel

@given(signatures(), st.sampled_from([None, 1, 2, 8]))
def test_features_match_term_names(sig, fit_threads):
    p = Problem.of(sig)
    for family in costmodel.FAMILIES:
        names = costmodel.term_names(family)
        feats = costmodel.features(family, p, fit_threads)
        assert len(feats) == len(names) and names[0] == "overhead" and feats[0] == 1.0
        assert all(math.isfinite(f) and f >= 0 for f in feats)
        coef = [0.5 ** i for i in range(len(names))]
        assert costmodel.predict(coef, family, p, fit_threads) == pytest.approx(
            sum(c * f for c, f in zip(coef, feats)))
        # threads: threaded families scale their work terms by fit_threads / threads used
        plain = costmodel.features(family, p, None)
        threaded = costmodel.FAMILIES[family][2]
        scale = fit_threads / max(1, min(p.threads, costmodel._CPUS)) if threaded and fit_threads else 1.0
        assert feats == pytest.approx((1.0,) + tuple(f * scale for f in plain[1:]))


def test_term_names_of_unknown_family():
    assert costmodel.term_names("no such family") is None
    assert costmodel.term_names(None) is None


def test_every_row_names_a_known_family_and_the_shipped_wisdom_fits_it():
    for row in backends.rows():
        assert row.family is None or row.family in costmodel.FAMILIES, (row.name, row.family)
    doc = wisdom.defaults()
    for name, per_dtype in doc["model"].items():
        assert name in backends.names(), f"default wisdom has a model for unknown backend {name!r}"
        for dtype, entry in per_dtype.items():
            # a mismatch makes State.coef drop the model silently
            assert tuple(entry["terms"]) == costmodel.term_names(backends.row(name).family), (name, dtype)
            assert len(entry["coef"]) == len(entry["terms"]) and min(entry["coef"]) >= 0


def test_fit_recovers_constants():
    rng = np.random.default_rng(0)
    rows = np.column_stack([np.ones(40), rng.uniform(1e3, 1e6, 40), rng.uniform(1e2, 1e4, 40)])
    true = np.array([2e-6, 3e-9, 0.0])
    coef = costmodel.fit(rows, rows @ true)
    assert (coef >= 0).all()
    np.testing.assert_allclose(rows @ coef, rows @ true, rtol=1e-6)


def _nnls_by_subsets(a, b):
    """Least squares over every subset of columns, non-negative solutions only."""
    n = a.shape[1]
    best, best_loss = np.zeros(n), float(b @ b)
    for mask in range(1, 1 << n):
        cols = [j for j in range(n) if mask >> j & 1]
        sol = np.linalg.lstsq(a[:, cols], b, rcond=None)[0]
        if (sol >= 0).all():
            loss = float(((a[:, cols] @ sol - b) ** 2).sum())
            if loss < best_loss:
                best, best_loss = np.zeros(n), loss
                best[cols] = sol
    return best


@given(st.integers(0, 2**32 - 1), st.integers(1, 7))
def test_nnls_is_the_least_squares_non_negative_solution(seed, n):
    rng = np.random.default_rng(seed)
    a = np.abs(rng.standard_normal((3 * n + 5, n))) * rng.uniform(0.1, 1, n)
    b = a @ np.maximum(rng.standard_normal(n), 0) + 0.3 * rng.standard_normal(len(a))
    x = costmodel._nnls(a, b)
    assert (x >= 0).all()
    loss, best = ((a @ x - b) ** 2).sum(), ((a @ _nnls_by_subsets(a, b) - b) ** 2).sum()
    assert loss <= best * (1 + 1e-9) + 1e-12


def test_nnls_takes_more_terms_than_subsets_could():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, (80, 14))
    true = np.where(np.arange(14) % 3 == 0, 0.0, rng.uniform(0.5, 2, 14))
    np.testing.assert_allclose(costmodel._nnls(a, a @ true), true, atol=1e-9)


def _sig_problem(x, w, pads=((0, 0), (0, 0)), stride=(1, 1), groups=1, dtype="f"):
    return Problem.of(Signature(x, w, pads, stride, (1, 1), groups, dtype, 2, False))


def _terms(family, p):
    return dict(zip(costmodel.term_names(family), costmodel.features(family, p)))


def test_weight_terms_count_the_weights_whatever_the_image():
    small, large = (_sig_problem((1, 512, s, s), (512, 512, 3, 3), ((1, 1), (1, 1))) for s in (7, 56))
    for family in ("blocked_direct", "fourier", "winograd_transforms"):
        assert _terms(family, small)["weights"] == _terms(family, large)["weights"] == 512 * 512 * 9


def test_blocked_direct_sees_flattened_maps():
    """A 7x7 map with many channels per group runs as one long row (a
    fixed cost per call); a wide map or one channel per group does not."""
    narrow = _terms("blocked_direct", _sig_problem((1, 64, 7, 7), (64, 64, 3, 3)))
    wide = _terms("blocked_direct", _sig_problem((1, 64, 64, 64), (64, 64, 3, 3)))
    depthwise = _terms("blocked_direct", _sig_problem((1, 64, 7, 7), (64, 1, 3, 3), groups=64))
    assert narrow["flat_calls"] == 1 and wide["flat_calls"] == depthwise["flat_calls"] == 0
    assert narrow["block_taps"] == 8 * 64 * 9  # one row per block of 8 channels, not 5


def test_winograd_counts_its_blas_calls_only_with_channel_sums():
    layer = _terms("winograd_transforms", _sig_problem((1, 16, 30, 30), (16, 16, 3, 3)))
    depthwise = _terms("winograd_transforms", _sig_problem((1, 16, 30, 30), (16, 1, 3, 3), groups=16))
    assert layer["gemm_calls"] >= 16 and depthwise["gemm_calls"] == 0


def test_gemm_wakeups_only_above_the_serial_threshold():
    tiny = _terms("im2col_gemm", _sig_problem((1, 1, 8, 8), (1, 1, 3, 3)))
    layer = _terms("im2col_gemm", _sig_problem((1, 64, 56, 56), (64, 64, 3, 3)))
    threads = min(2, costmodel._CPUS)
    assert tiny["wakeups"] == 0 and layer["wakeups"] == (threads if threads > 1 else 0)


# -------------------------------------------------------------------- rules

def _problem(dtype="d", exact=False, groups=1):
    return Problem.of(Signature((1, groups, 20, 20), (groups, 1, 3, 3), ((1, 1), (1, 1)), (1, 1), (1, 1), groups,
                                dtype, 1, exact))


def test_exclusion_integer_inputs_and_inexact_rows(registry):
    registry("t_inexact", exact=False)
    registry("t_exact")
    why = rules.exclusion("t_inexact", _problem(exact=True))
    assert isinstance(why, Exclusion) and why.kind == "rule" and "integer inputs" in why.reason
    assert rules.exclusion("t_inexact", _problem(exact=False)) is None
    assert rules.exclusion("t_exact", _problem(exact=True)) is None
    assert rules.is_exact("t_exact") and not rules.is_exact("t_inexact") and not rules.is_exact("no such")


def test_exclusion_unavailable_dtype_and_rejected(registry):
    backends.register("t_broken", "fastconv_tests_no_such_module")
    try:
        why = rules.exclusion("t_broken", _problem())
        assert why.kind == "unavailable" and "ModuleNotFoundError" in why.reason
    finally:
        backends.unregister("t_broken")
    registry("t_f64", dtypes=("float64",))
    assert rules.exclusion("t_f64", _problem("d")) is None
    why = rules.exclusion("t_f64", _problem("f"))
    assert why.kind == "rule" and "float32" in why.reason
    why = rules.exclusion("t_f64", _problem("d"), rejected={"t_f64": "kernel refused"})
    assert why == Exclusion("values", "rule: kernel refused")


def test_exclusion_supports_and_ready_hooks(registry):
    module = types.ModuleType("fastconv_test_hooks")
    module.correlate = NAIVE.correlate
    module.supports = lambda p: None if p.groups == 1 else "groups unsupported"
    module.ready = lambda dtype, disk=True: dtype == "float64"
    registry("t_hooks", module)
    assert rules.exclusion("t_hooks", _problem()) is None
    why = rules.exclusion("t_hooks", _problem(groups=2))
    assert why == Exclusion("rule", "rule: groups unsupported")
    why = rules.exclusion("t_hooks", _problem("f"))
    assert why.kind == "not ready" and "fastconv.warm()" in why.reason
    assert rules.ready("t_hooks", "float64") and not rules.ready("t_hooks", "float32")


def test_from_times(registry):
    registry("t_exact_fast")
    registry("t_exact_slow")
    registry("t_inexact", exact=False)
    picky = types.ModuleType("fastconv_test_picky")
    picky.correlate = NAIVE.correlate
    picky.accepts = lambda w: None
    registry("t_picky", picky, exact=False)
    sig = Signature((1, 1, 20, 20), (1, 1, 3, 3), ((1, 1), (1, 1)), (1, 1), (1, 1), 1, "d", 1, False)
    times = {"t_exact_slow": 3.0, "t_exact_fast": 2.0, "t_inexact": 1.0, "t_picky": 0.5}
    assert rules.from_times(sig, "t_exact_fast", times) == Decision("t_exact_fast")
    assert rules.from_times(sig, "t_inexact", times) == Decision("t_inexact", "t_exact_fast")
    # an accepts hook: the decision for refused kernels is the runner-up's (with its own fallback)
    assert rules.from_times(sig, "t_picky", times) == Decision(
        "t_picky", "t_exact_fast", None, Decision("t_inexact", "t_exact_fast"))
    # no exact backend was timed: the preferred exact one that may run the problem
    d = rules.from_times(sig, "t_inexact", {"t_inexact": 1.0})
    assert d.backend == "t_inexact" and d.nonfinite == rules.preferred(Problem.of(sig))
    assert rules.is_exact(d.nonfinite)


# -------------------------------------------------------------------- state

def _sig_of(X, K):
    call = _args.corr2d_call(X, K)
    return decision.signature_of(call.x, call.w, call.geo, call.groups, call.exact), call


def test_import_export_forget_round_trip(isolated_wisdom):
    path = isolated_wisdom
    assert planner.wisdom_path() == str(path) and not path.exists()
    X, K = np.ones((11, 13)), np.ones((2, 3))
    sig, _ = _sig_of(X, K)
    terms = list(costmodel.term_names(backends.row("naive").family))
    coef = [float(i + 1) for i in range(len(terms))]
    default_coef = state.current().coef("naive", "float64")
    assert default_coef != tuple(coef)
    fastconv.import_wisdom({"format": 1, "model": {"naive": {"float64": {"terms": terms, "coef": coef}}},
                            "measured": [{"signature": sig.to_json(), "winner": "naive",
                                          "times": {"naive": 0.5, "gemm": 0.75}}]})
    st = state.current()
    assert st.coef("naive", "float64") == tuple(coef)
    assert st.measured[sig] == Decision("naive") and st.times[sig] == {"naive": 0.5, "gemm": 0.75}
    p = fastconv.plan(X, K)
    assert p.backend == "naive" and p.reason.startswith("measured") and p.measured == {"naive": 0.5, "gemm": 0.75}

    assert fastconv.export_wisdom() == str(path)
    doc = json.loads(path.read_text())
    assert doc["format"] == 1 and doc["model"]["naive"]["float64"]["coef"] == coef
    assert doc["measured"] == [{"signature": sig.to_json(), "winner": "naive", "times": {"naive": 0.5, "gemm": 0.75}}]
    assert "cython" in doc["model"]  # the defaults under it are kept

    fastconv.forget_wisdom()
    st = state.current()
    assert st.coef("naive", "float64") == default_coef and len(st.measured) == 0 and st.times == {}

    planner.reload_wisdom()  # as a new process: reads FASTCONV_WISDOM
    assert state.peek() is None
    st = state.current()
    assert st.source == str(path)
    assert st.coef("naive", "float64") == tuple(coef) and st.measured[sig].backend == "naive"

    other = path.parent / "other.json"
    assert fastconv.export_wisdom(str(other)) == str(other)
    fastconv.forget_wisdom()
    fastconv.import_wisdom(str(other))
    assert state.current().coef("naive", "float64") == tuple(coef)


def test_bad_wisdom(isolated_wisdom):
    isolated_wisdom.write_text("{not json")
    planner.reload_wisdom()
    with pytest.warns(UserWarning, match="ignoring wisdom file"):
        st = state.current()
    assert st.source.startswith("defaults")
    with pytest.raises(ValueError, match="not fastconv wisdom"):
        fastconv.import_wisdom({"format": 99})
    with pytest.raises(ValueError, match="must be a JSON object"):
        fastconv.import_wisdom({"format": 1, "model": []})


def test_measured_winner_that_is_not_registered_is_not_run(isolated_wisdom):
    """A wisdom file measured where a user backend was registered, read by a
    process that does not register it: auto must still run."""
    X, K = np.ones((11, 13)), np.ones((2, 3))
    sig, _ = _sig_of(X, K)
    isolated_wisdom.write_text(json.dumps({"format": 1, "model": {}, "measured": [
        {"signature": sig.to_json(), "winner": "not_registered_here", "times": {"not_registered_here": 1e-7}}]}))
    planner.reload_wisdom()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fastconv.corr2d(X, K)
    np.testing.assert_array_equal(result, fastconv.corr2d(X, K, backend="naive"))


def test_decision_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(state, "DECISION_CACHE_SIZE", 3)
    st = state.current()
    K = np.ones((2, 2))
    sigs = []
    for n in range(4, 10):
        X = np.ones((n, n + 1))
        fastconv.corr2d(X, K)
        sigs.append(_sig_of(X, K)[0])
        assert len(st.decisions) <= 3
    assert sigs[-1] in st.decisions and sigs[0] not in st.decisions
    assert fastconv.corr2d(np.ones((4, 5)), K).shape == (3, 4)  # an evicted decision is simply made again


def test_measure_cache_is_an_lru(monkeypatch):
    monkeypatch.setattr(state, "MEASURE_CACHE_SIZE", 2)
    st = state.current()
    K = np.ones((2, 2))
    cases = [np.ones((n, 7)) for n in (5, 6, 7)]
    (a, call_a), (b, _), (c, _) = (_sig_of(X, K) for X in cases)
    st.remember(a, Decision("naive"), {"naive": 1.0})
    st.remember(b, Decision("gemm"), {"gemm": 1.0})
    assert list(st.measured) == [a, b]
    sig, got = decision.lookup(call_a.x, call_a.w, call_a.geo, 1, False)  # a hit moves a to the end
    assert sig == a and got == Decision("naive")
    st.remember(c, Decision("naive"), {"naive": 2.0})
    assert list(st.measured) == [a, c] and set(st.times) == {a, c}


def test_registry_change_drops_cached_decisions(registry):
    st = state.current()
    X, K = np.ones((9, 9)), np.ones((3, 3))
    fastconv.corr2d(X, K)
    assert st.decisions
    st.coef("naive", "float64")
    registry("t_new")
    assert not st.decisions and not st._coef
