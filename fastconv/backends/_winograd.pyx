# cython: language_level=3
"""Typed layer of the winograd backend: shape checks, then the compiled
transforms of _winograd_kernels.h with the GIL released.

Imports nothing from fastconv: the tile size, the chunk and the thread count
arrive as arguments (fastconv/backends/winograd.py passes them). Every check
here is constant-time and guards a raw-pointer loop: a wrong shape raises
instead of reading or writing out of bounds.
"""
from cython cimport floating, view

cdef extern from "_winograd_kernels.h" nogil:
    int FASTCONV_OPENMP
    const char *wg_init(int cap)
    int wg_omp_max_threads()
    int wg_input_float(int m, const float *x, Py_ssize_t x_ns, Py_ssize_t x_cs, Py_ssize_t x_rs, Py_ssize_t C,
                       Py_ssize_t hp, Py_ssize_t wp, Py_ssize_t top, Py_ssize_t col0, Py_ssize_t th, Py_ssize_t r0,
                       Py_ssize_t r1, Py_ssize_t tw, float *V, int threads)
    int wg_input_double(int m, const double *x, Py_ssize_t x_ns, Py_ssize_t x_cs, Py_ssize_t x_rs, Py_ssize_t C,
                        Py_ssize_t hp, Py_ssize_t wp, Py_ssize_t top, Py_ssize_t col0, Py_ssize_t th, Py_ssize_t r0,
                        Py_ssize_t r1, Py_ssize_t tw, double *V, int threads)
    int wg_output_float(int m, const float *M, Py_ssize_t O, Py_ssize_t th, Py_ssize_t r0, Py_ssize_t r1,
                        Py_ssize_t tw, float *out, Py_ssize_t o_ns, Py_ssize_t o_cs, Py_ssize_t o_rs, Py_ssize_t ho,
                        Py_ssize_t wo, int threads)
    int wg_output_double(int m, const double *M, Py_ssize_t O, Py_ssize_t th, Py_ssize_t r0, Py_ssize_t r1,
                         Py_ssize_t tw, double *out, Py_ssize_t o_ns, Py_ssize_t o_cs, Py_ssize_t o_rs,
                         Py_ssize_t ho, Py_ssize_t wo, int threads)
    int wg_fused_float(int m, const float *x, Py_ssize_t x_ns, Py_ssize_t x_cs, Py_ssize_t x_rs, Py_ssize_t hp,
                       Py_ssize_t wp, Py_ssize_t top, Py_ssize_t left, const float *u, Py_ssize_t groups, Py_ssize_t og, Py_ssize_t n_img,
                       Py_ssize_t th, Py_ssize_t tw, float *out, Py_ssize_t o_ns, Py_ssize_t o_cs, Py_ssize_t o_rs,
                       Py_ssize_t ho, Py_ssize_t wo, int threads)
    int wg_fused_double(int m, const double *x, Py_ssize_t x_ns, Py_ssize_t x_cs, Py_ssize_t x_rs, Py_ssize_t hp,
                        Py_ssize_t wp, Py_ssize_t top, Py_ssize_t left, const double *u, Py_ssize_t groups, Py_ssize_t og, Py_ssize_t n_img,
                        Py_ssize_t th, Py_ssize_t tw, double *out, Py_ssize_t o_ns, Py_ssize_t o_cs,
                        Py_ssize_t o_rs, Py_ssize_t ho, Py_ssize_t wo, int threads)

OPENMP = bool(FASTCONV_OPENMP)
SIMD = wg_init(3).decode()


def _limit_simd(int cap):
    """Testing hook: use the widest variant at or below ``cap`` (3: AVX-512,
    2: AVX2, 1: baseline) that this CPU runs; returns its name. Not for use
    while other threads are computing."""
    global SIMD
    SIMD = wg_init(cap).decode()
    return SIMD


def max_threads():
    """OpenMP's own thread limit (1 in a serial build)."""
    return wg_omp_max_threads()


cdef inline Py_ssize_t _tiles(Py_ssize_t n, int m) noexcept nogil:
    return (n + m - 1) // m


