"""fastconv.dask._buffers: a kept output array is handed out again only
when nothing else refers to it (nor to any view of it)."""
import threading

import numpy as np
import pytest

pytest.importorskip("dask")
from fastconv.dask import _buffers  # noqa: E402

SHAPE = (512, 1024)  # 2 MiB of float32: above MIN_BYTES


@pytest.fixture(autouse=True)
def fresh_pool(monkeypatch):
    monkeypatch.setattr(_buffers, "_kept", type(_buffers._kept)())


def test_reused_only_when_unreferenced():
    a = _buffers.empty(SHAPE, np.float32)
    assert a.shape == SHAPE and a.dtype == np.float32 and a.flags.c_contiguous and a.flags.writeable
    first = a.__array_interface__["data"][0]
    b = _buffers.empty(SHAPE, np.float32)  # a is alive: another array
    assert b.__array_interface__["data"][0] != first
    view = a[10:, ::2]
    del a
    c = _buffers.empty(SHAPE, np.float32)  # a view of a is alive: a is not free
    assert not np.shares_memory(c, view)
    c[...] = 1.0
    view[...] = 2.0
    assert (c == 1.0).all()
    del view
    d = _buffers.empty(SHAPE, np.float32)  # now a is free: its memory again
    assert d.__array_interface__["data"][0] == first


def test_keys_small_arrays_and_limits():
    small = _buffers.empty((4, 4), np.float64)
    assert small.shape == (4, 4) and not _buffers._kept  # below MIN_BYTES: plain numpy, nothing kept
    other = _buffers.empty(SHAPE, np.float64)
    assert other.dtype == np.float64 and other.shape == SHAPE
    held = [_buffers.empty(SHAPE, np.float32) for _ in range(_buffers.KEEP + 3)]
    assert len(_buffers._kept[(SHAPE, np.dtype(np.float32).str)]) == _buffers.KEEP
    assert len({h.__array_interface__["data"][0] for h in held}) == len(held)  # all distinct while alive
    for k in range(_buffers.SHAPES + 2):
        _buffers.empty((1024, 300 + k), np.float32)
    assert len(_buffers._kept) == _buffers.SHAPES


def test_threads_never_share_an_array():
    seen, errors = [], []

    def work(tag):
        for _ in range(200):
            a = _buffers.empty(SHAPE, np.float32)
            a.fill(tag)
            if not (a == tag).all():
                errors.append(tag)
            seen.append(a.__array_interface__["data"][0])
            del a

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
