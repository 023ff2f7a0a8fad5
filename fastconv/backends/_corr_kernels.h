/* Hot loops of the cython backend: one output row of a cross-correlation.
 *
 * The Cython layer (_cython.pyx) calls fc_init() once at import, then splits
 * the work into output rows over OpenMP threads and calls fc_corr_row_float /
 * fc_corr_row_double for each. Every variant is instantiated from one set of
 * macros, so there is one source for both dtypes and every instruction set.
 *
 * Portability: wheels must run on any x86-64 CPU, so nothing is compiled
 * with -march=native. With GCC on x86-64 the row kernel is compiled three
 * times, each with its instruction set's native vector width: AVX-512
 * (64-byte vectors), AVX2+FMA (32) and baseline SSE2 (16); fc_init() picks
 * the best one the running CPU supports. (target_clones cannot do this: one
 * source means one vector width, and 64-byte vectors lowered to AVX2 or SSE2
 * ran 10x slower than native-width code.) Other compilers and architectures
 * get one portable build.
 */
#ifndef FASTCONV_CORR_KERNELS_H
#define FASTCONV_CORR_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef FASTCONV_OPENMP
#define FASTCONV_OPENMP 0
#endif

/* -DFC_PORTABLE_ONLY builds only the portable variant, for the compiler's own
 * -march (used to test each variant's code on one machine). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(FC_PORTABLE_ONLY)
#define FC_MULTI_ISA 1
#endif

#if defined(__GNUC__) /* GCC and Clang: also their portable vector extensions */
#define FC_VECTOR 1
#define FC_INLINE static inline __attribute__((always_inline))
#define FC_RESTRICT __restrict__
#else
#define FC_INLINE static inline
#define FC_RESTRICT
#endif

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

/* Vectors per block of outputs: 4 accumulators, whatever the vector width,
 * leave registers for the loads on every instruction set (8 measured no
 * faster with AVX-512). */
#define FC_NV_WIDE 4

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

/*
 * One output row: out[j] = sum over taps p of w[p] * x[off[p] + j*sw], j < wo.
 *
 * A block of outputs keeps its accumulators in registers while the flat tap
 * loop adds every tap in, so each output is stored once and each tap costs
 * one broadcast plus, per vector, one load and one FMA. Rows with stride 1
 * or 2 use GCC/Clang vector extensions (explicit, so the code does not
 * depend on the auto-vectoriser's mood); blocks are inlined with a constant
 * vector count and stride so acc[] lives in registers. A row's last block
 * ends with a vector shifted left to end at wo (it recomputes a few outputs,
 * with identical values), so short rows still get up to FC_NV_WIDE
 * independent accumulators. Other strides, rows shorter than a vector and
 * non-GNU compilers use the scalar block.
 */
#define FC_ROW_ARGS(T) T *FC_RESTRICT out, ptrdiff_t wo, const T *x, ptrdiff_t sw, \
                       const ptrdiff_t *off, const T *w, ptrdiff_t ntaps

#define FC_SCALAR_BLOCK 32
#define FC_DEFINE_SCALAR_ROW(T)                                                    \
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
    }                                                                              \
                                                                                   \
    FC_INLINE void fc_scalar_row_##T(FC_ROW_ARGS(T))                               \
    {                                                                              \
        for (ptrdiff_t j = 0; j < wo; j += FC_SCALAR_BLOCK)                        \
            fc_block_##T(out + j, wo - j < FC_SCALAR_BLOCK ? wo - j : FC_SCALAR_BLOCK, \
                         x + j * sw, sw, off, w, ntaps);                           \
    }

/* The row kernel for dtype T (IT: an integer type as wide as T) with
 * VB-byte vectors, named fc_corr_row_<T><V>, compiled with ATTR. */
