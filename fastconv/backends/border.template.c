/* Output rows over a zero or mapped border without a padded copy, for dtype T
 * (#defined by the includer, _corr_kernels.h, once per dtype after the row
 * kernels' function pointers; no include guard).
 *
 * Only the kernel rows over input rows take part (the border's rows add
 * exact zeros when w is finite, which the caller checks: 0 * inf is NaN);
 * the columns whose windows lie inside the input go to the row kernel
 * fc_corr_row_<T>, reading the input in place, and the few next to the
 * left/right border to fc_edge_<T>. One input channel per group (the
 * caller checks), so a kernel row's taps are one run of off[] and w.
 *
 * A mapped border (reflect, symmetric, edge, wrap: every padded position
 * is a copy of an input element, L->rmap/cmap say which) reads each tap
 * from its source: the interior columns of a row go to the row kernel with
 * per-row tap offsets where the kernel rows are not consecutive input rows
 * (the rows near the top and bottom), the columns next to the left/right
 * border to fc_mapped_edge_<T>. Every tap reads an input element, so any w
 * (NaN, inf) gives what a padded copy gives. */
#ifndef T
#error "border.template.c: #define T (float or double) before including it"
#endif

/* One output next to the left/right border: the taps of ``rows`` kernel
 * rows (from x's first valid row) whose column col0 + b*dw is inside the
 * input, in partial sums of L->blk taps as the row kernel forms them. With
 * one input channel a partial sum is whole kernel rows (L->blk is a
 * multiple of kw, see _cython._block), so the valid columns [b0, b1) are
 * found once and the tap loop has no test. */
static T FC_CAT(fc_edge_, T)(const T *x, const T *w, ptrdiff_t rows, ptrdiff_t col0, const fc_layout *L)
{
    /* (no integer division when dw is 1: it costs tens of cycles, a few
     * per border output of every row) */
    const ptrdiff_t kw = L->kw, dw = L->dw, per = L->blk / kw, last = L->w - 1 - col0;
    const ptrdiff_t b0 = col0 >= 0 ? 0 : dw == 1 ? -col0 : (-col0 + dw - 1) / dw;
    const ptrdiff_t fit = last < 0 ? 0 : (dw == 1 ? last : last / dw) + 1;
    const ptrdiff_t b1 = fit < kw ? fit : kw;
    T acc = 0, part = 0;
    if (b1 <= b0)
        return 0;
    for (ptrdiff_t a = 0, left = per; a < rows; a++) {
        const T *xa = x + a * L->dh * L->xr + col0;
        const T *wa = w + a * kw;
        for (ptrdiff_t b = b0; b < b1; b++)
            part += wa[b] * xa[b * dw];
        if (--left == 0) {
            acc += part;
            part = 0;
            left = per;
        }
    }
    return acc + part;
}

/* One output next to the left/right border of a mapped border: padded row
 * p0 under kernel row 0, padded column q0 under kernel column 0; partial
 * sums of L->blk taps as the row kernel forms them. */
static T FC_CAT(fc_mapped_edge_, T)(const T *x, const T *w, ptrdiff_t p0, ptrdiff_t q0, const fc_layout *L)
{
    T acc = 0, part = 0;
    ptrdiff_t count = 0;
    for (ptrdiff_t a = 0; a < L->kh; a++) {
        const T *row = x + L->rmap[p0 + a * L->dh] * L->xr;
        for (ptrdiff_t b = 0; b < L->kw; b++) {
            part += w[a * L->kw + b] * row[L->cmap[q0 + b * L->dw]];
            if (++count == L->blk) {
                acc += part;
                part = 0;
                count = 0;
            }
        }
    }
    return acc + part;
}

/* The bias of the border columns [0, jl) and [jr, wo) of row y (the row
 * kernel added it to the others). */
static void FC_CAT(fc_add_edges_, T)(T *y, const fc_layout *L, T b)
{
    for (ptrdiff_t j = 0; j < L->jl; j++)
        y[j] += b;
    for (ptrdiff_t j = L->jr; j < L->wo; j++)
        y[j] += b;
}

static void FC_CAT(fc_mapped_row_, T)(T *y, const T *x, const T *w, const ptrdiff_t *off, const fc_layout *L,
                                      ptrdiff_t i, const T *bias)
{
    const ptrdiff_t p0 = i * L->sh;
    const T *xs = x + L->rmap[p0] * L->xr; /* kernel row 0's source row */
    if (L->rsel[i] >= 0)
        off = L->roff + L->rsel[i] * L->ntaps;
    if (L->jr > L->jl)
        FC_CAT(fc_corr_row_, T)(y + L->jl, L->jr - L->jl, xs + L->jl * L->sw - L->left, L->sw, off, w, L->ntaps,
                                L->blk, bias);
    for (ptrdiff_t j = 0; j < L->jl; j++)
        y[j] = FC_CAT(fc_mapped_edge_, T)(x, w, p0, j * L->sw, L);
    for (ptrdiff_t j = L->jr; j < L->wo; j++)
        y[j] = FC_CAT(fc_mapped_edge_, T)(x, w, p0, j * L->sw, L);
    if (bias)
        FC_CAT(fc_add_edges_, T)(y, L, *bias);
}

/* The L->bufw padded columns an output row reads of input row src, into
 * buf: the input's own columns copied; for a mapped border the others are
 * the input elements L->cmap names, for a zero border they are left alone
 * (zeros: the buffer is allocated zeroed and no row writes them). */
