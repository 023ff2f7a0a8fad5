"""A conv layer's bias: added inside the kernels of the backends whose
registry row says ``takes_bias`` (cython, direct, winograd: as each output
is stored), and once by the engine for the others (in the copy into
``out`` when there is one).

Every backend is checked against the oracle plus the bias with hypothesis
(shapes, strides, dilations, groups incl. depthwise and multiplier groups,
dtypes, zero/reflect/edge borders, ``out`` given or not, given in a layout
the backends cannot write), in every instruction-set variant; the kernels'
bias must give the very bits of the same backend's result without a bias
plus the bias afterwards (that is how they add it). Then the public paths:
conv2d with ``out`` sharing memory with the bias, NaN/inf in the bias, the
layers, fastconv.dask, a third-party backend without the keyword, and the
planner's choices (a bias never changes them)."""
import types

import numpy as np
import pytest
from _oracle_cases import backend_module, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastconv
from fastconv import _engine, backends, planner
from fastconv._geometry import Geometry
from fastconv._padding import pad_spatial
from fastconv.backends import naive

TOL = {np.float32: 2e-5, np.float64: 1e-12}  # as the backends' own suites (relative to sum |w||x| + |b|)
DTYPES = (np.float32, np.float64)
BIAS_BACKENDS = tuple(row.name for row in backends.rows() if row.takes_bias)
OTHER_BACKENDS = tuple(row.name for row in backends.rows() if not row.takes_bias and row.name != "naive")
ISA_CAPS = (3, 2, 1)  # AVX-512, AVX2+FMA, SSE2 (each capped at what this CPU runs)
_EXTENSIONS = ("fastconv.backends._cython", "fastconv.backends._direct", "fastconv.backends._winograd")


def test_the_compiled_conv_backends_take_the_bias():
    assert {"cython", "direct", "winograd"} <= set(BIAS_BACKENDS)
    assert not backends.row("gemm").takes_bias  # (the engine adds it: tested below)


@pytest.fixture(params=ISA_CAPS, ids=["isa<=avx512", "isa<=avx2", "isa<=sse2"])
def isa(request):
    """Every compiled extension capped at one instruction set (the same for
    every example of a test: the cap is all the fixture sets)."""
    import importlib

    for name in ("cython", "direct", "winograd"):
        backend_module(name)
    exts = [importlib.import_module(e) for e in _EXTENSIONS]
    for ext in exts:
        ext._limit_simd(request.param)
    yield request.param
    for ext in exts:
        ext._limit_simd(3)


@st.composite
def layer_cases(draw, square3=False):
    """(x, w, bias, geo, groups, mode) for a padded or unpadded layer."""
    dtype = draw(st.sampled_from(DTYPES))
    groups = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["dense", "depthwise", "multiplier"]))
    cg = 1 if kind != "dense" else draw(st.integers(1, 3))
    og = 1 if kind == "depthwise" else draw(st.integers(2, 9))  # 9: past a direct channel block
    if square3:
        kh = kw = 3
        stride = dilation = (1, 1)
    else:
        kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    mode = draw(st.sampled_from(["constant", "reflect", "edge"]))
    h, w = draw(st.integers(3, 19)), draw(st.integers(3, 40))  # 40: past a 16-lane vector twice
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(2))
    if (h + sum(pads[0]) - (kh - 1) * dilation[0] - 1) < 0 or (w + sum(pads[1]) - (kw - 1) * dilation[1] - 1) < 0:
        pads = ((kh * dilation[0],) * 2, (kw * dilation[1],) * 2) if mode == "constant" else pads
        h, w = max(h, kh * dilation[0]), max(w, kw * dilation[1])
    n = draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, groups * cg, h, w)).astype(dtype)
    wt = rng.standard_normal((groups * og, cg, kh, kw)).astype(dtype)
    bias = (rng.standard_normal(groups * og) * 10).astype(dtype)
    geo = Geometry.from_args((h, w), (kh, kw), pads, stride, dilation)
    return x, wt, bias, geo, groups, mode


