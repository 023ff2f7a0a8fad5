"""Differential fuzzer: every public entry point on every backend against the
independent float64 reference in ``fuzz/reference.py``.

Each case draws a problem (shapes, padding, stride, dilation, groups, mode,
cval, dtype), random memory layouts for the operands (C, Fortran, negative
strides, read-only, unaligned, byte-swapped, broadcast), an ``out=`` that
may alias an input or be a strided or byte-swapped view, and the knobs
(workspace cap, thread count, SIMD variant, ``measure=True``), then checks:
the result against the reference (within the dtype's rounding, or the
documented bound of an approximate backend), that the caller's arrays are
unchanged, and that any exception is a ValueError/TypeError. Every few
cases it feeds a malformed argument and expects exactly such an error.

    python fuzz/differential.py --seconds 60            # random cases for a minute
    python fuzz/differential.py --seed 7 --cases 500    # reproducible
    python fuzz/differential.py --replay 7:123          # one case again, verbosely

Draws come from a ``Source``: ``random.Random`` here, atheris's
FuzzedDataProvider in ``fuzz/atheris_driver.py`` (same generator).
"""
import argparse
import os
import random
import sys
import tempfile
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

import fastconv  # noqa: E402
from fastconv import backends  # noqa: E402

MODES = ("constant", "reflect", "symmetric", "edge", "wrap")
LAYOUTS = ("C", "F", "negative", "readonly", "unaligned", "byteswapped", "broadcast", "strided")


