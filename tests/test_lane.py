"""The fast lane of corr2d (fastconv._lane) and the kernels' own zero border.

The lane must compute what the normal path computes, for every layout it
is handed (taking it or sending it back), follow every argument and
setting that changes the answer or the planner's choice, raise the normal
path's errors, and go stale when the planner's state changes.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import fastconv
from fastconv import _corr2d, _lane, backends
from fastconv.planner import state
from _oracle_cases import (LAYOUTS, _magnitude_scale, assert_close, backend_module, corr2d_cases, examples, oracle,
                           snapshot, tolerance)

LANE_LAYOUTS = ("C", "fortran", "negative_strides", "strided_slice", "column_slice", "read_only", "byteswapped",
                "unaligned")


@pytest.fixture(autouse=True)
def fresh_lane(monkeypatch):
    for name in ("FASTCONV_BACKEND", "FASTCONV_PLANNER", "FASTCONV_EXACT"):
        monkeypatch.delenv(name, raising=False)
    _lane.clear()
    yield
    _lane.clear()


def normal(X, K, padding=0, stride=1, dilation=1, mode="constant", cval=0.0, backend="auto", measure=None):
    """corr2d's normal path, never the lane."""
    return _corr2d._call(X, K, padding, stride, dilation, mode, cval, None, None, backend, None, measure)


def entry_of(X, K, **kw):
    """The lane's entry for this call (None: never seen)."""
    args = {"padding": 0, "stride": 1, "dilation": 1, "mode": "constant", "cval": 0.0, "backend": "auto",
            "measure": None, **kw}
    key = _lane._key(X, K, args["padding"], args["stride"], args["dilation"], args["mode"], args["cval"],
                     args["backend"], args["measure"])
    return None if key is None else _lane._entries.get(key)


def outcome(fn):
    try:
        return "ok", fn()
    except Exception as exc:  # noqa: BLE001 -- the point is to compare whatever is raised
        return type(exc), str(exc)


@settings(max_examples=examples(60), deadline=None)
@given(case=corr2d_cases(), layout=st.sampled_from(LANE_LAYOUTS), backend=st.sampled_from(["auto", "cython",
                                                                                             "direct"]))
def test_lane_agrees_with_normal_path_and_oracle(case, layout, backend):
    X0, K0, kwargs = case
    kwargs = {k: v for k, v in kwargs.items() if k != "cval"}
    kwargs["mode"] = "constant"
    backend_module(backend) if backend != "auto" else None
    X, K = LAYOUTS[layout](X0), LAYOUTS[layout](K0)
    before = (snapshot(X), snapshot(K))
    first = fastconv.corr2d(X, K, backend=backend, **kwargs)
    lane = fastconv.corr2d(X, K, backend=backend, **kwargs)  # from the entry the first call made
    assert entry_of(X, K, backend=backend, **kwargs) is not None or not _lane._plain(kwargs["padding"])
    expected = normal(X, K, backend=backend, **kwargs)
    assert_close(lane, expected, X0.dtype, scale=_magnitude_scale(X0, K0))
    assert_close(first, expected, X0.dtype, scale=_magnitude_scale(X0, K0))
    assert_close(lane, oracle(X0, K0, **kwargs), X0.dtype, scale=_magnitude_scale(X0, K0))
    assert (snapshot(X), snapshot(K)) == before


def test_the_lane_runs_one_c_call_for_cython(monkeypatch):
    X, K = np.random.default_rng(0).standard_normal((6, 8)), np.array([[1.0, -1.0]])
    fastconv.corr2d(X, K, padding="same", backend="cython")  # the normal path, which makes the entry
    calls = []
    plane = _lane._plane
    monkeypatch.setattr(_lane, "_plane", lambda *a: calls.append(a) or plane(*a))
    for _ in range(2):
        y = fastconv.corr2d(X, K, padding="same", backend="cython")
    assert len(calls) == 2
    np.testing.assert_allclose(y, oracle(X, K, padding="same"), rtol=1e-12)


