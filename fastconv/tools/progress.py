"""The one progress display of the tools: a tqdm bar on stderr when tqdm is
installed (it is in the ``bench`` extra), else a plain counter on stderr.

Both have the same four methods: ``set_description(text)``,
``set_postfix_str(text)``, ``update(n=1)`` and ``close()``, and both work
as context managers.
"""
import sys


def progress(total, desc="", *, unit="case", leave=False, bar=True, file=None):
    """A progress display for ``total`` steps. ``bar=False`` (or no tqdm)
    gives the plain counter."""
    file = file or sys.stderr
    if bar:
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            return tqdm(total=total, desc=desc, unit=unit, file=file, leave=leave)
    return Counter(total, desc, file=file)


class Counter:
    """A plain stand-in for tqdm: one line ``[step/total] description`` on
    every new description (the step being started) and, between
    descriptions, one each time another tenth of the total is done, so a
    long run can be followed without flooding a log."""

    def __init__(self, total, desc="", *, file=None):
        self.total, self.desc, self.postfix, self.n = total, desc, "", 0
        self.file = file or sys.stderr
        self._tenths = 0
        self._fresh = False  # a line was printed since the last update

    def _line(self, step):
        text = " ".join(t for t in (self.desc, self.postfix) if t)
        print(f"[{step}/{self.total}] {text}".rstrip(), file=self.file, flush=True)
        self._fresh = True

    def set_description(self, text):
        self.desc = text
        self._line(min(self.n + 1, self.total))

    def set_postfix_str(self, text):
        self.postfix = text

    def update(self, n=1):
        self.n += n
        tenths = 10 * self.n // max(self.total, 1)
        if tenths > self._tenths and not self._fresh:
            self._line(self.n)
        self._tenths = max(self._tenths, tenths)
        self._fresh = False

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
