/* Hot loops of the cython backend: one output row of a cross-correlation.
 *
 * The Cython layer (_cython.pyx) calls fc_init() once at import, then splits
 * the work into output rows over OpenMP threads and calls fc_corr_row_float /
 * fc_corr_row_double for each. Every variant is instantiated from one
 * template, row.template.c (plain C functions whose names are pasted from
 * its parameters), so there is one source for both dtypes and every
 * instruction set.
 *
 * The instruction-set variants and their dispatch follow _simd.h.
 */
#ifndef FASTCONV_CORR_KERNELS_H
#define FASTCONV_CORR_KERNELS_H

#include <string.h>

#include "_simd.h"

/* Vectors per block of outputs: 4 accumulators, whatever the vector width,
 * leave registers for the loads on every instruction set (8 measured no
 * faster with AVX-512). */
#define FC_NV_WIDE 4

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

/* Taps per partial sum of the row kernel (its ``blk``): for float32, whole
 * kernel rows, at least 8 taps, so short kernels (3x3) stay one sum and long
 * ones (9x9, or many input channels) add a fresh partial sum per row or two;
 * float64 drifts far below any peer's float32, so one sum. One formula for
 * every caller (the cython backend, the banded integer-image kernel), so
 * they add the same products in the same order. */
static inline ptrdiff_t fc_partial_block(ptrdiff_t kw, ptrdiff_t ntaps, int single)
{
    return single ? kw * ((8 + kw - 1) / kw) : (ntaps > 1 ? ntaps : 1);
}

/* The row kernel's parameters, for the function pointers below (the
 * template spells them out). */
#define FC_ROW_ARGS(T) T *FC_RESTRICT out, ptrdiff_t wo, const T *x, ptrdiff_t sw, \
                       const ptrdiff_t *off, const T *w, ptrdiff_t ntaps, ptrdiff_t blk, const T *bias

/* The row kernels are instantiated from row.template.c: #define its
 * parameters (T; and for a vector kernel V, IT, VB, FC_ATTR), #include it,
 * #undef them. First the scalar blocks of each dtype, which every build has
 * (the vector kernels fall back on them). */
#define FC_SCALAR_BLOCK 32

#define T float
#include "row.template.c"
#undef T

#define T double
#include "row.template.c"
#undef T

/* The kernels the Cython layer calls; set by fc_init(). */
static void (*fc_corr_row_float)(FC_ROW_ARGS(float));
static void (*fc_corr_row_double)(FC_ROW_ARGS(double));
/* Rows of one plane by sliding blocks (fc_slide_rows_): nr rows os apart
 * from input rows xs apart (row stride and dilation 1), kh x kw taps. */
#define FC_SLIDE_ARGS(T) T *out, ptrdiff_t os, ptrdiff_t nr, ptrdiff_t wo, const T *x, ptrdiff_t xs, ptrdiff_t sw, \
                         const ptrdiff_t *off, const T *w, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t blk, const T *bias
static void (*fc_slide_rows_float)(FC_SLIDE_ARGS(float));
static void (*fc_slide_rows_double)(FC_SLIDE_ARGS(double));
/* Lanes of the current float/double vector (0: the scalar build). */
static ptrdiff_t fc_lanes_float, fc_lanes_double;

/* One call's layout (filled by _cython.pyx): element strides of x (image,
 * channel, row) and out (image, channel, row), the last axes contiguous;
 * the sizes; the taps per partial sum (blk). For a zero border (padded):
 * the padding before the input, the input's extent, the kernel's, the
 * dilation, and the output columns [jl, jr) whose windows lie inside the
 * input's columns. For a mapped border (reflect, edge, wrap...; rmap not
 * NULL): the source row of each padded row and the source column of each
 * padded column, and for the output rows whose kernel rows are not
 * consecutive input rows (rsel[i] >= 0) their taps' offsets from the
 * source row of kernel row 0, ntaps per row at roff + rsel[i] * ntaps.
 * bufw > 0: bands of bandrows output rows are formed in a per-thread
 * buffer of padded rows bufw columns wide instead (see fc_band). bias: NULL,
 * or n_out values of the dtype, bias[o] added to every output of channel o
 * as it is stored. */
typedef struct {
    ptrdiff_t xn, xc, xr, on, oc, orow;
    ptrdiff_t n_out, ho, wo, cin, o_per_group, sh, sw, ntaps, blk;
    int padded;
    ptrdiff_t top, left, h, w, kh, kw, dh, dw, jl, jr;
    const ptrdiff_t *rmap, *cmap, *rsel, *roff;
    ptrdiff_t bufw, bandrows;
    const void *bias;
} fc_layout;

