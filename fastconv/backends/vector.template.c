/* The vector type of one template instantiation and its strided load,
 * shared by row.template.c and direct.template.c (each #includes this
 * inside its vector section, with T, V, IT and VB defined).
 *
 * Defines FC_NAME(base) (base pasted with T and V), the vector types
 * FC_VEC / FC_IVEC, FC_LANES, and FC_NAME(fc_vload_). The includer
 * #undefs FC_NAME, FC_VEC, FC_IVEC and FC_LANES when done. */
#define FC_NAME(base) FC_CAT(base, FC_CAT(T, V))
#define FC_VEC FC_NAME(fc_vec_)
#define FC_IVEC FC_NAME(fc_ivec_)
#define FC_LANES FC_NAME(FC_LANES_)

typedef T FC_VEC __attribute__((vector_size(VB)));
typedef IT FC_IVEC __attribute__((vector_size(VB)));
enum { FC_LANES = VB / sizeof(T) };

/* *v = p[0], p[sw], ..., p[(L-1)*sw] for sw in {1, 2}. For sw == 2 the
 * second load starts at p + L - 1, so nothing past p[2L-2] is read.
 * (Result through a pointer: returning a wide vector draws -Wpsabi.) */
FC_INLINE void FC_NAME(fc_vload_)(FC_VEC *v, const T *p, ptrdiff_t sw)
{
    const ptrdiff_t L = FC_LANES;
    FC_VEC hi;
    __builtin_memcpy(v, p, sizeof hi);
    if (sw == 1)
        return;
    __builtin_memcpy(&hi, p + L - 1, sizeof hi);
    FC_IVEC even; /* indices into v:hi of p[0], p[2], ... */
    for (ptrdiff_t i = 0; i < L; i++)
        even[i] = i < L / 2 ? 2 * i : 2 * i + 1;
    *v = FC_SHUFFLE2(*v, hi, even);
}
