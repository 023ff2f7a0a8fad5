"""pytest configuration shared by every test module.

* hypothesis profiles: "ci" (default; derandomized, fixed example counts, no
  database, so a run is reproducible and its length predictable), "dev"
  (fewer examples, for a quick loop) and "thorough" (many more, random).
  Choose with HYPOTHESIS_PROFILE=dev etc.
* Fixtures ``backend`` (every backend, naive included) and
  ``compiled_backend`` (every backend but naive). Each is parametrized by
  backend *name*, so a backend is tested as soon as its module exists; a
  backend that does not load is skipped, except under
  FASTCONV_REQUIRE_COMPILED=1, where a missing cython extension or numba
  fails (see ``_oracle_cases.backend_module``).
"""
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# On a CI machine whose CPU differs from the one that fitted the shipped
# defaults, auto would calibrate (0.4 s, a warning) in every test that reloads
# the wisdom; tests/test_planner_calibration.py turns it back on where tested.
os.environ.setdefault("FASTCONV_CALIBRATE", "0")

import fastconv  # noqa: E402  (after the profile, before the helpers)
from _oracle_cases import ALL_BACKENDS, COMPILED_BACKENDS, REQUIRE_COMPILED, backend_module  # noqa: E402


def pytest_report_header(config):
    lines = [
        f"fastconv {fastconv.__version__} imported from {os.path.dirname(fastconv.__file__)}",
        f"hypothesis profile: {settings._current_profile}; FASTCONV_REQUIRE_COMPILED={int(REQUIRE_COMPILED)}",
    ]
    from fastconv import backends

    for name in backends.names():
        err = backends.load_error(name)
        lines.append(f"  backend {name}: " + ("available" if err is None else f"NOT available ({err})"))
    return lines


@pytest.fixture(scope="session", params=ALL_BACKENDS)
def backend(request):
    """Name of a backend that loads (naive included)."""
    backend_module(request.param)
    return request.param


@pytest.fixture(scope="session", params=COMPILED_BACKENDS)
def compiled_backend(request):
    """Name of a fast backend that loads (everything but naive)."""
    backend_module(request.param)
    return request.param


def pytest_configure(config):
    # The strategies draw boundary modes and cvals independently of the
    # padding, so many cases give a mode or cval that cannot apply; the
    # warning it raises is tested in test_images.py (pytest.warns sees it
    # whatever this filter says).
    config.addinivalue_line("filterwarnings", "ignore::fastconv.IgnoredArgumentWarning")
