"""Calibration (fastconv.planner.calibration): probe times measured on this
machine carry constants fitted elsewhere, term by term; auto calibrates once
(announced, saved) only when the constants came from another machine."""
import json
import warnings

import pytest

import fastconv
from fastconv import backends, planner, settings
from fastconv.planner import calibration, costmodel, decision, state, wisdom
from fastconv.planner.signature import Signature


@pytest.fixture(autouse=True)
def isolated_wisdom(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTCONV_WISDOM", str(tmp_path / "wisdom.json"))
    monkeypatch.delenv("FASTCONV_CALIBRATE", raising=False)
    planner.reload_wisdom()
    yield tmp_path / "wisdom.json"
    planner.reload_wisdom()


def _modelled():
    return [r.name for r in backends.rows() if r.family is not None and r.measure_limit is None and r.load()]


def test_measure_probes_every_modelled_backend_on_one_thread(monkeypatch):
    seen = []
    real = calibration.time_call

    def spy(fn, args, **kw):
        seen.append(settings.get_threads())
        return real(fn, args, **kw)

    monkeypatch.setattr(calibration, "time_call", spy)
    before = settings.get_threads()
    cal = calibration.measure(rounds=1)
    assert settings.get_threads() == before and set(seen) == {1}
    assert cal["machine"] == calibration.machine_key() and cal["copy"] > 0
    ready = {r for r in _modelled() if all(planner.rules.ready(r, d) for d in ("float32", "float64"))}
    assert ready <= set(cal["probes"])
    for per_dtype in cal["probes"].values():
        for probe in per_dtype.values():
            assert 0 < probe["overhead"] and 0 < probe["work"]
            assert probe["work_probe"] in range(len(calibration.WORK_PROBES))
    wisdom.validate({"format": 1, "calibration": cal})


def _cal(overhead, work, copy, work_probe=0, cpu="elsewhere"):
    return {"machine": {"cpu": cpu, "cpus": 1}, "date": "", "copy": copy,
            "probes": {"cython": {"float64": {"overhead": overhead, "work": work, "work_probe": work_probe}}}}


def test_scales_by_term_class():
    terms = costmodel.term_names("direct")
    ref = calibration.reference_probe(_cal(1.0, 2.0, 4.0), "cython", "float64")
    here = _cal(3.0, 1.0, 2.0)
    scale = calibration.scales(terms, ref, here, "cython", "float64")
    expect = [3.0 if t == "overhead" else 0.5 if t in costmodel.MEMORY_TERMS else 0.5 for t in terms]
    assert scale == pytest.approx(expect)
    assert dict(zip(terms, scale))["macs"] == pytest.approx(0.5)


def test_scales_are_one_without_a_comparable_probe():
    terms = costmodel.term_names("direct")
    ref = calibration.reference_probe(_cal(1.0, 2.0, 4.0), "cython", "float64")
    ones = (1.0,) * len(terms)
    assert calibration.scales(terms, None, _cal(3.0, 1.0, 2.0), "cython", "float64") == ones
    assert calibration.scales(terms, ref, None, "cython", "float64") == ones
    assert calibration.scales(terms, ref, _cal(3.0, 1.0, 2.0), "numba", "float64") == ones
    assert calibration.scales(terms, ref, _cal(3.0, 1.0, 2.0, work_probe=1), "cython", "float64") == ones


def test_scales_clamp_measuring_accidents():
    ref = calibration.reference_probe(_cal(1.0, 1.0, 1.0), "cython", "float64")
    scale = calibration.scales(("overhead", "macs"), ref, _cal(1e6, 1e-6, 1.0), "cython", "float64")
    assert scale == (calibration._RATIO_LIMIT, 1 / calibration._RATIO_LIMIT)


def _doc(here):
    terms = list(costmodel.term_names("direct"))
    coef = [1e-6] + [1e-11] * (len(terms) - 1)
    entry = {"terms": terms, "coef": coef, "probe": calibration.reference_probe(_cal(1.0, 2.0, 4.0), "cython", "float64")}
    return {"format": 1, "fit_threads": 1, "model": {"cython": {"float64": entry}}, "measured": [],
            "calibration": here}, coef


def test_state_rescales_the_constants_it_ranks_with():
    doc, coef = _doc(_cal(3.0, 1.0, 2.0))
    st = state.State(doc, "test")
    terms = costmodel.term_names("direct")
    expect = [c * (3.0 if t == "overhead" else 0.5) for t, c in zip(terms, coef)]
    assert st.coef("cython", "float64") == pytest.approx(expect)
    st.set_calibration(_cal(1.0, 2.0, 4.0))  # the fit machine's own probes: the constants as fitted
    assert st.coef("cython", "float64") == pytest.approx(coef)


def test_needed_only_for_probed_constants_from_another_machine(monkeypatch):
    doc, _ = _doc(_cal(1.0, 2.0, 4.0))
    assert calibration.needed(doc)
    doc["calibration"]["machine"] = calibration.machine_key()
    assert not calibration.needed(doc)
    doc["calibration"] = None
    assert calibration.needed(doc)
    monkeypatch.setenv("FASTCONV_CALIBRATE", "0")
    assert not calibration.needed(doc)
    monkeypatch.setenv("FASTCONV_CALIBRATE", "1")
    del doc["model"]["cython"]["float64"]["probe"]
    assert not calibration.needed(doc)


def test_calibrate_setting_is_checked(monkeypatch):
    monkeypatch.setenv("FASTCONV_CALIBRATE", "yes")
    with pytest.raises(ValueError, match="FASTCONV_CALIBRATE='yes'.*0 or 1"):
        settings.auto_calibrate()


def _sig():
    return Signature((1, 1, 32, 32), (1, 1, 3, 3), ((0, 0), (0, 0)), (1, 1), (1, 1), 1, "d", 1, False)


def test_auto_calibrates_once_announced_and_saved(isolated_wisdom, monkeypatch):
    monkeypatch.setattr(calibration, "measure", lambda: _cal(1.0, 2.0, 4.0, cpu="here"))
    doc, _ = _doc(_cal(1.0, 2.0, 4.0))
    st = state.install(state.State(doc, "test"))
    with pytest.warns(calibration.CalibrationWarning, match="once; saved to"):
        decision.decide(st, _sig(), None)
    assert st.calibration["machine"]["cpu"] == "here"
    assert json.loads(isolated_wisdom.read_text())["calibration"]["machine"]["cpu"] == "here"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decision.decide(st, _sig()._replace(x=(1, 1, 33, 33)), None)


def test_no_calibration_for_constants_fitted_here(monkeypatch):
    def fail():
        raise AssertionError("calibrated")

    monkeypatch.setattr(calibration, "measure", fail)
    doc, _ = _doc(dict(_cal(1.0, 2.0, 4.0), machine=calibration.machine_key()))
    st = state.install(state.State(doc, "test"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decision.decide(st, _sig(), None)


def test_public_calibrate_saves_and_ranks_with_it(isolated_wisdom, monkeypatch):
    monkeypatch.setattr(calibration, "measure", lambda: _cal(3.0, 1.0, 2.0, cpu="here"))
    cal = fastconv.calibrate()
    assert state.current().calibration == cal
    assert json.loads(isolated_wisdom.read_text())["calibration"] == cal
    planner.reload_wisdom()
    assert state.current().calibration == cal  # read back from the user's file


@pytest.mark.parametrize("field, value, where", [
    ("copy", -1.0, "calibration.copy"),
    ("probes", {"cython": {"float64": {"overhead": "fast", "work": 1.0, "work_probe": 0}}},
     "calibration.probes.cython.float64.overhead"),
    ("machine", 3, "calibration.machine"),
])
def test_bad_calibration_fields_are_named(field, value, where):
    doc = {"format": 1, "calibration": dict(_cal(1.0, 1.0, 1.0), **{field: value})}
    with pytest.raises(wisdom.WisdomError, match=where.replace(".", r"\.")):
        wisdom.validate(doc)


def test_threads_limited_restores_the_setting():
    settings.set_threads(2)
    try:
        with settings.threads_limited(1):
            assert settings.get_threads() == 1
        assert settings.get_threads() == min(2, settings.get_threads())
        assert settings._threads == 2
    finally:
        settings.set_threads(None)
    with pytest.raises(ValueError, match="threads"):
        with settings.threads_limited(0):
            pass
