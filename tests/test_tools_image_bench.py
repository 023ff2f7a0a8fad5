"""``bench --images``: its timer runs every contender in every round and
its cross-check refuses a contender that computes something else."""
import numpy as np
import pytest

from fastconv.tools import image_bench


def test_interleaved_times_every_callable_every_round():
    calls = {"a": [], "b": []}
    medians = image_bench.interleaved({k: (lambda k=k: calls[k].append(1)) for k in calls}, budget=0.01,
                                      min_rounds=3, warmup=0.0)
    assert set(medians) == {"a", "b"} and all(m >= 0 for m in medians.values())
    assert len(calls["a"]) >= 3 + 2 and len(calls["b"]) >= 3 + 2  # two untimed calls, then one per round


def test_check_refuses_a_disagreeing_contender():
    ok = image_bench.Scenario("s", "", {"fastconv": lambda: np.ones(3), "peer": lambda: np.ones(3) + 1e-9}, 1e-6)
    image_bench._check(ok)
    bad = image_bench.Scenario("s", "", {"fastconv": lambda: np.ones(3), "peer": lambda: np.zeros(3)}, 1e-6)
    with pytest.raises(AssertionError, match="peer disagrees"):
        image_bench._check(bad)


def test_every_scenario_agrees_on_small_data():
    """The real scenarios' contenders agree (images 16x smaller per side)."""
    scenarios = image_bench.scenarios(scale=16)
    assert scenarios
    for scenario in scenarios:
        image_bench._check(scenario)
