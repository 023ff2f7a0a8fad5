"""Concurrency, import cost, and "is this really the compiled package?".

* 8 Python threads calling each compiled backend at once give correct
  results (kernels release the GIL; nothing shared is mutated).
* ``import fastconv`` does not import numba (checked in a subprocess); the
  import time is measured and printed, never asserted.
* FASTCONV_REQUIRE_COMPILED=1 (set by .ci/run): the cython backend is the
  real extension module, numba really JIT-compiles, and the tests run
  against the installed package rather than the source tree.
"""
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import fastconv
from fastconv import backends
from _oracle_cases import (
    REPO_ROOT,
    REQUIRE_COMPILED,
    assert_matches_oracle,
    backend_module,
    oracle,
)

N_THREADS = 8


def _jobs():
    """A mix of shapes, dtypes and options, with oracle answers computed once."""
    rng = np.random.default_rng(11)
    jobs = []
    for i in range(16):
        dtype = (np.float32, np.float64)[i % 2]
        X = rng.standard_normal((40 + i, 37 + 2 * i)).astype(dtype)
        K = rng.standard_normal((1 + i % 4, 2 + i % 3)).astype(dtype)
        kwargs = [{}, {"padding": "same", "mode": "reflect"}, {"stride": 2, "dilation": (2, 1), "padding": 1},
                  {"padding": "full", "mode": "wrap"}][i % 4]
        jobs.append((X, K, kwargs, oracle(X, K, **kwargs)))
    return jobs


@pytest.fixture(scope="module")
def jobs():
    return _jobs()


def test_thread_pool_gives_correct_results(compiled_backend, jobs):
    def run(job):
        X, K, kwargs, _ = job
        results = []
        for _ in range(3):
            results.append(fastconv.corr2d(X, K, backend=compiled_backend, **kwargs))
        return results

    fastconv.corr2d(jobs[0][0], jobs[0][1], backend=compiled_backend)  # first-call setup (numba JIT) out of the race
    with ThreadPoolExecutor(max_workers=N_THREADS) as pool:
        all_results = list(pool.map(run, jobs * 2))
    for (X, K, kwargs, expected), results in zip(jobs * 2, all_results):
        for got in results:
            assert_matches_oracle(got, X, K, expected=expected, backend=compiled_backend, **kwargs)


def test_thread_pool_into_shared_out(compiled_backend):
    """Threads writing disjoint slices of one out array."""
    rng = np.random.default_rng(12)
    X = rng.standard_normal((N_THREADS, 30, 30))
    K = rng.standard_normal((3, 3))
    out = np.full((N_THREADS, 30, 30), np.nan)
    with ThreadPoolExecutor(max_workers=N_THREADS) as pool:
        list(pool.map(lambda t: fastconv.corr2d(X[t], K, padding="same", backend=compiled_backend, out=out[t]),
                      range(N_THREADS)))
    for t in range(N_THREADS):
        assert_matches_oracle(out[t], X[t], K, backend=compiled_backend, padding="same")


def _run_python(code, cwd):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _same_fastconv(tmp_path):
    """cwd for a subprocess that imports the same fastconv as this process:
    the package's parent directory when the tests run against a source
    tree, otherwise an empty directory (site-packages is on the path)."""
    parent = Path(fastconv.__file__).resolve().parents[1]
    return parent if "site-packages" not in str(parent) else tmp_path


def test_import_does_not_import_numba_or_backends(tmp_path):
    out = _run_python(
        """
        import sys
        import fastconv
        heavy = [m for m in ("numba", "llvmlite", "fastconv.backends._cython", "fastconv.backends._direct",
                             "fastconv.backends.numba_",
                             "scipy", "torch", "cv2") if m in sys.modules]
        print(fastconv.__file__)
        print("heavy:", heavy)
        """,
        _same_fastconv(tmp_path),
    )
    assert "heavy: []" in out, out


def test_measure_import_time(tmp_path):
    """Prints the time of ``import fastconv`` in a fresh interpreter (after
    numpy, and including numpy). Not asserted: speed is for benchmarks."""
    out = _run_python(
        """
        import time
        t0 = time.perf_counter()
        import numpy
        t1 = time.perf_counter()
        import fastconv
        t2 = time.perf_counter()
        print(f"{t2 - t1:.4f} {t2 - t0:.4f}")
        """,
        _same_fastconv(tmp_path),
    )
    own, total = (float(v) for v in out.split())
    print(f"\nimport fastconv: {own * 1e3:.1f} ms after numpy, {total * 1e3:.1f} ms including numpy")


# ---------------------------------------------------------------------------
# FASTCONV_REQUIRE_COMPILED
# ---------------------------------------------------------------------------

needs_compiled = pytest.mark.skipif(not REQUIRE_COMPILED, reason="set FASTCONV_REQUIRE_COMPILED=1 (as .ci/run does)")


@needs_compiled
def test_cython_backend_is_the_compiled_extension():
    backend_module("cython")  # fails (not skips) when it did not load
    from fastconv.backends import _cython

    assert _cython.__file__.endswith((".so", ".pyd")), f"cython backend is not compiled: {_cython.__file__}"
    got = fastconv.corr2d(np.arange(9.0).reshape(3, 3), [[0, 1], [2, 3]], backend="cython")
    np.testing.assert_array_equal(got, [[19, 25], [37, 43]])


@needs_compiled
def test_numba_backend_really_jit_compiles():
    module = backend_module("numba")
    import numba
    from numba.core.registry import CPUDispatcher

    assert not numba.config.DISABLE_JIT, "NUMBA_DISABLE_JIT is set: numba would run pure Python"
    for dtype in (np.float32, np.float64):
        X = np.arange(30.0, dtype=dtype).reshape(5, 6)
        fastconv.corr2d(X, np.ones((2, 2), dtype), backend="numba")
    dispatchers = [v for v in vars(module).values() if isinstance(v, CPUDispatcher)]
    assert dispatchers, "the numba backend defines no @njit functions"
    compiled = [d for d in dispatchers if d.signatures]
    assert compiled, "no numba function was compiled by a call"


@needs_compiled
def test_tests_run_against_the_installed_package():
    location = Path(fastconv.__file__).resolve()
    assert REPO_ROOT / "fastconv" not in location.parents and location.parent != REPO_ROOT / "fastconv", (
        f"fastconv was imported from the source tree ({location}), not the installed package"
    )


@needs_compiled
def test_every_backend_loads():
    for name in ("cython", "direct", "numba", "gemm"):
        assert backends.load(name) is not None, f"{name}: {backends.load_error(name)}"
