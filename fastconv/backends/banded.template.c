/* The banded integer-image kernel's conversions for one integer dtype T
 * (#defined by the includer, _banded_kernels.h, with its name TN; no include
 * guard): a contiguous run of T to float32, and float32 back to T rounded to
 * nearest (ties to even) and saturated, NaN giving 0 (fastconv._dtypes.store's
 * rule). Plain loops the compiler vectorises, once per instruction set where
 * FC_CLONES says so: the results are exact on every one (integers of 16 bits
 * and fewer are float32 values; the rounding below is exact). */
#ifndef T
#error "banded.template.c: #define T (an integer type) and TN (its name) before including it"
#endif

FC_CLONES static void FC_CAT(fc_to_float_, TN)(float *FC_RESTRICT dst, const T *FC_RESTRICT src, ptrdiff_t n)
{
    for (ptrdiff_t k = 0; k < n; k++)
        dst[k] = (float)src[k];
}

/* (t + R) - R with R = 1.5 * 2**23 is t rounded to an integer, ties to
 * even, for |t| < 2**22 (here |t| <= 65535); it vectorises on every
 * instruction set, unlike rintf on baseline SSE2. */
FC_CLONES static void FC_CAT(fc_from_float_, TN)(T *FC_RESTRICT dst, const float *FC_RESTRICT src, ptrdiff_t n,
                                               float lo, float hi)
{
    const float r = 12582912.0f;
    for (ptrdiff_t k = 0; k < n; k++) {
        float t = src[k];
        t = t == t ? t : 0.0f;
        t = t < lo ? lo : t;
        t = t > hi ? hi : t;
        dst[k] = (T)((t + r) - r);
    }
}
