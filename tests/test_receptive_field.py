"""fastconv.receptive_field: the arithmetic, the chapter's example, and
regions checked empirically by perturbing one input element at a time."""
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import fastconv
from fastconv import corr2d, receptive_field

# ---------------------------------------------------------------- the chapter's example


def test_chapter_example():
    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    Y = corr2d(X, K)
    assert Y[0, 0] == 19
    rf = receptive_field([(2, 1, 0, 1), (2, 1, 0, 1)], input_shape=(3, 3))
    assert [f.size for f in rf] == [(2, 2), (3, 3)]
    assert [f.out_shape for f in rf] == [(2, 2), (1, 1)]
    # the output 19 depends on input elements 0, 1, 3, 4
    assert sorted(X[rf.region(0, 0, 0)].ravel()) == [0, 1, 3, 4]
    # the final single element z depends on all nine
    assert sorted(X[rf.region(1, 0, 0)].ravel()) == list(range(9))
    assert rf.region(-1, 0, 0) == rf.region(1, 0, 0)
    assert rf.size == (3, 3) and rf.jump == (1, 1) and rf.offset == (0, 0)


def _dependencies_by_corr2d(X, kernels, layer_kwargs):
    """For every element of every layer, the set of flat input indices whose
    perturbation changes it: one corr2d stack per perturbed input element."""

    def stack(img):
        outs = []
        for K, kw in zip(kernels, layer_kwargs):
            img = corr2d(img, K, **kw)
            outs.append(img)
        return outs

    base = stack(X)
    deps = [np.zeros(o.shape + (X.size,), bool) for o in base]
    for k in range(X.size):
        Xk = X.copy()
        Xk.flat[k] += 1.0
        for layer, (b, o) in enumerate(zip(base, stack(Xk))):
            deps[layer][..., k] = o != b
    return deps


def test_chapter_example_empirically():
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 1.5, (3, 3))
    Ks = [rng.uniform(0.5, 1.5, (2, 2)) for _ in range(2)]
    deps = _dependencies_by_corr2d(X, Ks, [{}, {}])
    assert sorted(np.flatnonzero(deps[0][0, 0])) == [0, 1, 3, 4]
    assert sorted(np.flatnonzero(deps[1][0, 0])) == list(range(9))


@pytest.mark.parametrize(
    "layers, shape",
    [
        ([(3, 1, 1), (3, 2, 1), (2, 1, 0)], (7, 6)),
        ([((1, 3), (2, 1), "same"), (3, 1, "valid", 2)], (9, 8)),
        ([(2, 3, 0), (2, 1, 1)], (8, 8)),  # stride > kernel: holes
    ],
)
def test_regions_match_corr2d_perturbations(layers, shape):
    rf = receptive_field(layers, input_shape=shape)
    rng = np.random.default_rng(len(layers))
    X = rng.uniform(0.5, 1.5, shape)
    Ks, kws = [], []
    for f, layer in zip(rf, layers):
        Ks.append(rng.uniform(0.5, 1.5, f.kernel))
        kws.append(dict(stride=f.stride, padding=f.pads, dilation=f.dilation))
    deps = _dependencies_by_corr2d(X, Ks, kws)
    _check_regions(rf, deps, shape, layers)


# ---------------------------------------------------------------- arithmetic


def test_size_jump_offset_arithmetic():
    rf = receptive_field([(3, 1, 1), (3, 2, 1), (3, 1, 1, 2), ((1, 5), 2, 0)])
    assert [f.size for f in rf] == [(3, 3), (5, 5), (13, 13), (13, 21)]
    assert [f.jump for f in rf] == [(1, 1), (2, 2), (2, 2), (4, 4)]
    assert [f.offset for f in rf] == [(-1, -1), (-2, -2), (-4, -4), (-4, -4)]
    assert all(f.out_shape is None for f in rf)


def test_layer_forms_agree():
    conv = SimpleNamespace(kernel_size=(3, 3), stride=2, padding=1, dilation=1)
    forms = [
        receptive_field([3, (3, 2, 1)]),
        receptive_field([(3,), [3, 2, 1, 1]]),
        receptive_field([{"kernel": 3}, {"kernel_size": (3, 3), "stride": 2, "padding": 1}]),
        receptive_field([(3, 1, 0, 1), conv]),
    ]
    first = forms[0].fields
    for rf in forms[1:]:
        assert rf.fields == first


def test_conv2d_layer_objects_describe_themselves():
    layer = fastconv.Conv2D(3, stride=2, padding=1)
    rf = receptive_field([layer, layer], input_shape=(9, 9))
    assert rf.size == (7, 7) and rf.jump == (4, 4)


def test_repr_is_a_table():
    text = repr(receptive_field([2, 2], input_shape=(3, 3)))
    assert text.splitlines()[0].split()[:3] == ["layer", "kernel", "stride"]
    assert len(text.splitlines()) == 3


