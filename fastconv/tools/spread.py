"""The problem spreads ``tune`` times: the one the constants are fitted on,
a seeded random one to check the picks on, and the benchmark's cases.

A problem is a :class:`Spec`: NCHW input and OIHW kernel shapes with
padding, stride, dilation and groups, as ``conv2d`` takes them.
"""
from typing import NamedTuple

import numpy as np

from .._geometry import Geometry


class Spec(NamedTuple):
    """One problem of a spread. ``rank1``: kernels with one input channel
    are outer products (timings do not depend on values, except those of
    a backend that only takes rank-1 kernels)."""

    x: tuple  # (N, C, H, W)
    w: tuple  # (O, C/groups, kh, kw)
    padding: object = 0
    stride: object = 1
    dilation: object = 1
    groups: int = 1
    rank1: bool = True

    def geometry(self):
        return Geometry.from_args(self.x[2:], self.w[2:], self.padding, self.stride, self.dilation)

    def describe(self):
        rank1 = " rank1" if self.rank1 and self.w[1] == 1 else ""
        return (f"x{self.x} w{self.w} pad={self.padding} s={self.stride} d={self.dilation} "
                f"g={self.groups}{rank1}")


def _spec(x, w, padding=0, stride=1, dilation=1, groups=1, rank1=True):
    return Spec(tuple(x), tuple(w), padding, stride, dilation, groups, rank1)


