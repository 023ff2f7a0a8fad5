"""3x3 stride-1 conv layers: the winograd backend against gemm, cython,
auto and torch.nn.functional.conv2d, plus each one's max error against a
float64 reference. Interleaved rounds in one process (every contender once
per round, random order, ~10 ms untimed warm-up first), median per call.

    flock /work/bench.lock python benchmarks/bench_winograd.py [--rounds 7] [--dtype float32] [--cpu-time]

``--cpu-time``: one thread for everyone (fastconv, BLAS, torch), each call
timed by the calling thread's CPU time (``time.thread_time``), minimum over
rounds: the work each implementation does, robust to a loaded shared
machine (wall-clock medians there mostly measure the scheduler).

Recorded, not gated: nothing here asserts a speed.
"""
import argparse
import random
import time

import numpy as np

import fastconv

LAYERS = [  # (x shape, out channels), 3x3 kernel, padding 1
    ((1, 64, 56, 56), 64),
    ((8, 64, 56, 56), 64),
    ((1, 128, 28, 28), 128),
    ((8, 128, 28, 28), 128),
    ((1, 256, 14, 14), 256),
    ((8, 256, 14, 14), 256),
    ((1, 512, 7, 7), 512),
    ((8, 512, 7, 7), 512),
    ((4, 32, 64, 64), 64),
]
BACKENDS = ("winograd", "gemm", "cython", "auto")


def contenders(x, w, torch):
    run = {name: (lambda name=name: fastconv.conv2d(x, w, padding=1, backend=name)) for name in BACKENDS}
    if torch is not None:
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)

        def tconv():
            with torch.no_grad():
                return torch.nn.functional.conv2d(xt, wt, padding=1).numpy()

        run["torch"] = tconv
    return run


CLOCK = time.perf_counter


def block(fn, warmup=0.01, target=0.02):
    t_end = time.perf_counter() + warmup
    while time.perf_counter() < t_end:
        fn()
    t0 = CLOCK()
    fn()
    one = CLOCK() - t0
    reps = max(1, int(target / max(one, 1e-6)))
    t0 = CLOCK()
    for _ in range(reps):
        fn()
    return (CLOCK() - t0) / reps


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dtype", default=None, help="float32 or float64 (default both)")
    parser.add_argument("--cpu-time", action="store_true", help="1 thread, CPU time of the calling thread, minimum")
    args = parser.parse_args()
    global CLOCK
    summary = np.median
    if args.cpu_time:
        fastconv.set_threads(1)
        CLOCK, summary = time.thread_time, np.min
    try:
        import torch

        torch.set_num_threads(fastconv.get_threads())
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print(f"threads {fastconv.get_threads()}; torch {torch.__version__ if torch else 'missing'}")
    print("layer | dtype | " + " | ".join(BACKENDS + ("torch",)) + " | winograd/torch | auto/torch | "
          "winograd err | direct err | torch err")
    for dtype in (args.dtype,) if args.dtype else ("float32", "float64"):
        for xs, o in LAYERS:
            x = rng.standard_normal(xs).astype(dtype)
            w = (rng.standard_normal((o, xs[1], 3, 3)) / np.sqrt(9 * xs[1])).astype(dtype)
            run = contenders(x, w, torch)
            ref = fastconv.conv2d(x.astype(np.float64), w.astype(np.float64), padding=1, backend="gemm")
            err = {k: np.abs(run[k]() - ref).max() for k in ("winograd", "cython", "torch") if k in run}
            times = {k: [] for k in run}
            for _ in range(args.rounds):
                order = list(run)
                random.shuffle(order)
                for k in order:
                    times[k].append(block(run[k]))
            med = {k: float(summary(v)) * 1e3 for k, v in times.items()}
            tt = med.get("torch", float("nan"))
            name = f"{xs} x ({o},{xs[1]},3,3)"
            print(f"{name} | {dtype} | " + " | ".join(f"{med[k]:.3f}" for k in BACKENDS + ("torch",) if k in med)
                  + f" | {med['winograd'] / tt:.2f} | {med['auto'] / tt:.2f} | "
                  + " | ".join(f"{err[k]:.2e}" for k in ("winograd", "cython", "torch") if k in err), flush=True)


if __name__ == "__main__":
    main()
