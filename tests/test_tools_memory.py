"""The peak-memory measurement of ``bench --memory`` sees what a call
allocates and only that."""
import numpy as np
import pytest

from fastconv.tools import memory

pytestmark = pytest.mark.skipif(memory.available() is not None, reason=str(memory.available()))


_PROBE = """
import numpy as np
from fastconv.tools import memory
memory._fix_mmap_threshold()
kept = []
def allocates():
    tmp = np.ones(40 << 20, np.uint8)  # 40 MiB, touched, freed on return
    kept.append(np.ones(8 << 20, np.uint8))  # 8 MiB left resident
    return tmp.sum()
print(*memory.peak_extra(allocates))
"""


def test_peak_extra_sees_a_temporary_and_what_is_kept():
    """In a fresh process: RSS is process-wide, and other tests' threads
    (a dask cluster's client) free and allocate memory meanwhile."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    peak, left = (int(v) for v in done.stdout.split())
    assert 45 << 20 <= peak <= 56 << 20
    assert 7 << 20 <= left <= 10 << 20


def test_peak_extra_of_nothing_is_small():
    memory._fix_mmap_threshold()
    peak, left = memory.peak_extra(lambda: None)
    assert peak < 2 << 20 and left < 2 << 20


def test_result_bytes_are_not_counted_as_extra():
    memory._fix_mmap_threshold()
    peak, left = memory.peak_extra(lambda: np.ones(16 << 20, np.uint8), keep_bytes=16 << 20)
    assert peak < 3 << 20


def test_measure_reports_every_backend_or_why_not():
    rows = memory.measure(cases=(((1, 2, 20, 20), (3, 2, 3, 3), dict(padding=1)),), dtype=np.float64)
    assert {r.backend for r in rows} >= {"cython", "gemm"}
    for r in rows:
        assert r.skipped or r.operands == (2 * 400 + 3 * 2 * 9 + 3 * 400) * 8
    assert "warm MiB" in memory.format_table(rows)
