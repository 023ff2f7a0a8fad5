"""The package's import layers: a module may import only modules of its own
layer or of lower layers, every module is declared in a layer, the import
graph among fastconv modules has no cycle, and the compiled extension's
source imports nothing from fastconv.

Imports are read statically with ``ast`` from every ``.py`` file of the
installed package (the directory of ``fastconv.__file__``), including imports
inside functions and methods; relative imports are resolved to absolute
module names. ``from P import x`` means module ``P.x`` when that is a module
of the package, else ``P`` itself (a package counts as its ``__init__``);
``import fastconv`` or ``from fastconv import name`` (a name that is not a
submodule) from inside the package imports the top-level ``__init__``,
layer 8. A new module must be added to ``LAYERS`` below.
"""
import ast
import importlib.machinery
import re
from pathlib import Path

import pytest

import fastconv

# The layer order, as data. An entry ending in ".*" is a package: the package
# itself and every module in it.
LAYERS = {
    0: ("fastconv._version", "fastconv._typing", "fastconv.settings"),
    1: ("fastconv._geometry", "fastconv._canonical", "fastconv._complex", "fastconv._arraycache", "fastconv._dtypes", "fastconv._padding", "fastconv._patches", "fastconv._workers", "fastconv._blas",
        "fastconv._planes", "fastconv._scratch", "fastconv.kernels"),
    2: ("fastconv.backends.*",),
    3: ("fastconv._args",),
    4: ("fastconv.planner.*",),
    5: ("fastconv._engine",),
    6: ("fastconv._lane", "fastconv._corr2d", "fastconv._conv2d", "fastconv._conv_transpose", "fastconv._grad_input", "fastconv._grad_weight",
        "fastconv._grad_weight_taps", "fastconv.grad",
        "fastconv._im2col", "fastconv._toeplitz", "fastconv._receptive", "fastconv.layers"),
    7: ("fastconv.tools.*", "fastconv.compat.*", "fastconv.dask.*"),
    8: ("fastconv", "fastconv.__main__"),
}

PACKAGE = "fastconv"
PACKAGE_DIR = Path(fastconv.__file__).resolve().parent


# ------------------------------------------------------------------ scanning

def _module_name(path):
    """Dotted module name of a source or extension file of the package."""
    rel = path.relative_to(PACKAGE_DIR)
    parts = list(rel.parts)
    stem = parts[-1]
    for suffix in sorted(importlib.machinery.EXTENSION_SUFFIXES, key=len, reverse=True) + [".pyx", ".py"]:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    parts[-1] = stem
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE] + parts)


