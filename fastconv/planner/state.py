"""The wisdom in force and the caches built on it.

Wisdom (fitted constants + measured winners) is read lazily, once, on the
first decision: the shipped defaults, with the user's file (see
:mod:`.wisdom`) laid over them. Decisions are cached per signature in a
dict of at most ``DECISION_CACHE_SIZE`` entries (cheap to recompute);
measured winners in an LRU of at most ``MEASURE_CACHE_SIZE``, so varying
shapes never re-measure a signature already seen (unless it was evicted)
and never grow memory without bound. Lookups are lock-free; writes take
``lock``.
"""
import json
import os
import threading
from collections import OrderedDict
from typing import Any, Union

from .. import backends
from . import calibration, costmodel, wisdom
from .rules import from_times
from .signature import Signature

MEASURE_CACHE_SIZE = 256  # measured signatures kept (LRU)
DECISION_CACHE_SIZE = 4096  # modelled decisions kept

lock = threading.Lock()


class State:
    """One wisdom document and what the planner derived from it."""

    def __init__(self, doc, source):
        self.doc = doc
        self.source = source
        self.fit_threads = doc.get("fit_threads")
        self.tiny_macs = doc.get("tiny_macs", 0)
        self.calibration = doc.get("calibration")  # this machine's probe times (see .calibration)
        self.calibration_checked = False  # has auto asked whether to calibrate (once per state)?
        self._calibration_ratios = None  # (backend, dtype) -> (overhead, work, memory) factors, on demand
        self._coef = {}  # (backend, dtype name) -> coefficients or None, filled on demand
        self.decisions = {}  # signature -> Decision
        self.measured = OrderedDict()  # signature -> Decision, LRU
        self.times = {}  # signature -> {backend: measured seconds}
        self.unmatched = []  # measured entries whose winner is not registered (yet)
        # Bumped whenever a cached choice may change (measured winners, the
        # registry, warm()): caches built on this state's choices (the fast
        # lane, fastconv._lane) compare it on every call.
        self.generation = 0
        for entry in doc.get("measured", []):
            try:
                sig = Signature.from_json(entry["signature"])
                times = entry.get("times") or {entry["winner"]: float("nan")}
                self.unmatched.append((sig, entry["winner"], times))
            except (KeyError, TypeError, ValueError):
                continue  # an entry this version cannot read is skipped
        self._match()

    def _match(self):
        """Turn measured entries into decisions where their winner is a
        registered backend (times of unregistered ones are dropped); keep the
        rest for when it is registered. Forget decisions naming a backend
        that is no longer registered."""
        known = set(backends.names())
        for sig in [s for s, d in self.measured.items() if not known.issuperset(_names(d))]:
            with lock:
                self.unmatched.append((sig, self.measured.pop(sig).backend, self.times.pop(sig, {})))
        waiting, self.unmatched = self.unmatched, []
        for sig, winner, times in waiting:
            times = {b: t for b, t in times.items() if b in known}
            if winner in known and winner in times:
                self.remember(sig, from_times(sig, winner, times), times)
            else:
                self.unmatched.append((sig, winner, times))

    def coef(self, name, dtype):
        """Fitted constants of backend ``name`` for ``dtype`` (a dtype name),
        or None: no model, or one fitted for other terms than its family has."""
        key = (name, dtype)
        if key not in self._coef:
            family = backends.row(name).family if name in backends.names() else None
            entry = self.doc.get("model", {}).get(name, {}).get(dtype)
            names = costmodel.term_names(family)
            ok = (entry is not None and names is not None and tuple(entry.get("terms", ())) == names
                  and len(entry.get("coef", ())) == len(names))
            if ok:  # carried to this machine by the probe times (all 1 without a calibration)
                scale = calibration.scales(names, self._ratios().get((name, dtype)))
                self._coef[key] = tuple(float(c) * f for c, f in zip(entry["coef"], scale))
            else:
                self._coef[key] = None
        return self._coef[key]

    def _ratios(self):
        if self._calibration_ratios is None:
            self._calibration_ratios = calibration.ratios(self.doc)
        return self._calibration_ratios

    def set_calibration(self, calibration):
        """Rank with the constants carried to the machine ``calibration`` describes."""
        with lock:
            self.doc = dict(self.doc, calibration=calibration)
            self.calibration = calibration
            self._calibration_ratios = None
            self.calibration_checked = True
            self._coef.clear()
            self.decisions.clear()

    def remember(self, sig, decision, times):
        with lock:
            self.generation += 1
            self.measured[sig] = decision
            self.measured.move_to_end(sig)
            self.times[sig] = dict(times)
            while len(self.measured) > MEASURE_CACHE_SIZE:
                old, _ = self.measured.popitem(last=False)
                self.times.pop(old, None)

    def cache(self, sig, decision):
        with lock:
            if len(self.decisions) >= DECISION_CACHE_SIZE:
                del self.decisions[next(iter(self.decisions))]
            self.decisions[sig] = decision

    def registry_changed(self):
        """A backend was added or removed: constants, decisions and measured
        winners may change."""
        with lock:
            self.generation += 1
            self._coef.clear()
            self.decisions.clear()
        self._match()

    def forget_decisions(self):
        """Drop the modelled decisions (a backend became ready: decide again)."""
        with lock:
            self.generation += 1
            self.decisions.clear()

    def current_doc(self):
        """The document in force, measured winners included (for export).
        Safe while other threads measure: the entries are copied under the
        lock (and ``list()`` of a dict view runs without releasing the GIL,
        so the per-call LRU update cannot interleave with the copy)."""
        with lock:
            measured = list(self.measured.items())
            times = dict(self.times)
            unmatched = list(self.unmatched)
        doc = {k: v for k, v in self.doc.items() if k != "measured"}
        doc["measured"] = [
            {"signature": sig.to_json(), "winner": dec.backend, "times": times.get(sig, {})}
            for sig, dec in measured
        ] + [{"signature": sig.to_json(), "winner": winner, "times": t} for sig, winner, t in unmatched]
        return doc