def _oracle(x, w, bias, geo, groups, mode):
    xp = pad_spatial(x, geo.pads, mode, 0.0)
    out = np.empty((x.shape[0], w.shape[0]) + geo.out_shape, x.dtype)
    naive.correlate(xp, w, out, geo.stride, geo.dilation, groups)
    scale = np.empty(out.shape)
    naive.correlate(np.abs(xp.astype(np.float64)), np.abs(w.astype(np.float64)), scale, geo.stride, geo.dilation,
                    groups)
    return out.astype(np.float64) + bias[:, None, None], scale + np.abs(bias)[:, None, None]


def _assert_near_oracle(name, result, x, w, bias, geo, groups, mode):
    expected, scale = _oracle(x, w, bias, geo, groups, mode)
    tol = TOL[x.dtype.type]
    if backends.row(name).exact:
        bound = tol * (1 + scale)
    else:  # an approximate backend within its published bound, plus the bias's rounding
        xp = pad_spatial(x, geo.pads, mode, 0.0)
        bound = backends.load(name).error_bound(xp, w, result.shape, geo.stride, geo.dilation, groups)
        bound = bound + 4 * np.finfo(x.dtype).eps * (scale + np.abs(expected))
    err = np.abs(result.astype(np.float64) - expected)
    assert np.all(err <= bound), f"{name}: max error {err.max():.3g}, bound {bound.min():.3g}"


def _outs(kind, shape, dtype):
    if kind == "none":
        return None
    if kind == "c":
        return np.full(shape, np.nan, dtype)
    return np.asfortranarray(np.full(shape, np.nan, dtype))  # not writable in place: the engine copies into it


@pytest.mark.parametrize("name", BIAS_BACKENDS + OTHER_BACKENDS)
@settings(max_examples=examples(60), deadline=None)
@given(case=layer_cases(), out_kind=st.sampled_from(["none", "c", "fortran"]))
def test_every_backend_with_bias_matches_the_oracle_plus_bias(name, case, out_kind):
    backend_module(name)
    x, w, bias, geo, groups, mode = case
    out = _outs(out_kind, (x.shape[0], w.shape[0]) + geo.out_shape, x.dtype)
    before = bias.copy()
    result = _engine.correlate(x, w, geo, groups, mode, 0.0, name, out, bias=bias)
    assert out is None or result is out
    np.testing.assert_array_equal(bias, before)  # the caller's bias is never modified
    _assert_near_oracle(name, result, x, w, bias, geo, groups, mode)


def _same_bits(name, case, out_kind="none"):
    x, w, bias, geo, groups, mode = case
    shape = (x.shape[0], w.shape[0]) + geo.out_shape
    plain = _engine.correlate(x, w, geo, groups, mode, 0.0, name, None)
    with_bias = _engine.correlate(x, w, geo, groups, mode, 0.0, name, _outs(out_kind, shape, x.dtype), bias=bias)
    np.testing.assert_array_equal(with_bias, plain + bias[:, None, None])


@pytest.mark.parametrize("name", ["cython", "direct"])
@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=layer_cases(), out_kind=st.sampled_from(["none", "c"]))
def test_kernel_bias_gives_the_bits_of_adding_it_after(isa, name, case, out_kind):
    backend_module(name)
    _same_bits(name, case, out_kind)


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=layer_cases(square3=True), out_kind=st.sampled_from(["none", "c"]))
def test_winograd_bias_gives_the_bits_of_adding_it_after(isa, case, out_kind):
    backend_module("winograd")
    _same_bits("winograd", case, out_kind)


