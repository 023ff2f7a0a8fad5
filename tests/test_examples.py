"""Every script in examples/ runs, in a fresh temporary directory, exits 0
and writes exactly the files it says it wrote ("wrote <path>" on stdout).

matplotlib is optional: a script that uses it is also run with matplotlib
made unimportable, and must then still exit 0, say it skipped the figure
and write nothing.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastconv

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
# The chapter's scripts and the figure each must produce (more may exist).
FIGURES = {
    "edge_detection.py": "edge_detection.png",
    "diagonal_edges.py": "diagonal_edges.png",
    "padding_and_stride.py": "padding_and_stride.png",
}
WROTE = re.compile(r"^wrote (\S+)\s*$", re.MULTILINE)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 600  # seconds; generous, the machine may be shared


def _run(script, cwd, extra_path=()):
    env = dict(os.environ)
    # the fastconv this test session imported, whether installed or from the tree
    package_parent = str(Path(fastconv.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([*extra_path, package_parent, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MPLBACKEND"] = "Agg"
    env.pop("DISPLAY", None)
    return subprocess.run(
        [sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )


def _files(root):
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_examples_exist():
    names = {p.name for p in SCRIPTS}
    assert set(FIGURES) <= names, f"missing examples: {set(FIGURES) - names}"


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_example_runs_and_writes_what_it_says(script, tmp_path):
    proc = _run(script, tmp_path)
    assert proc.returncode == 0, f"{script.name} exited {proc.returncode}\n--- stderr ---\n{proc.stderr}"
    claimed = {Path(os.path.normpath(p)) for p in WROTE.findall(proc.stdout)}
    written = _files(tmp_path)
    assert written == claimed, f"{script.name}: wrote {sorted(map(str, written))}, said {sorted(map(str, claimed))}"
    for rel in claimed:
        data = (tmp_path / rel).read_bytes()
        assert data, f"{rel} is empty"
        if rel.suffix == ".png":
            assert data.startswith(PNG_MAGIC), f"{rel} is not a PNG"
    figure = FIGURES.get(script.name)
    if figure is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            assert "skipped" in proc.stdout
        else:
            assert Path(figure) in claimed, f"{script.name} did not write {figure}"


USES_MATPLOTLIB = [p for p in SCRIPTS if "matplotlib" in p.read_text()]


@pytest.mark.parametrize("script", USES_MATPLOTLIB, ids=[p.name for p in USES_MATPLOTLIB])
def test_example_without_matplotlib(script, tmp_path):
    blocker = tmp_path / "blocker" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("matplotlib hidden by test_examples")\n')
    work = tmp_path / "work"
    work.mkdir()
    proc = _run(script, work, extra_path=[str(blocker.parent)])
    assert proc.returncode == 0, f"{script.name} without matplotlib exited {proc.returncode}\n{proc.stderr}"
    assert "skipped" in proc.stdout.lower()
    assert not WROTE.search(proc.stdout)
    assert not _files(work), f"{script.name} wrote {sorted(map(str, _files(work)))} without matplotlib"
