"""Validation of a wisdom document, field by field.

A wisdom file is read at start-up by every process that calls
``backend="auto"``, so one wrong value in it must not break those calls
deep inside the planner (a model entry that is a string, a negative
constant steering every call to the oracle, a measured entry with a
malformed signature). :func:`check` raises ValueError naming the first bad
field (``model.cython.float32.coef[2]``), and the loader ignores such a file
with a warning that quotes it.
"""
import math

from .signature import DTYPE_NAMES, Signature

_DTYPES = tuple(DTYPE_NAMES.values())


class WisdomError(ValueError):
    """A wisdom document with a field this version cannot use."""


def _bad(field, why, value):
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return WisdomError(f"field {field}: {why}, got {text}")


def _int(value, field, low):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _bad(field, f"must be an integer >= {low}", value)
    return value


def _number(value, field, nan=False):
    """A finite number >= 0 (NaN too when ``nan``: an unmeasured time)."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    if ok and math.isnan(value):
        ok = nan
    elif ok:
        ok = 0 <= value < math.inf
    if not ok:
        raise _bad(field, "must be a finite number >= 0" + (" (or NaN)" if nan else ""), value)
    return value


def _object(value, field):
    if not isinstance(value, dict):
        raise _bad(field, "must be a JSON object", value)
    return value


def _ints(value, field, n, low):
    if not isinstance(value, list) or len(value) != n:
        raise _bad(field, f"must be a list of {n} integers", value)
    for i, v in enumerate(value):
        _int(v, f"{field}[{i}]", low)


def _model(model):
    for backend, per_dtype in _object(model, "model").items():
        for dtype, entry in _object(per_dtype, f"model.{backend}").items():
            field = f"model.{backend}.{dtype}"
            if dtype not in _DTYPES:
                raise _bad(field, f"the dtype must be one of {', '.join(_DTYPES)}", dtype)
            _object(entry, field)
            terms, coef = entry.get("terms"), entry.get("coef")
            if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
                raise _bad(f"{field}.terms", "must be a list of term names", terms)
            # (An entry fitted for other terms than this version's is valid:
            # the state ignores that one entry.)
            if not isinstance(coef, list):
                raise _bad(f"{field}.coef", "must be a list of numbers, one per term", coef)
            for i, c in enumerate(coef):
                _number(c, f"{field}.coef[{i}]")
            if "probe" in entry:
                _probe(entry["probe"], f"{field}.probe", ("overhead", "work", "copy"))


def _probe(probe, field, times):
    """Probe seconds (see calibration): positive numbers, the work probe's index."""
    _object(probe, field)
    for key in times:
        _number(probe.get(key), f"{field}.{key}")
    _int(probe.get("work_probe"), f"{field}.work_probe", 0)


def _calibration(cal):
    _object(cal, "calibration")
    _object(cal.get("machine"), "calibration.machine")
    _number(cal.get("copy"), "calibration.copy")
    for backend, per_dtype in _object(cal.get("probes"), "calibration.probes").items():
        for dtype, probe in _object(per_dtype, f"calibration.probes.{backend}").items():
            _probe(probe, f"calibration.probes.{backend}.{dtype}", ("overhead", "work"))


def _signature(sig, field):
    _object(sig, field)
    _ints(sig.get("x"), f"{field}.x", 4, 1)
    _ints(sig.get("w"), f"{field}.w", 4, 1)
    pads = sig.get("pads")
    if not isinstance(pads, list) or len(pads) != 2:
        raise _bad(f"{field}.pads", "must be a list of two [before, after] pairs", pads)
    for i, pair in enumerate(pads):
        _ints(pair, f"{field}.pads[{i}]", 2, 0)
    _ints(sig.get("stride"), f"{field}.stride", 2, 1)
    _ints(sig.get("dilation"), f"{field}.dilation", 2, 1)
    _int(sig.get("groups"), f"{field}.groups", 1)
    _int(sig.get("threads"), f"{field}.threads", 1)
    if sig.get("dtype") not in _DTYPES:
        raise _bad(f"{field}.dtype", f"must be one of {', '.join(_DTYPES)}", sig.get("dtype"))
    if not isinstance(sig.get("exact"), bool):
        raise _bad(f"{field}.exact", "must be true or false", sig.get("exact"))
    return Signature.from_json(sig)


def _measured(measured):
    if not isinstance(measured, list):
        raise _bad("measured", "must be a list", measured)
    for i, entry in enumerate(measured):
        field = f"measured[{i}]"
        _object(entry, field)
        _signature(entry.get("signature"), f"{field}.signature")
        winner = entry.get("winner")
        if not isinstance(winner, str) or not winner:
            raise _bad(f"{field}.winner", "must be a backend name", winner)
        times = _object(entry.get("times", {}), f"{field}.times")
        for name, t in times.items():
            _number(t, f"{field}.times.{name}", nan=True)


def check(doc, format_version):
    """Raise :class:`WisdomError` naming the first field of ``doc`` that is
    not valid wisdom; return ``doc``."""
    if not isinstance(doc, dict) or doc.get("format") != format_version:
        raise WisdomError(f"not fastconv wisdom (expected a JSON object with \"format\": {format_version})")
    if doc.get("fit_threads") is not None:
        _int(doc["fit_threads"], "fit_threads", 1)
    if "tiny_macs" in doc:
        _number(doc["tiny_macs"], "tiny_macs")
    if "machine" in doc:
        _object(doc["machine"], "machine")
    _model(doc.get("model", {}))
    if "calibration" in doc:
        _calibration(doc["calibration"])
    _measured(doc.get("measured", []))
    return doc
