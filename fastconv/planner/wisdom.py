"""Wisdom: fitted cost-model constants and measured winners, stored as JSON.

Where it lives: ``$FASTCONV_WISDOM`` if set, else ``wisdom.json`` in the user
cache directory (``platformdirs.user_cache_dir("fastconv")``; XDG fallback
when platformdirs is missing). Without it, the defaults shipped in
``fastconv/default_wisdom.json`` are used; those were written by
``python -m fastconv tune --output fastconv/default_wisdom.json`` (see
``tools/fit_defaults.py``) on the machine their ``"machine"`` entry names.

Document layout (``"format": 1``)::

    {"format": 1, "fastconv": "0.1.0",
     "machine": {...where and when it was fitted...},
     "fit_threads": 2,            # thread count the constants were fitted with
     "tiny_macs": 4096,           # at or below: least-overhead backend wins
     "model": {"cython": {"float32": {"terms": [...], "coef": [...]}, ...}, ...},
     "measured": [{"signature": [...], "winner": "cython", "times": {...}}, ...]}

Every field is validated on load (:mod:`.wisdom_check`). Writing is safe
against concurrent writers, threads or processes: under a lock (an
``flock`` on ``<file>.lock`` plus a thread lock), the file on disk is read,
the new document merged over it (so another process's measured winners are
kept) and written to a fresh ``mkstemp`` file in the same directory, which
then atomically replaces the old one; nothing follows a planted symlink,
and a failed write leaves no temporary file behind.

This module only reads, merges and writes documents; :mod:`.state` owns the
in-memory state.
"""
import contextlib
import json
import os
import tempfile
import threading
import warnings
from pathlib import Path

from .. import settings
from .wisdom_check import WisdomError, check

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: the thread lock only
    fcntl = None

FORMAT = 1
DEFAULTS_PATH = Path(__file__).parent.parent / "default_wisdom.json"


def cache_dir():
    try:
        import platformdirs
    except ImportError:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(base) / "fastconv"
    return Path(platformdirs.user_cache_dir("fastconv"))


def user_path():
    """The wisdom file this process reads and ``export_wisdom()`` writes."""
    env = settings.wisdom_file()
    return Path(env).expanduser() if env else cache_dir() / "wisdom.json"


def empty():
    return {"format": FORMAT, "model": {}, "measured": []}


def read(path):
    """The document at ``path``; ValueError naming the bad field when it is
    not valid fastconv wisdom (OSError when it cannot be read)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: brackets nested thousands deep
        raise WisdomError(f"{path} is not valid JSON ({type(exc).__name__}: {exc})") from None
    return validate(doc, str(path))


def validate(doc, where="wisdom"):
    """``doc`` if every field is valid wisdom; else ValueError saying where."""
    try:
        return check(doc, FORMAT)
    except WisdomError as exc:
        raise WisdomError(f"{where}: {exc}") from None


def defaults():
    try:
        return read(DEFAULTS_PATH)
    except (OSError, ValueError) as exc:  # a broken install still dispatches (by rules)
        warnings.warn(f"fastconv: shipped default wisdom unreadable ({exc}); using rules only", stacklevel=3)
        return empty()


def load_user():
    """The user's wisdom document, or None when there is none. A corrupt file
    is reported with a warning and ignored, never an error on the data path."""
    path = user_path()
    if not path.is_file():
        return None
    try:
        return read(path)
    except (OSError, ValueError) as exc:
        warnings.warn(f"fastconv: ignoring wisdom file {path}: {exc}", stacklevel=3)
        return None


def merge(base, extra):
    """``extra`` laid over ``base``: model constants per (backend, dtype),
    measured entries per signature (extra wins). Returns a new document."""
    out = {k: v for k, v in base.items() if k not in ("model", "measured")}
    out.update({k: v for k, v in extra.items() if k not in ("model", "measured")})
    model = {b: dict(d) for b, d in base.get("model", {}).items()}
    for backend, per_dtype in extra.get("model", {}).items():
        model.setdefault(backend, {}).update(per_dtype)
    out["model"] = model
    def key(entry):  # one signature, whatever the order of its fields
        return json.dumps(entry["signature"], sort_keys=True)

    measured = {key(e): e for e in base.get("measured", [])}
    measured.update({key(e): e for e in extra.get("measured", [])})
    out["measured"] = list(measured.values())
    return out


def check_target(path):
    """``path`` as a Path, after checking that a wisdom file can be written
    there (``tune`` asks before it spends minutes timing): not a directory,
    in a directory that exists or can be made, and writable."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"wisdom path {path} is a directory; give a file name (e.g. {path / 'wisdom.json'})")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write wisdom to {path}: directory {path.parent} is not writable")
    return path


_write_lock = threading.Lock()


@contextlib.contextmanager
def _locked(path):
    """Hold the thread lock and an exclusive flock on ``<path>.lock``."""
    with _write_lock:
        if fcntl is None:
            yield
            return
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path.with_name(path.name + ".lock"), flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock


def write(doc, path, merge_existing=True):
    """Write ``doc`` to ``path`` atomically, under the lock; with
    ``merge_existing`` (the default) ``doc`` is merged over the valid wisdom
    already there, so concurrent writers lose nothing. Returns the path."""
    path = check_target(path)
    with _locked(path):
        if merge_existing and path.is_file():
            try:
                doc = merge(read(path), doc)
            except (OSError, ValueError) as exc:
                warnings.warn(f"fastconv: replacing unreadable wisdom file {path}: {exc}", stacklevel=3)
        mode = path.stat().st_mode & 0o777 if path.is_file() else 0o644
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # O_EXCL
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1, sort_keys=True)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)  # replaces a symlink at path, never writes through it
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    return path
