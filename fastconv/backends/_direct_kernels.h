/* Kernels of the direct backend: register-blocked direct convolution.
 *
 * _direct.pyx fills one fc_direct_problem per call, picks the kernel for
 * the row width (fc_direct_pick_float / _double) and runs every task of the
 * problem over OpenMP threads; each task is one block of output channels
 * over one band of rows of one image (fc_direct_task_<T>). The kernels are
 * instantiated from direct.template.c per dtype, instruction set and vector
 * width, as _corr_kernels.h does with row.template.c (see _simd.h).
 *
 * Per instruction set there are several vector widths (AVX-512: 64, 32 and
 * 16 bytes; AVX2: 32 and 16; SSE2: 16): a row narrower than the widest
 * vector (7x7 or 14x14 feature maps) takes the widest vector it fills.
 */
#ifndef FASTCONV_DIRECT_KERNELS_H
#define FASTCONV_DIRECT_KERNELS_H

#include "_simd.h"

/* Output channels per register block, at most (each instruction set has
 * its own count, FC_OB: the packing width of the weights, see
 * fc_direct_block()). Single-channel blocks take as many output rows. */
#define FC_DIRECT_OB_MAX 8

/* One call: element strides, shapes and the task grid. Tasks are numbered
 * ((n * groups + g) * bands + band) * blocks + block, so consecutive tasks
 * share one band of input rows (it stays in cache across channel blocks). */
typedef struct {
    void *out;
    const void *x, *w; /* w: packed, blocks of ob channels (see _direct.pyx) */
    ptrdiff_t out_ns, out_cs, out_rs;
    ptrdiff_t x_ns, x_cs, x_rs;
    ptrdiff_t groups, og, cg, kh, kw, ho, wo, sh, sw, dh, dw;
    ptrdiff_t ob, blocks; /* channels per block; blocks per group */
    ptrdiff_t band, bands; /* rows per band; bands per image */
    ptrdiff_t chunk; /* kernel rows (over the (channel, row) pairs) whose taps are summed in fresh registers */
    /* Zero border (border != 0): x is the unpadded (in_h, in_w) input, with top
     * rows and left columns of zeros before it; each task pads its band
     * into its thread's scratch of cg * band_in * wp elements (band_in:
     * input rows of a full band, wp: the padded columns the windows read). */
    int border;
    ptrdiff_t top, left, in_h, in_w, band_in, wp;
    /* Stride 2 over de-interleaved rows (half != 0, no border, vector
     * kernels only): each input row holds its even columns, then from
     * element ``half`` on its odd ones, so every load is contiguous. */
    ptrdiff_t half;
    /* NULL, or one value per output channel added to its outputs with the
     * last chunk's flush (the same bits as adding it to the result after);
     * inside a task's kernel call: the task's first channel's. */
    const void *bias;
} fc_direct_problem;

static ptrdiff_t fc_direct_chunk(const fc_direct_problem *p) { return p->chunk; }

typedef void (*fc_direct_rows_float_fn)(const fc_direct_problem *, float *, const float *, const float *,
                                        ptrdiff_t, ptrdiff_t);
typedef void (*fc_direct_rows_double_fn)(const fc_direct_problem *, double *, const double *, const double *,
                                         ptrdiff_t, ptrdiff_t);

/* Scalar sections (every build) and the task decoders. */
#define T float
#include "direct.template.c"
#undef T
#define T double
#include "direct.template.c"
#undef T

/* Kernels for the current choice: up to 3 widths, widest first. */
typedef struct {
    int n;
    ptrdiff_t ob; /* the variant's FC_OB */
    ptrdiff_t lanes_float[3], lanes_double[3];
    fc_direct_rows_float_fn rows_float[3];
    fc_direct_rows_double_fn rows_double[3];
} fc_direct_table;
static fc_direct_table fc_direct_kernels;

#ifdef FC_MULTI_ISA
/* AVX-512 has 32 registers: 8 channels x 3 vectors = 24 accumulators,
 * loads and broadcasts in the rest. */
#define FC_ATTR __attribute__((target("avx512f,avx512vl,avx2,fma")))
#define FC_OB 8
#define FC_NVW 3
#define VB 64
#define V _avx512
#define T float
#define IT int32_t
#include "direct.template.c"
#undef IT
#undef T
#define T double
#define IT int64_t
#include "direct.template.c"
#undef IT
#undef T
#undef V
#undef VB
#define VB 32
#define V _avx512y
#define T float
#define IT int32_t
#include "direct.template.c"
#undef IT
#undef T
#define T double
#define IT int64_t
#include "direct.template.c"
#undef IT
#undef T
#undef V
#undef VB
#define VB 16
#define V _avx512x
#define T float
#define IT int32_t
#include "direct.template.c"
#undef IT
#undef T
#define T double
#define IT int64_t
#include "direct.template.c"
#undef IT
#undef T
#undef V
#undef VB
#undef FC_NVW
#undef FC_OB
#undef FC_ATTR

/* AVX2 and SSE2 have 16 registers: 4 channels x 2 vectors, plus loads. */
#define FC_ATTR __attribute__((target("avx2,fma")))
#define FC_OB 4
#define FC_NVW 2
#define VB 32
#define V _avx2
#define T float
#define IT int32_t
#include "direct.template.c"
#undef IT
#undef T
#define T double
#define IT int64_t
#include "direct.template.c"
#undef IT
#undef T
#undef V
#undef VB
#define VB 16
#define V _avx2x
#define T float
#define IT int32_t
#include "direct.template.c"
#undef IT
#undef T
#define T double
#define IT int64_t
#include "direct.template.c"
#undef IT
#undef T
#undef V
#undef VB
#undef FC_ATTR