def _sources():
    """{module name: path} of every .py file of the package."""
    return {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py")) if "__pycache__" not in p.parts}


def _pyx_sources():
    return {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.pyx"))}


def _extension_modules():
    found = set()
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        found |= {_module_name(p) for p in PACKAGE_DIR.rglob("*" + suffix) if "__pycache__" not in p.parts}
    return found


SOURCES = _sources()
PACKAGES = {name for name, path in SOURCES.items() if path.name == "__init__.py"}
# Everything importable as a module of the package: sources, Cython sources
# and built extensions (``from . import _cython`` names a module).
MODULES = set(SOURCES) | set(_pyx_sources()) | _extension_modules()


def _is_ours(name):
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def resolve_from(importer, level, module):
    """The absolute module a ``from <level dots><module> import ...`` in
    ``importer`` starts from."""
    if level == 0:
        return module
    base = importer.split(".") if importer in PACKAGES else importer.split(".")[:-1]
    if level - 1 > len(base) - 1:
        raise ValueError(f"{importer}: relative import beyond the top-level package")
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(importer, source):
    """[(imported fastconv module, line)] for every import statement in
    ``source`` (module ``importer``), at any depth."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_ours(alias.name):
                    found.append((alias.name, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            origin = resolve_from(importer, node.level, node.module)
            if not _is_ours(origin):
                continue
            for alias in node.names:
                candidate = f"{origin}.{alias.name}"
                found.append((candidate if alias.name != "*" and candidate in MODULES else origin, node.lineno))
    return found


def _graph():
    """{importer: {imported: [lines]}} over the package's own modules."""
    graph = {}
    for name, path in SOURCES.items():
        edges = {}
        for target, line in imports_of(name, path.read_text(encoding="utf-8")):
            edges.setdefault(target, []).append(line)
        graph[name] = edges
    return graph


GRAPH = _graph()


def layer_of(name):
    """The declared layer of module ``name``, or None."""
    for layer, entries in LAYERS.items():
        for entry in entries:
            if entry.endswith(".*"):
                package = entry[:-2]
                if name == package or name.startswith(package + "."):
                    return layer
            elif name == entry:
                return layer
    return None


# --------------------------------------------------------------------- tests

def test_scanner_sees_known_imports():
    """The scanner is not vacuous: it finds top-level, relative, parent and
    function-level imports, and resolves ``from . import name`` to the
    package when ``name`` is not a module."""
    assert "fastconv.planner.decision" in SOURCES and "fastconv.backends._cython" in MODULES
    assert "fastconv.planner.rules" in GRAPH["fastconv.planner.decision"]  # from . import rules, state
    assert "fastconv.backends" in GRAPH["fastconv.planner.decision"]  # from .. import backends
    assert "fastconv.settings" in GRAPH["fastconv.backends.gemm"]  # from ..settings import ...
    assert "fastconv.backends._cython" in GRAPH["fastconv.backends.cython_"]  # the extension
    assert "fastconv.backends" in GRAPH["fastconv.backends.separable"]  # from . import load: the package
    assert "fastconv.tools.tune" in GRAPH["fastconv.__main__"]  # inside a function
    assert resolve_from("fastconv.planner", 1, "state") == "fastconv.planner.state"
    assert resolve_from("fastconv.planner.state", 2, None) == "fastconv"
    src = "def f():\n    class C:\n        def g(self):\n            from .. import _blas\n"
    assert imports_of("fastconv.backends.gemm", src) == [("fastconv._blas", 4)]
    assert imports_of("fastconv.tools.bench", "import fastconv\nfrom fastconv import get_threads\n") == [
        ("fastconv", 1), ("fastconv", 2)]


def test_declared_layers_exist():
    """Every declared module or package exists (a stale declaration would
    hide a renamed module)."""
    missing = []
    for layer, entries in LAYERS.items():
        for entry in entries:
            name = entry[:-2] if entry.endswith(".*") else entry
            exists = name in PACKAGES if entry.endswith(".*") else name in SOURCES
            if not exists:
                missing.append(f"layer {layer}: {entry}")
    assert not missing, "declared but not in the package: " + "; ".join(missing)


def test_every_module_has_a_layer():
    unassigned = sorted(name for name in MODULES if layer_of(name) is None)
    assert not unassigned, (
        "modules not assigned to a layer (declare them in LAYERS in tests/test_import_layers.py): "
        + ", ".join(unassigned)
    )


def test_no_import_of_a_higher_layer():
    violations = []
    for importer, edges in sorted(GRAPH.items()):
        low = layer_of(importer)
        for target, lines in sorted(edges.items()):
            high = layer_of(target)
            where = "line" + ("s " if len(lines) > 1 else " ") + ", ".join(map(str, sorted(set(lines))))
            if target not in MODULES:
                violations.append(f"{importer} ({where}) imports {target}, which is not a module of the package")
            elif low is not None and high is not None and high > low:
                violations.append(f"{importer} (layer {low}, {where}) -> {target} (layer {high})")
    assert not violations, "imports of a higher layer:\n  " + "\n  ".join(violations)


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, result = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for t in graph.get(v, ()):
            if t == v:
                continue
            if t not in index:
                visit(t)
                low[v] = min(low[v], low[t])
            elif t in on_stack:
                low[v] = min(low[v], index[t])
        if low[v] == index[v]:
            component = []
            while True:
                t = stack.pop()
                on_stack.discard(t)
                component.append(t)
                if t == v:
                    break
            if len(component) > 1:
                result.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


def _one_cycle(graph, component):
    """A concrete path a -> b -> ... -> a inside a strongly connected component."""
    members = set(component)
    start = sorted(component)[0]
    path, seen = [start], {start}

    def walk(v):
        for t in sorted(graph.get(v, ())):
            if t == start and len(path) > 1:
                return True
            if t in members and t not in seen:
                seen.add(t)
                path.append(t)
                if walk(t):
                    return True
                path.pop()
        return False

    walk(start)
    return " -> ".join(path + [start])


def test_cycle_finder_reports_cycles():
    graph = {"a": {"b": [1]}, "b": {"c": [1]}, "c": {"a": [1]}, "d": {"d": [1], "a": [1]}}
    (component,) = _cycles(graph)
    assert sorted(component) == ["a", "b", "c"]
    assert _one_cycle(graph, component) == "a -> b -> c -> a"


def test_no_import_cycles():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles among fastconv modules:\n  " + "\n  ".join(
        _one_cycle(GRAPH, c) for c in cycles)


_IMPORT_LINE = re.compile(r"^\s*(?:(?:c?import)\s+([\w.]+)|from\s+(\.*[\w.]*)\s+c?import\b)", re.MULTILINE)
_TRIPLE_QUOTED = re.compile(r'("""|\'\'\')(?:.|\n)*?\1')


def pyx_imports(text):
    """Module names the Cython source imports or cimports (docstrings and
    comments left out)."""
    text = _TRIPLE_QUOTED.sub("", text)
    text = re.sub(r"#.*", "", text)
    return [m.group(1) or m.group(2) for m in _IMPORT_LINE.finditer(text)]


def test_pyx_scanner():
    src = 'cimport numpy\n"""\nfrom fastconv import x\n"""\n  from libc.stdlib cimport free\nfrom . cimport y\n'
    assert pyx_imports(src) == ["numpy", "libc.stdlib", "."]


@pytest.mark.parametrize("name", sorted(_pyx_sources()) or ["(no .pyx)"])
def test_extension_source_imports_nothing_from_fastconv(name):
    if name == "(no .pyx)":
        pytest.skip("the package has no .pyx source")
    text = _pyx_sources()[name].read_text(encoding="utf-8")
    bad = [m for m in pyx_imports(text) if m.startswith(".") or _is_ours(m)]
    assert not bad, f"{name} (.pyx) imports from fastconv: {bad}"
