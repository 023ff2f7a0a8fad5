"""The weight gradient's shifted-view reduction (``fastconv._grad_weight_taps``),
by the compiled kernel (every instruction-set variant) and by per-tap BLAS
GEMMs, against the oracle's correlation form, over strides, dilations,
groups, asymmetric padding, boundary modes, dtypes, memory layouts and block
counts; and non-finite pixels that the shifted views read at grid points
that are no output position (the public path then recomputes exactly)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from _oracle_cases import examples

import fastconv
from fastconv import _args, _grad_weight_taps
from fastconv._grad_weight import weight_grad_by_correlation


@st.composite
def layer_cases(draw):
    groups = draw(st.sampled_from([1, 2]))
    cg, og = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    pads = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))
    h = draw(st.integers(max(1, dilation[0] * (kh - 1) + 1 - sum(pads[0])), 19))
    w = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - sum(pads[1])), 17))
    n = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    layout = draw(st.sampled_from(["C", "F", "strided"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, groups * cg, h, w)).astype(dtype)
    if layout == "F":
        x = np.asfortranarray(x)
    elif layout == "strided":
        x = np.repeat(x, 2, axis=-1)[..., ::2]
    weight = rng.standard_normal((groups * og, cg, kh, kw)).astype(dtype)
    return x, weight, dict(stride=stride, dilation=dilation, padding=pads, groups=groups), rng


# (compiled, instruction-set cap): the kernel at every variant, and the BLAS GEMMs
PATHS = [(True, 3), (True, 2), (True, 1), (False, 3)]


@pytest.fixture(params=PATHS, ids=["kernel-avx512", "kernel-avx2", "kernel-sse2", "blas"])
def compiled(request):
    on, cap = request.param
    if on and not _grad_weight_taps.kernel_available():
        pytest.skip("this build has no compiled weight-gradient kernel")
    if on:
        from fastconv.backends import _direct

        _direct._limit_simd(cap)
        yield True
        _direct._limit_simd(3)
    else:
        yield False


def _call(x, w, kwargs, rng):
    g = rng.standard_normal(fastconv.conv2d(x, w, **kwargs).shape).astype(x.dtype)
    return _args.conv2d_call(x, w, grad_out=g, **kwargs)


@settings(max_examples=examples(60), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # (the variant: the same for every example)
@given(case=layer_cases(), block=st.sampled_from([None, 1, 7, 64, 2048]),
       mode=st.sampled_from(["constant", "reflect", "symmetric", "edge", "wrap"]), cval=st.sampled_from([0.0, 1.5]))
def test_taps_match_the_oracle(compiled, case, block, mode, cval):
    x, w, kwargs, rng = case
    call = _call(x, w, kwargs, rng)
    if mode in ("reflect", "symmetric", "wrap") and any(
            p > n - (mode == "reflect") for pads, n in zip(call.geo.pads, x.shape[2:]) for p in pads):
        mode = "constant"  # numpy.pad limits for a single-cycle reflection do not matter here
    got = _grad_weight_taps.weight_grad(call.x, call.grad_out, call.geo, call.groups, w.shape, mode=mode, cval=cval,
                                        block=block, compiled=compiled)  # many blocks, remainders, none
    x64, g64 = call.x.astype(np.float64), call.grad_out.astype(np.float64)
    ref = weight_grad_by_correlation(x64, g64, call.geo, call.groups, w.shape, mode=mode, cval=cval, backend="naive")
    assert got.dtype == np.float64 and got.shape == w.shape
    tol = 1e-12 if x.dtype == np.float64 else 2e-6
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * max(1.0, np.abs(ref).max()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [np.inf, np.nan])
def test_non_finite_pixel_outside_a_taps_reach(compiled, dtype, value):
    """x's last column is read by the right-hand taps only; the shifted
    views of the others meet it at zero grid points. The public path must
    still give the oracle's gradient (inf/NaN only where it belongs)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 16, 30, 30)).astype(dtype)
    w = rng.standard_normal((16, 16, 3, 3)).astype(dtype)
    x[1, 5, 4, -1] = value
    g = rng.standard_normal(fastconv.conv2d(x, w).shape).astype(dtype)
    call = _args.conv2d_call(x, w, grad_out=g)
    assert _grad_weight_taps.applies(x.shape, w.shape, 1, call.geo, x.itemsize)
    got = fastconv.conv2d_backward(x, w, g, needs="weight").weight
    direct = _grad_weight_taps.weight_grad(call.x, call.grad_out, call.geo, 1, w.shape, compiled=compiled)
    assert not np.isfinite(direct).all()  # what makes the public path recompute
    ref = fastconv.conv2d_backward(x, w, g, needs="weight", backend="naive").weight
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(ref))
    assert np.isfinite(got[:, :, :, 0]).all()  # column-0 taps never read the last column
    ok = np.isfinite(ref)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-4)


