"""The planner end to end: rules, cost model, wisdom, measuring, plan/explain.

No timing assertions: measured times are stubbed where a test depends on
which backend is fastest; the model is steered with hand-made wisdom.
"""
import dataclasses
import json

import numpy as np
import pytest

import fastconv
from fastconv import backends, planner
from fastconv._geometry import Geometry
from fastconv.planner import costmodel as cm
from fastconv.planner import measure, rules, state
from fastconv.planner import wisdom as _wisdom
from fastconv.planner.signature import Problem, Signature

DTYPES = ("float32", "float64")
MODELLED = tuple(r.name for r in backends.rows() if r.family is not None)


def terms(name):
    return cm.term_names(backends.row(name).family)


def coefs(st):
    """Every (backend, dtype) -> fitted constants the state holds."""
    return {(name, dt): st.coef(name, dt) for name in backends.names() for dt in DTYPES if st.coef(name, dt)}


@pytest.fixture(autouse=True)
def isolated_wisdom(tmp_path, monkeypatch):
    """Each test: its own (absent) wisdom file, no forcing env, fresh state."""
    monkeypatch.setenv("FASTCONV_WISDOM", str(tmp_path / "wisdom.json"))
    monkeypatch.delenv("FASTCONV_BACKEND", raising=False)
    monkeypatch.delenv("FASTCONV_PLANNER", raising=False)
    planner.reload_wisdom()
    yield tmp_path
    planner.reload_wisdom()


def favouring(name, tiny_macs=0, overhead=1e-9):
    """Wisdom in which ``name`` costs ``overhead`` and every other backend over 1 s."""
    model = {}
    for backend in MODELLED:
        names = terms(backend)
        coef = [overhead] + [0.0] * (len(names) - 1) if backend == name else [1.0] * len(names)
        model[backend] = {dt: {"terms": list(names), "coef": coef} for dt in DTYPES}
    return {"format": 1, "fit_threads": 1, "tiny_macs": tiny_macs, "model": model, "measured": []}


def prepared(X, K, padding=0, stride=1, dilation=1):
    X = np.asarray(X)
    K = np.asarray(K)
    dtype = np.result_type(X, K, np.float32) if X.dtype.kind == "f" else np.float64
    geo = Geometry.from_args(X.shape, K.shape, padding, stride, dilation)
    return np.asarray(X, dtype)[None, None], np.ascontiguousarray(K, dtype)[None, None], geo


def assert_close(a, b, dtype):
    tol = 1e-4 if np.dtype(dtype) == np.float32 else 1e-10
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


needs_fft = pytest.mark.skipif(backends.load("fft") is None, reason="fft backend not available")
needs_cython = pytest.mark.skipif(backends.load("cython") is None, reason="cython backend not available")


# ------------------------------------------------------------------ rules

@needs_fft
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["x", "w"])
def test_non_finite_never_goes_to_fft(bad, where):
    fastconv.import_wisdom(favouring("fft"))
    rng = np.random.default_rng(0)
    X, K = rng.standard_normal((40, 50)), rng.standard_normal((5, 5))
    x, w, geo = prepared(X, K)
    assert planner.choose(x, w, geo, 1) == "fft"  # the model wants fft for finite inputs
    (X if where == "x" else K)[3, 4] = bad
    x, w, geo = prepared(X, K)
    assert planner.choose(x, w, geo, 1) != "fft"
    plan = fastconv.plan(X, K)
    assert plan.backend != "fft"
    assert "NaN" in plan.reason
    np.testing.assert_array_equal(np.isnan(fastconv.corr2d(X, K)), np.isnan(fastconv.corr2d(X, K, backend="naive")))


@needs_fft
@pytest.mark.parametrize("dtypes", [(np.int32, np.int64), (np.uint8, np.int16), (bool, np.int8)])
def test_integer_inputs_never_go_to_fft(dtypes):
    fastconv.import_wisdom(favouring("fft"))
    X = (np.arange(30 * 40) % 7).reshape(30, 40).astype(dtypes[0])
    K = np.array([[1, -1, 2], [0, 3, 1]]).astype(dtypes[1])
    plan = fastconv.plan(X, K)
    assert plan.backend != "fft"
    fft_row = next(c for c in plan.candidates if c.name == "fft")
    assert "integer" in fft_row.excluded
    expected = fastconv.corr2d(X, K, backend="naive")
    np.testing.assert_array_equal(fastconv.corr2d(X, K), expected)  # exact


