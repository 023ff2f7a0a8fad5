"""A convolution layer that learns its kernel, with its own backward pass.

``Conv2D(kernel_size)`` with 2-D input is the textbook's layer
(``corr2d(x, weight) + bias``); with channels, groups, stride, padding and
dilation it is ``torch.nn.Conv2d`` on NumPy arrays. There is no autograd:
:meth:`Conv2D.backward` computes the gradients analytically with
:func:`fastconv.conv2d_backward`, on the same fast backends as the forward.
"""
from typing import Optional, Union

import numpy as np

from ._conv2d import conv2d
from ._geometry import as_int
from ._typing import ArrayLike, DTypeLike, FloatArray, Padding, Pair
from .grad import conv2d_backward

INITS = ("uniform", "kaiming", "zeros")


def _kernel_pair(kernel_size):
    items = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
    if len(items) != 2:
        raise ValueError(f"kernel_size must be an int or a pair (kh, kw), got {kernel_size!r}")
    pair = tuple(as_int(k, "kernel_size") for k in items)
    if min(pair) < 1:
        raise ValueError(f"kernel_size must be >= 1 on both axes, got {kernel_size!r}")
    return pair


class Conv2D:
    """A 2-D convolution layer: ``y = conv2d(x, weight, bias, ...)``.

    Inputs may be (N, C, H, W), (C, H, W), or (H, W) when in_channels is 1;
    the output has the input's number of dimensions (a 2-D input gives a 2-D
    output when out_channels is 1). Training: ``y = layer(x)``, then
    ``grad_x = layer.backward(dL/dy)``, which stores ``grad_weight`` and
    ``grad_bias`` (overwriting, not accumulating), then ``layer.step(lr)``.

    Parameters
    ----------
    kernel_size : int or (kh, kw)
    in_channels, out_channels : int
        ``weight`` has shape (out_channels, in_channels/groups, kh, kw) and
        ``bias`` (out_channels,), or is None when ``bias=False``.
    bias : bool
        Whether the layer has a bias.
    stride, padding, dilation, groups
        As for :func:`fastconv.conv2d`.
    init : {"uniform", "kaiming", "zeros"}
        "uniform" is the textbook's layer: weights uniform on [0, 1), bias
        zero. "kaiming" is ``torch.nn.Conv2d``'s default: weight and bias
        uniform on [-b, b) with b = 1/sqrt(in_channels/groups * kh * kw).
        "zeros" sets everything to zero.
    seed : int or numpy.random.Generator, optional
        Makes the init reproducible.
    dtype : float32 or float64
        The parameters' dtype (default float64).
    backend : str
        Passed to :func:`fastconv.conv2d` and :func:`fastconv.conv2d_backward`.

    Raises
    ------
    ValueError
        A bad kernel size, channel count, groups that do not divide the
        channels, an unknown init or dtype.

    Examples
    --------
    The chapter's "Learning a Kernel": learn ``[[1, -1]]`` from an edge image.

    >>> X = np.ones((6, 8)); X[:, 2:6] = 0
    >>> Y = fastconv.corr2d(X, [[1.0, -1.0]])
    >>> layer = fastconv.Conv2D((1, 2), bias=False, seed=0)
    >>> for _ in range(10):
    ...     grad_x = layer.backward(2 * (layer(X) - Y))
    ...     layer.step(3e-2)
    >>> np.round(layer.weight.reshape(-1), 1)   # close to the kernel that made Y
    array([ 1. , -0.9])
    """

    weight: FloatArray
    bias: Optional[FloatArray]
    grad_weight: Optional[FloatArray]
    grad_bias: Optional[FloatArray]

    def __init__(
        self,
        kernel_size: Pair,
        in_channels: int = 1,
        out_channels: int = 1,
        *,
        bias: bool = True,
        stride: Pair = 1,
        padding: Padding = 0,
        dilation: Pair = 1,
        groups: int = 1,
        init: str = "uniform",
        seed: Union[int, np.random.Generator, None] = None,
        dtype: DTypeLike = np.float64,
        backend: str = "auto",
    ) -> None:
        kh, kw = _kernel_pair(kernel_size)
        in_channels = as_int(in_channels, "in_channels")
        out_channels = as_int(out_channels, "out_channels")
        groups = as_int(groups, "groups")
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"in_channels and out_channels must be >= 1, got {in_channels} and {out_channels}")
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"groups={groups} must divide both in_channels={in_channels} and out_channels={out_channels}"
            )
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; accepted: " + ", ".join(map(repr, INITS)))
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        self.kernel_size = (kh, kw)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.backend = backend
        shape = (out_channels, in_channels // groups, kh, kw)
        rng = np.random.default_rng(seed)
        if init == "uniform":
            weight, b = rng.random(shape), np.zeros(out_channels)
        elif init == "kaiming":
            bound = 1.0 / np.sqrt(shape[1] * kh * kw)
            weight = rng.uniform(-bound, bound, shape)
            b = rng.uniform(-bound, bound, out_channels)
        else:
            weight, b = np.zeros(shape), np.zeros(out_channels)
        self.weight = weight.astype(dtype)
        self.bias = b.astype(dtype) if bias else None
        self.grad_weight = None
        self.grad_bias = None
        self._x = None

    def _as_conv_input(self, x):
        x = np.asarray(x)
        if x.ndim == 2:
            if self.in_channels != 1:
                raise ValueError(f"a 2-D input needs in_channels=1; this layer has in_channels={self.in_channels}")
            return x[None]
        return x

    def forward(self, x: ArrayLike) -> FloatArray:
        """The layer's output for x; remembers x for :meth:`backward`.

        Parameters
        ----------
        x : array_like
            (N, C, H, W), (C, H, W), or (H, W) when in_channels is 1.

        Returns
        -------
        ndarray
            The convolution plus bias, with x's number of dimensions.

        Raises
        ------
        ValueError
            x of the wrong ndim or channel count.

        Examples
        --------
        >>> layer = fastconv.Conv2D(2, init="zeros")
        >>> layer.forward(np.ones((3, 3)))
        array([[0., 0.],
               [0., 0.]])
        """
        x = np.asarray(x)
        y = conv2d(
            self._as_conv_input(x), self.weight, self.bias, stride=self.stride, padding=self.padding,
            dilation=self.dilation, groups=self.groups, backend=self.backend,
        )
        self._x = x
        return y[0] if x.ndim == 2 and self.out_channels == 1 else y

    __call__ = forward

    def backward(self, grad_out: ArrayLike) -> FloatArray:
        """Gradients for the last :meth:`forward`'s input.

        Stores ``grad_weight`` and ``grad_bias`` (overwriting, not accumulating).

        Parameters
        ----------
        grad_out : array_like
            dL/dy, of the last output's shape.

        Returns
        -------
        ndarray
            dL/dx, in x's shape.

        Raises
        ------
        RuntimeError
            No forward pass yet.
        ValueError
            grad_out of the wrong shape.

        Examples
        --------
        >>> layer = fastconv.Conv2D(2, seed=0)
        >>> y = layer(np.ones((3, 3)))
        >>> layer.backward(np.ones_like(y)).shape, layer.grad_bias
        ((3, 3), array([4.]))
        """
        if self._x is None:
            raise RuntimeError("backward() called before forward()")
        x = self._x
        grad_out = np.asarray(grad_out)
        if x.ndim == 2 and self.out_channels == 1:
            grad_out = grad_out[None]
        grads = conv2d_backward(
            self._as_conv_input(x), self.weight, grad_out, stride=self.stride, padding=self.padding,
            dilation=self.dilation, groups=self.groups, backend=self.backend,
            needs=("x", "weight", "bias") if self.bias is not None else ("x", "weight"),
        )
        self.grad_weight = grads.weight.astype(self.weight.dtype, copy=False)
        self.grad_bias = None if self.bias is None else grads.bias.astype(self.bias.dtype, copy=False)
        return grads.x[0] if x.ndim == 2 else grads.x

    def step(self, lr: float) -> None:
        """One plain SGD step: ``param -= lr * grad`` for the weight and bias.

        Parameters
        ----------
        lr : float
            The learning rate.

        Raises
        ------
        RuntimeError
            No gradients yet (call :meth:`backward` first).

        Examples
        --------
        >>> layer = fastconv.Conv2D(1, init="zeros")
        >>> y = layer(np.ones((2, 2)))
        >>> _ = layer.backward(-np.ones((2, 2)))
        >>> layer.step(0.5)
        >>> layer.weight, layer.bias
        (array([[[[2.]]]]), array([2.]))
        """
        if self.grad_weight is None:
            raise RuntimeError("step() called before backward()")
        self.weight -= lr * self.grad_weight
        if self.bias is not None:
            self.bias -= lr * self.grad_bias

    def zero_grad(self) -> None:
        self.grad_weight = None
        self.grad_bias = None

    def parameters(self) -> list[FloatArray]:
        """[weight] or [weight, bias]: the arrays :meth:`step` updates in place."""
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def __repr__(self) -> str:
        return (
            f"Conv2D(kernel_size={self.kernel_size}, in_channels={self.in_channels}, "
            f"out_channels={self.out_channels}, bias={self.bias is not None}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, groups={self.groups})"
        )
