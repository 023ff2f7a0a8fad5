"""Calibration (fastconv.planner.calibration): probe times measured on this
machine carry constants fitted elsewhere, term by term; auto calibrates once
(announced, saved) only when the constants came from another machine."""
import json
import warnings

import numpy as np
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


def _doc_of(entries, here):
    """A wisdom document: {(backend, dtype): fit-time probe calibration} entries, ``here`` in force."""
    model = {}
    for (backend, dtype), fitted in entries.items():
        terms = list(costmodel.term_names("direct"))
        model.setdefault(backend, {})[dtype] = {"terms": terms, "coef": [1e-6] + [1e-11] * (len(terms) - 1),
                                                "probe": calibration.reference_probe(fitted, backend, dtype)}
    return {"format": 1, "fit_threads": 1, "model": model, "measured": [], "calibration": here}


def _cal_of(per_backend, copy=1.0, cpu="elsewhere"):
    """A calibration: {backend: (overhead, work)} seconds, float64 only."""
    return {"machine": {"cpu": cpu, "cpus": 1}, "date": "", "copy": copy,
            "probes": {b: {"float64": {"overhead": o, "work": w, "work_probe": 0}} for b, (o, w) in per_backend.items()}}


NAMES = ("cython", "numba", "gemm", "fft")


def test_ratios_machine_speed_and_real_deviations():
    fitted = _cal_of({b: (1.0, 1.0) for b in NAMES}, copy=1.0)
    # everything 2x slower, numba's kernel 3x more (beyond noise), gemm's 10% (noise)
    here = _cal_of({"cython": (2.0, 2.0), "numba": (2.0, 6.0), "gemm": (2.0, 2.2), "fft": (4.0, 2.0)}, copy=3.0)
    doc = _doc_of({(b, "float64"): fitted for b in NAMES}, here)
    r = calibration.ratios(doc)
    median_work = float(np.median([2.0, 6.0, 2.2, 2.0]))
    assert r["cython", "float64"] == pytest.approx((2.0, median_work, 3.0))  # overhead: the median of 2, 2, 2, 4
    assert r["numba", "float64"] == pytest.approx((2.0, 6.0, 3.0))
    assert r["gemm", "float64"] == pytest.approx((2.0, median_work, 3.0))
    terms = costmodel.term_names("direct")
    scale = dict(zip(terms, calibration.scales(terms, r["numba", "float64"])))
    assert scale["overhead"] == 2.0 and scale["macs"] == pytest.approx(6.0) and scale["elements"] == 3.0
    assert calibration.scales(terms, None) == (1.0,) * len(terms)


def test_ratios_need_comparable_probes():
    fitted = _cal_of({"cython": (1.0, 1.0)})
    assert calibration.ratios(_doc_of({("cython", "float64"): fitted}, None)) == {}
    assert calibration.ratios(_doc_of({("cython", "float64"): fitted}, _cal_of({"numba": (2.0, 2.0)}))) == {}
    other_probe = _cal_of({"cython": (2.0, 2.0)})
    other_probe["probes"]["cython"]["float64"]["work_probe"] = 1
    assert calibration.ratios(_doc_of({("cython", "float64"): fitted}, other_probe)) == {}


def test_ratios_clamp_measuring_accidents():
    doc = _doc_of({("cython", "float64"): _cal_of({"cython": (1.0, 1.0)})}, _cal_of({"cython": (1e6, 1e-6)}))
    over, work, _ = calibration.ratios(doc)["cython", "float64"]
    assert (over, work) == (calibration._RATIO_LIMIT, 1 / calibration._RATIO_LIMIT)


def _doc(here):
    doc = _doc_of({("cython", "float64"): _cal_of({"cython": (1.0, 2.0)}, copy=4.0)}, here)
    return doc, doc["model"]["cython"]["float64"]["coef"]


def test_state_rescales_the_constants_it_ranks_with():
    doc, coef = _doc(_cal_of({"cython": (3.0, 1.0)}, copy=2.0))
    st = state.State(doc, "test")
    terms = costmodel.term_names("direct")
    expect = [c * (3.0 if t == "overhead" else 0.5) for t, c in zip(terms, coef)]
    assert st.coef("cython", "float64") == pytest.approx(expect)
    st.set_calibration(_cal_of({"cython": (1.0, 2.0)}, copy=4.0))  # the fit machine's own probes: as fitted
    assert st.coef("cython", "float64") == pytest.approx(coef)


def test_needed_only_for_probed_constants_from_another_machine(monkeypatch):
    doc, _ = _doc(_cal_of({"cython": (1.0, 2.0)}))
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
    monkeypatch.setattr(calibration, "measure", lambda: _cal_of({"cython": (1.0, 2.0)}, cpu="here"))
    doc, _ = _doc(_cal_of({"cython": (1.0, 2.0)}))
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
    doc, _ = _doc(dict(_cal_of({"cython": (1.0, 2.0)}), machine=calibration.machine_key()))
    st = state.install(state.State(doc, "test"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decision.decide(st, _sig(), None)


def test_public_calibrate_saves_and_ranks_with_it(isolated_wisdom, monkeypatch):
    monkeypatch.setattr(calibration, "measure", lambda: _cal_of({"cython": (3.0, 1.0)}, cpu="here"))
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
    doc = {"format": 1, "calibration": dict(_cal_of({"cython": (1.0, 1.0)}), **{field: value})}
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
