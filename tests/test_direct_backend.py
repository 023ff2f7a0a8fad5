"""What is specific to the direct backend (register-blocked direct
convolution): every block shape of its micro-kernels (channel blocks with
output-channel remainders, row blocks for one channel per group, wide
blocks and the shifted last vector, stride-2 de-interleaving, the scalar
path) in every instruction-set variant and vector width this CPU runs,
against the oracle with hypothesis; the packed-weight layout and cache;
memory layouts; threads (count, 8 concurrent callers, the released GIL);
NaN/inf; float32 accuracy against torch's; the extension's own argument
checks. The cross-backend suites (test_oracle_property.py, test_conv2d.py)
pick the backend up from the registry as well."""
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _oracle_cases import backend_module, examples
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from fastconv.backends import naive

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}
DTYPES = [np.float32, np.float64]
ISA_CAPS = (3, 2, 1)  # AVX-512, AVX2+FMA, SSE2 (each capped at what this CPU runs)


@pytest.fixture(scope="module")
def direct():
    return backend_module("direct")


@pytest.fixture(scope="module")
def ext(direct):
    from fastconv.backends import _direct

    return _direct


@pytest.fixture(params=ISA_CAPS, ids=["isa<=avx512", "isa<=avx2", "isa<=sse2"])
def direct_isa(direct, ext, request):
    ext._limit_simd(request.param)
    yield direct
    ext._limit_simd(3)


def _out_shape(xp, w, stride, dilation):
    kh, kw = w.shape[2:]
    ho = (xp.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (xp.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    return (xp.shape[0], w.shape[0], ho, wo)


def _expected(xp, w, stride, dilation, groups):
    expected = np.empty(_out_shape(xp, w, stride, dilation), xp.dtype)
    naive.correlate(xp, w, expected, stride, dilation, groups)
    return expected


def _check(direct, xp, w, stride=(1, 1), dilation=(1, 1), groups=1, out=None):
    expected = _expected(xp, w, stride, dilation, groups)
    if out is None:
        out = np.full(expected.shape, np.nan, xp.dtype)  # must be overwritten everywhere
    direct.correlate(xp, w, out, stride, dilation, groups)
    np.testing.assert_allclose(out, expected, **TOL[xp.dtype.type])
    return out


def _layer(rng, dtype, n, groups, cg, og, kh, kw, hp, wp):
    xp = rng.standard_normal((n, groups * cg, hp, wp)).astype(dtype)
    w = rng.standard_normal((groups * og, cg, kh, kw)).astype(dtype)
    return xp, w


# Output widths around every vector and block boundary of both dtypes (2 to
# 16 lanes, 2 or 4 vectors per block), output channels per group around the
# 4-channel block (1: row blocks), at strides 1, 2 (vector) and 3 (scalar).
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("wo", [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 47, 63, 64, 65, 100])
@pytest.mark.parametrize("sw", [1, 2, 3])
def test_row_widths(direct_isa, dtype, wo, sw):
    rng = np.random.default_rng(wo * 10 + sw)
    for og in (1, 3, 8):
        xp, w = _layer(rng, dtype, 1, 1, 2, og, 3, 3, 6, (wo - 1) * sw + 3)
        _check(direct_isa, xp, w, stride=(1, sw))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("og", [1, 2, 3, 4, 5, 7, 8, 9])
@pytest.mark.parametrize("ho", [1, 3, 4, 5, 9])
def test_channel_and_row_remainders(direct_isa, dtype, og, ho):
    rng = np.random.default_rng(og * 10 + ho)
    xp, w = _layer(rng, dtype, 2, 2, 3, og, 2, 3, ho + 1, 40)
    _check(direct_isa, xp, w, groups=2)


@st.composite
def direct_calls(draw):
    """One call of the backend: shapes (1x1, kernel as large as the input,
    primes, channel and width remainders), strides, dilations, groups
    (depthwise included), dtypes, layouts, instruction-set cap."""
    family = draw(st.sampled_from(["layer", "layer", "depthwise", "1x1", "kernel=input", "primes"]))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg, og = draw(st.integers(1, 6)), draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = (draw(st.sampled_from([1, 1, 2, 3])), draw(st.sampled_from([1, 1, 2, 2, 3])))
    dilation = (draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 1, 2, 3])))
    if family == "depthwise":
        groups, cg, og = draw(st.integers(1, 6)), 1, 1
    elif family == "1x1":
        kh = kw = 1
    elif family == "primes":
        kh, kw = draw(st.sampled_from([2, 3, 5])), draw(st.sampled_from([2, 3, 5, 7]))
    spans = [d * (k - 1) + 1 for k, d in zip((kh, kw), dilation)]
    if family == "kernel=input":
        hp, wp = spans
    elif family == "primes":
        hp, wp = (s + draw(st.sampled_from([0, 2, 6, 12, 30])) for s in spans)
    else:
        hp, wp = spans[0] + draw(st.integers(0, 9)), spans[1] + draw(st.integers(0, 70))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    xp, w = _layer(rng, dtype, draw(st.integers(1, 3)), groups, cg, og, kh, kw, hp, wp)
    if draw(st.booleans()):  # the engine's views: outer axes strided, last axis contiguous
        big = np.zeros((2 * xp.shape[0], xp.shape[1] + 1, hp + 3, wp + 5), dtype=dtype)
        view = big[::2, 1:, 1 : 1 + hp, 2 : 2 + wp]
        view[...] = xp
        xp = view
    if draw(st.booleans()):
        wbig = np.zeros((w.shape[0], cg, kh + 1, kw + 2), dtype=dtype)
        wbig[:, :, :kh, 1 : 1 + kw] = w
        w = wbig[:, :, :kh, 1 : 1 + kw]
    return (xp, w, stride, dilation, groups, draw(st.sampled_from(ISA_CAPS)), draw(st.booleans()),
            draw(st.sampled_from([None, 0.0])))


