"""Where a measurement was made: CPU, cores, platform, library versions,
load average and the source commit.

One helper for every tool that records its machine: ``bench`` puts
:func:`benchmark_machine_info` and :func:`commit_info` into its
pytest-benchmark JSON, ``tune`` puts :func:`wisdom_machine` into the
wisdom document's ``"machine"`` entry. Cheap: nothing here imports the
libraries whose versions it reports (it reads their installed metadata).
"""
import os
import platform
import time
from pathlib import Path

from .._version import __version__
from ..planner.calibration import cpu_brand
from ..settings import get_threads

# distributions whose versions a measurement depends on (peers and JITs)
PEER_DISTS = ("scipy", "opencv-python-headless", "torch", "numba")
_SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the clone, when run from one


def cpus():
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count()


def loadavg():
    """The 1, 5 and 15 minute load averages, or None where there are none."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def dist_version(dist):
    """The installed version of distribution ``dist`` (or None), without importing it."""
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def versions(dists=PEER_DISTS):
    """{"fastconv", "python", "numpy", "threads", and each of ``dists`` that is installed}."""
    import numpy

    found = {"fastconv": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
             "threads": get_threads()}
    for dist in dists:
        v = dist_version(dist)
        if v:
            found[dist] = v
    return found


def benchmark_machine_info():
    """pytest-benchmark's ``machine_info`` (what its plugin writes, with the
    CPU read from /proc/cpuinfo instead of py-cpuinfo)."""
    return {
        "node": platform.node(),
        "processor": platform.processor(),
        "machine": platform.machine(),
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": platform.python_version(),
        "python_version": platform.python_version(),
        "python_build": list(platform.python_build()),
        "release": platform.release(),
        "system": platform.system(),
        "cpu": {"count": os.cpu_count(), "brand_raw": cpu_brand()},
    }


def commit_info(root=_SOURCE_ROOT):
    """pytest-benchmark's ``commit_info`` of the fastconv source tree (an
    "error" entry when it is not a git checkout, e.g. an installed wheel)."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=5,
                              check=True).stdout.strip()

    try:
        return {
            "id": git("rev-parse", "HEAD"),
            "time": git("log", "-1", "--format=%cI"),
            "dirty": bool(git("status", "--porcelain")),
            "project": "fastconv",
            "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        }
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def wisdom_machine():
    """The ``"machine"`` entry of a wisdom document: CPU, CPUs, platform,
    threads, date, load average now, and the versions of python, numpy,
    scipy and numba."""
    v = versions(("scipy", "numba"))
    return {"cpu": cpu_brand(), "cpus": cpus(), "platform": platform.platform(), "threads": get_threads(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "loadavg_at_end": loadavg(),
            **{k: v[k] for k in ("python", "numpy", "scipy", "numba") if k in v}}
