"""``scipy.signal.correlate2d`` / ``convolve2d`` on fastconv (see the package docstring).

scipy.signal's ``mode`` is the output size ("full", "valid", "same"),
``boundary`` the border ("fill" with ``fillvalue``, "wrap", "symm") and the
result dtype numpy's promotion of the two inputs. In "same" mode the
output is centred on the "full" one: correlate2d pads ``(k-1)//2`` before,
convolve2d (flipped kernel) ``k//2``. In "valid" mode the inputs are
swapped when the second is the larger in every dimension (correlate2d
then returns the swapped correlation rotated by 180 degrees).
correlate2d conjugates its second input (after the swap), as
scipy.signal does.
"""
import numpy as np

from .. import _corr2d
from .._dtypes import as_array

BOUNDARIES = {"fill": "constant", "pad": "constant", "wrap": "wrap", "circular": "wrap", "symm": "symmetric",
              "symmetric": "symmetric"}
_SIZES = ("full", "valid", "same")


def _inputs(in1, in2, mode, boundary):
    a, b = as_array(in1, "in1", complex_ok=True), as_array(in2, "in2", complex_ok=True)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"correlate2d/convolve2d inputs must both be 2-D arrays (got shapes {a.shape} and "
                         f"{b.shape}; fastconv.compat does not filter N-D arrays)")
    if mode not in _SIZES:
        raise ValueError(f"Acceptable mode flags are 'valid', 'same', or 'full'; got {mode!r}")
    if boundary not in BOUNDARIES:
        raise ValueError(f"Acceptable boundary flags are 'fill', 'circular' (or 'wrap'), and 'symmetric' "
                         f"(or 'symm'); got {boundary!r}")
    if a.size == 0 or b.size == 0:
        raise ValueError(f"in1 {a.shape} and in2 {b.shape} must not be empty")
    return a, b


def _run(a, b, mode, boundary, fillvalue, before):
    """Correlate ``a`` with kernel ``b``; ``before(k)``: the 'same' padding before."""
    if mode == "full":
        pads = tuple((k - 1, k - 1) for k in b.shape)
    elif mode == "same":
        pads = tuple((before(k), k - 1 - before(k)) for k in b.shape)
    else:
        pads = ((0, 0), (0, 0))
    result = np.result_type(a, b)
    padded = any(p for pair in pads for p in pair)
    mode_ = BOUNDARIES[boundary] if padded else "constant"
    cval = float(fillvalue) if padded and mode_ == "constant" else 0.0
    compute = result if result.kind in "fc" and result.itemsize >= 4 else np.float64
    y = _corr2d.corr2d(a, b, padding=pads, mode=mode_, cval=cval, dtype=compute)
    if result.kind in "iu":
        info = np.iinfo(result)
        y = np.clip(np.rint(y, out=y), info.min, info.max, out=y)
    return y.astype(result, copy=False)


def _valid_swap(a, b):
    """scipy's rule: in 'valid' mode one input must contain the other."""
    if all(m >= n for m, n in zip(a.shape, b.shape)):
        return False
    if all(m <= n for m, n in zip(a.shape, b.shape)):
        return True
    raise ValueError(f"For 'valid' mode, one must be at least as large as the other in every dimension "
                     f"(got {a.shape} and {b.shape})")


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """``scipy.signal.correlate2d``."""
    a, b = _inputs(in1, in2, mode, boundary)
    if mode == "valid" and _valid_swap(a, b):  # scipy's rule, conjugating the (new) second input
        return _run(b, np.conj(a), mode, boundary, fillvalue, None)[::-1, ::-1].copy()
    return _run(a, np.conj(b), mode, boundary, fillvalue, lambda k: (k - 1) // 2)


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """``scipy.signal.convolve2d``."""
    a, b = _inputs(in1, in2, mode, boundary)
    if mode == "valid" and _valid_swap(a, b):
        a, b = b, a
    return _run(a, b[::-1, ::-1], mode, boundary, fillvalue, lambda k: k // 2)
