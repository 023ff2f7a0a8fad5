"""fastconv.dask against dask-image on one LocalCluster (2 worker processes x
1 thread), plus in-memory fastconv, on the same float32 image and chunks:
one pytest-benchmark group per kernel. The image side is
``FASTCONV_BENCH_DASK_SIZE`` (default 4096: quick; ``python -m fastconv
bench --dask`` runs 16384 with peak memory). Each run computes every output
chunk on the workers and drops it. Recorded, not gated.

    python -m pytest benchmarks/test_bench_dask.py --benchmark-min-rounds=3
"""
import os

import numpy as np
import pytest

import fastconv

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
import fastconv.dask as fd  # noqa: E402
from fastconv.tools.dask_bench import Discard  # noqa: E402

SIZE = int(os.environ.get("FASTCONV_BENCH_DASK_SIZE", "4096"))
CHUNK = max(256, SIZE // 8)
KERNELS = (3, 5, 31)


@pytest.fixture(scope="module")
def image():
    threads = fastconv.get_threads()  # before LocalCluster sets OMP_NUM_THREADS=1 in this process
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="4GiB",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        X = da.random.default_rng(1).random((SIZE, SIZE), chunks=CHUNK, dtype=np.float32).persist()
        distributed.wait(X)
        client.rebalance(X)
        yield X, X.compute(), threads


def _run(name, X, Xn, K, threads):
    if name == "fastconv.dask":
        return lambda: da.store(fd.corr2d(X, K, padding="same"), Discard(), lock=False)
    if name == "dask-image":
        ndfilters = pytest.importorskip("dask_image.ndfilters")
        return lambda: da.store(ndfilters.correlate(X, K, mode="constant"), Discard(), lock=False)
    fastconv.set_threads(threads)
    return lambda: fastconv.corr2d(Xn, K, padding="same")


@pytest.mark.parametrize("k", KERNELS)
@pytest.mark.parametrize("name", ["fastconv.dask", "dask-image", "in-memory fastconv"])
def test_filter(benchmark, image, name, k):
    X, Xn, threads = image
    K = np.random.default_rng(k).standard_normal((k, k)).astype(np.float32)
    benchmark.group = f"dask {SIZE}x{SIZE} chunks {CHUNK} {k}x{k} float32"
    benchmark.extra_info["mpix"] = SIZE * SIZE / 1e6
    try:
        benchmark.pedantic(_run(name, X, Xn, K, threads), rounds=1 if (name == "dask-image" and k > 5) else 3)
    finally:
        fastconv.set_threads(None)
