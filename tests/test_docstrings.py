"""Every public function and method documents itself in numpydoc style:
Parameters (when it takes any), Returns (when it returns something),
Raises (unless it cannot raise: listed below) and Examples, which the docs
build runs as doctests (``sphinx-build -b doctest docs ...`` in CI)."""
import inspect
import re

import pytest

import fastconv
from fastconv import kernels

# Public callables that raise nothing of their own: no Raises section.
CANNOT_RAISE = {"available_backends", "forget_wisdom", "show_config", "laplacian", "sobel", "scharr",
                "ConvGrads", "CorrGrads", "IgnoredArgumentWarning"}
# Classes document their constructor's parameters; the NamedTuples have fields.
NO_PARAMETERS = {"ConvGrads", "CorrGrads"}


def _public():
    items = [(name, getattr(fastconv, name)) for name in fastconv.__all__ if name != "kernels"]
    items += [(f"kernels.{name}", getattr(kernels, name)) for name in
              ("edge", "finite_difference", "laplacian", "box", "gaussian", "sobel", "scharr")]
    items += [(f"Conv2D.{name}", getattr(fastconv.Conv2D, name)) for name in ("forward", "backward", "step")]
    items.append(("ReceptiveField.region", type(fastconv.receptive_field([2])).region))
    return items


def _sections(doc):
    return set(re.findall(r"^\s*(\w[\w ]*)\n\s*-{3,}\s*$", doc, re.M))


@pytest.mark.parametrize("name, obj", _public(), ids=[n for n, _ in _public()])
def test_numpydoc_sections(name, obj):
    doc = inspect.getdoc(obj) or ""
    found = _sections(doc)
    short = name.rsplit(".", 1)[-1]
    assert "Examples" in found and ">>> " in doc, f"{name}: no Examples section with a doctest"
    if short not in CANNOT_RAISE:
        assert "Raises" in found, f"{name}: no Raises section"
    if inspect.isclass(obj):
        if short not in NO_PARAMETERS:
            assert "Parameters" in found, f"{name}: no Parameters section"
        return
    sig = inspect.signature(obj)
    params = [p for p in sig.parameters if p not in ("self",)]
    if params:
        assert "Parameters" in found, f"{name}: takes {params} but has no Parameters section"
    if sig.return_annotation not in (None, "None", inspect.Signature.empty):
        assert "Returns" in found, f"{name}: returns {sig.return_annotation} but has no Returns section"
