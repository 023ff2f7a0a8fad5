"""Regression tests for issue 13's findings (crashes, wrong results, limits,
interrupts), one test per finding, named after it. The wisdom findings are
in test_reliability_wisdom.py."""
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import fastconv
from fastconv import settings
from fastconv._dtypes import as_kernel_operand
from _oracle_cases import ALL_BACKENDS, backend_module

RNG = np.random.default_rng(13)
X = RNG.standard_normal((6, 8))
K = RNG.standard_normal((2, 3))


def _run(code, timeout=180, env=None):
    """Run ``code`` in a fresh interpreter; returns (returncode, output). It
    runs beside the fastconv this process imported (``python -c`` puts the
    working directory first on sys.path: from a clone's root it would import
    the uncompiled source tree instead of the installed package)."""
    import fastconv

    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})),
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__))))
    return proc.returncode, proc.stdout + proc.stderr


def _unaligned(a):
    """A C-contiguous copy of ``a`` whose data starts one byte into a buffer."""
    buf = np.zeros(a.nbytes + 1, np.uint8)
    u = buf[1:].view(a.dtype).reshape(a.shape)
    u[...] = a
    assert not u.flags.aligned
    return u


@pytest.fixture(autouse=True)
def _restore_threads():
    yield
    fastconv.set_threads(None)


def test_finding_01_thread_counts_capped():
    backend_module("cython")
    for bad in (100000, 2**31, 2**70, settings.MAX_THREADS + 1):
        with pytest.raises(ValueError, match="threads must be an integer from 1 to"):
            fastconv.set_threads(bad)
    code, out = _run("""
        import numpy as np, fastconv
        fastconv.corr2d(np.ones((8, 8)), np.ones((3, 3)))
    """, env={"FASTCONV_NUM_THREADS": "100000"})
    assert code != 0 and "FASTCONV_NUM_THREADS='100000'" in out and "Segmentation" not in out
    # The cap itself works: a call large enough to start the thread team.
    code, out = _run(f"""
        import numpy as np, fastconv
        fastconv.set_threads({settings.MAX_THREADS})
        y = fastconv.corr2d(np.ones((400, 400)), np.ones((9, 9)), backend="cython")
        assert y.shape == (392, 392) and (y == 81).all()
        print("ok")
    """)
    assert code == 0 and "ok" in out, out


def test_finding_02_fork_after_threaded_calls():
    backend_module("cython"), backend_module("numba"), backend_module("direct"), backend_module("winograd")
    code, out = _run("""
        import multiprocessing as mp
        import numpy as np, fastconv
        x, k = np.random.default_rng(0).random((400, 400)), np.ones((5, 5))
        # each call is threaded (at least 2**20 multiply-adds)
        want = {b: fastconv.corr2d(x, k, backend=b).sum() for b in ("cython", "numba", "gemm", "direct")}
        xw, ww = np.random.default_rng(1).random((2, 16, 64, 64)), np.ones((16, 16, 3, 3))
        want["winograd"] = fastconv.conv2d(xw, ww, padding=1, backend="winograd").sum()

        def job(b):
            if b == "winograd":
                return b, float(fastconv.conv2d(xw, ww, padding=1, backend=b).sum())
            return b, float(fastconv.corr2d(x, k, backend=b).sum())

        with mp.get_context("fork").Pool(2) as pool:
            got = pool.map_async(job, ["cython", "numba", "gemm", "direct", "winograd", "cython", "numba", "direct", "winograd"]).get(timeout=150)
        assert all(abs(s - want[b]) < 1e-6 * abs(want[b]) for b, s in got), (got, want)
        print("ok")
    """, timeout=240, env={"FASTCONV_NUM_THREADS": "2"})
    assert code == 0 and "ok" in out, out


