"""``fastconv.show_config()`` / ``python -m fastconv info``."""
import platform
import sys
from typing import Any, Optional, TextIO

from .. import backends
from .._version import __version__
from ..settings import get_threads


def config() -> dict[str, Any]:
    """A dict of versions, backends (with why one did not load) and threads."""
    import numpy

    info = {
        "fastconv": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "threads": get_threads(),
        "backends": {},
    }
    for name in backends.names():
        module = backends.load(name)
        if module is None:
            info["backends"][name] = {"available": False, "reason": backends.load_error(name)}
        else:
            details = module.describe() if hasattr(module, "describe") else {}
            info["backends"][name] = {"available": True, **details}
    return info


def show_config(file: Optional[TextIO] = None) -> None:
    """Print versions, which backends are available (and why not), OpenMP on or
    off and thread counts: ``python -m fastconv info``.

    Parameters
    ----------
    file : text stream, optional
        Where to print (default: ``sys.stdout``).

    Examples
    --------
    >>> import io
    >>> report = io.StringIO()
    >>> fastconv.show_config(report)
    >>> report.getvalue().splitlines()[0].split()[0]
    'fastconv:'
    """
    info = config()
    out = file or sys.stdout
    for key, value in info.items():
        if key != "backends":
            print(f"{key:>10}: {value}", file=out)
    print("  backends:", file=out)
    for name, details in info["backends"].items():
        state = "available" if details.pop("available") else "NOT available"
        extra = ", ".join(f"{k}={v}" for k, v in details.items())
        print(f"    {name:<7} {state}" + (f" ({extra})" if extra else ""), file=out)
