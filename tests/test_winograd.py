"""The winograd backend: F(2x2,3x3) and F(4x4,3x3) against the oracle within
its published error bound (``winograd.error_bound``, derived in its module
docstring) plus the oracle's own rounding; the bound on adversarial data and
its size on ordinary data; the fallback for problems it has no transform
for; the kernel-transform cache; every instruction-set variant; threads;
and the exact-only setting (FASTCONV_EXACT / set_exact) that keeps auto
off every approximate backend.
"""
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from fastconv import backends
from fastconv import settings as fc_settings
from fastconv._geometry import WINOGRAD_KERNEL_PER_CHUNK, winograd_chunks
from fastconv.planner import costmodel
from _oracle_cases import backend_module, examples

@pytest.fixture(scope="module", autouse=True)
def _compiled():
    backend_module("winograd")  # skip without the extension (fail under FASTCONV_REQUIRE_COMPILED=1)


winograd = backends.load("winograd")


def _reference(xp, w, groups):
    """float64 valid correlation by the oracle backend."""
    n, c, hp, wp = xp.shape
    out = np.empty((n, w.shape[0], hp - w.shape[2] + 1, wp - w.shape[3] + 1))
    backend_module("naive").correlate(xp.astype(np.float64), w.astype(np.float64), out, (1, 1), (1, 1), groups)
    return out


def _within_bound(got, xp, w, groups, tile=None, stride=(1, 1), dilation=(1, 1), ref=None):
    ref = _reference(xp, w, groups) if ref is None else ref
    bound = winograd.error_bound(xp, w, got.shape, stride, dilation, groups, tile=tile)
    err = np.abs(got.astype(np.float64) - ref)
    tol = bound + np.finfo(got.dtype).eps * np.abs(ref)  # + the oracle's one rounding
    assert np.all(err <= tol), f"max error {err.max():.3g}, worst err/bound {(err / tol).max():.3g}"
    return err, bound, ref


