"""The layer section of ``python -m fastconv bench``: its float64
reference against fastconv's oracle, the gate, the case names and thread
variants, and one real (tiny) run through the table and JSON. Nothing
here depends on how fast anything runs."""
import io
import json

import numpy as np
import pytest

import fastconv
from fastconv.tools import bench
from fastconv.tools.layer_cases import LAYER_CASES, LAYER_QUICK, LayerCase, at_threads, check, reference

TINY = [
    LayerCase((2, 4, 7, 6), (6, 2, 3, 2), dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2), backward=b,
              dtype=d)
    for b in (False, True) for d in ("float32", "float64")
]


@pytest.mark.parametrize("case", TINY, ids=lambda c: c.name)
def test_reference_agrees_with_the_oracle(case):
    x, w, b, g = case.data()
    ref = reference(case, x, w, b, g)
    x64, w64, b64, g64 = (a.astype(np.float64) for a in (x, w, b, g))
    if case.backward:
        want = fastconv.conv2d_backward(x64, w64, g64, backend="naive", **case.kw)
        for r, o in zip(ref, want):
            np.testing.assert_allclose(r, o, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_allclose(ref, fastconv.conv2d(x64, w64, b64, backend="naive", **case.kw), rtol=1e-12,
                                   atol=1e-12)


def test_gate_rejects_garbage_and_wrong_dtypes():
    case = TINY[3]  # backward, float64
    ref = reference(case, *case.data())
    check(case, ref, ref)
    with pytest.raises(AssertionError, match="grad weight: max error"):
        check(case, (ref[0], ref[1] + 1, ref[2]), ref)
    with pytest.raises(AssertionError, match="dtype"):
        check(case, tuple(r.astype(np.float32) for r in ref), ref)


def test_registry_covers_the_issue_layers_in_both_dtypes_and_directions():
    names = [c.name for c in LAYER_CASES]
    assert len(names) == len(set(names))
    for part in ("64x64x3x3-p1", "512x512x3x3", "64x3x7x7-s2-p3", "64x1x3x3-p1-g64", "128x64x1x1", "6x1x5x5"):
        for prefix in ("fwd-", "bwd-"):
            for dtype in ("float32", "float64"):
                assert any(n.startswith(prefix) and part in n and n.endswith(dtype) for n in names), (prefix, part)
    assert set(LAYER_QUICK) <= set(LAYER_CASES) and any(c.backward for c in LAYER_QUICK)
    assert [c.name[-3:] for c in at_threads(LAYER_QUICK[:1], (1, 2))] == ["-t1", "-t2"]


def test_layer_run_writes_table_and_json(tmp_path):
    pytest.importorskip("pytest_benchmark")
    out = io.StringIO()
    fastconv.set_threads(2)
    cases = at_threads(TINY[1::2], (1,))
    doc = bench.run(layer_cases=cases, out=str(tmp_path), progress=False, file=out, budget=0.2, min_rounds=2,
                    max_rounds=2, warmup=0.0)
    text = out.getvalue()
    assert "0 2-D + 2 layer" in text and "FAILED" not in text
    # groups 2 with 3 x 2 (output, input) channel pairs per group: the compiled per-tap weight gradient
    assert f"{cases[1].name}  (auto chose: fwd " in text and "dw depthwise" in text
    names = {b["params"]["contender"] for b in doc["benchmarks"]}
    assert "auto" in names
    assert all(b["fullname"].startswith("benchmarks/test_bench_layers.py::test_layer[") for b in doc["benchmarks"])
    assert json.loads((tmp_path / "bench.json").read_text()) == doc
    try:
        assert fastconv.get_threads() == 2  # the cases ran at 1 thread; the caller's count is back
    finally:
        fastconv.set_threads(None)
