"""The 2-D benchmark cases and contenders, shared with ``python -m fastconv bench``.

The registry itself lives in :mod:`fastconv.tools.cases` and
:mod:`fastconv.tools.contenders` (so that the ``bench`` command works from
an installed wheel, where this directory does not exist); this module is
the suite's view of it. Add a case there and both the pytest-benchmark
suite and the report pick it up.
"""
from fastconv.tools.cases import CASES, QUICK, Case, check, reference, same_pads
from fastconv.tools.contenders import Contender, Skip, contenders

__all__ = ["CASES", "QUICK", "Case", "Contender", "Skip", "check", "contenders", "reference", "same_pads", "pairs"]


def pairs(cases=CASES):
    """Every (case, contender) pair, in table order, with a readable id."""
    return [(case, contender) for case in cases for contender in contenders()]


def pair_id(pair):
    case, contender = pair
    return f"{case.name}-{contender.name}"