@st.composite
def layer_problems(draw):
    """(xp, w, out view prefilled with NaN, groups, tile) over N, C, O, H, W
    (tiny ones smaller than a tile, odd, non-square), groups, dtypes,
    strided views of larger arrays."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg = draw(st.sampled_from([1, 1, 2, 5, 8])) if groups > 1 else draw(st.integers(1, 9))
    og = draw(st.integers(1, 4))
    n = draw(st.integers(1, 3))
    ho, wo = draw(st.integers(1, 13)), draw(st.integers(1, 13))
    tile = draw(st.sampled_from([None, 2, 4]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (n, groups * cg, ho + 2, wo + 2)
    x = rng.standard_normal(shape).astype(dtype)
    if draw(st.booleans()):  # a view: rows padded, channels strided
        big = np.zeros((n, 2 * shape[1], shape[2], shape[3] + 3), dtype)
        big[:, ::2, :, 1 : 1 + shape[3]] = x
        x = big[:, ::2, :, 1 : 1 + shape[3]]
    w = rng.standard_normal((groups * og, cg, 3, 3)).astype(dtype)
    base = np.full((n, groups * og, ho + 2, wo + 5), np.nan, dtype)
    out = base[:, :, 1 : 1 + ho, 2 : 2 + wo]
    return x, w, out, groups, tile


@settings(max_examples=examples(150))
@given(problem=layer_problems())
def test_backend_within_bound_of_the_oracle(problem):
    xp, w, out, groups, tile = problem
    base = out.base.copy()
    xs, ws = xp.copy(), w.copy()
    winograd.correlate(xp, w, out, (1, 1), (1, 1), groups, tile=tile)
    np.testing.assert_array_equal(xp, xs)
    np.testing.assert_array_equal(w, ws)
    assert not np.isnan(out).any(), "out not completely overwritten"
    mask = np.ones(base.shape, bool)
    mask[:, :, 1 : 1 + out.shape[2], 2 : 2 + out.shape[3]] = False
    assert np.isnan(out.base[mask]).all(), "written outside out"
    _within_bound(out, xp, w, groups, tile)


@settings(max_examples=examples(40))
@given(n=st.integers(1, 2), c=st.integers(1, 6), o=st.integers(1, 6), h=st.integers(1, 11), w=st.integers(1, 11),
       padding=st.sampled_from([0, 1, "same", ((2, 0), (0, 1))]), dtype=st.sampled_from(["float32", "float64"]),
       layout=st.sampled_from(["C", "fortran", "negative"]), seed=st.integers(0, 2**16))
def test_conv2d_forced_winograd_matches_the_oracle(n, c, o, h, w, padding, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    k = rng.standard_normal((o, c, 3, 3)).astype(dtype)
    if layout == "fortran":
        x = np.asfortranarray(x)
    elif layout == "negative":
        x = np.ascontiguousarray(x[..., ::-1])[..., ::-1]
    try:
        expected = fastconv.conv2d(x, k, padding=padding, backend="naive")
    except ValueError:  # kernel larger than the padded input: refused alike
        with pytest.raises(ValueError):
            fastconv.conv2d(x, k, padding=padding, backend="winograd")
        return
    got = fastconv.conv2d(x, k, padding=padding, backend="winograd")
    assert got.dtype == np.dtype(dtype) and got.shape == expected.shape
    from fastconv._geometry import Geometry
    from fastconv._padding import pad_spatial

    geo = Geometry.from_args(x.shape[2:], k.shape[2:], padding, 1, 1)
    xp = pad_spatial(np.ascontiguousarray(x), geo.pads, "constant", 0.0)
    _within_bound(got, xp, k, 1, ref=expected.astype(np.float64))


@settings(max_examples=examples(80))
@given(n=st.integers(1, 2), groups=st.sampled_from([1, 2, 3]), cg=st.sampled_from([1, 1, 2, 5]),
       og=st.integers(1, 3), h=st.integers(1, 14), w=st.integers(1, 14),
       pads=st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
       tile=st.sampled_from([2, 4]), dtype=st.sampled_from([np.float32, np.float64]),
       limit=st.sampled_from([None, 1, 30_000]), seed=st.integers(0, 2**16))
def test_zero_border_in_the_transform_is_the_padded_copy_bitwise(n, groups, cg, og, h, w, pads, tile, dtype, limit,
                                                                 seed):
    """The border read as zeros (top/left before the input, bottom/right
    past it; tiny workspaces split tile rows into pieces whose first column
    lies in the left border) gives the same bits as the engine's padded
    copy: the transforms see the same values."""
    from fastconv._padding import pad_spatial

    top, bottom, left, right = pads
    ho, wo = h + top + bottom - 2, w + left + right - 2
    if ho < 1 or wo < 1:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, groups * cg, h, w)).astype(dtype)
    k = rng.standard_normal((groups * og, cg, 3, 3)).astype(dtype)
    xs = x.copy()
    expected = np.empty((n, groups * og, ho, wo), dtype)
    got = np.full_like(expected, np.nan)
    fastconv.set_workspace_limit(limit)
    try:
        winograd.correlate(pad_spatial(x, ((top, bottom), (left, right)), "constant", 0.0), k, expected, (1, 1),
                           (1, 1), groups, tile=tile)
        assert winograd.correlate_zero_border(x, k, got, ((top, bottom), (left, right)), (1, 1), (1, 1), groups,
                                              tile=tile)
    finally:
        fastconv.set_workspace_limit(None)
    np.testing.assert_array_equal(x, xs)
    np.testing.assert_array_equal(got, expected)


def test_zero_border_hook_declines_what_winograd_does_not_compute():
    x = np.ones((1, 2, 9, 9))
    out = np.full((1, 1, 5, 5), np.nan)
    for k, stride, dilation in (((1, 2, 5, 5), (1, 1), (1, 1)), ((1, 2, 3, 3), (2, 2), (1, 1)),
                                ((1, 2, 3, 3), (1, 1), (2, 2))):
        assert winograd.correlate_zero_border(x, np.ones(k), out, ((0, 0), (0, 0)), stride, dilation, 1) is False
    assert np.isnan(out).all()


def test_the_engine_reads_a_zero_border_in_place(monkeypatch):
    """conv2d with zero padding on winograd makes no padded copy."""
    from fastconv import _engine

    def no_copy(*args, **kwargs):
        raise AssertionError("padded copy made")

    monkeypatch.setattr(_engine, "pad_spatial", no_copy)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 11, 13)).astype(np.float32)
    k = rng.standard_normal((3, 4, 3, 3)).astype(np.float32)
    got = fastconv.conv2d(x, k, padding=1, backend="winograd")
    _within_bound(got, np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), k, 1)


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adversarial_dynamic_range_stays_within_bound(tile, dtype):
    """Huge and tiny values mixed (both signs, 1e-6..1e6 in float32), where
    the transforms cancel large terms: the componentwise bound still holds."""
    rng = np.random.default_rng(7)
    big = 1e6 if dtype == np.float32 else 1e12
    x = rng.standard_normal((2, 12, 21, 18)) * np.where(rng.random((2, 12, 21, 18)) < 0.1, big, 1 / big)
    w = rng.standard_normal((10, 12, 3, 3)) * np.where(rng.random((10, 12, 3, 3)) < 0.2, 1e3, 1e-3)
    x[0, 0, :6, :6] = big  # a flat huge patch next to tiny values
    x[0, 0, 6:12, :6] = -big
    x, w = x.astype(dtype), w.astype(dtype)
    out = np.empty((2, 10, 19, 16), dtype)
    winograd.correlate(x, w, out, (1, 1), (1, 1), 1, tile=tile)
    _within_bound(out, x, w, 1, tile)


@pytest.mark.parametrize("tile, limit32, limit64", [(2, 2e-3, 5e-12), (4, 1e-2, 2e-11)])
def test_bound_is_far_below_the_result_on_ordinary_data(tile, limit32, limit64):
    """Not vacuous: on normal data (16 channels) the bound is a small fraction
    of the result's typical size, and the error is below the bound."""
    rng = np.random.default_rng(3)
    for dtype, limit in ((np.float32, limit32), (np.float64, limit64)):
        x = rng.standard_normal((2, 16, 30, 30)).astype(dtype)
        w = rng.standard_normal((16, 16, 3, 3)).astype(dtype)
        out = np.empty((2, 16, 28, 28), dtype)
        winograd.correlate(x, w, out, (1, 1), (1, 1), 1, tile=tile)
        err, bound, ref = _within_bound(out, x, w, 1, tile)
        rms = np.sqrt(np.mean(ref**2))
        assert bound.max() < limit * rms, f"bound {bound.max():.3g} vs rms {rms:.3g}"


