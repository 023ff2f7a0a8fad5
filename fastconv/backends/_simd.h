/* What every compiled kernel header shares: which instruction-set variants
 * this compiler can build, the portable spellings of inline / restrict /
 * the two-vector shuffle, name pasting for the templates, and OpenMP's
 * thread limit. Included by _corr_kernels.h (cython backend) and
 * _direct_kernels.h (direct backend).
 *
 * Portability: wheels must run on any x86-64 CPU, so nothing is compiled
 * with -march=native. With GCC on x86-64 each kernel is compiled once per
 * instruction set with its native vector width: AVX-512 (64-byte vectors),
 * AVX2+FMA (32) and baseline SSE2 (16); the header's init function picks
 * the best one the running CPU supports. (target_clones cannot do this: one
 * source means one vector width, and 64-byte vectors lowered to AVX2 or SSE2
 * ran 10x slower than native-width code.) Other compilers and architectures
 * get one portable build.
 */
#ifndef FASTCONV_SIMD_H
#define FASTCONV_SIMD_H

#include <stddef.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef FASTCONV_OPENMP
#define FASTCONV_OPENMP 0
#endif

/* -DFC_PORTABLE_ONLY builds only the portable variant, for the compiler's own
 * -march (used to test each variant's code on one machine). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(FC_PORTABLE_ONLY)
#define FC_MULTI_ISA 1
#endif

#if defined(__GNUC__) /* GCC and Clang: also their portable vector extensions */
#define FC_VECTOR 1
#define FC_INLINE static inline __attribute__((always_inline))
#define FC_RESTRICT __restrict__
#else
#define FC_INLINE static inline
#define FC_RESTRICT
#endif

/* Stride-2 rows de-interleave two loads with one two-vector shuffle
 * (vpermt2ps/pd on AVX-512); GCC spells it __builtin_shuffle, Clang
 * differently, so Clang takes the scalar path for strides. */
#if defined(__GNUC__) && !defined(__clang__)
#define FC_HAVE_SHUFFLE2 1
#define FC_SHUFFLE2(a, b, mask) __builtin_shuffle(a, b, mask)
#else
#define FC_HAVE_SHUFFLE2 0
#define FC_SHUFFLE2(a, b, mask) (a) /* never reached */
#endif

/* Name pasting for the templates: FC_CAT(fc_block_, T) is fc_block_float
 * once T is #defined as float (the extra level expands T first). */
#define FC_CAT_(a, b) a##b
#define FC_CAT(a, b) FC_CAT_(a, b)

static int fc_omp_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* The calling thread's number in its team (0 outside a parallel region and
 * in a serial build). */
static inline int fc_omp_thread_num(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* OpenMP's own cap on a team's size (INT_MAX unless OMP_THREAD_LIMIT says
 * otherwise; 1 in a serial build). */
static inline int fc_omp_thread_limit(void)
{
#ifdef _OPENMP
    return omp_get_thread_limit();
#else
    return 1;
#endif
}

/* Fork safety. libgomp's thread pool does not survive fork(): in a child of
 * a process that ran an OpenMP team, the next parallel region waits forever
 * for threads that no longer exist. So the Cython layer marks the first
 * team it starts (fc_team_ran) and, in such a child, runs serially
 * (fc_forked_child), never entering OpenMP. Each extension (its own copy of
 * these statics) registers the handler once, from its init function. */
static volatile int fc_team_ran = 0;
static volatile int fc_forked_child = 0;
static inline void fc_mark_team(void) { fc_team_ran = 1; }

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
static void fc_after_fork_in_child(void)
{
    if (fc_team_ran)
        fc_forked_child = 1;
}
static inline void fc_register_fork_handler(void)
{
    static int registered = 0;
    if (!registered) {
        registered = 1;
        pthread_atfork(NULL, NULL, fc_after_fork_in_child);
    }
}
#else
static inline void fc_register_fork_handler(void) {}
#endif

#endif /* FASTCONV_SIMD_H */
