"""fastconv._padding: the index map of every boundary mode agrees with
numpy.pad (widths larger than the axis included); any window of the padded
input equals the same slice of the fully padded array; a window inside the
input is a view, anything else a fresh C-contiguous array."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _oracle_cases import MODES
from fastconv._padding import NDIMAGE_NAMES, NUMPY_NAMES, pad_spatial, padded_window, source_index


def _np_pad(x, pads, mode, cval):
    """numpy.pad over the last two axes."""
    width = [(0, 0)] * (x.ndim - 2) + [tuple(p) for p in pads]
    if mode == "constant":
        return np.pad(x, width, mode="constant", constant_values=cval)
    return np.pad(x, width, mode=NUMPY_NAMES[mode])


def test_mode_tables_cover_every_mode():
    assert set(NUMPY_NAMES) == set(NDIMAGE_NAMES) == set(MODES)


@given(n=st.integers(1, 7), before=st.integers(0, 25), after=st.integers(0, 25), mode=st.sampled_from(MODES))
def test_source_index_agrees_with_numpy_pad(n, before, after, mode):
    x = np.arange(10, 10 + n)
    idx = source_index(np.arange(-before, n + after), n, mode)
    assert idx.shape == (before + n + after,)
    if mode == "constant":
        assert set(np.unique(idx)) <= set(range(-1, n))
        got = np.where(idx < 0, -1, x[np.maximum(idx, 0)])
        expected = np.pad(x, (before, after), mode="constant", constant_values=-1)
    else:
        assert idx.min() >= 0 and idx.max() < n
        got = x[idx]
        expected = np.pad(x, (before, after), mode=NUMPY_NAMES[mode])
    np.testing.assert_array_equal(got, expected)


@st.composite
def windows(draw):
    lead = draw(st.sampled_from([(), (2,), (2, 3)]))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    pads = tuple((draw(st.integers(0, 9)), draw(st.integers(0, 9))) for _ in range(2))
    mode = draw(st.sampled_from(MODES))
    cval = draw(st.sampled_from([0.0, -1.5, 7.0, np.inf, np.nan]))
    hp, wp = h + sum(pads[0]), w + sum(pads[1])
    r0 = draw(st.integers(0, hp - 1))
    r1 = draw(st.integers(r0 + 1, hp))
    c0 = draw(st.integers(0, wp - 1))
    c1 = draw(st.integers(c0 + 1, wp))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).standard_normal(lead + (h, w)).astype(dtype)
    if draw(st.booleans()):  # a strided view as input
        big = np.zeros(lead + (2 * h, w + 3), dtype=dtype)
        big[..., ::2, 1:1 + w] = x
        x = big[..., ::2, 1:1 + w]
    return x, pads, mode, cval, (r0, r1), (c0, c1)


@given(windows())
def test_pad_spatial_is_numpy_pad(case):
    x, pads, mode, cval, _, _ = case
    got = pad_spatial(x, pads, mode, cval)
    np.testing.assert_array_equal(got, _np_pad(x, pads, mode, cval))
    assert got.dtype == x.dtype


@given(windows())
def test_padded_window_is_a_slice_of_the_padded_input(case):
    x, pads, mode, cval, rows, cols = case
    before = x.copy()
    got = padded_window(x, rows, cols, pads, mode, cval)
    full = pad_spatial(x, pads, mode, cval)
    np.testing.assert_array_equal(got, full[..., rows[0]:rows[1], cols[0]:cols[1]])
    assert got.dtype == x.dtype and got.shape == x.shape[:-2] + (rows[1] - rows[0], cols[1] - cols[0])
    np.testing.assert_array_equal(x, before)  # the input is never written
    (top, _), (left, _) = pads
    h, w = x.shape[-2:]
    inside = rows[0] >= top and rows[1] <= top + h and cols[0] >= left and cols[1] <= left + w
    if inside:
        assert np.shares_memory(got, x)
    else:
        assert not np.shares_memory(got, x)
        assert got.flags.c_contiguous


def test_window_inside_the_input_is_a_view():
    x = np.arange(48.0).reshape(6, 8)
    pads = ((2, 1), (3, 4))
    window = padded_window(x, (3, 7), (4, 9), pads, "reflect", 0.0)
    assert window.base is x or window.base is x.base or np.shares_memory(window, x)
    np.testing.assert_array_equal(window, x[1:5, 1:6])
    x[2, 3] = -100.0  # a view: it sees the change
    assert window[1, 2] == -100.0
    # one row into the padding: a copy
    copy = padded_window(x, (1, 5), (4, 9), pads, "reflect", 0.0)
    assert not np.shares_memory(copy, x) and copy.flags.c_contiguous and copy.flags.writeable


def test_no_padding_returns_the_input_itself_as_a_view():
    x = np.ones((2, 3, 4, 5))
    out = pad_spatial(x, ((0, 0), (0, 0)), "constant", 0.0)
    assert out.shape == x.shape and np.shares_memory(out, x)


@pytest.mark.parametrize("mode", MODES)
def test_one_element_axis(mode):
    x = np.array([[5.0]])
    got = pad_spatial(x, ((3, 2), (0, 4)), mode, 9.0)
    np.testing.assert_array_equal(got, _np_pad(x, ((3, 2), (0, 4)), mode, 9.0))