#define FC_ATTR /* baseline x86-64 */
#define VB 16
#define V _sse2
#define T float
#define IT int32_t
#include "direct.template.c"
#undef IT
#undef T
#define T double
#define IT int64_t
#include "direct.template.c"
#undef IT
#undef T
#undef V
#undef VB
#undef FC_NVW
#undef FC_OB
#undef FC_ATTR

#define FC_DSET(i, v, bytes)                                               \
    (fc_direct_kernels.rows_float[i] = FC_CAT(fc_direct_rows_float, v),    \
     fc_direct_kernels.rows_double[i] = FC_CAT(fc_direct_rows_double, v),  \
     fc_direct_kernels.lanes_float[i] = (bytes) / (ptrdiff_t)sizeof(float), \
     fc_direct_kernels.lanes_double[i] = (bytes) / (ptrdiff_t)sizeof(double))

/* Pick the widest variant this CPU runs, but none above ``cap`` (3: any,
 * 2: AVX2, 1: SSE2; lower caps let the tests run every variant). Returns
 * its name. */
static const char *fc_direct_init(int cap)
{
    __builtin_cpu_init();
    if (cap >= 3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        FC_DSET(0, _avx512, 64), FC_DSET(1, _avx512y, 32), FC_DSET(2, _avx512x, 16);
        fc_direct_kernels.n = 3;
        fc_direct_kernels.ob = 8;
        return "avx512 (64-, 32- and 16-byte vectors)";
    }
    if (cap >= 2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        FC_DSET(0, _avx2, 32), FC_DSET(1, _avx2x, 16);
        fc_direct_kernels.n = 2;
        fc_direct_kernels.ob = 4;
        return "avx2+fma (32- and 16-byte vectors)";
    }
    FC_DSET(0, _sse2, 16);
    fc_direct_kernels.n = 1;
    fc_direct_kernels.ob = 4;
    return "sse2 (16-byte vectors)";
}

#elif defined(FC_VECTOR)
#ifndef FC_VEC_BYTES
#define FC_VEC_BYTES 16 /* SSE2 / NEON; override with -DFC_VEC_BYTES=32 etc. */
#endif
#define FC_ATTR /* the compiler's own target */
#define FC_OB 4
#define FC_NVW 2
#define VB FC_VEC_BYTES
#define V _portable
#define T float
#define IT int32_t
#include "direct.template.c"
#undef IT
#undef T
#define T double
#define IT int64_t
#include "direct.template.c"
#undef IT
#undef T
#undef V
#undef VB
#undef FC_NVW
#undef FC_OB
#undef FC_ATTR

static const char *fc_direct_init(int cap)
{
    (void)cap;
    fc_direct_kernels.ob = 4;
    fc_direct_kernels.rows_float[0] = fc_direct_rows_float_portable;
    fc_direct_kernels.rows_double[0] = fc_direct_rows_double_portable;
    fc_direct_kernels.lanes_float[0] = FC_VEC_BYTES / sizeof(float);
    fc_direct_kernels.lanes_double[0] = FC_VEC_BYTES / sizeof(double);
    fc_direct_kernels.n = 1;
    return "portable build (one vector width, no CPU dispatch)";
}

#else /* no vector extensions: the scalar kernel only */
static const char *fc_direct_init(int cap)
{
    (void)cap;
    fc_direct_kernels.n = 0;
    fc_direct_kernels.ob = 4;
    return "portable scalar build";
}
#endif

/* Output channels per block of the current variant: the packing width
 * the weights must have. */
static ptrdiff_t fc_direct_block(void) { return fc_direct_kernels.ob; }

/* Lanes of the current variant's i-th vector width (widest first), 0 past
 * the last: the Python driver weighs how well a row fills them. */
static ptrdiff_t fc_direct_lanes(int dbl, int i)
{
    if (i < 0 || i >= fc_direct_kernels.n)
        return 0;
    return dbl ? fc_direct_kernels.lanes_double[i] : fc_direct_kernels.lanes_float[i];
}

/* The kernel for rows of ``wo`` outputs at column stride ``sw``: the widest
 * vector the row fills, or the scalar kernel (other strides, rows narrower
 * than every vector). */
static fc_direct_rows_float_fn fc_direct_pick_float(ptrdiff_t wo, ptrdiff_t sw)
{
    if (sw == 1 || (FC_HAVE_SHUFFLE2 && sw == 2))
        for (int i = 0; i < fc_direct_kernels.n; i++)
            if (wo >= fc_direct_kernels.lanes_float[i])
                return fc_direct_kernels.rows_float[i];
    return fc_dscalar_rows_float;
}

static fc_direct_rows_double_fn fc_direct_pick_double(ptrdiff_t wo, ptrdiff_t sw)
{
    if (sw == 1 || (FC_HAVE_SHUFFLE2 && sw == 2))
        for (int i = 0; i < fc_direct_kernels.n; i++)
            if (wo >= fc_direct_kernels.lanes_double[i])
                return fc_direct_kernels.rows_double[i];
    return fc_dscalar_rows_double;
}

#endif /* FASTCONV_DIRECT_KERNELS_H */