cdef _check_common(int m, Py_ssize_t hp, Py_ssize_t wp, Py_ssize_t ho, Py_ssize_t wo, int threads):
    if m != 2 and m != 4:
        raise ValueError(f"tile m must be 2 or 4, got {m}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if ho < 1 or wo < 1 or ho + 2 > hp or wo + 2 > wp:
        raise ValueError(f"a {ho} x {wo} output of a 3 x 3 kernel does not fit the {hp} x {wp} input")


cdef tuple _border(tuple pads, Py_ssize_t hp, Py_ssize_t wp):
    """(top, bottom, left, right) of a zero border ((top, bottom), (left,
    right)) the kernels read as zeros instead of from a padded copy."""
    (top, bottom), (left, right) = pads
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"pads must be >= 0, got {pads}")
    if hp < 1 or wp < 1:
        raise ValueError(f"the input is empty ({hp} x {wp})")
    return top, bottom, left, right


cdef _check_chunk(int m, Py_ssize_t n_img, Py_ssize_t ho, Py_ssize_t wo, Py_ssize_t r0, Py_ssize_t r1,
                  Py_ssize_t tj0, Py_ssize_t ntw):
    cdef Py_ssize_t rows = n_img * _tiles(ho, m)
    if not (0 <= r0 < r1 <= rows) or not (0 <= tj0 and 0 < ntw and tj0 + ntw <= _tiles(wo, m)):
        raise ValueError(f"chunk rows [{r0}, {r1}) of {rows}, tile columns [{tj0}, {tj0 + ntw}) of "
                         f"{_tiles(wo, m)} out of range")


def input_transform(int m, const floating[::view.strided, ::view.strided, ::view.strided, ::view.contiguous] xp,
                    Py_ssize_t ho, Py_ssize_t wo, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t tj0, Py_ssize_t ntw,
                    floating[:, :, ::1] V, int threads, tuple pads=((0, 0), (0, 0))):
    """V[k*t + l, c, p] = (B^T d B)[k, l] for every channel c of xp and each
    tile p of the chunk (tile rows [r0, r1), tile columns [tj0, tj0 + ntw))
    of an ho x wo output; ``pads``: a zero border around xp, read as zeros."""
    cdef Py_ssize_t item = sizeof(floating), hp = xp.shape[2], wp = xp.shape[3], C = xp.shape[1]
    cdef Py_ssize_t top, bottom, left, right
    top, bottom, left, right = _border(pads, hp, wp)
    _check_common(m, hp + top + bottom, wp + left + right, ho, wo, threads)
    _check_chunk(m, xp.shape[0], ho, wo, r0, r1, tj0, ntw)
    if V.shape[0] != (m + 2) ** 2 or V.shape[1] != C or V.shape[2] != (r1 - r0) * ntw:
        raise ValueError(f"V has shape {tuple(V.shape)[:3]}, expected "
                         f"({(m + 2) ** 2}, {C}, {(r1 - r0) * ntw})")
    cdef Py_ssize_t col0 = tj0 * m - left
    cdef int rc
    with nogil:
        if floating is float:
            rc = wg_input_float(m, &xp[0, 0, 0, 0], xp.strides[0] // item, xp.strides[1] // item,
                                xp.strides[2] // item, C, hp, wp, top, col0, _tiles(ho, m), r0, r1, ntw,
                                &V[0, 0, 0], threads)
        else:
            rc = wg_input_double(m, &xp[0, 0, 0, 0], xp.strides[0] // item, xp.strides[1] // item,
                                 xp.strides[2] // item, C, hp, wp, top, col0, _tiles(ho, m), r0, r1, ntw,
                                 &V[0, 0, 0], threads)
    if rc != 0:
        raise MemoryError("winograd input transform: scratch allocation failed")


