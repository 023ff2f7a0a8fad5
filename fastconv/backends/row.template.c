/* The row kernels of _corr_kernels.h, written once and instantiated there:
 * not a translation unit of its own, and included once per instantiation
 * (so no include guard). Every function below is ordinary C; only the names
 * are pasted from the parameters, so compiler errors and debugger lines
 * point into this file.
 *
 * Parameters, #defined by the includer before each #include and #undef'd
 * after it:
 *
 *   T        the dtype: float or double (always).
 *   V        the instruction-set suffix (_avx512, _avx2, _sse2, _portable).
 *            Defined: the vector kernel fc_corr_row_<T><V>, which needs
 *            GCC/Clang vector extensions and the scalar section for the
 *            same T. Not defined: the scalar section, fc_scalar_row_<T>.
 *   IT       (vector only) an integer type as wide as T: the shuffle mask.
 *   VB       (vector only) the vector width in bytes.
 *   FC_ATTR  (vector only) the attribute the kernel is compiled with, e.g.
 *            __attribute__((target("avx2,fma"))); may be empty.
 */
/*
 * One output row: out[j] = sum over taps p of w[p] * x[off[p] + j*sw], j < wo,
 * plus *bias when bias is not NULL (added to the finished sum in registers,
 * so the bits are those of adding it to the stored row afterwards, without
 * that second pass over the output).
 *
 * The taps are summed in blocks of ``blk`` (the caller passes whole kernel
 * rows, or one input channel's taps): each block into a fresh partial sum
 * that then joins the output's total. One long float32 sum in a single
 * accumulator drifts, with a bias on smooth images (scipy.ndimage's
 * test_gauss03: -2.75 over a 100x100 ramp with a 9x9 Gaussian, against
 * -0.14 for float64 accumulation); per-row partial sums bring it to -1.05
 * for one extra add per block.
 *
 * A block of outputs keeps its accumulators in registers while the flat tap
 * loop adds every tap in, so each output is stored once and each tap costs
 * one broadcast plus, per vector, one load and one FMA.
 */
#ifndef T
#error "row.template.c: #define T (float or double) before including it"
#endif

#ifndef V
/* ---- Scalar section (V not defined): fc_block_<T>, fc_scalar_row_<T>. ----
 *
 * Other strides, rows shorter than a vector and non-GNU compilers use the
 * scalar block. */

/* Any n <= FC_SCALAR_BLOCK outputs, any stride. */
FC_INLINE void FC_CAT(fc_block_, T)(T *out, ptrdiff_t n, const T *x, ptrdiff_t sw,
                                    const ptrdiff_t *off, const T *w, ptrdiff_t ntaps, ptrdiff_t blk,
                                    const T *bias)
{
    T acc[FC_SCALAR_BLOCK], part[FC_SCALAR_BLOCK];
    for (ptrdiff_t t = 0; t < n; t++)
        acc[t] = 0;
    for (ptrdiff_t p0 = 0; p0 < ntaps; p0 += blk) { /* partial sums of blk taps */
        const ptrdiff_t p1 = ntaps - p0 < blk ? ntaps : p0 + blk;
        for (ptrdiff_t t = 0; t < n; t++)
            part[t] = 0;
        for (ptrdiff_t p = p0; p < p1; p++) {
            const T k = w[p];
            const T *xs = x + off[p];
            for (ptrdiff_t t = 0; t < n; t++)
                part[t] += k * xs[t * sw];
        }
        for (ptrdiff_t t = 0; t < n; t++)
            acc[t] += part[t];
    }
    if (bias)
        for (ptrdiff_t t = 0; t < n; t++)
            acc[t] += *bias;
    for (ptrdiff_t t = 0; t < n; t++)
        out[t] = acc[t];
}

FC_INLINE void FC_CAT(fc_scalar_row_, T)(T *FC_RESTRICT out, ptrdiff_t wo, const T *x, ptrdiff_t sw,
                                         const ptrdiff_t *off, const T *w, ptrdiff_t ntaps, ptrdiff_t blk,
                                         const T *bias)
{
    for (ptrdiff_t j = 0; j < wo; j += FC_SCALAR_BLOCK)
        FC_CAT(fc_block_, T)(out + j, wo - j < FC_SCALAR_BLOCK ? wo - j : FC_SCALAR_BLOCK,
                             x + j * sw, sw, off, w, ntaps, blk, bias);
}

