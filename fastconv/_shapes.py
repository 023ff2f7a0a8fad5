"""Output-shape arithmetic, shared by every entry point and by the docs.

Per axis, an input of length n padded by p_before + p_after and read by a
kernel of length k with dilation d and stride s gives

    floor((n + p_before + p_after - d*(k-1) - 1) / s) + 1

outputs; the kernel's footprint on the input is d*(k-1) + 1.
"""


def span(k, d):
    """Length of the input window a kernel of length k with dilation d covers."""
    return d * (k - 1) + 1


def output_length(n, k, *, padding=(0, 0), stride=1, dilation=1):
    """Output length along one axis; may be <= 0 when the kernel does not fit."""
    padded = n + padding[0] + padding[1]
    return (padded - span(k, dilation)) // stride + 1


def output_shape(input_shape, kernel_shape, *, padding=0, stride=1, dilation=1):
    """Shape of ``corr2d(X, K, padding=..., stride=..., dilation=...)``.

    ``input_shape`` and ``kernel_shape`` are (h, w) pairs; the parameters
    take every form :func:`fastconv.corr2d` takes. Raises ValueError when
    the kernel is larger than the padded input.
    """
    from ._params import Geometry

    geo = Geometry.from_args(tuple(input_shape), tuple(kernel_shape), padding, stride, dilation)
    return geo.out_shape