#define FC_DEFINE_VECTOR_ROW(T, IT, V, VB, ATTR)                                   \
    typedef T fc_vec_##T##V __attribute__((vector_size(VB)));                      \
    typedef IT fc_ivec_##T##V __attribute__((vector_size(VB)));                    \
    enum { FC_LANES_##T##V = VB / sizeof(T) };                                     \
                                                                                   \
    /* *v = p[0], p[sw], ..., p[(L-1)*sw] for sw in {1, 2}. For sw == 2 the      \
     * second load starts at p + L - 1, so nothing past p[2L-2] is read.         \
     * (Result through a pointer: returning a wide vector draws -Wpsabi.) */     \
    FC_INLINE void fc_vload_##T##V(fc_vec_##T##V *v, const T *p, ptrdiff_t sw)     \
    {                                                                              \
        const ptrdiff_t L = FC_LANES_##T##V;                                       \
        fc_vec_##T##V hi;                                                          \
        __builtin_memcpy(v, p, sizeof hi);                                         \
        if (sw == 1)                                                               \
            return;                                                                \
        __builtin_memcpy(&hi, p + L - 1, sizeof hi);                               \
        fc_ivec_##T##V even; /* indices into v:hi of p[0], p[2], ... */            \
        for (ptrdiff_t i = 0; i < L; i++)                                          \
            even[i] = i < L / 2 ? 2 * i : 2 * i + 1;                               \
        *v = FC_SHUFFLE2(*v, hi, even);                                            \
    }                                                                              \
                                                                                   \
    /* nv vectors of outputs; vector i starts at i*L, except the last, which     \
     * starts at ``last`` (== (nv-1)*L unless it is shifted to end a row). */     \
    FC_INLINE void fc_vblock_##T##V(T *out, ptrdiff_t nv, ptrdiff_t last,          \
                                    const T *x, ptrdiff_t sw, const ptrdiff_t *off, \
                                    const T *w, ptrdiff_t ntaps)                   \
    {                                                                              \
        const fc_vec_##T##V zero = {0};                                            \
        fc_vec_##T##V acc[FC_NV_WIDE], v;                                          \
        ptrdiff_t pos[FC_NV_WIDE];                                                 \
        for (ptrdiff_t i = 0; i < nv; i++) {                                       \
            acc[i] = zero;                                                         \
            pos[i] = i < nv - 1 ? i * FC_LANES_##T##V : last;                      \
        }                                                                          \
        for (ptrdiff_t p = 0; p < ntaps; p++) {                                    \
            const fc_vec_##T##V k = zero + w[p];                                   \
            const T *xs = x + off[p];                                              \
            for (ptrdiff_t i = 0; i < nv; i++) {                                   \
                fc_vload_##T##V(&v, xs + pos[i] * sw, sw);                         \
                acc[i] += k * v;                                                   \
            }                                                                      \
        }                                                                          \
        for (ptrdiff_t i = 0; i < nv; i++)                                         \
            __builtin_memcpy(out + pos[i], &acc[i], sizeof v);                     \
    }                                                                              \
                                                                                   \
    /* Row with wo >= L and sw in {1, 2}: wide blocks, then one block of         \
     * 1-4 vectors whose last vector ends exactly at wo. */                        \
    FC_INLINE void fc_vrow_##T##V(FC_ROW_ARGS(T))                                  \
    {                                                                              \
        const ptrdiff_t L = FC_LANES_##T##V, W = FC_NV_WIDE * FC_LANES_##T##V;     \
        ptrdiff_t j = 0;                                                           \
        for (; j + W <= wo; j += W)                                                \
            fc_vblock_##T##V(out + j, FC_NV_WIDE, W - L, x + j * sw, sw, off, w, ntaps); \
        const ptrdiff_t r = wo - j, last = r - L; /* last < 0 only when j > 0 */   \
        const T *xj = x + j * sw;                                                  \
        switch ((r + L - 1) / L) {                                                 \
        case 4: fc_vblock_##T##V(out + j, 4, last, xj, sw, off, w, ntaps); break;  \
        case 3: fc_vblock_##T##V(out + j, 3, last, xj, sw, off, w, ntaps); break;  \
        case 2: fc_vblock_##T##V(out + j, 2, last, xj, sw, off, w, ntaps); break;  \
        case 1: fc_vblock_##T##V(out + j, 1, last, xj, sw, off, w, ntaps); break;  \
        }                                                                          \
    }                                                                              \
                                                                                   \
    ATTR static void fc_corr_row_##T##V(FC_ROW_ARGS(T))                            \
    {                                                                              \
        if (wo >= FC_LANES_##T##V) {                                               \
            if (sw == 1) {                                                         \
                fc_vrow_##T##V(out, wo, x, 1, off, w, ntaps);                      \
                return;                                                            \
            }                                                                      \
            if (FC_HAVE_SHUFFLE2 && sw == 2) {                                     \
                fc_vrow_##T##V(out, wo, x, 2, off, w, ntaps);                      \
                return;                                                            \
            }                                                                      \
        }                                                                          \
        fc_scalar_row_##T(out, wo, x, sw, off, w, ntaps);                          \
    }

