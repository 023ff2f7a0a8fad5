"""fastconv.dask on a real dask.distributed LocalCluster (2 worker processes,
1 thread and 300 MiB each, as dask's nanny starts them): results equal the
in-memory call, each worker runs fastconv on one thread (no
oversubscription), a worker killed mid-computation does not change the
result, and a zarr image on disk larger than the cluster's total memory
limit is filtered with bounded worker memory."""
import os
import signal
import time

import numpy as np
import pytest

import fastconv

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
psutil = pytest.importorskip("psutil")
import fastconv.dask as fd  # noqa: E402
from fastconv.tools.dask_bench import PeakRSS  # noqa: E402

WORKERS, WORKER_MEMORY = 2, 300 * 2**20


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _restore(saved):
    """LocalCluster's nannies set OMP_NUM_THREADS=1 (and the BLAS ones) in
    this process's environment before spawning workers; give the rest of
    the suite its own environment back."""
    for name in THREAD_VARIABLES:
        if saved.get(name) is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved[name]


@pytest.fixture(scope="module")
def client():
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    try:
        with distributed.LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                                      memory_limit=WORKER_MEMORY, dashboard_address=None) as cluster:
            _restore(saved)
            with distributed.Client(cluster) as c:
                c.saved_environment = saved
                yield c
    finally:
        _restore(saved)


def _worker_pids(client):
    return client.run(os.getpid)


def _raw_zarr(zarr, path, shape, chunk):
    """An uncompressed float32 zarr array (random data does not compress)."""
    if hasattr(zarr, "create_array"):  # zarr 3
        return zarr.create_array(str(path), shape=shape, chunks=(chunk, chunk), dtype="f4", compressors=None)
    return zarr.open_array(str(path), mode="w", shape=shape, chunks=(chunk, chunk), dtype="f4", compressor=None)


def test_results_on_the_cluster_equal_the_in_memory_call(client):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 257)).astype(np.float32)
    K = rng.standard_normal((5, 4)).astype(np.float32)
    kwargs = dict(padding="same", stride=(2, 1), dilation=(1, 2), mode="symmetric")
    got = client.compute(fd.corr2d(da.from_array(X, chunks=(64, 100)), K, **kwargs)).result()
    np.testing.assert_allclose(got, fastconv.corr2d(X, K, **kwargs), rtol=2e-5, atol=2e-5 * np.abs(K).sum() * 5)
    x = rng.standard_normal((6, 4, 40, 33))
    w = rng.standard_normal((6, 2, 3, 3))
    lazy = fd.conv2d(da.from_array(x, chunks=(2, 2, 16, 20)), w, np.ones(6), padding=1, groups=2, stride=2)
    np.testing.assert_allclose(client.compute(lazy).result(), fastconv.conv2d(x, w, np.ones(6), padding=1, groups=2,
                                                                              stride=2), rtol=1e-12, atol=1e-11)


def busy_threads(seconds=0.5):
    """Run fastconv's threaded backends for ``seconds``; return (fastconv's
    thread count, the share of this process's CPU time meanwhile spent
    outside its busiest thread: ~0 when everything runs on one thread; well
    above 0 when OpenMP's, BLAS's, fastconv's or scipy's helper threads
    work too (shares, so a loaded machine does not change the answer, and
    summed, so work spread over several helper pools still counts))."""
    import psutil
    import numpy as np

    import fastconv

    proc = psutil.Process()
    X = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    K = np.ones((7, 7), np.float32)
    before = {t.id: t.user_time + t.system_time for t in proc.threads()}
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for backend in ("cython", "gemm", "fft"):
            fastconv.corr2d(X, K, backend=backend)
    used = [t.user_time + t.system_time - before.get(t.id, 0.0) for t in proc.threads()]
    return fastconv.get_threads(), 1 - max(used) / max(sum(used), 1e-9)


def test_each_worker_runs_fastconv_on_its_share_of_the_cores(client):
    """dask's nanny sets OMP_NUM_THREADS=1 (and OPENBLAS_NUM_THREADS=1) per
    worker: fastconv's cython (OpenMP), gemm (BLAS) and fft (scipy workers)
    paths then keep to one busy thread per worker process."""
    per_worker = client.run(busy_threads)
    assert all(threads == 1 and elsewhere < 0.1 for threads, elsewhere in per_worker.values()), per_worker
    threads, elsewhere = busy_threads()  # the same code outside a worker uses more: the check is not vacuous
    if threads < 2:
        pytest.skip(f"this process runs fastconv on {threads} thread: nothing to compare")
    assert elsewhere > 0.2, (threads, elsewhere)


def slow_copy(block, marks):
    """A source chunk that takes 10 ms and leaves a mark when it is done."""
    import uuid

    time.sleep(0.01)
    open(os.path.join(marks, uuid.uuid4().hex), "w").close()
    return block.copy()


