/* The direct backend's kernels, written once and instantiated by
 * _direct_kernels.h: not a translation unit of its own, included once per
 * instantiation (no include guard). Plain C; only names are pasted.
 *
 * Parameters, #defined by the includer before each #include:
 *
 *   T        the dtype: float or double (always).
 *   V        the variant suffix (_avx512, _avx512y, _avx2, ...). Defined:
 *            the vector kernel fc_direct_rows_<T><V>. Not defined: the
 *            scalar section (fc_dscalar_rows_<T>, fc_direct_task_<T>).
 *   IT, VB   (vector only) an integer type as wide as T; the vector width
 *            in bytes.
 *   FC_OB    (vector only) output channels per block (2..8), also the
 *            rows per block of a single channel (register budget).
 *   FC_NVW   (vector only) vectors of outputs per block (1..4).
 *   FC_ATTR  (vector only) the target attribute the kernel is compiled with.
 *
 * What one call computes: a block of ``nob`` consecutive output channels
 * (nob <= the variant's FC_OB, of one group) over ``nrows`` output rows of one
 * image. The packed weights of the block are w[c][a][b][nob] (all nob
 * weights of a tap adjacent, so each is one broadcast).
 *
 * Accuracy: the taps of each chunk of p->chunk kernel rows (counted over
 * the flattened (input channel, kernel row) index, so a chunk may end
 * inside a channel) are summed in fresh registers, and the chunk's partial
 * sums are then added to the output in memory, so no float32 running sum
 * grows over all C*kh*kw taps, not even one channel's long kernel
 * (_direct.pyx sizes the chunks).
 */
#ifndef T
#error "direct.template.c: #define T (float or double) before including it"
#endif

#ifndef V
/* ---- Scalar section: any stride, rows narrower than the narrowest vector,
 * compilers without vector extensions; and the task decoder. ---- */

/* Outputs per scalar block: consecutive (row, column) positions of the
 * rows x wo grid, so a one-column border strip fills a block with rows as
 * a wide row fills it with columns. */
#define FC_DSCALAR_SLOTS 16

FC_INLINE ptrdiff_t FC_CAT(fc_dmin_, T)(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }

static void FC_CAT(fc_dscalar_rows_, T)(const fc_direct_problem *p, T *out, const T *x, const T *w,
                                        ptrdiff_t nob, ptrdiff_t nrows)
{
    const ptrdiff_t kh = p->kh, kw = p->kw, cg = p->cg, chunk = fc_direct_chunk(p), wo = p->wo;
    const ptrdiff_t x_cs = p->x_cs, x_rs = p->dh * p->x_rs, dw = p->dw;
    ptrdiff_t xoff[FC_DSCALAR_SLOTS], ooff[FC_DSCALAR_SLOTS];
    for (ptrdiff_t q0 = 0; q0 < nrows * wo; q0 += FC_DSCALAR_SLOTS) {
        const ptrdiff_t ns = FC_CAT(fc_dmin_, T)(FC_DSCALAR_SLOTS, nrows * wo - q0);
        for (ptrdiff_t s = 0; s < ns; s++) {
            const ptrdiff_t i = (q0 + s) / wo, j = (q0 + s) % wo;
            xoff[s] = i * p->sh * p->x_rs + j * p->sw;
            ooff[s] = i * p->out_rs + j;
        }
        for (ptrdiff_t r0 = 0; r0 < cg * kh; r0 += chunk) {
            T acc[FC_DIRECT_OB_MAX][FC_DSCALAR_SLOTS];
            for (ptrdiff_t o = 0; o < nob; o++)
                for (ptrdiff_t s = 0; s < ns; s++)
                    acc[o][s] = 0;
            const ptrdiff_t r1 = FC_CAT(fc_dmin_, T)(r0 + chunk, cg * kh);
            for (ptrdiff_t r = r0; r < r1; r++) {
                const ptrdiff_t c = r / kh, a = r % kh;
                for (ptrdiff_t b = 0; b < kw; b++) {
                    const T *xs = x + c * x_cs + a * x_rs + b * dw;
                    const T *k = w + ((c * kh + a) * kw + b) * nob;
                    for (ptrdiff_t o = 0; o < nob; o++)
                        for (ptrdiff_t s = 0; s < ns; s++)
                            acc[o][s] += k[o] * xs[xoff[s]];
                }
            }
            const T *bias = r1 == cg * kh ? (const T *)p->bias : NULL; /* after the last chunk */
            for (ptrdiff_t o = 0; o < nob; o++)
                for (ptrdiff_t s = 0; s < ns; s++) {
                    T *q = out + o * p->out_cs + ooff[s];
                    T y = r0 ? *q + acc[o][s] : acc[o][s];
                    if (bias)
                        y += bias[o];
                    *q = y;
                }
        }
    }
}

