"""The one wall-clock timer of quick in-process comparisons (pytest-benchmark does the full
benchmarks under bench/): rounds within a time budget, reported with their spread.

``measure(fn)`` times one callable; ``interleaved(fns)`` times several in the same rounds
(a, b, a, b, ...), so that a change of machine load during the measurement hits every one of
them alike and their ratio stays fair; ``balanced(fns)`` does so over half the budget in each
order. ``blocked(fns)`` times them one after another instead, each in blocks of its own with a
pause between: for multi-threaded engines, whose idle pools keep spinning for a while after a
call and would slow the next engine of an interleaved round. ``by_state(fns, state=...)``
tags each round with a label probed before it (a machine state that comes and goes) and
times each label's rounds apart. All return ``Timing``s (seconds): p50, p90, min and the
number of rounds. Plain ``time.perf_counter``: no torch import here.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Timing:
    """Seconds per call over ``rounds`` timed calls (after one untimed warm-up call)."""

    p50: float
    p90: float
    min: float
    rounds: int
    times: tuple = field(default=(), repr=False, compare=False)  # every round, in order

    @classmethod
    def of(cls, times) -> "Timing":
        """The Timing of a sequence of per-call durations in seconds."""
        t = np.asarray(times, dtype=np.float64)
        if t.size == 0:
            raise ValueError("a Timing needs at least one time")
        return cls(float(np.percentile(t, 50)), float(np.percentile(t, 90)), float(t.min()),
                   int(t.size), tuple(float(v) for v in t))

    def __str__(self):
        from hwmodel.table import human
        return (f"p50 {human(self.p50, 's')}, p90 {human(self.p90, 's')} "
                f"(min {human(self.min, 's')}, {self.rounds} rounds)")


def _check(fns, budget_s, min_rounds, max_rounds):
    for i, fn in enumerate(fns):
        if not callable(fn):
            raise TypeError(f"timing needs callables, got {type(fn).__name__} at position {i}")
    if not fns:
        raise ValueError("timing needs at least one callable")
    if isinstance(budget_s, bool) or not isinstance(budget_s, (int, float)) \
            or not math.isfinite(budget_s) or budget_s < 0:
        raise ValueError(f"budget_s must be a finite number of seconds >= 0, got {budget_s!r}")
    for name, value in (("min_rounds", min_rounds), ("max_rounds", max_rounds)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if max_rounds < min_rounds:
        raise ValueError(f"max_rounds ({max_rounds}) must be >= min_rounds ({min_rounds})")


def interleaved(fns, *, budget_s: float = 0.3, min_rounds: int = 5, max_rounds: int = 200,
                warmup: bool = True, clock=time.perf_counter) -> list[Timing]:
    """Time every callable of ``fns`` in the same rounds: each round calls each one once, in
    order. One warm-up call each first (not timed; ``warmup=False`` when the caller has just
    run them). Rounds go on until ``budget_s`` seconds have passed (at least ``min_rounds``, at
    most ``max_rounds``). Returns one Timing per callable, in the order given; ``clock`` is the
    time source (seconds)."""
    fns = list(fns)
    _check(fns, budget_s, min_rounds, max_rounds)
    for fn in fns if warmup else ():
        fn()
    times = [[] for _ in fns]
    start = clock()
    rounds = 0
    while rounds < max_rounds and (rounds < min_rounds or clock() - start < budget_s):
        for fn, spent in zip(fns, times):
            t0 = clock()
            fn()
            spent.append(clock() - t0)
        rounds += 1
    return [Timing.of(t) for t in times]


def measure(fn, *, budget_s: float = 0.3, min_rounds: int = 5, max_rounds: int = 200,
            warmup: bool = True, clock=time.perf_counter) -> Timing:
    """The Timing of ``fn()`` (see ``interleaved``, here with one callable)."""
    return interleaved([fn], budget_s=budget_s, min_rounds=min_rounds, max_rounds=max_rounds,
                       warmup=warmup, clock=clock)[0]


def balanced(fns, budget_s: float) -> list[Timing]:
    """``interleaved`` over half the budget in the given order and half in reverse, pooled: a
    call right after another one that evicted part of its data from the caches runs slower,
    so a fixed order would favour whichever comes first."""
    half = dict(budget_s=budget_s / 2, max_rounds=100_000)
    forward = interleaved(fns, **half)
    backward = interleaved(fns[::-1], **half)[::-1]
    return [Timing.of(f.times + b.times) for f, b in zip(forward, backward)]


# Seconds a multi-threaded engine's idle pool may keep spinning after its last call.
SETTLE_S = 0.3


def blocked(fns, budget_s: float, settle_s: float = SETTLE_S, sleep=time.sleep) -> list[Timing]:
    """Each callable timed alone, in two blocks of ``budget_s / (2 · len(fns))`` seconds (the
    order, then its reverse, so a drift of machine load hits all alike), after ``settle_s``
    seconds of pause that let the previous one's idle threads stop spinning. Ratios of its
    Timings are ratios of medians (``paired_ratio`` needs the same rounds)."""
    fns = list(fns)
    _check(fns, budget_s, 1, 1)
    share = budget_s / (2 * len(fns))
    times = [[] for _ in fns]
    for order in (range(len(fns)), reversed(range(len(fns)))):
        for i in order:
            sleep(settle_s)
            times[i] += measure(fns[i], budget_s=share, min_rounds=3, max_rounds=100_000).times
    return [Timing.of(t) for t in times]


def by_state(fns, budget_s: float, state, calls: int = 5, settle_s: float = SETTLE_S,
             sleep=time.sleep) -> dict:
    """{label: [Timing per callable]}: rounds until ``budget_s`` seconds have passed (at least
    one), each tagged with ``state()`` (a hashable label, probed just before it) and calling
    every callable in turn, after a pause of ``settle_s`` (as ``blocked``), one untimed call
    then ``calls`` timed ones, in reverse order every other round. For a machine that
    switches between states for minutes at a time: the figures of one state stay apart from
    the other's. Labels in the order first seen."""
    fns = list(fns)
    _check(fns, budget_s, calls, calls)
    times: dict = {}
    start, rounds = time.perf_counter(), 0
    while rounds == 0 or time.perf_counter() - start < budget_s:
        spent = times.setdefault(state(), [[] for _ in fns])
        order = range(len(fns)) if rounds % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            sleep(settle_s)
            spent[i] += measure(fns[i], budget_s=0, min_rounds=calls, max_rounds=calls).times
        rounds += 1
    return {label: [Timing.of(t) for t in spent] for label, spent in times.items()}


def paired_ratio(a: Timing, b: Timing) -> float:
    """Median over rounds of a's time / b's time in the same round: the speedup of b over a,
    measured by ``interleaved`` so that both saw the same load in each round."""
    if not a.times or len(a.times) != len(b.times):
        raise ValueError(f"paired_ratio needs two Timings of the same rounds, got "
                         f"{len(a.times)} and {len(b.times)} rounds")
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.median(np.asarray(a.times) / np.asarray(b.times)))

