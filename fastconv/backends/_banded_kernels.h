/* The banded integer-image kernel (_banded.pyx): the cython backend's row
 * kernels (_corr_kernels.h) plus the integer <-> float32 conversions of
 * banded.template.c for each integer dtype it takes. */
#ifndef FASTCONV_BANDED_KERNELS_H
#define FASTCONV_BANDED_KERNELS_H

#include "_corr_kernels.h"

/* One clone per instruction set, picked at load time (an ifunc): the
 * conversions are auto-vectorised loops, which target_clones compiles at
 * each set's native width (unlike the row kernels' explicit vectors). */
#if defined(FC_MULTI_ISA)
#define FC_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FC_CLONES
#endif

#define T uint8_t
#define TN uint8
#include "banded.template.c"
#undef TN
#undef T

#define T int8_t
#define TN int8
#include "banded.template.c"
#undef TN
#undef T

#define T uint16_t
#define TN uint16
#include "banded.template.c"
#undef TN
#undef T

#define T int16_t
#define TN int16
#include "banded.template.c"
#undef TN
#undef T

#endif /* FASTCONV_BANDED_KERNELS_H */
