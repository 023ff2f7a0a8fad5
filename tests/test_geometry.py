"""fastconv._geometry: the shape formulas against brute force, Geometry for
every padding form, the extent the outputs read, fft_length against
scipy.fft.next_fast_len, and memoisation that never lets a refused argument
hit a cached answer."""
import numpy as np
import pytest
import scipy.fft
from hypothesis import given
from hypothesis import strategies as st

from _oracle_cases import padding_args, pads_for
from fastconv import _geometry
from fastconv._geometry import Geometry, fft_length, input_extent, output_length, span


def _taps(k, d):
    """Offsets a kernel of length k with dilation d reads."""
    return [a * d for a in range(k)]


def _outputs(padded, k, s, d):
    """Brute force: the output positions whose window fits in the padded axis."""
    return [i for i in range(padded + 1) if i * s + max(_taps(k, d)) < padded]


@given(k=st.integers(1, 12), d=st.integers(1, 6))
def test_span_is_the_window_length(k, d):
    assert span(k, d) == max(_taps(k, d)) + 1 == len(range(0, d * (k - 1) + 1))


@given(n=st.integers(1, 40), k=st.integers(1, 9), p0=st.integers(0, 6), p1=st.integers(0, 6),
       s=st.integers(1, 5), d=st.integers(1, 4))
def test_output_length_counts_the_windows_that_fit(n, k, p0, p1, s, d):
    count = len(_outputs(n + p0 + p1, k, s, d))
    got = output_length(n, k, padding=(p0, p1), stride=s, dilation=d)
    if count:
        assert got == count
    else:
        assert got <= 0  # documented: may be <= 0 when the kernel does not fit


@given(n_out=st.integers(1, 30), k=st.integers(1, 9), s=st.integers(1, 5), d=st.integers(1, 4))
def test_input_extent_is_the_last_index_read_plus_one(n_out, k, s, d):
    last = max(i * s + t for i in range(n_out) for t in _taps(k, d))
    assert input_extent(n_out, k, s, d) == last + 1


@st.composite
def geometry_args(draw):
    kernel = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    dilation = draw(st.sampled_from([1, 2, 3, (1, 2), (3, 1)]))
    stride = draw(st.sampled_from([1, 2, 3, (1, 2), (2, 3)]))
    padding = draw(padding_args())
    dil = dilation if isinstance(dilation, tuple) else (dilation, dilation)
    pads = pads_for(padding, kernel, dil)
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dil)]
    shape = tuple(draw(st.integers(max(1, s - sum(p)), max(1, s - sum(p)) + 12)) for s, p in zip(spans, pads))
    return shape, kernel, padding, stride, dilation, pads


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


@given(geometry_args())
def test_from_args_every_padding_form(args):
    shape, kernel, padding, stride, dilation, pads = args
    geo = Geometry.from_args(shape, kernel, padding, stride, dilation)
    assert geo.pads == pads  # the documented rules, written independently in _oracle_cases
    # Normalised where it changes nothing: a one-output axis's stride is cut
    # to the padded length, a one-tap axis's dilation to 1.
    padded = [n + sum(p) for n, p in zip(shape, pads)]
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, _pair(dilation))]
    assert geo.stride == tuple(s if o > 1 else min(s, n - sp + 1)
                               for s, o, n, sp in zip(_pair(stride), geo.out_shape, padded, spans))
    assert geo.dilation == tuple(1 if k == 1 else d for k, d in zip(kernel, _pair(dilation)))
    assert geo.in_shape == shape and geo.kernel_shape == kernel
    assert geo.padded == any(p for pair in pads for p in pair)
    assert geo.padded_shape == tuple(n + sum(p) for n, p in zip(shape, pads))
    assert geo.out_shape == tuple(len(_outputs(hp, k, s, d)) for hp, k, s, d in
                                  zip(geo.padded_shape, kernel, geo.stride, geo.dilation))
    assert _geometry.output_shape(shape, kernel, padding=padding, stride=stride, dilation=dilation) == geo.out_shape
    if padding == "same" and geo.stride == (1, 1):
        assert geo.out_shape == shape
    if padding == "full" and geo.stride == (1, 1):
        assert geo.out_shape == tuple(n + span(k, d) - 1 for n, k, d in zip(shape, kernel, geo.dilation))


@pytest.mark.parametrize("kernel, dilation, expected", [
    ((2, 2), 1, ((0, 1), (0, 1))),  # even: the extra row/column goes after
    ((4, 3), 1, ((1, 2), (1, 1))),
    ((2, 4), 2, ((1, 1), (3, 3))),  # dilated spans 3 and 7: odd, symmetric
    ((2, 2), (1, 3), ((0, 1), (1, 2))),  # spans 2 and 4
    ((3, 2), (2, 2), ((2, 2), (1, 1))),
])
def test_same_padding_with_even_kernels_and_dilation(kernel, dilation, expected):
    geo = Geometry.from_args((9, 10), kernel, "same", 1, dilation)
    assert geo.pads == expected
    assert geo.out_shape == (9, 10)


