"""Where do 2 threads start to pay? cython plane, 3x3 zero border, square images, serial vs 2 threads, interleaved, medians."""
import timeit, statistics, numpy as np
from fastconv.backends import _cython
rounds = 9
for dt in (np.float32, np.float64):
    for n in (16, 24, 32, 48, 64, 96, 128, 192, 256):
        X = np.random.rand(n, n).astype(dt); K = np.random.rand(3, 3).astype(dt)
        g = (1, 1, n, n, 1, 1, 1, 1)
        num = max(20, 200000 // (n * n))
        a, b = [], []
        for r in range(rounds):
            a.append(timeit.timeit(lambda: _cython.plane(X, K, g, 1, 1 << 40), number=num) / num * 1e6)
            b.append(timeit.timeit(lambda: _cython.plane(X, K, g, 2, 0), number=num) / num * 1e6)
        s, p = statistics.median(a), statistics.median(b)
        print(f"{np.dtype(dt).name} {n}x{n} macs {n*n*9:>8}: serial {s:7.2f} us  2 threads {p:7.2f} us  ratio {p/s:.2f}", flush=True)
