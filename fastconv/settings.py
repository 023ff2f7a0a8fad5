"""Every ``FASTCONV_*`` setting, read and validated here and nowhere else.

==========================  ====================================================
variable                    meaning (accepted values)
==========================  ====================================================
``FASTCONV_NUM_THREADS``    threads for every backend (an int >= 1); default:
                            the CPUs this process may run on. Read on first
                            use and again after ``set_threads(None)``.
``FASTCONV_WORKSPACE_MB``   scratch memory one call may allocate, in MiB (a
                            number > 0, fractions allowed); default 64.
``FASTCONV_BACKEND``        force every ``backend="auto"`` call onto one
                            backend (a backend name, or ``auto``); debugging.
``FASTCONV_PLANNER``        ``estimate`` (default: the cost model decides) or
                            ``measure`` (time the candidates on first sight).
``FASTCONV_WISDOM``         path of the wisdom file read at start-up and
                            written by ``export_wisdom()``.
==========================  ====================================================

A value outside the accepted ones raises ``ValueError`` naming the variable,
the value and what is accepted, at the first call that needs it (never a bare
``int()`` traceback, never a silent default). ``FASTCONV_BACKEND`` and
``FASTCONV_PLANNER`` are read on every call (cheaply, see :class:`_Environ`),
so a test or a session can change them at any time.
"""
import functools
import os
from typing import Optional

DEFAULT_WORKSPACE_BYTES = 64 * 2**20
# Multiply-adds below which the compiled direct kernels run on the calling
# thread: waking a thread team costs microseconds, and far more when another
# process holds the other cores. The cython backend passes it to its kernels;
# the cost model's serial term uses the same number.
SERIAL_MACS = 1 << 20
PLANNERS = ("estimate", "measure")

_threads = None  # set_threads() value; None: the environment / CPU count
_workspace = None  # set_workspace_limit() value; None: the environment / default


class _Environ:
    """Reads of our environment variables, cheap enough for every call:
    os.environ.get encodes the key and decodes the value each time (about
    1 us); CPython's os.environ keeps a plain dict underneath."""

    def __init__(self):
        data = getattr(os.environ, "_data", None)
        self._data = data
        self._fast = isinstance(data, dict) and self._raw_key("PATH") in data
        self._keys = {}

    @staticmethod
    def _raw_key(name):
        return name.upper() if os.name == "nt" else os.fsencode(name)

    def get(self, name):
        if not self._fast:
            return os.environ.get(name)
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = self._raw_key(name)
        value = self._data.get(key)
        if value is None or isinstance(value, str):
            return value
        return os.fsdecode(value)


environ = _Environ()


def _bad(name, value, accepted):
    return ValueError(f"{name}={value!r} is not valid; accepted: {accepted}")


# ------------------------------------------------------------------ threads

@functools.cache
def _default_threads():
    env = environ.get("FASTCONV_NUM_THREADS")
    if env:
        try:
            n = int(env.strip())
        except ValueError:
            n = 0
        if n < 1:
            raise _bad("FASTCONV_NUM_THREADS", env, "an integer >= 1 (or unset: one thread per available CPU)")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def get_threads() -> int:
    """Threads fastconv's kernels use (OpenMP, Numba and BLAS alike).

    Returns
    -------
    int
        The count :func:`set_threads` set, else ``FASTCONV_NUM_THREADS``, else
        the CPUs this process may run on.

    Raises
    ------
    ValueError
        ``FASTCONV_NUM_THREADS`` is set to something other than an int >= 1.

    Examples
    --------
    >>> fastconv.set_threads(1)
    >>> fastconv.get_threads()
    1
    >>> fastconv.set_threads(None)
    """
    return _threads if _threads is not None else _default_threads()


def set_threads(n: Optional[int]) -> None:
    """Set the thread count for every backend.

    Parameters
    ----------
    n : int or None
        An int >= 1, or None to restore the default (``FASTCONV_NUM_THREADS``,
        read again, or the available CPUs).

    Raises
    ------
    ValueError
        ``n`` is not a positive int or None.

    Examples
    --------
    >>> fastconv.set_threads(2)
    >>> fastconv.get_threads()
    2
    >>> fastconv.set_threads(None)   # back to the default
    """
    global _threads
    if n is None:
        _threads = None
        _default_threads.cache_clear()
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive int or None, got {n!r}")
    _threads = n


# ---------------------------------------------------------------- workspace

def _workspace_from_env():
    env = environ.get("FASTCONV_WORKSPACE_MB")
    if not env:
        return DEFAULT_WORKSPACE_BYTES
    try:
        mb = float(env)
    except ValueError:
        mb = -1.0
    if not mb > 0 or mb == float("inf"):
        raise _bad("FASTCONV_WORKSPACE_MB", env, "a positive number of MiB, fractions allowed (default 64)")
    return max(1, int(mb * 2**20))


def get_workspace_limit() -> int:
    """The workspace cap in bytes (see :func:`set_workspace_limit`).

    Returns
    -------
    int
        The cap :func:`set_workspace_limit` set, else ``FASTCONV_WORKSPACE_MB``
        (MiB), else 64 MiB.

    Raises
    ------
    ValueError
        ``FASTCONV_WORKSPACE_MB`` is set to something other than a positive number.

    Examples
    --------
    >>> fastconv.set_workspace_limit(2**20)
    >>> fastconv.get_workspace_limit()
    1048576
    >>> fastconv.set_workspace_limit(None)
    """
    return _workspace if _workspace is not None else _workspace_from_env()


def set_workspace_limit(nbytes: Optional[int]) -> None:
    """Cap the scratch memory one call may use, in bytes.

    The im2col workspace is built in tiles of at most this size. The one
    exception is a cap smaller than a single output element's patch column
    (C*kh*kw elements): that one column is still built, so the cap is then
    exceeded by less than one column.

    Parameters
    ----------
    nbytes : int or None
        An int >= 1, or None to restore the default (``FASTCONV_WORKSPACE_MB``
        or 64 MiB).

    Raises
    ------
    ValueError
        ``nbytes`` is not a positive int or None.

    Examples
    --------
    >>> fastconv.set_workspace_limit(8 * 2**20)
    >>> fastconv.get_workspace_limit() // 2**20
    8
    >>> fastconv.set_workspace_limit(None)
    """
    global _workspace
    if nbytes is None:
        _workspace = None
        return
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 1:
        raise ValueError(f"workspace limit must be a positive int (bytes) or None, got {nbytes!r}")
    _workspace = nbytes


# ------------------------------------------------------------------ planner

def forced_backend():
    """``FASTCONV_BACKEND`` (a name, unchecked: the planner checks it against
    the registry), or None when unset or ``auto``."""
    name = environ.get("FASTCONV_BACKEND")
    return None if not name or name == "auto" else name


def measuring(measure=None):
    """Does ``backend="auto"`` time the candidates? ``measure`` (a call's own
    argument) wins; else ``FASTCONV_PLANNER``."""
    if measure is not None:
        return bool(measure)
    planner = environ.get("FASTCONV_PLANNER")
    if not planner:
        return False
    if planner not in PLANNERS:
        raise _bad("FASTCONV_PLANNER", planner, ", ".join(PLANNERS))
    return planner == "measure"


def wisdom_file():
    """``FASTCONV_WISDOM`` as given (None when unset)."""
    return environ.get("FASTCONV_WISDOM") or None
