"""Every ``FASTCONV_*`` setting, read and validated here and nowhere else.

==========================  ====================================================
variable                    meaning (accepted values)
==========================  ====================================================
``FASTCONV_NUM_THREADS``    threads for every backend (an int from 1 to
                            ``MAX_THREADS``); default: ``OMP_NUM_THREADS``
                            (its first entry, when a positive int; dask's
                            nanny sets it to 1 in each worker), else the CPUs
                            this process may run on. Read on first use and
                            again after ``set_threads(None)``.
``FASTCONV_WORKSPACE_MB``   scratch memory one call may allocate, in MiB (a
                            number > 0, fractions allowed); default 64.
``FASTCONV_BACKEND``        force every ``backend="auto"`` call onto one
                            backend (a backend name, or ``auto``); debugging.
``FASTCONV_PLANNER``        ``estimate`` (default: the cost model decides) or
                            ``measure`` (time the candidates on first sight).
``FASTCONV_WISDOM``         path of the wisdom file read at start-up and
                            written by ``export_wisdom()``.
``FASTCONV_EXACT``          ``1``: ``backend="auto"`` uses only backends that
                            sum tap by tap (no fft, separable, winograd), for
                            bit-for-bit tap sums; ``0`` (default): approximate
                            backends allowed within their error bounds.
                            ``set_exact(True/False)`` overrides it,
                            ``set_exact(None)`` returns to it. Read per call;
                            a backend named explicitly still runs.
``FASTCONV_CALIBRATE``      ``1`` (default): ``auto`` calibrates the shipped
                            constants once on a machine they were not fitted
                            on (0.3 s, announced by a warning, saved with the
                            user's wisdom); ``0``: never on its own.
==========================  ====================================================

Threads follow the caller's limits and never raise them: an active
``threadpoolctl.threadpool_limits`` (or ``omp_set_num_threads``) that lowers
the OpenMP runtime's thread count below its start-up value caps
:func:`get_threads`, even after ``set_threads(n)``; and BLAS (the gemm
backend) is only ever lowered to :func:`get_threads` inside a call, never
raised above the count the caller's process has (see ``_blas``). An invalid
``OMP_NUM_THREADS`` is not ours to refuse: it is ignored, as the OpenMP
runtime ignores it.

A value outside the accepted ones raises ``ValueError`` naming the variable,
the value and what is accepted, at the first call that needs it (never a bare
``int()`` traceback, never a silent default). ``FASTCONV_BACKEND``,
``FASTCONV_PLANNER`` and ``FASTCONV_EXACT`` are read on every call (cheaply, see :class:`_Environ`),
so a test or a session can change them at any time.
"""
import contextlib
import functools
import operator
import os
import threading
from typing import Optional

DEFAULT_WORKSPACE_BYTES = 64 * 2**20
MAX_WORKSPACE_BYTES = 2**60  # beyond any machine; keeps byte counts in int64
# Multiply-adds below which the compiled kernels (cython, direct) run on the
# calling thread: waking a thread team costs about 1-1.5 us with the other
# cores idle (far more when another process holds them), so a second thread
# pays only where the work saved exceeds that. Measured with
# benchmarks/serial_threshold.py (2-core EPYC, AVX-512, 3x3 zero border,
# float32 and float64, one process, interleaved): two threads break even at
# about 40k multiply-adds (64x64 images) and save 25-30% from 128k (128x128
# and up; 256x256 3x3: 0.62-0.64x). 2^17 is that: 3x the break-even, so a
# slower wake-up (a busier machine, a larger team) or a narrower SIMD unit
# (more time per multiply-add, so an earlier break-even) still gains. The
# cost model's serial term uses the same number. (On a machine whose cores
# are all taken by other processes a team waits milliseconds for a
# descheduled member whatever the size: set_threads(1) there.)
SERIAL_MACS = 1 << 17
# The most threads any backend is asked for: far more than any CPU here has,
# far fewer than make libgomp fail to create its team (40000 did) or crash.
MAX_THREADS = 1024
_THREADS_ACCEPTED = f"an integer from 1 to {MAX_THREADS}"


def _l2_bytes(root="/sys/devices/system/cpu/cpu0/cache"):
    """One core's L2 cache in bytes, as Linux's sysfs reports it; 1 MiB
    where it does not (other systems, containers hiding sysfs)."""
    try:
        for entry in sorted(os.listdir(root)):
            path = os.path.join(root, entry)
            with open(os.path.join(path, "level")) as level, open(os.path.join(path, "type")) as kind:
                if level.read().strip() != "2" or kind.read().strip() == "Instruction":
                    continue
            with open(os.path.join(path, "size")) as size:
                text = size.read().strip().upper()
            scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
            return int(text.rstrip("KM")) * scale
    except (OSError, ValueError):
        pass
    return 1 << 20


