/* The weight gradient's kernels, dense and depthwise (below), written once and instantiated by
 * _wgrad_kernels.h per dtype T and instruction-set variant V (vector
 * width VB bytes, target attribute FC_ATTR, a register block of FC_WMO
 * output x FC_WMC input channels, both even). Not a translation unit of its own (no include guard).
 *
 * One task: FC_WMO output channels of one group against every input
 * channel of the group and every tap, over one block of positions.
 * Grad_out and the input are channel-major rows of flat positions (see
 * fastconv/_grad_weight_taps.py): tap t reads the input's stride phase
 * tap_phase[t] from element tap_off[t] on, so each (output channel, input
 * channel, tap) sum is a dot product of two contiguous rows, vectorised
 * over the positions. A register block is FC_WMO output channels x FC_WMC
 * input channels: per vector of positions FC_WMO + FC_WMC loads feed
 * FC_WMO * FC_WMC FMAs.
 *
 * Accuracy: each lane sums block / FC_LANES products in T (a float32 lane
 * at most 256), the lanes are folded pairwise in T down to 4 and those
 * added in double into the thread's float64 accumulator. */
#ifndef T
#error "wgrad.template.c: #define T, V, IT, VB, FC_ATTR, FC_WMO and FC_WMC before including it"
#endif

#include "vector.template.c" /* FC_NAME, FC_VEC, FC_LANES */

/* The sum of a vector's lanes: halves added in T down to 4 lanes (a vector
 * add each), then those in double; the fold costs little beside a block. */
FC_INLINE double FC_NAME(fc_wfold_)(FC_VEC v)
{
    T lanes[FC_LANES];
    double s = 0;
    __builtin_memcpy(lanes, &v, sizeof lanes);
    for (int half = FC_LANES / 2; half >= 4; half /= 2)
        for (int l = 0; l < half; l++)
            lanes[l] += lanes[l + half];
    for (int l = 0; l < (FC_LANES < 4 ? FC_LANES : 4); l++)
        s += lanes[l];
    return s;
}

/* acc[o * cgp + c] += sum of g[o*gs + i] * x[c*xs + i] for i < nvec*L,
 * o < mo, c < mc (constants where it is called: the block is specialised). */
FC_INLINE void FC_NAME(fc_wblock_)(const T *FC_RESTRICT g, ptrdiff_t gs, const T *FC_RESTRICT x, ptrdiff_t xs,
                                   ptrdiff_t nvec, double *acc, ptrdiff_t cgp, const int mo, const int mc)
{
    const FC_VEC zero = {0};
    FC_VEC a[FC_WMO][FC_WMC], gv[FC_WMO], xv;
    for (int o = 0; o < mo; o++)
        for (int c = 0; c < mc; c++)
            a[o][c] = zero;
    for (ptrdiff_t v = 0; v < nvec; v++) {
        const ptrdiff_t i = v * FC_LANES;
        for (int o = 0; o < mo; o++)
            __builtin_memcpy(&gv[o], g + o * gs + i, sizeof gv[o]);
        for (int c = 0; c < mc; c++) {
            __builtin_memcpy(&xv, x + c * xs + i, sizeof xv);
            for (int o = 0; o < mo; o++)
                a[o][c] += gv[o] * xv;
        }
    }
    for (int o = 0; o < mo; o++)
        for (int c = 0; c < mc; c++)
            acc[o * cgp + c] += FC_NAME(fc_wfold_)(a[o][c]);
}

/* Input channels [c0, c1) (a multiple of 2 apart) of one output channel
 * block (mo rows) and one tap. */
FC_INLINE void FC_NAME(fc_wrow_)(const fc_wgrad_problem *p, const T *gy, const T *x, ptrdiff_t nvec, double *out,
                                 ptrdiff_t c0, ptrdiff_t c1, const int mo)
{
    for (; c0 + FC_WMC <= c1; c0 += FC_WMC)
        FC_NAME(fc_wblock_)(gy, p->gs, x + c0 * p->xs, p->xs, nvec, out + c0, p->cgp, mo, FC_WMC);
    for (; c0 < c1; c0 += 2)
        FC_NAME(fc_wblock_)(gy, p->gs, x + c0 * p->xs, p->xs, nvec, out + c0, p->cgp, mo, 2);
}

/* Task ``task`` of the problem, numbered (((image * blocks + block) * groups
 * + group) * ctiles + ctile) * rblocks + rblock: input channels [ctile * p->ctile, + p->ctile)
 * of the group (whose rows of the block stay in L2 across the tasks of one
 * ctile) against output channels [rblock * FC_WGRAD_ROWS, + FC_WGRAD_ROWS)
 * (fewer in the last: ogp is even), in register blocks of at most FC_WMO;
 * acc: the thread's (ntaps, groups * ogp, cgp) doubles. */
