/* Compiled transforms of the winograd backend (see winograd.py for the
 * method and the error bound).
 *
 * winograd.template.c holds the tile-row kernels (input transform, output
 * transform, elementwise products); this header instantiates them per dtype
 * and, with GCC on x86-64, per instruction set (AVX-512, AVX2+FMA, SSE2:
 * each compiled with its native vector width, as _corr_kernels.h does for
 * the row kernels), and wg_init() picks the widest the CPU runs. The drivers
 * below split tile rows over OpenMP threads; _winograd.pyx calls them with
 * the GIL released.
 */
#ifndef FASTCONV_WINOGRAD_KERNELS_H
#define FASTCONV_WINOGRAD_KERNELS_H

#include <stddef.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef FASTCONV_OPENMP
#define FASTCONV_OPENMP 0
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(FC_PORTABLE_ONLY)
#define WG_MULTI_ISA 1
#endif

#if defined(__GNUC__)
#define WG_RESTRICT __restrict__
#else
#define WG_RESTRICT
#endif

#define WG_CAT_(a, b) a##b
#define WG_CAT(a, b) WG_CAT_(a, b)

#define WG_IN_ARGS(T) \
    int, const T *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, T *, const T *, T *, ptrdiff_t
#define WG_OUT_ARGS(T) int, const T *, ptrdiff_t, ptrdiff_t, T *, T *, ptrdiff_t, ptrdiff_t, ptrdiff_t
#define WG_SCALE_ARGS(T) int, const T *, const T *, ptrdiff_t, T *

static void (*wg_in_row_float)(WG_IN_ARGS(float));
static void (*wg_in_row_double)(WG_IN_ARGS(double));
static void (*wg_out_row_float)(WG_OUT_ARGS(float));
static void (*wg_out_row_double)(WG_OUT_ARGS(double));
static void (*wg_scale_row_float)(WG_SCALE_ARGS(float));
static void (*wg_scale_row_double)(WG_SCALE_ARGS(double));

#ifdef WG_MULTI_ISA
#define V _avx512
#define WG_ATTR __attribute__((target("avx512f,avx2,fma")))
#define T float
#include "winograd.template.c"
#undef T
#define T double
#include "winograd.template.c"
#undef T
#undef WG_ATTR
#undef V

#define V _avx2
#define WG_ATTR __attribute__((target("avx2,fma")))
#define T float
#include "winograd.template.c"
#undef T
#define T double
#include "winograd.template.c"
#undef T
#undef WG_ATTR
#undef V
#endif

#define V _portable /* SSE2 on x86-64: the compiler's own target */
#define WG_ATTR
#define T float
#include "winograd.template.c"
#undef T
#define T double
#include "winograd.template.c"
#undef T
#undef WG_ATTR
#undef V

#define WG_USE(T, V)                                   \
    do {                                               \
        wg_in_row_##T = wg_in_row_##T##V;              \
        wg_out_row_##T = wg_out_row_##T##V;            \
        wg_scale_row_##T = wg_scale_row_##T##V;        \
    } while (0)

/* Pick the widest variant the CPU runs, at most ``cap`` (3: AVX-512, 2:
 * AVX2, 1: baseline); returns its name. */
static const char *wg_init(int cap)
{
#ifdef WG_MULTI_ISA
    __builtin_cpu_init();
    if (cap >= 3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
        WG_USE(float, _avx512);
        WG_USE(double, _avx512);
        return "avx512 (64-byte vectors)";
    }
    if (cap >= 2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        WG_USE(float, _avx2);
        WG_USE(double, _avx2);
        return "avx2+fma (32-byte vectors)";
    }
    WG_USE(float, _portable);
    WG_USE(double, _portable);
    return "sse2 (16-byte vectors)";
#else
    (void)cap;
    WG_USE(float, _portable);
    WG_USE(double, _portable);
    return "portable build (one vector width, no CPU dispatch)";
#endif
}

static int wg_omp_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* The drivers, per dtype: tasks are (tile row, channel) pairs, dynamically
 * scheduled (a thread descheduled on a busy machine leaves its share to the
 * others). Each thread mallocs its own scratch; on failure they return -1. */
#define T float
#include "winograd_drivers.template.c"
#undef T
#define T double
#include "winograd_drivers.template.c"
#undef T

#endif /* FASTCONV_WINOGRAD_KERNELS_H */