def test_finding_03_compiled_layer_checks_shapes():
    _cython = pytest.importorskip("fastconv.backends._cython")
    x, w, out = np.ones((1, 2, 5, 5)), np.ones((2, 1, 3, 3)), np.empty((1, 2, 3, 3))
    calls = {
        "reads past": (np.ones((1, 2, 2, 2)), w, out, (1, 1), (1, 1), 2),
        "output channels": (x, np.ones((3, 1, 3, 3)), out, (1, 1), (1, 1), 2),
        "divide": (x, w, out, (1, 1), (1, 1), 3),
        "groups 0": (x, w, out, (1, 1), (1, 1), 0),
        "aligned": (_unaligned(x), w, out, (1, 1), (1, 1), 2),
        "stride": (x, w, out, (0, 1), (1, 1), 2),
    }
    for name, args in calls.items():
        with pytest.raises(ValueError):
            _cython.correlate(*args, 1, 1 << 20)
        assert name


def test_finding_04_nonfinite_cval_with_auto():
    x = RNG.standard_normal((256, 256))
    k = RNG.standard_normal((31, 31))
    for cval in (np.nan, np.inf):
        auto = fastconv.corr2d(x, k, padding="same", cval=cval)
        direct = fastconv.corr2d(x, k, padding="same", cval=cval, backend="cython")
        assert np.array_equal(np.isnan(auto), np.isnan(direct)) and np.isnan(direct).sum() < direct.size
        assert fastconv.plan(x, k, padding="same", cval=cval).backend not in ("fft", "separable")


def test_finding_05_bias_that_is_a_view_of_out():
    x, w = np.ones((1, 1, 4, 4)), np.ones((2, 1, 3, 3))
    out = np.zeros((1, 2, 2, 2))
    bias = out[0, :, 0, 0]  # a view of out
    bias[...] = [1.0, 2.0]
    expected = fastconv.conv2d(x, w, np.array([1.0, 2.0]))
    for backend in ALL_BACKENDS:
        backend_module(backend)
        out[...] = 0
        out[0, :, 0, 0] = [1.0, 2.0]
        np.testing.assert_allclose(fastconv.conv2d(x, w, bias, out=out, backend=backend), expected)


def test_finding_06_as_matrix_identity_with_nonfinite_kernels():
    x = RNG.standard_normal((5, 6))
    for k in (np.array([[1.0, np.inf], [np.nan, 2.0]]), np.array([[0.0, -np.inf, 1.0]])):
        for kwargs in ({"padding": 1}, {"padding": "full", "stride": 2}, {"padding": ((2, 0), (0, 1))}):
            y = fastconv.corr2d(x, k, **kwargs).ravel()
            for sparse in (True, False):
                np.testing.assert_array_equal(fastconv.as_matrix(k, x.shape, sparse=sparse, **kwargs) @ x.ravel(), y)


def test_finding_07_malformed_shapes_refused():
    with pytest.raises(ValueError, match="input_shape must be a pair"):
        fastconv.output_shape((5,), (3, 3))
    with pytest.raises(TypeError, match="input_shape must be an int, got 5.7"):
        fastconv.as_matrix(np.ones((2, 2)), (5.7, 6.2))


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_finding_08_unaligned_operands_are_copied(backend):
    backend_module(backend)
    for dtype in (np.float32, np.float64):
        x, k = X.astype(dtype), K.astype(dtype)
        assert as_kernel_operand(_unaligned(x), dtype).flags.aligned
        np.testing.assert_array_equal(fastconv.corr2d(_unaligned(x), _unaligned(k), padding=1, backend=backend),
                                      fastconv.corr2d(x, k, padding=1, backend=backend))
        w = _unaligned(np.ones((2, 1, 2, 3), dtype))
        np.testing.assert_array_equal(fastconv.conv2d(_unaligned(x[None]), w, _unaligned(np.ones(2, dtype)),
                                                      backend=backend),
                                      fastconv.conv2d(x[None], np.ones((2, 1, 2, 3), dtype), np.ones(2, dtype),
                                                      backend=backend))


