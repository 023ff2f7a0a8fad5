"""Images as people have them (``python -m fastconv bench --images``): a
colour uint8 frame, a stack of frames, and the drop-ins of
``fastconv.compat`` against the libraries they replace, each on the peer's
own default settings.

Every scenario is a set of zero-argument callables computing the same
result; their results are compared with the first (fastconv's) before
anything is timed, then all are timed in interleaved rounds in this one
process (:func:`interleaved`), and the table gives each one's median and
its ratio to fastconv's. Peers that are not installed are skipped, with the
reason. Results: ``bench-results/images.json`` and a table on stdout.
"""
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import compat, kernels
from .._corr2d import corr2d
from ..settings import get_threads


@dataclass
class Scenario:
    name: str
    target: str  # what the issue asks of fastconv's ratio, for the table
    calls: dict  # label -> zero-argument callable; the first is fastconv's
    atol: float  # results agree with the first within this


def _peers():
    found = {}
    try:
        import cv2

        cv2.setNumThreads(get_threads())
        found["cv2"] = cv2
    except ImportError:
        pass
    try:
        import scipy.ndimage
        import scipy.signal

        found["ndimage"], found["signal"] = scipy.ndimage, scipy.signal
    except ImportError:
        pass
    return found


def scenarios(scale=1):
    """The scenarios whose peers are installed here (every image side
    divided by ``scale``: the tests check smaller ones)."""
    peers = _peers()
    cv2, ndi, sig = peers.get("cv2"), peers.get("ndimage"), peers.get("signal")
    rng = np.random.default_rng(0)
    out = []

    frame = rng.integers(0, 256, (1080 // scale, 1920 // scale, 3), dtype=np.uint8)
    g5 = kernels.gaussian(1.0, 5)  # float64, as every fastconv.kernels function returns
    calls = {"fastconv.corr2d": lambda: corr2d(frame, g5, padding="same", mode="reflect", axes=(0, 1),
                                               dtype=np.float32)}
    if cv2 is not None:
        calls["cv2.filter2D CV_32F"] = lambda: cv2.filter2D(frame, cv2.CV_32F, g5)
    out.append(Scenario("1920x1080x3 uint8, 5x5 Gaussian -> float32", "<= 0.8x cv2", calls, 1e-3))

    stack = rng.standard_normal((64, 256 // scale, 256 // scale)).astype(np.float32)
    k3 = rng.standard_normal((3, 3)).astype(np.float32)
    calls = {"fastconv.corr2d": lambda: corr2d(stack, k3, padding="same", mode="reflect")}
    if cv2 is not None:
        calls["loop of cv2.filter2D"] = lambda: np.stack([cv2.filter2D(s, -1, k3) for s in stack])
    if ndi is not None:
        calls["scipy.ndimage.correlate"] = lambda: ndi.correlate(stack, k3[None], mode="mirror")
    out.append(Scenario("stack 64x256x256 float32, 3x3", "<= 0.5x cv2 loop, <= 0.2x ndimage", calls, 1e-4))

    image = rng.standard_normal((512 // scale, 512 // scale))
    k5 = rng.standard_normal((5, 5))
    if ndi is not None:
        out.append(Scenario("compat.correlate vs scipy.ndimage (512x512 float64, 5x5, defaults)", "<= 1.0x",
                            {"fastconv.compat.correlate": lambda: compat.correlate(image, k5),
                             "scipy.ndimage.correlate": lambda: ndi.correlate(image, k5)}, 1e-9))
    small = rng.standard_normal((256 // scale, 256 // scale))
    if sig is not None:
        out.append(Scenario("compat.correlate2d vs scipy.signal (256x256 float64, 5x5, defaults)", "<= 1.0x",
                            {"fastconv.compat.correlate2d": lambda: compat.correlate2d(small, k5),
                             "scipy.signal.correlate2d": lambda: sig.correlate2d(small, k5)}, 1e-9))
    if cv2 is not None:
        k3f = kernels.gaussian(0.8, 3)
        out.append(Scenario("compat.filter2D vs cv2 (1920x1080x3 uint8, 3x3, ddepth -1)", "<= 1.0x",
                            {"fastconv.compat.filter2D": lambda: compat.filter2D(frame, -1, k3f),
                             "cv2.filter2D": lambda: cv2.filter2D(frame, -1, k3f)}, 1.0))
    return out


def interleaved(calls, budget=4.0, min_rounds=5, max_rounds=50, warmup=0.01, seed=0):
    """Median seconds per call of every callable in ``calls`` (a dict),
    timed in rounds that run each once, in a fresh random order, after
    ~``warmup`` s of untimed calls of the same one (so a thread pool the
    previous one left spinning does not land on its clock)."""
    fns = list(calls.items())
    single = {}
    for name, fn in fns:
        fn()
        t0 = time.perf_counter()
        fn()
        single[name] = time.perf_counter() - t0
    per_round = sum(single.values()) + warmup * len(fns)
    rounds = int(max(min_rounds, min(max_rounds, budget / max(per_round, 1e-9))))
    times = {name: [] for name, _ in fns}
    order = np.random.default_rng(seed).permutation
    for _ in range(rounds):
        for i in order(len(fns)):
            name, fn = fns[i]
            t_end = time.perf_counter() + warmup
            while time.perf_counter() < t_end:
                fn()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def _check(scenario):
    results = {name: np.asarray(fn(), dtype=np.float64) for name, fn in scenario.calls.items()}
    first_name, first = next(iter(results.items()))
    for name, got in results.items():
        if got.shape != first.shape or not np.allclose(got, first, rtol=0, atol=scenario.atol):
            raise AssertionError(f"{scenario.name}: {name} disagrees with {first_name} "
                                 f"(max diff {np.abs(got - first).max() if got.shape == first.shape else got.shape})")


def run(out="bench-results", budget=4.0, file=None):
    """Check and time every scenario; print the table, write images.json."""
    rows = []
    for scenario in scenarios():
        _check(scenario)
        medians = interleaved(scenario.calls, budget=budget)
        base = next(iter(medians.values()))
        print(f"\n{scenario.name}  (target: fastconv {scenario.target})", file=file)
        for name, t in medians.items():
            ratio = "" if t is base else f"   fastconv / this = {base / t:.2f}x"
            print(f"  {name:<30} {t * 1e3:9.3f} ms{ratio}", file=file)
            rows.append({"scenario": scenario.name, "call": name, "median_s": t, "fastconv_ratio": base / t})
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "images.json").write_text(json.dumps({"threads": get_threads(), "rows": rows}, indent=1))
    return rows