def fit_spread(quick=False):
    """The problems the constants are fitted on."""
    specs = []
    sizes = (8, 24, 64, 160, 384, 1024) if quick else (8, 24, 64, 160, 384, 1024, 2048)
    kernels = (1, 3, 5, 11, 31) if quick else (1, 2, 3, 5, 7, 11, 17, 31)
    for s in sizes:
        for k in kernels:
            if k <= s and s * s * k * k <= 2.2e8:
                specs.append(_spec((1, 1, s, s), (1, 1, k, k)))
    specs += [
        _spec((1, 1, 37, 300), (1, 1, 3, 5)),
        _spec((1, 1, 600, 45), (1, 1, 5, 3)),
        _spec((1, 1, 512, 512), (1, 1, 3, 3), stride=2),
        _spec((1, 1, 512, 512), (1, 1, 7, 7), stride=(1, 3)),
        _spec((1, 1, 300, 300), (1, 1, 5, 5), dilation=3),
        _spec((1, 1, 1024, 1024), (1, 1, 9, 9), padding=4),
        _spec((1, 1, 128, 128), (1, 1, 1, 15)),
        _spec((1, 3, 64, 64), (16, 3, 3, 3), padding=1),
        _spec((4, 16, 32, 32), (32, 16, 3, 3), padding=1),
        _spec((2, 32, 28, 28), (64, 32, 5, 5), padding=2),
        _spec((1, 32, 64, 64), (32, 1, 3, 3), padding=1, groups=32),
        _spec((4, 64, 28, 28), (128, 64, 1, 1)),
        _spec((2, 8, 100, 100), (8, 8, 7, 7)),
        _spec((1, 1, 256, 256), (8, 1, 5, 5)),
        _spec((16, 3, 32, 32), (8, 3, 3, 3)),
        _spec((1, 128, 14, 14), (128, 128, 3, 3), padding=1),
        _spec((2, 16, 64, 64), (16, 16, 3, 3), padding=1, stride=2),
        _spec((1, 4, 128, 128), (4, 2, 9, 9), groups=2),
        _spec((1, 8, 64, 64), (8, 8, 3, 3), dilation=2),
        _spec((2, 32, 7, 7), (32, 32, 3, 3), padding=1),
        _spec((1, 64, 14, 14), (64, 64, 1, 1)),
        _spec((4, 16, 16, 16), (32, 16, 3, 3), stride=2),
        _spec((2, 24, 10, 10), (48, 24, 2, 2)),
        # conv layers of the issue-9 benchmark, at fit-friendly sizes: ResNet
        # batch 1, depthwise at 56x56, narrow deep maps, stride-2
        # downsampling, the 7x7 stem, LeNet
        _spec((1, 64, 56, 56), (64, 64, 3, 3), padding=1),
        _spec((2, 64, 56, 56), (64, 1, 3, 3), padding=1, groups=64),
        _spec((1, 256, 14, 14), (256, 256, 3, 3), padding=1),
        _spec((1, 256, 7, 7), (256, 256, 3, 3), padding=1),
        _spec((1, 64, 56, 56), (128, 64, 3, 3), stride=2, padding=1),
        _spec((1, 3, 112, 112), (64, 3, 7, 7), stride=2, padding=3),
        _spec((8, 1, 28, 28), (6, 1, 5, 5)),
    ]
    specs += [
        # where a model of square single-channel images is blind: tall and
        # narrow images (short rows), many channels on a few pixels, grouped
        # 1x1 layers with several filters per group, strided depthwise
        # layers, dilated and strided layers
        _spec((1, 1, 900, 6), (1, 1, 5, 5)),
        _spec((1, 1, 6, 900), (1, 1, 5, 5)),
        _spec((1, 1, 2500, 20), (1, 1, 9, 3), stride=2),
        _spec((1, 1, 300, 3), (1, 1, 2, 2)),
        _spec((2, 8, 5, 5), (64, 8, 3, 3), padding=1),
        _spec((4, 64, 3, 3), (64, 64, 3, 3), padding=1),
        _spec((1, 128, 6, 6), (128, 128, 1, 1)),
        _spec((2, 1, 9, 9), (48, 1, 1, 1), padding=1),
        _spec((1, 32, 48, 48), (128, 1, 1, 1), groups=32),
        _spec((2, 16, 80, 80), (16, 1, 3, 3), padding=1, stride=2, groups=16),
        _spec((1, 48, 40, 40), (48, 1, 5, 5), padding=2, groups=48),
        _spec((1, 16, 60, 60), (32, 16, 3, 3), dilation=3),
        _spec((1, 8, 200, 200), (8, 8, 5, 5), stride=3),
        _spec((1, 1, 1200, 1200), (1, 1, 5, 5), stride=2),
        _spec((1, 1, 700, 900), (1, 1, 7, 7), stride=(1, 2), padding=3),
        _spec((1, 1, 640, 640), (1, 1, 3, 3), stride=2),
        _spec((1, 8, 96, 96), (8, 8, 3, 3), stride=2),
        _spec((2, 1, 300, 400), (3, 1, 5, 5), stride=2, padding=2),
        _spec((1, 4, 200, 160), (4, 4, 2, 2), stride=(1, 2)),
        # 3x3 stride-1 layers from many tiles and few channels to few tiles
        # and many (what tells winograd's products, kernel reads and chunks
        # apart), with as many and with other channels out as in
        _spec((1, 16, 128, 128), (16, 16, 3, 3), padding=1),
        _spec((2, 32, 32, 32), (32, 32, 3, 3), padding=1),
        _spec((2, 64, 28, 28), (128, 64, 3, 3), padding=1),
        _spec((4, 128, 14, 14), (128, 128, 3, 3), padding=1),
        _spec((2, 384, 10, 10), (192, 384, 3, 3), padding=1),
        _spec((1, 512, 14, 14), (512, 512, 3, 3), padding=1),
    ]
    specs += check_spread(24 if quick else 48, seed=2024)  # a random spread of its own (--check uses another seed)
    if not quick:
        specs += [
            _spec((1, 3, 224, 224), (32, 3, 7, 7), stride=2, padding=3),
            _spec((1, 1, 2048, 2048), (1, 1, 3, 3), padding=1),
        ]
        # the layer benchmark's forward layers (8x64x56x56 * 64x64x3x3
        # among them): their near-ties between direct, winograd and gemm
        # flip with any refit that does not see them
        specs += layer_spread()
    return specs


