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

FC_INLINE void FC_CAT(fc_scalar_rows2_, T)(T *FC_RESTRICT out, ptrdiff_t os, ptrdiff_t wo, const T *x,
                                           ptrdiff_t xs, ptrdiff_t sw, const ptrdiff_t *off, const T *w,
                                           ptrdiff_t ntaps, ptrdiff_t blk, const T *bias)
{
    FC_CAT(fc_scalar_row_, T)(out, wo, x, sw, off, w, ntaps, blk, bias);
    FC_CAT(fc_scalar_row_, T)(out + os, wo, x + xs, sw, off, w, ntaps, blk, bias);
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

/* nv vectors of outputs in each of nr (1 or 2, a constant where inlined)
 * rows: row r's outputs at out + r*os, its window origin at x + r*xs;
 * vector i starts at i*L, except the last, which starts at ``last`` (==
 * (nv-1)*L unless it is shifted to end a row). Two rows share each tap's
 * broadcast and give the FMAs 2*nv independent chains (a 3x3 kernel's 9
 * dependent FMAs per accumulator are latency-bound with one row of 4
 * vectors); each output's sum is formed exactly as with one row. */
FC_INLINE void FC_NAME(fc_vblock_)(T *out, ptrdiff_t os, ptrdiff_t nr, ptrdiff_t nv, ptrdiff_t last,
                                   const T *x, ptrdiff_t xs, ptrdiff_t sw, const ptrdiff_t *off,
                                   const T *w, ptrdiff_t ntaps, ptrdiff_t blk, const T *bias)
{
    const FC_VEC zero = {0};
    FC_VEC acc[2][FC_NV_WIDE], v;
    ptrdiff_t pos[FC_NV_WIDE];
    for (ptrdiff_t i = 0; i < nv; i++) {
        for (ptrdiff_t r = 0; r < nr; r++)
            acc[r][i] = zero;
        pos[i] = i < nv - 1 ? i * FC_LANES : last;
    }
    for (ptrdiff_t p0 = 0; p0 < ntaps; p0 += blk) { /* partial sums of blk taps */
        const ptrdiff_t p1 = ntaps - p0 < blk ? ntaps : p0 + blk;
        FC_VEC part[2][FC_NV_WIDE];
        for (ptrdiff_t r = 0; r < nr; r++)
            for (ptrdiff_t i = 0; i < nv; i++)
                part[r][i] = zero;
        for (ptrdiff_t p = p0; p < p1; p++) {
            const FC_VEC k = zero + w[p];
            for (ptrdiff_t r = 0; r < nr; r++) {
                const T *xp = x + r * xs + off[p];
                for (ptrdiff_t i = 0; i < nv; i++) {
                    FC_NAME(fc_vload_)(&v, xp + pos[i] * sw, sw);
                    part[r][i] += k * v;
                }
            }
        }
        for (ptrdiff_t r = 0; r < nr; r++)
            for (ptrdiff_t i = 0; i < nv; i++)
                acc[r][i] += part[r][i];
    }
    if (bias) { /* after the whole sum: the same bits as adding it to the stored row */
        const FC_VEC b = *bias - zero; /* a broadcast (b - 0 keeps -0; b + 0 would not) */
        for (ptrdiff_t r = 0; r < nr; r++)
            for (ptrdiff_t i = 0; i < nv; i++)
                acc[r][i] += b;
    }
    for (ptrdiff_t r = 0; r < nr; r++)
        for (ptrdiff_t i = 0; i < nv; i++)
            __builtin_memcpy(out + r * os + pos[i], &acc[r][i], sizeof v);
}

/* nr rows (as fc_vblock_) with wo >= L and sw in {1, 2}: wide blocks, then
 * one block of 1-4 vectors whose last vector ends exactly at wo. */
FC_INLINE void FC_NAME(fc_vrow_)(T *FC_RESTRICT out, ptrdiff_t os, ptrdiff_t nr, ptrdiff_t wo, const T *x,
                                 ptrdiff_t xs, ptrdiff_t sw, const ptrdiff_t *off, const T *w, ptrdiff_t ntaps,
                                 ptrdiff_t blk, const T *bias)
{
    const ptrdiff_t L = FC_LANES, W = FC_NV_WIDE * FC_LANES;
    ptrdiff_t j = 0;
    for (; j + W <= wo; j += W)
        FC_NAME(fc_vblock_)(out + j, os, nr, FC_NV_WIDE, W - L, x + j * sw, xs, sw, off, w, ntaps, blk, bias);
    const ptrdiff_t r = wo - j, last = r - L; /* last < 0 only when j > 0 */
    const T *xj = x + j * sw;
    switch ((r + L - 1) / L) {
    case 4: FC_NAME(fc_vblock_)(out + j, os, nr, 4, last, xj, xs, sw, off, w, ntaps, blk, bias); break;
    case 3: FC_NAME(fc_vblock_)(out + j, os, nr, 3, last, xj, xs, sw, off, w, ntaps, blk, bias); break;
    case 2: FC_NAME(fc_vblock_)(out + j, os, nr, 2, last, xj, xs, sw, off, w, ntaps, blk, bias); break;
    case 1: FC_NAME(fc_vblock_)(out + j, os, nr, 1, last, xj, xs, sw, off, w, ntaps, blk, bias); break;
    }
}

FC_ATTR static void FC_NAME(fc_corr_row_)(T *FC_RESTRICT out, ptrdiff_t wo, const T *x, ptrdiff_t sw,
                                          const ptrdiff_t *off, const T *w, ptrdiff_t ntaps, ptrdiff_t blk,
                                          const T *bias)
{
    if (wo >= FC_LANES) {
        if (sw == 1) {
            FC_NAME(fc_vrow_)(out, 0, 1, wo, x, 0, 1, off, w, ntaps, blk, bias);
            return;
        }
        if (FC_HAVE_SHUFFLE2 && sw == 2) {
            FC_NAME(fc_vrow_)(out, 0, 1, wo, x, 0, 2, off, w, ntaps, blk, bias);
            return;
        }
    }
    FC_CAT(fc_scalar_row_, T)(out, wo, x, sw, off, w, ntaps, blk, bias);
}

/* Two rows: fc_corr_row_ of (out, x) and of (out + os, x + xs), the same
 * bits, in one pass over the taps. */
FC_ATTR static void FC_NAME(fc_corr_rows2_)(T *FC_RESTRICT out, ptrdiff_t os, ptrdiff_t wo, const T *x,
                                            ptrdiff_t xs, ptrdiff_t sw, const ptrdiff_t *off, const T *w,
                                            ptrdiff_t ntaps, ptrdiff_t blk, const T *bias)
{
    if (wo >= FC_LANES) {
        if (sw == 1) {
            FC_NAME(fc_vrow_)(out, os, 2, wo, x, xs, 1, off, w, ntaps, blk, bias);
            return;
        }
        if (FC_HAVE_SHUFFLE2 && sw == 2) {
            FC_NAME(fc_vrow_)(out, os, 2, wo, x, xs, 2, off, w, ntaps, blk, bias);
            return;
        }
    }
    FC_CAT(fc_scalar_row_, T)(out, wo, x, sw, off, w, ntaps, blk, bias);
    FC_CAT(fc_scalar_row_, T)(out + os, wo, x + xs, sw, off, w, ntaps, blk, bias);
}

#undef FC_LANES
#undef FC_IVEC
#undef FC_VEC
#undef FC_NAME
#endif /* V */
