"""Where a second thread starts to pay in the compiled kernels (the
evidence for ``fastconv.settings.SERIAL_MACS``): the cython backend's
one-plane entry on square images with a 3x3 kernel and a zero border,
serial against a team of two, interleaved rounds in one process, medians.

    flock /work/bench.lock python benchmarks/serial_threshold.py

Run it on an otherwise idle machine: with every core busy a team waits for
its slowest member and the numbers measure the scheduler. Recorded, not
gated: nothing here asserts a speed.
"""
import statistics
import timeit

import numpy as np

from fastconv.backends import _cython

ROUNDS = 9
SERIAL = 1 << 62  # serial_below: never a team
TEAM = 0  # serial_below: always a team

for dtype in (np.float32, np.float64):
    for n in (16, 24, 32, 48, 64, 96, 128, 192, 256):
        X = np.random.rand(n, n).astype(dtype)
        K = np.random.rand(3, 3).astype(dtype)
        g = (1, 1, n, n, 1, 1, 1, 1)  # "same": one zero row/column each side
        number = max(20, 200000 // (n * n))
        serial, team = [], []
        for _ in range(ROUNDS):
            serial.append(timeit.timeit(lambda: _cython.plane(X, K, g, 1, SERIAL), number=number) / number * 1e6)
            team.append(timeit.timeit(lambda: _cython.plane(X, K, g, 2, TEAM), number=number) / number * 1e6)
        s, t = statistics.median(serial), statistics.median(team)
        print(f"{np.dtype(dtype).name} {n}x{n} macs {n * n * 9:>8}: serial {s:7.2f} us  2 threads {t:7.2f} us  "
              f"ratio {t / s:.2f}", flush=True)