FC_ATTR static void FC_NAME(fc_wgrad_task_)(const fc_wgrad_problem *p, ptrdiff_t task, double *acc)
{
    const ptrdiff_t nob = (p->ogp + FC_WGRAD_ROWS - 1) / FC_WGRAD_ROWS, nct = (p->cgp + p->ctile - 1) / p->ctile;
    const ptrdiff_t nblk = (p->length + p->block - 1) / p->block;
    const ptrdiff_t ob = task % nob, ct = (task / nob) % nct, g = (task / nob / nct) % p->groups;
    const ptrdiff_t blk = task / nob / nct / p->groups % nblk, img = task / nob / nct / p->groups / nblk;
    const ptrdiff_t s0 = blk * p->block;
    const ptrdiff_t s1 = s0 + p->block < p->length ? s0 + p->block : p->length;
    const ptrdiff_t nvec = (s1 - s0) / FC_LANES, o1 = ob * FC_WGRAD_ROWS + FC_WGRAD_ROWS;
    const ptrdiff_t c0 = ct * p->ctile, c1 = c0 + p->ctile < p->cgp ? c0 + p->ctile : p->cgp;
    for (ptrdiff_t o0 = ob * FC_WGRAD_ROWS; o0 < o1 && o0 < p->ogp; o0 += FC_WMO) {
        const ptrdiff_t left = (o1 < p->ogp ? o1 : p->ogp) - o0, mo = left < FC_WMO ? left : FC_WMO;
        const ptrdiff_t row = g * p->ogp + o0;
        const T *gy = (const T *)p->g + img * p->g_is + row * p->gs + s0;
        for (ptrdiff_t t = 0; t < p->ntaps; t++) {
            const T *x = (const T *)p->x + img * p->x_is + p->tap_phase[t] * p->xps + g * p->cgp * p->xs +
                         p->tap_off[t] + s0;
            double *out = acc + (t * p->groups * p->ogp + row) * p->cgp;
            switch (mo) {
#if FC_WMO >= 6
            case 6: FC_NAME(fc_wrow_)(p, gy, x, nvec, out, c0, c1, 6); break;
#endif
#if FC_WMO >= 4
            case 4: FC_NAME(fc_wrow_)(p, gy, x, nvec, out, c0, c1, 4); break;
#endif
            default: FC_NAME(fc_wrow_)(p, gy, x, nvec, out, c0, c1, 2); break;
            }
        }
    }
}


/* ---- The depthwise weight gradient (few channels per group: no channel
 * block to register-tile). One task is one (output channel, input channel)
 * pair over every image and tap. Per image its input plane is copied into
 * the thread's scratch as sh x sw stride phases of hq x wq, and its
 * grad_out plane into a grid of rows of wq (zeros past the outputs), so
 * that, as for the dense kernel, tap (a, b) is a dot product of the grid
 * with one phase read from a flat offset on: vectorised over positions, up
 * to FC_DW_TAPS taps per pass over the grid with their sums in registers.
 * Grid points that are no output position add 0 * (a pixel): a non-finite
 * input may turn that into NaN, which the caller detects and recomputes.
 *
 * Accuracy: each lane sums at most FC_DW_BLOCK products of one image in T,
 * then folds into the pair's float64 sums, as the dense kernel does. */
#ifndef FC_DW_TAPS
#define FC_DW_TAPS 8
#define FC_DW_BLOCK 256
#endif

/* out[t] += sum over the nvec vectors of grid * src[t], t < nt (a constant
 * where it is called). */
FC_INLINE void FC_NAME(fc_dwtaps_)(const T *FC_RESTRICT grid, const T *const *src, ptrdiff_t nvec, double *out,
                                   const int nt)
{
    const FC_VEC zero = {0};
    for (ptrdiff_t v0 = 0; v0 < nvec; v0 += FC_DW_BLOCK) {
        const ptrdiff_t v1 = v0 + FC_DW_BLOCK < nvec ? v0 + FC_DW_BLOCK : nvec;
        FC_VEC acc[FC_DW_TAPS], gv, xv;
        for (int t = 0; t < nt; t++)
            acc[t] = zero;
        for (ptrdiff_t v = v0; v < v1; v++) {
            __builtin_memcpy(&gv, grid + v * FC_LANES, sizeof gv);
            for (int t = 0; t < nt; t++) {
                __builtin_memcpy(&xv, src[t] + v * FC_LANES, sizeof xv);
                acc[t] += gv * xv;
            }
        }
        for (int t = 0; t < nt; t++)
            out[t] += FC_NAME(fc_wfold_)(acc[t]);
    }
}

/* Stride phase (ra, rb) of the padded input's read part (hp x wp: its
 * rows and columns i*sh + ra, j*sw + rb) into ph (hq x wq, then zeros to
 * p->plane), from the h x w plane x inside a zero border of p->top rows
 * and p->left columns. */
