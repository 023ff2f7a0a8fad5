# cython: language_level=3
"""Typed layer of the direct backend: check one call's shapes, fill the
C problem description, and run its tasks (image x group x row band x
channel block) over OpenMP threads with the kernels of _direct_kernels.h
(instantiated from direct.template.c).

The interface (shapes, guarantees) is documented in fastconv/backends/__init__.py;
the packed weight layout in fastconv/backends/direct_.py. This module
imports nothing from fastconv: the thread count and the serial threshold
arrive as arguments.
"""
import numpy as np
from cython cimport floating, view
from cython.parallel cimport prange, threadid
from libc.stdlib cimport free, malloc

cdef extern from "_direct_kernels.h" nogil:
    int FASTCONV_OPENMP
    ctypedef struct fc_direct_problem:
        void *out
        const void *x
        const void *w
        Py_ssize_t out_ns, out_cs, out_rs, x_ns, x_cs, x_rs
        Py_ssize_t groups, og, cg, kh, kw, ho, wo, sh, sw, dh, dw
        Py_ssize_t ob, blocks, band, bands, chunk
        int border
        Py_ssize_t top, left, in_h, in_w, band_in, wp
    ctypedef void (*fc_direct_rows_float_fn)(const fc_direct_problem *, float *, const float *, const float *,
                                             Py_ssize_t, Py_ssize_t)
    ctypedef void (*fc_direct_rows_double_fn)(const fc_direct_problem *, double *, const double *, const double *,
                                              Py_ssize_t, Py_ssize_t)
    const char *fc_direct_init(int cap)
    Py_ssize_t fc_direct_block()
    Py_ssize_t fc_direct_lanes(int dbl, int i)
    int fc_omp_max_threads()
    int fc_forked_child
    void fc_mark_team()
    void fc_register_fork_handler()
    fc_direct_rows_float_fn fc_direct_pick_float(Py_ssize_t wo, Py_ssize_t sw)
    fc_direct_rows_double_fn fc_direct_pick_double(Py_ssize_t wo, Py_ssize_t sw)
    void fc_direct_task_float(const fc_direct_problem *p, Py_ssize_t task, fc_direct_rows_float_fn rows,
                              float *scratch)
    void fc_direct_task_double(const fc_direct_problem *p, Py_ssize_t task, fc_direct_rows_double_fn rows,
                               double *scratch)

cdef extern from "_wgrad_kernels.h" nogil:
    ctypedef struct fc_wgrad_problem:
        const void *g
        const void *x
        Py_ssize_t gs, xs, xps, groups, ogp, cgp, ntaps
        const Py_ssize_t *tap_phase
        const Py_ssize_t *tap_off
        Py_ssize_t length, block, ctile, nimg, g_is, x_is
    enum: FC_WGRAD_ROWS
    ctypedef void (*fc_wgrad_float_fn)(const fc_wgrad_problem *, Py_ssize_t, double *)
    ctypedef void (*fc_wgrad_double_fn)(const fc_wgrad_problem *, Py_ssize_t, double *)
    fc_wgrad_float_fn fc_wgrad_float
    fc_wgrad_double_fn fc_wgrad_double
    ctypedef struct fc_dwgrad_problem:
        const void *x
        const void *g
        Py_ssize_t n, c, h, w, top, left, hp, wp, o, ho, wo, og, cg, kh, kw, sh, sw, dh, dw, hq, wq, plane, length
    ctypedef void (*fc_dwgrad_float_fn)(const fc_dwgrad_problem *, Py_ssize_t, float *, double *)
    ctypedef void (*fc_dwgrad_double_fn)(const fc_dwgrad_problem *, Py_ssize_t, double *, double *)
    fc_dwgrad_float_fn fc_dwgrad_float
    fc_dwgrad_double_fn fc_dwgrad_double
    const char *fc_wgrad_init(int cap)

