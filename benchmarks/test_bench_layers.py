"""CNN-layer benchmarks: fastconv.conv2d / conv2d_backward on every fastconv
backend (the slow oracle excluded) and ``auto``, against torch.nn.functional.conv2d
and torch autograd with ``torch.set_num_threads(fastconv.get_threads())``.

One group per case and dtype (float32, float64):

* ``fwd 8x64x56x56 * 64x64x3x3 p1``   (a ResNet stage)
* ``fwd 1x3x224x224 * 64x3x7x7 s2 p3`` (a ResNet stem)
* ``fwd 32x1x28x28 * 6x1x5x5``        (LeNet's first layer)
* ``bwd 8x64x56x56 * 64x64x3x3 p1``   (grad x, weight and bias of the first)
* ``bwd 8x64x56x56 * 128x64x3x3 s2 p1`` (a downsampling layer: stride phases)
* ``bwd 8x64x56x56 * 64x1x3x3 g64 p1`` (depthwise)

For backward cases ``auto`` is the fast path (stride phases, the weight
gradient as a GEMM reduction); a named backend runs the input gradient's
phases and the weight gradient as a correlation on that backend.

Every contender's result is checked against torch in float64 before it is
timed. Recorded, not gated: nothing here asserts a speed.

    python -m pytest benchmarks/test_bench_layers.py --benchmark-min-rounds=3
"""
import functools

import numpy as np
import pytest

import fastconv

CASES = {
    "fwd 8x64x56x56 * 64x64x3x3 p1": dict(x=(8, 64, 56, 56), w=(64, 64, 3, 3), kw=dict(padding=1), backward=False),
    "fwd 1x3x224x224 * 64x3x7x7 s2 p3": dict(x=(1, 3, 224, 224), w=(64, 3, 7, 7), kw=dict(stride=2, padding=3), backward=False),
    "fwd 32x1x28x28 * 6x1x5x5": dict(x=(32, 1, 28, 28), w=(6, 1, 5, 5), kw=dict(), backward=False),
    "bwd 8x64x56x56 * 64x64x3x3 p1": dict(x=(8, 64, 56, 56), w=(64, 64, 3, 3), kw=dict(padding=1), backward=True),
    "bwd 8x64x56x56 * 128x64x3x3 s2 p1": dict(x=(8, 64, 56, 56), w=(128, 64, 3, 3), kw=dict(stride=2, padding=1),
                                               backward=True),
    "bwd 8x64x56x56 * 64x1x3x3 g64 p1": dict(x=(8, 64, 56, 56), w=(64, 1, 3, 3), kw=dict(padding=1, groups=64),
                                              backward=True),
}
DTYPES = ("float32", "float64")
# every backend but the slow oracle (the row whose timing is capped)
CONTENDERS = tuple(r.name for r in fastconv.backends.rows() if r.measure_limit is None) + ("auto", "torch")


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(fastconv.get_threads())
    return torch


def _approximate(name):
    module = fastconv.backends.load(name) if name in fastconv.backends.names() else None
    return module is not None and hasattr(module, "error_bound")


@functools.lru_cache(maxsize=2)
def _data(case_name, dtype):
    """(x, w, b, grad_out) for a case, and the float64 reference (y or grads)."""
    case = CASES[case_name]
    rng = np.random.default_rng(0)
    fan_in = np.prod(case["w"][1:])
    x = rng.standard_normal(case["x"]).astype(dtype)
    w = (rng.standard_normal(case["w"]) / np.sqrt(fan_in)).astype(dtype)
    b = rng.standard_normal(case["w"][0]).astype(dtype)
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    torch = _torch()
    if torch is None:  # fall back to fastconv's oracle-checked default in float64
        y = fastconv.conv2d(x64, w64, b64, **case["kw"])
        g = rng.standard_normal(y.shape)
        ref = fastconv.conv2d_backward(x64, w64, g, **case["kw"]) if case["backward"] else y
        return x, w, b, g.astype(dtype), ref
    xt, wt, bt = (torch.from_numpy(a).requires_grad_(True) for a in (x64, w64, b64))
    yt = torch.nn.functional.conv2d(xt, wt, bt, **case["kw"])
    g = rng.standard_normal(tuple(yt.shape))
    if case["backward"]:
        ref = tuple(t.numpy() for t in torch.autograd.grad(yt, (xt, wt, bt), torch.from_numpy(g)))
    else:
        ref = yt.detach().numpy()
    return x, w, b, g.astype(dtype), ref


def _check(results, refs, dtype, approximate):
    """Each result within a tolerance of max|reference| (looser for float32 and fft)."""
    tol = {"float32": 1e-4, "float64": 1e-10}[dtype] * (20 if approximate else 1)
    for name, got, ref in zip(("result", "grad x", "grad weight", "grad bias"), results, refs):
        err = np.abs(np.asarray(got, np.float64) - ref).max()
        assert err <= tol * np.abs(ref).max(), f"{name}: max error {err:.3g} vs max|ref| {np.abs(ref).max():.3g}"


def _fastconv_call(case, backend, x, w, b, g):
    kw = case["kw"]
    if case["backward"]:
        return lambda: fastconv.conv2d_backward(x, w, g, backend=backend, **kw)
    return lambda: fastconv.conv2d(x, w, b, backend=backend, **kw)


def _torch_call(case, x, w, b, g):
    torch = _torch()
    if torch is None:
        pytest.skip("torch is not installed")
    F, kw = torch.nn.functional, case["kw"]
    if case["backward"]:
        xt, wt, bt = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))
        yt = F.conv2d(xt, wt, bt, **kw)
        gt = torch.from_numpy(g)
        return lambda: tuple(t.numpy() for t in torch.autograd.grad(yt, (xt, wt, bt), gt, retain_graph=True))
    xt, wt, bt = (torch.from_numpy(a) for a in (x, w, b))

    def forward():
        with torch.no_grad():
            return F.conv2d(xt, wt, bt, **kw).numpy()

    return forward


PARAMS = [
    pytest.param(case, dtype, contender, id=f"{case}-{dtype}-{contender}", marks=pytest.mark.full)
    for case in CASES
    for dtype in DTYPES
    for contender in CONTENDERS
]


@pytest.mark.parametrize("case_name, dtype, contender", PARAMS)
def test_layer(benchmark, case_name, dtype, contender):
    case = CASES[case_name]
    if contender not in ("auto", "torch") and fastconv.backends.load(contender) is None:
        pytest.skip(f"backend {contender!r} not available: {fastconv.backends.load_error(contender)}")
    x, w, b, g, ref = _data(case_name, dtype)
    if contender == "torch":
        fn = _torch_call(case, x, w, b, g)
    else:
        fn = _fastconv_call(case, contender, x, w, b, g)
    result = fn()  # also the warm-up (numba compiles here, not in the timing)
    refs = ref if case["backward"] else (ref,)
    results = tuple(result) if case["backward"] else (result,)
    _check(results, refs, dtype, _approximate(contender) or contender == "auto")
    benchmark.group = f"{case_name} {dtype}"
    benchmark.extra_info.update(threads=fastconv.get_threads(), contender=contender)
    benchmark(fn)
