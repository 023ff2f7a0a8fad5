/* The winograd drivers for one dtype T (#defined by _winograd_kernels.h):
 * split the tile rows of a chunk over OpenMP threads and call the tile-row
 * kernels of winograd.template.c through the pointers wg_init() set.
 *
 * Sizes are in elements; strides in elements. A chunk is the tile rows
 * [r0, r1) (tile row r = image * th + row of tiles) times tw consecutive
 * tile columns; its transformed planes have P = (r1 - r0) * tw columns.
 */
#ifndef T
#error "winograd_drivers.template.c: #define T (float or double) before including it"
#endif

static ptrdiff_t WG_CAT(wg_chunk_, T)(ptrdiff_t tasks, int threads)
{
    ptrdiff_t chunk = tasks / (8 * (ptrdiff_t)threads);
    return chunk < 1 ? 1 : chunk;
}

/* V[(k*t + l), c, p] for every channel c < C and tile p of the chunk.
 * x: image 0, channel 0, row 0, column 0 of the input, hp x wp; ``top``
 * zero rows above it (and any number below) are read as zeros, not from a
 * copy; col0: the input column of the chunk's first window column
 * (negative over a left zero border). */
static int WG_CAT(wg_input_, T)(int m, const T *x, ptrdiff_t x_ns, ptrdiff_t x_cs, ptrdiff_t x_rs, ptrdiff_t C,
                                ptrdiff_t hp, ptrdiff_t wp, ptrdiff_t top, ptrdiff_t col0, ptrdiff_t th, ptrdiff_t r0,
                                ptrdiff_t r1, ptrdiff_t tw, T *V, int threads)
{
    const int t = m + 2;
    const ptrdiff_t ext = tw * m + 2, P = (r1 - r0) * tw, tasks = (r1 - r0) * C;
    const ptrdiff_t chunk = WG_CAT(wg_chunk_, T)(tasks, threads);
    int failed = 0;
    (void)chunk;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        T *tmp = (T *)malloc(sizeof(T) * (size_t)((t + 1) * ext));
        if (tmp == NULL) {
#pragma omp atomic write
            failed = 1;
        } else {
            T *zero = tmp + t * ext;
            for (ptrdiff_t c = 0; c < ext; c++)
                zero[c] = 0;
        }
#pragma omp for schedule(dynamic, chunk)
        for (ptrdiff_t task = 0; task < tasks; task++) {
            if (tmp == NULL)
                continue;
            const ptrdiff_t r = r0 + task / C, c = task % C;
            const ptrdiff_t n = r / th, ti = r % th;
            WG_CAT(wg_in_row_, T)(m, x + n * x_ns + c * x_cs, x_rs, ti * m - top, hp, col0, wp, tw, tmp,
                                  tmp + t * ext, V + c * P + (r - r0) * tw, C * P);
        }
        free(tmp);
    }
    return failed ? -1 : 0;
}

/* out[n, o, i, j] from M[(k*t + l), o, p] for every output channel o < O.
 * out: the chunk's first output column (image 0, channel 0, row 0); ho, wo:
 * rows and columns to write from there (wo <= tw*m). */
static int WG_CAT(wg_output_, T)(int m, const T *M, ptrdiff_t O, ptrdiff_t th, ptrdiff_t r0, ptrdiff_t r1,
                                 ptrdiff_t tw, T *out, ptrdiff_t o_ns, ptrdiff_t o_cs, ptrdiff_t o_rs, ptrdiff_t ho,
                                 ptrdiff_t wo, int threads)
{
    const int t = m + 2;
    const ptrdiff_t P = (r1 - r0) * tw, tasks = (r1 - r0) * O;
    const ptrdiff_t chunk = WG_CAT(wg_chunk_, T)(tasks, threads);
    int failed = 0;
    (void)chunk;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        T *tmp = (T *)malloc(sizeof(T) * (size_t)(t * tw * m));
        if (tmp == NULL) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, chunk)
        for (ptrdiff_t task = 0; task < tasks; task++) {
            if (tmp == NULL)
                continue;
            const ptrdiff_t r = r0 + task / O, o = task % O;
            const ptrdiff_t n = r / th, ti = r % th;
            const ptrdiff_t rows = ho - ti * m < m ? ho - ti * m : m;
            WG_CAT(wg_out_row_, T)(m, M + o * P + (r - r0) * tw, O * P, tw, tmp,
                                   out + n * o_ns + o * o_cs + ti * m * o_rs, o_rs, rows, wo);
        }
        free(tmp);
    }
    return failed ? -1 : 0;
}

/* One input channel per output (C/groups == 1: 2-D and depthwise): per tile
 * row, transform the input channel once, then for each of its og outputs
 * multiply by that output's transformed kernel u[o, :] (t*t values) and
 * transform back; no workspace beyond one tile row per thread. ``top``,
 * ``left``: zero rows and columns before x, read as zeros (see wg_input). */
static int WG_CAT(wg_fused_, T)(int m, const T *x, ptrdiff_t x_ns, ptrdiff_t x_cs, ptrdiff_t x_rs, ptrdiff_t hp,
                                ptrdiff_t wp, ptrdiff_t top, ptrdiff_t left, const T *u, ptrdiff_t groups,
                                ptrdiff_t og, ptrdiff_t n_img,
                                ptrdiff_t th, ptrdiff_t tw, T *out, ptrdiff_t o_ns, ptrdiff_t o_cs, ptrdiff_t o_rs,
                                ptrdiff_t ho, ptrdiff_t wo, int threads)
{
    const int t = m + 2, t2 = t * t;
    const ptrdiff_t ext = tw * m + 2, tasks = n_img * th * groups;
    const ptrdiff_t chunk = WG_CAT(wg_chunk_, T)(tasks, threads);
    int failed = 0;
    (void)chunk;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        /* tmp (t*ext) + zero row (ext) + V and M tile rows (t2*tw each) */
        T *buf = (T *)malloc(sizeof(T) * (size_t)((t + 1) * ext + 2 * t2 * tw));
        if (buf == NULL) {
#pragma omp atomic write
            failed = 1;
        } else {
            for (ptrdiff_t c = 0; c < ext; c++)
                buf[t * ext + c] = 0;
        }
#pragma omp for schedule(dynamic, chunk)
        for (ptrdiff_t task = 0; task < tasks; task++) {
            if (buf == NULL)
                continue;
            T *tmp = buf, *zero = buf + t * ext, *v = zero + ext, *mm = v + t2 * tw;
            const ptrdiff_t g = task % groups, r = task / groups;
            const ptrdiff_t n = r / th, ti = r % th;
            const ptrdiff_t rows = ho - ti * m < m ? ho - ti * m : m;
            WG_CAT(wg_in_row_, T)(m, x + n * x_ns + g * x_cs, x_rs, ti * m - top, hp, -left, wp, tw, tmp, zero, v,
                                  tw);
            for (ptrdiff_t q = 0; q < og; q++) {
                const ptrdiff_t o = g * og + q;
                WG_CAT(wg_scale_row_, T)(t2, u + o * t2, v, tw, mm);
                WG_CAT(wg_out_row_, T)(m, mm, tw, tw, tmp, out + n * o_ns + o * o_cs + ti * m * o_rs, o_rs, rows,
                                       wo);
            }
        }
        free(buf);
    }
    return failed ? -1 : 0;
}