@settings(max_examples=examples(150))
@given(call=direct_calls())
def test_matches_oracle(direct, ext, call):
    """``flat_gain`` 0: every map the flattened form can take takes it."""
    xp, w, stride, dilation, groups, cap, out_view, flat_gain = call
    shape = _out_shape(xp, w, stride, dilation)
    if out_view:  # a rectangle of a larger output, as the engine's border strips write
        big = np.full((shape[0], shape[1] + 1, shape[2] + 2, shape[3] + 3), 7.0, xp.dtype)
        out = big[:, 1:, 1:-1, 2:-1]
    else:
        out = big = np.full(shape, np.nan, xp.dtype)
    before = big.copy()
    ext._limit_simd(cap)
    saved = direct._FLAT_GAIN
    if flat_gain is not None:
        direct._FLAT_GAIN = flat_gain
    try:
        _check(direct, xp, w, stride, dilation, groups, out=out)
    finally:
        ext._limit_simd(3)
        direct._FLAT_GAIN = saved
    if out_view:
        outside = np.ones(big.shape, bool)
        outside[:, 1:, 1:-1, 2:-1] = False
        np.testing.assert_array_equal(big[outside], before[outside])  # nothing written outside out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size, stride", [(7, 1), (9, 1), (14, 1), (15, 2), (28, 2), (4, 1)])
def test_flattened_maps_equal_the_row_kernel_bit_for_bit(direct_isa, dtype, size, stride):
    """Narrow maps run as one flat row (every vector full): each output's
    taps are summed in the same order as by rows, so the bits agree."""
    rng = np.random.default_rng(size)
    xp, w = _layer(rng, dtype, 2, 1, 20, 11, 3, 3, size + 2, size + 2)
    saved = direct_isa._FLAT_GAIN
    try:
        direct_isa._FLAT_GAIN = 0.0
        out = np.empty(_out_shape(xp, w, (stride,) * 2, (1, 1)), dtype)
        assert direct_isa._flattened(xp, w.shape, out, (stride,) * 2, (1, 1), 1) is not None
        flat = _check(direct_isa, xp, w, (stride,) * 2)
        direct_isa._FLAT_GAIN = float("inf")
        rows = _check(direct_isa, xp, w, (stride,) * 2)
    finally:
        direct_isa._FLAT_GAIN = saved
    np.testing.assert_array_equal(flat, rows)


