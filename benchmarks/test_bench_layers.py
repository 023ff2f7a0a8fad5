"""CNN-layer benchmarks: fastconv.conv2d / conv2d_backward on ``auto`` and
every fastconv backend (the slow oracle excluded), against
torch.nn.functional.conv2d and torch autograd's backward, with
``torch.set_num_threads(fastconv.get_threads())``.

The cases are the layer section of ``python -m fastconv bench``
(:mod:`fastconv.tools.layer_cases`: ResNet/VGG stages at batch 1 and 8,
the 7x7 stride-2 stem, depthwise 3x3, stride-2 downsampling, 1x1
projections, LeNet 5x5; forward and backward; float32 and float64), one
group per case, and so are ``auto``'s and torch's callables
(:mod:`fastconv.tools.layer_contenders`). ``--quick`` runs ``bench``'s
subset. For a backward case a named backend runs the input gradient's
phases and the weight gradient as a correlation on that backend.

Every contender's result is checked against the float64 reference before
it is timed. Recorded, not gated: nothing here asserts a speed.

    python -m pytest benchmarks/test_bench_layers.py --quick --benchmark-min-rounds=3
"""
import functools

import pytest

import fastconv
from fastconv.tools.contenders import Skip
from fastconv.tools.layer_cases import LAYER_CASES, check, reference
from fastconv.tools.layer_contenders import layer_contenders

# every backend but the slow oracle (the row whose timing is capped)
BACKENDS = tuple(r.name for r in fastconv.backends.rows() if r.measure_limit is None)
CONTENDERS = {c.name: c.make for c in layer_contenders()}


@functools.lru_cache(maxsize=2)
def _data(case):
    data = case.data()
    return data, reference(case, *data)


def _backend_call(case, backend, x, w, b, g):
    kw = case.kw
    if case.backward:
        return lambda: fastconv.conv2d_backward(x, w, g, backend=backend, **kw)
    return lambda: fastconv.conv2d(x, w, b, backend=backend, **kw)


PARAMS = [
    pytest.param(case, contender, id=f"{case.name}-{contender}", marks=() if case.quick else pytest.mark.full)
    for case in LAYER_CASES
    for contender in tuple(CONTENDERS) + BACKENDS
]


@pytest.mark.parametrize("case, contender", PARAMS)
def test_layer(benchmark, case, contender):
    if contender in BACKENDS and fastconv.backends.load(contender) is None:
        pytest.skip(f"backend {contender!r} not available: {fastconv.backends.load_error(contender)}")
    data, ref = _data(case)
    try:
        fn = CONTENDERS[contender](case, *data) if contender in CONTENDERS else _backend_call(case, contender, *data)
    except Skip as exc:
        pytest.skip(str(exc))
    check(case, fn(), ref)  # also the warm-up (numba compiles here, not in the timing)
    benchmark.group = case.name
    benchmark.extra_info.update(threads=fastconv.get_threads(), contender=contender)
    benchmark(fn)
