"""The fuzzing harness stays runnable: a short, fixed-seed run of
fuzz/differential.py (the long and sanitizer runs are scripts/sanitize.sh),
and the harness itself catches a wrong backend."""
import random
import sys
from pathlib import Path

import numpy as np
import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
if not (FUZZ / "differential.py").exists():  # tests run from an installed copy without the clone
    pytest.skip("fuzz/ not found next to tests/", allow_module_level=True)
sys.path.insert(0, str(FUZZ))
import differential  # noqa: E402

import fastconv  # noqa: E402


@pytest.fixture(autouse=True)
def _restore(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTCONV_WISDOM", str(tmp_path / "wisdom.json"))
    yield
    fastconv.set_threads(None)
    fastconv.set_workspace_limit(None)
    cy = fastconv.backends.load("cython")
    if cy is not None:
        cy._cython._limit_simd(3)


def test_short_fixed_seed_run():
    with np.errstate(all="ignore"):
        assert differential.main(["--seed", "13", "--cases", "150"]) == 0


def test_harness_catches_a_wrong_backend(monkeypatch):
    from fastconv.backends import gemm

    real = gemm.correlate

    def off_by_one(xp, w, out, *args):
        real(xp, w, out, *args)
        out += 1.0

    monkeypatch.setattr(gemm, "correlate", off_by_one)
    failures = 0
    with np.errstate(all="ignore"):
        for case in range(300):
            try:
                differential.run_case(differential.RandomSource(random.Random(f"wrong:{case}")))
            except differential.Failure:
                failures += 1
    assert failures > 0