def test_pack_layout(direct):
    # Blocks of 4 (AVX2, SSE2) or 8 (AVX-512) output channels per group (the last narrower), each laid
    # out [c][a][b][channel]; the block starting at channel o begins at
    # element o * C/groups*kh*kw.
    o_chan, cg, kh, kw, groups = 14, 3, 2, 5, 2
    w = np.arange(o_chan * cg * kh * kw, dtype=np.float64).reshape(o_chan, cg, kh, kw)
    taps = cg * kh * kw
    og = o_chan // groups
    for block in (4, 8):
        packed = direct.pack(w, groups, block)
        for g in range(groups):
            for b0 in range(0, og, block):
                o0, nob = g * og + b0, min(block, og - b0)
                blk = packed[o0 * taps : (o0 + nob) * taps].reshape(cg, kh, kw, nob)
                np.testing.assert_array_equal(blk, w[o0 : o0 + nob].transpose(1, 2, 3, 0))


def test_packed_weights_cache(direct):
    rng = np.random.default_rng(0)
    direct.clear_cache()
    w = rng.standard_normal((8, 3, 3, 3))
    first = direct._packed(w, 1, 4)
    assert direct._packed(w.copy(), 1, 4) is first  # same bytes: cached
    assert not first.flags.writeable
    w2 = w.copy()
    w2[0, 0, 0, 0] += 1.0
    assert direct._packed(w2, 1, 4) is not first  # other bytes: packed again
    assert direct._packed(w, 2, 4) is not first  # other groups: other layout
    assert direct.describe()["cached_weight_bytes"] == sum(v.nbytes for v in direct._cache.values())
    direct.clear_cache()
    assert direct.describe()["cached_weight_bytes"] == 0 and not len(direct._cache)


def test_cache_is_bounded(direct, monkeypatch):
    monkeypatch.setattr(direct._cache, "max_bytes", 64 * 1024)
    direct.clear_cache()
    rng = np.random.default_rng(1)
    for _ in range(40):
        direct._packed(rng.standard_normal((16, 16, 3, 3)), 1, 4)  # 18 KiB each
        assert direct._cache.nbytes == sum(v.nbytes for v in direct._cache.values()) <= 64 * 1024
    big = rng.standard_normal((64, 16, 3, 3))  # more than a quarter of the cache: packed, not kept
    direct._packed(big, 1, 4)
    assert all(v.nbytes < big.nbytes for v in direct._cache.values())
    direct.clear_cache()


