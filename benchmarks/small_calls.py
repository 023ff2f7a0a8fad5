"""Small and mid-size 2-D calls, one call at a time (issue 10, item 7):
``fastconv.corr2d(X, K, padding="same")`` against ``cv2.filter2D`` with the
anchor fastconv's "same" implies and a zero border (the bench's like for
like, see fastconv/tools/contenders.py). Interleaved rounds in one process,
median per call and their ratio; the last column
says which way fastconv ran the call (``fastconv.fast_lane``).

    flock /work/bench.lock python benchmarks/small_calls.py [--rounds 9] [--cpu-time] [--backend NAME]

``--cpu-time``: one thread for both (``set_threads(1)``,
``cv2.setNumThreads(1)``), each call timed by the calling thread's CPU time
(``time.thread_time``), minimum over rounds: the work each does, robust to
a loaded shared machine (wall-clock medians there mostly measure the
scheduler, and a thread team waits for its slowest member).

Recorded, not gated: nothing here asserts a speed.
"""
import argparse
import statistics
import time

import cv2
import numpy as np

import fastconv
from fastconv.tools.cases import same_pads

CASES = [((6, 8), (1, 2), "float64"), ((9, 13), (3, 3), "float64"), ((256, 256), (3, 3), "float32"),
         ((256, 256), (5, 5), "float32"), ((256, 256), (3, 3), "float64"), ((256, 256), (5, 5), "float64")]


def per_call(fn, number, clock):
    t0 = clock()
    for _ in range(number):
        fn()
    return (clock() - t0) / number


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--cpu-time", action="store_true")
    parser.add_argument("--backend", default="auto", help="fastconv's backend (default: auto, the planner's pick)")
    args = parser.parse_args()
    clock, pick = (time.thread_time, min) if args.cpu_time else (time.perf_counter, statistics.median)
    if args.cpu_time:
        fastconv.set_threads(1)
        cv2.setNumThreads(1)
    for shape, kernel, dtype in CASES:
        rng = np.random.default_rng(0)
        X, K = rng.standard_normal(shape).astype(dtype), rng.standard_normal(kernel).astype(dtype)
        (top, _), (left, _) = same_pads(K.shape)

        def ours():
            return fastconv.corr2d(X, K, padding="same", mode="constant", backend=args.backend)

        def theirs():
            return cv2.filter2D(X, -1, K, anchor=(left, top), borderType=cv2.BORDER_CONSTANT)

        np.testing.assert_allclose(ours(), theirs(), rtol=1e-4, atol=1e-4 * float(np.abs(K).sum()))
        number = max(20, 20000 // (shape[0] * shape[1] // 50 + 1))
        a, b = [], []
        for _ in range(args.rounds):
            a.append(per_call(ours, number, clock))
            b.append(per_call(theirs, number, clock))
        ratio = pick(a) / pick(b)
        print(f"{shape[0]}x{shape[1]} {kernel[0]}x{kernel[1]} {dtype}: fastconv {pick(a) * 1e6:8.2f} us  "
              f"cv2.filter2D {pick(b) * 1e6:8.2f} us  ratio {ratio:.2f}   "
              f"[{fastconv.fast_lane(X, K, padding='same', backend=args.backend)}]", flush=True)


if __name__ == "__main__":
    main()