/* fc_padded_row_<T>: rows over a zero or mapped border, read in place. */
#define T float
#include "border.template.c"
#undef T

#define T double
#include "border.template.c"
#undef T

#ifdef FC_MULTI_ISA
/* Both dtypes for each instruction set: fc_corr_row_float_avx512 etc. */
#define V _avx512
#define VB 64
#define FC_ATTR __attribute__((target("avx512f,avx2,fma")))
#define T float
#define IT int32_t
#include "row.template.c"
#undef IT
#undef T
#define T double
#define IT int64_t
#include "row.template.c"
#undef IT
#undef T
#undef FC_ATTR
#undef VB
#undef V

#define V _avx2
#define VB 32
#define FC_ATTR __attribute__((target("avx2,fma")))
#define T float
#define IT int32_t
#include "row.template.c"
#undef IT
#undef T
#define T double
#define IT int64_t
#include "row.template.c"
#undef IT
#undef T
#undef FC_ATTR
#undef VB
#undef V

#define V _sse2
#define VB 16
#define FC_ATTR /* baseline x86-64 */
#define T float
#define IT int32_t
#include "row.template.c"
#undef IT
#undef T
#define T double
#define IT int64_t
#include "row.template.c"
#undef IT
#undef T
#undef FC_ATTR
#undef VB
#undef V

/* Pick the widest variant this CPU runs, but none above ``cap`` (3: any,
 * 2: AVX2, 1: SSE2; lower caps let the tests run every variant). Returns
 * the variant's name. */
static const char *fc_init(int cap)
{
    fc_register_fork_handler();
    __builtin_cpu_init();
    if (cap >= 3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
        fc_corr_row_float = fc_corr_row_float_avx512;
        fc_corr_row_double = fc_corr_row_double_avx512;
        fc_slide_rows_float = fc_slide_rows_float_avx512;
        fc_slide_rows_double = fc_slide_rows_double_avx512;
        fc_lanes_float = 16, fc_lanes_double = 8;
        return "avx512 (64-byte vectors)";
    }
    if (cap >= 2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        fc_corr_row_float = fc_corr_row_float_avx2;
        fc_corr_row_double = fc_corr_row_double_avx2;
        fc_slide_rows_float = fc_slide_rows_float_avx2;
        fc_slide_rows_double = fc_slide_rows_double_avx2;
        fc_lanes_float = 8, fc_lanes_double = 4;
        return "avx2+fma (32-byte vectors)";
    }
    fc_corr_row_float = fc_corr_row_float_sse2;
    fc_corr_row_double = fc_corr_row_double_sse2;
    fc_slide_rows_float = fc_slide_rows_float_sse2;
    fc_slide_rows_double = fc_slide_rows_double_sse2;
    fc_lanes_float = 4, fc_lanes_double = 2;
    return "sse2 (16-byte vectors)";
}

#elif defined(FC_VECTOR)
#ifndef FC_VEC_BYTES
#define FC_VEC_BYTES 16 /* SSE2 / NEON; override with -DFC_VEC_BYTES=32 etc. */
#endif
#define V _portable
#define VB FC_VEC_BYTES
#define FC_ATTR /* the compiler's own target */
#define T float
#define IT int32_t
#include "row.template.c"
#undef IT
#undef T
#define T double
#define IT int64_t
#include "row.template.c"
#undef IT
#undef T
#undef FC_ATTR
#undef VB
#undef V

static const char *fc_init(int cap)
{
    (void)cap;
    fc_register_fork_handler();
    fc_corr_row_float = fc_corr_row_float_portable;
    fc_corr_row_double = fc_corr_row_double_portable;
    fc_slide_rows_float = fc_slide_rows_float_portable;
    fc_slide_rows_double = fc_slide_rows_double_portable;
    fc_lanes_float = FC_VEC_BYTES / 4, fc_lanes_double = FC_VEC_BYTES / 8;
    return "portable build (one vector width, no CPU dispatch)";
}

#else /* no vector extensions: the scalar blocks, auto-vectorised if at all */
static const char *fc_init(int cap)
{
    (void)cap;
    fc_register_fork_handler();
    fc_corr_row_float = fc_scalar_row_float;
    fc_corr_row_double = fc_scalar_row_double;
    fc_slide_rows_float = fc_scalar_slide_float;
    fc_slide_rows_double = fc_scalar_slide_double;
    fc_lanes_float = fc_lanes_double = 0;
    return "portable scalar build";
}
#endif

#endif /* FASTCONV_CORR_KERNELS_H */