@pytest.mark.parametrize("dtype", DTYPES)
def test_inputs_not_modified_and_readonly_accepted(direct, dtype):
    rng = np.random.default_rng(2)
    big = rng.standard_normal((2, 5, 40, 90)).astype(dtype)
    xp = big[:, 1:4, 3:35, 2:80]
    xp.flags.writeable = False
    w = rng.standard_normal((6, 6, 3, 5)).astype(dtype)[:, ::2]  # non-contiguous weights
    w.flags.writeable = False
    before = xp.copy(), w.copy()
    _check(direct, xp, w)
    np.testing.assert_array_equal(xp, before[0])
    np.testing.assert_array_equal(w, before[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("og", [1, 4])
def test_nonfinite_propagates_like_oracle(direct_isa, dtype, value, og):
    rng = np.random.default_rng(3)
    xp = rng.standard_normal((1, 2, 12, 150)).astype(dtype)
    xp[0, 1, 5, 70] = value
    w = rng.standard_normal((og, 2, 3, 3)).astype(dtype)
    w[:, 1, 1, 1] = 0.0  # a zero tap over the bad value: 0 * inf is still NaN
    out = _check(direct_isa, xp, w)
    assert not np.isfinite(out[0, :, 3:6, 68:71]).any()
    assert np.isfinite(out[0, :, :3]).all()


def test_describe(direct):
    info = direct.describe()
    assert isinstance(info["openmp"], bool)
    assert isinstance(info["max_threads"], int) and info["max_threads"] >= 1
    assert isinstance(info["simd"], str) and info["simd"]
    assert info["block_channels"] in (4, 8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("og", [1, 8])
def test_thread_count_does_not_change_bits(direct, ext, dtype, og):
    # Each output element is summed by one thread in a fixed order, whatever
    # the bands and the team size.
    rng = np.random.default_rng(4)
    xp, w = _layer(rng, dtype, 1, 2, 3, og, 3, 3, 40, 70)
    wpk = direct.pack(w, 2)
    results = []
    for threads in (1, 2, 3, 8):
        out = np.empty(_out_shape(xp, w, (1, 1), (1, 1)), dtype)
        ext.correlate(xp, wpk, w.shape, out, (1, 1), (1, 1), 2, ext.block(), threads, 0)
        results.append(out)
    for r in results[1:]:
        np.testing.assert_array_equal(results[0], r)
    np.testing.assert_allclose(results[0], _expected(xp, w, (1, 1), (1, 1), 2), **TOL[dtype])


def test_concurrent_calls_from_8_threads(direct):
    rng = np.random.default_rng(5)
    cases = []
    for i in range(8):
        dtype = DTYPES[i % 2]
        xp, w = _layer(rng, dtype, 1 + i % 2, 1 + i % 3, 2 + i % 3, 1 + i, 3, 1 + i % 3, 20, 30 + 5 * i)
        cases.append((xp, w, 1 + i % 3, _expected(xp, w, (1, 1), (1, 1), 1 + i % 3)))

    def run(i):
        xp, w, groups, expected = cases[i % 8]
        out = np.empty_like(expected)
        direct.correlate(xp, w, out, (1, 1), (1, 1), groups)
        return np.allclose(out, expected, **TOL[xp.dtype.type])

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(run, range(64)))


def test_gil_released_during_compute(direct):
    # A pure-Python thread keeps counting while a long correlate runs.
    xp = np.ones((1, 32, 120, 400))
    w = np.ones((16, 32, 5, 5))
    out = np.empty(_out_shape(xp, w, (1, 1), (1, 1)))
    direct.correlate(xp, w, out, (1, 1), (1, 1), 1)  # packs (and caches) the weights
    ticks = []
    started, done = threading.Event(), threading.Event()

    def counter():
        started.set()
        while not done.is_set():
            ticks.append(time.perf_counter())

    t = threading.Thread(target=counter)
    t.start()
    started.wait()
    fastconv.set_threads(1)
    try:
        t0 = time.perf_counter()
        direct.correlate(xp, w, out, (1, 1), (1, 1), 1)
        t1 = time.perf_counter()
    finally:
        fastconv.set_threads(None)
        done.set()
        t.join()
    assert np.all(out == 32 * 25)
    during = [x for x in ticks if t0 + 0.25 * (t1 - t0) < x < t0 + 0.75 * (t1 - t0)]
    assert during, "no Python thread ran during the kernel: the GIL was held"


def test_backend_passes_threads_and_serial_threshold(direct, monkeypatch):
    seen = []
    stub = type("Stub", (), {"correlate": staticmethod(lambda *a, **k: seen.append(a[-2:])), "block": staticmethod(lambda: 4),
                             "lanes": staticmethod(lambda double: [])})
    monkeypatch.setattr(direct, "_direct", stub)
    monkeypatch.setattr(fastconv.settings, "SERIAL_MACS", 12345)
    fastconv.set_threads(3)
    try:
        direct.correlate(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), np.empty((1, 1, 3, 3)), (1, 1), (1, 1), 1)
    finally:
        fastconv.set_threads(None)
    assert seen == [(3, 12345)]


# Long tap sums (C*kh*kw >= 2304): measured at torch's level but not
# reliably below it (max error 0.9-1.2x torch's over seeds: two-level sums,
# chunks of about sqrt(C*kh*kw) taps in registers, then the chunks in
# sequence). Kept visible as a known gap, not asserted away.
_LONG_SUM = pytest.mark.xfail(reason="long float32 tap sums: at torch's error level, not reliably below it",
                              strict=False)


@pytest.mark.parametrize("case", [
    # (x, w, padding, stride): a ResNet layer, a 7x7 stride-2 stem, and
    # long tap sums (C*kh*kw = 2304, 4608).
    ((2, 64, 20, 20), (32, 64, 3, 3), 1, 1),
    ((2, 64, 28, 28), (16, 64, 3, 3), 1, 1),
    ((1, 3, 40, 40), (8, 3, 7, 7), 3, 2),
    ((4, 16, 30, 30), (8, 16, 5, 5), 2, 1),
    pytest.param(((1, 256, 12, 12), (16, 256, 3, 3), 1, 1), marks=_LONG_SUM),
    pytest.param(((1, 512, 7, 7), (32, 512, 3, 3), 1, 1), marks=_LONG_SUM),
])
def test_float32_at_least_as_accurate_as_torch(direct, case):
    torch = pytest.importorskip("torch")
    xs, ws, padding, stride = case
    rng = np.random.default_rng(6)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
    ref = torch.nn.functional.conv2d(torch.from_numpy(x.astype(np.float64)), torch.from_numpy(w.astype(np.float64)),
                                     padding=padding, stride=stride).numpy()
    with torch.no_grad():
        theirs = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=padding,
                                            stride=stride).numpy()
    ours = fastconv.conv2d(x, w, padding=padding, stride=stride, backend="direct")
    err_ours = np.abs(ours.astype(np.float64) - ref).max()
    err_torch = np.abs(theirs.astype(np.float64) - ref).max()
    assert err_ours <= err_torch, f"direct max error {err_ours:.3g} > torch's {err_torch:.3g}"


