"""``python -m fastconv bench --dask``: fastconv.dask against dask-image on
one dask.distributed LocalCluster, and in-memory fastconv on the same image.

One float32 image (16384 x 16384 by default) is generated on the cluster
and kept in the workers' memory, in the same chunks for every contender;
each run computes every output chunk on the workers and drops it (stored
into a sink that keeps nothing), so the time is the filtering, the halo
exchange and the scheduling, not the gathering of 1 GiB of results. Like
for like: a "same"-size output with a zero border (fastconv
``padding="same", mode="constant"``, dask-image ``mode="constant"``; odd
kernels, so the windows are centred alike). In-memory fastconv runs in this
process, with ``fastconv.get_threads()`` threads, on an image of the same
size, before the cluster starts: with the cluster up, its scheduler runs
in this process's event-loop thread and keeps a core partly busy, and a
2-thread OpenMP call sharing the two cores with it stalls at its barriers
(measured: 16384^2 3x3 in 1.4-1.6 s instead of 0.15 s after a dask run).
Each contender first runs once untimed: until a task prefix has run, the
dask scheduler assumes 0.5 s per task and may send tile tasks to the worker
that lacks their chunk (a 16 MiB transfer and a copy), which a real
workload pays once. Rounds are then interleaved (each contender once per
round, in a fresh random order); a contender whose first run exceeds
``slow`` seconds runs only that once, timed.
Peak worker memory is the largest resident set of any worker process
during a contender's runs, sampled every 20 ms, and (the rise) the largest
increase of a worker's resident set over its resting one before the runs:
what the filtering costs beyond the worker's share of the image.
"""
import logging
import os
import random
import statistics
import sys
import threading
import time

import numpy as np

from .. import settings
from .._corr2d import corr2d

TARGET_RATIO_PEER, TARGET_RATIO_MEMORY = 5.0, 0.6


class Discard:
    """A ``dask.array.store`` target that keeps nothing."""

    def __setitem__(self, key, value):
        pass


class PeakRSS:
    """Context manager sampling processes' resident memory every 20 ms;
    ``peak`` maps pid -> largest RSS in bytes."""

    def __init__(self, pids, interval=0.02):
        import psutil

        self._procs = [psutil.Process(p) for p in pids]
        self._error = psutil.Error
        self.peak = {p.pid: 0 for p in self._procs}
        self._interval, self._stop = interval, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while True:
            for p in self._procs:
                try:
                    self.peak[p.pid] = max(self.peak[p.pid], p.memory_info().rss)
                except self._error:
                    pass
            if self._stop.wait(self._interval):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _contenders(X, K):
    """name -> function running one filtering of the dask image X."""
    import dask.array as da

    from ..dask import corr2d as lazy_corr2d

    runs = {"fastconv.dask": lambda: da.store(lazy_corr2d(X, K, padding="same"), Discard(), lock=False)}
    try:
        from dask_image import ndfilters
    except ImportError:
        print("dask-image is not installed (pip install dask-image): skipped", file=sys.stderr)
    else:
        runs["dask-image"] = lambda: da.store(ndfilters.correlate(X, K, mode="constant"), Discard(), lock=False)
    return runs


