"""Buffers kept between calls, one set per thread, for arrays a call makes
and drops: the float copy of an integer colour image, the float result of
an integer-output call, the separable backend's row-filtered band.

A fresh array of tens of MiB costs its page faults on first touch (about
5 ms for 25 MiB on the VMs this was measured on, as much as filtering a
1080p colour frame); a buffer this thread used before is already mapped.
:func:`take` hands out a slot's buffer and removes it, so a nested call on
the same thread gets a fresh array; :func:`give_back` returns it once the
call is done with it. A slot holds at most the workspace cap
(``FASTCONV_WORKSPACE_MB``); larger arrays are allocated each time. So a
thread keeps up to one buffer per slot until it ends.
"""
import math
import threading

import numpy as np

from .settings import get_workspace_limit

_local = threading.local()  # .slots: slot name -> a 1-D uint8 buffer


def _slots():
    slots = getattr(_local, "slots", None)
    if slots is None:
        slots = _local.slots = {}
    return slots


def take(slot, shape, dtype):
    """An uninitialised C-contiguous ``dtype`` array of ``shape``, on this
    thread's buffer ``slot`` when it fits the workspace cap (pass it to
    :func:`give_back` when done), else a new array."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > get_workspace_limit():
        return np.empty(shape, dtype=dtype)
    buffer = _slots().pop(slot, None)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = np.empty(nbytes, dtype=np.uint8)  # (numpy aligns it for every dtype)
    return buffer[:nbytes].view(dtype).reshape(shape)


def give_back(slot, array):
    """Keep ``array`` (from :func:`take`) as this thread's buffer ``slot``."""
    base = array.base
    while base is not None and base.base is not None:
        base = base.base
    if isinstance(base, np.ndarray) and base.dtype == np.uint8 and base.ndim == 1:
        held = _slots().get(slot)
        if held is None or held.nbytes < base.nbytes:
            _slots()[slot] = base

