"""pytest-benchmark configuration for the fastconv suites.

Run with ``pytest benchmarks/`` (every case) or ``pytest benchmarks/ --quick``
(the same subset ``python -m fastconv bench`` runs by default); save
results with ``--benchmark-json=out.json``. Peers (cv2, torch) use
``fastconv.get_threads()`` threads, like fastconv itself.
"""
import functools
import warnings

import pytest


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true", default=False,
                     help="only the quick subset of the 2-D cases (what `python -m fastconv bench` runs)")


def pytest_configure(config):
    config.addinivalue_line("markers", "full: a case outside the quick subset")
    import fastconv

    threads = fastconv.get_threads()
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    try:
        import cv2

        cv2.setNumThreads(threads)
    except ImportError:
        pass
    warnings.filterwarnings("ignore", message=".*padding='same' with even kernel.*")


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--quick"):
        return
    skip = pytest.mark.skip(reason="not in the quick subset (drop --quick to run it)")
    for item in items:
        if item.get_closest_marker("full"):
            item.add_marker(skip)


@functools.lru_cache(maxsize=2)
def _case_data(case):
    from cases import reference

    X, K = case.data()
    return X, K, reference(X, K)


@pytest.fixture
def case_data():
    """(X, K, float64 reference) for a case, computed once per case."""
    return _case_data