def _check(X, Xn, K, tile=512):
    """Each contender's top-left tile against in-memory fastconv (float64
    reference), before anything is timed."""
    from ..dask import corr2d as lazy_corr2d

    tile = min(tile, Xn.shape[0] - K.shape[0], Xn.shape[1] - K.shape[1])
    reference = corr2d(Xn[:tile + K.shape[0], :tile + K.shape[1]].astype(np.float64), K.astype(np.float64),
                                padding=((K.shape[0] // 2, 0), (K.shape[1] // 2, 0)))[:tile, :tile]
    got = {"fastconv.dask": lazy_corr2d(X, K, padding="same")[:tile, :tile].compute()}
    try:
        from dask_image import ndfilters
        got["dask-image"] = ndfilters.correlate(X, K, mode="constant")[:tile, :tile].compute()
    except ImportError:
        pass
    scale = np.abs(K).sum() * np.abs(Xn[:tile, :tile]).max()
    for name, tile_result in got.items():
        err = np.abs(tile_result - reference).max() / scale
        if not err < 1e-5:
            raise AssertionError(f"{name} differs from the reference by {err:.2e} (relative)")


def _time_in_memory(size, filters, threads, rounds, slow):
    """{kernel side: run times} of in-memory fastconv on a size x size
    float32 image with ``threads`` threads: one untimed run, then
    ``rounds`` timed (a run slower than ``slow`` seconds is the only one)."""
    image = np.random.default_rng(1).random((size, size), dtype=np.float32)
    found = {}
    for k, K in filters.items():
        found[k] = []
        for run in range(rounds + 1):
            start = time.perf_counter()
            _in_memory(image, K, threads)
            seconds = time.perf_counter() - start
            if run or seconds > slow:
                found[k].append(seconds)
            if seconds > slow:
                break
    return found


def _in_memory(Xn, K, threads):
    saved = settings._threads
    settings.set_threads(threads)
    try:
        corr2d(Xn, K, padding="same")
    finally:
        settings._threads = saved


def _resting(pids):
    """Each process's resident memory now (bytes), pid -> RSS."""
    import psutil

    return {p: psutil.Process(p).memory_info().rss for p in pids}


def _time(fn, pids, rounds, slow):
    """(run times in seconds, (peak worker RSS, largest rise of a worker's
    RSS above its resting RSS before the runs) in bytes)."""
    times = []
    rest = _resting(pids)
    with PeakRSS(pids) as rss:
        for _ in range(rounds):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
            if times[0] > slow:
                break
    return times, (max(rss.peak.values()), max(rss.peak[p] - rest[p] for p in pids))


def run(size=16384, chunk=2048, kernels=(3, 5, 31), workers=2, memory="4GiB", rounds=3, slow=20.0, file=None):
    """Run the comparison and print one table; returns the rows as dicts."""
    import dask.array as da
    import distributed

    file = file or sys.stdout
    rng = np.random.default_rng(0)
    # Before the cluster starts: LocalCluster sets OMP_NUM_THREADS=1 in this
    # process too (for its workers), which fastconv's default would follow.
    threads = settings.get_threads()
    filters = {k: rng.standard_normal((k, k)).astype(np.float32) for k in kernels}  # not rank 1: no separable
    memory_times = _time_in_memory(size, filters, threads, rounds, slow)
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory,
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        X = da.random.default_rng(1).random((size, size), chunks=chunk, dtype=np.float32).persist()
        distributed.wait(X)
        client.rebalance(X)  # half the chunks on each worker: the work goes where the data is
        split = sorted(len(keys) for keys in client.has_what().values())
        Xn = X.compute()
        pids = list(client.run(os.getpid).values())
        print(f"fastconv bench --dask: {size}x{size} float32, chunks {chunk}x{chunk}, LocalCluster {workers} "
              f"worker processes x 1 thread ({memory} each, holding {split} chunks); in-memory fastconv: {threads} threads; "
              f"shared machine: ratios measured side by side", file=file)
        rows = []
        for k, K in filters.items():
            _check(X, Xn, K)
            contenders = _contenders(X, K)
            results = {name: [] for name in contenders}
            peaks = {name: (0, 0) for name in contenders}
            order = list(contenders)
            for name in order:  # an untimed first run: the scheduler learns the new tasks' durations
                warm, peak = _time(contenders[name], pids, 1, slow)
                if warm[0] > slow:  # too slow to run twice: this run is its result
                    results[name], peaks[name] = warm, peak
            for _ in range(rounds):
                random.shuffle(order)
                for name in order:
                    if results[name] and results[name][0] > slow:
                        continue
                    times, peak = _time(contenders[name], pids, 1, slow)
                    results[name] += times
                    peaks[name] = tuple(max(a, b) for a, b in zip(peaks[name], peak))
            row = {"kernel": f"{k}x{k}"}
            results["in-memory fastconv"] = memory_times[k]
            for name, times in results.items():
                median = statistics.median(times)
                row[name] = {"seconds": median, "mpix_per_s": size * size / median / 1e6, "runs": len(times),
                             "peak_worker_rss_mib": peaks[name][0] / 2**20 if name != "in-memory fastconv" else None,
                             "peak_rise_mib": peaks[name][1] / 2**20 if name != "in-memory fastconv" else None}
            rows.append(row)
    print(format_table(rows), file=file)
    return rows


def format_table(rows):
    lines = ["| kernel | fastconv.dask MP/s | dask-image MP/s | fastconv.dask / dask-image | in-memory fastconv MP/s "
             "| fastconv.dask / in-memory | peak worker RSS fastconv.dask (rise) | peak worker RSS dask-image (rise) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        fc, mem, peer = row["fastconv.dask"], row["in-memory fastconv"], row.get("dask-image")

        def cell(c):
            return "-" if c is None else f"{c['mpix_per_s']:.0f} ({c['runs']} runs)"

        def ratio(a, b):
            return "-" if b is None else f"{a['mpix_per_s'] / b['mpix_per_s']:.2f}x"

        def rss(c):
            return "-" if c is None else f"{c['peak_worker_rss_mib']:.0f} MiB (+{c['peak_rise_mib']:.0f})"

        lines.append(f"| {row['kernel']} | {cell(fc)} | {cell(peer)} | {ratio(fc, peer)} | {cell(mem)} | "
                     f"{ratio(fc, mem)} | {rss(fc)} | {rss(peer)} |")
    lines.append(f"targets: fastconv.dask >= {TARGET_RATIO_PEER:.0f}x dask-image for every kernel; >= "
                 f"{TARGET_RATIO_MEMORY}x in-memory fastconv for 5x5")
    return "\n".join(lines)
