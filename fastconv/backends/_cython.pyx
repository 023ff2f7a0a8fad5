# cython: language_level=3
"""Typed layer of the cython backend: split output rows over OpenMP threads
and hand each row to the C kernel in _corr_kernels.h (instantiated from
row.template.c).

The interface (shapes, guarantees) is documented in fastconv/backends/__init__.py.
This module imports nothing from fastconv: the thread count and the serial
threshold arrive as arguments (fastconv/backends/cython_.py passes them).

Reliability, all in constant time per call or per chunk of rows:
* shapes, strides and alignment are checked before any pointer is formed,
  so no Python caller can make the kernels read or write out of bounds;
* the rows run in chunks of about ``CHUNK_MACS`` multiply-adds, and between
  chunks the GIL is taken to check for a pending signal, so Ctrl-C stops a
  long call within a few milliseconds of work instead of at its end;
* the thread count is capped by OpenMP's thread limit, and in a child
  forked after an OpenMP team ran, the call runs serially (libgomp's pool
  does not survive fork(); entering it there would hang).
"""
import numpy as np

cimport numpy as cnp
from cpython.exc cimport PyErr_CheckSignals
from cython cimport floating, view
from cython.parallel cimport parallel, prange
from libc.stdint cimport uintptr_t
from libc.math cimport isfinite
from libc.stdlib cimport calloc, free, malloc

cdef extern from "_corr_kernels.h" nogil:
    int FASTCONV_OPENMP
    const char *fc_init(int cap)
    int fc_omp_max_threads()
    int fc_omp_thread_limit()
    int fc_omp_thread_num()
    int fc_forked_child
    void fc_mark_team()
    Py_ssize_t fc_partial_block(Py_ssize_t kw, Py_ssize_t ntaps, int single)
    void fc_tap_offsets(Py_ssize_t *off, Py_ssize_t cin, Py_ssize_t kh, Py_ssize_t kw,
                        Py_ssize_t x_cs, Py_ssize_t x_rs, Py_ssize_t dw)
    # Function pointers set by fc_init(), called like functions.
    void fc_corr_row_float(float *out, Py_ssize_t wo, const float *x, Py_ssize_t sw,
                           const Py_ssize_t *off, const float *w, Py_ssize_t ntaps, Py_ssize_t blk,
                           const float *bias)
    void fc_corr_row_double(double *out, Py_ssize_t wo, const double *x, Py_ssize_t sw,
                            const Py_ssize_t *off, const double *w, Py_ssize_t ntaps, Py_ssize_t blk,
                            const double *bias)
    # One call's layout and the zero-border rows (border.template.c).
    ctypedef struct fc_layout:
        Py_ssize_t xn, xc, xr, on, oc, orow
        Py_ssize_t n_out, ho, wo, cin, o_per_group, sh, sw, ntaps, blk
        bint padded
        Py_ssize_t top, left, h, w, kh, kw, dh, dw, jl, jr
        const Py_ssize_t *rmap
        const Py_ssize_t *cmap
        const Py_ssize_t *rsel
        const Py_ssize_t *roff
        Py_ssize_t bufw, bandrows
        const void *bias
    void fc_padded_row_float(float *y, const float *x, const float *w, const Py_ssize_t *off, const fc_layout *L,
                             Py_ssize_t i, const float *bias)
    void fc_padded_row_double(double *y, const double *x, const double *w, const Py_ssize_t *off,
                              const fc_layout *L, Py_ssize_t i, const double *bias)
    void fc_band_float(float *y, const float *x, const float *w, const fc_layout *L, Py_ssize_t i0, Py_ssize_t i1,
                       float *buf, const Py_ssize_t *boff, const float *bias)
    void fc_band_double(double *y, const double *x, const double *w, const fc_layout *L, Py_ssize_t i0,
                        Py_ssize_t i1, double *buf, const Py_ssize_t *boff, const double *bias)

