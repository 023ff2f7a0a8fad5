"""The weight gradient of a conv layer over shifted views of the input,
with no im2col copy: a compiled kernel, or one BLAS GEMM per kernel tap.

For tap (a, b) and per group,

    dL/dw[:, :, a, b] (O/G, C/G) = G (O/G, positions) @ X_ab (positions, C/G)

with X_ab[(n, i, j), c] = xp[n, c, i*sh + a*dh, j*sw + b*dw] (xp the padded
input). Laid out right, X_ab is a plain strided view: the padded input is
split into its sh x sw stride phases, each stored channel-major
(C, N, Hq, Wq), so that the positions (n, i, j) are consecutive elements
of a grid with rows of Wq; tap (a, b) then reads phase
((a*dh) % sh, (b*dw) % sw) from the flat offset
((a*dh) // sh) * Wq + (b*dw) // sw on. grad_out is copied into the same
(O, N, Hq, Wq) grid, zero at the grid points that are not output
positions (columns >= Wo, rows >= Ho), so every sum runs over the whole
flat grid and those points add 0 * (a pixel of the shifted view).

The compiled kernel (``_direct.weight_grad``, wgrad.template.c) takes each
(output channel, input channel, tap) sum as a dot product of two such
rows, in register blocks of channels (:func:`_by_kernel`); it is the path
where the grid and the channels padded to its block add little
(:func:`_kernel_pays`). Without it (a build with no vector extensions),
BLAS reads the views in place, one GEMM per tap and block.

Copies: the phases (one copy of the padded input) and the grid of
grad_out, where im2col copies the input kh*kw times.

Non-finite inputs: 0 * inf is NaN, so a non-finite pixel read at a zero
grid point would poison a gradient that is finite. The caller recomputes
any non-finite result by the exact im2col path.

Order: blocks of positions outside, taps inside, so a block's grad_out
and input rows are read from memory once and from L2 by every tap.

Accuracy: each block of positions (256-4096) is summed into fresh float32
partials (the kernel: per vector lane), added in float64. Measured on
(8,64,56,56)x(64,64,3,3) against a float64 reference: max error 1.8e-7 of
the largest gradient with whole-image blocks, torch's float32 4.8e-6.

Threads: the kernel's tasks on OpenMP threads; the GEMMs' tasks (runs of
blocks, and subsets of the taps when blocks are few) on fastconv's threads
with one BLAS thread each (:func:`fastconv._blas.map_serial_blas`).
"""
import functools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import _blas, _workers
from ._padding import pad_spatial
from .settings import SERIAL_MACS, get_threads, get_workspace_limit

# Positions per float32 partial sum: as many as keep one block of grad_out
# and input rows (O + C values per position) within _CACHED_BYTES, so that
# all kh*kw taps' GEMMs read it from L2, within these bounds (a GEMM's K
# long enough to run at BLAS speed; a float32 sum short enough to stay
# accurate).
_CACHED_BYTES = 1 << 20
_MIN_BLOCK, _MAX_BLOCK = 256, 4096
# Both channel counts per group at least this: a skinnier product (the 7x7
# stem's 3 input channels: (64 x P) @ (P x 3) per tap) runs BLAS far below
# the im2col GEMM's rate, whose K is C/G*kh*kw (1x3x224x224 * 64x3x7x7 s2:
# 6.7 ms by taps, 3.9 ms by im2col).
_MIN_CHANNELS = 16
_TASKS_PER_THREAD = 4
# The compiled kernel's block: a tile's input rows stay in L2 while each
# block of output channels reads them.
_KERNEL_L2_BYTES = 1 << 19
# Grid points per output position, and that times the padded channel
# pairs per real pair, up to which the kernel beats im2col (see _kernel_pays).
_KERNEL_MAX_GRID, _KERNEL_MAX_WASTE = 1.2, 1.45
_KERNEL_CTILE = 32
# A 1x1 layer's images read in place when they have this many positions
# each: each image's positions are blocks of their own, with their overhead.
# 1 thread, thread time: 8x64x56x56 * 128x64x1x1 5.4 ms in place, 8.9 ms
# copied into one grid; 8x128x28x28 * 256x128x1x1 6.0 / 6.4; 8x256x14x14 *
# 64x256x1x1 1.25 / 0.74.
_POINTWISE_MIN_POSITIONS = 512  # input channels per task: a tile's rows of a long block (4096 float32) fit that budget