def _bad_case(dtype=np.float64):
    rng = np.random.default_rng(7)
    return rng.standard_normal((2, 4, 10, 12)).astype(dtype), rng.standard_normal((6, 2, 3, 3)).astype(dtype)


# Inconsistent calls of the extension: (out shape, w_shape, packed size,
# stride, dilation, groups, block, threads) against xp (2, 4, 10, 12) and w
# (6, 2, 3, 3); the consistent call is the first row's defaults.
GOOD = dict(shape=(2, 6, 8, 10), w_shape=(6, 2, 3, 3), size=108, stride=(1, 1), dilation=(1, 1), groups=2, block=None,
            threads=1)  # block None: the extension's own
BAD_CALLS = {
    "images": dict(shape=(1, 6, 8, 10)),
    "out-channels": dict(shape=(2, 4, 8, 10)),
    "w-out-channels": dict(w_shape=(4, 2, 3, 3), size=72),
    "packed-too-short": dict(size=107),
    "packed-too-long": dict(size=109),
    "kernel-0": dict(w_shape=(6, 2, 0, 3), size=0),
    "groups-0": dict(groups=0),
    "groups-negative": dict(groups=-2),
    "groups-not-dividing": dict(groups=4),
    "in-channels": dict(groups=3),
    "in-channels-groups-1": dict(groups=1),
    "height": dict(shape=(2, 6, 9, 10)),
    "width": dict(shape=(2, 6, 8, 11)),
    "height-by-stride": dict(stride=(2, 1)),
    "width-by-stride": dict(stride=(1, 2)),
    "height-by-dilation": dict(dilation=(2, 1)),
    "width-by-dilation": dict(dilation=(1, 3)),
    "stride-0": dict(stride=(0, 1)),
    "stride-negative": dict(stride=(1, -1)),
    "dilation-0": dict(dilation=(1, 0)),
    "block": dict(block=3),
    "threads-0": dict(threads=0),
    "threads-negative": dict(threads=-3),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_inconsistent_arguments_raise(direct, ext, dtype, case):
    xp, w = _bad_case(dtype)
    a = {**GOOD, **BAD_CALLS[case]}
    out = np.full(a["shape"], 7.0, dtype)
    wpk = np.resize(direct.pack(w, 2), a["size"])
    block = ext.block() if a["block"] is None else a["block"]
    with pytest.raises(ValueError):
        ext.correlate(xp, wpk, a["w_shape"], out, a["stride"], a["dilation"], a["groups"], block, a["threads"],
                      0)
    assert np.all(out == 7.0)  # checked before anything is written
    good = np.empty(GOOD["shape"], dtype)  # ... and the module still works
    ext.correlate(xp, direct.pack(w, 2), w.shape, good, (1, 1), (1, 1), 2, ext.block(), 2, 0)
    np.testing.assert_allclose(good, _expected(xp, w, (1, 1), (1, 1), 2), **TOL[dtype])


def test_extension_imports_nothing_from_fastconv(ext):
    # Load the compiled module by its file in a fresh interpreter: it must
    # initialise, compute, and leave no fastconv module but itself imported.
    code = f"""
import importlib.util, sys
import numpy as np
spec = importlib.util.spec_from_file_location("_direct", {ext.__file__!r})
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
out = np.empty((1, 1, 2, 2))
m.correlate(np.arange(9.0).reshape(1, 1, 3, 3), np.ones(4), (1, 1, 2, 2), out, (1, 1), (1, 1), 1, m.block(), 1, 1 << 20)
assert out.ravel().tolist() == [8.0, 12.0, 20.0, 24.0], out
others = sorted(k for k in sys.modules if k.split(".")[0] == "fastconv" and k != "fastconv.backends._direct")
assert not others, others
print("ok")
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("wp", [17, 34, 35, 58, 71])
@pytest.mark.parametrize("pads", [((0, 0), (0, 0)), ((1, 1), (1, 1)), ((0, 2), (3, 0)), ((2, 1), (1, 2))])
def test_deinterleave_layout(ext, dtype, wp, pads):
    """_direct.deinterleave: the padded input, each row's even columns, then its odd ones."""
    rng = np.random.default_rng(wp)
    (top, bottom), (left, right) = pads
    x = rng.standard_normal((2, 3, 5, wp)).astype(dtype)
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    out = np.full(padded.shape, np.nan, dtype)
    ext.deinterleave(x, out, top, left, 2)
    half = (padded.shape[3] + 1) // 2
    np.testing.assert_array_equal(out[..., :half], padded[..., 0::2])
    np.testing.assert_array_equal(out[..., half:], padded[..., 1::2])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("og, kw, dw", [(1, 3, 1), (3, 3, 1), (8, 3, 2), (9, 7, 1), (4, 2, 1), (5, 4, 3)])
@pytest.mark.parametrize("wo", [16, 17, 28, 33, 64])
def test_stride2_deinterleaved_equals_the_strided_loads_bit_for_bit(direct_isa, ext, dtype, og, kw, dw, wo):
    """Stride 2 on de-interleaved rows reads the same values in the same
    order as the two-load shuffle did, with and without a zero border."""
    rng = np.random.default_rng(og * 100 + wo)
    xp, w = _layer(rng, dtype, 2, 1, 3, og, 3, kw, 9, (wo - 1) * 2 + (kw - 1) * dw + 1)
    shape = _out_shape(xp, w, (2, 2), (1, dw))
    if not ext.takes_deinterleaved(shape[3], dtype == np.float64):
        pytest.skip("a scalar row on this variant")
    assert direct_isa._deinterleaves(xp, w.shape, np.empty(shape, dtype), (2, 2), 1, xp.shape[3])
    packed = direct_isa.pack(w, 1)
    strided = np.full(shape, np.nan, dtype)
    ext.correlate(xp, packed, w.shape, strided, (2, 2), (1, dw), 1, ext.block(), 1, 0)  # shuffling loads
    got = _check(direct_isa, xp, w, stride=(2, 2), dilation=(1, dw))  # the de-interleaved copy
    np.testing.assert_array_equal(got, strided)
    inner = np.ascontiguousarray(xp[:, :, 1:-1, 2:-1])  # the same input as a zero border around its inside
    xz = np.zeros_like(xp)
    xz[:, :, 1:-1, 2:-1] = inner
    expected = _expected(xz, w, (2, 2), (1, dw), 1)
    bordered = np.full(shape, np.nan, dtype)
    assert direct_isa.correlate_zero_border(inner, w, bordered, ((1, 1), (2, 1)), (2, 2), (1, dw), 1)
    np.testing.assert_allclose(bordered, expected, **TOL[dtype])


def test_deinterleaved_rows_refused_where_they_do_not_apply(ext):
    x = np.zeros((1, 1, 5, 40), np.float32)
    out = np.zeros((1, 1, 3, 19), np.float32)
    packed = np.zeros(9, np.float32)
    with pytest.raises(ValueError, match="de-interleaved"):
        ext.correlate(x, packed, (1, 1, 3, 3), out, (1, 1), (1, 1), 1, ext.block(), 1, 0, None, True)
    with pytest.raises(ValueError, match="de-interleaved"):
        ext.correlate(x, packed, (1, 1, 3, 3), out, (2, 2), (1, 1), 1, ext.block(), 1, 0, (1, 1), True)
    with pytest.raises(ValueError, match="images and channels must match"):
        ext.deinterleave(x, np.zeros((1, 2, 5, 40), np.float32), 0, 0, 1)