class RandomSource:
    def __init__(self, rng):
        self.rng = rng

    def int(self, lo, hi):
        return self.rng.randint(lo, hi)

    def pick(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def floats(self, shape):
        return np.random.default_rng(self.rng.getrandbits(32)).standard_normal(shape) * self.pick((1.0, 1e-3, 1e3))


class Failure(AssertionError):
    pass


def layout(a, kind, src):
    """``a``'s values in memory layout ``kind`` (values may change only for
    broadcast, which repeats one row)."""
    if kind == "F":
        return np.asfortranarray(a)
    if kind == "negative":
        return np.ascontiguousarray(a[..., ::-1, ::-1])[..., ::-1, ::-1]
    if kind == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return a
    if kind == "unaligned":
        buf = np.zeros(a.nbytes + 1, np.uint8)
        u = buf[1:].view(a.dtype).reshape(a.shape)
        u[...] = a
        return u
    if kind == "byteswapped":
        return a.astype(a.dtype.newbyteorder(">" if a.dtype.isnative and sys.byteorder == "little" else "<"))
    if kind == "broadcast":
        return np.broadcast_to(a[..., :1, :], a.shape)
    if kind == "strided":
        big = np.zeros(a.shape[:-2] + (a.shape[-2] * 2, a.shape[-1] * 3), a.dtype)
        view = big[..., ::2, 1::3]
        view[...] = a
        return view
    return np.ascontiguousarray(a)


def draw_problem(src):
    """A valid problem: (kind, x, w, bias, kwargs, groups)."""
    kind = src.pick(("corr2d", "corr2d", "convolve2d", "conv2d", "conv2d", "corr2d_backward", "conv2d_backward",
                     "im2col", "as_matrix"))
    layer = kind.startswith("conv2d")
    groups = src.pick((1, 1, 2, 3)) if layer else 1
    n, cg, og = (src.int(1, 2), src.int(1, 2), src.int(1, 2)) if layer else (1, 1, 1)
    kh, kw = src.int(1, 5), src.int(1, 5)
    stride = (src.pick((1, 1, 2, 3, 7)), src.pick((1, 1, 2, 3)))
    dilation = (src.pick((1, 1, 2, 3)), src.pick((1, 1, 2)))
    padding = src.pick(("valid", "same", "full", 0, 1, 2, ((src.int(0, 3), src.int(0, 2)), (src.int(0, 2), 1))))
    pads = ref.pads_of(padding, (kh, kw), dilation)
    spans = [d * (k - 1) + 1 for k, d in zip((kh, kw), dilation)]
    h, w = (max(1, s - sum(p)) + src.int(0, 12) for s, p in zip(spans, pads))
    mode = src.pick(MODES) if kind in ("corr2d", "convolve2d", "corr2d_backward", "im2col") else "constant"
    cval = src.pick((0.0, 0.0, 1.5, -2.0, np.nan, np.inf)) if mode == "constant" else 0.0
    dtype = src.pick((np.float64, np.float32, np.int16, np.uint8, np.float16))
    x = src.floats((n, groups * cg, h, w))
    wt = src.floats((groups * og, cg, kh, kw))
    if np.dtype(dtype).kind in "iu":
        x, wt = np.round(np.clip(x, 0, 50)), np.round(np.clip(wt, -5, 5) if dtype == np.int16 else np.clip(wt, 0, 5))
    if src.int(0, 20) == 0 and np.dtype(dtype).kind == "f":
        x.flat[src.int(0, x.size - 1)] = src.pick((np.nan, np.inf, -np.inf))
    x, wt = x.astype(dtype), wt.astype(dtype)
    bias = src.floats((groups * og,)).astype(dtype) if layer and src.int(0, 1) else None
    kwargs = {"padding": padding, "stride": stride, "dilation": dilation}
    if not layer:
        kwargs.update(mode=mode, cval=cval)
        x, wt = x[0, 0], wt[0, 0]
    return kind, x, wt, bias, kwargs, groups, pads


def tolerance(dtype, magnitude, inexact, xnorm_knorm, taps):
    eps = np.finfo(np.float32 if dtype == np.float32 else np.float64).eps
    tol = eps * (taps + 4) * magnitude + eps * 4
    if inexact:
        tol = tol + 100 * eps * xnorm_knorm
    return tol


def check_close(name, got, want, magnitude, dtype, inexact, norms, taps, nonfinite):
    got = np.asarray(got, np.float64)
    if got.shape != want.shape:
        raise Failure(f"{name}: shape {got.shape}, reference {want.shape}")
    if nonfinite:
        if not inexact and not np.array_equal(np.isnan(got), np.isnan(want)):
            raise Failure(f"{name}: NaN positions differ from the reference")
        keep = np.isfinite(want) & np.isfinite(got)
        got, want, magnitude = got[keep], want[keep], magnitude[keep]
        if inexact:
            return
    err = np.abs(got - want)
    tol = tolerance(dtype, magnitude, inexact, norms, taps)
    if not np.all(err <= tol):
        i = int(np.argmax(err - tol))
        raise Failure(f"{name}: error {err.flat[i]:.3g} > tolerance {np.ravel(tol)[i]:.3g}")


def _result_dtype(*arrays):
    dt = np.result_type(*arrays)
    return np.dtype(np.float64) if dt.kind in "biu" or dt.itemsize > 4 else np.dtype(np.float32)


def _image_dtype(x, k):
    """The image functions' rule (docs/guide/arguments.md), restated: a float
    image keeps its precision; an integer image with a float kernel is
    float32 up to 16 bits, else float64; integers with integers float64."""
    if x.dtype.kind == "f":
        return np.dtype(np.float32) if x.dtype.itemsize <= 4 else np.dtype(np.float64)
    if k.dtype.kind == "f":
        return np.dtype(np.float32) if x.dtype.itemsize <= 2 else np.dtype(np.float64)
    return np.dtype(np.float64)


def _knobs(src):
    fastconv.set_threads(src.int(1, 3))
    fastconv.set_workspace_limit(src.pick((None, None, 256, 4096, 1 << 20)))
    cy = backends.load("cython")
    if cy is not None:
        cy._cython._limit_simd(src.int(1, 3))


def _malformed(src, kind, x, w, kwargs):
    """A call with one bad argument: must raise ValueError or TypeError."""
    bad = src.pick(({"cval": "x"}, {"cval": None}, {"padding": -1}, {"stride": 0}, {"dilation": (1, 0)},
                    {"mode": "bogus"}, {"backend": "nope"}, {"backend": ["cython"]}, {"padding": 2**62},
                    {"out": np.empty((1, 7, 3))}, {"stride": 1.5}, {"padding": "middle"}))
    args = dict(kwargs, **bad)
    try:
        if x.ndim == 4 and not {"mode", "cval"} & set(bad):
            args.pop("mode", None), args.pop("cval", None)
            fastconv.conv2d(x, w, **args)
        else:
            fastconv.corr2d(x if x.ndim == 2 else x[0, 0], w if w.ndim == 2 else w[0, 0], **args)
    except (ValueError, TypeError):
        return
    raise Failure(f"malformed argument {bad} was accepted")


def run_case(src, verbose=False):
    """One fuzz case; raises Failure (or any unexpected exception)."""
    kind, x0, w0, bias0, kwargs, groups, pads = draw_problem(src)
    _knobs(src)
    names = ["auto"] + backends.available_backends()
    backend = src.pick(names)
    if src.int(0, 7) == 0:
        return _malformed(src, kind, x0, w0, kwargs)
    x = layout(x0, src.pick(LAYOUTS), src)
    w = layout(w0, src.pick(LAYOUTS), src)
    x0 = np.array(x)  # values after layout (broadcast repeats a row)
    w0 = np.array(w)
    before = [np.array(a) for a in (x, w, bias0) if a is not None]
    stride, dilation = kwargs["stride"], kwargs["dilation"]
    mode, cval = kwargs.get("mode", "constant"), kwargs.get("cval", 0.0)
    x4 = x0 if x0.ndim == 4 else x0[None, None]
    w4 = w0 if w0.ndim == 4 else w0[None, None]
    if kind in ("corr2d", "convolve2d", "corr2d_backward"):
        dtype = _image_dtype(x0, w0)
    else:
        dtype = _result_dtype(x0, w0, *(() if bias0 is None else (bias0,)))
    inexact = backend != "naive" and backend != "auto" and not backends.row(backend).exact
    inexact = inexact or backend == "auto"
    nonfinite = not (np.isfinite(x0).all() and (mode != "constant" or np.isfinite(cval)))
    taps = int(np.prod(w4.shape[1:]))
    finite_x = np.where(np.isfinite(x4), x4.astype(np.float64), 0)
    fill = cval if np.isfinite(cval) else 0.0
    norms = np.sqrt(np.sum(finite_x ** 2) + fill ** 2 * (taps + x4.size)) * np.sqrt(np.sum(w4.astype(np.float64) ** 2))
    extra = {} if backend != "auto" or src.int(0, 9) else {"measure": True}
    if verbose:
        print(kind, backend, x.shape, x.dtype, w.shape, kwargs, groups, extra)
    if kind in ("corr2d", "convolve2d", "conv2d"):
        wk = w4[:, :, ::-1, ::-1] if kind == "convolve2d" else w4
        want = ref.conv(x4, wk, pads, stride, dilation, groups, mode, cval, bias0)
        mag = ref.conv(x4, wk, pads, stride, dilation, groups, mode, cval, bias0, magnitude=True)
        shape = want.shape if kind == "conv2d" else want.shape[2:]
        out_kind = src.pick(("none", "none", "fresh", "strided", "byteswapped", "alias"))
        out = None
        if out_kind == "fresh":
            out = np.full(shape, np.nan, dtype)
        elif out_kind == "strided":
            out = np.full(shape[:-1] + (shape[-1] * 2,), np.nan, dtype)[..., ::2]
        elif out_kind == "byteswapped":
            out = np.full(shape, np.nan, dtype.newbyteorder(">" if sys.byteorder == "little" else "<"))
        elif out_kind == "alias" and x.shape == shape and x.dtype == dtype and x.flags.writeable:
            out, before = x, before[1:]
        if kind == "conv2d":
            got = fastconv.conv2d(x, w, bias0, groups=groups, backend=backend, out=out, **kwargs, **extra)
        else:
            fn = fastconv.corr2d if kind == "corr2d" else fastconv.convolve2d
            got = fn(x, w, backend=backend, out=out, **kwargs, **extra)
        if out is not None and got is not out:
            raise Failure("out= was not returned")
        check_close(f"{kind}[{backend}]", np.reshape(got, want.shape), want, mag, dtype, inexact, norms, taps,
                    nonfinite)
    elif kind in ("corr2d_backward", "conv2d_backward"):
        shape = ref.out_shape(x4.shape[2:], w4.shape[2:], pads, stride, dilation)
        gy4 = src.floats((x4.shape[0], w4.shape[0]) + shape).astype(dtype)
        gx, gw = ref.grads(x4, w4, gy4, pads, stride, dilation, groups, mode, cval)
        if kind == "conv2d_backward":
            got = fastconv.conv2d_backward(x, w, gy4, groups=groups, backend=backend, **kwargs)
            pairs = [("x", got.x, gx), ("weight", got.weight, gw), ("bias", got.bias, gy4.sum(axis=(0, 2, 3)))]
        else:
            got = fastconv.corr2d_backward(x, w, gy4[0, 0], backend=backend, **kwargs)
            pairs = [("X", got.X, gx[0, 0]), ("K", got.K, gw[0, 0])]
        ax, aw = ref.grads(np.abs(x4), np.abs(w4), np.abs(gy4), pads, stride, dilation, groups, mode, abs(cval))
        mags = {"x": ax, "X": ax[0, 0], "weight": aw, "K": aw[0, 0], "bias": np.abs(gy4).sum(axis=(0, 2, 3))}
        # An FFT's error scales with the norms of the two operands of each gradient's correlation.
        gnorm = np.sqrt(np.sum(gy4.astype(np.float64) ** 2)) * (
            np.sqrt(np.sum(finite_x ** 2) + fill ** 2 * x4.size) + np.sqrt(np.sum(w4.astype(np.float64) ** 2)))
        for name, g, want in pairs:
            check_close(f"{kind}.{name}[{backend}]", g, want, mags[name], dtype, inexact, gnorm * 16,
                        taps * 4 + int(np.prod(gy4.shape[2:])), nonfinite)
    elif kind == "im2col":
        got = fastconv.im2col(x, w.shape, **kwargs)
        xp = ref.pad(x0.astype(np.float64), pads, mode, cval)
        shape = ref.out_shape(x0.shape, w0.shape, pads, stride, dilation)
        cols = [v.ravel() for _, _, v in ref._taps(xp, w0.shape, shape, stride, dilation)]
        want = np.stack(cols, axis=1)
        if not np.array_equal(np.asarray(got, np.float64), want.astype(got.dtype).astype(np.float64), equal_nan=True):
            raise Failure("im2col differs from the reference patches")
    else:  # as_matrix: zero padding only
        kwargs = {k: v for k, v in kwargs.items() if k not in ("mode", "cval")}
        W = fastconv.as_matrix(w, x.shape, **kwargs)
        want = ref.conv(x4, w4, pads, stride, dilation)[0, 0]
        mag = ref.conv(x4, w4, pads, stride, dilation, magnitude=True)[0, 0]
        with np.errstate(all="ignore"):
            got = (W @ x0.astype(np.float64).ravel()).reshape(want.shape)
        check_close("as_matrix", got, want, mag, np.dtype(np.float64), False, norms, taps,
                    not np.isfinite(x0).all())
    for a, b in zip(before, [a for a in (x, w, bias0) if a is not None][-len(before):] if before else []):
        if not np.array_equal(a, b, equal_nan=True):
            raise Failure("an input array was modified")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=None, help="run for this long (default: --cases)")
    p.add_argument("--cases", type=int, default=200)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--replay", help="SEED:CASE: run one case verbosely")
    args = p.parse_args(argv)
    os.environ.setdefault("FASTCONV_WISDOM", os.path.join(tempfile.mkdtemp(), "wisdom.json"))
    if args.replay:
        seed, case = (int(v) for v in args.replay.split(":"))
        run_case(RandomSource(random.Random(f"{seed}:{case}")), verbose=True)
        print("passed")
        return 0
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    start, done = time.monotonic(), 0
    while (time.monotonic() - start < args.seconds) if args.seconds else done < args.cases:
        try:
            run_case(RandomSource(random.Random(f"{seed}:{done}")))
        except Exception:
            traceback.print_exc()
            print(f"FAILED case {done}; replay: python fuzz/differential.py --replay {seed}:{done}")
            return 1
        done += 1
    print(f"fuzz: {done} cases passed (seed {seed}, {time.monotonic() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