cnp.import_array()
OPENMP = bool(FASTCONV_OPENMP)
SIMD = fc_init(3).decode()  # must run before any kernel call
# Multiply-adds per chunk of rows between two checks for a pending signal:
# a few milliseconds of work with AVX-512 on two cores, well under 0.1 s
# with SSE2 on one; starting one more thread team per chunk costs ~0.1%.
CHUNK_MACS = 1 << 28
# Tap offsets a mapped border may tabulate (8 bytes each): rows near the
# edges times taps; beyond this (huge kernels on small images) the caller pads.
MAX_ROW_OFFSETS = 1 << 21
# Bytes of one thread's band buffer (see _choose_buffer): a band's padded
# rows stay in L1/L2 while its outputs read them, and two threads' buffers
# stay below glibc's 128 KiB mmap threshold (fresh pages on every call).
cdef enum: MAX_ROW_BUFFER = 1 << 15


def _limit_simd(int cap):
    """Testing hook: use the widest kernel variant at or below ``cap``
    (3: AVX-512, 2: AVX2, 1: SSE2) that this CPU runs; returns its name.
    Not for use while other threads are computing."""
    global SIMD
    SIMD = fc_init(cap).decode()
    return SIMD


def max_threads():
    """OpenMP's own thread limit (1 in a serial build)."""
    return fc_omp_max_threads()


def forked_child():
    """True in a child forked after this process ran an OpenMP team: calls
    then run serially."""
    return bool(fc_forked_child)


cdef inline void _corr_row(floating *y, Py_ssize_t n, const floating *x, Py_ssize_t sw, const Py_ssize_t *off,
                           const floating *w, Py_ssize_t ntaps, Py_ssize_t blk, const floating *b) noexcept nogil:
    if floating is float:
        fc_corr_row_float(y, n, x, sw, off, w, ntaps, blk, b)
    else:
        fc_corr_row_double(y, n, x, sw, off, w, ntaps, blk, b)


cdef inline const floating *_bias_of(const floating *x, const fc_layout *L, Py_ssize_t o) noexcept nogil:
    """Output channel o's bias in L (x only picks the dtype), or NULL."""
    if L.bias == NULL:
        return NULL
    return (<const floating *> L.bias) + o


