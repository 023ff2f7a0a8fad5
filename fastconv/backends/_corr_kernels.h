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
#include <stdint.h>
#include <string.h> /* also defines __GLIBC__ where it applies */
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef FASTCONV_OPENMP
#define FASTCONV_OPENMP 0
#endif

/* GCC >= 11 knows the x86-64 micro-architecture levels as clone targets
 * (v3: AVX2 + FMA; v4: AVX-512 F/BW/CD/DQ/VL); ifuncs need glibc. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define FC_MULTIVERSIONED 1
#define FC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FC_CLONES
#endif

#if defined(__GNUC__) /* GCC and Clang: also their portable vector extensions */
#define FC_VECTOR 1
#define FC_INLINE static inline __attribute__((always_inline))
#define FC_RESTRICT __restrict__
#else
#define FC_INLINE static inline
#define FC_RESTRICT
#endif

/* Which clone the ifunc resolver picks on this CPU. */
static const char *fc_simd_level(void)
{
#ifdef FC_MULTIVERSIONED
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4"))
        return "x86-64-v4 (AVX-512)";
    if (__builtin_cpu_supports("x86-64-v3"))
        return "x86-64-v3 (AVX2+FMA)";
    return "x86-64 baseline (SSE2)";
#else
    return "single portable build (no CPU dispatch)";
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

/* Offset of every tap (c, a, b), in the order of a C-contiguous weight
 * array w[c, a, b], from the window's top-left input element. The same table
 * serves every output row, so the row kernel runs one flat loop over taps. */
static void fc_tap_offsets(ptrdiff_t *off, ptrdiff_t cin, ptrdiff_t kh, ptrdiff_t kw,
                           ptrdiff_t x_cs, ptrdiff_t x_rs, ptrdiff_t dw)
{
    for (ptrdiff_t c = 0; c < cin; c++)
        for (ptrdiff_t a = 0; a < kh; a++)
            for (ptrdiff_t b = 0; b < kw; b++)
                *off++ = c * x_cs + a * x_rs + b * dw;
}

/* The stride-1 kernel works on vectors of FC_VEC_BYTES (one zmm, two ymm or
 * four xmm, whichever the clone targets), FC_NV_WIDE of them per block:
 * 4 zmm / 8 ymm of accumulators, which leaves registers for the loads. */
#define FC_VEC_BYTES 64
#define FC_NV_WIDE 4

/* Stride-2 rows de-interleave two loads with one two-vector shuffle
 * (vpermt2ps/pd on AVX-512); GCC spells it __builtin_shuffle, Clang
 * differently, so Clang takes the scalar path for strides. */
#if defined(__GNUC__) && !defined(__clang__)
#define FC_HAVE_SHUFFLE2 1
#define FC_SHUFFLE2(a, b, mask) __builtin_shuffle(a, b, mask)
#else
#define FC_HAVE_SHUFFLE2 0
#define FC_SHUFFLE2(a, b, mask) (a) /* never reached */
#endif

/*
 * One output row: out[j] = sum over taps p of w[p] * x[off[p] + j*sw], j < wo.
 *
 * A block of outputs keeps its accumulators in registers while the flat tap
 * loop adds every tap in, so each output is stored once and each tap costs
 * one broadcast plus, per vector, one load and one FMA. Stride-1 rows use
 * GCC/Clang vector extensions (explicit, so the code does not depend on the
 * auto-vectoriser's mood); blocks are inlined with a constant vector count so
 * acc[] lives in registers (stride 2 too: see fc_vload). A row's last block ends with a vector shifted left
 * to end at wo (it recomputes a few outputs, with identical values), so short
 * rows still get up to FC_NV_WIDE independent accumulators. Strided
 * rows, rows shorter than a vector and non-GNU compilers use the scalar block.
 */
#ifdef FC_VECTOR
#define FC_DEFINE_VECTOR_ROW(T, IT) /* IT: integer type as wide as T */          \
    typedef T fc_vec_##T __attribute__((vector_size(FC_VEC_BYTES)));               \
    typedef IT fc_ivec_##T __attribute__((vector_size(FC_VEC_BYTES)));            \
    enum { FC_LANES_##T = FC_VEC_BYTES / sizeof(T) };                              \
                                                                                   \
    /* Lanes p[0], p[sw], ..., p[(L-1)*sw] for sw in {1, 2}. For sw == 2 the     \
     * second load starts at p + L - 1, so nothing past p[2L-2] is read. */       \
    /* (Result through a pointer: returning a zmm by value draws -Wpsabi.) */    \
    FC_INLINE void fc_vload_##T(fc_vec_##T *v, const T *p, ptrdiff_t sw)           \
    {                                                                              \
        const ptrdiff_t L = FC_LANES_##T;                                          \
        fc_vec_##T hi;                                                             \
        __builtin_memcpy(v, p, sizeof hi);                                         \
        if (sw == 1)                                                               \
            return;                                                                \
        __builtin_memcpy(&hi, p + L - 1, sizeof hi);                               \
        fc_ivec_##T even; /* indices into v:hi of p[0], p[2], ... */               \
        for (ptrdiff_t i = 0; i < L; i++)                                          \
            even[i] = i < L / 2 ? 2 * i : 2 * i + 1;                               \
        *v = FC_SHUFFLE2(*v, hi, even);                                            \
    }                                                                              \
                                                                                   \
    /* nv vectors of outputs; vector i starts at i*L, except the last, which \
     * starts at ``last`` (== (nv-1)*L unless it is shifted to end a row). */  \
    FC_INLINE void fc_vblock_##T(T *out, ptrdiff_t nv, ptrdiff_t last, const T *x, \
                                 ptrdiff_t sw, const ptrdiff_t *off, const T *w,   \
                                 ptrdiff_t ntaps)                                  \
    {                                                                              \
        const fc_vec_##T zero = {0};                                               \
        fc_vec_##T acc[FC_NV_WIDE], v;                                             \
        ptrdiff_t pos[FC_NV_WIDE];                                                 \
        for (ptrdiff_t i = 0; i < nv; i++) {                                       \
            acc[i] = zero;                                                         \
            pos[i] = i < nv - 1 ? i * FC_LANES_##T : last;                         \
        }                                                                          \
        for (ptrdiff_t p = 0; p < ntaps; p++) {                                    \
            const fc_vec_##T k = zero + w[p];                                      \
            const T *xs = x + off[p];                                              \
            for (ptrdiff_t i = 0; i < nv; i++) {                                   \
                fc_vload_##T(&v, xs + pos[i] * sw, sw);                            \
                acc[i] += k * v;                                                   \
            }                                                                      \
        }                                                                          \
        for (ptrdiff_t i = 0; i < nv; i++)                                         \
            __builtin_memcpy(out + pos[i], &acc[i], sizeof acc[i]);                \
    }                                                                              \
                                                                                   \
    /* Row with wo >= FC_LANES and sw in {1, 2}: wide blocks, then one block     \
     * of 1-4 vectors whose last vector ends exactly at wo. */                     \
    FC_INLINE void fc_vrow_##T(T *out, ptrdiff_t wo, const T *x, ptrdiff_t sw,     \
                               const ptrdiff_t *off, const T *w, ptrdiff_t ntaps)  \
    {                                                                              \
        const ptrdiff_t L = FC_LANES_##T, W = FC_NV_WIDE * FC_LANES_##T;           \
        ptrdiff_t j = 0;                                                           \
        for (; j + W <= wo; j += W)                                                \
            fc_vblock_##T(out + j, FC_NV_WIDE, W - L, x + j * sw, sw, off, w, ntaps); \
        const ptrdiff_t r = wo - j, last = r - L; /* last < 0 only when j > 0 */   \
        const T *xj = x + j * sw;                                                  \
        switch ((r + L - 1) / L) {                                                 \
        case 4: fc_vblock_##T(out + j, 4, last, xj, sw, off, w, ntaps); break;     \
        case 3: fc_vblock_##T(out + j, 3, last, xj, sw, off, w, ntaps); break;     \
        case 2: fc_vblock_##T(out + j, 2, last, xj, sw, off, w, ntaps); break;     \
        case 1: fc_vblock_##T(out + j, 1, last, xj, sw, off, w, ntaps); break;     \
        }                                                                          \
    }
