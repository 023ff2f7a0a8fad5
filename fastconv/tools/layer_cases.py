"""The CNN-layer benchmark cases, their float64 reference and the gate.

The layer section of ``python -m fastconv bench`` and
``benchmarks/test_bench_layers.py`` both take their cases from here, so
they time the same problems the same way (like :mod:`.cases` for the 2-D
section). A case is one conv layer (N, C, H, W) x (O, C/groups, kh, kw)
with its stride/padding/dilation/groups, forward (``conv2d`` with a bias)
or backward (the gradients of x, weight and bias from grad_out), in one
dtype, at a thread count (None: ``fastconv.get_threads()``).

Every contender's first result is checked against :func:`reference`, an
independent float64 computation (one shifted slice and one einsum per
kernel tap, numpy only), before it is timed.
"""
import math
from dataclasses import dataclass, field, replace

import numpy as np

from .._geometry import Geometry


@dataclass(frozen=True)
class LayerCase:
    """One conv layer, forward or backward, in one dtype."""

    x: tuple
    w: tuple
    kw: dict = field(default_factory=dict, hash=False, compare=False)
    backward: bool = False
    dtype: str = "float32"
    quick: bool = False  # part of the default ``bench`` subset
    threads: object = None  # None: fastconv.get_threads()
    suite = "benchmarks/test_bench_layers.py::test_layer"  # the pytest-benchmark name in the JSON

    @property
    def name(self):
        dims = "x".join
        args = "".join(f"-{k[0]}{v if not isinstance(v, tuple) else dims(map(str, v))}"
                       for k, v in self.kw.items())  # -s2 -p1 -d2 -g64
        threads = "" if self.threads is None else f"-t{self.threads}"
        return (f"{'bwd' if self.backward else 'fwd'}-{dims(map(str, self.x))}-{dims(map(str, self.w))}{args}"
                f"-{self.dtype}{threads}")

    @property
    def macs(self):
        """Multiply-adds of the forward pass."""
        n, _, h, w = self.x
        ho, wo = self.geometry().out_shape
        return n * self.w[0] * ho * wo * math.prod(self.w[1:])

    def geometry(self):
        kw = self.kw
        return Geometry.from_args(self.x[2:], self.w[2:], kw.get("padding", 0), kw.get("stride", 1),
                                  kw.get("dilation", 1))

    def out_shape(self):
        return (self.x[0], self.w[0]) + self.geometry().out_shape

    def data(self):
        """(x, w, bias, grad_out) for this case, deterministic; weights
        scaled by 1/sqrt(fan-in) as a layer's initialisation would."""
        dtype = np.dtype(self.dtype)
        rng = np.random.default_rng([*self.x, *self.w, self.kw.get("stride", 1), self.kw.get("groups", 1)])
        x = rng.standard_normal(self.x).astype(dtype)
        w = (rng.standard_normal(self.w) / math.sqrt(math.prod(self.w[1:]))).astype(dtype)
        b = rng.standard_normal(self.w[0]).astype(dtype)
        g = rng.standard_normal(self.out_shape()).astype(dtype)
        return x, w, b, g


def _layers():
    """(x, w, kwargs, in the quick subset) of every layer."""
    rows = [((8, 64, 56, 56), (64, 64, 3, 3), dict(padding=1), True)]  # ResNet stage 1
    for n in (1, 8):
        rows += [
            ((n, 64, 56, 56), (64, 64, 3, 3), dict(padding=1), False),
            ((n, 128, 28, 28), (128, 128, 3, 3), dict(padding=1), False),
            ((n, 256, 14, 14), (256, 256, 3, 3), dict(padding=1), False),
            ((n, 512, 7, 7), (512, 512, 3, 3), dict(padding=1), False),
            ((n, 64, 56, 56), (128, 64, 3, 3), dict(stride=2, padding=1), n == 8),  # downsampling
            ((n, 64, 56, 56), (128, 64, 1, 1), dict(), False),  # 1x1 projection
            ((n, 64, 56, 56), (128, 64, 1, 1), dict(stride=2), False),  # the strided shortcut
            ((n, 3, 224, 224), (64, 3, 7, 7), dict(stride=2, padding=3), n == 1),  # the stem
            ((n, 64, 56, 56), (64, 1, 3, 3), dict(padding=1, groups=64), n == 8),  # depthwise
        ]
    rows = [r for i, r in enumerate(rows) if i == 0 or r[:2] != ((8, 64, 56, 56), (64, 64, 3, 3))]
    rows += [((4, 32, 64, 64), (64, 32, 3, 3), dict(padding=1), False),
             ((1, 1, 28, 28), (6, 1, 5, 5), dict(), False), ((32, 1, 28, 28), (6, 1, 5, 5), dict(), False)]  # LeNet
    return rows