class _Interrupt(Exception):
    pass


def _interrupted(backend, shape, k):
    """Send SIGINT 0.1 s into a long call writing straight into ``out``:
    the handler's exception surfaces from inside the call, and rows were
    never computed (the call stopped mid-way instead of at its end). The
    handler raises only while the call runs, so a late signal is harmless."""
    x = np.ones(shape, np.float32)
    w = np.ones(k, np.float32)
    out = np.full(fastconv.output_shape(shape, k), np.nan, np.float32)
    armed = [True]

    def handler(signum, frame):
        if armed[0]:
            raise _Interrupt

    previous = signal.signal(signal.SIGINT, handler)
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
    try:
        timer.start()
        with pytest.raises(_Interrupt):
            fastconv.corr2d(x, w, backend=backend, out=out)
    finally:
        armed[0] = False
        timer.cancel()
        timer.join()
        signal.signal(signal.SIGINT, previous)
    return np.isnan(out).any()


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
@pytest.mark.parametrize("backend", ["cython", "numba"])
def test_finding_17_ctrl_c_honoured_during_a_long_call(backend):
    backend_module(backend)
    fastconv.corr2d(np.ones((50, 50), np.float32), np.ones((3, 3), np.float32), backend=backend)  # compiled
    assert _interrupted(backend, (6000, 6000), (41, 41))


@pytest.mark.parametrize("backend", ["auto", *ALL_BACKENDS])
def test_finding_18_huge_virtual_inputs(backend):
    if backend != "auto":
        backend_module(backend)
    x = np.broadcast_to(np.float64(1.5), (4 << 20, 6 << 20))  # 192 TiB if materialised
    k = np.arange(9.0).reshape(3, 3)
    for kwargs, corner in (({}, 54.0), ({"padding": "same", "mode": "reflect"}, 54.0),
                           ({"padding": 1, "cval": 2.0}, 60.0)):
        y = fastconv.corr2d(x, k, stride=1 << 20, backend=backend, **kwargs)
        assert y.shape == (4, 6) and y[0, 0] == corner and y[1, 1] == 54.0
    # Dilation far longer than the outputs' extent: only the tap blocks are read.
    y = fastconv.corr2d(np.broadcast_to(1.0, (3, (4 << 30) + 5)), np.ones((2, 3)), dilation=(1, 2 << 30),
                        backend=backend)
    assert y.shape == (2, 5)
    np.testing.assert_allclose(y, 6.0, rtol=1e-12)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_finding_19_huge_strides_and_dilations(backend):
    backend_module(backend)
    for kwargs in ({"stride": 2**62}, {"stride": (2**40, 1)}, {"dilation": 2**62, "stride": 2**62},
                   {"stride": (1, 2**62), "dilation": (2**61, 1)}):
        k = np.ones((1, 3)) if "dilation" in kwargs else K
        try:
            expected = fastconv.corr2d(X, k, backend="naive", **kwargs)
        except ValueError as exc:
            with pytest.raises(ValueError, match=re.escape(str(exc))):
                fastconv.corr2d(X, k, backend=backend, **kwargs)
        else:
            np.testing.assert_allclose(fastconv.corr2d(X, k, backend=backend, **kwargs), expected, atol=1e-12)
    with pytest.raises(ValueError, match="more than fastconv can index"):
        fastconv.corr2d(X, K, dilation=2**62, padding="same", backend=backend)


def test_finding_20_environment_and_thread_parsing(monkeypatch):
    for value in ("abc", "0", "100000"):
        monkeypatch.setenv("FASTCONV_NUM_THREADS", value)
        fastconv.set_threads(None)
        with pytest.raises(ValueError, match=f"FASTCONV_NUM_THREADS='{value}'"):
            fastconv.get_threads()
    monkeypatch.delenv("FASTCONV_NUM_THREADS")
    fastconv.set_threads(np.int64(2))
    assert fastconv.get_threads() == 2 and type(fastconv.get_threads()) is int
    with pytest.raises(ValueError, match="threads must be"):
        fastconv.set_threads(0)
    monkeypatch.setenv("FASTCONV_WORKSPACE_MB", "inf")
    with pytest.raises(ValueError, match="FASTCONV_WORKSPACE_MB='inf'"):
        fastconv.get_workspace_limit()