/* (the scalar build's fc_slide_rows_: rows one by one, the same sums) */
FC_INLINE void FC_CAT(fc_scalar_slide_, T)(T *out, ptrdiff_t os, ptrdiff_t nr, ptrdiff_t wo, const T *x,
                                           ptrdiff_t xs, ptrdiff_t sw, const ptrdiff_t *off, const T *w,
                                           ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t blk, const T *bias)
{
    for (ptrdiff_t i = 0; i < nr; i++)
        FC_CAT(fc_scalar_row_, T)(out + i * os, wo, x + i * xs, sw, off, w, kh * kw, blk, bias);
}

#else /* V defined */
/* ---- Vector section: the row kernel for dtype T with VB-byte vectors,
 * named fc_corr_row_<T><V>, compiled with FC_ATTR. ----
 *
 * Rows with stride 1 or 2 use GCC/Clang vector extensions (explicit, so the
 * code does not depend on the auto-vectoriser's mood); blocks are inlined
 * with a constant vector count and stride so acc[] lives in registers. A
 * row's last block ends with a vector shifted left to end at wo (it
 * recomputes a few outputs, with identical values), so short rows still get
 * up to FC_NV_WIDE independent accumulators. */
#if !defined(IT) || !defined(VB) || !defined(FC_ATTR)
#error "row.template.c: the vector section needs IT, VB and FC_ATTR as well as T and V"
#endif

#include "vector.template.c" /* FC_NAME, FC_VEC, FC_LANES, fc_vload_ */

/* nv vectors of outputs; vector i starts at i*L, except the last, which
 * starts at ``last`` (== (nv-1)*L unless it is shifted to end a row). */
FC_INLINE void FC_NAME(fc_vblock_)(T *out, ptrdiff_t nv, ptrdiff_t last,
                                   const T *x, ptrdiff_t sw, const ptrdiff_t *off,
                                   const T *w, ptrdiff_t ntaps, ptrdiff_t blk, const T *bias, const int has_bias)
{
    const FC_VEC zero = {0};
    FC_VEC acc[FC_NV_WIDE], v;
    ptrdiff_t pos[FC_NV_WIDE];
    for (ptrdiff_t i = 0; i < nv; i++) {
        acc[i] = zero;
        pos[i] = i < nv - 1 ? i * FC_LANES : last;
    }
    for (ptrdiff_t p0 = 0; p0 < ntaps; p0 += blk) { /* partial sums of blk taps */
        const ptrdiff_t p1 = ntaps - p0 < blk ? ntaps : p0 + blk;
        FC_VEC part[FC_NV_WIDE];
        for (ptrdiff_t i = 0; i < nv; i++)
            part[i] = zero;
        for (ptrdiff_t p = p0; p < p1; p++) {
            const FC_VEC k = zero + w[p];
            const T *xs = x + off[p];
            for (ptrdiff_t i = 0; i < nv; i++) {
                FC_NAME(fc_vload_)(&v, xs + pos[i] * sw, sw);
                part[i] += k * v;
            }
        }
        for (ptrdiff_t i = 0; i < nv; i++)
            acc[i] += part[i];
    }
    if (has_bias) { /* after the whole sum: the same bits as adding it to the stored row */
        const FC_VEC b = *bias - zero; /* a broadcast (b - 0 keeps -0; b + 0 would not) */
        for (ptrdiff_t i = 0; i < nv; i++)
            acc[i] += b;
    }
    for (ptrdiff_t i = 0; i < nv; i++)
        __builtin_memcpy(out + pos[i], &acc[i], sizeof v);
}

/* Row with wo >= L and sw in {1, 2}: wide blocks, then one block of
 * 1-4 vectors whose last vector ends exactly at wo. */
