"""The backend registry: one row per backend, everything the planner needs.

A backend is a module with one function

    correlate(xp, w, out, stride, dilation, groups) -> None

that writes the valid cross-correlation of ``xp`` with ``w`` into ``out``:

    out[n, o, i, j] = sum over c < C/groups, a < kh, b < kw of
        w[o, c, a, b] * xp[n, g*C/groups + c, i*sh + a*dh, j*sw + b*dw]

where g = o // (O/groups). Shapes: xp (N, C, Hp, Wp), w (O, C/groups, kh, kw),
out (N, O, Ho, Wo). The caller (``fastconv._engine``) guarantees: padding is
already applied; xp, w and out share one dtype, float32 or float64, native
byte order; the last axis of each is contiguous and no stride is negative;
shapes are consistent and Ho, Wo >= 1; ``out`` does not overlap the inputs.
Backends therefore check nothing and may assume all of it. They overwrite
``out`` completely; an exact backend multiplies every tap (no skipping
zeros), so NaN and inf propagate exactly as in the oracle.

``out`` (and ``xp``) may be views into larger arrays: the engine computes a
large padded image as an interior that reads the input in place plus four
border strips, each a separate call writing a rectangle of ``out``, unless
the row says ``whole_input``.

Optional module hooks, called by the planner and tools without naming the
backend (a missing hook means "yes" / "nothing to do"):

* ``supports(problem) -> None or reason``: structural applicability of a
  :class:`fastconv.planner.signature.Problem` (shapes, groups, stride...);
* ``accepts(w) -> None or reason``: applicability that depends on the
  kernel's values (the separable backend's rank-1 test), asked per call;
* ``ready(dtype, disk=True) -> bool``: can run ``dtype`` now without a
  compile that takes seconds (a cold JIT);
* ``warm(dtypes) -> {dtype: seconds}``: compile ahead of time;
* ``error_bound(xp, w, out_shape, stride, dilation, groups)``: the
  documented error bound of an approximate (``exact=False``) backend;
* ``describe() -> dict``: for ``fastconv.show_config()``;
* ``correlate_zero_border(x, w, out, pads, stride, dilation, groups) -> bool``:
  ``correlate`` of x with a zero border of ``pads`` ((top, bottom), (left,
  right)) around it, without the engine's padded copy; False (nothing
  done) for a call it does not take, which the engine then pads;
* ``correlate_mapped_border(x, w, out, pads, stride, dilation, groups, mode)
  -> bool``: the same for a border whose padding repeats input elements
  (``mode`` "reflect", "symmetric", "edge" or "wrap").

A row with ``takes_bias`` says that ``correlate`` and both border hooks take
a keyword ``bias``: None, or an (O,) C-contiguous array of the compute dtype
not overlapping ``out``, to be added to every output of channel o
(``out[:, o] = correlation + bias[o]``, within the backend's own rounding of
adding it after). The engine passes it only to such backends (never to a
third-party ``correlate`` that does not expect it) and adds it itself, once,
for the others.

Backends are imported lazily, on first use: ``import fastconv`` must not
pay for numba or the extension module. :func:`register` adds a backend from
outside the package.
"""
import importlib
import types
from dataclasses import dataclass


@dataclass(frozen=True)
class Backend:
    """One registry row.

    ``module``: import path (or the module object itself).
    ``family``: the cost-model family whose work terms predict its time
    (``fastconv.planner.costmodel.FAMILIES``); None: no model, so ``auto``
    picks it only when measuring.
    ``exact``: sums tap by tap in the compute dtype (integer inputs get exact
    sums, NaN/inf propagate as in the oracle). An inexact backend publishes
    ``error_bound`` and ``auto`` keeps integer and non-finite inputs away
    from it.
    ``whole_input``: needs the whole padded input in one call (never split
    into interior and border strips).
    ``tiny``: a candidate for tiny problems, where per-call overhead decides.
    ``preference``: rank when no backend has a fitted model (lower first);
    None: never chosen that way.
    ``dtypes``: compute dtypes it runs.
    ``measure_limit``: when timing candidates, skip it on problems predicted
    slower than this many seconds (or, without a model, with more than
    ``measure_macs`` multiply-adds); None: always timed.
    ``takes_bias``: ``correlate`` and the border hooks take ``bias=`` (see
    the module docstring).
    """

    name: str
    module: object
    family: object = None
    exact: bool = True
    whole_input: bool = False
    tiny: bool = True
    preference: object = None
    dtypes: tuple = ("float32", "float64")
    measure_limit: object = None
    measure_macs: object = None
    takes_bias: bool = False

    def load(self):
        """The module, or None when it cannot be imported (reason recorded)."""
        return load(self.name)

    def hook(self, name):
        """The module's optional hook ``name``, or None (also when the module
        does not load)."""
        module = load(self.name)
        return None if module is None else getattr(module, name, None)