@needs_fft
def test_float_kernel_on_integer_image_may_use_fft():
    fastconv.import_wisdom(favouring("fft"))
    X = np.arange(600, dtype=np.uint8).reshape(20, 30)
    assert fastconv.plan(X, np.full((3, 3), 1 / 9)).backend == "fft"


def test_forced_backend(monkeypatch):
    fastconv.import_wisdom(favouring("gemm" if backends.load("gemm") else "naive"))
    monkeypatch.setenv("FASTCONV_BACKEND", "naive")
    x, w, geo = prepared(np.ones((6, 8)), np.ones((1, 2)))
    assert planner.choose(x, w, geo, 1) == "naive"
    plan = fastconv.plan(np.ones((6, 8)), np.ones((1, 2)))
    assert (plan.backend, plan.reason) == ("naive", "forced by FASTCONV_BACKEND")


def test_forced_backend_auto_means_not_forced(monkeypatch):
    fastconv.import_wisdom(favouring("naive"))
    monkeypatch.setenv("FASTCONV_BACKEND", "auto")
    x, w, geo = prepared(np.ones((6, 8)), np.ones((1, 2)))
    assert planner.choose(x, w, geo, 1) == "naive"


def test_forced_unknown_backend_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FASTCONV_BACKEND", "cudnn")
    with pytest.raises(ValueError, match=r"FASTCONV_BACKEND='cudnn' is not a fastconv backend; known: naive"):
        fastconv.corr2d(np.ones((6, 8)), np.ones((1, 2)))


def test_forced_unavailable_backend_is_a_clear_error(monkeypatch):
    monkeypatch.delitem(backends._loaded, "gemm", raising=False)
    monkeypatch.setitem(backends._errors, "gemm", "ImportError: pretend")
    monkeypatch.setenv("FASTCONV_BACKEND", "gemm")
    with pytest.raises(ValueError, match="FASTCONV_BACKEND='gemm' is not available.*pretend"):
        fastconv.corr2d(np.ones((6, 8)), np.ones((1, 2)))


def test_unavailable_backend_is_skipped(monkeypatch):
    fastconv.import_wisdom(favouring("gemm"))
    monkeypatch.delitem(backends._loaded, "gemm", raising=False)
    monkeypatch.setitem(backends._errors, "gemm", "ImportError: pretend")
    X, K = np.ones((20, 20)), np.ones((3, 3))
    plan = fastconv.plan(X, K)
    assert plan.backend != "gemm"
    assert "pretend" in next(c for c in plan.candidates if c.name == "gemm").excluded
    assert_close(fastconv.corr2d(X, K), fastconv.corr2d(X, K, backend="naive"), "float64")


def test_cold_numba_is_skipped_until_warm(monkeypatch):
    if backends.load("numba") is None:
        pytest.skip("numba backend not available")
    fastconv.import_wisdom(favouring("numba"))
    warm = {"ready": False}
    real_ready = rules.ready
    monkeypatch.setattr(rules, "ready", lambda name, dtype, disk=True:
                        warm["ready"] if name == "numba" else real_ready(name, dtype, disk))
    x, w, geo = prepared(np.ones((20, 20)), np.ones((3, 3)))
    assert planner.choose(x, w, geo, 1) != "numba"
    assert "not compiled" in next(c for c in fastconv.plan(np.ones((20, 20)), np.ones((3, 3))).candidates
                                  if c.name == "numba").excluded
    warm["ready"] = True  # e.g. after fastconv.warm(): the cached decision is revisited
    assert planner.choose(x, w, geo, 1) == "numba"


@needs_cython
def test_tiny_problem_goes_to_least_overhead_backend():
    doc = favouring("gemm", overhead=1e-3)
    doc["model"]["cython"] = {dt: {"terms": list(terms("cython")),
                                   "coef": [1e-7] + [1.0] * (len(terms("cython")) - 1)} for dt in DTYPES}
    doc["tiny_macs"] = 10_000
    fastconv.import_wisdom(doc)
    plan = fastconv.plan(np.ones((6, 8)), np.ones((1, 2)))
    assert plan.backend == "cython"
    assert plan.reason.startswith("rule: tiny problem")
    # above the threshold the model decides (gemm is nearly free there)
    assert fastconv.plan(np.ones((200, 200)), np.ones((3, 3))).backend == "gemm"