def kernel_available():
    """Does this build have the compiled weight-gradient kernel?"""
    return bool(getattr(_kernel(), "WGRAD_SIMD", ""))


@functools.lru_cache(maxsize=None)
def _kernel():
    """The direct backend's extension, imported on first use (``import
    fastconv`` loads no compiled backend), or None when it is not built."""
    try:
        from .backends import _direct
    except ImportError:  # a source tree without the compiled core: the BLAS GEMMs serve
        return None
    return _direct


def applies(x_shape, weight_shape, groups, geo, itemsize):
    """Is this module the weight gradient's path for this problem (the
    compiled kernel when the build has it, else the per-tap GEMMs)?"""
    o, cg = weight_shape[:2]
    if _grid_bytes(x_shape, o, geo, itemsize) > get_workspace_limit():
        return False
    if kernel_available():
        # (plus its float64 sums, one set per thread)
        sums = get_threads() * o * _round_up(cg, 4) * math.prod(weight_shape[2:]) * 8
        return _kernel_pays(x_shape, weight_shape, groups, geo, itemsize) and \
            _grid_bytes(x_shape, o, geo, itemsize) + sums <= get_workspace_limit()
    if min(o // groups, cg) < _MIN_CHANNELS:
        return False
    # Each tap's partial sums (O/G x C/G, added in float64) cost about what
    # im2col's copy of C/G values per position saves: fewer positions than
    # output channels and im2col wins (1x512x7x7 * 512x512x3x3: 49 positions,
    # 86 ms by taps, 52 ms by im2col at load 6).
    return x_shape[0] * math.prod(geo.out_shape) >= o // groups


def _kernel_pays(x_shape, weight_shape, groups, geo, itemsize):
    """Is the compiled kernel faster than the im2col GEMM here? It also
    sums the grid points that are no output position (the padding's rows
    and columns, a stride phase's overhang) and the zero rows that pad the
    channels to its register block; the GEMM runs none of those, and
    float64 GEMMs run closer to the machine's peak than float32 ones. The
    limits, measured per layer at 1 thread (2-core EPYC, load 2-3): float32
    8x128x28x28 * 128x128x3x3 (grid 1.15x the outputs) 0.85-0.94x im2col's
    time, 8x256x14x14 (1.31x) 1.16-1.20x, the 7x7 stem's 3 input channels
    (padded to 4, grid 1.05x) 0.68-0.77x; float64 8x64x56x56 * 64x64x3x3
    0.88-1.10x, the stem 1.19-1.33x."""
    o, cg = weight_shape[:2]
    og = o // groups
    (ho, wo), (hq, wq) = geo.out_shape, _grid(geo)
    spatial = hq * wq / (ho * wo)
    channels = _round_up(og, 4) * _round_up(cg, 4) / (og * cg)
    if spatial > _KERNEL_MAX_GRID:
        return False
    if itemsize == 4:
        return spatial * channels <= _KERNEL_MAX_WASTE
    return channels == 1 and min(og, cg) >= _MIN_CHANNELS


def _grid(geo):
    """(Hq, Wq): the grid of one stride phase of the read part of the padded input."""
    (hu, wu), (sh, sw) = geo.extent, geo.stride
    return -(-hu // sh), -(-wu // sw)


def _grid_bytes(x_shape, o, geo, itemsize):
    (sh, sw), (hq, wq) = geo.stride, _grid(geo)
    n, c = x_shape[:2]
    return (sh * sw * c + o) * n * hq * wq * itemsize


def _phase_slices(phase, step, before, n, rows):
    """For stride phase ``phase`` of an axis padded by ``before`` (the input
    has ``n`` samples, the phase ``rows`` grid points): (grid slice, input
    slice) of the grid points that hold input samples."""
    t0 = max(0, -(-(before - phase) // step))
    t1 = min(rows, -(-(before + n - phase) // step))
    if t1 <= t0:
        return None
    first = phase + step * t0 - before
    return slice(t0, t1), slice(first, first + step * (t1 - t0 - 1) + 1, step)


def _fill_phases(x, geo, mode, cval, groups, dest, parts=1):
    """Write the stride phases of the read part of the padded input,
    channel-major, into ``dest``: {(ra, rb): a (groups, C/groups, N, Hq, Wq)
    view of zeros} for the phases the taps read (a 1x1 stride-2 shortcut
    reads one of four). Returns the copies as ``parts`` jobs per phase (runs
    of channels) for the caller to run, on threads if it likes."""
    sh, sw = geo.stride
    n, c = x.shape[:2]
    (hu, wu), ((top, _), (left, _)) = geo.extent, geo.pads
    if mode != "constant" or (geo.padded and cval != 0):
        x, top, left = pad_spatial(x, geo.pads, mode, cval)[:, :, :hu, :wu], 0, 0
    h, w = x.shape[2:]
    cg = c // groups
    x5 = x.reshape(n, groups, cg, h, w)
    jobs = []
    for (ra, rb), view in dest.items():
        rows = _phase_slices(ra, sh, top, min(h, hu - top), -(-(hu - ra) // sh))
        cols = _phase_slices(rb, sw, left, min(w, wu - left), -(-(wu - rb) // sw))
        if rows is None or cols is None:
            continue
        for k in range(parts):
            c0, c1 = cg * k // parts, cg * (k + 1) // parts
            if c1 > c0:
                jobs.append(functools.partial(_copy, view[:, c0:c1, :, rows[0], cols[0]],
                                              x5[:, :, c0:c1, rows[1], cols[1]].transpose(1, 2, 0, 3, 4)))
    return jobs


def _copy(dst, src):
    dst[...] = src


def _phases(x, geo, mode, cval, grid, used):
    """(sh, sw, C, N, Hq, Wq): the stride phases of the read part of the
    padded input, channel-major, zeros past each phase's end. Only the
    phases in ``used`` are filled (the others stay untouched zero pages)."""
    (sh, sw), (hq, wq) = geo.stride, grid
    n, c = x.shape[:2]
    out = np.zeros((sh, sw, c, n, hq, wq), dtype=x.dtype)
    for job in _fill_phases(x, geo, mode, cval, 1, {phase: out[phase][None] for phase in used}):
        job()
    return out


def _by_kernel(x, gy, geo, groups, weight_shape, mode, cval, block):
    """:func:`weight_grad` by the compiled kernel (``_direct.weight_grad``):
    grad_out rows and the used stride phases' input rows, each group's
    channels padded with zero rows to multiples of 4 and every row with
    zeros to whole vectors, then one kernel call."""
    n = x.shape[0]
    o, cg, kh, kw = weight_shape
    og = o // groups
    (sh, sw), (dh, dw), (ho, wo) = geo.stride, geo.dilation, geo.out_shape
    if (kh, kw, sh, sw) == (1, 1, 1, 1) and not geo.padded and og % 4 == 0 and cg % 4 == 0 and \
            x.flags.c_contiguous and gy.flags.c_contiguous and ho * wo >= _POINTWISE_MIN_POSITIONS:
        return _pointwise(x, gy, groups, weight_shape, block)
    hq, wq = _grid(geo)
    align = _kernel().WGRAD_ALIGN
    plane = n * hq * wq
    length = _round_up(plane - (hq - ho) * wq - (wq - wo), align)  # up to the last output position
    ogp, cgp = _round_up(og, 4), _round_up(cg, 4)
    phase_of = {((a * dh) % sh, (b * dw) % sw): None for a in range(kh) for b in range(kw)}
    for k, phase in enumerate(phase_of):
        phase_of[phase] = k
    threads = 1 if length * o * cg * kh * kw < SERIAL_MACS else get_threads()
    # The copies (each a transpose, and a stride-phase gather) on the threads
    # too: they are a fifth of a 2-thread 8x64x56x56 * 64x64x3x3 call.
    parts = 2 * threads if threads > 1 else 1
    grid = np.zeros((groups, ogp, _round_up(plane, align)), dtype=gy.dtype)
    grid_view = grid[:, :og, :plane].reshape(groups, og, n, hq, wq)[..., :ho, :wo]
    gy5 = gy.reshape(n, groups, og, ho, wo).transpose(1, 2, 0, 3, 4)
    jobs = [functools.partial(_copy, grid_view[:, og * k // parts : og * (k + 1) // parts],
                              gy5[:, og * k // parts : og * (k + 1) // parts]) for k in range(parts)]
    # A tap reads length elements from its offset (< plane - length + align on).
    rows = np.zeros((len(phase_of), groups, cgp, _round_up(plane + align, align)), dtype=x.dtype)
    jobs += _fill_phases(x, geo, mode, cval, groups,
                         {phase: rows[k, :, :cg, :plane].reshape(groups, cg, n, hq, wq)
                          for phase, k in phase_of.items()}, parts)
    _workers.run(lambda job: job(), jobs, threads)  # (numpy's copies release the GIL)
    taps = [(phase_of[((a * dh) % sh, (b * dw) % sw)], (a * dh) // sh * wq + (b * dw) // sw)
            for a in range(kh) for b in range(kw)]
    ctile = min(cgp, _KERNEL_CTILE)
    if block is None:  # a tile's input rows of the block stay in L2 while each output channel block reads them
        block = min(_MAX_BLOCK, max(_MIN_BLOCK, _KERNEL_L2_BYTES // (ctile * x.itemsize)))
    block = _round_up(block, align)
    with np.errstate(invalid="ignore", over="ignore"):
        acc = _kernel().weight_grad(grid.reshape(1, groups * ogp, -1), rows.reshape(1, len(phase_of), groups * cgp, -1),
                                  groups, ogp, cgp, [t[0] for t in taps], [t[1] for t in taps], length, block,
                                  ctile, threads, SERIAL_MACS)
    acc = acc.reshape(kh, kw, groups, ogp, cgp)[:, :, :, :og, :cg]
    return acc.transpose(2, 3, 4, 0, 1).reshape(weight_shape)


def _pointwise(x, gy, groups, weight_shape, block):
    """:func:`_by_kernel` for a 1x1 stride-1 layer without padding, whose
    images are already the kernel's rows (each channel one contiguous row
    of H*W positions): one kernel call over every image, x and gy read in
    place, the positions past the last whole vector by a float64 product.
    No copies (8x64x56x56 * 128x64x1x1: they were a third of the time)."""
    n, _, h, w = x.shape
    o, cg = weight_shape[:2]
    positions = h * w
    length = positions - positions % _kernel().WGRAD_ALIGN
    if block is None:
        block = min(_MAX_BLOCK, max(_MIN_BLOCK, _KERNEL_L2_BYTES // (min(cg, _KERNEL_CTILE) * x.itemsize)))
    block = _round_up(block, _kernel().WGRAD_ALIGN)
    threads = 1 if n * length * o * cg < SERIAL_MACS else get_threads()
    gm, xm = gy.reshape(n, o, positions), x.reshape(n, 1, groups * cg, positions)
    total = np.zeros((groups, o // groups, cg))
    if length:  # (every image in one call: one thread team)
        total += _kernel().weight_grad(gm, xm, groups, o // groups, cg, [0], [0], length, block,
                                       min(cg, _KERNEL_CTILE), threads, SERIAL_MACS).reshape(total.shape)
    if length < positions:  # (a few columns: on the calling thread)
        tail_g = gm[:, :, length:].reshape(n, groups, o // groups, -1).astype(np.float64)
        tail_x = xm[:, 0, :, length:].reshape(n, groups, cg, -1).astype(np.float64)
        total += np.matmul(tail_g, tail_x.swapaxes(-1, -2)).sum(axis=0)
    return total.reshape(weight_shape)


def _round_up(n, step):
    return -(-n // step) * step


def weight_grad(x, gy, geo, groups, weight_shape, *, mode="constant", cval=0.0, block=None, compiled=None):
    """dL/dw (O, C/groups, kh, kw) in float64 for x (N, C, H, W) and gy
    (N, O, Ho, Wo) of the compute dtype (see the module docstring);
    ``block`` positions per float32 partial sum (None: sized for the cache);
    ``compiled``: the compiled kernel (None: when this build has it) or the
    per-tap BLAS GEMMs."""
    if compiled is None:
        compiled = kernel_available()
    if compiled:
        return _by_kernel(x, gy, geo, groups, weight_shape, mode, cval, block)
    n = x.shape[0]
    o, cg, kh, kw = weight_shape
    og = o // groups
    (sh, sw), (dh, dw), (ho, wo) = geo.stride, geo.dilation, geo.out_shape
    hq, wq = _grid(geo)
    used = {((a * dh) % sh, (b * dw) % sw) for a in range(kh) for b in range(kw)}
    phases = _phases(x, geo, mode, cval, (hq, wq), used)
    grid = np.zeros((o, n, hq, wq), dtype=gy.dtype)
    grid[:, :, :ho, :wo] = gy.transpose(1, 0, 2, 3)
    plane = n * hq * wq  # elements per channel of the grid
    length = plane - (hq - ho) * wq - (wq - wo)  # up to the last output position
    it = gy.itemsize
    gflat = grid.reshape(-1)
    if block is None:  # a block of grad_out and input rows stays in L2 while every tap reads it
        block = min(_MAX_BLOCK, max(_MIN_BLOCK, _CACHED_BYTES // ((o + groups * cg) * it)))
    starts = list(range(0, length, block))
    offsets = [(a * kw + b, ((a * dh) % sh, (b * dw) % sw), (a * dh) // sh * wq + (b * dw) // sw)
               for a in range(kh) for b in range(kw)]
    # Tasks: runs of blocks, and where blocks are too few to keep every
    # thread busy (a 14x14 layer is one block), subsets of the taps too.
    threads = 1 if length * o * cg * kh * kw < SERIAL_MACS else get_threads()  # (waking a team costs more)
    want = _TASKS_PER_THREAD * threads
    parts = min(len(starts), want)
    tap_parts = min(len(offsets), -(-want // parts))
    tasks = [(starts[len(starts) * k // parts : len(starts) * (k + 1) // parts],
              offsets[len(offsets) * t // tap_parts : len(offsets) * (t + 1) // tap_parts])
             for k in range(parts) for t in range(tap_parts)]

    def run(task):
        with np.errstate(invalid="ignore", over="ignore"):  # (per thread) 0 * inf at a zero grid point: redone
            return run_blocks(*task)

    def run_blocks(block_starts, taps):
        acc = np.zeros((len(taps), groups, og, cg))
        for s0 in block_starts:
            q = min(block, length - s0)
            gv = as_strided(gflat[s0:], shape=(groups, og, q), strides=(og * plane * it, plane * it, it),
                            writeable=False)
            for k, (_, (ra, rb), offset) in enumerate(taps):
                xflat = phases[ra, rb].reshape(-1)[offset + s0 :]
                xv = as_strided(xflat, shape=(groups, q, cg), strides=(cg * plane * it, it, plane * it),
                                writeable=False)
                acc[k] += np.matmul(gv, xv)  # a float32 partial sum, added in float64
        return [tap for tap, _, _ in taps], acc

    total = np.zeros((kh * kw, groups, og, cg))
    for taps, acc in _blas.map_serial_blas(run, tasks, threads):
        total[taps] += acc
    total = total.reshape(kh, kw, groups, og, cg)
    return total.transpose(2, 3, 4, 0, 1).reshape(weight_shape)