@pytest.mark.parametrize("call, exc, message", [
    (lambda: fastconv.corr2d(X, K, cval="abc"), TypeError, "cval must be a real number"),
    (lambda: fastconv.corr2d(X, K, cval=None), TypeError, "cval must be a real number"),
    (lambda: fastconv.corr2d(X, K, cval=1j), TypeError, "cval must be a real number"),
    (lambda: fastconv.corr2d(X, K, cval=np.array([1.0, 2.0])), TypeError, "cval must be a real number"),
    (lambda: fastconv.corr2d(X, K, mode=np.array(["edge", "wrap"])), ValueError, "unknown mode"),
    (lambda: fastconv.corr2d(X, K, backend=["cython"]), TypeError, "backend must be 'auto' or a backend name"),
    (lambda: fastconv.corr2d_backward(X, K, np.ones((5, 6)), needs=None), TypeError, "needs must be"),
    (lambda: fastconv.corr2d(X, K, padding=2**62), ValueError, "more than fastconv can index"),
    (lambda: fastconv.as_matrix(K, ("a", 5)), TypeError, "input_shape must be an int, got 'a'"),
])
def test_finding_21_messages_name_the_problem(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_finding_22_byte_swapped_out(backend):
    backend_module(backend)
    out = np.zeros((5, 6), dtype=">f8")
    assert fastconv.corr2d(X, K, out=out, backend=backend) is out
    np.testing.assert_allclose(out, fastconv.corr2d(X, K, backend=backend), atol=1e-12)
    out4 = np.zeros((1, 2, 5, 6), dtype=">f4")
    x4, w4 = X.astype(np.float32)[None, None], np.ones((2, 1, 2, 3), np.float32)
    fastconv.conv2d(x4, w4, np.ones(2, np.float32), out=out4, backend=backend)
    np.testing.assert_allclose(out4, fastconv.conv2d(x4, w4, np.ones(2, np.float32), backend=backend), rtol=1e-5)


def test_finding_23_masked_arrays_refused():
    m = np.ma.masked_array(X, mask=X > 0)
    for call in (lambda: fastconv.corr2d(m, K), lambda: fastconv.corr2d(X, np.ma.masked_array(K)),
                 lambda: fastconv.conv2d(m[None, None], K[None, None]), lambda: fastconv.im2col(m, (2, 2)),
                 lambda: fastconv.as_matrix(np.ma.masked_array(K), (5, 5))):
        with pytest.raises(TypeError, match="masked array; fastconv does not honour masks"):
            call()


@pytest.mark.parametrize("mode", ["constant", "reflect", "symmetric", "edge", "wrap"])
def test_finding_18_gathered_rows_with_padding_on_the_other_axis(mode):
    # Found by fuzz/differential.py: the gathered input kept its padding on
    # the axis that was not gathered, and was padded there a second time.
    x, k = RNG.standard_normal((11, 9)), RNG.standard_normal((1, 2))
    pads = ((0, 2), (1, 1))
    kwargs = {"mode": mode, "cval": 1.5} if mode == "constant" else {"mode": mode}
    padded = np.pad(x, pads, mode=mode, **({"constant_values": 1.5} if mode == "constant" else {}))
    want = np.array([[np.dot(padded[i * 7, j:j + 2], k[0]) for j in range(10)] for i in range(2)])
    for backend in ALL_BACKENDS:
        backend_module(backend)
        np.testing.assert_allclose(fastconv.corr2d(x, k, padding=pads, stride=(7, 1), backend=backend, **kwargs),
                                   want, rtol=1e-12, atol=1e-12)