VARIANTS = [
    {}, {"padding": 1}, {"padding": "same"}, {"padding": "full"}, {"padding": ((1, 0), (2, 1))}, {"padding": (2, 0)},
    {"stride": 2}, {"stride": (1, 2)}, {"dilation": 2}, {"dilation": (1, 2), "padding": "same"},
    {"padding": 1, "mode": "edge"}, {"padding": 1, "cval": 1.5}, {"padding": 1, "mode": "reflect"},
    {"backend": "cython", "padding": 1}, {"backend": "direct", "padding": 1}, {"backend": "gemm", "padding": 1},
    {"backend": "naive", "padding": "same"}, {"measure": False, "padding": 1},
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_argument_is_part_of_the_key(dtype):
    """Calls with the same shapes, one argument changed at a time, each
    made twice (normal path, then the lane): each gives its own answer."""
    rng = np.random.default_rng(3)
    X, K = rng.standard_normal((9, 13)).astype(dtype), rng.standard_normal((3, 3)).astype(dtype)
    for _ in range(2):
        for kw in VARIANTS:
            if kw.get("backend", "auto") != "auto":
                backend_module(kw["backend"])
            args = {k: v for k, v in kw.items() if k != "backend" and k != "measure"}
            got = fastconv.corr2d(X, K, **kw)
            assert_close(got, oracle(X, K, **args), dtype, scale=_magnitude_scale(X, K), err_msg=str(kw))


def test_values_dtypes_and_kernels_change_between_calls():
    rng = np.random.default_rng(4)
    X, K = rng.standard_normal((9, 13)), rng.standard_normal((3, 3))
    for _ in range(2):
        for x, k in ((X, K), (X + 1, K), (X, K * 2), (X.astype(np.float32), K.astype(np.float32)),
                     (X.astype(np.float32), K), (X, K.astype(np.float32)), (X.astype(np.uint8), K)):
            got = fastconv.corr2d(x, k, padding="same")
            expected = normal(x, k, padding="same")
            assert got.dtype == expected.dtype
            np.testing.assert_allclose(got, expected, rtol=tolerance(got.dtype))


def test_settings_between_calls(monkeypatch):
    X, K = np.random.default_rng(5).standard_normal((9, 13)), np.ones((3, 3))
    assert fastconv.fast_lane(X, K, padding=1) == "lane: cython, one C call, zero border in the kernel"
    fastconv.corr2d(X, K, padding=1)
    monkeypatch.setenv("FASTCONV_BACKEND", "naive")
    for _ in range(2):
        np.testing.assert_allclose(fastconv.corr2d(X, K, padding=1), oracle(X, K, padding=1), rtol=1e-12)
    assert entry_of(X, K, padding=1).backend == "naive"
    assert fastconv.fast_lane(X, K, padding=1) == "lane: naive through the engine"
    monkeypatch.setenv("FASTCONV_BACKEND", "nosuch")
    with pytest.raises(ValueError, match="FASTCONV_BACKEND='nosuch'"):
        fastconv.corr2d(X, K, padding=1)
    monkeypatch.delenv("FASTCONV_BACKEND")
    monkeypatch.setenv("FASTCONV_EXACT", "maybe")
    for _ in range(2):
        with pytest.raises(ValueError, match="FASTCONV_EXACT"):
            fastconv.corr2d(X, K, padding=1)
    monkeypatch.delenv("FASTCONV_EXACT")
    fastconv.set_threads(1)
    try:
        for _ in range(2):
            np.testing.assert_allclose(fastconv.corr2d(X, K, padding=1), oracle(X, K, padding=1), rtol=1e-12)
        assert entry_of(X, K, padding=1).backend
    finally:
        fastconv.set_threads(None)


BAD = [
    {"padding": True}, {"padding": 1.5}, {"padding": -1}, {"padding": "middle"}, {"padding": (1, True)},
    {"stride": 0}, {"stride": True}, {"stride": 1.0}, {"dilation": (1, 0)}, {"mode": "bogus"}, {"mode": 3},
    {"cval": "x"}, {"cval": [0, 0]}, {"cval": np.zeros(2)}, {"backend": "nope"}, {"backend": 3},
    {"padding": ((1, 2), (3,))}, {"stride": (1, 2, 3)},
]


@pytest.mark.parametrize("kw", BAD, ids=[str(b) for b in BAD])
def test_errors_are_the_normal_paths(kw):
    X, K = np.ones((9, 13)), np.ones((3, 3))
    fastconv.corr2d(X, K)
    fastconv.corr2d(X, K, padding=1)  # entries for the same shapes exist
    got = outcome(lambda: fastconv.corr2d(X, K, **kw))
    assert got[0] != "ok", kw
    assert got == outcome(lambda: normal(X, K, **kw))
    assert got == outcome(lambda: fastconv.corr2d(X, K, **kw))  # (twice: nothing cached from a failure)


def test_shape_errors_are_the_normal_paths():
    X, K = np.ones((2, 3)), np.ones((3, 3))
    for _ in range(2):
        got = outcome(lambda: fastconv.corr2d(X, K))
        assert got[0] is ValueError and got == outcome(lambda: normal(X, K))
        assert outcome(lambda: fastconv.corr2d(np.ones((0, 3)), K)) == outcome(lambda: normal(np.ones((0, 3)), K))


def test_planner_state_changes_invalidate(isolated_state):
    X, K = np.random.default_rng(6).standard_normal((9, 13)), np.ones((3, 3))
    fastconv.corr2d(X, K, padding=1)
    assert entry_of(X, K, padding=1).backend == "cython"
    sig = fastconv.plan(X, K, padding=1).signature
    fastconv.import_wisdom({"format": 1, "measured": [{"signature": sig, "winner": "naive",
                                                        "times": {"naive": 1e-9, "cython": 1.0}}]})
    for _ in range(2):
        np.testing.assert_allclose(fastconv.corr2d(X, K, padding=1), oracle(X, K, padding=1), rtol=1e-12)
    assert entry_of(X, K, padding=1).backend == "naive"
    fastconv.forget_wisdom()
    fastconv.corr2d(X, K, padding=1)
    assert entry_of(X, K, padding=1).backend == "cython"
    before = state.current().generation
    fastconv.warm(["float64"])
    assert state.current().generation > before
    assert entry_of(X, K, padding=1).generation < state.current().generation  # stale: made again on next call


@pytest.fixture
def isolated_state(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTCONV_WISDOM", str(tmp_path / "wisdom.json"))
    fastconv.planner.reload_wisdom()
    yield
    fastconv.planner.reload_wisdom()


def test_registry_changes_clear_the_lane():
    X, K = np.ones((9, 13)), np.ones((3, 3))
    fastconv.corr2d(X, K)
    assert _lane._entries
    backends.register("lanetest", "fastconv.backends.naive", family="python_loops", tiny=False)
    try:
        assert not _lane._entries
    finally:
        backends.unregister("lanetest")


@pytest.mark.parametrize("layout", ["unaligned", "byteswapped", "fortran"])
def test_plane_sends_back_what_it_cannot_read(layout):
    from fastconv.backends import _cython

    X = LAYOUTS[layout](np.arange(48.0).reshape(6, 8))
    assert _cython.plane(X, np.ones((1, 2)), (0, 0, 6, 8, 1, 1, 1, 1), 1, 1 << 17) is None
    assert _cython.plane(np.ones((6, 8)), np.ones((1, 2), np.float32), (0, 0, 6, 8, 1, 1, 1, 1), 1, 1) is None


@pytest.mark.parametrize("value", [np.inf, np.nan])
def test_non_finite_kernels_keep_the_borders_nan(value):
    from fastconv.backends import _cython

    X, K = np.ones((5, 6)), np.ones((3, 3))
    K[0, 0] = value
    assert _cython.plane(X, K, (1, 1, 5, 6, 1, 1, 1, 1), 1, 1) is None  # 0 * inf in the border is NaN
    assert _cython.plane(X, K, (0, 0, 3, 4, 1, 1, 1, 1), 1, 1) is not None  # no border: computed
    for _ in range(2):
        np.testing.assert_array_equal(fastconv.corr2d(X, K, padding=1), oracle(X, K, padding=1))


@settings(max_examples=examples(80), deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), kh=st.integers(1, 5), kw=st.integers(1, 5),
       top=st.integers(0, 7), left=st.integers(0, 7), ho=st.integers(0, 14), wo=st.integers(0, 40),
       sh=st.integers(1, 3), sw=st.integers(1, 3), dh=st.integers(1, 3), dw=st.integers(1, 3),
       dtype=st.sampled_from([np.float32, np.float64]), threads=st.sampled_from([1, 2]))
def test_plane_is_exact_for_any_geometry(h, w, kh, kw, top, left, ho, wo, sh, sw, dh, dw, dtype, threads):
    """Any (top, left, ho, wo): outputs whose windows leave X (past any
    padding a call could have) read zeros; nothing is read out of bounds."""
    from fastconv.backends import _cython

    rng = np.random.default_rng(h * 1000 + w)
    X, K = rng.standard_normal((h, w)).astype(dtype), rng.standard_normal((kh, kw)).astype(dtype)
    y = _cython.plane(X, K, (top, left, ho, wo, sh, sw, dh, dw), threads, 0)
    bottom = max(0, (ho - 1) * sh + (kh - 1) * dh + 1 - h - top)
    right = max(0, (wo - 1) * sw + (kw - 1) * dw + 1 - w - left)
    xp = np.pad(X.astype(np.float64), ((top, bottom), (left, right)))
    expected = np.zeros((ho, wo))
    for a in range(kh):
        for b in range(kw):
            expected += K[a, b] * xp[a * dh: a * dh + (ho - 1) * sh + 1: sh, b * dw: b * dw + (wo - 1) * sw + 1: sw][:ho, :wo]
    assert y.shape == (ho, wo) and y.dtype == dtype
    np.testing.assert_allclose(y, expected, rtol=tolerance(dtype), atol=tolerance(dtype) * _magnitude_scale(X, K))


@settings(max_examples=examples(80), deadline=None)
@given(n=st.integers(1, 2), groups=st.integers(1, 3), cg=st.integers(1, 2), og=st.sampled_from([1, 2, 9]),
       hw=st.tuples(st.integers(1, 20), st.integers(1, 20)), k=st.tuples(st.integers(1, 5), st.integers(1, 5)),
       pads=st.tuples(st.tuples(st.integers(0, 4), st.integers(0, 4)), st.tuples(st.integers(0, 4), st.integers(0, 4))),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       dtype=st.sampled_from([np.float32, np.float64]), name=st.sampled_from(["cython", "direct"]),
       mode=st.sampled_from(["constant", "reflect", "symmetric", "edge", "wrap"]), inf=st.booleans(),
       view=st.booleans(), threads=st.sampled_from([1, 2]), bands=st.booleans())
def test_border_hooks_match_naive(n, groups, cg, og, hw, k, pads, stride, dilation, dtype, name, mode, inf, view,
                                  threads, bands):
    """The backends' correlate_zero_border (constant mode) and
    correlate_mapped_border (the others) against naive on numpy.pad's padded
    input (4-D, groups, a non-finite weight, strided rows), or False:
    nothing written; cython with and without its bands of padded rows."""
    from fastconv._geometry import Geometry

    module = backend_module(name)
    hook = getattr(module, "correlate_zero_border" if mode == "constant" else "correlate_mapped_border", None)
    assume(hook is not None)
    try:
        geo = Geometry.from_args(hw, k, pads, stride, dilation)
    except ValueError:
        return
    rng = np.random.default_rng(sum(hw) + sum(k))
    x = rng.standard_normal((n, groups * cg, hw[0], hw[1] + 3 * view)).astype(dtype)[..., :hw[1]]
    w = rng.standard_normal((groups * og, cg) + k).astype(dtype)
    if inf:
        w[0, 0, 0, 0] = np.inf
    expected = np.empty((n, groups * og) + geo.out_shape)
    with np.errstate(invalid="ignore"):
        backend_module("naive").correlate(np.pad(x, ((0, 0), (0, 0)) + pads, mode=mode).astype(np.float64),
                                          w.astype(np.float64), expected, stride, dilation, groups)
    out = np.full(expected.shape, 7.0, dtype)
    from fastconv.backends import _cython

    fastconv.set_threads(threads)
    _cython.ROW_BUFFER = bands  # (read by cython only)
    try:
        done = hook(x, w, out, pads, stride, dilation, groups, *(() if mode == "constant" else (mode,)))
    finally:
        fastconv.set_threads(None)
        _cython.ROW_BUFFER = True
    if not done:
        assert (out == 7.0).all()
        return
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.isfinite(out), finite)
    scale = float(np.abs(x).max() * np.abs(w[np.isfinite(w)]).sum() + 1)
    np.testing.assert_allclose(out[finite], expected[finite], rtol=tolerance(dtype), atol=tolerance(dtype) * scale)