OPENMP = bool(FASTCONV_OPENMP)
SIMD = fc_direct_init(3).decode()  # must run before any kernel call
WGRAD_SIMD = fc_wgrad_init(3).decode()  # the weight gradient's variant ("": none in this build)
fc_register_fork_handler()  # a child forked after a team ran computes serially (see _simd.h)

# Input bytes of one row band: the band is reused by every channel block of
# the image, so it should fit in a core's L2 cache.
cdef enum:
    BAND_BYTES = 256 * 1024
# Tasks per thread wanted, so a descheduled thread's share is taken over.
cdef enum:
    TASKS_PER_THREAD = 8
# Taps summed in fresh registers before they are added to the output, at
# least: fewer would spend the time on flushes. See _chunk.
cdef enum:
    PARTIAL_TAPS = 32


def _limit_simd(int cap):
    """Testing hook: use the widest kernel variant at or below ``cap``
    (3: AVX-512, 2: AVX2, 1: SSE2) that this CPU runs; returns its name.
    Not for use while other threads are computing."""
    global SIMD, WGRAD_SIMD
    SIMD = fc_direct_init(cap).decode()
    WGRAD_SIMD = fc_wgrad_init(cap).decode()
    return SIMD


def block():
    """Output channels per register block of the current variant: the
    packing width ``correlate`` takes."""
    return fc_direct_block()


def lanes(bint double):
    """The current variant's vector widths in elements of float32 (or
    float64), widest first (empty for the scalar build): a row of wo
    outputs runs on the widest it fills."""
    return [fc_direct_lanes(double, i) for i in range(3) if fc_direct_lanes(double, i)]


def max_threads():
    """OpenMP's own thread limit (1 in a serial build)."""
    return fc_omp_max_threads()


cdef Py_ssize_t _ceil_div(Py_ssize_t a, Py_ssize_t b) nogil:
    return (a + b - 1) // b


cdef Py_ssize_t _chunk(Py_ssize_t cg, Py_ssize_t kh, Py_ssize_t kw):
    """Kernel rows per partial sum, counted over the (input channel, kernel
    row) pairs. A sum of n = cg*kh*kw terms as chunks of t terms, each summed
    in registers, then the n/t partial sums in sequence, grows its rounding
    error like t + n/t: least at t = sqrt(n). 4608 taps (512 channels of
    3x3): 23 rows of 69 taps; one 9x9 kernel: 4 rows (PARTIAL_TAPS), so a
    long single-channel image filter is not one float32 running sum
    (scipy.ndimage's test_gauss03, tests/test_float32_accuracy.py)."""
    cdef Py_ssize_t rows = _ceil_div(PARTIAL_TAPS, kw)
    cdef Py_ssize_t root = <Py_ssize_t> ((cg * kh * kw) ** 0.5 / kw + 0.5)
    return max(1, rows, root)