FC_INLINE void FC_NAME(fc_vrow_)(T *FC_RESTRICT out, ptrdiff_t wo, const T *x, ptrdiff_t sw,
                                 const ptrdiff_t *off, const T *w, ptrdiff_t ntaps, ptrdiff_t blk, const T *bias,
                                 const int has_bias)
{
    const ptrdiff_t L = FC_LANES, W = FC_NV_WIDE * FC_LANES;
    ptrdiff_t j = 0;
    for (; j + W <= wo; j += W)
        FC_NAME(fc_vblock_)(out + j, FC_NV_WIDE, W - L, x + j * sw, sw, off, w, ntaps, blk, bias, has_bias);
    const ptrdiff_t r = wo - j, last = r - L; /* last < 0 only when j > 0 */
    const T *xj = x + j * sw;
    switch ((r + L - 1) / L) {
    case 4: FC_NAME(fc_vblock_)(out + j, 4, last, xj, sw, off, w, ntaps, blk, bias, has_bias); break;
    case 3: FC_NAME(fc_vblock_)(out + j, 3, last, xj, sw, off, w, ntaps, blk, bias, has_bias); break;
    case 2: FC_NAME(fc_vblock_)(out + j, 2, last, xj, sw, off, w, ntaps, blk, bias, has_bias); break;
    case 1: FC_NAME(fc_vblock_)(out + j, 1, last, xj, sw, off, w, ntaps, blk, bias, has_bias); break;
    }
}

/* The row kernel with has_bias a constant: one copy each, the one without
 * a bias compiled apart (sharing one function body with the bias copy
 * measured 4% more instructions per tap: one more per broadcast). */
#define FC_ROW_BODY(has)                                                                   \
    do {                                                                                   \
        if (wo >= FC_LANES) {                                                              \
            if (sw == 1) {                                                                 \
                FC_NAME(fc_vrow_)(out, wo, x, 1, off, w, ntaps, blk, bias, has);           \
                return;                                                                    \
            }                                                                              \
            if (FC_HAVE_SHUFFLE2 && sw == 2) {                                             \
                FC_NAME(fc_vrow_)(out, wo, x, 2, off, w, ntaps, blk, bias, has);           \
                return;                                                                    \
            }                                                                              \
        }                                                                                  \
        FC_CAT(fc_scalar_row_, T)(out, wo, x, sw, off, w, ntaps, blk, bias);               \
    } while (0)

FC_ATTR __attribute__((noinline)) static void FC_NAME(fc_bias_row_)(T *FC_RESTRICT out, ptrdiff_t wo, const T *x,
                                                                  ptrdiff_t sw, const ptrdiff_t *off, const T *w,
                                                                  ptrdiff_t ntaps, ptrdiff_t blk, const T *bias)
{
    FC_ROW_BODY(1);
}

FC_ATTR static void FC_NAME(fc_corr_row_)(T *FC_RESTRICT out, ptrdiff_t wo, const T *x, ptrdiff_t sw,
                                          const ptrdiff_t *off, const T *w, ptrdiff_t ntaps, ptrdiff_t blk,
                                          const T *bias)
{
    if (bias) {
        FC_NAME(fc_bias_row_)(out, wo, x, sw, off, w, ntaps, blk, bias);
        return;
    }
    FC_ROW_BODY(0);
}

#undef FC_ROW_BODY

/* Sliding rows: FC_SLIDE_ROWS output rows of one input channel at row
 * stride 1 and row dilation 1 whose taps form one partial sum (ntaps <=
 * blk): output row r reads input rows r .. r+kh-1, so each input vector
 * loaded (row q, column tap b) feeds the FMAs of every output row whose
 * window holds row q (up to kh of them) instead of one. The one-row kernel
 * issues one load per FMA, and on a 3x3 kernel its loads are unaligned
 * vectors split over two cache lines: the loads, not the FMAs, set its
 * pace. Each output still adds its taps in the row kernel's order (kernel
 * row a, then column b; q ascending is a ascending), from a zero partial
 * sum, into a zero total, then the bias: the same bits. */
#define FC_SLIDE_ROWS (VB == 64 ? 4 : 2) /* x FC_NV_WIDE accumulators: 16 of 32 registers, or 8 of 16 */

