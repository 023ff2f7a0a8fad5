"""The bench tool's pieces without timing anything real: pytest-benchmark's
statistics and JSON schema, interleaved rounds with fake contenders, the
table, the progress counter and the machine info. No assertion depends on
how fast anything runs."""
import io
import itertools
import json
import random
import sys
import types

import numpy as np
import pytest

from fastconv import backends
from fastconv.tools import bench, machine, progress, report
from fastconv.tools.cases import CASES, QUICK, Case, check, reference
from fastconv.tools.contenders import Contender, Skip, contenders
from fastconv.tools.timing import CaseRun, Result, run_case

STATS_KEYS = ("min", "max", "mean", "stddev", "rounds", "median", "iqr", "q1", "q3", "iqr_outliers",
              "stddev_outliers", "outliers", "ld15iqr", "hd15iqr", "ops", "total", "data", "iterations")
BENCHMARK_KEYS = ("group", "name", "fullname", "params", "param", "extra_info", "options", "stats")
# what pytest-benchmark's plugin writes as machine_info (pytest_benchmark_generate_machine_info)
MACHINE_KEYS = ("node", "processor", "machine", "python_compiler", "python_implementation",
                "python_implementation_version", "python_version", "python_build", "release", "system", "cpu")

SMALL = next(c for c in CASES if c.chapter and c.dtype == "float64")


@pytest.fixture
def pb_stats():
    return pytest.importorskip("pytest_benchmark.stats")


# ------------------------------------------------------------- statistics

@pytest.mark.parametrize("data, expected", [
    # even count: quartiles are the medians of the halves
    ([8, 1, 7, 2, 6, 3, 5, 4], dict(min=1, max=8, median=4.5, q1=2.5, q3=6.5, iqr=4, mean=4.5, rounds=8, total=36,
                                    ld15iqr=1, hd15iqr=8, iqr_outliers=0, outliers="4;0")),
    # odd count, n % 4 == 1: q1 = s[0]/4 + 3 s[1]/4, q3 = 3 s[3]/4 + s[4]/4; 100 is an outlier both ways
    ([100, 1, 2, 3, 4], dict(min=1, max=100, median=3, q1=1.75, q3=28.0, iqr=26.25, mean=22, rounds=5,
                             ld15iqr=1, hd15iqr=4, iqr_outliers=1, stddev_outliers=1, outliers="1;1")),
    # odd count, n % 4 == 3: q1 = 3 s[1]/4 + s[2]/4, q3 = s[4]/4 + 3 s[5]/4
    ([1, 2, 3, 4, 5, 6, 7], dict(median=4, q1=2.25, q3=5.75, iqr=3.5, ld15iqr=1, hd15iqr=7)),
    ([0.5], dict(min=0.5, max=0.5, median=0.5, q1=0.5, q3=0.5, iqr=0, stddev=0, ld15iqr=0.5, hd15iqr=0.5,
                 ops=2.0, outliers="0;0")),
])
def test_stats_known_values(pb_stats, data, expected):
    got = report.stats(data, iterations=3)
    assert tuple(got) == STATS_KEYS
    assert got["data"] == data and got["iterations"] == 3
    for key, value in expected.items():
        assert got[key] == (value if isinstance(value, str) else pytest.approx(value, abs=1e-12)), key
    assert got["ops"] == pytest.approx(len(data) / sum(data))


def test_stats_equal_what_pytest_benchmark_writes(pb_stats):
    """Per benchmark, the "stats" dict is exactly what pytest-benchmark's
    Metadata.as_dict() writes for the same per-call times."""
    rng = random.Random(7)
    for n in (1, 2, 3, 4, 5, 6, 7, 12, 40):
        data = [rng.lognormvariate(-9, 0.3) for _ in range(n)]
        fixture = types.SimpleNamespace(name="t", fullname="f::t", group="g", param="p", params={}, extra_info={},
                                        cprofile_stats=None)
        meta = pb_stats.Metadata(fixture, iterations=5, options={})
        for t in data:
            meta.stats.update(t)
        assert report.stats(data, iterations=5) == meta.as_dict()["stats"]


def test_stats_without_pytest_benchmark_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "pytest_benchmark.stats", None)  # import fails
    with pytest.raises(RuntimeError, match=r"fastconv\[bench\]"):
        report.stats([1.0])
    args = types.SimpleNamespace(full=False, select=SMALL.name, out=str(tmp_path), budget=0.1, no_progress=True)
    assert bench.run_from_args(args) == 1  # refused before timing anything
    assert "fastconv[bench]" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------- JSON

