"""The type aliases the public signatures use (fastconv ships ``py.typed``).

Arguments are as loose as the checks in ``_args`` accept; results are NumPy
arrays of a floating dtype (float32 or float64, per the dtype table).
"""
from typing import Any, Sequence, Union

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.floating[Any]]
ImageArray = npt.NDArray[Any]
"""An image function's result: float, complex or (with ``dtype=``) integer."""

Pair = Union[int, Sequence[int]]
"""An int for both axes, or (h, w)."""

Padding = Union[int, str, Sequence[int], Sequence[Sequence[int]]]
"""An int, (ph, pw), ((top, bottom), (left, right)), "valid", "same" or "full"."""

DTypeLike = npt.DTypeLike