def output_transform(int m, const floating[:, :, ::1] M,
                     floating[::view.strided, ::view.strided, ::view.strided, ::view.contiguous] out,
                     Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t tj0, Py_ssize_t ntw, int threads):
    """out[n, o, i, j] = (A^T M A) for the chunk's tiles, from
    M[k*t + l, o, p]; only positions inside out are written."""
    cdef Py_ssize_t item = sizeof(floating), ho = out.shape[2], wo = out.shape[3], O = out.shape[1]
    _check_common(m, ho + 2, wo + 2, ho, wo, threads)
    _check_chunk(m, out.shape[0], ho, wo, r0, r1, tj0, ntw)
    if M.shape[0] != (m + 2) ** 2 or M.shape[1] != O or M.shape[2] != (r1 - r0) * ntw:
        raise ValueError(f"M has shape {tuple(M.shape)[:3]}, expected "
                         f"({(m + 2) ** 2}, {O}, {(r1 - r0) * ntw})")
    cdef Py_ssize_t col = tj0 * m
    cdef Py_ssize_t width = min(wo - col, ntw * m)
    cdef int rc
    with nogil:
        if floating is float:
            rc = wg_output_float(m, &M[0, 0, 0], O, _tiles(ho, m), r0, r1, ntw, &out[0, 0, 0, col],
                                 out.strides[0] // item, out.strides[1] // item, out.strides[2] // item, ho, width,
                                 threads)
        else:
            rc = wg_output_double(m, &M[0, 0, 0], O, _tiles(ho, m), r0, r1, ntw, &out[0, 0, 0, col],
                                  out.strides[0] // item, out.strides[1] // item, out.strides[2] // item, ho, width,
                                  threads)
    if rc != 0:
        raise MemoryError("winograd output transform: scratch allocation failed")


def fused(int m, const floating[::view.strided, ::view.strided, ::view.strided, ::view.contiguous] xp,
          const floating[:, ::1] u,
          floating[::view.strided, ::view.strided, ::view.strided, ::view.contiguous] out,
          Py_ssize_t groups, int threads, tuple pads=((0, 0), (0, 0))):
    """One input channel per output (C/groups == 1): out = A^T (u[o] * B^T d B) A
    tile by tile, u[o, k*t + l] the transformed kernel of output o; ``pads``:
    a zero border around xp, read as zeros."""
    cdef Py_ssize_t item = sizeof(floating), hp = xp.shape[2], wp = xp.shape[3]
    cdef Py_ssize_t n_img = out.shape[0], O = out.shape[1], ho = out.shape[2], wo = out.shape[3]
    cdef Py_ssize_t top, bottom, left, right
    top, bottom, left, right = _border(pads, hp, wp)
    _check_common(m, hp + top + bottom, wp + left + right, ho, wo, threads)
    if xp.shape[0] != n_img or groups < 1 or O % groups or xp.shape[1] != groups:
        raise ValueError(f"xp {tuple(xp.shape)[:4]} and out {tuple(out.shape)[:4]} do not match one input "
                         f"channel per output with {groups} groups")
    if u.shape[0] != O or u.shape[1] != (m + 2) ** 2:
        raise ValueError(f"u has shape {tuple(u.shape)[:2]}, expected ({O}, {(m + 2) ** 2})")
    cdef int rc
    with nogil:
        if floating is float:
            rc = wg_fused_float(m, &xp[0, 0, 0, 0], xp.strides[0] // item, xp.strides[1] // item,
                                xp.strides[2] // item, hp, wp, top, left, &u[0, 0], groups, O // groups, n_img,
                                _tiles(ho, m), _tiles(wo, m), &out[0, 0, 0, 0], out.strides[0] // item,
                                out.strides[1] // item, out.strides[2] // item, ho, wo, threads)
        else:
            rc = wg_fused_double(m, &xp[0, 0, 0, 0], xp.strides[0] // item, xp.strides[1] // item,
                                 xp.strides[2] // item, hp, wp, top, left, &u[0, 0], groups, O // groups, n_img,
                                 _tiles(ho, m), _tiles(wo, m), &out[0, 0, 0, 0], out.strides[0] // item,
                                 out.strides[1] // item, out.strides[2] // item, ho, wo, threads)
    if rc != 0:
        raise MemoryError("winograd transform: scratch allocation failed")