def check_spread(n=60, seed=12345):
    """A seeded random spread for checking the picks (not used for fitting):
    odd sizes, even and non-square kernels, strides, dilations, padding,
    channels, groups."""
    rng = np.random.default_rng(seed)
    specs = []
    while len(specs) < n:
        if rng.random() < 0.6:
            h, w = (int(v) for v in np.exp(rng.uniform(np.log(5), np.log(2500), 2)))
            kh, kw = (int(v) for v in rng.integers(1, 26, 2)) if rng.random() < 0.4 else (int(rng.integers(1, 10)),) * 2
            n_img, c, o, groups = 1, 1, 1, 1
        else:
            h = w = int(rng.choice([7, 14, 19, 28, 33, 56, 64, 100, 129]))
            kh = kw = int(rng.choice([1, 2, 3, 3, 3, 4, 5, 7]))
            n_img = int(rng.choice([1, 2, 4, 8]))
            c = int(rng.choice([1, 3, 8, 16, 32, 64]))
            groups = int(rng.choice([1, 1, 1, c])) if c > 1 else 1
            o = groups * int(rng.choice([1, 2, 4, 8, 16])) if groups > 1 else int(rng.choice([4, 8, 16, 32, 64]))
        stride = int(rng.choice([1, 1, 1, 2, 3]))
        dilation = int(rng.choice([1, 1, 1, 2]))
        padding = "same" if rng.random() < 0.3 else 0
        rank1 = bool(rng.random() < 0.5)
        try:
            geo = Geometry.from_args((h, w), (kh, kw), padding, stride, dilation)
        except ValueError:
            continue
        macs = n_img * o * geo.out_shape[0] * geo.out_shape[1] * (c // groups) * kh * kw
        if macs > 4e8:
            continue
        specs.append(_spec((n_img, c, h, w), (o, c // groups, kh, kw), padding, stride, dilation, groups, rank1))
    return specs


def hard_spread():
    """Problems a cost model easily gets wrong, for ``--check``: issue 14's
    misses (a dilated 1x1 kernel, a grouped 1x1 with many filters per
    group, many channels on a tiny image, a strided 1x1 on a large one),
    1x1 and depthwise layers, strides and dilations on large and tiny
    images, and many channels on images of a few pixels."""
    return [
        # issue 14's cases
        _spec((4, 64, 100, 100), (64, 64, 1, 1), padding="same", dilation=2, rank1=False),
        _spec((2, 64, 64, 64), (256, 1, 1, 1), groups=64),
        _spec((4, 32, 129, 129), (16, 32, 1, 1), padding="same", dilation=2, rank1=False),
        _spec((2, 3, 7, 7), (64, 3, 3, 3), padding="same", rank1=False),
        _spec((1, 1, 1957, 970), (1, 1, 1, 1), stride=3),
        # 1x1 layers
        _spec((1, 256, 14, 14), (512, 256, 1, 1), rank1=False),
        _spec((8, 32, 28, 28), (64, 32, 1, 1), stride=2, rank1=False),
        _spec((1, 16, 224, 224), (8, 16, 1, 1), rank1=False),
        # depthwise layers
        _spec((1, 128, 28, 28), (128, 1, 3, 3), padding=1, groups=128, rank1=False),
        _spec((4, 32, 112, 112), (32, 1, 3, 3), padding=1, stride=2, groups=32, rank1=False),
        _spec((1, 64, 7, 7), (64, 1, 5, 5), padding="same", groups=64, rank1=False),
        _spec((2, 16, 64, 64), (32, 1, 3, 3), padding=1, groups=16, rank1=False),
        # strides and dilations, large and tiny images
        _spec((1, 1, 1500, 1500), (1, 1, 5, 5), stride=2, rank1=False),
        _spec((1, 1, 800, 1200), (1, 1, 3, 3), dilation=4, rank1=False),
        _spec((1, 1, 2000, 600), (1, 1, 7, 7), padding="same", stride=(1, 2), rank1=False),
        _spec((1, 1, 9, 9), (1, 1, 3, 3), stride=2, rank1=False),
        _spec((1, 1, 12, 10), (1, 1, 3, 3), dilation=2, rank1=False),
        _spec((2, 16, 9, 9), (32, 16, 3, 3), stride=2, padding=1, rank1=False),
        _spec((1, 16, 200, 200), (16, 16, 3, 3), dilation=2, padding="same", rank1=False),
        _spec((1, 8, 300, 300), (8, 8, 5, 5), stride=3, rank1=False),
        # many channels on images of a few pixels
        _spec((1, 64, 4, 4), (64, 64, 3, 3), padding="same", rank1=False),
        _spec((8, 128, 3, 3), (128, 128, 1, 1), rank1=False),
        _spec((4, 256, 2, 2), (256, 256, 2, 2), rank1=False),
        _spec((1, 32, 5, 5), (96, 32, 3, 3), rank1=False),
    ]


def layer_spread():
    """The forward conv layers of ``bench --section layers``
    (:mod:`.layer_cases`), once each: a refit must keep their picks."""
    from .layer_cases import LAYER_CASES

    specs = []
    for case in LAYER_CASES:
        kw = case.kw
        spec = _spec(case.x, case.w, kw.get("padding", 0), kw.get("stride", 1), kw.get("dilation", 1),
                     kw.get("groups", 1), rank1=False)
        if not case.backward and spec not in specs:
            specs.append(spec)
    return specs


def bench_spread():
    """The benchmark's cases (2-D and the conv layers), for ``--check``."""
    specs = [_spec((1, 1, 6, 8), (1, 1, 1, 2))]
    for s in (256, 2048):
        for k in (3, 5, 7):
            specs.append(_spec((1, 1, s, s), (1, 1, k, k), padding="same"))
    specs.append(_spec((1, 1, 1024, 1024), (1, 1, 31, 31), padding="same"))
    return specs + layer_spread()
