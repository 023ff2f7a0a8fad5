/* Hot loops of the cython backend: one output row of a cross-correlation.
 *
 * The Cython layer (_cython.pyx) splits the work into output rows over
 * OpenMP threads and calls fc_corr_row_float / fc_corr_row_double for each.
 * Both are instantiated from one macro, so there is one source for both
 * dtypes.
 *
 * Portability: wheels must run on any x86-64 CPU, so nothing is compiled
 * with -march=native. Instead, on GCC/Clang with glibc (ifunc support) the
 * row function is built several times with target_clones and the loader
 * picks the best clone for the running CPU once, at load time.
 */
#ifndef FASTCONV_CORR_KERNELS_H
#define FASTCONV_CORR_KERNELS_H

#include <stddef.h>
#include <string.h> /* also defines __GLIBC__ where it applies */
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef FASTCONV_OPENMP
#define FASTCONV_OPENMP 0
#endif

#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define FC_MULTIVERSIONED 1
#endif
#endif

#ifdef FC_MULTIVERSIONED
#define FC_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define FC_CLONES
#endif

#if defined(__GNUC__)
#define FC_INLINE static inline __attribute__((always_inline))
#define FC_RESTRICT __restrict__
#else
#define FC_INLINE static inline
#define FC_RESTRICT
#endif

/* Outputs per register block: 4 zmm of float or 8 zmm of double with
 * AVX-512. The accumulators of one block stay in registers while every tap
 * (input channel x kernel row x kernel column) is added in, so each output
 * is stored exactly once and each tap costs one load and one FMA per vector.
 * (Chosen by measurement; see the commit history.) */
#ifndef FC_BLOCK
#define FC_BLOCK 64
#endif

/* Which clone the ifunc resolver picks on this CPU (same order as FC_CLONES). */
static const char *fc_simd_level(void)
{
#ifdef FC_MULTIVERSIONED
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return "avx512f";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "avx2,fma";
    return "default (baseline x86-64)";
#else
    return "none (single portable build)";
#endif
}

static int fc_omp_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/*
 * out[t] = sum over c < cin, a < kh, b < kw of
 *          w[c*w_cs + a*w_rs + b] * x[c*x_cs + a*x_rs + t*sw + b*dw]
 * for t < n. ``x_rs`` is the input row stride times the vertical dilation.
 * Inlined twice per dtype (full block / tail) and with sw == 1 constant,
 * so the compiler emits a contiguous, fully vectorised inner loop for the
 * common stride-1 case.
 */
#define FC_DEFINE_ROW_KERNEL(T)                                                    \
    FC_INLINE void fc_block_##T(T *FC_RESTRICT out, ptrdiff_t n, const T *x,       \
                                ptrdiff_t x_cs, ptrdiff_t x_rs, const T *w,        \
                                ptrdiff_t w_cs, ptrdiff_t w_rs, ptrdiff_t cin,     \
                                ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sw,          \
                                ptrdiff_t dw)                                      \
    {                                                                              \
        T acc[FC_BLOCK];                                                           \
        for (ptrdiff_t t = 0; t < n; t++)                                          \
            acc[t] = 0;                                                            \
        for (ptrdiff_t c = 0; c < cin; c++)                                        \
            for (ptrdiff_t a = 0; a < kh; a++) {                                   \
                const T *xr = x + c * x_cs + a * x_rs;                             \
                const T *wr = w + c * w_cs + a * w_rs;                             \
                for (ptrdiff_t b = 0; b < kw; b++) {                               \
                    const T k = wr[b];                                             \
                    const T *xs = xr + b * dw;                                     \
                    for (ptrdiff_t t = 0; t < n; t++)                              \
                        acc[t] += k * xs[t * sw];                                  \
                }                                                                  \
            }                                                                      \
        for (ptrdiff_t t = 0; t < n; t++)                                          \
            out[t] = acc[t];                                                       \
    }                                                                              \
                                                                                   \
    FC_CLONES static void fc_corr_row_##T(                                         \
        T *FC_RESTRICT out, ptrdiff_t wo, const T *x, ptrdiff_t x_cs, ptrdiff_t x_rs,  \
        const T *w, ptrdiff_t w_cs, ptrdiff_t w_rs, ptrdiff_t cin, ptrdiff_t kh,       \
        ptrdiff_t kw, ptrdiff_t sw, ptrdiff_t dw)                                      \
    {                                                                              \
        ptrdiff_t j = 0;                                                           \
        if (sw == 1) {                                                             \
            for (; j + FC_BLOCK <= wo; j += FC_BLOCK)                              \
                fc_block_##T(out + j, FC_BLOCK, x + j, x_cs, x_rs, w, w_cs, w_rs,  \
                             cin, kh, kw, 1, dw);                                  \
            if (j < wo)                                                            \
                fc_block_##T(out + j, wo - j, x + j, x_cs, x_rs, w, w_cs, w_rs,    \
                             cin, kh, kw, 1, dw);                                  \
        } else {                                                                   \
            for (; j < wo; j += FC_BLOCK) {                                        \
                ptrdiff_t n = wo - j < FC_BLOCK ? wo - j : FC_BLOCK;               \
                fc_block_##T(out + j, n, x + j * sw, x_cs, x_rs, w, w_cs, w_rs,    \
                             cin, kh, kw, sw, dw);                                 \
            }                                                                      \
        }                                                                          \
    }

FC_DEFINE_ROW_KERNEL(float)
FC_DEFINE_ROW_KERNEL(double)

#endif /* FASTCONV_CORR_KERNELS_H */
