# cython: language_level=3
"""The weight gradient of a layer with few channels per group (depthwise
and its multipliers): per (output channel, input channel, tap) one long
dot product of grad_out with a shifted view of the padded input.

Threads over (output channel, input channel) pairs (OpenMP). Accuracy:
each row of products is added elementwise into a float32 (or float64)
vector of Wo partial sums, one per output column, that is folded into a
float64 total after every image: a float32 sum spans at most Ho products
(the vector add also lets the compiler vectorise without reassociating).
"""
import numpy as np
from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport free, malloc


def weight_grad(const floating[:, :, :, ::1] xp, const floating[:, :, :, ::1] gy, double[:, :, :, ::1] out,
                Py_ssize_t groups, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw, int threads):
    """out (O, C/G, kh, kw) float64 = dL/dw for the padded input xp
    (N, C, Hp, Wp) and grad_out gy (N, O, Ho, Wo), both C-contiguous."""
    cdef Py_ssize_t n = gy.shape[0], o = gy.shape[1], ho = gy.shape[2], wo = gy.shape[3]
    cdef Py_ssize_t cg = out.shape[1], kh = out.shape[2], kw = out.shape[3]
    cdef Py_ssize_t og = o // groups, pair, oc, c, ci, img, i, j, a, b, t
    cdef floating *acc
    cdef const floating *grow
    cdef const floating *xrow
    cdef double s
    if n == 0 or ho == 0 or wo == 0:
        out[...] = 0
        return
    with nogil:
        for pair in prange(o * cg, num_threads=threads, schedule="dynamic"):
            oc = pair // cg
            c = pair % cg
            ci = (oc // og) * cg + c
            acc = <floating *> malloc(kh * kw * wo * sizeof(floating))
            for t in range(kh * kw):
                out[oc, c, t // kw, t % kw] = 0
            for img in range(n):
                for t in range(kh * kw * wo):
                    acc[t] = 0
                for i in range(ho):
                    grow = &gy[img, oc, i, 0]
                    for a in range(kh):
                        for b in range(kw):
                            xrow = &xp[img, ci, i * sh + a * dh, b * dw]
                            t = (a * kw + b) * wo
                            if sw == 1:
                                for j in range(wo):
                                    acc[t + j] = acc[t + j] + grow[j] * xrow[j]
                            else:
                                for j in range(wo):
                                    acc[t + j] = acc[t + j] + grow[j] * xrow[j * sw]
                for t in range(kh * kw):
                    s = 0
                    for j in range(wo):
                        s = s + acc[t * wo + j]
                    out[oc, c, t // kw, t % kw] += s
            free(acc)
