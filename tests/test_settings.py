"""fastconv.settings: every FASTCONV_* variable, read and validated in one
place. Valid values take effect; invalid ones raise a ValueError naming the
variable, the value and what is accepted; the setters validate and ``None``
restores the environment's default. No other module reads a FASTCONV_*
variable from the environment."""
import ast
import os
from pathlib import Path

import numpy as np
import pytest

import fastconv
from fastconv import backends, planner, settings
from fastconv.planner import decision, rules

VARIABLES = ("FASTCONV_NUM_THREADS", "FASTCONV_WORKSPACE_MB", "FASTCONV_BACKEND", "FASTCONV_PLANNER",
             "FASTCONV_WISDOM")


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch, tmp_path):
    """No FASTCONV_* variable set (wisdom in an absent tmp file), the setters'
    values and the planner's state restored afterwards."""
    saved = settings._threads, settings._workspace
    for name in VARIABLES + ("OMP_NUM_THREADS",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FASTCONV_WISDOM", str(tmp_path / "absent.json"))
    settings._threads = settings._workspace = None
    settings._default_threads.cache_clear()
    planner.reload_wisdom()
    yield
    settings._threads, settings._workspace = saved
    settings._default_threads.cache_clear()  # lazily re-read once monkeypatch restored the environment
    planner.reload_wisdom()


def _cpus():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


# ------------------------------------------------------------------ threads

@pytest.mark.parametrize("value, expected", [("3", 3), (" 5 ", 5), ("1", 1), ("64", 64)])
def test_num_threads_valid(monkeypatch, value, expected):
    monkeypatch.setenv("FASTCONV_NUM_THREADS", value)
    settings.set_threads(None)
    assert settings.get_threads() == expected
    assert fastconv.get_threads() == expected


def test_num_threads_unset_or_empty_is_the_cpu_count(monkeypatch):
    settings.set_threads(None)
    assert settings.get_threads() == _cpus()
    monkeypatch.setenv("FASTCONV_NUM_THREADS", "")
    settings.set_threads(None)
    assert settings.get_threads() == _cpus()


@pytest.mark.parametrize("value", ["abc", "0", "-3", "2.5", "1e3", "two"])
def test_num_threads_invalid(monkeypatch, value):
    monkeypatch.setenv("FASTCONV_NUM_THREADS", value)
    settings.set_threads(None)
    with pytest.raises(ValueError) as info:
        settings.get_threads()
    message = str(info.value)
    assert "FASTCONV_NUM_THREADS" in message and repr(value) in message
    assert "integer from 1 to" in message


def test_num_threads_is_read_again_only_after_set_threads_none(monkeypatch):
    monkeypatch.setenv("FASTCONV_NUM_THREADS", "3")
    settings.set_threads(None)
    assert settings.get_threads() == 3
    monkeypatch.setenv("FASTCONV_NUM_THREADS", "2")
    assert settings.get_threads() == 3  # read on first use, cached
    settings.set_threads(None)
    assert settings.get_threads() == 2


def test_set_threads_overrides_and_none_restores_the_env_default(monkeypatch):
    monkeypatch.setenv("FASTCONV_NUM_THREADS", "3")
    settings.set_threads(None)
    settings.set_threads(7)
    assert settings.get_threads() == 7
    settings.set_threads(None)
    assert settings.get_threads() == 3
    monkeypatch.delenv("FASTCONV_NUM_THREADS")
    settings.set_threads(None)
    assert settings.get_threads() == _cpus()


@pytest.mark.parametrize("value, expected", [("3", 3), ("1", 1), (" 4 ", 4), ("4,2", 4), ("0", None),
                                             ("abc", None), ("", None), ("-2", None)])
def test_omp_num_threads_is_the_default(monkeypatch, value, expected):
    """dask's nanny sets OMP_NUM_THREADS=1 in each worker: fastconv follows it
    (its first entry; a value the OpenMP runtime would ignore is ignored)."""
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    settings.set_threads(None)
    assert settings.get_threads() == (expected or _cpus())
    monkeypatch.setenv("FASTCONV_NUM_THREADS", "5")  # fastconv's own variable wins
    settings.set_threads(None)
    assert settings.get_threads() == 5


def test_threadpool_limits_caps_the_thread_count():
    """An active threadpoolctl.threadpool_limits lowers the OpenMP runtime's
    count: get_threads() follows it inside the block (even over set_threads)
    and the cython kernels get that count; outside, the default is back."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    cython_ = backends.load("cython")
    if cython_ is None or not cython_._cython.OPENMP:
        pytest.skip("the cython backend with OpenMP is not available")
    settings.set_threads(None)
    default = settings.get_threads()
    seen = []
    real = cython_._cython.correlate
    cython_._cython.correlate = lambda *args, **kw: (seen.append(args[6]), real(*args, **kw))
    try:
        with threadpoolctl.threadpool_limits(limits=1):
            assert settings.get_threads() == 1
            settings.set_threads(2)
            assert settings.get_threads() == 1
            fastconv.corr2d(np.ones((64, 64)), np.ones((3, 3)), backend="cython")
        assert seen == [1]
        assert settings.get_threads() == 2
        settings.set_threads(None)
        assert settings.get_threads() == default
    finally:
        cython_._cython.correlate = real


@pytest.mark.parametrize("bad", [0, -1, 1.5, 2.0, True, False, "2", [2]])
def test_set_threads_validation(bad):
    settings.set_threads(4)
    with pytest.raises(ValueError, match="threads must be an integer from 1 to 1024 or None"):
        settings.set_threads(bad)
    assert settings.get_threads() == 4  # a refused value changes nothing


# ---------------------------------------------------------------- workspace

@pytest.mark.parametrize("value, expected", [("1", 2**20), ("0.5", 2**19), ("128", 128 * 2**20),
                                             (" 2 ", 2 * 2**20), ("1e-9", 1)])
def test_workspace_mb_valid(monkeypatch, value, expected):
    monkeypatch.setenv("FASTCONV_WORKSPACE_MB", value)
    assert settings.get_workspace_limit() == expected
    assert fastconv.get_workspace_limit() == expected


def test_workspace_default_is_64_mib(monkeypatch):
    assert settings.get_workspace_limit() == 64 * 2**20 == settings.DEFAULT_WORKSPACE_BYTES
    monkeypatch.setenv("FASTCONV_WORKSPACE_MB", "")
    assert settings.get_workspace_limit() == 64 * 2**20


@pytest.mark.parametrize("value", ["x", "0", "-1", "inf", "-inf", "nan", "1e400", "64MB"])
def test_workspace_mb_invalid(monkeypatch, value):
    monkeypatch.setenv("FASTCONV_WORKSPACE_MB", value)
    with pytest.raises(ValueError) as info:
        settings.get_workspace_limit()
    message = str(info.value)
    assert "FASTCONV_WORKSPACE_MB" in message and repr(value) in message
    assert "positive number of MiB" in message


def test_set_workspace_limit_overrides_and_none_restores_the_env_default(monkeypatch):
    monkeypatch.setenv("FASTCONV_WORKSPACE_MB", "2")
    settings.set_workspace_limit(12345)
    assert settings.get_workspace_limit() == 12345
    settings.set_workspace_limit(None)
    assert settings.get_workspace_limit() == 2 * 2**20
    monkeypatch.setenv("FASTCONV_WORKSPACE_MB", "3")  # read on every call
    assert settings.get_workspace_limit() == 3 * 2**20


@pytest.mark.parametrize("bad", [0, -1, 1.5, 1024.0, True, "1024", float("inf")])
def test_set_workspace_limit_validation(bad):
    settings.set_workspace_limit(4096)
    with pytest.raises(ValueError, match="workspace limit must be a positive int"):
        settings.set_workspace_limit(bad)
    assert settings.get_workspace_limit() == 4096


# ------------------------------------------------------------------ planner

def test_backend_forced_by_env(monkeypatch):
    assert settings.forced_backend() is None
    for value in ("", "auto"):
        monkeypatch.setenv("FASTCONV_BACKEND", value)
        assert settings.forced_backend() is None
    monkeypatch.setenv("FASTCONV_BACKEND", "naive")
    assert settings.forced_backend() == "naive"
    X, K = np.arange(30.0).reshape(5, 6), np.ones((2, 3))
    p = fastconv.plan(X, K)
    assert p.backend == "naive" and "FASTCONV_BACKEND" in p.reason
    np.testing.assert_array_equal(fastconv.corr2d(X, K), fastconv.corr2d(X, K, backend="naive"))
    monkeypatch.setenv("FASTCONV_BACKEND", "gemm")  # read on every call
    assert fastconv.plan(X, K).backend == "gemm"


def test_backend_env_unknown_name(monkeypatch):
    monkeypatch.setenv("FASTCONV_BACKEND", "nosuch")
    with pytest.raises(ValueError) as info:
        fastconv.corr2d(np.ones((4, 4)), np.ones((2, 2)))
    message = str(info.value)
    assert "FASTCONV_BACKEND" in message and "'nosuch'" in message
    assert "naive" in message and "auto" in message  # the accepted values


def test_planner_env(monkeypatch):
    assert settings.measuring() is False
    monkeypatch.setenv("FASTCONV_PLANNER", "estimate")
    assert settings.measuring() is False
    monkeypatch.setenv("FASTCONV_PLANNER", "measure")
    assert settings.measuring() is True
    assert settings.measuring(False) is False  # a call's own argument wins
    monkeypatch.setenv("FASTCONV_PLANNER", "")
    assert settings.measuring() is False


@pytest.mark.parametrize("value", ["fast", "MEASURE", "1", "measure "])
def test_planner_env_invalid(monkeypatch, value):
    monkeypatch.setenv("FASTCONV_PLANNER", value)
    with pytest.raises(ValueError) as info:
        settings.measuring()
    message = str(info.value)
    assert "FASTCONV_PLANNER" in message and repr(value) in message
    assert "estimate, measure" in message
    assert settings.measuring(True) is True  # an explicit argument never reads the variable
    with pytest.raises(ValueError, match="FASTCONV_PLANNER"):
        fastconv.corr2d(np.ones((6, 7)), np.ones((2, 2)))  # the first call that needs it


def test_planner_measure_takes_effect(monkeypatch):
    """FASTCONV_PLANNER=measure sends a new signature to the measuring path
    (stubbed: no timing here); estimate does not."""
    seen = []

    def fake_measure(st, sig, x, w, geo, groups):
        seen.append(sig)
        return rules.Decision("naive")

    monkeypatch.setattr(decision, "measure_candidates", fake_measure)
    X, K = np.ones((9, 11)), np.ones((3, 2))
    monkeypatch.setenv("FASTCONV_PLANNER", "estimate")
    fastconv.corr2d(X, K)
    assert seen == []
    monkeypatch.setenv("FASTCONV_PLANNER", "measure")
    np.testing.assert_array_equal(fastconv.corr2d(X, K), fastconv.corr2d(X, K, backend="naive"))
    assert len(seen) == 1 and seen[0].x == (1, 1, 9, 11) and seen[0].w == (1, 1, 3, 2)


def test_wisdom_env(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTCONV_WISDOM")
    assert settings.wisdom_file() is None
    monkeypatch.setenv("FASTCONV_WISDOM", "")
    assert settings.wisdom_file() is None
    target = tmp_path / "sub" / "w.json"
    monkeypatch.setenv("FASTCONV_WISDOM", str(target))
    assert settings.wisdom_file() == str(target)
    assert planner.wisdom_path() == str(target)
    assert fastconv.export_wisdom() == str(target) and target.is_file()


# ------------------------------------------- nobody else reads the variables

def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _mentions_variable(nodes):
    return any(isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.startswith("FASTCONV_")
               for node in nodes for n in ast.walk(node))


def environment_reads(source):
    """Lines where ``source`` reads a FASTCONV_* variable from the
    environment: os.environ[...] / .get / .pop / .setdefault, os.getenv,
    ``"FASTCONV_..." in os.environ``, or any ``*.environ.get(...)``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = _dotted(node.func)
            environ_call = func.endswith("getenv") or (
                isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "pop", "setdefault", "__getitem__")
                and _dotted(node.func.value).endswith("environ"))
            if environ_call and _mentions_variable(node.args + [k.value for k in node.keywords]):
                lines.append(node.lineno)
        elif isinstance(node, ast.Subscript) and _dotted(node.value).endswith("environ"):
            if _mentions_variable([node.slice]):
                lines.append(node.lineno)
        elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            if any(_dotted(c).endswith("environ") for c in node.comparators) and _mentions_variable([node.left]):
                lines.append(node.lineno)
    return lines


