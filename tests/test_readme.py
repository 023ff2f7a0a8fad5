"""The README's quickstart and the user guide's boundary-mode table say what fastconv does."""
import re

import numpy as np
import pytest

import fastconv
from _oracle_cases import REPO_ROOT, TABLES_PAGE


@pytest.fixture(scope="module")
def readme():
    path = REPO_ROOT / "README.md"
    if not path.exists():
        pytest.skip(f"no README.md at {path}")
    return path.read_text()


def test_quickstart_outputs(readme):
    """Every ``expr  # array(...)`` line of the quickstart evaluates to that array."""
    block = re.search(r"## Quickstart\s+```python\n(.*?)```", readme, re.S).group(1)
    namespace = {}
    checked = 0
    for line in block.splitlines():
        code, _, comment = line.partition("#")
        if 'backend="cython"' in code and fastconv.backends.load("cython") is None:
            continue  # extension not built here (FASTCONV_REQUIRE_COMPILED runs have it)
        if comment.strip().startswith("array("):
            got = eval(code, namespace)
            expected = eval(comment.strip(), {"array": np.array})
            np.testing.assert_array_equal(got, expected)
            checked += 1
        else:
            exec(code, namespace)
    assert checked >= 2


@pytest.fixture(scope="module")
def tables():
    if not TABLES_PAGE.exists():
        pytest.skip(f"no {TABLES_PAGE}")
    return TABLES_PAGE.read_text()


def test_readme_links_the_docs(readme):
    """The README keeps the quickstart and the set-up commands and links the guide."""
    for heading in ("## Quickstart", "## Set-up commands", "## Documentation"):
        assert heading in readme, heading
    for link in re.findall(r"\]\(((?:docs/|CONTRIBUTING|CHANGELOG|LICENSE)[^)#]*)", readme):
        assert (REPO_ROOT / link).exists(), f"README links {link}, which does not exist"


def test_mode_table_examples(tables):
    """The table's padded row ``a b c d`` (2 each side) for every mode."""
    rows = re.findall(r"^\| `(\w+)`[^|]*\|[^|]*\|[^|]*\|[^|]*\| `([a-d0 ]+)` \|$", tables, re.M)
    assert {m for m, _ in rows} == {"constant", "reflect", "symmetric", "edge", "wrap"}
    values = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "0": 0.0}
    for mode, padded in rows:
        got = fastconv.corr2d([[1.0, 2.0, 3.0, 4.0]], [[1.0]], padding=((0, 0), (2, 2)), mode=mode, backend="naive")
        assert got[0].tolist() == [values[c] for c in padded.split()], mode