FC_INLINE void FC_NAME(fc_dwphase_)(const fc_dwgrad_problem *p, const T *x, ptrdiff_t ra, ptrdiff_t rb, T *ph)
{
    const ptrdiff_t sh = p->sh, sw = p->sw, wq = p->wq;
    /* columns v whose padded column v*sw + rb is an input column, [v0, v1) */
    const ptrdiff_t cend = p->left + p->w < p->wp ? p->left + p->w : p->wp;
    ptrdiff_t v0 = p->left > rb ? (p->left - rb + sw - 1) / sw : 0, v1 = cend > rb ? (cend - rb + sw - 1) / sw : 0;
    v0 = v0 < wq ? v0 : wq;
    v1 = v1 < wq ? v1 : wq;
    v1 = v1 > v0 ? v1 : v0;
    for (ptrdiff_t u = 0; u < p->hq; u++) {
        T *dst = ph + u * wq;
        const ptrdiff_t row = u * sh + ra - p->top; /* the input row, if any */
        ptrdiff_t v = 0;
        if (row >= 0 && row < p->h && u * sh + ra < p->hp && v1 > v0) {
            const T *src = x + row * p->w + (v0 * sw + rb - p->left);
            for (; v < v0; v++)
                dst[v] = 0;
            if (sw == 1)
                __builtin_memcpy(dst + v0, src, (size_t)(v1 - v0) * sizeof(T));
            else
                for (; v < v1; v++)
                    dst[v] = src[(v - v0) * sw];
            v = v1;
        }
        for (; v < wq; v++)
            dst[v] = 0;
    }
    for (ptrdiff_t k = p->hq * wq; k < p->plane; k++)
        ph[k] = 0;
}

/* Pair ``pair`` (output channel pair / cg, input channel pair % cg of its
 * group): out[t] (t < kh*kw, float64) = the pair's tap sums over all images.
 * scratch: sh*sw phase planes of p->plane elements, then the grid (p->length). */
FC_ATTR static void FC_NAME(fc_dwgrad_pair_)(const fc_dwgrad_problem *p, ptrdiff_t pair, T *scratch, double *out)
{
    const ptrdiff_t oc = pair / p->cg, ci = (oc / p->og) * p->cg + pair % p->cg;
    const ptrdiff_t ntaps = p->kh * p->kw, nvec = p->length / FC_LANES;
    T *grid = scratch + p->sh * p->sw * p->plane;
    for (ptrdiff_t t = 0; t < ntaps; t++)
        out[t] = 0;
    for (ptrdiff_t img = 0; img < p->n; img++) {
        const T *x = (const T *)p->x + (img * p->c + ci) * p->h * p->w;
        const T *g = (const T *)p->g + (img * p->o + oc) * p->ho * p->wo;
        for (ptrdiff_t ra = 0; ra < p->sh; ra++)
            for (ptrdiff_t rb = 0; rb < p->sw; rb++)
                FC_NAME(fc_dwphase_)(p, x, ra, rb, scratch + (ra * p->sw + rb) * p->plane);
        for (ptrdiff_t i = 0; i < p->ho; i++) {
            __builtin_memcpy(grid + i * p->wq, g + i * p->wo, (size_t)p->wo * sizeof(T));
            for (ptrdiff_t j = p->wo; j < p->wq; j++)
                grid[i * p->wq + j] = 0;
        }
        for (ptrdiff_t k = p->ho * p->wq; k < p->length; k++)
            grid[k] = 0;
        for (ptrdiff_t t0 = 0; t0 < ntaps; t0 += FC_DW_TAPS) {
            const int nt = ntaps - t0 < FC_DW_TAPS ? (int)(ntaps - t0) : FC_DW_TAPS;
            const T *src[FC_DW_TAPS];
            for (int t = 0; t < nt; t++) {
                const ptrdiff_t a = (t0 + t) / p->kw, b = (t0 + t) % p->kw;
                const ptrdiff_t ph = ((a * p->dh) % p->sh) * p->sw + (b * p->dw) % p->sw;
                src[t] = scratch + ph * p->plane + ((a * p->dh) / p->sh) * p->wq + (b * p->dw) / p->sw;
            }
            switch (nt) { /* the tap count a constant: the sums stay in registers */
            case 8: FC_NAME(fc_dwtaps_)(grid, src, nvec, out + t0, 8); break;
            case 7: FC_NAME(fc_dwtaps_)(grid, src, nvec, out + t0, 7); break;
            case 6: FC_NAME(fc_dwtaps_)(grid, src, nvec, out + t0, 6); break;
            case 5: FC_NAME(fc_dwtaps_)(grid, src, nvec, out + t0, 5); break;
            case 4: FC_NAME(fc_dwtaps_)(grid, src, nvec, out + t0, 4); break;
            case 3: FC_NAME(fc_dwtaps_)(grid, src, nvec, out + t0, 3); break;
            case 2: FC_NAME(fc_dwtaps_)(grid, src, nvec, out + t0, 2); break;
            default: FC_NAME(fc_dwtaps_)(grid, src, nvec, out + t0, 1); break;
            }
        }
    }
}

#undef FC_LANES
#undef FC_IVEC
#undef FC_VEC
#undef FC_NAME
