"""2-D benchmarks: every fastconv backend, ``auto`` and the peers, one
group per case (image size, kernel size, dtype).

All contenders compute the same-size output with a zero border (fastconv
``padding="same", mode="constant"``; see :mod:`fastconv.tools.contenders`
for how each peer is called like for like). Each callable's result is checked
against an independent float64 reference before it is timed, so a fast
path returning garbage fails instead of winning. Contenders that do not
apply are skipped with the reason: missing peers, the oracle outside the
small cases, scipy.signal.correlate2d on cases that take seconds per call.
"""
import time

import pytest
from cases import CASES, Skip, check, contenders

PARAMS = [
    pytest.param(case, contender, id=f"{case.name}-{contender.name}",
                 marks=() if case.quick else pytest.mark.full)
    for case in CASES
    for contender in contenders()
]


@pytest.mark.parametrize("case, contender", PARAMS)
def test_2d(benchmark, case_data, case, contender):
    X, K, ref = case_data(case)
    try:
        fn = contender.make(case, X, K)
    except Skip as exc:
        pytest.skip(str(exc))
    t0 = time.perf_counter()
    got = fn()
    first = time.perf_counter() - t0
    check(case, got, ref)
    if first > 0.5:  # maybe a cold start (numba loading its cache): time a warm call
        t0 = time.perf_counter()
        fn()
        first = time.perf_counter() - t0
    benchmark.group = case.name
    benchmark.extra_info["kind"] = contender.kind
    if first > 0.5:  # naive, or a peer on a big kernel: seconds per call
        benchmark.pedantic(fn, rounds=1 if first > 5 else 3, iterations=1)
    else:
        benchmark(fn)