def test_tile_choice():
    """float32: F(2,3) (accuracy at torch's level); float64: F(4,3) given
    enough tiles of outputs of at least 4."""
    d = np.float64
    assert winograd.tile_for(1, 56, 56, d) == 4 and winograd.tile_for(1, 28, 28, d) == 4
    assert winograd.tile_for(3, 16, 16, d) == 4
    assert winograd.tile_for(1, 14, 14, d) == 2 and winograd.tile_for(8, 7, 7, d) == 2  # few tiles: skinny GEMMs
    assert winograd.tile_for(50, 3, 50, d) == 2 and winograd.tile_for(1, 1, 1, d) == 2
    assert all(winograd.tile_for(n, h, h, np.float32) == 2 for n, h in ((1, 56), (8, 56), (1, 3)))


def test_transform_matrices_give_the_correlation_exactly_in_float64():
    rng = np.random.default_rng(0)
    for m in (2, 4):
        BT, G, AT = winograd.transform_matrices(m)
        d = rng.standard_normal((m + 2, m + 2))
        g = rng.standard_normal((3, 3))
        y = AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T
        direct = np.array([[np.sum(d[i : i + 3, j : j + 3] * g) for j in range(m)] for i in range(m)])
        np.testing.assert_allclose(y, direct, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ fallback

@pytest.mark.parametrize("kernel, stride, dilation", [((5, 5), 1, 1), ((3, 3), 2, 1), ((3, 3), 1, 2),
                                                      ((1, 1), 1, 1), ((3, 2), 1, 1)])
def test_unsupported_problems_fall_back_to_an_exact_direct_backend(kernel, stride, dilation, winograd_wins):
    """Forcing backend="winograd" where it has no transform computes the
    exact direct result (documented), and the planner never picks it there."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 13, 12))
    w = rng.standard_normal((3, 4) + kernel)
    got = fastconv.conv2d(x, w, padding=1, stride=stride, dilation=dilation, backend="winograd")
    direct = fastconv.conv2d(x, w, padding=1, stride=stride, dilation=dilation, backend=winograd._fallback().__name__
                             .rsplit(".", 1)[-1].rstrip("_"))
    np.testing.assert_array_equal(got, direct)
    p = fastconv.plan(x, w, padding=1, stride=stride, dilation=dilation)
    row = next(c for c in p.candidates if c.name == "winograd")
    assert p.backend != "winograd" and "only 3x3 kernels at stride 1" in str(row.excluded)


def test_supports_hook():
    from fastconv.planner.signature import Problem, Signature

    def problem(w, stride=(1, 1), dilation=(1, 1)):
        return Problem.of(Signature((1, 2, 9, 9), w, ((1, 1), (1, 1)), stride, dilation, 1, "f", 1, False))

    assert winograd.supports(problem((4, 2, 3, 3))) is None
    for p in (problem((4, 2, 5, 5)), problem((4, 2, 3, 3), stride=(1, 2)), problem((4, 2, 3, 3), dilation=(2, 1))):
        assert "3x3 kernels at stride 1 and dilation 1" in winograd.supports(p)


# ------------------------------------------------------------ kernel cache

def test_kernel_transforms_are_cached_by_the_weight_bytes():
    winograd.clear_cache()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 3, 10, 10)).astype(np.float32)
    w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    first = fastconv.conv2d(x, w, backend="winograd")
    assert len(winograd._cache) == 1
    np.testing.assert_array_equal(fastconv.conv2d(x, w, backend="winograd"), first)
    assert len(winograd._cache) == 1  # a hit
    w[0, 0, 1, 1] += 1.0  # same array, new values: a new transform, a new result
    changed = fastconv.conv2d(x, w, backend="winograd")
    assert len(winograd._cache) == 2 and not np.allclose(changed, first)
    _within_bound(changed[None][0], x, w, 1)
    assert winograd._cache.nbytes == sum(u.nbytes for u in winograd._cache.values())
    assert all(not u.flags.writeable for u in winograd._cache.values())


def test_kernel_cache_is_bounded_with_a_running_total(monkeypatch):
    winograd.clear_cache()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    fastconv.conv2d(x, rng.standard_normal((4, 4, 3, 3)).astype(np.float32), backend="winograd")
    monkeypatch.setattr(winograd._cache, "max_bytes", 3 * winograd._cache.nbytes)  # room for three transforms
    for _ in range(10):
        fastconv.conv2d(x, rng.standard_normal((4, 4, 3, 3)).astype(np.float32), backend="winograd")
        assert winograd._cache.nbytes == sum(u.nbytes for u in winograd._cache.values()) <= winograd._cache.max_bytes
    assert len(winograd._cache) == 3
    winograd.clear_cache()
    assert winograd._cache.nbytes == 0


# ----------------------------------------------- workspace, ISA, threads

@pytest.mark.parametrize("limit", [1, 40_000, 200_000])
def test_tiny_workspace_limits_split_into_chunks(limit):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 6, 23, 29))
    w = rng.standard_normal((5, 6, 3, 3))
    fastconv.set_workspace_limit(limit)
    try:
        out = np.empty((3, 5, 21, 27))
        winograd.correlate(x, w, out, (1, 1), (1, 1), 1)
    finally:
        fastconv.set_workspace_limit(None)
    _within_bound(out, x, w, 1)


@pytest.mark.parametrize("cap", [1, 2, 3])
@pytest.mark.parametrize("cg", [1, 4])
def test_every_instruction_set_variant(cap, cg):
    from fastconv.backends import _winograd

    rng = np.random.default_rng(5)
    try:
        _winograd._limit_simd(cap)
        for dtype in (np.float32, np.float64):
            for tile in (2, 4):
                x = rng.standard_normal((2, 2 * cg, 37, 19)).astype(dtype)  # widths beyond one vector, odd
                w = rng.standard_normal((6, cg, 3, 3)).astype(dtype)
                out = np.empty((2, 6, 35, 17), dtype)
                winograd.correlate(x, w, out, (1, 1), (1, 1), 2, tile=tile)
                _within_bound(out, x, w, 2, tile)
    finally:
        _winograd._limit_simd(3)


def test_concurrent_calls_from_8_threads_agree():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 8, 40, 40)).astype(np.float32)
    ws = [rng.standard_normal((8, 8, 3, 3)).astype(np.float32) for _ in range(8)]
    expected = [fastconv.conv2d(x, w, padding=1, backend="winograd") for w in ws]
    got = [None] * 8

    def run(i):
        for _ in range(3):
            got[i] = fastconv.conv2d(x, ws[i], padding=1, backend="winograd")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e, g)


def test_bad_arguments_to_the_compiled_layer_raise():
    from fastconv.backends import _winograd

    x = np.zeros((1, 2, 8, 8), np.float32)
    with pytest.raises(ValueError, match="tile m must be 2 or 4"):
        _winograd.input_transform(3, x, 6, 6, 0, 1, 0, 1, np.zeros((25, 2, 1), np.float32), 1)
    with pytest.raises(ValueError, match="does not fit"):
        _winograd.input_transform(4, x, 7, 6, 0, 1, 0, 1, np.zeros((36, 2, 1), np.float32), 1)
    with pytest.raises(ValueError, match="out of range"):
        _winograd.input_transform(4, x, 6, 6, 0, 3, 0, 1, np.zeros((36, 2, 3), np.float32), 1)
    with pytest.raises(ValueError, match="V has shape"):
        _winograd.input_transform(4, x, 6, 6, 0, 2, 0, 2, np.zeros((36, 2, 3), np.float32), 1)
    with pytest.raises(ValueError, match="pads must be >= 0"):
        _winograd.input_transform(4, x, 6, 6, 0, 1, 0, 1, np.zeros((36, 2, 2), np.float32), 1, ((-1, 0), (0, 0)))
    with pytest.raises(ValueError, match="does not fit"):  # the border counts towards the extent, no more
        _winograd.input_transform(2, x, 9, 8, 0, 1, 0, 1, np.zeros((16, 2, 1), np.float32), 1, ((1, 0), (1, 1)))
    with pytest.raises(ValueError, match="tile must be 2 or 4"):
        winograd.correlate(x, np.zeros((1, 2, 3, 3), np.float32), np.zeros((1, 1, 6, 6), np.float32), (1, 1),
                           (1, 1), 1, tile=6)


# ------------------------------------------------ the planner and exactness

@pytest.fixture
def winograd_wins():
    """Wisdom in which winograd's model predicts ~0 s: auto picks it wherever
    the rules allow."""
    terms = list(costmodel.term_names(backends.row("winograd").family))
    model = {dtype: {"terms": terms, "coef": [0.0] * len(terms)} for dtype in ("float32", "float64")}
    fastconv.import_wisdom({"format": 1, "model": {"winograd": model}})
    yield
    fastconv.forget_wisdom()
    fastconv.set_exact(None)


def test_auto_picks_winograd_for_float_inputs_but_never_for_integers(winograd_wins):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 16, 20, 20))
    w = rng.standard_normal((16, 16, 3, 3))
    assert fastconv.plan(x, w, padding=1).backend == "winograd"
    p = fastconv.plan(x.astype(np.int16), w.astype(np.int16), padding=1)
    assert p.backend != "winograd"
    xi, wi = rng.integers(-9, 9, (2, 4, 9, 9)), rng.integers(-9, 9, (4, 4, 3, 3))
    np.testing.assert_array_equal(fastconv.conv2d(xi, wi), fastconv.conv2d(xi, wi, backend="naive"))


def test_nonfinite_inputs_go_to_the_exact_runner_up(winograd_wins):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 8, 12, 12))
    w = rng.standard_normal((8, 8, 3, 3))
    x[0, 3, 5, 5] = np.nan
    x[0, 1, 2, 2] = np.inf
    np.testing.assert_array_equal(np.isnan(fastconv.conv2d(x, w)), np.isnan(fastconv.conv2d(x, w, backend="naive")))


@pytest.mark.parametrize("how", ["set_exact", "env"])
def test_exact_setting_keeps_auto_off_every_approximate_backend(winograd_wins, monkeypatch, how):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 16, 20, 20)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    assert fastconv.plan(x, w, padding=1).backend == "winograd"  # decision cached for this signature
    if how == "set_exact":
        fastconv.set_exact(True)
    else:
        monkeypatch.setenv("FASTCONV_EXACT", "1")
    assert fastconv.get_exact() is True
    p = fastconv.plan(x, w, padding=1)
    assert backends.row(p.backend).exact
    for c in p.candidates:
        if not backends.row(c.name).exact:
            assert c.excluded is not None and "exact backends only" in str(c.excluded), c
    got = fastconv.conv2d(x, w, padding=1)
    np.testing.assert_allclose(got, fastconv.conv2d(x, w, padding=1, backend="naive"), rtol=2e-5, atol=2e-4)
    assert fastconv.conv2d(x, w, padding=1, backend="winograd").dtype == np.float32  # named: still runs
    # and back: the decision follows the setting, not a stale cache
    if how == "set_exact":
        fastconv.set_exact(False)
    else:
        monkeypatch.setenv("FASTCONV_EXACT", "0")
    assert fastconv.get_exact() is False
    assert fastconv.plan(x, w, padding=1).backend == "winograd"


def test_set_exact_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("FASTCONV_EXACT", "1")
    try:
        fastconv.set_exact(False)
        assert fastconv.get_exact() is False
        fastconv.set_exact(None)
        assert fastconv.get_exact() is True
    finally:
        fastconv.set_exact(None)


@pytest.mark.parametrize("value", ["yes", "2", "true", "-1"])
def test_bad_exact_environment_value_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("FASTCONV_EXACT", value)
    with pytest.raises(ValueError, match="FASTCONV_EXACT=.*accepted: 1 .* or 0"):
        fastconv_get = fc_settings.get_exact
        fastconv_get()


@pytest.mark.parametrize("bad", [1, 0, "1", 1.0])
def test_set_exact_validation(bad):
    with pytest.raises(ValueError, match="True, False or None"):
        fastconv.set_exact(bad)


@settings(max_examples=300, deadline=None)
@given(rows=st.integers(1, 200), tw=st.integers(1, 80), tile_bytes=st.integers(64, 1 << 18),
       kernel_bytes=st.integers(0, 1 << 26), threads=st.integers(1, 8), limit=st.integers(1, 1 << 28),
       chunk_bytes=st.integers(1 << 16, 1 << 21))
def test_chunk_plan_covers_every_tile_within_its_budgets(rows, tw, tile_bytes, kernel_bytes, threads, limit,
                                                         chunk_bytes):
    r, c, chunks = winograd_chunks(rows, tw, tile_bytes, kernel_bytes, threads, limit, chunk_bytes)
    assert 1 <= r <= rows and 1 <= c <= tw and (r == 1 or c == tw)  # whole tile rows, or pieces of one
    assert chunks == -(-rows // r) * -(-tw // c)
    per_chunk = r * c * tile_bytes
    target = max(chunk_bytes, kernel_bytes // WINOGRAD_KERNEL_PER_CHUNK)
    assert r * c == 1 or per_chunk <= min(target, limit)  # never below one tile
    if threads > 1 and rows * tw >= 2:
        assert r * c == 1 or per_chunk <= limit // threads  # each thread's share of the cap
        assert r * c <= -(-rows * tw // threads)  # no chunk larger than a thread's share of the tiles


def test_chunks_grow_with_the_transformed_kernel():
    # 512 -> 512 channels, F(2,3), 8 images of 7x7: U is 16 MiB; half an L2
    # of workspace would re-read it for every 8 tiles
    args = (8 * 4, 4, 16 * 1024 * 4)
    few = winograd_chunks(*args, 16 * 512 * 512 * 4, 1, 1 << 30, 512 << 10)[2]
    many = winograd_chunks(*args, 0, 1, 1 << 30, 512 << 10)[2]
    assert (few, many) == (4, 16)
