"""Peak extra memory of one call, per backend: ``python -m fastconv bench --memory``.

"Extra" is what a call needs beyond its inputs and its result: padded
copies, im2col workspaces, transformed tiles, packed weights, BLAS and
thread scratch. It is read from the process's peak resident set (Linux's
VmHWM, reset through /proc/self/clear_refs before each call), so it counts
every allocation that touched memory, C mallocs inside the compiled kernels
and BLAS's buffers included, not only numpy's. glibc's malloc is set to
serve every block above 64 KiB by its own mmap (``M_MMAP_THRESHOLD``),
so a freed workspace goes back to the system and the next call's peak is
its own, not hidden in memory recycled from an earlier call.

Each backend is measured twice on the same problem: ``cold`` (its kernel
caches emptied first: packed weights, spectra, transformed kernels are
built in the call) and ``warm`` (a repeated call with the same weights);
``kept`` is what the cold call left resident (those caches). Linux only;
elsewhere :func:`available` says why not.
"""
import ctypes
import ctypes.util
import gc
import os
import sys
from typing import NamedTuple

import numpy as np

from .. import backends
from .._conv2d import conv2d
from ..planner import plan

_M_MMAP_THRESHOLD = -3  # mallopt parameter (glibc malloc.h)
_THRESHOLD_BYTES = 64 << 10
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

# (x shape, weight shape, conv2d keywords): the conv layers of the
# benchmark (issue 9's list) and two 2-D filters (N = C = O = 1).
CASES = (
    ((8, 64, 56, 56), (64, 64, 3, 3), dict(padding=1)),
    ((1, 256, 14, 14), (256, 256, 3, 3), dict(padding=1)),
    ((8, 64, 56, 56), (128, 64, 3, 3), dict(stride=2, padding=1)),
    ((8, 64, 56, 56), (128, 64, 1, 1), dict()),
    ((1, 3, 224, 224), (64, 3, 7, 7), dict(stride=2, padding=3)),
    ((8, 64, 56, 56), (64, 1, 3, 3), dict(padding=1, groups=64)),
    ((1, 1, 2048, 2048), (1, 1, 5, 5), dict(padding=2)),
    ((1, 1, 1024, 1024), (1, 1, 31, 31), dict(padding=15)),
)


def available():
    """None when peak memory can be measured here, else the reason."""
    if not sys.platform.startswith("linux"):
        return "needs Linux's /proc/self/clear_refs and VmHWM"
    if not os.access("/proc/self/clear_refs", os.W_OK):
        return "/proc/self/clear_refs is not writable"
    return None


def _fix_mmap_threshold():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
    if not libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD_BYTES):
        raise OSError("mallopt(M_MMAP_THRESHOLD) failed")


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def peak_extra(fn, keep_bytes=0):
    """Bytes by which the peak resident set during ``fn()`` exceeds the
    resident set before it, less ``keep_bytes`` (the result's size), and
    the bytes still resident after it (less ``keep_bytes``): (peak, kept)."""
    gc.collect()
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident set
    result = fn()
    peak = _status_kib("VmHWM")
    after = _status_kib("VmRSS")
    del result
    return max(0, (peak - before) * 1024 - keep_bytes), max(0, (after - before) * 1024 - keep_bytes)


class Row(NamedTuple):
    case: str
    backend: str
    cold: int  # peak extra bytes, caches emptied first
    warm: int  # peak extra bytes, repeated call
    kept: int  # bytes the cold call left resident (kernel caches)
    operands: int  # bytes of x, weight and result, for scale
    skipped: str = None


def measure(cases=CASES, dtype=np.float32, names=None):
    """A :class:`Row` per (case, backend); ``names``: the backends (default
    every available one but the slow oracle)."""
    reason = available()
    if reason is not None:
        raise RuntimeError(f"peak memory cannot be measured here: {reason}")
    _fix_mmap_threshold()
    if names is None:
        names = [r.name for r in backends.rows() if r.measure_limit is None and r.name in backends.available_backends()]
    rows = []
    rng = np.random.default_rng(0)
    for xs, ws, kw in cases:
        x = rng.standard_normal(xs).astype(dtype)
        w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
        label = f"x{xs} w{ws} " + " ".join(f"{k}={v}" for k, v in kw.items())
        # A backend auto may not pick here (shape, kernel values) would be
        # measured on whatever it falls back to: skipped, with the reason.
        excluded = {c.name: c.excluded for c in plan(x, w, **kw).candidates}
        for name in names:
            if excluded.get(name):
                rows.append(Row(label, name, 0, 0, 0, 0, skipped=excluded[name]))
                continue
            result_bytes = conv2d(x, w, backend=name, **kw).nbytes  # (also compiles a JIT)
            operands = x.nbytes + w.nbytes + result_bytes
            clear = getattr(backends.get(name), "clear_cache", None)
            if clear is not None:
                clear()
            cold, kept = peak_extra(lambda: conv2d(x, w, backend=name, **kw), result_bytes)
            warm, _ = peak_extra(lambda: conv2d(x, w, backend=name, **kw), result_bytes)
            rows.append(Row(label, name, cold, warm, kept, operands))
    return rows


def format_table(rows):
    """A plain-text table in MiB."""
    mib = 1 << 20
    lines = [f"{'case':<52} {'backend':<10} {'warm MiB':>9} {'cold MiB':>9} {'kept MiB':>9} {'operands MiB':>13}"]
    for r in rows:
        if r.skipped:
            lines.append(f"{r.case:<52} {r.backend:<10} skipped: {r.skipped[:60]}")
        else:
            lines.append(f"{r.case:<52} {r.backend:<10} {r.warm / mib:9.1f} {r.cold / mib:9.1f} {r.kept / mib:9.1f} "
                         f"{r.operands / mib:13.1f}")
    return "\n".join(lines)
