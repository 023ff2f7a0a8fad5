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

This module only reads, merges and writes documents; :mod:`.state` owns the
in-memory state.
"""
import json
import os
import warnings
from pathlib import Path

from .. import settings

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
    """The document at ``path``; ValueError when it is not fastconv wisdom."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    validate(doc, str(path))
    return doc


def validate(doc, where="wisdom"):
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{where} is not fastconv wisdom (expected a JSON object with \"format\": {FORMAT})")
    if not isinstance(doc.get("model", {}), dict) or not isinstance(doc.get("measured", []), list):
        raise ValueError(f"{where}: \"model\" must be an object and \"measured\" a list")
    return doc


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
    measured = {json.dumps(e["signature"]): e for e in base.get("measured", [])}
    measured.update({json.dumps(e["signature"]): e for e in extra.get("measured", [])})
    out["measured"] = list(measured.values())
    return out


def write(doc, path):
    """Write ``doc`` atomically (temp file + rename); returns the path."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
    return path
