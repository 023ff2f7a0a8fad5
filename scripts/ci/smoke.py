"""Smoke test of an installed wheel where there is no compiler and no Cython
(.ci/run runs it in a fresh venv whose PATH holds only the venv's bin).

    python smoke.py [EXPECTED]

EXPECTED, when given, is what ``python smoke.py --features`` printed with the
unrepaired wheel installed ("openmp=True simd=avx512 (...)"): the repaired
wheel must report the same (auditwheel must not lose OpenMP or the multi-ISA
row kernels).
"""
import shutil
import subprocess
import sys


def features():
    from fastconv.backends import _cython

    return f"openmp={_cython.OPENMP} simd={_cython.SIMD}"


if sys.argv[1:] == ["--features"]:
    print(features())
    raise SystemExit(0)

for tool in ("gcc", "cc", "clang", "cython"):
    assert shutil.which(tool) is None, f"{tool} is reachable: {shutil.which(tool)}"
try:
    import Cython  # noqa: F401
except ImportError:
    pass
else:
    raise AssertionError("Cython is importable in the smoke-test environment")

import numpy as np

import fastconv
from fastconv import backends

assert "site-packages" in fastconv.__file__, fastconv.__file__
cy = backends.load("cython")
assert cy is not None, backends.load_error("cython")
from fastconv.backends import _cython

assert _cython.__file__.endswith((".so", ".pyd")), _cython.__file__
X = np.arange(9.0).reshape(3, 3)
K = [[0, 1], [2, 3]]
Y = fastconv.corr2d(X, K, backend="cython")
assert Y.tolist() == [[19.0, 25.0], [37.0, 43.0]], Y
# the image keeps its precision: a float32 image with an integer kernel gives float32
assert fastconv.corr2d(X.astype(np.float32), K, backend="cython").dtype == np.float32
assert fastconv.corr2d(X, np.asarray(K, np.float32), backend="cython").dtype == np.float64
Y32 = fastconv.corr2d(X.astype(np.float32), np.asarray(K, np.float32), backend="cython")
assert Y32.dtype == np.float32 and Y32.tolist() == [[19.0, 25.0], [37.0, 43.0]]
for name in ("naive", "cython", "numba", "gemm"):
    assert name in fastconv.available_backends(), (name, backends.load_error(name))
for name in fastconv.available_backends():
    got = fastconv.corr2d(X, K, backend=name)
    np.testing.assert_allclose(got, [[19, 25], [37, 43]], rtol=0, atol=1e-9)
fastconv.show_config()

# The command line, both ways: the module and the console script.
bindir = shutil.which("fastconv")
assert bindir is not None, "the fastconv console script is not on PATH"
for command in ([sys.executable, "-m", "fastconv"], [bindir]):
    version = subprocess.run(command + ["--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert version == f"fastconv {fastconv.__version__}", (command, version)
    info = subprocess.run(command + ["info"], capture_output=True, text=True, check=True).stdout
    assert "cython  available" in info, info

if len(sys.argv) > 1:
    assert features() == sys.argv[1], f"this wheel: {features()}; the unrepaired one: {sys.argv[1]}"
    print(features(), "(the same as the unrepaired wheel)")
print("smoke test passed: compiled extension", _cython.__file__)