/* The input rows [r0, r0 + nr) and columns [-left, wp - left) of x (cg
 * channels of stride x_cs), zero outside x, into buf: (cg, nr, wp), C order. */
static void FC_CAT(fc_dband_, T)(const fc_direct_problem *p, T *buf, const T *x, ptrdiff_t r0, ptrdiff_t nr)
{
    const ptrdiff_t wp = p->wp, left = FC_CAT(fc_dmin_, T)(p->left, wp);
    const ptrdiff_t ncopy = left < wp ? FC_CAT(fc_dmin_, T)(p->in_w, wp - left) : 0;
    for (ptrdiff_t c = 0; c < p->cg; c++)
        for (ptrdiff_t r = 0; r < nr; r++) {
            T *dst = buf + (c * nr + r) * wp;
            const ptrdiff_t row = r0 + r;
            if (row < 0 || row >= p->in_h) {
                for (ptrdiff_t j = 0; j < wp; j++)
                    dst[j] = 0;
                continue;
            }
            for (ptrdiff_t j = 0; j < left; j++)
                dst[j] = 0;
            if (ncopy > 0)
                __builtin_memcpy(dst + left, x + c * p->x_cs + row * p->x_rs, ncopy * sizeof(T));
            for (ptrdiff_t j = left + ncopy; j < wp; j++)
                dst[j] = 0;
        }
}

/* Task ``task`` of the problem (see _direct_kernels.h for the order): find
 * its image, group, channel block and row band, and run ``rows`` on them
 * (over its band padded into ``scratch`` when the problem has a border). */
static void FC_CAT(fc_direct_task_, T)(const fc_direct_problem *p, ptrdiff_t task,
                                       void (*rows)(const fc_direct_problem *, T *, const T *, const T *,
                                                    ptrdiff_t, ptrdiff_t), T *scratch)
{
    const ptrdiff_t block = task % p->blocks;
    task /= p->blocks;
    const ptrdiff_t band = task % p->bands;
    task /= p->bands;
    const ptrdiff_t g = task % p->groups, n = task / p->groups;
    const ptrdiff_t o0 = g * p->og + block * p->ob, i0 = band * p->band;
    const ptrdiff_t nob = FC_CAT(fc_dmin_, T)(p->ob, p->og - block * p->ob);
    const ptrdiff_t nrows = FC_CAT(fc_dmin_, T)(p->band, p->ho - i0);
    T *out = (T *)p->out + n * p->out_ns + o0 * p->out_cs + i0 * p->out_rs;
    const T *x = (const T *)p->x + n * p->x_ns + g * p->cg * p->x_cs;
    const T *w = (const T *)p->w + o0 * p->cg * p->kh * p->kw;
    fc_direct_problem q = *p;
    if (p->bias)
        q.bias = (const T *)p->bias + o0;
    if (!p->border) {
        rows(&q, out, x + i0 * p->sh * p->x_rs, w, nob, nrows);
        return;
    }
    const ptrdiff_t nr = (nrows - 1) * p->sh + (p->kh - 1) * p->dh + 1;
    FC_CAT(fc_dband_, T)(p, scratch, x, i0 * p->sh - p->top, nr);
    q.x_rs = p->wp;
    q.x_cs = nr * p->wp;
    rows(&q, out, scratch, w, nob, nrows);
}

#undef FC_DSCALAR_SLOTS

