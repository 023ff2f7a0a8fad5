# cython: language_level=3
"""Integer image in, integer image out, without a float copy of either:
the compiled core of fastconv.backends.banded (which passes it the index
tables, the thread count and the serial threshold; this module imports
nothing from fastconv).

The output rows are cut into bands (several per thread). Walking down a
band, each padded input row is converted to float32 once, into a per-thread
ring of as many rows as the kernel spans (the boundary mode applied through
the row and column index tables), the cython backend's SIMD row kernel
(_corr_kernels.h, fc_corr_row_float) computes each output row from the ring
into a one-row float buffer, and that row is rounded to
nearest (ties to even) and saturated into the integer output, NaN giving 0,
exactly as fastconv._dtypes.store does. The float sums are those of the
cython backend on the padded float32 image: the same products, added in the
same order (fc_partial_block), so the results are identical.

Bands run over OpenMP threads with the GIL released; between chunks of
about CHUNK_MACS multiply-adds the GIL is taken to check for a pending
signal (Ctrl-C), and a child forked after a team ran computes serially, as
in _cython.pyx.
"""
from cpython.exc cimport PyErr_CheckSignals
from cython.parallel cimport parallel, prange
from libc.stdint cimport int8_t, int16_t, uint8_t, uint16_t
from libc.stdlib cimport free, malloc

cdef extern from "_banded_kernels.h" nogil:
    int FASTCONV_OPENMP
    const char *fc_init(int cap)
    int fc_omp_thread_limit()
    int fc_forked_child
    void fc_mark_team()
    Py_ssize_t fc_partial_block(Py_ssize_t kw, Py_ssize_t ntaps, int single)
    void fc_corr_row_float(float *out, Py_ssize_t wo, const float *x, Py_ssize_t sw,
                           const Py_ssize_t *off, const float *w, Py_ssize_t ntaps, Py_ssize_t blk,
                           const float *bias)
    # banded.template.c, per integer dtype
    void fc_to_float_uint8(float *dst, const uint8_t *src, Py_ssize_t n)
    void fc_to_float_int8(float *dst, const int8_t *src, Py_ssize_t n)
    void fc_to_float_uint16(float *dst, const uint16_t *src, Py_ssize_t n)
    void fc_to_float_int16(float *dst, const int16_t *src, Py_ssize_t n)
    void fc_from_float_uint8(uint8_t *dst, const float *src, Py_ssize_t n, float lo, float hi)
    void fc_from_float_int8(int8_t *dst, const float *src, Py_ssize_t n, float lo, float hi)
    void fc_from_float_uint16(uint16_t *dst, const float *src, Py_ssize_t n, float lo, float hi)
    void fc_from_float_int16(int16_t *dst, const float *src, Py_ssize_t n, float lo, float hi)

ctypedef fused src_t:
    uint8_t
    int8_t
    uint16_t
    int16_t

ctypedef fused dst_t:
    uint8_t
    int8_t
    uint16_t
    int16_t

OPENMP = bool(FASTCONV_OPENMP)
SIMD = fc_init(3).decode()  # the same variant as _cython's (both pick the widest the CPU runs)
CHUNK_MACS = 1 << 28  # as _cython.CHUNK_MACS
cdef float ROUNDER = 12582912.0  # 1.5 * 2**23: (v + R) - R is v rounded, ties to even, for |v| < 2**22


def _limit_simd(int cap):
    """Testing hook, as ``_cython._limit_simd``: the widest variant at or
    below ``cap`` (3: AVX-512, 2: AVX2, 1: SSE2); returns its name."""
    global SIMD
    SIMD = fc_init(cap).decode()
    return SIMD


cdef struct band_layout:
    Py_ssize_t h, w, c, left, wp           # input rows, columns, channels; padded columns (pixels)
    Py_ssize_t xs0, xs1, xs2, xs3          # input element strides (image, row, column, channel)
    Py_ssize_t ho, wo, ys0, ys1, ys2, ys3  # output rows, columns and element strides
    Py_ssize_t sh, dh, dw, kh, kw, ntaps   # row stride, dilations, kernel rows and columns, taps
    Py_ssize_t blk, span                   # taps per partial sum; padded rows one output row reads
    Py_ssize_t pitch, band, bands          # floats per ring row; output rows per band; bands per image
    Py_ssize_t flat_wo, flat_sw            # the row kernel's outputs per row and their stride
    float cval, lo, hi