@pytest.mark.parametrize("name", ["cython", "direct", "winograd"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_large_calls_threads_and_chunks(name, dtype):
    """Threaded calls (above the serial threshold), winograd's chunked GEMM
    path and direct's flattened narrow maps, each with a bias."""
    backend_module(name)
    rng = np.random.default_rng(5)
    for shape, wshape, groups in (((2, 16, 30, 30), (24, 16, 3, 3), 1), ((2, 32, 14, 14), (32, 1, 3, 3), 32),
                                  ((3, 8, 7, 7), (16, 8, 3, 3), 1), ((1, 8, 40, 44), (16, 4, 3, 3), 2)):
        x = rng.standard_normal(shape).astype(dtype)
        w = rng.standard_normal(wshape).astype(dtype)
        bias = rng.standard_normal(wshape[0]).astype(dtype)
        for pad in (0, 1):
            geo = Geometry.from_args(shape[2:], wshape[2:], pad, 1, 1)
            case = (x, w, bias, geo, groups, "constant")
            _same_bits(name, case)
            _assert_near_oracle(name, _engine.correlate(x, w, geo, groups, "constant", 0.0, name, None, bias=bias),
                                *case)


@pytest.mark.parametrize("name", BIAS_BACKENDS + ("gemm",))
@pytest.mark.parametrize("dtype", DTYPES)
def test_out_sharing_memory_with_the_bias(name, dtype):
    backend_module(name)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 9, 12)).astype(dtype)
    w = rng.standard_normal((6, 2, 3, 3)).astype(dtype)
    out = np.zeros((2, 6, 9, 12), dtype)
    bias = out[1, 5, 8, :6]  # contiguous: the kernels could read it while they write out
    bias[:] = rng.standard_normal(6)
    expected = fastconv.conv2d(x, w, bias.copy(), padding=1, groups=2, backend="naive")
    result = fastconv.conv2d(x, w, bias, padding=1, groups=2, backend=name, out=out)
    assert result is out
    np.testing.assert_allclose(out, expected, rtol=TOL[dtype] * 10, atol=TOL[dtype] * 100)


@pytest.mark.parametrize("name", BIAS_BACKENDS + ("gemm",))
@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_and_inf_in_the_bias_propagate(name, dtype):
    backend_module(name)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 3, 10, 20)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    bias = np.array([np.nan, np.inf, -np.inf, -0.0], dtype)
    y = fastconv.conv2d(x, w, bias, padding=1, backend=name)
    assert np.isnan(y[:, 0]).all()
    assert (y[:, 1] == np.inf).all() and (y[:, 2] == -np.inf).all()
    np.testing.assert_array_equal(y[:, 3], fastconv.conv2d(x, w, None, padding=1, backend=name)[:, 3])


def test_a_backend_without_the_flag_never_sees_the_keyword():
    calls = []

    def correlate(xp, w, out, stride, dilation, groups):  # the documented six arguments, no bias
        calls.append(1)
        naive.correlate(xp, w, out, stride, dilation, groups)

    module = types.ModuleType("plain_backend")
    module.correlate = correlate
    backends.register("plain_test", module)
    try:
        rng = np.random.default_rng(6)
        x = rng.standard_normal((1, 2, 6, 7))
        w = rng.standard_normal((3, 2, 3, 3))
        bias = rng.standard_normal(3)
        for out in (None, np.empty((1, 3, 6, 7)), np.asfortranarray(np.empty((1, 3, 6, 7)))):
            y = fastconv.conv2d(x, w, bias, padding=1, backend="plain_test", out=out)
            np.testing.assert_allclose(y, fastconv.conv2d(x, w, bias, padding=1, backend="naive"), rtol=1e-13)
        assert calls
    finally:
        backends.unregister("plain_test")


