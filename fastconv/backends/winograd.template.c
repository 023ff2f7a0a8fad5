/* Winograd F(m x m, 3 x 3) transforms of one tile row, written once and
 * instantiated by _winograd_kernels.h for each dtype and instruction set:
 * not a translation unit of its own, included once per instantiation (so no
 * include guard).
 *
 * Parameters, #defined by the includer before each #include:
 *   T        float or double;
 *   V        the instruction-set suffix (_avx512, _avx2, _sse2, _portable);
 *   WG_ATTR  the attribute every function is compiled with (may be empty).
 *
 * The loops are plain C for the auto-vectoriser: the vertical passes run
 * along contiguous image rows, the horizontal ones along consecutive tiles
 * (contiguous in the transformed planes, stride m in the row buffers).
 *
 * Each transformed value is computed as a signed sum whose expression tree
 * uses every input once with the magnitude of its matrix coefficient (no
 * cancelling sub-expressions), so its rounding error is at most
 * gamma_n * (|B^T| |d|) with n the row's non-zeros (+1 for a non-power-of-two
 * coefficient): the bound winograd.py's error_bound() assumes.
 */
#ifndef T
#error "winograd.template.c: #define T (float or double) before including it"
#endif

/* ---- 1-D transforms: B^T d (input) and A^T m (output) ----
 * F(2,3): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0; 0 1 -1 -1].
 * F(4,3) (Lavin & Gray's points 0, +-1, +-2, inf):
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1] */
#define WG_BT2(d0, d1, d2, d3, r0, r1, r2, r3) \
    do { r0 = (d0) - (d2); r1 = (d1) + (d2); r2 = (d2) - (d1); r3 = (d1) - (d3); } while (0)
#define WG_AT2(m0, m1, m2, m3, y0, y1) \
    do { y0 = ((m0) + (m1)) + (m2); y1 = ((m1) - (m2)) - (m3); } while (0)
#define WG_BT4(d0, d1, d2, d3, d4, d5, r0, r1, r2, r3, r4, r5)         \
    do {                                                               \
        r0 = ((T)4 * (d0) - (T)5 * (d2)) + (d4);                       \
        r1 = ((d3) + (d4)) - (T)4 * ((d1) + (d2));                     \
        r2 = ((d4) - (d3)) + (T)4 * ((d1) - (d2));                     \
        r3 = ((d4) - (d2)) + (T)2 * ((d3) - (d1));                     \
        r4 = ((d4) - (d2)) - (T)2 * ((d3) - (d1));                     \
        r5 = ((T)4 * (d1) - (T)5 * (d3)) + (d5);                       \
    } while (0)
#define WG_AT4(m0, m1, m2, m3, m4, m5, y0, y1, y2, y3)                 \
    do {                                                               \
        y0 = ((m0) + ((m1) + (m2))) + ((m3) + (m4));                   \
        y1 = ((m1) - (m2)) + (T)2 * ((m3) - (m4));                     \
        y2 = ((m1) + (m2)) + (T)4 * ((m3) + (m4));                     \
        y3 = (((m1) - (m2)) + (T)8 * ((m3) - (m4))) + (m5);            \
    } while (0)

/* Input transform of one tile row of one channel, F(2,3) or F(4,3).
 * x: the channel's first element, ``hp`` rows (row stride rs) of ``wp``
 * columns. The tile row's windows start at input row ``row0`` and column
 * ``col0``, either of which may lie before the input (a zero border the
 * caller did not copy in: top and left padding); rows and columns outside
 * x read as zero (``zero``: a zeroed row of at least ext elements), and no
 * pointer outside x is formed. tmp: t*ext scratch, ext = tw*m + 2.
 * Writes V[(k*t + l)*vs + j] for tile j < tw, k, l < t. */