_ROWS = {}
_loaded = {}
_errors = {}


def register(name, module, *, family=None, exact=True, whole_input=False, tiny=True, preference=None,
             dtypes=("float32", "float64"), measure_limit=None, measure_macs=None, takes_bias=False, replace=False):
    """Add a backend: ``module`` (an import path or a module object) provides
    ``correlate`` and any of the optional hooks (see this module's docstring).
    It is then listed by :func:`available_backends`, can be forced by name,
    and is considered by ``backend="auto"`` once its ``family`` has fitted
    constants (``fastconv.import_wisdom`` or ``python -m fastconv tune``).
    Returns the row."""
    if not isinstance(name, str) or not name or name == "auto":
        raise ValueError(f"a backend name must be a non-empty string other than 'auto', got {name!r}")
    if name in _ROWS and not replace:
        raise ValueError(f"backend {name!r} is already registered (pass replace=True to replace it)")
    if not isinstance(module, (str, types.ModuleType)):
        raise TypeError(f"module must be an import path or a module, got {type(module).__name__}")
    row = Backend(name, module, family, bool(exact), bool(whole_input), bool(tiny), preference, tuple(dtypes),
                  measure_limit, measure_macs, bool(takes_bias))
    _ROWS[name] = row
    _forget(name)
    _changed()
    return row


def unregister(name):
    """Remove a backend added by :func:`register`."""
    if name not in _ROWS:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(_ROWS)}")
    del _ROWS[name]
    _forget(name)
    _changed()


_listeners = []


def on_change(callback):
    """Call ``callback()`` whenever a row is added or removed (the planner
    drops its cached decisions)."""
    _listeners.append(callback)


def _changed():
    for callback in _listeners:
        callback()


def _forget(name):
    _loaded.pop(name, None)
    _errors.pop(name, None)


def names():
    """Every registered backend, loaded or not, in registry order."""
    return tuple(_ROWS)


def rows():
    """Every registry row, in registry order."""
    return tuple(_ROWS.values())


def row(name):
    """The row of ``name``; ValueError names the known backends."""
    try:
        return _ROWS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(_ROWS)} (or 'auto')") from None


def load(name):
    """The backend module, or None when it cannot be imported (reason recorded)."""
    module = _loaded.get(name)
    if module is not None or name in _errors:
        return module
    entry = _ROWS.get(name)
    if entry is None:
        return None
    try:
        module = entry.module if isinstance(entry.module, types.ModuleType) else importlib.import_module(entry.module)
    except Exception as exc:  # any failure leaves the other backends usable
        _errors[name] = f"{type(exc).__name__}: {exc}"
        return None
    _loaded[name] = module
    return module


def load_error(name):
    """Why ``name`` did not load, or None."""
    load(name)
    return _errors.get(name)


def available_backends() -> list[str]:
    """Names of the backends that load on this machine, in registry order.

    A backend that fails to load (no compiled extension, no numba) is left out;
    ``python -m fastconv info`` says why.

    Returns
    -------
    list of str
        Each name is accepted as ``backend=`` by every public function.

    Examples
    --------
    >>> names = fastconv.available_backends()
    >>> names[0], "gemm" in names
    ('naive', True)
    """
    return [name for name in _ROWS if load(name) is not None]


def get(name):
    """The backend module named ``name``; ValueError names the usable ones."""
    if name not in _ROWS:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(available_backends())} (or 'auto')")
    module = load(name)
    if module is None:
        raise ValueError(
            f"backend {name!r} is not available ({_errors[name]}); "
            f"available: {', '.join(available_backends())} (or 'auto')"
        )
    return module


# The shipped backends. Each is its own module plus this one row.
register("naive", "fastconv.backends.naive", family="python_loops", tiny=False, preference=3, measure_limit=0.05,
         measure_macs=10_000)
register("cython", "fastconv.backends.cython_", family="direct", preference=0, takes_bias=True)
register("numba", "fastconv.backends.numba_", family="direct", preference=2)
register("direct", "fastconv.backends.direct_", family="blocked_direct", takes_bias=True)
register("gemm", "fastconv.backends.gemm", family="im2col_gemm", preference=1)
register("fft", "fastconv.backends.fft", family="fourier", exact=False, whole_input=True)
register("separable", "fastconv.backends.separable", family="rank1_passes", exact=False)
register("winograd", "fastconv.backends.winograd", family="winograd_transforms", exact=False, takes_bias=True)