def test_the_planner_chooses_as_without_a_bias(monkeypatch):
    chosen = []
    choose = planner.choose

    def recording(*args, **kwargs):
        chosen.append(choose(*args, **kwargs))
        return chosen[-1]

    monkeypatch.setattr(planner, "choose", recording)
    rng = np.random.default_rng(7)
    for xs, ws, groups in (((2, 16, 28, 28), (16, 1, 3, 3), 16), ((1, 8, 20, 20), (16, 8, 3, 3), 1),
                           ((1, 4, 30, 30), (8, 4, 5, 5), 1), ((1, 8, 12, 12), (16, 2, 1, 1), 4)):
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        b = rng.standard_normal(ws[0]).astype(np.float32)
        fastconv.conv2d(x, w, None, padding=1, groups=groups)
        fastconv.conv2d(x, w, b, padding=1, groups=groups)
        assert chosen[-1] == chosen[-2] == fastconv.plan(x, w, padding=1, groups=groups).backend


def test_layer_forward_with_bias():
    layer = fastconv.Conv2D(3, 4, 6, padding=1, seed=1, dtype=np.float32, init="kaiming")
    x = np.random.default_rng(8).standard_normal((2, 4, 11, 13)).astype(np.float32)
    expected = fastconv.conv2d(x, layer.weight, layer.bias, padding=1, backend="naive")
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-5)


def test_dask_tiles_with_bias():
    pytest.importorskip("dask")
    import fastconv.dask

    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 40, 36)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    import dask.array as da

    lazy = fastconv.dask.conv2d(da.from_array(x, chunks=(1, 3, 17, 19)), w, bias, padding=1)
    np.testing.assert_allclose(lazy.compute(scheduler="synchronous"),
                               fastconv.conv2d(x, w, bias, padding=1, backend="naive"), rtol=2e-5, atol=2e-5)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dtype=st.sampled_from(DTYPES), n=st.integers(1, 2), groups=st.integers(1, 4), og=st.integers(1, 2),
       kh=st.integers(1, 4), kw=st.integers(1, 4), h=st.integers(1, 23), w=st.integers(1, 70),
       sw=st.integers(1, 2), mode=st.sampled_from(["constant", "reflect"]), with_bias=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_cython_bands_give_the_bits_of_a_padded_copy(isa, dtype, n, groups, og, kh, kw, h, w, sw, mode, with_bias,
                                                      seed, monkeypatch):
    """The bands' sliding row blocks (one channel, row stride 1: several
    output rows per input load) and their fallback rows add each output's
    taps as the row kernel does over numpy.pad's copy: equal bits, with and
    without a bias, in every instruction-set variant; rows not a multiple of
    the block, widths of 1 to several vectors, column stride 2. (The
    border-column path's edge sums are scalar code: equal within rounding
    only, tested in test_lane.py.)"""
    from fastconv.backends import _cython, cython_

    backend_module("cython")
    monkeypatch.setattr(_cython, "ROW_BUFFER", "always")  # bands wherever they fit, whatever they cost
    pads = ((kh // 2, kh // 2), (min(kw - 1, 2), 1))
    if mode == "reflect" and (max(pads[0]) >= h or max(pads[1]) >= w):
        mode = "constant"
    if h + sum(pads[0]) < kh or w + sum(pads[1]) < kw:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, groups, h, w)).astype(dtype)
    wt = rng.standard_normal((groups * og, 1, kh, kw)).astype(dtype)
    bias = rng.standard_normal(groups * og).astype(dtype) if with_bias else None
    xp = np.pad(x, ((0, 0), (0, 0)) + pads, mode=mode)
    ho, wo = xp.shape[2] - kh + 1, (xp.shape[3] - kw) // sw + 1
    reference = np.empty((n, groups * og, ho, wo), dtype)
    cython_.correlate(xp, wt, reference, (1, sw), (1, 1), groups, bias=bias)
    out = np.full_like(reference, np.nan)
    if mode == "constant":
        assert cython_.correlate_zero_border(x, wt, out, pads, (1, sw), (1, 1), groups, bias=bias)
    else:
        assert cython_.correlate_mapped_border(x, wt, out, pads, (1, sw), (1, 1), groups, mode, bias=bias)
    np.testing.assert_array_equal(out, reference)