#endif

#define FC_DEFINE_SCALAR_BLOCK(T)                                                  \
    /* Any n <= FC_SCALAR_BLOCK outputs, any stride. */                            \
    FC_INLINE void fc_block_##T(T *out, ptrdiff_t n, const T *x, ptrdiff_t sw,     \
                                const ptrdiff_t *off, const T *w, ptrdiff_t ntaps) \
    {                                                                              \
        T acc[FC_SCALAR_BLOCK];                                                    \
        for (ptrdiff_t t = 0; t < n; t++)                                          \
            acc[t] = 0;                                                            \
        for (ptrdiff_t p = 0; p < ntaps; p++) {                                    \
            const T k = w[p];                                                      \
            const T *xs = x + off[p];                                              \
            for (ptrdiff_t t = 0; t < n; t++)                                      \
                acc[t] += k * xs[t * sw];                                          \
        }                                                                          \
        for (ptrdiff_t t = 0; t < n; t++)                                          \
            out[t] = acc[t];                                                       \
    }
#define FC_SCALAR_BLOCK 32

#ifdef FC_VECTOR
#define FC_DEFINE_ROW_KERNEL(T, IT)                                                \
    FC_DEFINE_VECTOR_ROW(T, IT)                                                    \
    FC_DEFINE_SCALAR_BLOCK(T)                                                      \
    FC_CLONES static void fc_corr_row_##T(T *FC_RESTRICT out, ptrdiff_t wo,        \
                                          const T *x, ptrdiff_t sw,                \
                                          const ptrdiff_t *off, const T *w,        \
                                          ptrdiff_t ntaps)                         \
    {                                                                              \
        if (sw == 1 && wo >= FC_LANES_##T) {                                       \
            fc_vrow_##T(out, wo, x, 1, off, w, ntaps);                             \
            return;                                                                \
        }                                                                          \
        if (FC_HAVE_SHUFFLE2 && sw == 2 && wo >= FC_LANES_##T) {                   \
            fc_vrow_##T(out, wo, x, 2, off, w, ntaps);                             \
            return;                                                                \
        }                                                                          \
        for (ptrdiff_t j = 0; j < wo; j += FC_SCALAR_BLOCK)                        \
            fc_block_##T(out + j, wo - j < FC_SCALAR_BLOCK ? wo - j : FC_SCALAR_BLOCK, \
                         x + j * sw, sw, off, w, ntaps);                           \
    }
#else
#define FC_DEFINE_ROW_KERNEL(T, IT)                                                \
    FC_DEFINE_SCALAR_BLOCK(T)                                                      \
    static void fc_corr_row_##T(T *FC_RESTRICT out, ptrdiff_t wo, const T *x,      \
                                ptrdiff_t sw, const ptrdiff_t *off, const T *w,    \
                                ptrdiff_t ntaps)                                   \
    {                                                                              \
        for (ptrdiff_t j = 0; j < wo; j += FC_SCALAR_BLOCK)                        \
            fc_block_##T(out + j, wo - j < FC_SCALAR_BLOCK ? wo - j : FC_SCALAR_BLOCK, \
                         x + j * sw, sw, off, w, ntaps);                           \
    }
#endif

FC_DEFINE_ROW_KERNEL(float, int32_t)
FC_DEFINE_ROW_KERNEL(double, int64_t)

#endif /* FASTCONV_CORR_KERNELS_H */