def test_public_path_takes_the_taps_for_wide_layers(monkeypatch):
    """conv2d_backward's weight gradient on a layer with 16+ channels runs
    the per-tap GEMM (and gives the oracle's answer)."""
    calls = []
    original = _grad_weight_taps.weight_grad
    monkeypatch.setattr(_grad_weight_taps, "weight_grad", lambda *a, **k: calls.append(1) or original(*a, **k))
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 32, 40, 40)).astype(np.float32)  # (a grid of 1.1x the outputs: the kernel takes it)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    kwargs = dict(stride=2, padding=1, groups=2)
    g = rng.standard_normal(fastconv.conv2d(x, w, **kwargs).shape).astype(np.float32)
    # above the float64-GEMM size, so float32 runs the taps
    x, g = np.tile(x, (8, 1, 1, 1)), np.tile(g, (8, 1, 1, 1))
    got = fastconv.conv2d_backward(x, w, g, needs="weight", **kwargs).weight
    ref = fastconv.conv2d_backward(x.astype(np.float64), w.astype(np.float64), g.astype(np.float64), needs="weight",
                                   backend="naive", **kwargs).weight
    assert calls and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_padding_rows_and_long_sums(compiled, dtype):
    """Channel counts that are no multiple of the register block (padded
    with zero rows) and more input channels than one task's tile (32), a
    batch of one, and positions enough for many blocks and a remainder:
    against a float64 reference of the same data, closer than a plain
    float32 sum would be."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 70, 50, 47)).astype(dtype) + 3  # an offset: long sums of same-sign products
    w = rng.standard_normal((7, 70, 3, 3)).astype(dtype)
    g = (rng.standard_normal(fastconv.conv2d(x, w, padding=1).shape) + 1).astype(dtype)
    call = _args.conv2d_call(x, w, grad_out=g, padding=1)
    got = _grad_weight_taps.weight_grad(call.x, call.grad_out, call.geo, 1, w.shape, compiled=compiled)
    ref = weight_grad_by_correlation(call.x.astype(np.float64), call.grad_out.astype(np.float64), call.geo, 1,
                                     w.shape, backend="naive")
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(ref).max())


def test_kernel_rejects_bad_arguments():
    """The compiled kernel indexes raw pointers: inconsistent sizes raise."""
    if not _grad_weight_taps.kernel_available():
        pytest.skip("this build has no compiled weight-gradient kernel")
    from fastconv.backends import _direct

    g, x = np.zeros((1, 4, 32), np.float32), np.zeros((1, 1, 4, 48), np.float32)
    assert _direct.weight_grad(g, x, 1, 4, 4, [0], [0], 32, 16, 4, 1, 0).shape == (1, 4, 4)
    images = _direct.weight_grad(np.ones((3, 4, 32), np.float32), np.ones((3, 1, 4, 48), np.float32), 1, 4, 4, [0],
                                 [0], 32, 16, 4, 1, 0)
    np.testing.assert_array_equal(images, np.full((1, 4, 4), 96.0))  # 3 images of 32 positions
    with pytest.raises(ValueError, match="rows \\[20, 52\\) of 48"):
        _direct.weight_grad(g, x, 1, 4, 4, [0], [20], 32, 16, 4, 1, 0)
    with pytest.raises(ValueError, match="multiples of 16"):
        _direct.weight_grad(g, x, 1, 4, 4, [0], [0], 24, 16, 4, 1, 0)
    with pytest.raises(ValueError, match="multiples of 4"):
        _direct.weight_grad(g, x, 1, 3, 4, [0], [0], 32, 16, 4, 1, 0)
    with pytest.raises(ValueError, match="g has 1 images, x 2"):
        _direct.weight_grad(g, np.zeros((2, 1, 4, 48), np.float32), 1, 4, 4, [0], [0], 32, 16, 4, 1, 0)
    with pytest.raises(ValueError, match="phase 1 of 1"):
        _direct.weight_grad(g, x, 1, 4, 4, [1], [0], 32, 16, 4, 1, 0)


@pytest.mark.parametrize("shape, w_shape, groups", [
    ((3, 8, 7, 9), (12, 8, 1, 1), 1),  # 63 positions: whole vectors and a tail
    ((2, 16, 4, 4), (8, 8, 1, 1), 2),  # exactly one vector per image, grouped
    ((2, 6, 5, 5), (8, 6, 1, 1), 1),  # channels that are no multiple of 4: the copying path
    ((1, 4, 3, 3), (4, 4, 1, 1), 1),  # fewer positions than a vector: the tail alone
])
def test_pointwise_layers_in_place(compiled, shape, w_shape, groups, monkeypatch):
    """1x1 stride-1 layers: the kernel reads x and grad_out in place."""
    monkeypatch.setattr(_grad_weight_taps, "_POINTWISE_MIN_POSITIONS", 1)  # (small images here)
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape)
    w = rng.standard_normal(w_shape)
    g = rng.standard_normal(fastconv.conv2d(x, w, groups=groups).shape)
    call = _args.conv2d_call(x, w, grad_out=g, groups=groups)
    got = _grad_weight_taps.weight_grad(call.x, call.grad_out, call.geo, groups, w.shape, compiled=compiled)
    ref = weight_grad_by_correlation(call.x, call.grad_out, call.geo, groups, w.shape, backend="naive")
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


def test_kernel_from_eight_threads_at_once():
    """Concurrent weight gradients on the kernel's path (its per-call sums,
    the copies on fastconv's threads) each equal the serial result (to an
    ulp: which thread's float64 sums a task lands in varies)."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 32, 40, 40)).astype(np.float32)
    w = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)
    gs = [rng.standard_normal((2, 32, 40, 40)).astype(np.float32) for _ in range(8)]
    call = _args.conv2d_call(x, w, grad_out=gs[0], padding=1)
    assert _grad_weight_taps.applies(x.shape, w.shape, 1, call.geo, x.itemsize)
    serial = [fastconv.conv2d_backward(x, w, g, padding=1, needs="weight").weight for g in gs]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda g: fastconv.conv2d_backward(x, w, g, padding=1, needs="weight").weight, gs))
    for got, want in zip(results, serial):
        np.testing.assert_allclose(got, want, rtol=2e-7, atol=2e-7 * np.abs(want).max())
