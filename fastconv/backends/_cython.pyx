# cython: language_level=3
"""Typed layer of the cython backend: split output rows over OpenMP threads
and hand each row to the C kernel in _corr_kernels.h (instantiated from
row.template.c).

The interface (shapes, guarantees) is documented in fastconv/backends/__init__.py.
This module imports nothing from fastconv: the thread count and the serial
threshold arrive as arguments (fastconv/backends/cython_.py passes them).
"""
from cython cimport floating, view
from cython.parallel cimport prange
from libc.stdlib cimport free, malloc

cdef extern from "_corr_kernels.h" nogil:
    int FASTCONV_OPENMP
    const char *fc_init(int cap)
    int fc_omp_max_threads()
    void fc_tap_offsets(Py_ssize_t *off, Py_ssize_t cin, Py_ssize_t kh, Py_ssize_t kw,
                        Py_ssize_t x_cs, Py_ssize_t x_rs, Py_ssize_t dw)
    # Function pointers set by fc_init(), called like functions.
    void fc_corr_row_float(float *out, Py_ssize_t wo, const float *x, Py_ssize_t sw,
                           const Py_ssize_t *off, const float *w, Py_ssize_t ntaps, Py_ssize_t blk)
    void fc_corr_row_double(double *out, Py_ssize_t wo, const double *x, Py_ssize_t sw,
                            const Py_ssize_t *off, const double *w, Py_ssize_t ntaps, Py_ssize_t blk)

OPENMP = bool(FASTCONV_OPENMP)
cdef enum: FC_MIN_BLOCK = 8
SIMD = fc_init(3).decode()  # must run before any kernel call


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


# xp and out: last axis contiguous, the others any stride (plain
# ``[:, :, :, ::1]`` would demand full C contiguity and reject views).
# w: C-contiguous, so the taps of one output channel are w[o] read flat.
# threads: the OpenMP team size for a large call; serial_below: multiply-adds
# (rows * wo * taps) below which the call runs on the calling thread alone.
def correlate(const floating[::view.strided, ::view.strided, ::view.strided, ::view.contiguous] xp,
              const floating[:, :, :, ::1] w,
              floating[::view.strided, ::view.strided, ::view.strided, ::view.contiguous] out,
              stride, dilation, Py_ssize_t groups, int threads, Py_ssize_t serial_below):
    cdef Py_ssize_t sh = stride[0], sw = stride[1], dh = dilation[0], dw = dilation[1]
    cdef Py_ssize_t n_img = out.shape[0], n_out = out.shape[1], ho = out.shape[2], wo = out.shape[3]
    cdef Py_ssize_t cin = w.shape[1], kh = w.shape[2], kw = w.shape[3], ntaps = cin * kh * kw
    # Constant-time consistency checks: the kernel indexes raw pointers, so a
    # bad shape here would read or write out of bounds instead of raising.
    if sh < 1 or sw < 1 or dh < 1 or dw < 1:
        raise ValueError(f"stride {tuple(stride)} and dilation {tuple(dilation)} must be >= 1")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if xp.shape[0] != n_img:
        raise ValueError(f"xp has {xp.shape[0]} images, out {n_img}")
    if w.shape[0] != n_out:
        raise ValueError(f"w has {w.shape[0]} output channels, out {n_out}")
    if groups < 1 or n_out % groups:
        raise ValueError(f"groups {groups} must be >= 1 and divide the {n_out} output channels")
    if xp.shape[1] != groups * cin:
        raise ValueError(f"xp has {xp.shape[1]} channels, not groups * w.shape[1] = {groups} * {cin}")
    if ho > 0 and wo > 0 and ((ho - 1) * sh + (kh - 1) * dh + 1 > xp.shape[2] or
                              (wo - 1) * sw + (kw - 1) * dw + 1 > xp.shape[3]):
        raise ValueError(f"an output of {ho} x {wo} with a {kh} x {kw} window, stride ({sh}, {sw}) and "
                         f"dilation ({dh}, {dw}) reads past the {xp.shape[2]} x {xp.shape[3]} input")
    cdef Py_ssize_t o_per_group = n_out // groups
    # Taps per partial sum (see row.template.c): for float32, whole kernel
    # rows, at least FC_MIN_BLOCK taps, so short kernels (3x3) stay one sum
    # and long ones (9x9, or many input channels) add a fresh partial sum per
    # row or two; float64 drifts far below any peer's float32, so one sum.
    cdef Py_ssize_t blk = kw * ((FC_MIN_BLOCK + kw - 1) // kw) if floating is float else max(ntaps, 1)
    # Strides in elements: the engine passes aligned arrays, so byte strides
    # are whole multiples of the item size.
    cdef Py_ssize_t item = sizeof(floating)
    cdef Py_ssize_t rows = n_img * n_out * ho
    # Waking a thread team costs microseconds, and far more when another
    # process holds the other cores: small problems run on the calling thread.
    if rows * wo * ntaps < serial_below:
        threads = 1
    # Dynamic chunks of consecutive rows: neighbouring rows share input rows
    # in cache, and a thread descheduled on a busy machine leaves its share of
    # the rows to the others instead of a fixed half.
    cdef Py_ssize_t chunk = max(1, rows // (8 * threads))
    cdef Py_ssize_t task, n, o, i
    cdef Py_ssize_t *off = <Py_ssize_t *> malloc(max(ntaps, 1) * sizeof(Py_ssize_t))
    if off == NULL:
        raise MemoryError()
    try:
        with nogil:
            fc_tap_offsets(off, cin, kh, kw,
                           xp.strides[1] // item, xp.strides[2] // item * dh, dw)
            # One task per output row of every (image, out-channel) pair, so a
            # single-channel image and a conv layer both keep every core busy.
            for task in prange(rows, num_threads=threads, schedule="dynamic", chunksize=chunk):
                i = task % ho
                o = (task // ho) % n_out
                n = task // (ho * n_out)
                if floating is float:
                    fc_corr_row_float(&out[n, o, i, 0], wo, &xp[n, (o // o_per_group) * cin, i * sh, 0],
                                      sw, off, &w[o, 0, 0, 0], ntaps, blk)
                else:
                    fc_corr_row_double(&out[n, o, i, 0], wo, &xp[n, (o // o_per_group) * cin, i * sh, 0],
                                       sw, off, &w[o, 0, 0, 0], ntaps, blk)
    finally:
        free(off)