cdef inline void _fill(float *dst, const src_t *x, const Py_ssize_t *cols, const band_layout *L,
                       Py_ssize_t n, Py_ssize_t s) noexcept nogil:
    """Padded row of input row ``s`` (-1: a row of cval) of image n, as float32."""
    cdef Py_ssize_t k, j, ch, c = L.c, width = L.wp * L.c
    if s < 0:
        for k in range(width):
            dst[k] = L.cval
        return
    cdef const src_t *row = x + n * L.xs0 + s * L.xs1
    cdef float *mid = dst + L.left * c
    if L.xs2 == c and L.xs3 == 1:  # a contiguous row: one vectorised loop
        if src_t is uint8_t:
            fc_to_float_uint8(mid, row, L.w * c)
        elif src_t is int8_t:
            fc_to_float_int8(mid, row, L.w * c)
        elif src_t is uint16_t:
            fc_to_float_uint16(mid, row, L.w * c)
        else:
            fc_to_float_int16(mid, row, L.w * c)
    else:
        for j in range(L.w):
            for ch in range(c):
                mid[j * c + ch] = row[j * L.xs2 + ch * L.xs3]
    for j in range(L.left):  # the border columns copy converted inner ones (or hold cval)
        _border_column(dst, mid, cols[j], j, L)
    for j in range(L.left + L.w, L.wp):
        _border_column(dst, mid, cols[j], j, L)


cdef inline void _border_column(float *dst, const float *mid, Py_ssize_t src, Py_ssize_t j,
                                const band_layout *L) noexcept nogil:
    cdef Py_ssize_t ch
    for ch in range(L.c):
        dst[j * L.c + ch] = L.cval if src < 0 else mid[src * L.c + ch]


