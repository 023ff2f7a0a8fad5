"""Regression tests for issue 13's findings about the wisdom file and shared
state (9-16), one test per finding, named after it."""
import json
import os
import re
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

import fastconv
from fastconv import planner
from fastconv.backends import fft
from fastconv.planner import state
from fastconv.planner import wisdom as _wisdom

X = np.random.default_rng(0).standard_normal((40, 40))
K = np.ones((3, 3))


@pytest.fixture
def wisdom_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTCONV_WISDOM", str(tmp_path / "wisdom.json"))
    monkeypatch.delenv("FASTCONV_BACKEND", raising=False)
    monkeypatch.delenv("FASTCONV_PLANNER", raising=False)
    planner.reload_wisdom()
    yield tmp_path / "wisdom.json"
    planner.reload_wisdom()


def _entry(i, winner="cython"):
    sig = {"x": [1, 1, 30 + i, 30], "w": [1, 1, 3, 3], "pads": [[0, 0], [0, 0]], "stride": [1, 1],
           "dilation": [1, 1], "groups": 1, "dtype": "float64", "threads": 1, "exact": False}
    return {"signature": sig, "winner": winner, "times": {winner: 1e-4}}


def _doc(**fields):
    doc = {"format": 1, "model": {}, "measured": []}
    doc.update(fields)
    return doc


def _defaults_model():
    return json.loads(_wisdom.DEFAULTS_PATH.read_text())["model"]


BAD_DOCS = {
    "model entry is a string": (_doc(model={"cython": "fast"}), "model.cython"),
    "coefficient not a number": (_doc(model={"cython": {"float64": {"terms": ["overhead"], "coef": ["1"]}}}),
                                 "model.cython.float64.coef[0]"),
    "negative constant": (_doc(model={"naive": {"float64": {"terms": ["overhead"], "coef": [-1.0]}}}),
                          "model.naive.float64.coef[0]"),
    "threshold not a number": (_doc(tiny_macs="many"), "tiny_macs"),
    "fit_threads a bool": (_doc(fit_threads=True), "fit_threads"),
    "winner not a name": (_doc(measured=[dict(_entry(0), winner=3)]), "measured[0].winner"),
    "malformed times": (_doc(measured=[dict(_entry(0), times={"cython": "slow"})]), "measured[0].times.cython"),
    "malformed signature": (_doc(measured=[dict(_entry(0), signature={"x": [1, 2]})]), "measured[0].signature.x"),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCS))
def test_finding_09_wisdom_validated_field_by_field(wisdom_file, case):
    doc, field = BAD_DOCS[case]
    wisdom_file.write_text(json.dumps(doc))
    with pytest.warns(UserWarning, match=f"ignoring wisdom file .*field {re.escape(field)}:"):
        st = state.current()
    assert st.source.startswith("defaults")
    np.testing.assert_allclose(fastconv.corr2d(X, K), fastconv.corr2d(X, K, backend="naive"))
    with pytest.raises(ValueError, match="field"):
        fastconv.import_wisdom(doc)


def test_finding_09_deeply_nested_and_unknown_winner(wisdom_file):
    wisdom_file.write_text("[" * 100000 + "]" * 100000)
    with pytest.warns(UserWarning, match="not valid JSON"):
        assert state.current().source.startswith("defaults")
    # A winner this process does not know is valid (kept aside, not run).
    wisdom_file.write_text(json.dumps(_doc(measured=[_entry(0, winner="not_registered")])))
    planner.reload_wisdom()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(fastconv.corr2d(X, K), fastconv.corr2d(X, K, backend="naive"))


