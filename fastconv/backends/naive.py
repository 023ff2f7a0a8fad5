"""The oracle: the textbook's cross-correlation, as plain Python loops.

Every other backend is tested against this file, so it stays simple enough
to check by reading. One output element is the sum of the elementwise
product of the kernel with the input window under it (the textbook's
``(X[i:i + h, j:j + w] * K).sum()``), with the window's rows and columns
stepped by the dilation and its origin stepped by the stride. Sums are
accumulated in float64 and rounded once to the output dtype.
"""
import numpy as np


def correlate(xp, w, out, stride, dilation, groups):
    (sh, sw), (dh, dw) = stride, dilation
    n_images, out_channels, ho, wo = out.shape
    cin_per_group = w.shape[1]
    o_per_group = out_channels // groups
    kh, kw = w.shape[2], w.shape[3]
    w64 = w.astype(np.float64)
    for n in range(n_images):
        for o in range(out_channels):
            c0 = (o // o_per_group) * cin_per_group
            channels = xp[n, c0 : c0 + cin_per_group].astype(np.float64)
            for i in range(ho):
                for j in range(wo):
                    window = channels[:, i * sh : i * sh + (kh - 1) * dh + 1 : dh, j * sw : j * sw + (kw - 1) * dw + 1 : dw]
                    out[n, o, i, j] = (window * w64[o]).sum()


def describe():
    return {"kind": "pure Python loops (the oracle)"}