/* Both dtypes for one instruction set. */
#define FC_DEFINE_ISA(V, VB, ATTR)                                                 \
    FC_DEFINE_VECTOR_ROW(float, int32_t, V, VB, ATTR)                              \
    FC_DEFINE_VECTOR_ROW(double, int64_t, V, VB, ATTR)

FC_DEFINE_SCALAR_ROW(float)
FC_DEFINE_SCALAR_ROW(double)

/* The kernels the Cython layer calls; set by fc_init(). */
static void (*fc_corr_row_float)(FC_ROW_ARGS(float));
static void (*fc_corr_row_double)(FC_ROW_ARGS(double));

#ifdef FC_MULTI_ISA
FC_DEFINE_ISA(_avx512, 64, __attribute__((target("avx512f,avx2,fma"))))
FC_DEFINE_ISA(_avx2, 32, __attribute__((target("avx2,fma"))))
FC_DEFINE_ISA(_sse2, 16, )

/* Pick the widest variant this CPU runs, but none above ``cap`` (3: any,
 * 2: AVX2, 1: SSE2; lower caps let the tests run every variant). Returns
 * the variant's name. */
static const char *fc_init(int cap)
{
    __builtin_cpu_init();
    if (cap >= 3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
        fc_corr_row_float = fc_corr_row_float_avx512;
        fc_corr_row_double = fc_corr_row_double_avx512;
        return "avx512 (64-byte vectors)";
    }
    if (cap >= 2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        fc_corr_row_float = fc_corr_row_float_avx2;
        fc_corr_row_double = fc_corr_row_double_avx2;
        return "avx2+fma (32-byte vectors)";
    }
    fc_corr_row_float = fc_corr_row_float_sse2;
    fc_corr_row_double = fc_corr_row_double_sse2;
    return "sse2 (16-byte vectors)";
}

#elif defined(FC_VECTOR)
#ifndef FC_VEC_BYTES
#define FC_VEC_BYTES 16 /* SSE2 / NEON; override with -DFC_VEC_BYTES=32 etc. */
#endif
FC_DEFINE_ISA(_portable, FC_VEC_BYTES, )

static const char *fc_init(int cap)
{
    (void)cap;
    fc_corr_row_float = fc_corr_row_float_portable;
    fc_corr_row_double = fc_corr_row_double_portable;
    return "portable build (one vector width, no CPU dispatch)";
}

#else /* no vector extensions: the scalar blocks, auto-vectorised if at all */
static const char *fc_init(int cap)
{
    (void)cap;
    fc_corr_row_float = fc_scalar_row_float;
    fc_corr_row_double = fc_scalar_row_double;
    return "portable scalar build";
}
#endif

#endif /* FASTCONV_CORR_KERNELS_H */