def test_no_model_falls_back_to_preference_order():
    fastconv.import_wisdom({"format": 1, "model": {}, "measured": []})
    fastconv.forget_wisdom()
    state.current()._coef = {key: None for key in coefs(state.current())}
    plan = fastconv.plan(np.ones((6, 8)), np.ones((1, 2)))
    assert "preference order" in plan.reason
    assert plan.backend in backends.available_backends()


def test_bad_planner_env_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FASTCONV_PLANNER", "patient")
    with pytest.raises(ValueError, match="FASTCONV_PLANNER='patient' is not valid; accepted: estimate, measure"):
        fastconv.corr2d(np.ones((6, 8)), np.ones((1, 2)))


def test_decisions_are_cached_per_signature():
    fastconv.import_wisdom(favouring("naive"))
    x, w, geo = prepared(np.ones((6, 8)), np.ones((1, 2)))
    planner.choose(x, w, geo, 1)
    st = state.peek()
    assert len(st.decisions) == 1
    planner.choose(x, w, geo, 1)
    assert len(st.decisions) == 1
    x2, w2, geo2 = prepared(np.ones((6, 8)), np.ones((1, 2)), padding=1)
    planner.choose(x2, w2, geo2, 1)
    assert len(st.decisions) == 2


# ------------------------------------------------------------------ wisdom

def test_wisdom_export_import_forget_round_trip(isolated_wisdom):
    default_coef = coefs(state.current())
    doc = favouring("naive")
    fastconv.import_wisdom(doc)
    assert state.peek().coef("gemm", "float32")[0] == 1.0
    path = fastconv.export_wisdom()
    assert path == str(isolated_wisdom / "wisdom.json")
    saved = json.loads((isolated_wisdom / "wisdom.json").read_text())
    assert saved["model"]["naive"]["float64"]["coef"][0] == 1e-9

    fastconv.forget_wisdom()
    assert coefs(state.peek()) == default_coef
    planner.reload_wisdom()  # a new process: reads FASTCONV_WISDOM
    assert state.current().coef("gemm", "float32")[0] == 1.0
    fastconv.forget_wisdom()
    fastconv.import_wisdom(path)
    assert state.peek().coef("naive", "float64")[0] == 1e-9

    other = isolated_wisdom / "elsewhere" / "w.json"
    assert fastconv.export_wisdom(other) == str(other)
    assert _wisdom.read(other)["model"] == saved["model"]


def test_import_rejects_non_wisdom(tmp_path):
    with pytest.raises(ValueError, match="not fastconv wisdom"):
        fastconv.import_wisdom({"model": {}})
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 99}')
    with pytest.raises(ValueError, match="not fastconv wisdom"):
        fastconv.import_wisdom(bad)


def test_corrupt_wisdom_file_warns_and_is_ignored(isolated_wisdom):
    (isolated_wisdom / "wisdom.json").write_text("{not json")
    with pytest.warns(UserWarning, match="ignoring wisdom file"):
        result = fastconv.corr2d(np.ones((6, 8)), np.ones((1, 2)))
    np.testing.assert_array_equal(result, np.full((6, 7), 2.0))


def test_wisdom_with_other_terms_is_ignored_per_entry():
    doc = favouring("naive")
    doc["model"]["gemm"]["float32"]["terms"] = ["overhead", "something_else"]
    fastconv.import_wisdom(doc)
    assert state.peek().coef("gemm", "float32") is None
    assert state.peek().coef("gemm", "float64") is not None


def test_shipped_defaults_are_valid_and_name_the_machine():
    doc = _wisdom.read(_wisdom.DEFAULTS_PATH)
    for backend, per_dtype in doc["model"].items():
        for entry in per_dtype.values():
            assert tuple(entry["terms"]) == terms(backend)
            assert all(c >= 0 for c in entry["coef"])
    if doc["model"]:
        assert doc["machine"]["cpu"] and doc["fit_threads"] >= 1


# ------------------------------------------------------------------ measuring

@pytest.fixture
def fake_timer(monkeypatch):
    """time_call stub: counts calls, says naive is fastest."""
    calls = []

    def fake(fn, args, best=float("inf"), **kw):
        name = fn.__module__.rsplit(".", 1)[-1]
        calls.append(name)
        return 1e-6 if name == "naive" else 1e-3

    monkeypatch.setattr(measure, "time_call", fake)
    return calls


