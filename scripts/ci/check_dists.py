"""What a release's sdist and wheel must hold (.ci/run step 2).

    python check_dists.py SDIST WHEEL

The sdist: everything needed to build the package and to run its tests and
docs from the unpacked tree, and no build artefacts. The wheel: the compiled
extension, the type marker, the licence (PEP 639: License-Expression and
the file under .dist-info/licenses/) and the console script.
"""
import sys
import tarfile
import zipfile
from email.parser import HeaderParser

SDIST_NEEDS = (
    "LICENSE", "README.md", "CHANGELOG.md", "CONTRIBUTING.md", "pyproject.toml", "setup.py", "MANIFEST.in",
    "fastconv/py.typed", "fastconv/default_wisdom.json", "fastconv/backends/_cython.pyx",
    "fastconv/backends/row.template.c", "fastconv/backends/_corr_kernels.h",
    "tests/conftest.py", "tests/_oracle_cases.py", "tests/typing/use_api.py",
    "examples/_plotting.py", "docs/conf.py", "docs/index.md", "scripts/test.sh",
)


def check_sdist(path):
    with tarfile.open(path) as tar:
        names = tar.getnames()
    root = names[0].split("/")[0]
    rel = {n[len(root) + 1:] for n in names if n.startswith(root + "/")}
    missing = [n for n in SDIST_NEEDS if n not in rel]
    assert not missing, f"the sdist lacks {missing}"
    tests = {n for n in rel if n.startswith("tests/test_") and n.endswith(".py")}
    assert len(tests) >= 20, f"the sdist holds only {len(tests)} test files"
    junk = [n for n in rel if n.endswith((".so", ".pyd", ".pyc", ".o")) or "/__pycache__/" in n]
    assert not junk, f"the sdist holds build artefacts: {junk}"
    print(f"sdist: {path.rsplit('/', 1)[-1]}: {len(rel)} files, {len(tests)} test modules")


def check_wheel(path):
    with zipfile.ZipFile(path) as whl:
        names = whl.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        meta = HeaderParser().parsestr(whl.read(f"{info}/METADATA").decode())
        entry_points = whl.read(f"{info}/entry_points.txt").decode()
    ext = [n for n in names if n.startswith("fastconv/backends/_cython") and n.endswith((".so", ".pyd"))]
    assert ext, f"the wheel holds no compiled extension: {names}"
    assert "fastconv/py.typed" in names, "the wheel lacks fastconv/py.typed"
    assert f"{info}/licenses/LICENSE" in names, f"the wheel lacks {info}/licenses/LICENSE"
    assert meta["License-Expression"] == "BSD-3-Clause", meta["License-Expression"]
    assert meta.get_all("License-File") == ["LICENSE"], meta.get_all("License-File")
    assert "Typing :: Typed" in meta.get_all("Classifier"), meta.get_all("Classifier")
    assert meta["Keywords"], "no keywords"
    assert "fastconv = fastconv.__main__:main" in entry_points, entry_points
    print(f"wheel: {path.rsplit('/', 1)[-1]} holds {ext[0]}, py.typed, {info}/licenses/LICENSE;"
          f" License-Expression {meta['License-Expression']}, {len(meta.get_all('Classifier'))} classifiers")


if __name__ == "__main__":
    check_sdist(sys.argv[1])
    check_wheel(sys.argv[2])