WG_ATTR static void WG_CAT(wg_in_row_, WG_CAT(T, V))(int m, const T *x, ptrdiff_t rs, ptrdiff_t row0, ptrdiff_t hp,
                                                    ptrdiff_t col0, ptrdiff_t wp, ptrdiff_t tw,
                                                    T *WG_RESTRICT tmp, const T *zero, T *WG_RESTRICT v,
                                                    ptrdiff_t vs)
{
    const int t = m + 2;
    const ptrdiff_t ext = tw * m + 2;
    /* window columns [lo, hi) lie inside x (at input column col0 + c) */
    ptrdiff_t lo = -col0 < 0 ? 0 : -col0, hi = wp - col0;
    lo = lo < ext ? lo : ext;
    hi = hi < lo ? lo : hi > ext ? ext : hi;
    const ptrdiff_t ncols = hi - lo;
    const T *r[6];
    for (int a = 0; a < 6; a++) {
        const ptrdiff_t row = row0 + a;
        r[a] = a < t && row >= 0 && row < hp && ncols > 0 ? x + row * rs + (col0 + lo) : zero;
    }
    /* vertical pass: tmp[k][lo + c] = sum_a B^T[k][a] * x[a][col0 + lo + c] */
    if (m == 4) {
        const T *WG_RESTRICT x0 = r[0], *WG_RESTRICT x1 = r[1], *WG_RESTRICT x2 = r[2];
        const T *WG_RESTRICT x3 = r[3], *WG_RESTRICT x4 = r[4], *WG_RESTRICT x5 = r[5];
        T *WG_RESTRICT t0 = tmp + lo, *WG_RESTRICT t1 = t0 + ext, *WG_RESTRICT t2 = t0 + 2 * ext;
        T *WG_RESTRICT t3 = t0 + 3 * ext, *WG_RESTRICT t4 = t0 + 4 * ext, *WG_RESTRICT t5 = t0 + 5 * ext;
        for (ptrdiff_t c = 0; c < ncols; c++)
            WG_BT4(x0[c], x1[c], x2[c], x3[c], x4[c], x5[c], t0[c], t1[c], t2[c], t3[c], t4[c], t5[c]);
    } else {
        const T *WG_RESTRICT x0 = r[0], *WG_RESTRICT x1 = r[1], *WG_RESTRICT x2 = r[2], *WG_RESTRICT x3 = r[3];
        T *WG_RESTRICT t0 = tmp + lo, *WG_RESTRICT t1 = t0 + ext, *WG_RESTRICT t2 = t0 + 2 * ext;
        T *WG_RESTRICT t3 = t0 + 3 * ext;
        for (ptrdiff_t c = 0; c < ncols; c++)
            WG_BT2(x0[c], x1[c], x2[c], x3[c], t0[c], t1[c], t2[c], t3[c]);
    }
    for (int k = 0; k < t; k++) {
        for (ptrdiff_t c = 0; c < lo; c++)
            tmp[k * ext + c] = 0;
        for (ptrdiff_t c = hi; c < ext; c++)
            tmp[k * ext + c] = 0;
    }
    /* horizontal pass: V[k][l][j] = sum_b tmp[k][j*m + b] * B[b][l] */
    for (int k = 0; k < t; k++) {
        const T *WG_RESTRICT s = tmp + k * ext;
        T *WG_RESTRICT v0 = v + (ptrdiff_t)(k * t) * vs;
        if (m == 4) {
            T *WG_RESTRICT v1 = v0 + vs, *WG_RESTRICT v2 = v0 + 2 * vs, *WG_RESTRICT v3 = v0 + 3 * vs;
            T *WG_RESTRICT v4 = v0 + 4 * vs, *WG_RESTRICT v5 = v0 + 5 * vs;
            for (ptrdiff_t j = 0; j < tw; j++) {
                const T *q = s + 4 * j;
                WG_BT4(q[0], q[1], q[2], q[3], q[4], q[5], v0[j], v1[j], v2[j], v3[j], v4[j], v5[j]);
            }
        } else {
            T *WG_RESTRICT v1 = v0 + vs, *WG_RESTRICT v2 = v0 + 2 * vs, *WG_RESTRICT v3 = v0 + 3 * vs;
            for (ptrdiff_t j = 0; j < tw; j++) {
                const T *q = s + 2 * j;
                WG_BT2(q[0], q[1], q[2], q[3], v0[j], v1[j], v2[j], v3[j]);
            }
        }
    }
}

/* Output transform of one tile row of one output channel.
 * M[(k*t + l)*ms + j]: the transformed products of tile j < tw. tmp: t*tw*m
 * scratch. Writes out[i*rs + c] for i < rows (<= m), c < wo (<= tw*m). */
