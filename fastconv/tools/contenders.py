"""Who is timed on a benchmark case: ``auto``, every registered fastconv
backend, and the peers (OpenCV, torch, scipy).

Like for like: every contender computes the same-size ("same") 2-D
cross-correlation with a zero (constant) border -- fastconv with
``padding="same", mode="constant"``, cv2.filter2D with BORDER_CONSTANT and
the anchor fastconv's "same" implies, scipy.ndimage with ``origin`` set the
same way, scipy.signal with ``mode="same"`` (or "full" then sliced, for
even kernels), torch with ``padding="same"``.

A contender's ``make(case, X, K)`` returns the zero-argument callable that
is timed, or raises :class:`Skip` with the reason it does not run here.
Backends are read from the registry rows, never named: the slow oracle is
the row with a ``measure_limit`` (it runs on the cases marked ``oracle``
only), and a backend with an ``accepts`` hook skips kernels it refuses.
"""
import warnings
from dataclasses import dataclass, field

import numpy as np

from .. import backends
from .._corr2d import corr2d
from ..settings import get_threads
from .cases import same_pads

# scipy.signal.correlate2d is direct and single-threaded at ~10 ns per
# multiply-add: above this many it needs a second or more per call, and
# many seconds on 4096x4096, so it is skipped there (reported as skipped).
CORRELATE2D_MAX_MACS = 5e7


class Skip(Exception):
    """A contender that does not run on this case/machine; the message says why."""


@dataclass(frozen=True)
class Contender:
    name: str
    kind: str  # "fastconv", "auto" or "peer"
    make: object = field(repr=False)  # (case, X, K) -> zero-argument callable, or raise Skip
    oracle: bool = False  # the slow reference backend (speed-ups are reported against it)


def is_oracle(row):
    """The registry's slow oracle: the backend whose timing is capped."""
    return row.measure_limit is not None


def _fastconv(backend):
    def make(case, X, K):
        if backend != "auto":
            row = backends.row(backend)
            if is_oracle(row) and not case.oracle:
                raise Skip(f"{backend} runs on the small cases only (the oracle)")
            if row.load() is None:
                raise Skip(f"not available: {backends.load_error(backend)}")
            accepts = row.hook("accepts")
            why = accepts(np.asarray(K)[None, None]) if accepts is not None else None
            if why is not None:
                raise Skip(f"{why} (it would only run a direct backend)")
        return lambda: corr2d(X, K, padding="same", mode="constant", backend=backend)

    return make


def _scipy_signal(which):
    def make(case, X, K):
        try:
            import scipy.fft
            import scipy.signal
        except ImportError as exc:
            raise Skip(f"scipy not installed ({exc})") from None
        if which == "correlate2d" and case.macs > CORRELATE2D_MAX_MACS:
            raise Skip(f"skipped: direct and single-threaded, > {CORRELATE2D_MAX_MACS:.0e} multiply-adds "
                       "takes seconds per call")
        (top, _), (left, _) = same_pads(K.shape)
        kh, kw = K.shape
        threads = get_threads()
        if which == "correlate2d":
            fn = lambda mode: scipy.signal.correlate2d(X, K, mode=mode, boundary="fill")  # noqa: E731
        else:
            def fn(mode):
                with scipy.fft.set_workers(threads):  # scipy's FFT path may use the same threads
                    return scipy.signal.correlate(X, K, mode=mode, method="auto")
        if kh % 2 and kw % 2:
            return lambda: fn("same")
        r0, c0 = kh - 1 - top, kw - 1 - left  # even kernels: scipy centres "same" differently
        H, W = X.shape
        return lambda: fn("full")[r0 : r0 + H, c0 : c0 + W]

    return make


def _ndimage(case, X, K):
    try:
        import scipy.ndimage
    except ImportError as exc:
        raise Skip(f"scipy not installed ({exc})") from None
    origin = tuple((k - 1) // 2 - k // 2 for k in K.shape)
    return lambda: scipy.ndimage.correlate(X, K, mode="constant", cval=0.0, origin=origin)


def _cv2(case, X, K):
    try:
        import cv2
    except ImportError as exc:
        raise Skip(f"opencv not installed ({exc})") from None
    cv2.setNumThreads(get_threads())
    (top, _), (left, _) = same_pads(K.shape)
    return lambda: cv2.filter2D(X, -1, K, anchor=(left, top), borderType=cv2.BORDER_CONSTANT)


def _torch(case, X, K):
    try:
        import torch
    except ImportError as exc:
        raise Skip(f"torch not installed ({exc})") from None
    torch.set_num_threads(get_threads())
    weight = torch.from_numpy(np.ascontiguousarray(K))[None, None]  # prepared once, like a layer's weights
    conv2d = torch.nn.functional.conv2d

    warnings.filterwarnings("ignore", message=".*padding='same' with even kernel.*")

    def run():
        with torch.no_grad():
            return conv2d(torch.from_numpy(X)[None, None], weight, padding="same").numpy()[0, 0]

    return run


def contenders():
    """Every fastconv backend (available or not: unavailable ones skip with
    the reason), ``auto``, and the peers, in table order."""
    listed = [Contender("auto", "auto", _fastconv("auto"))]
    listed += [Contender(r.name, "fastconv", _fastconv(r.name), oracle=is_oracle(r)) for r in backends.rows()]
    listed += [
        Contender("cv2.filter2D", "peer", _cv2),
        Contender("torch.conv2d", "peer", _torch),
        Contender("ndimage.correlate", "peer", _ndimage),
        Contender("signal.correlate", "peer", _scipy_signal("correlate")),
        Contender("signal.correlate2d", "peer", _scipy_signal("correlate2d")),
    ]
    return listed


def auto_choice(X, K):
    """The backend ``backend="auto"`` picks for this case's call (or "?")."""
    from ..planner import explain

    try:
        return str(explain(X, K, padding="same", mode="constant").backend)
    except Exception:
        return "?"