# xp and out: last axis contiguous, the others any stride. wpk: the packed
# weights (direct_.pack), flat; w_shape: the (O, C/groups, kh, kw) they came
# from; block: the packing width (must be block()). threads: the OpenMP team
# size for a large call; serial_below: multiply-adds below which the call
# runs on the calling thread alone. pads: None (xp is the padded input), or
# (top, left): xp has a zero border of that many rows/columns before it and
# as many after it as the output's size reads; each task then pads its own
# band of rows into its thread's scratch (no copy of the whole input). Taken
# only when every task has all the output channels of its group (one
# channel block), else False is returned having done nothing (the caller
# pads; a band would be padded once per block). True: done.
def correlate(const floating[::view.strided, ::view.strided, ::view.strided, ::view.contiguous] xp,
              const floating[::1] wpk, w_shape,
              floating[::view.strided, ::view.strided, ::view.strided, ::view.contiguous] out,
              stride, dilation, Py_ssize_t groups, Py_ssize_t block, int threads, Py_ssize_t serial_below,
              pads=None):
    cdef Py_ssize_t sh = stride[0], sw = stride[1], dh = dilation[0], dw = dilation[1]
    cdef Py_ssize_t n_img = out.shape[0], n_out = out.shape[1], ho = out.shape[2], wo = out.shape[3]
    cdef Py_ssize_t o_w = w_shape[0], cg = w_shape[1], kh = w_shape[2], kw = w_shape[3]
    # Constant-time consistency checks: the kernels index raw pointers, so a
    # bad shape here would read or write out of bounds instead of raising.
    if sh < 1 or sw < 1 or dh < 1 or dw < 1:
        raise ValueError(f"stride {tuple(stride)} and dilation {tuple(dilation)} must be >= 1")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if block != fc_direct_block():
        raise ValueError(f"weights packed in blocks of {block} channels; this kernel takes {fc_direct_block()}")
    if kh < 1 or kw < 1 or cg < 1:
        raise ValueError(f"w_shape {tuple(w_shape)} must have positive channel and kernel sizes")
    if wpk.shape[0] != o_w * cg * kh * kw:
        raise ValueError(f"{wpk.shape[0]} packed weights, not the {o_w * cg * kh * kw} of w_shape {tuple(w_shape)}")
    if xp.shape[0] != n_img:
        raise ValueError(f"xp has {xp.shape[0]} images, out {n_img}")
    if o_w != n_out:
        raise ValueError(f"w has {o_w} output channels, out {n_out}")
    if groups < 1 or n_out % groups:
        raise ValueError(f"groups {groups} must be >= 1 and divide the {n_out} output channels")
    if xp.shape[1] != groups * cg:
        raise ValueError(f"xp has {xp.shape[1]} channels, not groups * w.shape[1] = {groups} * {cg}")
    cdef bint border = pads is not None
    cdef Py_ssize_t top = pads[0] if border else 0, left = pads[1] if border else 0
    if top < 0 or left < 0:
        raise ValueError(f"pads {tuple(pads)} must be >= 0")
    if not border and ho > 0 and wo > 0 and ((ho - 1) * sh + (kh - 1) * dh + 1 > xp.shape[2] or
                                             (wo - 1) * sw + (kw - 1) * dw + 1 > xp.shape[3]):
        raise ValueError(f"an output of {ho} x {wo} with a {kh} x {kw} window, stride ({sh}, {sw}) and "
                         f"dilation ({dh}, {dw}) reads past the {xp.shape[2]} x {xp.shape[3]} input")
    if border and _ceil_div(n_out // groups, block) > 1:
        return False
    if n_img == 0 or n_out == 0 or ho == 0 or wo == 0:
        return True
    cdef Py_ssize_t item = sizeof(floating)
    cdef fc_direct_problem p
    p.out = <void *> &out[0, 0, 0, 0]
    p.x = <const void *> &xp[0, 0, 0, 0]
    p.w = <const void *> &wpk[0]
    # Strides in elements: the engine passes aligned arrays, so byte strides
    # are whole multiples of the item size.
    p.out_ns, p.out_cs, p.out_rs = out.strides[0] // item, out.strides[1] // item, out.strides[2] // item
    p.x_ns, p.x_cs, p.x_rs = xp.strides[0] // item, xp.strides[1] // item, xp.strides[2] // item
    p.groups, p.og, p.cg, p.kh, p.kw, p.ho, p.wo = groups, n_out // groups, cg, kh, kw, ho, wo
    p.sh, p.sw, p.dh, p.dw = sh, sw, dh, dw
    p.border, p.top, p.left, p.in_h, p.in_w = border, top, left, xp.shape[2], xp.shape[3]
    p.ob = block
    p.chunk = _chunk(cg, kh, kw)
    p.blocks = _ceil_div(p.og, block)
    # Waking a thread team costs microseconds, and far more when another
    # process holds the other cores: small problems run on the calling thread.
    # So does every call in a child forked after a team ran (see _simd.h).
    if n_img * n_out * ho * wo * cg * kh * kw < serial_below or fc_forked_child or not FASTCONV_OPENMP:
        threads = 1
    # Row bands: enough tasks for every thread (a single image too), and a
    # band's input rows small enough to stay in L2 while each channel block
    # of the image reads them. Single-channel blocks take rows ``block`` at
    # a time, so their bands are multiples of ``block`` rows.
    cdef Py_ssize_t per_image = groups * p.blocks
    cdef Py_ssize_t bands = _ceil_div(TASKS_PER_THREAD * threads, n_img * per_image) if threads > 1 else 1
    if p.blocks > 1:
        bands = max(bands, _ceil_div(cg * xp.shape[2] * xp.shape[3] * item, BAND_BYTES))
    cdef Py_ssize_t band = _ceil_div(ho, min(bands, ho))
    if p.og == 1:
        band = _ceil_div(band, block) * block
    p.band = band
    p.bands = _ceil_div(ho, band)
    cdef Py_ssize_t tasks = n_img * per_image * p.bands, task
    threads = min(threads, tasks)  # (no more scratch than threads with work)
    cdef fc_direct_rows_float_fn rows_f
    cdef fc_direct_rows_double_fn rows_d
    # A zero border: one band's padded rows per thread (the thread ids of a
    # team run from 0 to threads - 1).
    p.band_in = (band - 1) * sh + (kh - 1) * dh + 1
    p.wp = (wo - 1) * sw + (kw - 1) * dw + 1
    cdef Py_ssize_t per_thread = cg * p.band_in * p.wp if border else 0
    cdef floating *scratch = NULL
    if border:
        scratch = <floating *> malloc(threads * per_thread * item)
        if scratch == NULL:
            raise MemoryError()
    try:
        with nogil:
            if floating is float:
                rows_f = fc_direct_pick_float(wo, sw)
                if threads == 1:  # never enters OpenMP (a forked child must not)
                    for task in range(tasks):
                        fc_direct_task_float(&p, task, rows_f, scratch)
                else:
                    fc_mark_team()
                    for task in prange(tasks, num_threads=threads, schedule="dynamic", chunksize=1):
                        fc_direct_task_float(&p, task, rows_f, scratch + threadid() * per_thread)
            else:
                rows_d = fc_direct_pick_double(wo, sw)
                if threads == 1:
                    for task in range(tasks):
                        fc_direct_task_double(&p, task, rows_d, scratch)
                else:
                    fc_mark_team()
                    for task in prange(tasks, num_threads=threads, schedule="dynamic", chunksize=1):
                        fc_direct_task_double(&p, task, rows_d, scratch + threadid() * per_thread)
    finally:
        free(scratch)
    return True


# Positions per weight-gradient block must be a multiple of this (the
# widest vector's float32 lanes), and so must the rows' lengths.
WGRAD_ALIGN = 16


def weight_grad(const floating[:, :, ::1] g, const floating[:, :, :, ::1] x, Py_ssize_t groups, Py_ssize_t ogp,
                Py_ssize_t cgp, tap_phase, tap_off, Py_ssize_t length, Py_ssize_t block, Py_ssize_t ctile,
                int threads, Py_ssize_t serial_below):
    """The dense weight gradient's sums (wgrad.template.c): a float64 array
    (taps, groups * ogp, cgp), entry [t, o, c] = the sum over images i of
    the dot product of grad_out row o, g[i, o, :length], with input row c
    of tap t's stride phase from offset tap_off[t] on,
    x[i, tap_phase[t], group * cgp + c, tap_off[t]:][:length] (c counted
    inside o's group). The images: a caller with one flat grid passes one. ogp and cgp: multiples of 4; length and
    block: multiples of WGRAD_ALIGN; ctile: input channels per task, a
    multiple of 4. Threads: OpenMP over (block, group, ctile input channels,
    6 output channels) tasks, one float64 accumulator per thread."""
    cdef Py_ssize_t ntaps = len(tap_phase), t, task
    if fc_wgrad_float == NULL:
        raise RuntimeError("this build has no vector weight-gradient kernel")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if ogp % 4 or cgp % 4 or groups < 1 or g.shape[1] != groups * ogp or x.shape[2] != groups * cgp:
        raise ValueError(f"g {g.shape[1]} rows, x {x.shape[2]}: not groups {groups} x ogp {ogp} / cgp {cgp} "
                         "(multiples of 4)")
    if g.shape[0] != x.shape[0]:
        raise ValueError(f"g has {g.shape[0]} images, x {x.shape[0]}")
    if length < 0 or length % WGRAD_ALIGN or block < WGRAD_ALIGN or block % WGRAD_ALIGN or length > g.shape[2]:
        raise ValueError(f"length {length} and block {block} must be multiples of {WGRAD_ALIGN}, "
                         f"length at most g's {g.shape[2]} columns")
    if ctile < 4 or ctile % 4:
        raise ValueError(f"ctile {ctile} must be a positive multiple of 4")
    if len(tap_off) != ntaps or ntaps < 1:
        raise ValueError("tap_phase and tap_off must be equally long and not empty")
    phases = np.ascontiguousarray(tap_phase, dtype=np.intp)
    offsets = np.ascontiguousarray(tap_off, dtype=np.intp)
    cdef const Py_ssize_t[::1] ph = phases
    cdef const Py_ssize_t[::1] off = offsets
    for t in range(ntaps):
        if not 0 <= ph[t] < x.shape[1] or off[t] < 0 or off[t] + length > x.shape[3]:
            raise ValueError(f"tap {t}: phase {ph[t]} of {x.shape[1]}, rows [{off[t]}, {off[t] + length}) "
                             f"of {x.shape[3]}")
    cdef Py_ssize_t nblocks = (length + block - 1) // block
    cdef Py_ssize_t tasks = g.shape[0] * nblocks * groups * ((cgp + ctile - 1) // ctile) * \
        ((ogp + FC_WGRAD_ROWS - 1) // FC_WGRAD_ROWS)
    if (<double> length) * g.shape[0] * groups * ogp * cgp * ntaps < serial_below or fc_forked_child or not FASTCONV_OPENMP:
        threads = 1
    threads = max(1, min(threads, tasks))
    acc = np.zeros((threads, ntaps, groups * ogp, cgp))
    if tasks == 0:
        return acc[0]
    cdef double[:, :, :, ::1] a = acc
    cdef Py_ssize_t per_thread = ntaps * groups * ogp * cgp
    cdef double *base = &a[0, 0, 0, 0]
    cdef fc_wgrad_problem p
    p.g = <const void *> &g[0, 0, 0]
    p.x = <const void *> &x[0, 0, 0, 0]
    p.gs, p.xs, p.xps = g.shape[2], x.shape[3], x.shape[2] * x.shape[3]
    p.nimg, p.g_is, p.x_is = g.shape[0], g.shape[1] * g.shape[2], x.shape[1] * x.shape[2] * x.shape[3]
    p.groups, p.ogp, p.cgp, p.ntaps = groups, ogp, cgp, ntaps
    p.tap_phase, p.tap_off = &ph[0], &off[0]
    p.length, p.block, p.ctile = length, block, ctile
    with nogil:
        if threads == 1:
            for task in range(tasks):
                if floating is float:
                    fc_wgrad_float(&p, task, base)
                else:
                    fc_wgrad_double(&p, task, base)
        else:
            fc_mark_team()
            for task in prange(tasks, num_threads=threads, schedule="dynamic", chunksize=1):
                if floating is float:
                    fc_wgrad_float(&p, task, base + threadid() * per_thread)
                else:
                    fc_wgrad_double(&p, task, base + threadid() * per_thread)
    return acc.sum(axis=0) if threads > 1 else acc[0]


def depthwise_weight_grad(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] gy,
                          double[:, :, :, ::1] out, Py_ssize_t groups, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh,
                          Py_ssize_t dw, Py_ssize_t top, Py_ssize_t left, int threads, Py_ssize_t serial_below):
    """out (O, C/G, kh, kw) float64 = dL/dw for the input x (N, C, H, W)
    inside a zero border of ``top`` rows and ``left`` columns (and as many
    after it as the geometry reads: read as zeros, never copied) and
    grad_out gy (N, O, Ho, Wo), of a layer with few channels per group
    (wgrad.template.c, fc_dwgrad_pair_): one task per (output channel, input
    channel) pair, OpenMP over pairs, one scratch per thread. A non-finite
    input may make a sum NaN where the exact one is finite (see the
    kernel); the caller checks."""
    cdef Py_ssize_t n = gy.shape[0], o = gy.shape[1], ho = gy.shape[2], wo = gy.shape[3]
    cdef Py_ssize_t cg = out.shape[1], kh = out.shape[2], kw = out.shape[3], pair
    if fc_dwgrad_float == NULL:
        raise RuntimeError("this build has no vector weight-gradient kernel")
    if threads < 1 or groups < 1 or min(sh, sw, dh, dw) < 1 or kh < 1 or kw < 1 or top < 0 or left < 0:
        raise ValueError(f"threads {threads}, groups {groups}, stride ({sh}, {sw}), dilation ({dh}, {dw}) and "
                         f"the kernel {kh} x {kw} must all be >= 1, the border ({top}, {left}) >= 0")
    if o % groups or out.shape[0] != o or x.shape[0] != n or x.shape[1] != groups * cg:
        raise ValueError(f"x {tuple(x.shape)[:4]}, gy {tuple(gy.shape)[:4]} and out {tuple(out.shape)[:4]} do "
                         f"not match {groups} groups")
    if ho < 1 or wo < 1 or n < 1 or x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"empty x {tuple(x.shape)[:4]} or gy {tuple(gy.shape)[:4]}")
    cdef fc_dwgrad_problem p
    p.x, p.g = <const void *> &x[0, 0, 0, 0], <const void *> &gy[0, 0, 0, 0]
    p.n, p.c, p.h, p.w, p.top, p.left, p.o, p.ho, p.wo = n, x.shape[1], x.shape[2], x.shape[3], top, left, o, ho, wo
    p.hp, p.wp = (ho - 1) * sh + (kh - 1) * dh + 1, (wo - 1) * sw + (kw - 1) * dw + 1  # the rows/columns read
    p.og, p.cg, p.kh, p.kw, p.sh, p.sw, p.dh, p.dw = o // groups, cg, kh, kw, sh, sw, dh, dw
    p.hq, p.wq = (p.hp + sh - 1) // sh, (p.wp + sw - 1) // sw
    p.length = (ho * p.wq + WGRAD_ALIGN - 1) // WGRAD_ALIGN * WGRAD_ALIGN
    # a whole phase, and every tap's reads (positions [0, length) from its offset on), inside a plane
    p.plane = max(p.hq * p.wq, p.length + ((kh - 1) * dh // sh) * p.wq + (kw - 1) * dw // sw)
    cdef Py_ssize_t pairs = o * cg, per_thread = sh * sw * p.plane + p.length
    if (<double> n) * ho * wo * pairs * kh * kw < serial_below or fc_forked_child or not FASTCONV_OPENMP:
        threads = 1
    threads = max(1, min(threads, pairs))
    scratch = np.empty(threads * per_thread, dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] sc = scratch
    cdef floating *base = &sc[0]
    cdef double *res = &out[0, 0, 0, 0]
    with nogil:
        if threads == 1:
            for pair in range(pairs):
                if floating is float:
                    fc_dwgrad_float(&p, pair, base, res + pair * kh * kw)
                else:
                    fc_dwgrad_double(&p, pair, base, res + pair * kh * kw)
        else:
            fc_mark_team()
            for pair in prange(pairs, num_threads=threads, schedule="dynamic", chunksize=1):
                if floating is float:
                    fc_dwgrad_float(&p, pair, base + threadid() * per_thread, res + pair * kh * kw)
                else:
                    fc_dwgrad_double(&p, pair, base + threadid() * per_thread, res + pair * kh * kw)