# Bytes of transformed tiles (input + products) a transform-domain backend
# keeps per chunk and thread, workspace limit permitting: half of a core's
# L2, so that the transform's output is still in L2 when the GEMM reads it
# and the GEMM's products when the output transform reads them. (Measured on
# the 2-core EPYC, L2 1 MiB, 1 thread: Winograd F(2,3) on 8x64x56x56 3x3
# 18.8 ms with 512 KiB chunks, 27.0 ms with 2 MiB ones, 24.4 ms with 256 KiB,
# whose GEMMs are too small.) The cost model counts chunks with the same number.
TRANSFORM_CHUNK_BYTES = max(64 << 10, _l2_bytes() // 2)
PLANNERS = ("estimate", "measure")

_threads = None  # set_threads() value; None: the environment / CPU count


class _ThreadState(threading.local):
    # serial: this thread runs one item of a split that fastconv._workers
    # threads itself, so the kernels it calls take one thread (nested teams
    # would oversubscribe). A class default, because a missing attribute of
    # a threading.local costs get_threads a raised and caught AttributeError
    # (0.4 us, on every fast-lane call).
    serial = False


_this_thread = _ThreadState()
_workspace = None  # set_workspace_limit() value; None: the environment / default
_exact = None  # set_exact() value; None: the environment / default


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

_openmp_probe = None  # () -> the OpenMP runtime's current max threads, once a backend loaded OpenMP
_openmp_start = None  # its thread count at start-up (a limit is active while the probe says less)


def _cpus():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _omp_num_threads():
    """OMP_NUM_THREADS's first entry ("4" or "4,2" for nested levels) when it
    is a positive int, else None (the OpenMP runtime ignores such values too)."""
    value = (environ.get("OMP_NUM_THREADS") or "").split(",")[0].strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


@functools.cache
def _default_threads():
    env = environ.get("FASTCONV_NUM_THREADS")
    if env is not None and env.strip():
        try:
            n = int(env.strip())
        except ValueError:
            n = 0
        if not 1 <= n <= MAX_THREADS:
            raise _bad("FASTCONV_NUM_THREADS", env, _THREADS_ACCEPTED + " (or unset: one thread per available CPU)")
        return n
    return min(_omp_num_threads() or _cpus(), MAX_THREADS)


def follow_openmp(probe):
    """Called by the backend that loads the OpenMP runtime: ``probe()``
    returns its current max threads (``omp_get_max_threads``), which an
    active ``threadpoolctl.threadpool_limits`` lowers. The runtime's start-up
    value is what it says now or what OMP_NUM_THREADS / the CPUs made it,
    whichever is larger (in case this runs inside a limit)."""
    global _openmp_probe, _openmp_start
    _openmp_start = max(probe(), _omp_num_threads() or _cpus())
    _openmp_probe = probe


def get_threads() -> int:
    """Threads fastconv's kernels use (OpenMP, Numba and BLAS alike).

    Returns
    -------
    int
        The count :func:`set_threads` set, else ``FASTCONV_NUM_THREADS``, else
        ``OMP_NUM_THREADS``, else the CPUs this process may run on; capped by
        an active OpenMP limit (``threadpoolctl.threadpool_limits``).

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
    if _this_thread.serial:
        return 1
    n = _threads if _threads is not None else _default_threads()
    if _openmp_probe is not None:
        limit = _openmp_probe()
        if limit < _openmp_start:  # someone (threadpool_limits) lowered it: obey
            n = min(n, limit)
    return n


def run_serially(on: bool) -> None:
    """Mark the calling thread as running one item of a threaded split
    (``fastconv._workers``): while on, :func:`get_threads` returns 1 here."""
    _this_thread.serial = on


def set_threads(n: Optional[int]) -> None:
    """Set the thread count for every backend.

    Parameters
    ----------
    n : int or None
        An integer (numpy integers too) from 1 to ``MAX_THREADS``, or None to restore the default (``FASTCONV_NUM_THREADS``,
        read again, or the available CPUs).

    Raises
    ------
    ValueError
        ``n`` is not an integer from 1 to ``MAX_THREADS`` or None.

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
    _threads = _count(n, "threads", MAX_THREADS, _THREADS_ACCEPTED + " or None")


@contextlib.contextmanager
def threads_limited(n):
    """Run the block with ``n`` threads (the calibration's single-thread
    probes), then restore what :func:`set_threads` had set."""
    global _threads
    previous, _threads = _threads, _count(n, "threads", MAX_THREADS, _THREADS_ACCEPTED)
    try:
        yield
    finally:
        _threads = previous


def _count(value, name, most, accepted):
    """``value`` as an int in [1, most]: any integer type (numpy's included),
    never a bool or a float."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be {accepted}, got the bool {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be {accepted}, got {value!r} of type {type(value).__name__}") from None
    if not 1 <= n <= most:
        raise ValueError(f"{name} must be {accepted}, got {n}")
    return n


# ---------------------------------------------------------------- workspace

def _workspace_from_env():
    env = environ.get("FASTCONV_WORKSPACE_MB")
    if not env:
        return DEFAULT_WORKSPACE_BYTES
    try:
        mb = float(env)
    except ValueError:
        mb = -1.0
    if not 0 < mb <= MAX_WORKSPACE_BYTES / 2**20:
        raise _bad("FASTCONV_WORKSPACE_MB", env, "a positive number of MiB up to 2**40, fractions allowed (default 64)")
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
    _workspace = _count(nbytes, "workspace limit", MAX_WORKSPACE_BYTES,
                        "a positive int (bytes) up to 2**60, or None")


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


def auto_calibrate():
    """May ``auto`` calibrate the cost model on its own (once per machine,
    see ``fastconv.planner.calibration``)? ``FASTCONV_CALIBRATE``: ``1``
    (default) or ``0``."""
    value = environ.get("FASTCONV_CALIBRATE")
    if not value:
        return True
    if value not in ("0", "1"):
        raise _bad("FASTCONV_CALIBRATE", value, "0 or 1")
    return value == "1"


def wisdom_file():
    """``FASTCONV_WISDOM`` as given (None when unset)."""
    return environ.get("FASTCONV_WISDOM") or None


def choice_inputs():
    """Every setting a call's backend choice reads, as one tuple (for caches
    of whole calls, ``fastconv._lane``): ``FASTCONV_BACKEND``,
    ``FASTCONV_PLANNER`` and ``FASTCONV_EXACT`` as set (unchecked: the first
    call with new values goes the normal way, which checks them),
    :func:`set_exact`'s value, and the thread count (last)."""
    get, keys = _choice_get
    return get(keys[0]), get(keys[1]), get(keys[2]), _exact, get_threads()


