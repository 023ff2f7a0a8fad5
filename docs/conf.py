"""Sphinx configuration: the user guide (Markdown, MyST), the API reference
from the numpydoc-style docstrings (napoleon), the examples gallery (run at
build time by _ext/gallery.py) and the docstrings' examples as doctests
(``sphinx-build -b doctest``). Built from the INSTALLED fastconv."""
import sys
from pathlib import Path

import fastconv

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

project = "fastconv"
author = "the fastconv developers"
copyright = "2026, the fastconv developers"
release = version = fastconv.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "myst_parser",
    "gallery",
    "benchchart",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "README.md"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the docstrings say the types; numpy.typing aliases unfold into long unions

doctest_global_setup = """
import numpy as np
import fastconv
from fastconv import kernels
np.set_printoptions(legacy=False)
"""

html_theme = "alabaster"
html_static_path = ["_static"]
html_theme_options = {"description": "fast, verified 2-D convolution on NumPy arrays", "page_width": "1100px"}
