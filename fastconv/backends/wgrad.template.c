/* The dense weight gradient's kernel, written once and instantiated by
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
        for (int c = 0; c < mc; c++) {
            /* Halves added in T down to 4 lanes (a vector add each), then
             * those in double: the fold costs little beside the block. */
            T lanes[FC_LANES];
            double s = 0;
            __builtin_memcpy(lanes, &a[o][c], sizeof lanes);
            for (int half = FC_LANES / 2; half >= 4; half /= 2)
                for (int l = 0; l < half; l++)
                    lanes[l] += lanes[l + half];
            for (int l = 0; l < (FC_LANES < 4 ? FC_LANES : 4); l++)
                s += lanes[l];
            acc[o * cgp + c] += s;
        }
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

#undef FC_LANES
#undef FC_IVEC
#undef FC_VEC
#undef FC_NAME