def test_measure_times_once_per_full_signature(fake_timer):
    X, K = np.ones((6, 8)), np.ones((1, 2))
    assert fastconv.corr2d(X, K, measure=True).shape == (6, 7)
    first = len(fake_timer)
    assert first >= 1
    fastconv.corr2d(X, K, measure=True)
    fastconv.corr2d(X + 1, K, measure=True)  # same signature, other values
    assert len(fake_timer) == first
    fastconv.corr2d(X, K, padding=1, measure=True)  # same shapes, other padding: new signature
    assert len(fake_timer) == 2 * first
    fastconv.corr2d(X.astype(np.float32), K.astype(np.float32), measure=True)  # other dtype
    assert len(fake_timer) == 3 * first
    plan = fastconv.plan(X, K)
    assert plan.backend == "naive"
    assert plan.reason.startswith("measured")
    assert plan.measured["naive"] == 1e-6


def test_measure_cache_is_capped_lru(fake_timer, monkeypatch):
    monkeypatch.setattr(state, "MEASURE_CACHE_SIZE", 3)
    K = np.ones((1, 2))
    for width in range(4, 10):
        fastconv.corr2d(np.ones((6, width)), K, measure=True)
    assert len(state.peek().measured) == 3
    assert len(state.peek().times) == 3
    n = len(fake_timer)
    fastconv.corr2d(np.ones((6, 9)), K, measure=True)  # most recent: still cached
    assert len(fake_timer) == n
    fastconv.corr2d(np.ones((6, 4)), K, measure=True)  # evicted: measured again
    assert len(fake_timer) > n


def test_planner_env_measures(fake_timer, monkeypatch):
    monkeypatch.setenv("FASTCONV_PLANNER", "measure")
    fastconv.corr2d(np.ones((6, 8)), np.ones((1, 2)))
    assert fake_timer
    n = len(fake_timer)
    fastconv.corr2d(np.ones((6, 8)), np.ones((1, 2)), measure=False)
    fastconv.corr2d(np.ones((7, 8)), np.ones((1, 2)), measure=False)  # explicit False wins over the env
    assert len(fake_timer) == n


def test_measured_winners_are_saved_into_wisdom(fake_timer, isolated_wisdom):
    fastconv.corr2d(np.ones((6, 8)), np.ones((1, 2)), measure=True)
    n = len(fake_timer)
    fastconv.export_wisdom()
    planner.reload_wisdom()  # a new process
    plan = fastconv.plan(np.ones((6, 8)), np.ones((1, 2)))
    assert (plan.backend, plan.reason[:8]) == ("naive", "measured")
    fastconv.corr2d(np.ones((6, 8)), np.ones((1, 2)), measure=True)
    assert len(fake_timer) == n  # not measured again
    fastconv.forget_wisdom()
    assert not state.peek().measured


def test_measure_really_times_and_matches_oracle():
    rng = np.random.default_rng(1)
    X, K = rng.standard_normal((33, 47)), rng.standard_normal((4, 3))
    got = fastconv.corr2d(X, K, padding="same", measure=True)
    assert_close(got, fastconv.corr2d(X, K, padding="same", backend="naive"), "float64")
    plan = fastconv.plan(X, K, padding="same")
    assert plan.measured and plan.backend == min(plan.measured, key=plan.measured.get)


# ------------------------------------------------------------------ explain

def test_plan_is_a_small_frozen_result():
    plan = fastconv.plan(np.ones((6, 8)), np.ones((1, 2)))
    assert fastconv.explain is fastconv.plan
    assert plan.backend in backends.available_backends()
    assert isinstance(plan.reason, str) and plan.reason
    assert [c.name for c in plan.candidates] == list(backends.names())
    assert set(plan.predicted) <= set(backends.names())
    assert plan.signature["x"] == [1, 1, 6, 8] and plan.signature["w"] == [1, 1, 1, 2]
    assert plan.signature["dtype"] == "float64"
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.backend = "naive"
    text = str(plan)
    assert f"backend: {plan.backend}" in text and "predicted" in text


@pytest.fixture
def ran(monkeypatch):
    """The names of the backends the engine fetches to run, in order."""
    names = []
    original = backends.get

    def spy(name):
        names.append(name)
        return original(name)

    monkeypatch.setattr(backends, "get", spy)
    return names


def test_plan_matches_what_corr2d_runs(ran):
    rng = np.random.default_rng(2)
    for shape, k in [((6, 8), (1, 2)), ((64, 64), (3, 3)), ((300, 200), (15, 15))]:
        X, K = rng.standard_normal(shape), rng.standard_normal(k)
        expected = fastconv.plan(X, K).backend
        ran.clear()
        fastconv.corr2d(X, K)
        assert ran[-1] == expected


