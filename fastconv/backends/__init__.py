"""The backend registry.

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
``out`` completely and must multiply every tap (no skipping zeros), so NaN
and inf propagate exactly as in the oracle.

``out`` (and ``xp``) may be views into larger arrays: the engine computes a
large padded image as an interior that reads the input in place plus four
border strips, each a separate call writing a rectangle of ``out``. A
backend for which that split is costly (fft) sets ``PAD_IN_ONE_PIECE = True``
and always receives the whole padded input.

Optionally a backend module has ``describe() -> dict`` for show_config().

Backends are imported lazily, on first use: ``import fastconv`` must not
pay for numba or the extension module.
"""
import importlib

# name -> module path; order is the order of preference for the simple rule.
_MODULES = {
    "naive": "fastconv.backends.naive",
    "cython": "fastconv.backends.cython_",
    "numba": "fastconv.backends.numba_",
    "gemm": "fastconv.backends.gemm",
    "fft": "fastconv.backends.fft",
    "separable": "fastconv.backends.separable",
}

_loaded = {}
_errors = {}


def names():
    """Every backend fastconv knows about, loaded or not."""
    return tuple(_MODULES)


def load(name):
    """The backend module, or None when it cannot be imported (reason recorded)."""
    if name in _loaded:
        return _loaded[name]
    if name in _errors:
        return None
    try:
        module = importlib.import_module(_MODULES[name])
    except Exception as exc:  # any failure leaves the other backends usable
        _errors[name] = f"{type(exc).__name__}: {exc}"
        return None
    _loaded[name] = module
    return module


def load_error(name):
    """Why ``name`` did not load, or None."""
    load(name)
    return _errors.get(name)


def available_backends():
    """Names of the backends that load on this machine, in preference order."""
    return [name for name in _MODULES if load(name) is not None]


def get(name):
    """The backend module named ``name``; ValueError names the usable ones."""
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(available_backends())} (or 'auto')")
    module = load(name)
    if module is None:
        raise ValueError(
            f"backend {name!r} is not available ({_errors[name]}); "
            f"available: {', '.join(available_backends())} (or 'auto')"
        )
    return module