@given(geometry_args())
def test_extent_fits_in_the_padded_input_and_is_what_is_read(args):
    shape, kernel, padding, stride, dilation, _ = args
    geo = Geometry.from_args(shape, kernel, padding, stride, dilation)
    assert all(e <= p for e, p in zip(geo.extent, geo.padded_shape))
    for axis in range(2):
        last = max(i * geo.stride[axis] + t for i in range(geo.out_shape[axis])
                   for t in _taps(geo.kernel_shape[axis], geo.dilation[axis]))
        assert geo.extent[axis] == last + 1
        # the part of the padded axis not read is shorter than one stride
        assert geo.padded_shape[axis] - geo.extent[axis] < geo.stride[axis]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"padding": -1}, ValueError, "padding must be >= 0"),
    ({"padding": ((0, -2), (0, 0))}, ValueError, "padding must be >= 0"),
    ({"padding": (1, 2, 3)}, ValueError, "3 entries"),
    ({"padding": ((1, 2, 3), (0, 0))}, ValueError, "padding"),
    ({"padding": "sam"}, ValueError, "unknown padding 'sam'"),
    ({"padding": 1.5}, TypeError, "padding must be an int"),
    ({"padding": True}, TypeError, "bool"),
    ({"padding": (1, None)}, TypeError, "padding must be an int"),
    ({"stride": 0}, ValueError, "stride must be >= 1"),
    ({"stride": (1, 2, 3)}, ValueError, "stride must be an int or a pair"),
    ({"stride": 2.0}, TypeError, "stride must be an int"),
    ({"dilation": (1, 0)}, ValueError, "dilation must be >= 1"),
    ({"dilation": False}, TypeError, "bool"),
])
def test_from_args_errors(kwargs, error, match):
    args = {"padding": 0, "stride": 1, "dilation": 1, **kwargs}
    with pytest.raises(error, match=match):
        Geometry.from_args((8, 8), (3, 3), args["padding"], args["stride"], args["dilation"])


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"kernel of shape \(7, 2\) is larger than the padded input \(6, 6\)"):
        Geometry.from_args((4, 4), (7, 2), 1, 1, 1)
    with pytest.raises(ValueError, match=r"dilation \(3, 1\) spans \(7, 2\)"):
        Geometry.from_args((6, 6), (3, 2), 0, 1, (3, 1))
    # "same"/"full" always fit
    assert Geometry.from_args((1, 1), (5, 4), "same", 1, 2).out_shape == (1, 1)
    assert Geometry.from_args((1, 2), (5, 4), "full", 2, 1).out_shape == (3, 3)


def test_numpy_ints_are_accepted_and_agree():
    geo = Geometry.from_args((9, 9), (3, 3), np.int64(1), (np.int32(2), 1), np.int8(1))
    assert geo == Geometry.from_args((9, 9), (3, 3), 1, (2, 1), 1)


def test_memoisation_never_serves_refused_arguments(monkeypatch):
    monkeypatch.setattr(_geometry, "_GEOMETRIES", {})  # (a long run may have filled the real one)
    shape, kernel = (13, 7), (3, 2)
    first = Geometry.from_args(shape, kernel, 1, 1, 1)
    assert Geometry.from_args(shape, kernel, 1, 1, 1) is first  # memoised
    for bad in ({"padding": True}, {"stride": True}, {"dilation": True}, {"padding": (True, 1)},
                {"padding": ((1, True), (1, 1))}):
        args = {"padding": 1, "stride": 1, "dilation": 1, **bad}
        with pytest.raises(TypeError, match="bool"):
            Geometry.from_args(shape, kernel, args["padding"], args["stride"], args["dilation"])
    for bad in ({"padding": 1.0}, {"stride": 1.0}, {"dilation": (1.0, 1)}):
        args = {"padding": 1, "stride": 1, "dilation": 1, **bad}
        with pytest.raises(TypeError, match="must be an int"):
            Geometry.from_args(shape, kernel, args["padding"], args["stride"], args["dilation"])
    # after the refusals the cached answer is still the right one
    assert Geometry.from_args(shape, kernel, 1, 1, 1) is first


def test_memo_is_bounded(monkeypatch):
    monkeypatch.setattr(_geometry, "_GEOMETRIES", {})
    monkeypatch.setattr(_geometry, "_GEOMETRY_CACHE_SIZE", 5)
    for n in range(3, 20):
        geo = Geometry.from_args((n, n), (3, 3), 0, 1, 1)
        assert geo.out_shape == (n - 2, n - 2)
    assert len(_geometry._GEOMETRIES) == 5


def _smooth(m, primes):
    for p in primes:
        while m % p == 0:
            m //= p
    return m == 1


@pytest.mark.parametrize("real", [False, True])
def test_fft_length_is_next_fast_len(real):
    primes = (2, 3, 5) if real else (2, 3, 5, 7, 11)
    got = [fft_length(n, real=real) for n in range(1, 3001)]
    expected = [scipy.fft.next_fast_len(n, real=real) for n in range(1, 3001)]
    mismatches = [(n, g, e) for n, g, e in zip(range(1, 3001), got, expected) if g != e]
    assert not mismatches, f"(n, fft_length, next_fast_len): {mismatches[:10]}"
    assert all(g >= n and _smooth(g, primes) for n, g in zip(range(1, 3001), got))
