"""Timing one benchmark case: every contender, in interleaved rounds.

One process, the same ``time.perf_counter`` loop for every contender, and
interleaved rounds (round r runs every contender once, in a fresh random
order) because the machine is shared and noisy; the reported time is the
median over rounds. Each timed block follows ~10 ms of untimed calls of
the same contender, so that thread pools left spinning by the previous
one (six threading runtimes share two cores here) do not land on its
clock. Fast calls are repeated ``iterations`` times per round so that one
round lasts about a millisecond or more. Each contender's first result is
checked against the case's float64 reference before anything is timed.
"""
import statistics
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .cases import Case, check, reference
from .contenders import Contender, Skip, auto_choice, contenders


@dataclass
class Result:
    """One contender on one case."""

    case: Case
    contender: Contender
    times: list = field(default_factory=list)  # per-call seconds, one per round
    iterations: int = 1  # calls per round (the time is their mean)
    skipped: str = None  # reason
    failed: str = None  # correctness failure message

    @property
    def median(self):
        return statistics.median(self.times) if self.times else None


class CaseRun(NamedTuple):
    """Every contender's result on one case, and what ``auto`` chose there."""

    case: Case
    results: list
    chosen: str


class _Runner(NamedTuple):
    result: Result
    fn: object
    cost: float  # estimated seconds of one timed block


def _prepare(result, data, ref, budget, check_fn):
    """Make, check and size one contender. Returns its runner, or None when
    it skipped, failed, or is so slow that one sample (already in
    ``result.times``) is all the budget allows."""
    case, contender = result.case, result.contender
    try:
        fn = contender.make(case, *data)
        t0 = time.perf_counter()
        got = fn()  # first call: correctness gate (and cold start)
        first = time.perf_counter() - t0
        check_fn(case, got, ref)
        del got
        # Maybe a JIT loading its cache, a peer's first-call set-up (torch
        # builds its oneDNN primitives) or a load spike: once more, unless a
        # peer's call costs the whole budget (scipy's correlate2d: seconds).
        if first > budget / 4 and (contender.kind != "peer" or first < budget):
            t0 = time.perf_counter()
            fn()
            first = time.perf_counter() - t0
        if first > budget / 4:  # seconds per call: one sample is all the budget allows
            result.times.append(first)
            return None
        # Warm calls to size the rounds: a second one when the first looks too
        # slow for rounds (a load spike once left torch with one 1.2 s sample
        # of a 40 ms call).
        single = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            fn()
            single = min(single, time.perf_counter() - t0)
            if single <= budget / 4:
                break
    except Skip as exc:
        result.skipped = str(exc)
        return None
    except AssertionError as exc:
        result.failed = f"wrong result: {exc}"
        return None
    except Exception as exc:  # a peer refusing the case must not stop the run
        result.failed = f"{type(exc).__name__}: {exc}"
        return None
    if single > budget / 4:  # one call eats the case's budget: report the warm call alone
        result.times.append(single)
        return None
    result.iterations = max(1, min(10_000, int(1e-3 / max(single, 1e-9))))
    return _Runner(result, fn, single * result.iterations)


def _time_block(runner, warmup):
    """One round of one contender: ~``warmup`` seconds of untimed calls,
    then ``iterations`` timed calls; appends the per-call mean."""
    fn, n = runner.fn, runner.result.iterations
    # The thread pools the previous contenders leave spinning (OpenMP,
    # OpenBLAS, torch, cv2, scipy.fft: six runtimes on two cores) steal the
    # cores for a few ms, which would otherwise land on this clock.
    t_end = time.perf_counter() + warmup
    fn()
    while time.perf_counter() < t_end:
        fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    runner.result.times.append((time.perf_counter() - t0) / n)


def run_case(case, *, budget=6.0, min_rounds=5, max_rounds=40, contender_list=None, warmup=0.01,
             choose=auto_choice, seed=0, data=None, ref=None, check_fn=check):
    """Time every contender on ``case`` in interleaved rounds; returns a
    :class:`CaseRun`. ``budget`` caps the seconds spent timing; ``choose(*data)``
    names what ``auto`` picks (for the table). ``data`` (the contenders'
    ``make(case, *data)`` arguments), ``ref`` and ``check_fn(case, got, ref)``
    default to the 2-D case's (X, K), :func:`~.cases.reference` and
    :func:`~.cases.check` (the layer section passes its own)."""
    if data is None:
        data = case.data()
        ref = reference(*data)
    results = [Result(case, c) for c in (contender_list if contender_list is not None else contenders())]
    runners = [r for r in (_prepare(result, data, ref, budget, check_fn) for result in results) if r is not None]
    # slow contenders (the oracle, peers on big kernels) get 3 rounds; the
    # rest share what is left of the budget, at least min_rounds each
    slow_cost = budget / (4 * min_rounds)
    slow_rounds = 3
    slow = sum(r.cost for r in runners if r.cost > slow_cost) * slow_rounds
    fast = sum(2 * r.cost + warmup for r in runners if r.cost <= slow_cost) or 1e-9  # timed + warm-up
    rounds = int(max(min_rounds, min(max_rounds, (budget - slow) / fast)))
    shuffle = np.random.default_rng(seed).permutation
    for _ in range(rounds):
        # a new random order every round: a contender that runs right after
        # one whose thread pool keeps spinning (OpenBLAS, torch's OpenMP) is
        # slowed for up to ~0.2 s; a fixed or rotated order would hand that
        # penalty to the same contender every round, a shuffled one to a
        # minority of its rounds, which the median discards
        for i in shuffle(len(runners)):
            runner = runners[i]
            if runner.cost > slow_cost and len(runner.result.times) >= slow_rounds:
                continue
            _time_block(runner, warmup)
    return CaseRun(case, results, choose(*data))