cdef inline void _row(const floating *x, const floating *w, floating *out, const Py_ssize_t *off,
                      const fc_layout *L, Py_ssize_t task) noexcept nogil:
    """Output row ``task`` of the flattened (image, out-channel, row) index."""
    cdef Py_ssize_t i = task % L.ho
    cdef Py_ssize_t o = (task // L.ho) % L.n_out
    cdef Py_ssize_t n = task // (L.ho * L.n_out)
    cdef floating *y = out + n * L.on + o * L.oc + i * L.orow
    cdef const floating *xs = x + n * L.xn + (o // L.o_per_group) * L.cin * L.xc
    cdef const floating *b = _bias_of(x, L, o)
    if L.padded:
        if floating is float:
            fc_padded_row_float(y, xs, w + o * L.ntaps, off, L, i, b)
        else:
            fc_padded_row_double(y, xs, w + o * L.ntaps, off, L, i, b)
    else:
        _corr_row(y, L.wo, xs + i * L.sh * L.xr, L.sw, off, w + o * L.ntaps, L.ntaps, L.blk, b)


cdef inline void _band(const floating *x, const floating *w, floating *out, const Py_ssize_t *boff,
                       const fc_layout *L, Py_ssize_t task, Py_ssize_t bands, floating *buf) noexcept nogil:
    """Band ``task`` of the flattened (image, out-channel, band) index, in
    this thread's buffer ``buf`` (see _choose_buffer)."""
    cdef Py_ssize_t b = task % bands
    cdef Py_ssize_t o = (task // bands) % L.n_out
    cdef Py_ssize_t n = task // (bands * L.n_out)
    cdef floating *y = out + n * L.on + o * L.oc
    cdef const floating *xs = x + n * L.xn + (o // L.o_per_group) * L.cin * L.xc
    cdef Py_ssize_t i0 = b * L.bandrows, i1 = min(L.ho, i0 + L.bandrows)
    if floating is float:
        fc_band_float(y, xs, w + o * L.ntaps, L, i0, i1, buf, boff, _bias_of(x, L, o))
    else:
        fc_band_double(y, xs, w + o * L.ntaps, L, i0, i1, buf, boff, _bias_of(x, L, o))


cdef void _set_geometry(fc_layout *L, Py_ssize_t h, Py_ssize_t w, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh,
                        Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t top, Py_ssize_t left) noexcept:
    """The geometry fields of L, and whether it needs the zero-border rows."""
    L.sh, L.sw, L.h, L.w, L.kh, L.kw, L.dh, L.dw, L.top, L.left = sh, sw, h, w, kh, kw, dh, dw, top, left
    L.rmap = L.cmap = L.rsel = L.roff = NULL
    L.bufw = L.bandrows = 0
    L.bias = NULL
    # Taps per partial sum (see row.template.c) are set by the caller; the
    # border's extent follows from the output size (rows past the input are zeros).
    L.padded = (top > 0 or left > 0 or (L.ho - 1) * sh + (kh - 1) * dh >= h or (L.wo - 1) * sw + (kw - 1) * dw >= w)
    cdef Py_ssize_t last = w - 1 - (kw - 1) * dw + left  # the last interior column's window start, padded
    L.jl = min((left + sw - 1) // sw, L.wo)
    L.jr = max(L.jl, min(L.wo, last // sw + 1 if last >= 0 else 0))


# Testing hook: False keeps every bordered call on the border-column path,
# "always" sends every one that fits to the bands (tests check both paths
# against the oracle, and the bands' bits against a padded copy's).
ROW_BUFFER = True


cdef void _choose_buffer(fc_layout *L, Py_ssize_t planes, int threads, Py_ssize_t item):
    """Run a bordered call in bands of padded rows (L.bufw, L.bandrows; see
    fc_band) where the border columns' taps would cost more than padding the
    rows in a per-thread buffer. Measured on one core (2-core AMD EPYC, Zen
    4, depthwise 3x3 layers and 64-image stacks, 7 to 1024 columns): a border
    output costs about 40 + 12 units per tap (1 unit ~ 0.15 ns), padding a
    row about 3 units per 4 bytes plus 40 (memory traffic: it is a copy of
    the input), and a band pads min(stride, span) rows per output row (the
    rows no window reads are skipped: so a canonical problem, its 1-row
    kernel's row stride folded into a subsampled input, decides as the call
    it came from, and gives the same bits). So
    narrow rows (conv feature maps: 2x faster at 28 columns, 17% at 56) take
    the bands, wide ones (256 columns with 3x3: bands 1.6x slower) keep the
    border columns. A band's rows fit MAX_ROW_BUFFER bytes, and
    there are at least 8 bands per thread when the rows allow."""
    if not L.padded or not ROW_BUFFER:
        return
    cdef Py_ssize_t width = (L.wo - 1) * L.sw + (L.kw - 1) * L.dw + 1
    cdef Py_ssize_t span = (L.kh - 1) * L.dh + 1
    cdef Py_ssize_t edges = L.jl + L.wo - L.jr
    cdef Py_ssize_t room = MAX_ROW_BUFFER // item  # elements
    if span * width > room:
        return
    if ROW_BUFFER != "always" and (not edges or
                                   min(L.sh, span) * (3 * width * item // 4 + 40) >= edges * (40 + 12 * L.kh * L.kw)):
        return
    cdef Py_ssize_t rows = min(L.ho, (room // width - span) // L.sh + 1)
    rows = max(1, min(rows, (planes * L.ho + 8 * threads - 1) // (8 * threads)))  # (C division: no -(-a // b))
    L.bufw, L.bandrows = width, rows


cdef int _run(const floating *x0, const floating *w0, floating *y0, fc_layout *L, Py_ssize_t rows, int threads,
              Py_ssize_t serial_below) except -1:
    """Output rows [0, rows) of L, on ``threads`` threads (the calling one
    alone below ``serial_below`` multiply-adds), checking for signals
    between chunks."""
    # Waking a thread team costs microseconds, and far more when another
    # process holds the other cores: small problems run on the calling thread.
    # So does every call in a child forked after a team ran (see the header).
    if rows * L.wo * L.ntaps < serial_below or fc_forked_child or not FASTCONV_OPENMP:
        threads = 1
    threads = min(threads, max(1, fc_omp_thread_limit()))
    _choose_buffer(L, rows // max(1, L.ho), threads, sizeof(floating))
    if L.bufw > 0:
        return _run_bands(x0, w0, y0, L, rows // L.ho, threads)
    cdef Py_ssize_t per_chunk = max(1, CHUNK_MACS // max(1, L.wo * L.ntaps))
    # Dynamic sub-chunks of consecutive rows: neighbouring rows share input
    # rows in cache, and a thread descheduled on a busy machine leaves its
    # share of the rows to the others instead of a fixed half.
    cdef Py_ssize_t sub = max(1, min(rows, per_chunk) // (8 * threads))
    cdef Py_ssize_t start = 0, stop, task
    cdef Py_ssize_t small[64]
    cdef Py_ssize_t *off = &small[0]
    if L.ntaps > 64:
        off = <Py_ssize_t *> malloc(L.ntaps * sizeof(Py_ssize_t))
    if off == NULL:
        raise MemoryError()
    try:
        fc_tap_offsets(off, L.cin, L.kh, L.kw, L.xc, L.xr * L.dh, L.dw)
        while start < rows:
            stop = min(rows, start + per_chunk)
            with nogil:
                if threads == 1:
                    for task in range(start, stop):
                        _row(x0, w0, y0, off, L, task)
                else:
                    fc_mark_team()
                    for task in prange(start, stop, num_threads=threads, schedule="dynamic", chunksize=sub):
                        _row(x0, w0, y0, off, L, task)
            start = stop
            if start < rows:
                PyErr_CheckSignals()  # raises KeyboardInterrupt etc.
    finally:
        if off != &small[0]:
            free(off)
    return 0


cdef int _run_bands(const floating *x0, const floating *w0, floating *y0, fc_layout *L, Py_ssize_t planes,
                    int threads) except -1:
    """_run's loop for a call in bands (L.bufw > 0): one task per band of
    L.bandrows output rows of one plane, in its thread's zeroed buffer."""
    cdef Py_ssize_t bands = (L.ho + L.bandrows - 1) // L.bandrows, tasks = planes * bands
    cdef Py_ssize_t per_chunk = max(1, CHUNK_MACS // max(1, L.bandrows * L.wo * L.ntaps))
    cdef Py_ssize_t start = 0, stop, task
    cdef Py_ssize_t size = ((L.bandrows - 1) * L.sh + (L.kh - 1) * L.dh + 1) * L.bufw  # elements per thread
    cdef Py_ssize_t *boff = <Py_ssize_t *> malloc(L.ntaps * sizeof(Py_ssize_t))
    cdef floating *bufs = <floating *> calloc(threads * size, sizeof(floating))
    cdef floating *buf = NULL
    try:
        if boff == NULL or bufs == NULL:
            raise MemoryError()
        fc_tap_offsets(boff, 1, L.kh, L.kw, 0, L.bufw * L.dh, L.dw)  # one input channel (bordered calls)
        while start < tasks:
            stop = min(tasks, start + per_chunk)
            with nogil:
                if threads == 1:
                    for task in range(start, stop):
                        _band(x0, w0, y0, boff, L, task, bands, bufs)
                else:
                    fc_mark_team()
                    with parallel(num_threads=threads):
                        buf = bufs + fc_omp_thread_num() * size
                        for task in prange(start, stop, schedule="dynamic", chunksize=1):
                            _band(x0, w0, y0, boff, L, task, bands, buf)
            start = stop
            if start < tasks:
                PyErr_CheckSignals()
    finally:
        free(boff)
        free(bufs)
    return 0


cdef bint _all_finite(const floating *w, Py_ssize_t n) noexcept:
    cdef Py_ssize_t p
    for p in range(n):
        if not isfinite(w[p]):
            return False
    return True


# x and out: last axis contiguous, the others any stride (plain
# ``[:, :, :, ::1]`` would demand full C contiguity and reject views).
# w: C-contiguous, so the taps of one output channel are w[o] read flat.
# threads: the OpenMP team size for a large call; serial_below: multiply-adds
# (rows * wo * taps) below which the call runs on the calling thread alone.
# pads: None (x is the padded input), or (top, left): x has a zero border
# of that many rows/columns before it and as many after it as the output's
# size reads; taken only with one input channel per group and a finite w
# (0 * inf in the border is NaN), else the call returns False having done
# nothing (the caller pads). True: done.
# rmap, cmap (with pads): a mapped border instead of a zero one: the source
# row (column) of x for each padded row (column) the output reads, from 0
# (see fastconv._padding.source_index); any w. One input channel per group,
# else False.
# bias: None, or one value per output channel, added to each of its outputs
# as the kernel stores it (the same bits as adding it to the result after).
def correlate(const floating[::view.strided, ::view.strided, ::view.strided, ::view.contiguous] xp,
              const floating[:, :, :, ::1] w,
              floating[::view.strided, ::view.strided, ::view.strided, ::view.contiguous] out,
              stride, dilation, Py_ssize_t groups, int threads, Py_ssize_t serial_below, pads=None,
              const Py_ssize_t[::1] rmap=None, const Py_ssize_t[::1] cmap=None, const floating[::1] bias=None):
    cdef Py_ssize_t sh = stride[0], sw = stride[1], dh = dilation[0], dw = dilation[1]
    cdef bint border = pads is not None
    cdef Py_ssize_t top = pads[0] if border else 0, left = pads[1] if border else 0
    cdef Py_ssize_t n_img = out.shape[0], n_out = out.shape[1], ho = out.shape[2], wo = out.shape[3]
    cdef Py_ssize_t cin = w.shape[1], kh = w.shape[2], kw = w.shape[3], ntaps = cin * kh * kw
    # Constant-time consistency checks: the kernel indexes raw pointers, so a
    # bad shape here would read or write out of bounds instead of raising.
    if sh < 1 or sw < 1 or dh < 1 or dw < 1:
        raise ValueError(f"stride {tuple(stride)} and dilation {tuple(dilation)} must be >= 1")
    if top < 0 or left < 0:
        raise ValueError(f"pads {tuple(pads)} must be >= 0")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if xp.shape[0] != n_img:
        raise ValueError(f"xp has {xp.shape[0]} images, out {n_img}")
    if w.shape[0] != n_out:
        raise ValueError(f"w has {w.shape[0]} output channels, out {n_out}")
    if groups < 1 or n_out % groups:
        raise ValueError(f"groups {groups} must be >= 1 and divide the {n_out} output channels")
    if bias is not None and bias.shape[0] != n_out:
        raise ValueError(f"bias has {bias.shape[0]} values, out {n_out} channels")
    if xp.shape[1] != groups * cin:
        raise ValueError(f"xp has {xp.shape[1]} channels, not groups * w.shape[1] = {groups} * {cin}")
    # (written so that no product can overflow: each factor is <= the input's length)
    if not border and ho > 0 and wo > 0 and (
            kh - 1 > (xp.shape[2] - 1) // dh or kw - 1 > (xp.shape[3] - 1) // dw or
            ho - 1 > (xp.shape[2] - 1 - (kh - 1) * dh) // sh or wo - 1 > (xp.shape[3] - 1 - (kw - 1) * dw) // sw):
        raise ValueError(f"an output of {ho} x {wo} with a {kh} x {kw} window, stride ({sh}, {sw}) and "
                         f"dilation ({dh}, {dw}) reads past the {xp.shape[2]} x {xp.shape[3]} input")
    cdef Py_ssize_t item = sizeof(floating)
    cdef Py_ssize_t rows = n_img * n_out * ho
    if rows == 0 or wo == 0:
        return True
    cdef const floating *x0 = &xp[0, 0, 0, 0]
    cdef const floating *w0 = &w[0, 0, 0, 0]
    cdef floating *y0 = &out[0, 0, 0, 0]
    cdef bint mapped = rmap is not None
    if mapped and (not border or cmap is None):
        raise ValueError("rmap and cmap go together, with pads")
    if border and (cin != 1 or not (mapped or _all_finite(w0, n_out * ntaps))):
        return False  # (many channels per group: their taps are not one run per kernel row)
    # Whole element strides and aligned data: the kernels index with element
    # offsets and load whole elements.
    cdef int k
    for k in range(3):
        if xp.strides[k] % item or out.strides[k] % item:
            raise ValueError(f"xp and out need strides that are multiples of their {item}-byte elements")
    if (<uintptr_t> x0) % item or (<uintptr_t> w0) % item or (<uintptr_t> y0) % item:
        raise ValueError(f"xp, w and out must be aligned to their {item}-byte elements")
    cdef fc_layout L
    L.xn, L.xc, L.xr = xp.strides[0] // item, xp.strides[1] // item, xp.strides[2] // item
    L.on, L.oc, L.orow = out.strides[0] // item, out.strides[1] // item, out.strides[2] // item
    L.n_out, L.ho, L.wo, L.cin, L.o_per_group = n_out, ho, wo, cin, n_out // groups
    L.ntaps, L.blk = ntaps, fc_partial_block(kw, ntaps, floating is float)
    _set_geometry(&L, xp.shape[2], xp.shape[3], kh, kw, sh, sw, dh, dw, top, left)
    if bias is not None:
        L.bias = &bias[0]
    if not mapped:
        _run(x0, w0, y0, &L, rows, threads, serial_below)
        return True
    _check_map(rmap, (ho - 1) * sh + (kh - 1) * dh + 1, xp.shape[2], "rmap")
    _check_map(cmap, (wo - 1) * sw + (kw - 1) * dw + 1, xp.shape[3], "cmap")
    L.padded, L.rmap, L.cmap = True, &rmap[0], &cmap[0]
    offsets = _row_offsets(rmap, ho, sh, kh, kw, dh, dw, L.xr)
    if offsets is None:
        return False
    cdef const Py_ssize_t[::1] rs = offsets[0], ro = offsets[1]
    L.rsel, L.roff = &rs[0], &ro[0]
    _run(x0, w0, y0, &L, rows, threads, serial_below)
    return True


cdef _check_map(const Py_ssize_t[::1] m, Py_ssize_t need, Py_ssize_t n, str name):
    """A border map must cover every padded position read and point into the input."""
    if m.shape[0] < need:
        raise ValueError(f"{name} has {m.shape[0]} entries, the output reads {need} padded positions")
    cdef Py_ssize_t p
    for p in range(need):
        if m[p] < 0 or m[p] >= n:
            raise ValueError(f"{name}[{p}] = {m[p]} is not an index of the input's {n} positions")


cdef tuple _row_offsets(const Py_ssize_t[::1] rmap, Py_ssize_t ho, Py_ssize_t sh, Py_ssize_t kh, Py_ssize_t kw,
                        Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t xr):
    """(rsel, roff) of a mapped border (see _corr_kernels.h): the output rows
    whose kernel rows are not consecutive input rows (near the top and the
    bottom, a few) get their own tap offsets. None if those would take more
    than MAX_ROW_OFFSETS entries (a huge kernel over a small image)."""
    rsel = np.full(max(ho, 1), -1, dtype=np.intp)
    cdef Py_ssize_t[::1] sel = rsel
    cdef Py_ssize_t i, a, b, p0, n = 0
    for i in range(ho):
        p0 = i * sh
        for a in range(kh):
            if rmap[p0 + a * dh] != rmap[p0] + a * dh:
                sel[i] = n
                n += 1
                break
    if n * kh * kw > MAX_ROW_OFFSETS:
        return None
    roff = np.empty(max(n * kh * kw, 1), dtype=np.intp)
    cdef Py_ssize_t[::1] off = roff
    for i in range(ho):
        if sel[i] >= 0:
            p0 = i * sh
            for a in range(kh):
                for b in range(kw):
                    off[(sel[i] * kh + a) * kw + b] = (rmap[p0 + a * dh] - rmap[p0]) * xr + b * dw
    return rsel, roff


cdef object _plane(const floating *x, cnp.ndarray X, cnp.ndarray K, tuple g, int threads, Py_ssize_t serial_below):
    cdef Py_ssize_t item = sizeof(floating)
    cdef cnp.npy_intp *xs = cnp.PyArray_STRIDES(X)
    cdef cnp.npy_intp *ks = cnp.PyArray_STRIDES(K)
    if xs[1] != item or xs[0] % item or ks[0] % item or ks[1] % item:
        return None
    cdef Py_ssize_t top, left, sh, sw, dh, dw
    cdef cnp.npy_intp dims[2]
    top, left, dims[0], dims[1], sh, sw, dh, dw = g
    if top < 0 or left < 0 or dims[0] < 0 or dims[1] < 0 or sh < 1 or sw < 1 or dh < 1 or dw < 1:
        raise ValueError(f"bad geometry {g}")
    cdef Py_ssize_t kh = cnp.PyArray_DIM(K, 0), kw = cnp.PyArray_DIM(K, 1), ntaps = kh * kw, a, b
    cdef Py_ssize_t kr = ks[0] // item, kc = ks[1] // item
    cdef const floating *k0 = <const floating *> cnp.PyArray_DATA(K)
    cdef floating small[64]
    cdef floating *wt = &small[0]
    if ntaps > 64:
        wt = <floating *> malloc(ntaps * sizeof(floating))
    if wt == NULL:
        raise MemoryError()
    cdef fc_layout L
    cdef cnp.ndarray out
    try:
        for a in range(kh):  # the taps flat, whatever K's strides
            for b in range(kw):
                wt[a * kw + b] = k0[a * kr + b * kc]
        L.xn, L.xc, L.xr, L.on, L.oc, L.orow = 0, 0, xs[0] // item, 0, 0, dims[1]
        L.n_out, L.ho, L.wo, L.cin, L.o_per_group = 1, dims[0], dims[1], 1, 1
        L.ntaps, L.blk = ntaps, fc_partial_block(kw, ntaps, floating is float)
        _set_geometry(&L, cnp.PyArray_DIM(X, 0), cnp.PyArray_DIM(X, 1), kh, kw, sh, sw, dh, dw, top, left)
        if L.padded and not _all_finite(wt, ntaps):
            return None
        out = cnp.PyArray_EMPTY(2, dims, cnp.PyArray_TYPE(X), 0)
        if dims[0] > 0 and dims[1] > 0:
            _run(x, wt, <floating *> cnp.PyArray_DATA(out), &L, dims[0], threads, serial_below)
        return out
    finally:
        if wt != &small[0]:
            free(wt)


def plane(cnp.ndarray X, cnp.ndarray K, tuple g, int threads, Py_ssize_t serial_below):
    """One image plane in one call, over a zero border without a padded copy:
    ``X`` (H, W) and ``K`` (kh, kw), both float32 or both float64, into a new
    (ho, wo) array; ``g`` = (top, left, ho, wo, sh, sw, dh, dw): the zero
    rows/columns before X (those after it follow from ho, wo), the output's
    size, stride and dilation. Returns None, computing nothing, for arrays
    it does not take: other dtypes or ndim, byte-swapped or unaligned data,
    X's rows not contiguous, or a border with a non-finite K (0 * inf there
    is NaN); the caller then runs its general path. Memory-safe for any g:
    kernel rows and columns outside X take no part, outputs with none are 0."""
    cdef int t = cnp.PyArray_TYPE(X)
    if cnp.PyArray_NDIM(X) != 2 or cnp.PyArray_NDIM(K) != 2 or cnp.PyArray_TYPE(K) != t:
        return None
    if not (cnp.PyArray_ISNOTSWAPPED(X) and cnp.PyArray_ISNOTSWAPPED(K) and cnp.PyArray_ISALIGNED(X)
            and cnp.PyArray_ISALIGNED(K)):
        return None
    if t == cnp.NPY_FLOAT:
        return _plane(<const float *> cnp.PyArray_DATA(X), X, K, g, threads, serial_below)
    if t == cnp.NPY_DOUBLE:
        return _plane(<const double *> cnp.PyArray_DATA(X), X, K, g, threads, serial_below)
    return None
