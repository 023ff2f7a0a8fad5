"""Benchmark cases, contenders and the report runner (``python -m fastconv bench``).

One registry serves both the pytest-benchmark suite (``benchmarks/``, which
imports :data:`CASES`, :func:`contenders`, :func:`check` from here) and the
``bench`` command, so the two always time the same problems the same way.
It lives inside the package, not in ``benchmarks/``, so that
``python -m fastconv bench`` also works from an installed wheel.

Like for like: every contender computes the same-size ("same") 2-D
cross-correlation with a zero (constant) border -- fastconv with
``padding="same", mode="constant"``, cv2.filter2D with BORDER_CONSTANT and
the anchor fastconv's "same" implies, scipy.ndimage with ``origin`` set the
same way, scipy.signal with ``mode="same"`` (or "full" then sliced, for
even kernels), torch with ``padding="same"``. Each contender's result is
checked once against an independent float64 reference before it is timed.

Timing: one process, the same ``time.perf_counter`` loop for every
contender, interleaved rounds (round r runs every contender once, in a
fresh random order) because the machine is shared and noisy; the reported
time is the median over rounds. Each timed block follows ~10 ms of untimed
calls of the same contender, so that thread pools left spinning by the
previous one (six threading runtimes share two cores here) do not land on
its clock. Fast calls are repeated ``iterations`` times per
round so that one round lasts about a millisecond or more.

Nothing here is imported by ``import fastconv``.
"""
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

# ------------------------------------------------------------------ cases


@dataclass(frozen=True)
class Case:
    """One 2-D problem: an image (H, W) correlated with a kernel (kh, kw)."""

    image: tuple
    kernel: tuple
    dtype: str
    quick: bool = False  # part of the default ``bench`` subset
    naive: bool = False  # run the (slow) oracle on it
    chapter: bool = False  # the textbook's 6x8 edge image and K = [[1, -1]]
    gauss: bool = False  # a Gaussian blur kernel (rank 1) instead of a random one

    @property
    def name(self):
        (h, w), (kh, kw) = self.image, self.kernel
        return f"{h}x{w}-{kh}x{kw}{'gauss' if self.gauss else ''}-{self.dtype}"

    @property
    def macs(self):
        return math.prod(self.image) * math.prod(self.kernel)

    def data(self):
        """(X, K) for this case, deterministic."""
        dtype = np.dtype(self.dtype)
        if self.chapter:
            X = np.ones(self.image, dtype=dtype)
            X[:, 2:6] = 0
            return X, np.array([[1, -1]], dtype=dtype)
        rng = np.random.default_rng([*self.image, *self.kernel])
        X = rng.standard_normal(self.image).astype(dtype)
        if self.gauss:  # sigma = k/6: the usual "kernel spans +-3 sigma" blur
            g = [np.exp(-((np.arange(k) - (k - 1) / 2) ** 2) / (2 * (k / 6) ** 2)) for k in self.kernel]
            K = np.outer(g[0] / g[0].sum(), g[1] / g[1].sum()).astype(dtype)
        else:
            K = rng.standard_normal(self.kernel).astype(dtype)
        return X, K


def _build_cases():
    cases = []
    for dtype in ("float32", "float64"):
        cases.append(Case((6, 8), (1, 2), dtype, quick=dtype == "float64", naive=True, chapter=True))
        for size in (256, 2048, 4096):
            for k in (3, 5, 7):
                quick = (size, k, dtype) in {(256, 3, "float32"), (2048, 3, "float32"), (2048, 5, "float64")}
                cases.append(Case((size, size), (k, k), dtype, quick=quick, naive=(size, k) == (256, 3)))
        # quick: float32 only -- in float64, torch (~20 s) and gemm (~10 s) need
        # more per call than the whole quick run may take (--full runs it)
        cases.append(Case((1024, 1024), (31, 31), dtype, quick=dtype == "float32"))
    # rank-1 (blur) kernels: where the separable backend applies
    cases.append(Case((2048, 2048), (7, 7), "float32", gauss=True))
    cases.append(Case((1024, 1024), (31, 31), "float32", gauss=True, quick=True))
    return tuple(cases)