def _names(decision):
    """Every backend a decision may run."""
    while decision is not None:
        yield decision.backend
        if decision.nonfinite is not None:
            yield decision.nonfinite
        decision = decision.if_rejected


_state = None


def current():
    """The state in force, loading the wisdom files on first use."""
    return _state if _state is not None else _load()


def _load():
    if _state is None:
        doc = wisdom.defaults()
        source = f"defaults ({wisdom.DEFAULTS_PATH})"
        user = wisdom.load_user()
        if user is not None:
            doc = wisdom.merge(doc, user)
            source = str(wisdom.user_path())
        install(State(doc, source))
    return _state


def install(state):
    """Make ``state`` the one in force."""
    global _state
    _state = state
    return state


def peek():
    """The state in force, or None when none was loaded yet."""
    return _state


def reset():
    """Drop the in-memory wisdom and caches; the next call reads the files again."""
    global _state
    _state = None


# ------------------------------------------------------- the public wisdom API

def export_wisdom(path: Union[str, os.PathLike[str], None] = None) -> str:
    """Save the wisdom in force (fitted constants and every measured winner) as JSON.

    The file is updated, not overwritten: under a file lock, what is
    already there is merged under the wisdom in force, so threads and
    processes exporting to one file keep each other's measured winners.
    Delete the file to start from nothing.

    Parameters
    ----------
    path : str or path-like, optional
        Where to write; by default the file fastconv reads at start-up
        (``$FASTCONV_WISDOM`` or the user cache directory, see
        ``fastconv.planner.wisdom_path()``).

    Returns
    -------
    str
        The path written.

    Raises
    ------
    OSError
        The file cannot be written.

    Examples
    --------
    >>> import json, os, tempfile
    >>> path = fastconv.export_wisdom(os.path.join(tempfile.mkdtemp(), "wisdom.json"))
    >>> json.load(open(path))["format"]
    1
    """
    target = wisdom.user_path() if path is None else path
    return str(wisdom.write(current().current_doc(), target))


def import_wisdom(path_or_dict: Union[str, os.PathLike[str], dict[str, Any]]) -> None:
    """Merge wisdom over the wisdom in force.

    Its constants replace ours per (backend, dtype), its measured winners are
    added. Cached decisions are dropped.

    Parameters
    ----------
    path_or_dict : str, path-like or dict
        A JSON file written by :func:`export_wisdom` or ``python -m fastconv
        tune``, or the document itself.

    Raises
    ------
    ValueError
        The document is not fastconv wisdom.
    OSError
        The file cannot be read.

    Examples
    --------
    >>> import os, tempfile
    >>> path = fastconv.export_wisdom(os.path.join(tempfile.mkdtemp(), "wisdom.json"))
    >>> fastconv.import_wisdom(path)
    >>> fastconv.import_wisdom({"format": "not wisdom"})
    Traceback (most recent call last):
        ...
    fastconv.planner.wisdom_check.WisdomError: the dict given: not fastconv wisdom (expected a JSON object with "format": 1)
    """
    if isinstance(path_or_dict, dict):
        try:
            copy = json.loads(json.dumps(path_or_dict))
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValueError(f"the dict given is not JSON-serialisable wisdom: {exc}") from None
        doc = wisdom.validate(copy, "the dict given")
        where = "dict"
    elif isinstance(path_or_dict, (str, os.PathLike)):
        doc = wisdom.read(path_or_dict)
        where = str(path_or_dict)
    else:  # an int would be taken by open() as a file descriptor (and closed)
        raise TypeError(f"import_wisdom takes a path (str or os.PathLike) or a dict, got {path_or_dict!r}")
    old = current()
    install(State(wisdom.merge(old.current_doc(), doc), f"{old.source} + {where}"))


def forget_wisdom() -> None:
    """Forget fitted constants and measured winners in this process.

    Back to the shipped defaults; files on disk are left alone (delete the one
    ``fastconv.planner.wisdom_path()`` names to forget for good).

    Examples
    --------
    >>> fastconv.forget_wisdom()
    >>> fastconv.plan(np.ones((8, 8)), np.ones((3, 3))).backend in fastconv.available_backends()
    True
    """
    install(State(wisdom.defaults(), f"defaults ({wisdom.DEFAULTS_PATH}); user wisdom forgotten"))


def wisdom_path() -> str:
    """The wisdom file read at start-up and written by ``export_wisdom()``."""
    return str(wisdom.user_path())


def _registry_changed():
    if _state is not None:
        _state.registry_changed()


backends.on_change(_registry_changed)
