/* The weight gradient's kernels (wgrad.template.c: dense and depthwise), one per dtype
 * and instruction set, and the pick of the widest variant the CPU runs
 * (as _direct_kernels.h does for the forward kernels; see _simd.h).
 * Called from _direct.pyx (weight_grad). */
#ifndef FASTCONV_WGRAD_KERNELS_H
#define FASTCONV_WGRAD_KERNELS_H

#include "_simd.h"

/* One call. g: (groups * ogp, gs) grad_out rows; x: (phases, groups * cgp,
 * xs) input rows, phase stride xps (per image, nimg of them); positions [0, length), length a
 * multiple of every variant's lanes (16), block too; ogp and cgp multiples
 * of 4 (rows of zeros past the real channels; the kernels take even counts). */
/* Output channels per task, in every variant (_direct.pyx numbers the tasks). */
#define FC_WGRAD_ROWS 6

typedef struct {
    const void *g, *x;
    ptrdiff_t gs, xs, xps;
    ptrdiff_t groups, ogp, cgp, ntaps;
    const ptrdiff_t *tap_phase, *tap_off;
    ptrdiff_t length, block;
    ptrdiff_t ctile; /* input channels per task, a multiple of 4 */
    ptrdiff_t nimg, g_is, x_is; /* images summed, each its own rows at these element strides */
} fc_wgrad_problem;

typedef void (*fc_wgrad_float_fn)(const fc_wgrad_problem *, ptrdiff_t, double *);
typedef void (*fc_wgrad_double_fn)(const fc_wgrad_problem *, ptrdiff_t, double *);

static fc_wgrad_float_fn fc_wgrad_float;
static fc_wgrad_double_fn fc_wgrad_double;

/* The depthwise kernel (fc_dwgrad_pair_ in wgrad.template.c). x (n, c, h,
 * w), the input, inside a zero border of ``top`` rows and ``left`` columns
 * (more past its end), of which the taps read hp x wp; g (n, o, ho, wo),
 * grad_out; both C-contiguous; og and cg channels per group; kh x kw taps
 * at stride (sh, sw), dilation (dh, dw); hq x wq: one stride phase's grid
 * of the hp x wp read; length: grid positions
 * summed, ho*wq rounded up to a multiple of 16 (every variant's lanes);
 * plane: elements per phase in the scratch, at least hq*wq and length plus
 * the largest tap offset. A task's scratch: sh*sw planes, then length. */
typedef struct {
    const void *x, *g;
    ptrdiff_t n, c, h, w, top, left, hp, wp, o, ho, wo, og, cg, kh, kw, sh, sw, dh, dw, hq, wq, plane, length;
} fc_dwgrad_problem;

typedef void (*fc_dwgrad_float_fn)(const fc_dwgrad_problem *, ptrdiff_t, float *, double *);
typedef void (*fc_dwgrad_double_fn)(const fc_dwgrad_problem *, ptrdiff_t, double *, double *);

static fc_dwgrad_float_fn fc_dwgrad_float;
static fc_dwgrad_double_fn fc_dwgrad_double;

#if defined(FC_MULTI_ISA) || defined(FC_VECTOR)
#ifdef FC_MULTI_ISA
#define FC_ATTR __attribute__((target("avx512f,avx512vl,avx2,fma")))
#define FC_WMO 6
#define FC_WMC 4
#define VB 64
#define V _wavx512
#define T float
#define IT int32_t
#include "wgrad.template.c"
#undef IT
#undef T
#define T double
#define IT int64_t
#include "wgrad.template.c"
#undef IT
#undef T
#undef V
#undef VB
#undef FC_WMC
#undef FC_WMO
#undef FC_ATTR
#define FC_ATTR __attribute__((target("avx2,fma")))
#define FC_WMO 4
#define FC_WMC 2
#define VB 32
#define V _wavx2
#define T float
#define IT int32_t
#include "wgrad.template.c"
#undef IT
#undef T
#define T double
#define IT int64_t
#include "wgrad.template.c"
#undef IT
#undef T
#undef V
#undef VB
#undef FC_ATTR
#define FC_ATTR /* baseline x86-64 */
#define VB 16
#define V _wsse2
#define T float
#define IT int32_t
#include "wgrad.template.c"
#undef IT
#undef T
#define T double
#define IT int64_t
#include "wgrad.template.c"
#undef IT
#undef T
#undef V
#undef VB
#undef FC_ATTR
#undef FC_WMC
#undef FC_WMO

/* The widest variant this CPU runs, none above ``cap`` (3: AVX-512, 2:
 * AVX2, 1: SSE2); returns its name. */
static const char *fc_wgrad_init(int cap)
{
    __builtin_cpu_init();
    if (cap >= 3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        fc_wgrad_float = fc_wgrad_task_float_wavx512, fc_wgrad_double = fc_wgrad_task_double_wavx512;
        fc_dwgrad_float = fc_dwgrad_pair_float_wavx512, fc_dwgrad_double = fc_dwgrad_pair_double_wavx512;
        return "avx512";
    }
    if (cap >= 2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        fc_wgrad_float = fc_wgrad_task_float_wavx2, fc_wgrad_double = fc_wgrad_task_double_wavx2;
        fc_dwgrad_float = fc_dwgrad_pair_float_wavx2, fc_dwgrad_double = fc_dwgrad_pair_double_wavx2;
        return "avx2+fma";
    }
    fc_wgrad_float = fc_wgrad_task_float_wsse2, fc_wgrad_double = fc_wgrad_task_double_wsse2;
    fc_dwgrad_float = fc_dwgrad_pair_float_wsse2, fc_dwgrad_double = fc_dwgrad_pair_double_wsse2;
    return "sse2";
}
#else /* portable vector build: one variant at the compiler's own target */
#ifndef FC_VEC_BYTES
#define FC_VEC_BYTES 16
#endif
#define FC_ATTR
#define FC_WMO 4
#define FC_WMC 2
#define VB FC_VEC_BYTES
#define V _wportable
#define T float
#define IT int32_t
#include "wgrad.template.c"
#undef IT
#undef T
#define T double
#define IT int64_t
#include "wgrad.template.c"
#undef IT
#undef T
#undef V
#undef VB
#undef FC_WMC
#undef FC_WMO
#undef FC_ATTR
static const char *fc_wgrad_init(int cap)
{
    (void)cap;
    fc_wgrad_float = fc_wgrad_task_float_wportable, fc_wgrad_double = fc_wgrad_task_double_wportable;
    fc_dwgrad_float = fc_dwgrad_pair_float_wportable, fc_dwgrad_double = fc_dwgrad_pair_double_wportable;
    return "portable";
}
#endif
#else /* no vector extensions: no kernel; the Python side uses BLAS */
static const char *fc_wgrad_init(int cap)
{
    (void)cap;
    fc_wgrad_float = 0, fc_wgrad_double = 0;
    fc_dwgrad_float = 0, fc_dwgrad_double = 0;
    return "";
}
#endif

#endif /* FASTCONV_WGRAD_KERNELS_H */