FC_INLINE void FC_NAME(fc_vslide_)(T *out, ptrdiff_t os, ptrdiff_t nv, ptrdiff_t last, const T *x, ptrdiff_t xs,
                                   ptrdiff_t sw, const ptrdiff_t *off, const T *w, ptrdiff_t kh, ptrdiff_t kw,
                                   const T *bias)
{
    enum { R = FC_SLIDE_ROWS };
    const FC_VEC zero = {0};
    FC_VEC part[R][FC_NV_WIDE], v[FC_NV_WIDE];
    ptrdiff_t pos[FC_NV_WIDE];
    for (ptrdiff_t i = 0; i < nv; i++) {
        for (ptrdiff_t r = 0; r < R; r++)
            part[r][i] = zero;
        pos[i] = i < nv - 1 ? i * FC_LANES : last;
    }
    /* (r and i run over constant ranges, so part[][] stays in registers) */
    for (ptrdiff_t q = 0; q < R + kh - 1; q++) { /* input rows of the block */
        for (ptrdiff_t b = 0; b < kw; b++) {
            const T *xq = x + q * xs + off[b]; /* off[b]: kernel row 0's column taps */
            for (ptrdiff_t i = 0; i < nv; i++)
                FC_NAME(fc_vload_)(&v[i], xq + pos[i] * sw, sw);
            for (ptrdiff_t r = 0; r < R; r++) {
                const ptrdiff_t a = q - r; /* output row r's kernel row over input row q */
                if (a < 0 || a >= kh)
                    continue;
                const FC_VEC k = zero + w[a * kw + b];
                for (ptrdiff_t i = 0; i < nv; i++)
                    part[r][i] += k * v[i];
            }
        }
    }
    for (ptrdiff_t r = 0; r < R; r++)
        for (ptrdiff_t i = 0; i < nv; i++) {
            FC_VEC acc = zero + part[r][i];
            if (bias)
                acc += *bias - zero;
            __builtin_memcpy(out + r * os + pos[i], &acc, sizeof acc);
        }
}

/* Rows [0, nr) of one plane by sliding blocks (see fc_vslide_), the last
 * nr % FC_SLIDE_ROWS rows by the row kernel. The caller checks the
 * conditions: one channel, kernel rows xs apart at stride 1, ntaps = kh*kw
 * <= blk, wo >= L, sw in {1, 2}. */
FC_ATTR static void FC_NAME(fc_slide_rows_)(T *out, ptrdiff_t os, ptrdiff_t nr, ptrdiff_t wo, const T *x,
                                            ptrdiff_t xs, ptrdiff_t sw, const ptrdiff_t *off, const T *w,
                                            ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t blk, const T *bias)
{
    const ptrdiff_t L = FC_LANES, W = FC_NV_WIDE * FC_LANES, R = FC_SLIDE_ROWS;
    ptrdiff_t i = 0;
    for (; i + R <= nr; i += R) {
        T *o = out + i * os;
        const T *xi = x + i * xs;
        ptrdiff_t j = 0;
        for (; j + W <= wo; j += W)
            if (sw == 1)
                FC_NAME(fc_vslide_)(o + j, os, FC_NV_WIDE, W - L, xi + j, xs, 1, off, w, kh, kw, bias);
            else
                FC_NAME(fc_vslide_)(o + j, os, FC_NV_WIDE, W - L, xi + 2 * j, xs, 2, off, w, kh, kw, bias);
        const ptrdiff_t rest = wo - j, last = rest - L;
        const T *xj = xi + j * sw;
#define FC_SLIDE_CASE(n)                                                                   \
    case n:                                                                                \
        if (sw == 1)                                                                       \
            FC_NAME(fc_vslide_)(o + j, os, n, last, xj, xs, 1, off, w, kh, kw, bias);     \
        else                                                                               \
            FC_NAME(fc_vslide_)(o + j, os, n, last, xj, xs, 2, off, w, kh, kw, bias);     \
        break;
        switch ((rest + L - 1) / L) {
        FC_SLIDE_CASE(4)
        FC_SLIDE_CASE(3)
        FC_SLIDE_CASE(2)
        FC_SLIDE_CASE(1)
        }
#undef FC_SLIDE_CASE
    }
    for (; i < nr; i++)
        FC_NAME(fc_corr_row_)(out + i * os, wo, x + i * xs, sw, off, w, kh * kw, blk, bias);
}

#undef FC_SLIDE_ROWS

#undef FC_LANES
#undef FC_IVEC
#undef FC_VEC
#undef FC_NAME
#endif /* V */