_CHOICE_NAMES = ("FASTCONV_BACKEND", "FASTCONV_PLANNER", "FASTCONV_EXACT")
# three dict reads when os.environ keeps a plain dict (this runs on every fast-lane call)
_choice_get = ((environ._data.get, tuple(map(_Environ._raw_key, _CHOICE_NAMES))) if environ._fast
               else (environ.get, _CHOICE_NAMES))


# -------------------------------------------------------------------- exact

def get_exact() -> bool:
    """Whether ``backend="auto"`` may use only backends that sum tap by tap.

    Returns
    -------
    bool
        :func:`set_exact`'s value, else ``FASTCONV_EXACT`` (``1`` or ``0``,
        default ``0``).

    Raises
    ------
    ValueError
        ``FASTCONV_EXACT`` is set to something other than ``0`` or ``1``.

    Examples
    --------
    >>> fastconv.set_exact(True)
    >>> fastconv.get_exact()
    True
    >>> fastconv.set_exact(None)   # back to FASTCONV_EXACT
    """
    if _exact is not None:
        return _exact
    env = environ.get("FASTCONV_EXACT")
    if not env:
        return False
    value = env.strip()
    if value not in ("0", "1"):
        raise _bad("FASTCONV_EXACT", env, "1 (exact backends only) or 0 (approximate ones allowed; the default)")
    return value == "1"


def set_exact(flag: Optional[bool]) -> None:
    """Keep ``backend="auto"`` on backends that sum tap by tap, or not.

    A backend named explicitly (``backend="fft"``) still runs.

    Parameters
    ----------
    flag : bool or None
        ``True``: auto never picks an approximate backend (rows with
        ``exact=False``: they do not sum tap by tap); ``False``: it may,
        within their documented error bounds; ``None``: back to
        ``FASTCONV_EXACT``.

    Raises
    ------
    ValueError
        ``flag`` is not True, False or None.

    Examples
    --------
    >>> fastconv.set_exact(True)
    >>> fastconv.plan(np.ones((512, 512)), np.ones((31, 31))).backend in ("fft", "separable", "winograd")
    False
    >>> fastconv.set_exact(None)
    """
    global _exact
    if flag is not None and not isinstance(flag, bool):
        raise ValueError(f"set_exact takes True, False or None, got {flag!r}")
    _exact = flag