def _fake_run():
    """A CaseRun as run_case returns it: two contenders that ran (one the
    oracle), one skipped and one failed."""
    def contender(name, kind="fastconv", oracle=False):
        return Contender(name, kind, make=None, oracle=oracle)

    results = [
        Result(SMALL, contender("slow", oracle=True), times=[2e-3, 3e-3, 2.5e-3]),
        Result(SMALL, contender("fast"), times=[1e-6, 2e-6, 1.5e-6, 1.2e-6], iterations=500),
        Result(SMALL, contender("peer.missing", "peer"), skipped="peer not installed (No module named 'peer')"),
        Result(SMALL, contender("broken", "peer"), failed="wrong result: max error 1 > 1e-8"),
    ]
    return CaseRun(SMALL, results, "fast")


def test_json_has_pytest_benchmark_structure_and_round_trips(pb_stats, tmp_path):
    versions = machine.versions()
    doc = report.to_json([_fake_run()], versions)
    assert set(doc) == {"machine_info", "commit_info", "benchmarks", "datetime", "version"}
    assert tuple(doc["machine_info"]) == MACHINE_KEYS
    assert {"count", "brand_raw"} <= set(doc["machine_info"]["cpu"])
    assert {"id", "time", "dirty", "project", "branch"} <= set(doc["commit_info"]) or "error" in doc["commit_info"]
    assert [b["params"]["contender"] for b in doc["benchmarks"]] == ["slow", "fast"]  # the ones that ran
    for b in doc["benchmarks"]:
        assert tuple(b) == BENCHMARK_KEYS
        assert tuple(b["stats"]) == STATS_KEYS
        assert b["group"] == SMALL.name and b["name"] == f"test_2d[{b['param']}]"
        assert b["extra_info"]["auto_chose"] == "fast" and b["extra_info"]["versions"] == versions
    fast = doc["benchmarks"][1]["stats"]
    assert fast["iterations"] == 500 and fast["rounds"] == 4 and fast["median"] == pytest.approx(1.35e-6)
    path = report.write_json(doc, tmp_path / "bench.json")
    assert json.loads(path.read_text()) == doc


# ----------------------------------------------------------------- timing

def _fakes(log):
    """Two cheap contenders returning the reference (each call logged), one
    that skips and one that returns garbage."""
    def fake(name):
        def make(case, X, K):
            good = reference(X, K).astype(case.dtype)

            def fn():
                log.append(name)
                return good

            return fn

        return Contender(name, "fastconv", make)

    def skipping(case, X, K):
        raise Skip("not here")

    def garbage(case, X, K):
        return lambda: np.zeros(case.image, dtype=case.dtype) + 1

    return [fake("a"), fake("b"), Contender("skips", "peer", skipping), Contender("garbage", "peer", garbage)]


def test_run_case_times_fake_contenders_in_interleaved_rounds():
    log = []
    # a generous budget with max_rounds=6: every fake is "fast" (gets all
    # the rounds) however slow this machine is today; the run stays short
    run = run_case(SMALL, budget=10.0, min_rounds=6, max_rounds=6, contender_list=_fakes(log), warmup=0.0,
                   choose=lambda X, K: "a")
    a, b, skips, garbage = run.results
    assert run.case is SMALL and run.chosen == "a"
    assert len(a.times) == len(b.times) == 6 and all(t > 0 for t in a.times + b.times)
    assert a.iterations >= 1 and b.iterations >= 1
    assert skips.skipped == "not here" and not skips.times
    assert garbage.failed.startswith("wrong result:") and not garbage.times
    # round r runs a once and b once: the log switches between them every
    # round (all of a's rounds, then all of b's, would switch once)
    blocks = [name for name, _ in itertools.groupby(log)]
    assert len(blocks) >= 6 + 1, blocks
    assert a.median == pytest.approx((sorted(a.times)[2] + sorted(a.times)[3]) / 2)


