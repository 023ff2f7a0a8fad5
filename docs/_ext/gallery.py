"""The examples gallery: every ``examples/*.py`` (not ``_*``) is run when the
docs are built, in a scratch directory, and gets a page with its docstring,
its source, what it printed and the figures it wrote.

The pages are generated into ``docs/gallery/`` (not in git). A script that
fails fails the build: the gallery shows what the examples really do.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
EXAMPLES = DOCS.parent / "examples"
OUT = DOCS / "gallery"
WROTE = re.compile(r"^wrote (\S+)\s*$", re.MULTILINE)


def _title_and_text(source):
    doc = re.match(r'\s*"""(.*?)"""', source, re.S)
    lines = (doc.group(1) if doc else "").strip().splitlines() or ["(no docstring)"]
    return lines[0].rstrip("."), "\n".join(lines[1:]).strip()


def _run(script, workdir):
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("DISPLAY", None)
    proc = subprocess.run([sys.executable, str(script)], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"examples/{script.name} exited {proc.returncode}:\n{proc.stderr}")
    return proc.stdout


def _page(script, stdout, figures):
    title, text = _title_and_text(script.read_text())
    parts = [f"# {script.stem}: {title}", "", "```text", text, "```", "",
             f"Run it: `python examples/{script.name}`", ""]
    for fig in figures:
        parts += [f"![{fig}]({fig})", ""]
    parts += ["## Output", "", "```text", stdout.rstrip(), "```", "",
              "## Source", "", f"```{{literalinclude}} ../../examples/{script.name}", ":language: python", "```", ""]
    return "\n".join(parts)


def build(app=None):
    scripts = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    scratch = OUT / "_run"
    index = ["# Examples gallery", "",
             "The chapter's examples, run when these pages were built (figures need matplotlib).", "",
             "```{toctree}", ":maxdepth: 1", ""]
    for script in scripts:
        work = scratch / script.stem
        work.mkdir(parents=True)
        stdout = _run(script, work)
        figures = []
        for name in WROTE.findall(stdout):
            target = Path(name).name
            shutil.copy(work / name, OUT / target)
            figures.append(target)
        (OUT / f"{script.stem}.md").write_text(_page(script, stdout, figures))
        index.append(script.stem)
    shutil.rmtree(scratch)
    (OUT / "index.md").write_text("\n".join(index + ["```", ""]))


def setup(app):
    app.connect("builder-inited", build)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