cdef inline void _store(dst_t *y, const float *v, const band_layout *L, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    """Output row i of image n from its float row: NaN -> 0, saturated, rounded (ties to even)."""
    cdef dst_t *row = y + n * L.ys0 + i * L.ys1
    cdef Py_ssize_t k, j, ch, c = L.c
    cdef float t, lo = L.lo, hi = L.hi, r = ROUNDER  # locals: uint8 stores may alias any global
    if L.ys2 == c and L.ys3 == 1:  # a contiguous row: one vectorised loop (the same rule)
        if dst_t is uint8_t:
            fc_from_float_uint8(row, v, L.flat_wo, lo, hi)
        elif dst_t is int8_t:
            fc_from_float_int8(row, v, L.flat_wo, lo, hi)
        elif dst_t is uint16_t:
            fc_from_float_uint16(row, v, L.flat_wo, lo, hi)
        else:
            fc_from_float_int16(row, v, L.flat_wo, lo, hi)
    else:
        for j in range(L.wo):
            for ch in range(c):
                t = v[j * c + ch]
                t = t if t == t else 0.0
                t = lo if t < lo else t
                t = hi if t > hi else t
                row[j * L.ys2 + ch * L.ys3] = <dst_t> ((t + r) - r)


cdef void _band(const src_t *x, const float *w, dst_t *y, const Py_ssize_t *rows, const Py_ssize_t *cols,
                const band_layout *L, float *buf, Py_ssize_t *off, Py_ssize_t task) noexcept nogil:
    """Band ``task`` of the flattened (image, band) index. ``buf`` is a ring
    of ``L.span`` padded rows (padded row r in slot r % span) and, after it,
    one output row; each input row is converted once per band, and ``off``
    (this thread's) points the row kernel's taps into the ring."""
    cdef Py_ssize_t n = task // L.bands, i0 = (task % L.bands) * L.band
    cdef Py_ssize_t i1 = min(L.ho, i0 + L.band), i, r, a, b, first, last, start, base
    cdef Py_ssize_t converted = i0 * L.sh  # rows below this one are in the ring (or no longer needed)
    cdef float *out_row = buf + L.span * L.pitch
    for i in range(i0, i1):
        first = i * L.sh
        last = first + L.span - 1
        start = max(converted, first)  # (a row stride longer than the window skips rows nobody reads)
        for r in range(start, last + 1):  # each overwrites a row above this window
            _fill(buf + (r % L.span) * L.pitch, x, cols, L, n, rows[r])
        converted = last + 1
        for a in range(L.kh):
            base = ((first + a * L.dh) % L.span) * L.pitch
            for b in range(L.kw):
                off[a * L.kw + b] = base + b * L.dw * L.c
        fc_corr_row_float(out_row, L.flat_wo, buf, L.flat_sw, off, w, L.ntaps, L.blk, NULL)
        _store(y, out_row, L, n, i)


cdef int _run(const src_t *x, const float *w, dst_t *y, const Py_ssize_t *rows, const Py_ssize_t *cols,
              const band_layout *L, Py_ssize_t tasks, int threads) except -1:
    """Every band, on ``threads`` threads, checking for signals between chunks."""
    cdef Py_ssize_t floats = L.span * L.pitch + L.flat_wo
    cdef Py_ssize_t per_chunk = max(1, CHUNK_MACS // max(1, L.band * L.flat_wo * L.ntaps))
    cdef Py_ssize_t start = 0, stop, task
    cdef int failed = 0
    cdef int *failed_at = &failed  # written through a pointer: shared by every thread
    cdef float *buf = NULL
    cdef Py_ssize_t *off = NULL
    while start < tasks:
        stop = min(tasks, start + per_chunk)
        with nogil:
            if threads == 1:
                buf = <float *> malloc(floats * sizeof(float))
                off = <Py_ssize_t *> malloc(L.ntaps * sizeof(Py_ssize_t))
                if buf == NULL or off == NULL:
                    failed = 1
                else:
                    for task in range(start, stop):
                        _band(x, w, y, rows, cols, L, buf, off, task)
                free(buf)
                free(off)
            else:
                fc_mark_team()
                with parallel(num_threads=threads):
                    # one ring and tap table per thread, reused by its bands
                    buf = <float *> malloc(floats * sizeof(float))
                    off = <Py_ssize_t *> malloc(L.ntaps * sizeof(Py_ssize_t))
                    for task in prange(start, stop, schedule="dynamic"):
                        if buf == NULL or off == NULL:
                            failed_at[0] = 1
                        else:
                            _band(x, w, y, rows, cols, L, buf, off, task)
                    free(buf)
                    free(off)
        if failed:
            raise MemoryError()
        start = stop
        if start < tasks:
            PyErr_CheckSignals()
    return 0


cdef float _bound(dst_t *probe, bint upper) noexcept:
    if dst_t is uint8_t:
        return 255.0 if upper else 0.0
    elif dst_t is int8_t:
        return 127.0 if upper else -128.0
    elif dst_t is uint16_t:
        return 65535.0 if upper else 0.0
    else:
        return 32767.0 if upper else -32768.0


def correlate(const src_t[:, :, :, :] x, const float[:, ::1] w, dst_t[:, :, :, :] out,
              const Py_ssize_t[::1] rows, const Py_ssize_t[::1] cols, Py_ssize_t left, float cval,
              Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw, int threads, Py_ssize_t serial_below):
    """out (N, Ho, Wo, C) = the correlation of x (N, H, W, C), padded by the
    index tables, with w (kh, kw), rounded and saturated. ``rows`` (Hp,) and
    ``cols`` (Wp,) give each padded row/column's input row/column, -1 for
    cval; ``left``: padded columns before the input (cols[left + j] must be
    j). Channels are filtered independently; column stride ``sw`` > 1 only
    with one channel. Any strides (elements of the dtype)."""
    cdef Py_ssize_t n = x.shape[0], h = x.shape[1], wd = x.shape[2], c = x.shape[3]
    cdef Py_ssize_t ho = out.shape[1], wo = out.shape[2], kh = w.shape[0], kw = w.shape[1]
    cdef Py_ssize_t hp = rows.shape[0], wp = cols.shape[0], k
    # Constant-time (and table-length) consistency checks: the loops index raw pointers.
    if sh < 1 or sw < 1 or dh < 1 or dw < 1 or threads < 1:
        raise ValueError(f"stride ({sh}, {sw}), dilation ({dh}, {dw}) and threads {threads} must be >= 1")
    if out.shape[0] != n or out.shape[3] != c or (sw > 1 and c > 1):
        raise ValueError(f"out {tuple(out.shape)[:4]} must match x {tuple(x.shape)[:4]} in images and channels "
                         "(column stride > 1 only with one channel)")
    if kh < 1 or kw < 1 or left < 0 or left + wd > wp:
        raise ValueError(f"bad kernel {kh} x {kw} or left pad {left} for {wp} padded columns")
    if ho < 1 or wo < 1 or n < 1:
        return
    if (ho - 1) * sh + (kh - 1) * dh >= hp or (wo - 1) * sw + (kw - 1) * dw >= wp:
        raise ValueError(f"an output of {ho} x {wo} reads past the {hp} x {wp} padded input")
    for k in range(hp):
        if rows[k] < -1 or rows[k] >= h:
            raise ValueError(f"rows[{k}] = {rows[k]} is outside [-1, {h})")
    for k in range(wp):
        if cols[k] < -1 or cols[k] >= wd or (left <= k < left + wd and cols[k] != k - left):
            raise ValueError(f"cols[{k}] = {cols[k]} is outside [-1, {wd}) or not the identity inside")
    cdef band_layout L
    L.h, L.w, L.c, L.left, L.wp = h, wd, c, left, wp
    cdef Py_ssize_t xi = sizeof(src_t), yi = sizeof(dst_t)  # (signed: strides may be negative)
    L.xs0, L.xs1, L.xs2, L.xs3 = x.strides[0] // xi, x.strides[1] // xi, x.strides[2] // xi, x.strides[3] // xi
    L.ho, L.wo = ho, wo
    L.ys0, L.ys1, L.ys2, L.ys3 = out.strides[0] // yi, out.strides[1] // yi, out.strides[2] // yi, out.strides[3] // yi
    L.sh, L.dh, L.dw, L.kh, L.kw, L.ntaps = sh, dh, dw, kh, kw, kh * kw
    L.blk = fc_partial_block(kw, kh * kw, 1)
    L.pitch = (wp * c + 15) // 16 * 16  # whole 64-byte lines per buffer row
    L.flat_wo, L.flat_sw = wo * c, sw  # (sw > 1 only with c == 1)
    L.cval, L.lo, L.hi = cval, _bound(<dst_t *> NULL, False), _bound(<dst_t *> NULL, True)
    L.span = (kh - 1) * dh + 1
    if n * ho * wo * c * L.ntaps < serial_below or fc_forked_child or not FASTCONV_OPENMP:
        threads = 1
    threads = min(threads, max(1, fc_omp_thread_limit()))
    # Bands of output rows: several per thread (a descheduled thread leaves
    # its share to the others), each within a signal-check chunk. A band
    # converts its rows once; bands overlap by span - 1 rows.
    L.band = max(1, ho // (8 * threads)) if threads > 1 else ho
    L.band = min(L.band, max(1, CHUNK_MACS // max(1, wo * c * L.ntaps)))
    L.bands = (ho + L.band - 1) // L.band
    _run(&x[0, 0, 0, 0], &w[0, 0], &out[0, 0, 0, 0], &rows[0], &cols[0], &L, n * L.bands, threads)


def store(const float[::1] src, dst_t[::1] dst):
    """dst = src rounded to nearest (ties to even) and saturated, NaN giving
    0 (fastconv._dtypes.store's rule), in one pass with the GIL released:
    the integer result of a call computed on the float path."""
    cdef Py_ssize_t n = src.shape[0]
    if dst.shape[0] != n:
        raise ValueError(f"src has {n} elements, dst {dst.shape[0]}")
    if n == 0:
        return
    cdef float lo = _bound(<dst_t *> NULL, False), hi = _bound(<dst_t *> NULL, True)
    with nogil:
        if dst_t is uint8_t:
            fc_from_float_uint8(&dst[0], &src[0], n, lo, hi)
        elif dst_t is int8_t:
            fc_from_float_int8(&dst[0], &src[0], n, lo, hi)
        elif dst_t is uint16_t:
            fc_from_float_uint16(&dst[0], &src[0], n, lo, hi)
        else:
            fc_from_float_int16(&dst[0], &src[0], n, lo, hi)