#else /* V defined */
/* ---- Vector section: fc_direct_rows_<T><V>, for rows of wo >= FC_LANES
 * outputs at stride 1 or 2. ----
 *
 * Two register blocks, both inlined with constant sizes so their
 * accumulators live in registers:
 *  - channels: nob output channels x nv vectors of one row; per tap each
 *    input vector is loaded once and feeds nob FMAs, each weight is one
 *    broadcast (nob >= 2: a conv layer);
 *  - rows: nr output rows x nv vectors of one channel (nob == 1: depthwise,
 *    single-channel images), where no two outputs share an input vector.
 * A row's last block ends with a vector shifted left to end at wo, as in
 * row.template.c; its overlap with the vector before is summed in the same
 * order, so both write identical values (a one-vector last block overlaps
 * the block before, already finished: its first chunk stores, never adds). */
#if !defined(IT) || !defined(VB) || !defined(FC_ATTR) || !defined(FC_NVW) || !defined(FC_OB)
#error "direct.template.c: the vector section needs IT, VB, FC_OB, FC_NVW and FC_ATTR as well as T and V"
#endif
#if FC_OB < 2 || FC_OB > FC_DIRECT_OB_MAX || FC_NVW < 1 || FC_NVW > 4
#error "direct.template.c: FC_OB must be 2..FC_DIRECT_OB_MAX and FC_NVW 1..4"
#endif

#include "vector.template.c" /* FC_NAME, FC_VEC, FC_LANES, fc_vload_ */

/* The input a tap of column offset ``off`` (b * dw) reads from, in row xr:
 * sw 1 or 2, columns off + j * sw; sw 0 (stride 2 over de-interleaved rows:
 * each row's even columns, then from p->half on its odd ones), column j of
 * the phase ``off`` falls in, from off / 2 on. */
FC_INLINE const T *FC_NAME(fc_dtap_)(const fc_direct_problem *p, const T *xr, ptrdiff_t off, ptrdiff_t sw)
{
    return sw ? xr + off : xr + (off & 1) * p->half + (off >> 1);
}

/* Column positions of nv vectors: i*L, the last at ``last``. */
FC_INLINE void FC_NAME(fc_dpos_)(ptrdiff_t *pos, ptrdiff_t nv, ptrdiff_t last)
{
    for (ptrdiff_t i = 0; i < nv; i++)
        pos[i] = i < nv - 1 ? i * FC_LANES : last;
}

/* Add (or, for the first chunk, store) nb x nv accumulators into out at
 * out + b*bs + pos[i], and for the last chunk the bias (NULL: none; of
 * block row b when ``each``, else bias[0] for all). Every load comes
 * before any store: the shifted last vector overlaps the one before it. */
FC_INLINE void FC_NAME(fc_dflush_)(T *out, ptrdiff_t bs, ptrdiff_t nb, ptrdiff_t nv, const ptrdiff_t *pos,
                                   FC_VEC acc[][FC_NVW], int first, const T *bias, int each)
{
    if (!first)
        for (ptrdiff_t b = 0; b < nb; b++)
            for (ptrdiff_t i = 0; i < nv; i++) {
                FC_VEC old;
                __builtin_memcpy(&old, out + b * bs + pos[i], sizeof old);
                acc[b][i] += old;
            }
    if (bias) {
        const FC_VEC zero = {0};
        for (ptrdiff_t b = 0; b < nb; b++) {
            const FC_VEC k = bias[each ? b : 0] - zero; /* a broadcast (b - 0 keeps -0) */
            for (ptrdiff_t i = 0; i < nv; i++)
                acc[b][i] += k;
        }
    }
    for (ptrdiff_t b = 0; b < nb; b++)
        for (ptrdiff_t i = 0; i < nv; i++)
            __builtin_memcpy(out + b * bs + pos[i], &acc[b][i], sizeof acc[b][i]);
}

/* Channel block: nob channels x nv vectors of one output row. x: the row's
 * window origin for the block's first column. */