def test_finding_10_export_from_threads_and_readers(wisdom_file):
    fastconv.import_wisdom(_doc(measured=[_entry(i) for i in range(20)]))
    errors, bad_reads, stop = [], [], threading.Event()

    def export():
        try:
            for _ in range(25):
                fastconv.export_wisdom()
        except Exception as exc:  # noqa: BLE001 - any failure is the finding
            errors.append(exc)

    def read():
        while not stop.is_set():
            if wisdom_file.exists():
                try:
                    json.loads(wisdom_file.read_text())
                except ValueError as exc:
                    bad_reads.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=export) for _ in range(8)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    reader.join()
    assert errors == [] and bad_reads == []
    assert len(_wisdom.read(wisdom_file)["measured"]) == 20
    assert [p.name for p in wisdom_file.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_finding_11_export_while_measuring(wisdom_file):
    errors = []

    def measure(seed):
        rng = np.random.default_rng(seed)
        try:
            for i in range(15):
                x = rng.standard_normal((8 + i, 9 + seed))
                fastconv.corr2d(x, np.ones((2, 2)), measure=True)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    def export():
        try:
            for _ in range(40):
                fastconv.export_wisdom()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=measure, args=(s,)) for s in range(2)] + [threading.Thread(target=export)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


_EXPORTER = """
import json, sys
import fastconv
start = int(sys.argv[1])
entries = json.loads(sys.argv[2])
for i, e in enumerate(entries):
    fastconv.import_wisdom({"format": 1, "model": {}, "measured": [e]})
    fastconv.export_wisdom()
"""


def test_finding_12_two_processes_merge(wisdom_file):
    env = dict(os.environ, FASTCONV_WISDOM=str(wisdom_file))
    procs = [subprocess.Popen([sys.executable, "-c", _EXPORTER, str(p),
                               json.dumps([_entry(30 * p + i) for i in range(30)])], env=env)
             for p in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    heights = sorted(e["signature"]["x"][2] for e in _wisdom.read(wisdom_file)["measured"])
    assert heights == list(range(30, 90))


def test_finding_13_tune_output_keeps_measured_winners(tmp_path, monkeypatch):
    from fastconv.tools import tune

    out = tmp_path / "tuned.json"
    _wisdom.write(_doc(measured=[_entry(i) for i in range(5)]), out)
    fitted = {"format": 1, "model": _defaults_model(), "measured": []}
    # tune writes its fitted document through wisdom.write: measured winners stay.
    _wisdom.write(fitted, out)
    doc = _wisdom.read(out)
    assert len(doc["measured"]) == 5 and doc["model"] == fitted["model"]
    # ... and checks the output before it spends minutes timing.
    monkeypatch.setattr(tune, "time_cases", lambda *a, **k: pytest.fail("timed before checking the output"))
    with pytest.raises(ValueError, match="is a directory"):
        tune.tune(output=str(tmp_path))


@pytest.mark.parametrize("bad", [True, 1, 0, 2.5, None, b"path"])
def test_finding_14_import_wisdom_takes_paths_and_dicts_only(bad):
    with pytest.raises(TypeError, match="a path .* or a dict"):
        fastconv.import_wisdom(bad)
    os.fstat(1)  # stdout is still open


def test_finding_15_temp_files_symlinks_and_cleanup(wisdom_file, tmp_path, monkeypatch):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    # The old predictable temp name, planted as a link: never written through.
    os.symlink(victim, wisdom_file.with_name(wisdom_file.name + f".tmp{os.getpid()}"))
    fastconv.export_wisdom()
    assert victim.read_text() == "keep me" and _wisdom.read(wisdom_file)
    # A directory as the wisdom path: refused, nothing created next to it.
    before = set(os.listdir(tmp_path.parent))
    with pytest.raises(ValueError, match="is a directory"):
        fastconv.export_wisdom(str(tmp_path))
    assert set(os.listdir(tmp_path.parent)) == before
    # A failed write leaves no temp file behind and the old file intact.
    old = wisdom_file.read_text()
    monkeypatch.setattr(_wisdom.json, "dump", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        fastconv.export_wisdom()
    assert wisdom_file.read_text() == old
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_finding_16_fft_cache_keeps_a_running_total():
    fft.clear_cache()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 1, 64, 64))
    out = np.empty((1, 1, 62, 62))
    for _ in range(300):
        fft.correlate(x, rng.standard_normal((1, 1, 3, 3)), out, (1, 1), (1, 1), 1)
    assert fft._cache.nbytes == sum(v.nbytes for v in fft._cache.values()) <= fft._cache.max_bytes
    fft.clear_cache()
    assert fft._cache.nbytes == 0