@pytest.mark.parametrize("mode", ["constant", "reflect", "symmetric", "edge", "wrap"])
@pytest.mark.parametrize("shape, k, stride, dilation", [((8, 64, 28, 28), 3, 1, 1), ((2, 16, 14, 14), 5, 2, 1),
                                                       ((3, 8, 7, 9), 3, 1, 2), ((1, 4, 40, 20), (4, 2), (1, 2), 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cython_bands_equal_a_padded_copy(mode, shape, k, stride, dilation, dtype, monkeypatch):
    """On narrow rows (all of these shapes, by _cython._choose_buffer's
    rule) the cython backend forms bands of padded rows in per-thread
    buffers (2 threads, many bands): the same sums, in the same
    order, as its row kernel over numpy.pad's copy, so the results are equal
    bit for bit; also with the bands turned off (the border-column path),
    within rounding."""
    from fastconv.backends import _cython, cython_

    k = (k, k) if isinstance(k, int) else k
    stride, dilation = (stride, stride) if isinstance(stride, int) else stride, (dilation, dilation)
    c = shape[1]
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((2 * c, 1) + k).astype(dtype)
    pads = ((k[0] // 2, (k[0] - 1) // 2 + 1), (k[1] - 1, 1))
    reference = np.empty((shape[0], 2 * c) + tuple((n + sum(p) - ((kk - 1) * d + 1)) // s + 1 for n, p, kk, s, d in
                                                      zip(shape[2:], pads, k, stride, dilation)), dtype)
    cython_.correlate(np.pad(x, ((0, 0), (0, 0)) + pads, mode=mode), w, reference, stride, dilation, c)
    fastconv.set_threads(2)
    monkeypatch.setattr(fastconv.settings, "SERIAL_MACS", 0)  # a thread team even for the small shapes
    try:
        for bands in (True, False):
            monkeypatch.setattr(_cython, "ROW_BUFFER", bands)
            out = np.full_like(reference, np.nan)
            if mode == "constant":
                assert cython_.correlate_zero_border(x, w, out, pads, stride, dilation, c)
            else:
                assert cython_.correlate_mapped_border(x, w, out, pads, stride, dilation, c, mode)
            if bands:
                np.testing.assert_array_equal(out, reference)
            else:
                np.testing.assert_allclose(out, reference, rtol=tolerance(dtype), atol=tolerance(dtype) * 30)
    finally:
        fastconv.set_threads(None)


def test_mapped_border_refuses_bad_maps_and_huge_tables():
    """The extension checks a border map before any pointer is formed, and
    declines (False, nothing written) a table of row offsets too large."""
    from fastconv.backends import _cython

    x = np.ones((1, 1, 6, 6), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    out = np.full((1, 1, 6, 6), 7.0, np.float32)
    good = np.array([1, 0, 1, 2, 3, 4, 5, 4], dtype=np.intp)
    for bad, message in ((good[:7], "has 7 entries"), (np.where(good == 5, 6, good), "not an index"),
                         (np.where(good == 0, -1, good), "not an index")):
        with pytest.raises(ValueError, match=message):
            _cython.correlate(x, w, out, (1, 1), (1, 1), 1, 1, 0, (1, 1), bad, good)
        with pytest.raises(ValueError, match=message):
            _cython.correlate(x, w, out, (1, 1), (1, 1), 1, 1, 0, (1, 1), good, bad)
    with pytest.raises(ValueError, match="go together"):
        _cython.correlate(x, w, out, (1, 1), (1, 1), 1, 1, 0, (1, 1), good, None)
    assert (out == 7.0).all()
    # 3x3 reflect over 6x6: output rows 0 and 5 get their own tap offsets (2 x 9 entries).
    rows = np.array([1, 0, 1, 2, 3, 4, 5, 4], dtype=np.intp)
    limit = _cython.MAX_ROW_OFFSETS
    _cython.MAX_ROW_OFFSETS = 17
    try:
        assert not _cython.correlate(x, w, out, (1, 1), (1, 1), 1, 1, 0, (1, 1), rows, good)
        assert (out == 7.0).all()
        _cython.MAX_ROW_OFFSETS = 18
        assert _cython.correlate(x, w, out, (1, 1), (1, 1), 1, 1, 0, (1, 1), rows, good)
    finally:
        _cython.MAX_ROW_OFFSETS = limit
    np.testing.assert_array_equal(out[0, 0], 9.0)


def test_fast_lane_says_why():
    X, K = np.ones((6, 8)), np.ones((1, 2))
    assert fastconv.fast_lane(X, K).startswith("lane: ")
    assert fastconv.fast_lane(X.tolist(), K).startswith("normal path: X and K must be numpy arrays")
    assert fastconv.fast_lane(X, K, axes=(0, 1)).startswith("normal path: axes given")
    assert fastconv.fast_lane(X.astype(np.float16), K).startswith("normal path: X and K must both be float32")
    assert fastconv.fast_lane(X, K, padding=[0, 1]).startswith("normal path: padding, stride and dilation")
    assert fastconv.fast_lane(X, K, padding=1, cval=2.0).startswith("normal path: mode='constant', cval=2.0")
    with pytest.raises(ValueError):
        fastconv.fast_lane(X, K, stride=0)