FC_INLINE void FC_NAME(fc_dchannels_)(const fc_direct_problem *p, T *out, const T *x, const T *w,
                                      const ptrdiff_t nob, const ptrdiff_t nv, ptrdiff_t last, ptrdiff_t sw)
{
    const ptrdiff_t kh = p->kh, kw = p->kw, cg = p->cg, chunk = fc_direct_chunk(p);
    const ptrdiff_t x_cs = p->x_cs, x_rs = p->dh * p->x_rs, dw = p->dw;
    const FC_VEC zero = {0};
    FC_VEC acc[FC_OB][FC_NVW], v[FC_NVW];
    ptrdiff_t pos[FC_NVW];
    FC_NAME(fc_dpos_)(pos, nv, last);
    for (ptrdiff_t r0 = 0; r0 < cg * kh; r0 += chunk) {
        const ptrdiff_t r1 = r0 + chunk < cg * kh ? r0 + chunk : cg * kh;
        for (ptrdiff_t o = 0; o < nob; o++)
            for (ptrdiff_t i = 0; i < nv; i++)
                acc[o][i] = zero;
        for (ptrdiff_t r = r0; r < r1; r++) {
            const ptrdiff_t c = r / kh, a = r % kh;
            const T *xr = x + c * x_cs + a * x_rs;
            const T *wr = w + (c * kh + a) * kw * nob;
            for (ptrdiff_t b = 0; b < kw; b++) {
                const T *xb = FC_NAME(fc_dtap_)(p, xr, b * dw, sw);
                for (ptrdiff_t i = 0; i < nv; i++)
                    FC_NAME(fc_vload_)(&v[i], xb + pos[i] * (sw ? sw : 1), sw ? sw : 1);
                for (ptrdiff_t o = 0; o < nob; o++) {
                    const FC_VEC k = wr[b * nob + o] - zero; /* a broadcast (x - 0 is x; x + 0 is not, for -0) */
                    for (ptrdiff_t i = 0; i < nv; i++)
                        acc[o][i] += k * v[i];
                }
            }
        }
        FC_NAME(fc_dflush_)(out, p->out_cs, nob, nv, pos, acc, r0 == 0, r1 == cg * kh ? (const T *)p->bias : NULL, 1);
    }
}

/* Row block: nr output rows x nv vectors of one channel. */
FC_INLINE void FC_NAME(fc_drows_)(const fc_direct_problem *p, T *out, const T *x, const T *w,
                                  const ptrdiff_t nr, const ptrdiff_t nv, ptrdiff_t last, ptrdiff_t sw)
{
    const ptrdiff_t kh = p->kh, kw = p->kw, cg = p->cg, chunk = fc_direct_chunk(p);
    const ptrdiff_t x_cs = p->x_cs, x_rs = p->dh * p->x_rs, x_next = p->sh * p->x_rs, dw = p->dw;
    const FC_VEC zero = {0};
    FC_VEC acc[FC_OB][FC_NVW], v;
    ptrdiff_t pos[FC_NVW];
    FC_NAME(fc_dpos_)(pos, nv, last);
    for (ptrdiff_t t0 = 0; t0 < cg * kh; t0 += chunk) {
        const ptrdiff_t t1 = t0 + chunk < cg * kh ? t0 + chunk : cg * kh;
        for (ptrdiff_t r = 0; r < nr; r++)
            for (ptrdiff_t i = 0; i < nv; i++)
                acc[r][i] = zero;
        for (ptrdiff_t t = t0; t < t1; t++) {
            const ptrdiff_t c = t / kh, a = t % kh;
            const T *xr = x + c * x_cs + a * x_rs;
            const T *wr = w + (c * kh + a) * kw;
            for (ptrdiff_t b = 0; b < kw; b++) {
                const FC_VEC k = wr[b] - zero;
                const T *xb = FC_NAME(fc_dtap_)(p, xr, b * dw, sw);
                for (ptrdiff_t r = 0; r < nr; r++)
                    for (ptrdiff_t i = 0; i < nv; i++) {
                        FC_NAME(fc_vload_)(&v, xb + r * x_next + pos[i] * (sw ? sw : 1), sw ? sw : 1);
                        acc[r][i] += k * v;
                    }
            }
        }
        FC_NAME(fc_dflush_)(out, p->out_rs, nr, nv, pos, acc, t0 == 0, t1 == cg * kh ? (const T *)p->bias : NULL, 0);
    }
}

/* One call of a block with constant sizes: ``nb`` (channels or rows) and
 * the vector count ``nv`` become literals, so the block is specialised. */
#define FC_DBLOCK(kind, nb, nv) FC_NAME(kind)(p, out + j, x + j * (sw ? sw : 1), w, nb, nv, last, sw)

/* Every block of one row: the row's ceil(wo / L) vectors split into as
 * few blocks of at most FC_NVW vectors as possible, of near-equal sizes
 * (56 floats in 16-lane vectors: 2 + 2, not 3 + 1, whose one-vector block
 * would spend a broadcast per FMA); the last vector of the last block is
 * shifted to end exactly at wo. */