def test_environment_reads_detector():
    src = ('import os\nos.environ.get("FASTCONV_X")\nos.getenv("FASTCONV_Y", "1")\nos.environ["FASTCONV_Z"]\n'
           '"FASTCONV_W" in os.environ\nsettings.environ.get("FASTCONV_V")\nos.environ.get("HOME")\n'
           '"""FASTCONV_DOC in os.environ"""\n')
    assert environment_reads(src) == [2, 3, 4, 5, 6]


def test_only_settings_reads_fastconv_variables():
    package = Path(fastconv.__file__).resolve().parent
    offenders = {}
    for path in sorted(package.rglob("*.py")):
        if path == package / "settings.py":
            continue
        lines = environment_reads(path.read_text(encoding="utf-8"))
        if lines:
            offenders[str(path.relative_to(package))] = lines
    assert not offenders, f"FASTCONV_* read from the environment outside fastconv/settings.py: {offenders}"
    # and settings itself does read every documented variable
    text = (package / "settings.py").read_text(encoding="utf-8")
    assert all(f'environ.get("{name}")' in text for name in VARIABLES)


def _fake_cache(root, entries):
    for i, (level, kind, size) in enumerate(entries):
        d = root / f"index{i}"
        d.mkdir()
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
    return str(root)


@pytest.mark.parametrize("entries, expected", [
    ([(1, "Data", "32K"), (1, "Instruction", "32K"), (2, "Unified", "1024K"), (3, "Unified", "32768K")], 1 << 20),
    ([(1, "Data", "48K"), (2, "Unified", "2M")], 2 << 20),
    ([(2, "Instruction", "64K"), (2, "Data", "512K")], 512 << 10),  # a split L2: its data side
    ([(1, "Data", "32K"), (3, "Unified", "8M")], 1 << 20),  # no L2 listed: the default
    ([(2, "Unified", "lots")], 1 << 20),  # unreadable: the default
])
def test_l2_size_from_sysfs(tmp_path, entries, expected):
    assert settings._l2_bytes(_fake_cache(tmp_path, entries)) == expected


def test_l2_size_without_sysfs(tmp_path):
    assert settings._l2_bytes(str(tmp_path / "absent")) == 1 << 20
    assert settings.TRANSFORM_CHUNK_BYTES >= 64 << 10