static void FC_CAT(fc_fill_row_, T)(T *buf, const T *src, const fc_layout *L)
{
    const ptrdiff_t n = L->bufw;
    const ptrdiff_t lo = L->left < n ? L->left : n; /* [0, lo): before the input */
    ptrdiff_t hi = L->left + L->w < n ? L->left + L->w : n; /* [lo, hi): the input's columns */
    if (hi > lo)
        memcpy(buf + lo, src + (lo - L->left), (size_t)(hi - lo) * sizeof(T));
    else
        hi = lo;
    if (L->cmap) {
        for (ptrdiff_t q = 0; q < lo; q++)
            buf[q] = src[L->cmap[q]];
        for (ptrdiff_t q = hi; q < n; q++)
            buf[q] = src[L->cmap[q]];
    }
}

/* Output rows [i0, i1) of one plane through this thread's buffer buf
 * (narrow rows, where the border columns would cost as much as the rest
 * of the row): the padded input rows they read are formed in buf once,
 * L->bufw columns each (a zero border's rows outside the input as zeros),
 * then each output row is one row-kernel call over the whole row with the
 * buffer's tap offsets boff, exactly as over a padded copy. y: the plane's
 * output, x its input, w its taps. */
static void FC_CAT(fc_band_, T)(T *y, const T *x, const T *w, const fc_layout *L, ptrdiff_t i0, ptrdiff_t i1,
                                T *buf, const ptrdiff_t *boff, const T *bias)
{
    const ptrdiff_t span = (L->kh - 1) * L->dh + 1;
    const ptrdiff_t first = i0 * L->sh, rows = (i1 - 1 - i0) * L->sh + span;
    for (ptrdiff_t r = 0; r < rows; r++) {
        if (L->sh > span && r % L->sh >= span)
            continue; /* between two windows: no output reads it */
        const ptrdiff_t p = first + r, row = L->rmap ? L->rmap[p] : p - L->top;
        if (row >= 0 && row < L->h)
            FC_CAT(fc_fill_row_, T)(buf + r * L->bufw, x + row * L->xr, L);
        else
            memset(buf + r * L->bufw, 0, (size_t)L->bufw * sizeof(T));
    }
    ptrdiff_t i = i0;
    /* one channel (bands always are); stride 1, row dilation 1 and one
     * partial sum: sliding blocks share each input load among output rows */
    const ptrdiff_t lanes = sizeof(T) == 4 ? fc_lanes_float : fc_lanes_double;
    if (L->sh == 1 && L->dh == 1 && L->ntaps <= L->blk && lanes && L->wo >= lanes && (L->sw == 1 ||
                                                                                    (FC_HAVE_SHUFFLE2 && L->sw == 2))) {
        FC_CAT(fc_slide_rows_, T)(y + i0 * L->orow, L->orow, i1 - i0, L->wo, buf, L->bufw, L->sw, boff, w, L->kh,
                                  L->kw, L->blk, bias);
        return;
    }
    for (; i < i1; i++)
        FC_CAT(fc_corr_row_, T)(y + i * L->orow, L->wo, buf + (i - i0) * L->sh * L->bufw, L->sw, boff, w, L->ntaps,
                                L->blk, bias);
}

/* Output row i of one plane: y its first element, x the plane's input
 * (the unpadded one), w the output channel's taps, bias NULL or its bias. */
static void FC_CAT(fc_padded_row_, T)(T *y, const T *x, const T *w, const ptrdiff_t *off, const fc_layout *L,
                                      ptrdiff_t i, const T *bias)
{
    if (L->rmap) {
        FC_CAT(fc_mapped_row_, T)(y, x, w, off, L, i, bias);
        return;
    }
    const ptrdiff_t r = i * L->sh - L->top; /* the input row under kernel row 0 */
    ptrdiff_t a0 = 0, a1 = L->kh;
    if (r < 0)
        a0 = (-r + L->dh - 1) / L->dh;
    if (r + (L->kh - 1) * L->dh > L->h - 1)
        a1 = r <= L->h - 1 ? (L->h - 1 - r) / L->dh + 1 : 0;
    if (a1 <= a0) {
        for (ptrdiff_t j = 0; j < L->wo; j++)
            y[j] = 0;
        if (bias)
            for (ptrdiff_t j = 0; j < L->wo; j++)
                y[j] += *bias;
        return;
    }
    const T *xs = x + (r + a0 * L->dh) * L->xr;
    const T *ws = w + a0 * L->kw;
    if (L->jr > L->jl) /* off[] of one channel starts with kernel row 0's taps: valid from any first row */
        FC_CAT(fc_corr_row_, T)(y + L->jl, L->jr - L->jl, xs + L->jl * L->sw - L->left, L->sw, off, ws,
                                (a1 - a0) * L->kw, L->blk, bias);
    for (ptrdiff_t j = 0; j < L->jl; j++)
        y[j] = FC_CAT(fc_edge_, T)(xs, ws, a1 - a0, j * L->sw - L->left, L);
    for (ptrdiff_t j = L->jr; j < L->wo; j++)
        y[j] = FC_CAT(fc_edge_, T)(xs, ws, a1 - a0, j * L->sw - L->left, L);
    if (bias)
        FC_CAT(fc_add_edges_, T)(y, L, *bias);
}