CALLS = [  # (X shape, X dtype, K shape, K dtype, keyword arguments); conv2d for a 4-D K
    ((5, 40, 30), "float32", (3, 3), "float64", {}),                      # a stack
    ((40, 30, 3), "uint8", (3, 5, 5), "float64", dict(axes=(0, 1), padding="same")),  # colour, per channel
    ((33, 47), "complex128", (4, 3), "float64", dict(padding=2, mode="reflect")),
    ((33, 47), "float64", (3, 3), "complex64", dict(padding="same", cval=0.0)),
    ((64, 64), "float64", (3, 3), "float64", dict(dtype=np.float32)),
    ((400, 9), "float64", (1, 1), "float64", dict(stride=3)),            # canonical: subsampled
    ((2, 16, 30, 30), "float32", (8, 16, 1, 1), "float32", dict(stride=2)),
    ((2, 8, 20, 20), "float64", (8, 1, 3, 3), "float64", dict(padding=1, groups=8)),
]


@pytest.mark.parametrize("xs, xdt, ks, kdt, kw", CALLS)
def test_plan_names_what_every_kind_of_call_runs(ran, xs, xdt, ks, kdt, kw):
    """Stacks, channels-last images with per-channel kernels, complex
    operands, a dtype, canonical (subsampled) problems, conv2d layers: plan()
    names the backend the call then runs."""
    rng = np.random.default_rng(len(xs))
    X = (rng.standard_normal(xs) * 50 + 100).astype(xdt) if np.dtype(xdt).kind != "c" else \
        (rng.standard_normal(xs) + 1j * rng.standard_normal(xs)).astype(xdt)
    K = rng.standard_normal(ks).astype(kdt) if np.dtype(kdt).kind != "c" else \
        (rng.standard_normal(ks) + 1j * rng.standard_normal(ks)).astype(kdt)
    expected = fastconv.plan(X, K, **kw).backend
    ran.clear()
    (fastconv.conv2d if len(ks) == 4 else fastconv.corr2d)(X, K, **kw)
    assert ran and set(ran) == {expected}


def test_plan_refuses_corr2d_arguments_with_a_conv2d_weight_and_groups_without():
    with pytest.raises(ValueError, match="axes and dtype are corr2d's arguments"):
        fastconv.plan(np.ones((1, 2, 8, 8)), np.ones((3, 2, 3, 3)), dtype=np.float32)
    with pytest.raises(ValueError, match="groups=2 applies to a conv2d weight"):
        fastconv.plan(np.ones((2, 8, 8)), np.ones((3, 3)), groups=2)


def test_plan_takes_conv2d_shaped_inputs():
    x = np.ones((2, 4, 10, 10), np.float32)
    w = np.ones((6, 2, 3, 3), np.float32)
    plan = fastconv.plan(x, w, padding=1, stride=2, groups=2)
    assert plan.signature["x"] == [2, 4, 10, 10]
    assert plan.signature["groups"] == 2 and plan.signature["dtype"] == "float32"
    # The canonical problem (what the engine hands the planner): stride 2
    # never reads the trailing padding row/column.
    assert plan.signature["pads"] == [[1, 0], [1, 0]] and plan.signature["stride"] == [2, 2]


