"""The planner's key: a call reduced to what decides which backend is fastest.

:class:`Signature` is the full problem (shapes, padding, stride, dilation,
groups, dtype, thread count, integer inputs): decisions and measured winners
are cached per signature, and wisdom files store them as JSON.
:class:`Problem` is the same with the derived sizes the cost model and the
rules read by name (output size, channels per group).
"""
from typing import NamedTuple

from .._geometry import output_length

DTYPE_NAMES = {"f": "float32", "d": "float64"}
_DTYPE_CHARS = {v: k for k, v in DTYPE_NAMES.items()}


class Signature(NamedTuple):
    x: tuple  # (N, C, H, W), before padding
    w: tuple  # (O, C/groups, kh, kw)
    pads: tuple  # ((top, bottom), (left, right))
    stride: tuple
    dilation: tuple
    groups: int
    dtype: str  # numpy dtype char: "f" or "d"
    threads: int
    exact: bool  # exact sums wanted: every input was integer/bool, or FASTCONV_EXACT=1 (rules.wants_exact)

    @property
    def dtype_name(self):
        return DTYPE_NAMES[self.dtype]

    def to_json(self):
        return {"x": list(self.x), "w": list(self.w), "pads": [list(p) for p in self.pads],
                "stride": list(self.stride), "dilation": list(self.dilation), "groups": self.groups,
                "dtype": self.dtype_name, "threads": self.threads, "exact": self.exact}

    @classmethod
    def from_json(cls, s):
        return cls(tuple(int(v) for v in s["x"]), tuple(int(v) for v in s["w"]),
                   tuple(tuple(int(v) for v in p) for p in s["pads"]), tuple(int(v) for v in s["stride"]),
                   tuple(int(v) for v in s["dilation"]), int(s["groups"]), _DTYPE_CHARS[s["dtype"]],
                   int(s["threads"]), bool(s["exact"]))


class Problem(NamedTuple):
    """A signature with its derived sizes, fields read by name."""

    n: int
    c: int
    h: int
    w: int
    o: int
    cg: int
    kh: int
    kw: int
    pads: tuple
    stride: tuple
    dilation: tuple
    groups: int
    dtype: str
    threads: int
    exact: bool
    ho: int
    wo: int

    @classmethod
    def of(cls, sig):
        n, c, h, w = sig.x
        o, cg, kh, kw = sig.w
        ho, wo = (output_length(size, k, padding=p, stride=s, dilation=d)
                  for size, k, p, s, d in zip((h, w), (kh, kw), sig.pads, sig.stride, sig.dilation))
        return cls(n, c, h, w, o, cg, kh, kw, sig.pads, sig.stride, sig.dilation, sig.groups, sig.dtype,
                   sig.threads, sig.exact, ho, wo)

    @property
    def dtype_name(self):
        return DTYPE_NAMES[self.dtype]

    @property
    def macs(self):
        """Multiply-adds of the direct algorithm."""
        return self.n * self.o * self.ho * self.wo * self.cg * self.kh * self.kw

    @property
    def padded_hw(self):
        return self.h + sum(self.pads[0]), self.w + sum(self.pads[1])