@pytest.mark.parametrize(
    "layers, shape, exc, match",
    [
        ([], None, ValueError, "empty"),
        ([(4,)], (3, 3), ValueError, "layer 0: kernel"),
        ([2, (2, 0)], (5, 5), ValueError, "layer 1: stride"),
        ([(2, 1, "half")], None, ValueError, "unknown padding"),
        ([{"kernel": 2, "strides": 2}], None, ValueError, "bad layer"),
        ([(1, 1, 0, 1, 9)], None, ValueError, "bad layer"),
        ([2.5], None, TypeError, "bad layer"),
        ([2], (0, 3), ValueError, "input_shape"),
    ],
)
def test_bad_arguments(layers, shape, exc, match):
    with pytest.raises(exc, match=match):
        receptive_field(layers, input_shape=shape)


def test_region_errors():
    with pytest.raises(ValueError, match="input_shape"):
        receptive_field([2]).region(0, 0, 0)
    rf = receptive_field([2, 2], input_shape=(3, 3))
    with pytest.raises(IndexError):
        rf.region(2, 0, 0)
    with pytest.raises(IndexError):
        rf.region(0, 2, 0)


def test_element_reading_only_padding_has_empty_region():
    rf = receptive_field([(2, 1, 3)], input_shape=(3, 3))
    rows, cols = rf.region(0, 0, 0)
    assert np.arange(9.0).reshape(3, 3)[rows, cols].size == 0
    assert rf.region(0, 3, 3) != (slice(0, 0), slice(0, 0))


# ---------------------------------------------------------------- hypothesis, empirically


def _exact(layers_fields, upto):
    """region() is exact when no kernel up to `upto` is dilated and no layer
    below it strides further than its kernel reaches."""
    for index, f in enumerate(layers_fields[: upto + 1]):
        for axis in (0, 1):
            if f.dilation[axis] > 1 and f.kernel[axis] > 1:
                return False
            if index < upto and f.stride[axis] > f.kernel[axis]:
                return False
    return True


def _check_regions(rf, deps, shape, layers):
    for layer, dep in enumerate(deps):
        exact = _exact(rf.fields, layer)
        for i, j in np.ndindex(dep.shape[:2]):
            mask = np.zeros(shape, bool)
            mask[rf.region(layer, i, j)] = True
            actual = dep[i, j].reshape(shape)
            # nothing outside the region ever matters
            assert not np.any(actual & ~mask), (layers, layer, i, j)
            if exact:
                np.testing.assert_array_equal(actual, mask, err_msg=f"{layers} layer {layer} element {(i, j)}")


def _dependencies_batched(X, kernels, layer_kwargs):
    """As _dependencies_by_corr2d, but every perturbed image in one batch:
    conv2d with one channel is corr2d applied to each image of the batch."""
    batch = np.repeat(X[None, None], X.size + 1, axis=0)
    batch.reshape(X.size + 1, -1)[np.arange(X.size), np.arange(X.size)] += 1.0  # last image: unperturbed
    deps = []
    for K, kw in zip(kernels, layer_kwargs):
        batch = fastconv.conv2d(batch, K[None, None], **kw)
        changed = batch[:-1, 0] != batch[-1:, 0]  # (n_inputs, Ho, Wo)
        deps.append(np.moveaxis(changed, 0, -1))
    return deps


layer_specs = st.tuples(
    st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))),  # kernel
    st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))),  # stride
    st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2)), st.sampled_from(["same", "full"])),
    st.one_of(st.integers(1, 2), st.tuples(st.integers(1, 2), st.integers(1, 2))),  # dilation
)


@given(
    layers=st.lists(layer_specs, min_size=1, max_size=3),
    shape=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    seed=st.integers(0, 2**32 - 1),
)
def test_regions_bound_the_dependencies_empirically(layers, shape, seed):
    try:
        rf = receptive_field(layers, input_shape=shape)
    except ValueError:
        assume(False)
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.5, 1.5, shape)
    Ks = [rng.uniform(0.5, 1.5, f.kernel) for f in rf]  # positive: no cancellation
    kws = [dict(stride=f.stride, padding=f.pads, dilation=f.dilation) for f in rf]
    _check_regions(rf, _dependencies_batched(X, Ks, kws), shape, layers)


@given(
    layers=st.lists(
        st.tuples(st.integers(1, 3), st.integers(1, 3)).filter(lambda ks: ks[1] <= ks[0]), min_size=1, max_size=3
    ),
    shape=st.tuples(st.integers(4, 12), st.integers(4, 12)),
)
def test_unpadded_regions_have_the_field_size(layers, shape):
    """Without padding nothing is clipped: the region of element (i, j) starts
    at offset + (i, j) * jump and has exactly the receptive-field size."""
    try:
        rf = receptive_field(layers, input_shape=shape)
    except ValueError:
        assume(False)
    for index, f in enumerate(rf):
        for i, j in [(0, 0), (f.out_shape[0] - 1, f.out_shape[1] - 1)]:
            rows, cols = rf.region(index, i, j)
            assert (rows.start, cols.start) == (f.offset[0] + i * f.jump[0], f.offset[1] + j * f.jump[1])
            assert (rows.stop - rows.start, cols.stop - cols.start) == f.size