def test_bench_run_writes_table_and_json(pb_stats, tmp_path):
    log, out = [], io.StringIO()
    doc = bench.run(cases=[SMALL], out=str(tmp_path), progress=False, file=out, budget=10.0, min_rounds=3,
                    max_rounds=3, warmup=0.0, contender_list=_fakes(log), choose=lambda X, K: "b")
    text = out.getvalue()
    assert f"{SMALL.name}  (auto chose: b" in text and "FAILED: wrong result" in text
    assert json.loads((tmp_path / "bench.json").read_text()) == doc
    assert [b["params"]["contender"] for b in doc["benchmarks"]] == ["a", "b"]
    assert all(b["stats"]["rounds"] == 3 for b in doc["benchmarks"])


def test_run_case_gates_results_against_the_reference():
    X, K = SMALL.data()
    ref = reference(X, K)
    check(SMALL, ref.astype(SMALL.dtype), ref)
    with pytest.raises(AssertionError, match="max error"):
        check(SMALL, ref.astype(SMALL.dtype) + 1, ref)
    with pytest.raises(AssertionError, match="dtype"):
        check(SMALL, ref.astype(np.float32), ref)


# ------------------------------------------------------------------ table

def test_table_lists_ran_fastest_first_then_skipped_and_failed():
    table = report.format_table(_fake_run())
    lines = table.splitlines()
    assert lines[0].startswith(SMALL.name) and "auto chose: fast" in lines[0] and "no peer ran" in lines[0]
    assert "vs slow" in lines[1]  # the oracle's speed-up column
    assert lines[2].split()[0] == "fast" and lines[3].split()[0] == "slow"
    assert "1,852x" in lines[2]  # 2.5 ms / 1.35 us
    assert "peer not installed" in lines[4] and lines[4].split()[0] == "peer.missing"
    assert "FAILED: wrong result" in lines[5] and lines[5].split()[0] == "broken"


def test_table_without_oracle_or_peers():
    run = _fake_run()
    only = CaseRun(run.case, [r for r in run.results if not r.contender.oracle and r.times], "fast")
    table = report.format_table(only)
    assert "vs oracle" in table and "-" in table.splitlines()[2]


def test_fmt_time_units():
    assert report.fmt_time(None) == "-"
    assert report.fmt_time(2.5).strip() == "2.50 s"
    assert report.fmt_time(2.5e-3).strip() == "2.50 ms"
    assert report.fmt_time(2.5e-6).strip() == "2.50 us"
    assert report.fmt_time(25e-9).strip() == "25 ns"


# ---------------------------------------------------- cases and contenders

def test_cases_registry():
    assert QUICK and set(QUICK) <= set(CASES)
    assert len({c.name for c in CASES}) == len(CASES)
    X, K = SMALL.data()
    assert X.shape == SMALL.image and K.shape == SMALL.kernel and X.dtype == np.dtype(SMALL.dtype)
    assert reference(X, K).shape == X.shape


def test_contenders_follow_the_registry():
    listed = contenders()
    fastconv_names = [c.name for c in listed if c.kind == "fastconv"]
    assert fastconv_names == list(backends.names())
    assert [c.name for c in listed if c.kind == "auto"] == ["auto"]
    oracles = [c for c in listed if c.oracle]
    assert [c.name for c in oracles] == [r.name for r in backends.rows() if r.measure_limit is not None]
    big = Case((64, 64), (3, 3), "float32")  # not marked for the oracle
    X, K = big.data()
    for c in oracles:
        with pytest.raises(Skip, match="small cases"):
            c.make(big, X, K)


# --------------------------------------------------- progress and machine

def test_plain_progress_counter():
    out = io.StringIO()
    with progress.progress(3, unit="case", bar=False, file=out) as bar:
        assert isinstance(bar, progress.Counter)
        for name in ("one", "two", "three"):
            bar.set_description(name)
            bar.update()
    assert out.getvalue().splitlines() == ["[1/3] one", "[2/3] two", "[3/3] three"]
    out = io.StringIO()
    bar = progress.Counter(100, "tune", file=out)
    for _ in range(100):
        bar.set_postfix_str("x")
        bar.update()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10 and lines[-1] == "[100/100] tune x"


def test_machine_info_for_bench_and_tune():
    info = machine.benchmark_machine_info()
    assert tuple(info) == MACHINE_KEYS
    json.dumps(info)
    entry = machine.wisdom_machine()
    assert {"cpu", "cpus", "platform", "threads", "date", "loadavg_at_end", "python", "numpy"} <= set(entry)
    assert entry["cpu"] == info["cpu"]["brand_raw"] == machine.cpu_brand()
    v = machine.versions()
    assert {"fastconv", "python", "numpy", "threads"} <= set(v)