def _build_cases():
    cases = []
    for dtype in ("float32", "float64"):
        for backward in (False, True):
            for x, w, kw, quick in _layers():
                # quick: float32 forward and backward of the marked layers, and
                # float64 of the first layer only (the float64 rule is one ratio)
                in_quick = quick and (dtype == "float32" or (x, w) == ((8, 64, 56, 56), (64, 64, 3, 3)))
                cases.append(LayerCase(x, w, kw, backward, dtype, quick=in_quick))
    return tuple(cases)


LAYER_CASES = _build_cases()
LAYER_QUICK = tuple(c for c in LAYER_CASES if c.quick)


def at_threads(cases, counts):
    """``cases`` once per thread count in ``counts`` (a table per count)."""
    return tuple(replace(c, threads=t) for t in counts for c in cases)


def _tap_slices(geo, a, b, n_out):
    """Slices of the padded input that tap (a, b) reads for every output."""
    (sh, sw), (dh, dw), (ho, wo) = geo.stride, geo.dilation, n_out
    return (slice(a * dh, a * dh + (ho - 1) * sh + 1, sh), slice(b * dw, b * dw + (wo - 1) * sw + 1, sw))


def reference(case, x, w, b, g):
    """The float64 result: y (forward) or (dx, dw, dbias) (backward)."""
    geo, groups = case.geometry(), case.kw.get("groups", 1)
    x, w, b, g = (np.asarray(a, dtype=np.float64) for a in (x, w, b, g))
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    (top, bottom), (left, right) = geo.pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, max(bottom, 0)), (left, max(right, 0))))
    wg = w.reshape(groups, o // groups, cg, kh, kw)
    xg = xp.reshape(n, groups, cg, *xp.shape[2:])
    ho, wo = geo.out_shape
    if not case.backward:
        y = np.zeros((n, groups, o // groups, ho, wo))
        for a in range(kh):
            for bb in range(kw):
                rows, cols = _tap_slices(geo, a, bb, (ho, wo))
                y += np.einsum("goc,ngcij->ngoij", wg[..., a, bb], xg[..., rows, cols], optimize=True)
        return y.reshape(n, o, ho, wo) + b[:, None, None]
    gg = g.reshape(n, groups, o // groups, ho, wo)
    dxp = np.zeros_like(xg)
    dw = np.zeros_like(wg)
    for a in range(kh):
        for bb in range(kw):
            rows, cols = _tap_slices(geo, a, bb, (ho, wo))
            dxp[..., rows, cols] += np.einsum("goc,ngoij->ngcij", wg[..., a, bb], gg, optimize=True)
            dw[..., a, bb] = np.einsum("ngoij,ngcij->goc", gg, xg[..., rows, cols], optimize=True)
    h, wi = x.shape[2:]
    dx = dxp.reshape(xp.shape)[:, :, top : top + h, left : left + wi]
    return dx, dw.reshape(w.shape), g.sum(axis=(0, 2, 3))


def check(case, got, ref):
    """Raise AssertionError unless every output matches the float64
    reference within sqrt(eps) of its largest value: a gate against
    garbage (a wrong layout, a skipped tap), not an accuracy test (those
    are in tests/, against the oracle)."""
    got, ref = (tuple(got), tuple(ref)) if case.backward else ((got,), (ref,))
    rtol = float(np.sqrt(np.finfo(case.dtype).eps))
    for name, a, r in zip(("grad x", "grad weight", "grad bias") if case.backward else ("result",), got, ref):
        a = np.asarray(a)
        assert a.shape == r.shape, f"{case.name} {name}: shape {a.shape}, expected {r.shape}"
        assert a.dtype == np.dtype(case.dtype), f"{case.name} {name}: dtype {a.dtype}, expected {case.dtype}"
        scale = max(float(np.abs(r).max()), 1e-300)
        err = float(np.abs(a.astype(np.float64) - r).max())
        assert err <= rtol * scale, f"{case.name} {name}: max error {err:.3g} > {rtol:.2g} * {scale:.3g}"
