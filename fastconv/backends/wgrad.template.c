/* The dense weight gradient's kernel, written once and instantiated by
 * _wgrad_kernels.h per dtype T and instruction-set variant V (vector
 * width VB bytes, target attribute FC_ATTR, FC_WMC input channels per
 * register block). Not a translation unit of its own (no include guard).
 *
 * One task: output channels [o0, o0 + 4) of one group against every input
 * channel of the group and every tap, over one block of positions.
 * Grad_out and the input are channel-major rows of flat positions (see
 * fastconv/_grad_weight_taps.py): tap t reads the input's stride phase
 * tap_phase[t] from element tap_off[t] on, so each (output channel, input
 * channel, tap) sum is a dot product of two contiguous rows, vectorised
 * over the positions. A register block is 4 output channels x FC_WMC input
 * channels: per vector of positions 4 + FC_WMC loads feed 4 * FC_WMC FMAs.
 *
 * Accuracy: each lane sums block / FC_LANES products in T (a float32 lane
 * at most 256), then the lanes are added in double into the thread's
 * float64 accumulator. */
#ifndef T
#error "wgrad.template.c: #define T, V, IT, VB, FC_ATTR and FC_WMC before including it"
#endif

#include "vector.template.c" /* FC_NAME, FC_VEC, FC_LANES */

/* acc[o * cgp + c] += sum of g[o*gs + i] * x[c*xs + i] for i < nvec*L,
 * o < 4, c < FC_WMC. */
FC_INLINE void FC_NAME(fc_wblock_)(const T *FC_RESTRICT g, ptrdiff_t gs, const T *FC_RESTRICT x, ptrdiff_t xs,
                                   ptrdiff_t nvec, double *acc, ptrdiff_t cgp)
{
    const FC_VEC zero = {0};
    FC_VEC a[4][FC_WMC], gv[4], xv;
    for (int o = 0; o < 4; o++)
        for (int c = 0; c < FC_WMC; c++)
            a[o][c] = zero;
    for (ptrdiff_t v = 0; v < nvec; v++) {
        const ptrdiff_t i = v * FC_LANES;
        for (int o = 0; o < 4; o++)
            __builtin_memcpy(&gv[o], g + o * gs + i, sizeof gv[o]);
        for (int c = 0; c < FC_WMC; c++) {
            __builtin_memcpy(&xv, x + c * xs + i, sizeof xv);
            for (int o = 0; o < 4; o++)
                a[o][c] += gv[o] * xv;
        }
    }
    for (int o = 0; o < 4; o++)
        for (int c = 0; c < FC_WMC; c++) {
            T lanes[FC_LANES];
            double s = 0;
            __builtin_memcpy(lanes, &a[o][c], sizeof lanes);
            for (int l = 0; l < FC_LANES; l++)
                s += lanes[l];
            acc[o * cgp + c] += s;
        }
}

/* Task ``task`` of the problem, numbered (block * groups + group) * (ogp / 4)
 * + channel block; acc: the thread's (ntaps, groups * ogp, cgp) doubles. */
FC_ATTR static void FC_NAME(fc_wgrad_task_)(const fc_wgrad_problem *p, ptrdiff_t task, double *acc)
{
    const ptrdiff_t nob = p->ogp / 4;
    const ptrdiff_t ob = task % nob, g = (task / nob) % p->groups, blk = task / nob / p->groups;
    const ptrdiff_t s0 = blk * p->block;
    const ptrdiff_t s1 = s0 + p->block < p->length ? s0 + p->block : p->length;
    const ptrdiff_t nvec = (s1 - s0) / FC_LANES, row = g * p->ogp + ob * 4;
    const T *gy = (const T *)p->g + row * p->gs + s0;
    for (ptrdiff_t t = 0; t < p->ntaps; t++) {
        const T *x = (const T *)p->x + p->tap_phase[t] * p->xps + g * p->cgp * p->xs + p->tap_off[t] + s0;
        double *out = acc + (t * p->groups * p->ogp + row) * p->cgp;
        for (ptrdiff_t c0 = 0; c0 < p->cgp; c0 += FC_WMC)
            FC_NAME(fc_wblock_)(gy, p->gs, x + c0 * p->xs, p->xs, nvec, out + c0, p->cgp);
    }
}

#undef FC_LANES
#undef FC_IVEC
#undef FC_VEC
#undef FC_NAME