def test_a_worker_killed_mid_computation_does_not_change_the_result(client, tmp_path):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((1536, 1536))
    K = rng.standard_normal((5, 5))
    marks = str(tmp_path)
    source = da.from_array(X, chunks=96).map_blocks(slow_copy, marks=marks, meta=np.empty((0, 0)))  # 256 x 10 ms
    future = client.compute(fd.corr2d(source, K, padding="same", mode="wrap"))
    deadline = time.time() + 60
    while len(os.listdir(marks)) < 64 and time.time() < deadline:  # a quarter of the sources done: kill
        time.sleep(0.02)
    victim, pid = sorted(_worker_pids(client).items())[0]
    assert not future.done(), "the computation ended before the kill: make it longer"
    os.kill(pid, signal.SIGKILL)
    result = future.result(timeout=120)
    assert victim not in client.scheduler_info()["workers"], "the killed worker is still registered"
    np.testing.assert_allclose(result, fastconv.corr2d(X, K, padding="same", mode="wrap"), rtol=1e-12, atol=1e-11)
    client.wait_for_workers(WORKERS, timeout=60)  # the nanny restarted it
    _restore(client.saved_environment)


def test_out_of_core_zarr_image_with_bounded_worker_memory(client, tmp_path):
    """A 16384 x 16384 float32 image (1 GiB) on disk, 1.7x the cluster's
    total memory limit (2 x 300 MiB), filtered zarr to zarr; every worker's
    peak resident memory stays under its limit, no worker dies, and tiles
    (corners, edges, chunk boundaries) equal the in-memory call on them."""
    zarr = pytest.importorskip("zarr")
    side, chunk = 16384, 1024
    image_bytes = side * side * 4
    assert image_bytes >= 1.5 * WORKERS * WORKER_MEMORY
    source = _raw_zarr(zarr, tmp_path / "in.zarr", (side, side), chunk)
    noise = da.random.default_rng(5).random((side, side), chunks=chunk, dtype=np.float32)
    da.store(noise, source, lock=False)
    K = np.random.default_rng(6).standard_normal((5, 5)).astype(np.float32)
    X = da.from_zarr(str(tmp_path / "in.zarr"))
    Y = fd.corr2d(X, K, padding="same", mode="reflect")
    assert Y.chunks == X.chunks
    target = _raw_zarr(zarr, tmp_path / "out.zarr", Y.shape, chunk)
    client.compute(fd.corr2d(X[:2 * chunk, :2 * chunk], K, padding="same", mode="reflect")).result()  # imports
    workers = _worker_pids(client)
    rest = {pid: psutil.Process(pid).memory_info().rss for pid in workers.values()}
    with PeakRSS(workers.values()) as rss:
        da.store(Y, target, lock=False)
    assert _worker_pids(client) == workers, "a worker died or restarted"
    peak = max(rss.peak.values())
    print(f"\nout-of-core: image {image_bytes / 2**20:.0f} MiB, {WORKERS} workers x {WORKER_MEMORY / 2**20:.0f} MiB; "
          f"chunks {chunk * chunk * 4 / 2**20:.0f} MiB; peak worker RSS "
          f"{', '.join(f'{v / 2**20:.0f} ({(v - rest[p]) / 2**20:+.0f} over its resting RSS)' for p, v in rss.peak.items())} MiB")
    assert 0 < peak < WORKER_MEMORY
    image = zarr.open_array(str(tmp_path / "in.zarr"), mode="r")
    result = zarr.open_array(str(tmp_path / "out.zarr"), mode="r")
    for r, c in [(0, 0), (0, side - 600), (side - 600, 0), (side - 600, side - 600), (chunk - 300, 5 * chunk - 300)]:
        # The tile's rows/columns plus a 2-pixel halo, reflected only where it meets the image's edge.
        r0, c0, r1, c1 = max(r - 2, 0), max(c - 2, 0), min(r + 602, side), min(c + 602, side)
        pads = ((2 - (r - r0), 2 - (r1 - r - 600)), (2 - (c - c0), 2 - (c1 - c - 600)))
        expected = fastconv.corr2d(image[r0:r1, c0:c1], K, padding=pads, mode="reflect")
        np.testing.assert_allclose(result[r:r + 600, c:c + 600], expected, rtol=2e-5, atol=2e-5 * np.abs(K).sum())


def test_bench_dask_runs_and_reports(capsys):
    """``python -m fastconv bench --dask`` on a tiny image: every contender
    checked, timed and reported (throughput, peak worker memory)."""
    from fastconv.tools import dask_bench

    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    try:
        rows = dask_bench.run(size=512, chunk=256, kernels=(3,), rounds=1, memory="500MiB")
    finally:
        _restore(saved)
    (row,) = rows
    names = {"fastconv.dask", "in-memory fastconv"} | ({"dask-image"} if "dask-image" in row else set())
    assert set(row) == names | {"kernel"}
    assert all(row[n]["mpix_per_s"] > 0 for n in names) and row["fastconv.dask"]["peak_worker_rss_mib"] > 0
    table = capsys.readouterr().out
    assert "| 3x3 |" in table and "targets:" in table