CASES = _build_cases()
QUICK = tuple(c for c in CASES if c.quick)

# scipy.signal.correlate2d is direct and single-threaded at ~10 ns per
# multiply-add: above this many it needs a second or more per call, and
# many seconds on 4096x4096, so it is skipped there (reported as skipped).
CORRELATE2D_MAX_MACS = 5e7


def same_pads(kernel_shape):
    """((top, bottom), (left, right)) of fastconv's padding="same" (extra
    row/column of an even kernel at the bottom/right)."""
    return tuple(((k - 1) // 2, (k - 1) - (k - 1) // 2) for k in kernel_shape)


def reference(X, K):
    """Independent float64 "same", zero-border cross-correlation: the
    textbook formula vectorised over output positions (one shifted
    multiply-add per kernel tap), in row blocks to stay in cache."""
    (top, bottom), (left, right) = same_pads(K.shape)
    H, W = X.shape
    kh, kw = K.shape
    Xp = np.zeros((H + top + bottom, W + left + right))
    Xp[top : top + H, left : left + W] = X
    K = np.asarray(K, dtype=np.float64)
    Y = np.zeros((H, W))
    block = max(1, (1 << 20) // max(W, 1))
    for r0 in range(0, H, block):
        r1 = min(H, r0 + block)
        acc = Y[r0:r1]
        for a in range(kh):
            for b in range(kw):
                acc += K[a, b] * Xp[r0 + a : r1 + a, b : b + W]
    return Y


def check(case, got, ref):
    """Raise AssertionError unless ``got`` matches the float64 reference.

    This is a gate against garbage (wrong alignment, wrong dtype, a fast
    path that skips work), not an accuracy test -- accuracy is tested in
    tests/ against the oracle with per-backend bounds. The bar is
    max |got - ref| <= sqrt(eps) * max|ref|: FFT and direct results in the
    case's dtype pass easily; one misplaced row does not.
    """
    got = np.asarray(got)
    assert got.shape == ref.shape, f"{case.name}: shape {got.shape}, expected {ref.shape}"
    assert got.dtype == np.dtype(case.dtype), f"{case.name}: dtype {got.dtype}, expected {case.dtype}"
    scale = max(float(np.abs(ref).max()), 1e-300)
    err = float(np.abs(got.astype(np.float64) - ref).max())
    rtol = float(np.sqrt(np.finfo(case.dtype).eps))
    assert err <= rtol * scale, f"{case.name}: max error {err:.3g} > {rtol:.2g} * {scale:.3g}"


# ------------------------------------------------------------- contenders


class Skip(Exception):
    """A contender that does not run on this case/machine; the message says why."""


@dataclass(frozen=True)
class Contender:
    name: str
    kind: str  # "fastconv", "auto" or "peer"
    make: object = field(repr=False)  # (case, X, K) -> zero-argument callable, or raise Skip


def _fastconv(backend):
    def make(case, X, K):
        import fastconv
        from fastconv import backends

        if backend == "naive" and not case.naive:
            raise Skip("naive runs on the small cases only")
        if backend != "auto" and backends.load(backend) is None:
            raise Skip(f"not available: {backends.load_error(backend)}")
        accepts = backends.row(backend).hook("accepts") if backend != "auto" else None
        if accepts is not None and accepts(np.asarray(K)[None, None]) is not None:
            raise Skip(f"{accepts(np.asarray(K)[None, None])} (it would only run a direct backend)")
        return lambda: fastconv.corr2d(X, K, padding="same", mode="constant", backend=backend)

    return make


def _scipy_signal(which):
    def make(case, X, K):
        try:
            import scipy.fft
            import scipy.signal
        except ImportError as exc:
            raise Skip(f"scipy not installed ({exc})") from None
        if which == "correlate2d" and case.macs > CORRELATE2D_MAX_MACS:
            raise Skip(f"skipped: direct and single-threaded, > {CORRELATE2D_MAX_MACS:.0e} multiply-adds takes seconds per call")
        (top, _), (left, _) = same_pads(K.shape)
        kh, kw = K.shape
        threads = _threads()
        if which == "correlate2d":
            fn = lambda mode: scipy.signal.correlate2d(X, K, mode=mode, boundary="fill")  # noqa: E731
        else:
            def fn(mode):
                with scipy.fft.set_workers(threads):  # scipy's FFT path may use the same threads
                    return scipy.signal.correlate(X, K, mode=mode, method="auto")
        if kh % 2 and kw % 2:
            return lambda: fn("same")
        r0, c0 = kh - 1 - top, kw - 1 - left  # even kernels: scipy centres "same" differently
        H, W = X.shape
        return lambda: fn("full")[r0 : r0 + H, c0 : c0 + W]

    return make


def _ndimage(case, X, K):
    try:
        import scipy.ndimage
    except ImportError as exc:
        raise Skip(f"scipy not installed ({exc})") from None
    origin = tuple((k - 1) // 2 - k // 2 for k in K.shape)
    return lambda: scipy.ndimage.correlate(X, K, mode="constant", cval=0.0, origin=origin)


def _cv2(case, X, K):
    try:
        import cv2
    except ImportError as exc:
        raise Skip(f"opencv not installed ({exc})") from None
    cv2.setNumThreads(_threads())
    (top, _), (left, _) = same_pads(K.shape)
    return lambda: cv2.filter2D(X, -1, K, anchor=(left, top), borderType=cv2.BORDER_CONSTANT)


def _torch(case, X, K):
    try:
        import torch
    except ImportError as exc:
        raise Skip(f"torch not installed ({exc})") from None
    torch.set_num_threads(_threads())
    weight = torch.from_numpy(np.ascontiguousarray(K))[None, None]  # prepared once, like a layer's weights
    conv2d = torch.nn.functional.conv2d

    warnings.filterwarnings("ignore", message=".*padding='same' with even kernel.*")

    def run():
        with torch.no_grad():
            return conv2d(torch.from_numpy(X)[None, None], weight, padding="same").numpy()[0, 0]

    return run


def _threads():
    from fastconv import get_threads

    return get_threads()


def contenders():
    """Every fastconv backend (available or not: unavailable ones skip with
    the reason), ``auto``, and the peers, in table order."""
    from fastconv import backends

    listed = [Contender("auto", "auto", _fastconv("auto"))]
    listed += [Contender(name, "fastconv", _fastconv(name)) for name in backends.names()]
    listed += [
        Contender("cv2.filter2D", "peer", _cv2),
        Contender("torch.conv2d", "peer", _torch),
        Contender("ndimage.correlate", "peer", _ndimage),
        Contender("signal.correlate", "peer", _scipy_signal("correlate")),
        Contender("signal.correlate2d", "peer", _scipy_signal("correlate2d")),
    ]
    return listed


def auto_choice(X, K):
    """The backend ``backend="auto"`` picks for this case's call (or "?")."""
    import fastconv

    explain = getattr(fastconv, "explain", None)
    if explain is not None:
        try:
            result = explain(X, K, padding="same", mode="constant")
            for attr in ("backend", "chosen", "choice", "name"):
                value = getattr(result, attr, None)
                if isinstance(value, str):
                    return value
        except Exception:
            pass
    try:
        from fastconv import planner
        from fastconv._geometry import Geometry

        geo = Geometry.from_args(X.shape, K.shape, "same", 1, 1)
        return str(planner.choose(X[None, None], np.ascontiguousarray(K)[None, None], geo, 1))
    except Exception:
        return "?"


# ------------------------------------------------------------------ timing


def _stats(data, iterations):
    """pytest-benchmark's per-benchmark "stats" dict, from per-call times."""
    data = list(data)
    s = sorted(data)
    n = len(s)
    if n == 1:
        q1 = q3 = s[0]
    elif n % 2:
        m, r = n // 4, n % 4
        q1 = 0.25 * s[m - 1] + 0.75 * s[m] if r == 1 else 0.75 * s[m] + 0.25 * s[m + 1]
        q3 = 0.75 * s[3 * m] + 0.25 * s[3 * m + 1] if r == 1 else 0.25 * s[3 * m + 1] + 0.75 * s[3 * m + 2]
    else:
        q1, q3 = statistics.median(s[: n // 2]), statistics.median(s[n // 2 :])
    iqr = q3 - q1
    mean = statistics.mean(s)
    stddev = statistics.stdev(s) if n > 1 else 0.0
    lo = [v for v in s if v >= q1 - 1.5 * iqr]
    hi = [v for v in s if v <= q3 + 1.5 * iqr]
    std_out = sum(1 for v in s if v < mean - stddev or v > mean + stddev)
    iqr_out = sum(1 for v in s if v < q1 - 1.5 * iqr or v > q3 + 1.5 * iqr)
    total = sum(s)
    return {
        "min": s[0], "max": s[-1], "mean": mean, "stddev": stddev, "rounds": n,
        "median": statistics.median(s), "iqr": iqr, "q1": q1, "q3": q3,
        "iqr_outliers": iqr_out, "stddev_outliers": std_out, "outliers": f"{std_out};{iqr_out}",
        "ld15iqr": lo[0] if lo else s[0], "hd15iqr": hi[-1] if hi else s[-1],
        "ops": n / total if total else 0, "total": total, "data": data, "iterations": iterations,
    }


@dataclass
class Result:
    case: Case
    contender: Contender
    times: list = field(default_factory=list)  # per-call seconds, one per round
    iterations: int = 1
    skipped: str = None  # reason
    failed: str = None  # correctness failure message

    @property
    def median(self):
        return statistics.median(self.times) if self.times else None


def run_case(case, *, budget=6.0, min_rounds=5, max_rounds=40, contender_list=None, warmup=0.01):
    """Time every contender on ``case`` in interleaved rounds; returns
    (results, auto_choice). ``budget`` caps the seconds spent timing."""
    X, K = case.data()
    ref = reference(X, K)
    results, runners = [], []
    for contender in contender_list or contenders():
        result = Result(case, contender)
        results.append(result)
        try:
            fn = contender.make(case, X, K)
            t0 = time.perf_counter()
            got = fn()  # first call: correctness gate (and cold start)
            first = time.perf_counter() - t0
            check(case, got, ref)
            del got
            if first > budget / 4 and contender.kind != "peer":  # maybe numba loading its cache
                t0 = time.perf_counter()
                fn()
                first = time.perf_counter() - t0
            if first > budget / 4:  # seconds per call: one sample is all the budget allows
                result.times.append(first)
                continue
            t0 = time.perf_counter()
            fn()  # one warm call to size the rounds
            single = time.perf_counter() - t0
        except Skip as exc:
            result.skipped = str(exc)
            continue
        except AssertionError as exc:
            result.failed = f"wrong result: {exc}"
            continue
        except Exception as exc:  # a peer refusing the case must not stop the run
            result.failed = f"{type(exc).__name__}: {exc}"
            continue
        if single > budget / 4:  # one call eats the case's budget: report the warm call alone
            result.times.append(single)
            continue
        result.iterations = max(1, min(10_000, int(1e-3 / max(single, 1e-9))))
        runners.append([result, fn, single * result.iterations])
    # slow contenders (the naive oracle, peers on big kernels) get 3 rounds;
    # the rest share what is left of the budget, at least min_rounds each
    slow_cost = budget / (4 * min_rounds)
    slow_rounds = 3
    slow = sum(c for _, _, c in runners if c > slow_cost) * slow_rounds
    fast = sum(2 * c + warmup for _, _, c in runners if c <= slow_cost) or 1e-9  # timed + warm-up
    rounds = int(max(min_rounds, min(max_rounds, (budget - slow) / fast)))
    shuffle = np.random.default_rng(0).permutation
    for r in range(rounds):
        # a new random order every round: a contender that runs right after
        # one whose thread pool keeps spinning (OpenBLAS, torch's OpenMP) is
        # slowed for up to ~0.2 s; a fixed or rotated order would hand that
        # penalty to the same contender every round, a shuffled one to a
        # minority of its rounds, which the median discards
        order = [runners[i] for i in shuffle(len(runners))]
        for result, fn, cost in order:
            if cost > slow_cost and len(result.times) >= slow_rounds:
                continue
            n = result.iterations
            # Untimed warm-up of about WARMUP seconds first: the thread pools the
            # previous contenders leave spinning (OpenMP, OpenBLAS, torch, cv2,
            # scipy.fft: six runtimes on two cores) steal the cores for a few
            # ms, which would otherwise land on this contender's clock.
            t_end = time.perf_counter() + warmup
            fn()
            while time.perf_counter() < t_end:
                fn()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            result.times.append((time.perf_counter() - t0) / n)
    return results, auto_choice(X, K)


# ----------------------------------------------------------------- report


def _fmt_time(t):
    if t is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:7.2f} {unit}"
    return f"{t / 1e-9:7.0f} ns"


def format_table(results, chosen):
    case = results[0].case
    ran = [r for r in results if r.times]
    naive = next((r.median for r in ran if r.contender.name == "naive"), None)
    peers = [r for r in ran if r.contender.kind == "peer"]
    best_peer = min(peers, key=lambda r: r.median) if peers else None
    lines = [
        f"{case.name}  (auto chose: {chosen}"
        + (f"; fastest peer: {best_peer.contender.name}" if best_peer else "; no peer ran")
        + ")",
        f"  {'contender':<20}{'median':>11}{'vs naive':>12}{'/ best peer':>13}{'rounds':>8}",
    ]
    for r in sorted(ran, key=lambda r: r.median):
        speedup = f"{naive / r.median:,.0f}x" if naive else "-"
        ratio = f"{r.median / best_peer.median:.2f}x" if best_peer else "-"
        lines.append(f"  {r.contender.name:<20}{_fmt_time(r.median):>11}{speedup:>12}{ratio:>13}{len(r.times):>8}")
    for r in results:
        if not r.times:
            lines.append(f"  {r.contender.name:<20}  {r.failed and 'FAILED: ' + r.failed or r.skipped}")
    return "\n".join(lines)


def _machine_info():
    info = {
        "node": platform.node(),
        "processor": platform.processor(),
        "machine": platform.machine(),
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": platform.python_version(),
        "python_version": platform.python_version(),
        "python_build": list(platform.python_build()),
        "release": platform.release(),
        "system": platform.system(),
        "cpu": {"count": os.cpu_count(), "brand_raw": _cpu_brand()},
    }
    return info


def _cpu_brand():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _commit_info():
    import subprocess

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        def git(*a):
            return subprocess.run(["git", *a], cwd=here, capture_output=True, text=True, timeout=5, check=True).stdout.strip()

        return {
            "id": git("rev-parse", "HEAD"),
            "time": git("log", "-1", "--format=%cI"),
            "dirty": bool(git("status", "--porcelain")),
            "project": "fastconv",
            "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        }
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def to_json(all_results, versions):
    """A dict in pytest-benchmark's ``--benchmark-json`` schema."""
    import datetime

    benchmarks = []
    for results, chosen in all_results:
        for r in results:
            if not r.times:
                continue
            param = f"{r.case.name}-{r.contender.name}"
            benchmarks.append(
                {
                    "group": r.case.name,
                    "name": f"test_2d[{param}]",
                    "fullname": f"benchmarks/test_bench_2d.py::test_2d[{param}]",
                    "params": {"case": r.case.name, "contender": r.contender.name},
                    "param": param,
                    "extra_info": {"kind": r.contender.kind, "auto_chose": chosen, "versions": versions},
                    "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": len(r.times),
                                "max_time": None, "min_time": None, "warmup": True},
                    "stats": _stats(r.times, r.iterations),
                }
            )
    return {
        "machine_info": _machine_info(),
        "commit_info": _commit_info(),
        "benchmarks": benchmarks,
        "datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "version": _version("pytest_benchmark") or "fastconv-bench",
    }


def _version(module):
    try:
        from importlib.metadata import version

        return version(module.replace("_", "-"))
    except Exception:
        return None


def versions():
    import fastconv

    v = {"fastconv": fastconv.__version__, "python": platform.python_version(), "numpy": np.__version__,
         "threads": fastconv.get_threads()}
    for dist in ("scipy", "opencv-python-headless", "torch", "numba"):
        found = _version(dist)
        if found:
            v[dist] = found
    return v


def save_chart(all_results, path):
    """Bars of every contender's median time per case, log scale. Returns
    None on success or the reason it was skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return f"matplotlib not installed ({exc})"
    n = len(all_results)
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False)
    colors = {"auto": "tab:red", "fastconv": "tab:blue", "peer": "tab:gray"}
    for ax, (results, chosen) in zip(axes.flat, all_results):
        ran = sorted((r for r in results if r.times), key=lambda r: r.median)
        ax.barh([r.contender.name for r in ran], [r.median * 1e3 for r in ran],
                color=[colors[r.contender.kind] for r in ran])
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_title(f"{results[0].case.name} (auto: {chosen})", fontsize=9)
        ax.set_xlabel("median time per call [ms]", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("fastconv vs peers (red: auto, blue: fastconv backends, gray: peers)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def _progress(total, enabled):
    try:
        if not enabled:
            raise ImportError
        from tqdm import tqdm

        return tqdm(total=total, unit="case", file=sys.stderr, leave=False)
    except ImportError:
        class _Plain:
            def __init__(self):
                self.done = 0

            def set_description(self, text):
                print(f"[{self.done + 1}/{total}] {text}", file=sys.stderr, flush=True)

            def update(self, n=1):
                self.done += n

            def close(self):
                pass

        return _Plain()


def run(full=False, out="bench-results", budget=None, cases=None, progress=True, file=None):
    """Run the benchmark, print a table per case, save JSON and a PNG chart.

    The default quick subset stays under about three minutes on a 2-core
    machine; ``full=True`` runs every case. Returns the JSON dict.
    """
    file = file or sys.stdout
    selected = list(cases) if cases is not None else list(CASES if full else QUICK)
    budget = budget if budget is not None else (8.0 if full else 6.0)
    vers = versions()
    print("fastconv bench: " + ", ".join(f"{k} {v}" for k, v in vers.items()), file=file)
    print(f"cases: {len(selected)} ({'full' if full else 'quick subset; --full for all'}); "
          "median of interleaved rounds, same timer for every contender", file=file)
    all_results = []
    bar = _progress(len(selected), progress)
    try:
        for case in selected:
            bar.set_description(case.name)
            all_results.append(run_case(case, budget=budget))
            bar.update(1)
    finally:
        bar.close()
    for results, chosen in all_results:
        print("\n" + format_table(results, chosen), file=file)
    os.makedirs(out, exist_ok=True)
    data = to_json(all_results, vers)
    json_path = os.path.join(out, "bench.json")
    with open(json_path, "w") as fh:
        json.dump(data, fh, indent=1)
    png_path = os.path.join(out, "bench.png")
    why_not = save_chart(all_results, png_path)
    print(f"\nsaved {json_path} (pytest-benchmark JSON schema)", file=file)
    print(f"saved {png_path}" if why_not is None else f"chart skipped: {why_not}", file=file)
    return data


def main(argv=None):
    """Entry point of ``python -m fastconv bench`` (argument parsing lives here
    so that ``__main__`` only wires the subcommand)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fastconv bench", description="Benchmark fastconv against its peers.")
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


def add_arguments(parser):
    parser.add_argument("--full", action="store_true", help="run every case (default: a quick subset, < 3 minutes)")
    parser.add_argument("--out", default="bench-results", help="directory for bench.json and bench.png (default ./bench-results)")
    parser.add_argument("--budget", type=float, default=None, help="seconds of timing per case (default 6, or 8 with --full)")
    parser.add_argument("-k", dest="select", default=None, help="only cases whose name contains this string")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_from_args(args):
    cases = CASES if args.full else QUICK
    if args.select:
        cases = [c for c in CASES if args.select in c.name]
        if not cases:
            print(f"no case matches {args.select!r}; cases: {', '.join(c.name for c in CASES)}", file=sys.stderr)
            return 2
    run(full=args.full, out=args.out, budget=args.budget, cases=cases, progress=not args.no_progress)
    return 0