#define FC_DROW(kind, nb)                                                                        \
    do {                                                                                         \
        const ptrdiff_t nvec = (wo + FC_LANES - 1) / FC_LANES, nblk = (nvec + FC_NVW - 1) / FC_NVW; \
        ptrdiff_t j = 0;                                                                         \
        for (ptrdiff_t blk = 0; blk < nblk; blk++) {                                             \
            const ptrdiff_t nv = nvec / nblk + (blk < nvec % nblk);                              \
            /* < 0 only for a one-vector last block after another block */                       \
            const ptrdiff_t last = blk == nblk - 1 ? wo - j - FC_LANES : (nv - 1) * FC_LANES;    \
            switch (nv) {                                                                        \
            case 4: if (FC_NVW >= 4) FC_DBLOCK(kind, nb, 4 <= FC_NVW ? 4 : 1); break;            \
            case 3: if (FC_NVW >= 3) FC_DBLOCK(kind, nb, 3 <= FC_NVW ? 3 : 1); break;            \
            case 2: FC_DBLOCK(kind, nb, 2); break;                                               \
            default: FC_DBLOCK(kind, nb, 1); break;                                              \
            }                                                                                    \
            j += nv * FC_LANES;                                                                  \
        }                                                                                        \
    } while (0)

/* One output row (channels) or nr rows (one channel), with stride sw
 * constant in the caller (0: stride 2 over de-interleaved rows). */
FC_INLINE void FC_NAME(fc_drow_)(const fc_direct_problem *p, T *out, const T *x, const T *w, ptrdiff_t nob,
                                 ptrdiff_t nr, ptrdiff_t sw)
{
    const ptrdiff_t wo = p->wo;
    if (nob == 1) {
        switch (nr) {
        case FC_OB: FC_DROW(fc_drows_, FC_OB); break;
        default: FC_DROW(fc_drows_, 1); break; /* the band's last rows, one by one */
        }
        return;
    }
    switch (nob) {
#if FC_OB >= 8
    case 8: FC_DROW(fc_dchannels_, 8); break;
#endif
#if FC_OB >= 7
    case 7: FC_DROW(fc_dchannels_, 7); break;
#endif
#if FC_OB >= 6
    case 6: FC_DROW(fc_dchannels_, 6); break;
#endif
#if FC_OB >= 5
    case 5: FC_DROW(fc_dchannels_, 5); break;
#endif
#if FC_OB >= 4
    case 4: FC_DROW(fc_dchannels_, 4); break;
#endif
#if FC_OB >= 3
    case 3: FC_DROW(fc_dchannels_, 3); break;
#endif
    case 2: FC_DROW(fc_dchannels_, 2); break;
    }
}

#undef FC_DROW
#undef FC_DBLOCK

/* Rows [0, nrows) of the block: one row at a time for a channel block,
 * FC_OB rows at a time for a single channel. */
FC_ATTR static void FC_NAME(fc_direct_rows_)(const fc_direct_problem *p, T *out, const T *x, const T *w,
                                             ptrdiff_t nob, ptrdiff_t nrows)
{
    const ptrdiff_t step = nob == 1 ? FC_OB : 1;
    for (ptrdiff_t i = 0; i < nrows; i += step) {
        const ptrdiff_t nr = nrows - i < step ? 1 : step;
        const ptrdiff_t todo = nob == 1 && nrows - i < step ? nrows - i : 1;
        for (ptrdiff_t r = 0; r < todo; r++) {
            T *o = out + (i + r) * p->out_rs;
            const T *xi = x + (i + r) * p->sh * p->x_rs;
            if (p->sw == 1)
                FC_NAME(fc_drow_)(p, o, xi, w, nob, nr, 1);
            else if (p->half)
                FC_NAME(fc_drow_)(p, o, xi, w, nob, nr, 0); /* stride 2 over de-interleaved rows */
            else
                FC_NAME(fc_drow_)(p, o, xi, w, nob, nr, 2);
        }
    }
}

#undef FC_LANES
#undef FC_IVEC
#undef FC_VEC
#undef FC_NAME
#endif /* V */
