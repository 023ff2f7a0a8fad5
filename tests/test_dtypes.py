"""The dtype table (docs/guide/arguments.md), fastconv._dtypes and every backend agree."""
import itertools
import re

import numpy as np
import pytest

import fastconv
from fastconv._dtypes import image_result_dtype
from _oracle_cases import ALL_INPUT_DTYPES, TABLES_PAGE, is_approximate, random_array, tolerance

SUPPORTED = [np.dtype(d) for d in ALL_INPUT_DTYPES]
UNSUPPORTED_NAMES = ("clongdouble", "longdouble", "object", "str", "bytes", "datetime64", "timedelta64")
COMPLEX_NAMES = ("complex64", "complex128")


def _expected_rule(x, k):
    """The image rule as _dtypes documents it, restated: a float image keeps
    its precision (float16 -> float32); an integer image with a float kernel
    is float32 up to 16 bits, else float64; integers with integers float64."""
    if x.kind == "f":
        return np.dtype(np.float32) if x.itemsize <= 4 else np.dtype(np.float64)
    if k.kind == "f":
        return np.dtype(np.float32) if x.itemsize <= 2 else np.dtype(np.float64)
    return np.dtype(np.float64)


def _readme_rows():
    path = TABLES_PAGE
    if not path.exists():
        pytest.skip(f"no {path} (tests run outside the clone or sdist)")
    text = path.read_text()
    m = re.search(r"<!-- dtype-table.*?-->(.*?)<!-- end dtype-table -->", text, re.S)
    assert m, f"{path} has no dtype table between its <!-- dtype-table --> markers"
    rows = []
    for line in m.group(1).strip().splitlines()[2:]:  # skip header and rule
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 3, line
        rows.append(tuple(re.findall(r"`([^`]+)`", c) or [c] for c in cells))
    return rows


def _table_entries():
    """{(x, k): result} for supported (image, kernel) pairs, and the list of
    refused dtypes. The image rule is not symmetric: each row lists X dtypes
    and K dtypes, nothing is mirrored."""
    table, refused = {}, []
    for xs, ks, (result,) in _readme_rows():
        if result == "TypeError":
            refused += xs
            continue
        for pair in itertools.product(xs, ks):
            previous = table.setdefault(pair, result)
            assert previous == result, f"README's table gives {pair} both {previous} and {result}"
    return table, refused


def test_readme_table_covers_every_supported_pair():
    table, _ = _table_entries()
    names = {d.name for d in SUPPORTED} | set(COMPLEX_NAMES)
    missing = [(a, b) for a in names for b in names if (a, b) not in table]
    assert not missing, f"README's dtype table misses {missing}"


def test_readme_table_matches_dtype_rules():
    table, _ = _table_entries()
    for (x, k), result in sorted(table.items()):
        if x in COMPLEX_NAMES or k in COMPLEX_NAMES:  # computed in real parts, returned complex
            got = fastconv.corr2d(np.ones((2, 2), x), np.ones((1, 1), k)).dtype
            assert got == np.dtype(result), (x, k, got)
            continue
        assert image_result_dtype(("X", np.empty(1, x)), ("K", np.empty(1, k))) == np.dtype(result), (x, k)
        assert _expected_rule(np.dtype(x), np.dtype(k)) == np.dtype(result), (x, k)


def test_readme_table_refuses_what_fastconv_refuses():
    _, refused = _table_entries()
    assert sorted(refused) == sorted(UNSUPPORTED_NAMES)


@pytest.mark.parametrize("xdt", SUPPORTED, ids=lambda d: d.name)
def test_output_dtype_every_backend(backend, xdt):
    """Each X dtype against every K dtype: result dtype and values."""
    rng = np.random.default_rng(1)
    for kdt in SUPPORTED:
        X = random_array(rng, (5, 6), xdt)
        K = random_array(rng, (2, 3), kdt)
        got = fastconv.corr2d(X, K, backend=backend)
        want = _expected_rule(xdt, kdt)
        assert got.dtype == want, (xdt, kdt, got.dtype)
        ref = fastconv.corr2d(X.astype(np.float64), K.astype(np.float64), backend="naive")
        if X.dtype.kind in "biu" and K.dtype.kind in "biu" and not is_approximate(backend):
            np.testing.assert_array_equal(got, ref)  # exact: small integers in float64
        else:
            tol = tolerance(want) if not is_approximate(backend) else 1e-5
            np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(ref).max())


def test_float64_is_not_cut_to_float32(backend):
    X = np.array([[1.0 + 2.0**-40, 1.0], [1.0, 1.0]])
    got = fastconv.corr2d(X, [[1.0]], backend=backend)
    assert got.dtype == np.float64
    assert got[0, 0] == 1.0 + 2.0**-40 or is_approximate(backend)


def test_uint_inputs_do_not_overflow(backend):
    X = np.full((4, 4), 65535, dtype=np.uint16)
    K = np.full((3, 3), 65535, dtype=np.uint16)
    got = fastconv.corr2d(X, K, backend=backend)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np.full((2, 2), 9.0 * 65535.0**2), rtol=1e-12)
    X8 = np.full((3, 3), 255, dtype=np.uint8)
    np.testing.assert_allclose(fastconv.corr2d(X8, X8, backend=backend), [[9 * 255.0**2]], rtol=1e-12)


@pytest.mark.parametrize("name", UNSUPPORTED_NAMES)
def test_unsupported_dtypes_raise_type_error(name):
    dtype = {"str": np.dtype("U3"), "bytes": np.dtype("S3"), "datetime64": np.dtype("M8[s]"),
             "timedelta64": np.dtype("m8[s]"), "clongdouble": np.dtype(np.clongdouble)}.get(
        name, np.dtype(name) if name != "object" else np.dtype(object))
    bad = np.zeros((3, 3), dtype=dtype)
    good = np.ones((2, 2))
    for X, K in ((bad, good), (np.ones((3, 3)), bad[:2, :2])):
        with pytest.raises(TypeError, match="float32, float64"):
            fastconv.corr2d(X, K)
    with pytest.raises(TypeError):
        fastconv.convolve2d(bad, good)