def test_plan_checks_arguments_like_corr2d():
    with pytest.raises(ValueError, match="unknown mode"):
        fastconv.plan(np.ones((6, 8)), np.ones((1, 2)), mode="bogus")
    with pytest.raises(ValueError, match="larger than the padded input"):
        fastconv.plan(np.ones((2, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="unknown backend"):
        fastconv.plan(np.ones((6, 8)), np.ones((1, 2)), backend="cudnn")


# ------------------------------------------------------------------ auto vs oracle

CASES = [
    ((6, 8), (1, 2), {}),
    ((3, 3), (2, 2), {"padding": 1, "stride": (3, 2)}),
    ((31, 17), (4, 5), {"padding": "same"}),
    ((40, 64), (3, 3), {"stride": 2, "dilation": 2}),
    ((64, 48), (9, 9), {"padding": "full", "mode": "reflect"}),
    ((25, 90), (1, 7), {"padding": ((0, 0), (3, 3)), "mode": "wrap"}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kshape,kwargs", CASES)
def test_auto_equals_oracle(shape, kshape, kwargs, dtype):
    rng = np.random.default_rng(3)
    X = rng.standard_normal(shape).astype(dtype)
    K = rng.standard_normal(kshape).astype(dtype)
    assert_close(fastconv.corr2d(X, K, **kwargs), fastconv.corr2d(X, K, backend="naive", **kwargs), dtype)


@pytest.mark.parametrize("favoured", sorted(MODELLED))
def test_auto_equals_oracle_whichever_backend_the_model_favours(favoured):
    if backends.load(favoured) is None:
        pytest.skip(f"{favoured} not available")
    fastconv.import_wisdom(favouring(favoured))
    rng = np.random.default_rng(4)
    X, K = rng.standard_normal((23, 29)), rng.standard_normal((3, 4))
    assert_close(fastconv.corr2d(X, K, padding=1), fastconv.corr2d(X, K, padding=1, backend="naive"), "float64")


def test_auto_conv2d_equals_oracle():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 12, 12))
    w = rng.standard_normal((6, 2, 3, 3))
    assert_close(fastconv.conv2d(x, w, padding=1, groups=2),
                 fastconv.conv2d(x, w, padding=1, groups=2, backend="naive"), "float64")


# ------------------------------------------------------------------ the model

def test_fit_recovers_known_constants():
    rng = np.random.default_rng(6)
    features = np.column_stack([np.ones(40), rng.uniform(1e3, 1e8, 40), rng.uniform(1e2, 1e6, 40)])
    truth = np.array([5e-6, 2e-10, 3e-9])
    coef = cm.fit(features, features @ truth)
    np.testing.assert_allclose(coef, truth, rtol=1e-6)


def test_fit_never_returns_negative_constants():
    rng = np.random.default_rng(7)
    features = np.column_stack([np.ones(30), rng.uniform(1, 1e6, 30), rng.uniform(1, 1e6, 30)])
    times = features @ np.array([1e-5, 1e-9, 0.0]) * rng.uniform(0.8, 1.2, 30)
    assert (cm.fit(features, times) >= 0).all()


def test_every_modelled_backend_has_named_terms():
    geo = Geometry.from_args((30, 40), (3, 5), 1, 2, 1)
    p = Problem.of(Signature((2, 4, 30, 40), (6, 2, 3, 5), geo.pads, geo.stride, geo.dilation, 2, "f", 2, False))
    for backend in MODELLED:
        f = cm.features(backends.row(backend).family, p, 2)
        assert len(f) == len(terms(backend)) and f[0] == 1.0
        assert all(v >= 0 for v in f)


# ------------------------------------------------------------------ separable

needs_separable = pytest.mark.skipif(backends.load("separable") is None, reason="separable backend not available")
RANK1 = np.outer([1.0, 2.0, 1.0], [1.0, 0.0, -1.0, 3.0])


@needs_separable
def test_separable_only_for_rank_1_kernels():
    doc = favouring("separable")
    doc["model"]["gemm"] = {dt: {"terms": list(terms("gemm")),
                                 "coef": [1e-6] + [0.0] * (len(terms("gemm")) - 1)} for dt in DTYPES}
    fastconv.import_wisdom(doc)
    rng = np.random.default_rng(8)
    X = rng.standard_normal((30, 40))
    assert fastconv.plan(X, RANK1).backend == "separable"
    K = RANK1.copy()
    K[0, 0] += 1.0  # rank 2 now; same signature
    plan = fastconv.plan(X, K)
    assert plan.backend == "gemm" and "not rank 1" in plan.reason
    x, w, geo = prepared(X, K)
    assert planner.choose(x, w, geo, 1) == "gemm"
    assert_close(fastconv.corr2d(X, K), fastconv.corr2d(X, K, backend="naive"), "float64")
    assert_close(fastconv.corr2d(X, RANK1), fastconv.corr2d(X, RANK1, backend="naive"), "float64")


@needs_separable
def test_separable_never_for_integers_nan_or_channel_sums():
    fastconv.import_wisdom(favouring("separable"))
    assert fastconv.plan(RANK1.astype(int), RANK1.astype(int)).backend != "separable"
    X = np.ones((30, 40))
    X[5, 5] = np.nan
    assert fastconv.plan(X, RANK1).backend != "separable"
    w = np.ones((4, 2, 3, 3))  # two input channels per output: not two 1-D passes
    plan = fastconv.plan(np.ones((1, 2, 10, 10)), w)
    assert plan.backend != "separable"
    assert "one input channel per output" in next(c for c in plan.candidates if c.name == "separable").excluded
