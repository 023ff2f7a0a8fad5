"""The workspace cap: the most scratch memory one call may allocate.

Paths that trade memory for speed (im2col in the ``gemm`` backend) build
their scratch arrays in tiles no larger than this. Default: 64 MiB, or
``FASTCONV_WORKSPACE_MB`` (a number of MiB, fractions allowed) if set;
:func:`set_workspace_limit` overrides both.
"""
import os

DEFAULT_BYTES = 64 * 2**20
_limit = None  # None: use the environment / default


def _from_env():
    env = os.environ.get("FASTCONV_WORKSPACE_MB")
    if not env:
        return DEFAULT_BYTES
    try:
        mb = float(env)
    except ValueError:
        mb = -1.0
    if not mb > 0:
        raise ValueError(f"FASTCONV_WORKSPACE_MB must be a positive number of MiB, got {env!r}")
    return max(1, int(mb * 2**20))


def get_workspace_limit():
    """The workspace cap in bytes (see :func:`set_workspace_limit`)."""
    return _limit if _limit is not None else _from_env()


def set_workspace_limit(nbytes):
    """Cap the scratch memory one call may use, in bytes; ``None`` restores the
    default (``FASTCONV_WORKSPACE_MB`` or 64 MiB).

    The im2col workspace is built in tiles of at most this size. The one
    exception is a cap smaller than a single output element's patch column
    (C*kh*kw elements): that one column is still built, so the cap is then
    exceeded by less than one column.
    """
    global _limit
    if nbytes is None:
        _limit = None
        return
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 1:
        raise ValueError(f"workspace limit must be a positive int (bytes) or None, got {nbytes!r}")
    _limit = nbytes