WG_ATTR static void WG_CAT(wg_out_row_, WG_CAT(T, V))(int m, const T *M, ptrdiff_t ms, ptrdiff_t tw,
                                                     T *WG_RESTRICT tmp, T *out, ptrdiff_t rs, ptrdiff_t rows,
                                                     ptrdiff_t wo)
{
    const int t = m + 2;
    const ptrdiff_t ext = tw * m;
    /* horizontal pass: tmp[k][j*m + c] = sum_l M[k][l][j] * A[l][c] */
    for (int k = 0; k < t; k++) {
        const T *WG_RESTRICT m0 = M + (ptrdiff_t)(k * t) * ms;
        T *WG_RESTRICT s = tmp + k * ext;
        if (m == 4) {
            const T *WG_RESTRICT m1 = m0 + ms, *WG_RESTRICT m2 = m0 + 2 * ms, *WG_RESTRICT m3 = m0 + 3 * ms;
            const T *WG_RESTRICT m4 = m0 + 4 * ms, *WG_RESTRICT m5 = m0 + 5 * ms;
            for (ptrdiff_t j = 0; j < tw; j++)
                WG_AT4(m0[j], m1[j], m2[j], m3[j], m4[j], m5[j], s[4 * j], s[4 * j + 1], s[4 * j + 2], s[4 * j + 3]);
        } else {
            const T *WG_RESTRICT m1 = m0 + ms, *WG_RESTRICT m2 = m0 + 2 * ms, *WG_RESTRICT m3 = m0 + 3 * ms;
            for (ptrdiff_t j = 0; j < tw; j++)
                WG_AT2(m0[j], m1[j], m2[j], m3[j], s[2 * j], s[2 * j + 1]);
        }
    }
    /* vertical pass: out[i][c] = sum_k A^T[i][k] * tmp[k][c] */
    const T *WG_RESTRICT s0 = tmp, *WG_RESTRICT s1 = tmp + ext, *WG_RESTRICT s2 = tmp + 2 * ext;
    const T *WG_RESTRICT s3 = tmp + 3 * ext;
    if (m == 4) {
        const T *WG_RESTRICT s4 = tmp + 4 * ext, *WG_RESTRICT s5 = tmp + 5 * ext;
        T *WG_RESTRICT o0 = out, *WG_RESTRICT o1 = out + rs, *WG_RESTRICT o2 = out + 2 * rs;
        T *WG_RESTRICT o3 = out + 3 * rs;
        if (rows == 4) {
            for (ptrdiff_t c = 0; c < wo; c++)
                WG_AT4(s0[c], s1[c], s2[c], s3[c], s4[c], s5[c], o0[c], o1[c], o2[c], o3[c]);
        } else {
            for (ptrdiff_t c = 0; c < wo; c++) {
                T y0, y1, y2, y3;
                WG_AT4(s0[c], s1[c], s2[c], s3[c], s4[c], s5[c], y0, y1, y2, y3);
                (void)y3;
                o0[c] = y0;
                if (rows > 1) o1[c] = y1;
                if (rows > 2) o2[c] = y2;
            }
        }
    } else {
        T *WG_RESTRICT o0 = out, *WG_RESTRICT o1 = out + rs;
        if (rows == 2) {
            for (ptrdiff_t c = 0; c < wo; c++)
                WG_AT2(s0[c], s1[c], s2[c], s3[c], o0[c], o1[c]);
        } else {
            for (ptrdiff_t c = 0; c < wo; c++)
                o0[c] = (s0[c] + s1[c]) + s2[c];
        }
    }
}

/* Elementwise products of one tile row (one input channel per output):
 * M[k][j] = u[k] * V[k][j] for k < t*t, j < tw (plane stride tw in both). */
WG_ATTR static void WG_CAT(wg_scale_row_, WG_CAT(T, V))(int t2, const T *WG_RESTRICT u, const T *WG_RESTRICT v,
                                                       ptrdiff_t tw, T *WG_RESTRICT M)
{
    for (int k = 0; k < t2; k++) {
        const T uk = u[k];
        for (ptrdiff_t j = 0; j < tw; j++)
            M[k * tw + j] = uk * v[k * tw + j];
    }
}
