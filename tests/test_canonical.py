"""Canonical problems: reductions that leave every output unchanged and make
equivalent problems one signature."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from fastconv import _canonical
from fastconv._geometry import MODES, Geometry
from fastconv.planner.decision import signature_of


@st.composite
def problems(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pads = tuple((draw(st.integers(0, 4)), draw(st.integers(0, 4))) for _ in range(2))
    h = draw(st.integers(max(1, (kh - 1) * dh + 1 - sum(pads[0])), 14))
    w = draw(st.integers(max(1, (kw - 1) * dw + 1 - sum(pads[1])), 14))
    mode = draw(st.sampled_from(MODES))
    return (h, w), (kh, kw), pads, (sh, sw), (dh, dw), mode


@settings(max_examples=200, deadline=None)
@given(problems(), st.integers(0, 2**31 - 1))
def test_reduced_problem_gives_identical_outputs(problem, seed):
    shape, kshape, pads, stride, dilation, mode = problem
    rng = np.random.default_rng(seed)
    X, K = rng.standard_normal(shape), rng.standard_normal(kshape)
    geo = Geometry.from_args(shape, kshape, pads, stride, dilation)
    x, reduced = _canonical.canonical(X[None, None], kshape, geo, mode)
    assert reduced.out_shape == geo.out_shape
    assert x.shape[-2:] == reduced.in_shape and x.strides[-1] == x.itemsize
    got = fastconv.corr2d(x[0, 0], K, padding=reduced.pads, stride=reduced.stride, dilation=reduced.dilation,
                          mode=mode, backend="naive")
    want = fastconv.corr2d(X, K, padding=pads, stride=stride, dilation=dilation, mode=mode, backend="naive")
    np.testing.assert_array_equal(got, want)


def test_equivalent_problems_share_one_signature():
    """A 1x1 kernel's dilation changes nothing; unread trailing padding and
    unread input columns neither: one cache entry."""
    x = np.ones((4, 64, 100, 100))
    w = np.ones((64, 64, 1, 1))
    sigs = set()
    for padding, dilation in (("same", 1), ("same", 2), (0, 3)):
        geo = Geometry.from_args((100, 100), (1, 1), padding, 1, dilation)
        xc, g = _canonical.canonical(x, (1, 1), geo, "constant")
        sigs.add(signature_of(xc, w, g, 1, False))
    assert len(sigs) == 1


def test_strided_1x1_becomes_a_stride_1_problem_on_the_kept_pixels():
    X = np.arange(1957 * 97, dtype=np.float64).reshape(1957, 97)
    geo = Geometry.from_args(X.shape, (1, 1), 0, 3, 1)
    x, g = _canonical.canonical(X[None, None], (1, 1), geo, "constant")
    assert g.stride == (1, 1) and g.in_shape == geo.out_shape
    np.testing.assert_array_equal(x[0, 0], X[::3, ::3])
    assert x.flags.c_contiguous


def test_nothing_to_reduce_returns_the_inputs():
    x = np.ones((1, 1, 10, 10))
    geo = Geometry.from_args((10, 10), (3, 3), 1, 1, 1)
    xc, g = _canonical.canonical(x, (3, 3), geo, "reflect")
    assert xc is x and g is geo


def test_other_modes_keep_the_input_length_when_padding_before_depends_on_it():
    """wrap/reflect padding before the input copies from its end: no crop."""
    geo = Geometry.from_args((9, 9), (3, 3), ((2, 2), (2, 2)), 4, 1)
    x, g = _canonical.canonical(np.ones((1, 1, 9, 9)), (3, 3), geo, "wrap")
    assert g.in_shape == (9, 9)
    x, g = _canonical.canonical(np.ones((1, 1, 9, 9)), (3, 3), geo, "constant")
    assert g.in_shape[0] <= 9 and g.out_shape == geo.out_shape


def test_one_output_per_axis_drops_the_stride():
    """A window that covers the whole (cropped) axis once: the stride moves
    nothing (Geometry cuts it once the unread input is cropped), so strides
    that leave one output are one signature."""
    X = np.arange(9 * 11, dtype=np.float64).reshape(1, 1, 9, 11)
    w = np.ones((1, 1, 5, 5))
    sigs = set()
    for stride in (1, 4, 7):
        geo = Geometry.from_args((9, 11), (5, 5), 0, stride, 2)  # span 9: one output row, 2 columns at stride 1
        x, g = _canonical.canonical(X, (5, 5), geo, "constant")
        assert g.stride[0] == 1 and g.out_shape[0] == 1 and g.out_shape == geo.out_shape
        if stride > 2:
            assert g.stride[1] == 1 and g.out_shape[1] == 1 and x.shape[-1] == 9
        sigs.add(signature_of(x, w, g, 1, False))
    assert len(sigs) == 2  # stride 1 (two output columns) and strides 4, 7 (one)

