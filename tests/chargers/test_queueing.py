"""Erlang-C service levels: textbook values, an independent formula, simulation, shape."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siting.chargers.queueing import (
    capacity_table,
    convexity_defect,
    erlang_b,
    erlang_c,
    mean_wait_minutes,
    utilisation,
    wait_exceed_probability,
)
from siting.errors import InputError


def _erlang_c_sum(c: int, a: float) -> float:
    """Erlang C from its defining sum (log-space), independent of the B recursion."""
    k = np.arange(c)
    log_terms = k * math.log(a) - np.array([math.lgamma(i + 1) for i in k])
    log_tail = c * math.log(a) - math.lgamma(c + 1) + math.log(c / (c - a))
    m = max(log_terms.max(), log_tail)
    head = np.exp(log_terms - m).sum()
    tail = math.exp(log_tail - m)
    return tail / (head + tail)


# ----------------------------------------------------------------- textbook values


def test_erlang_c_closed_forms() -> None:
    # M/M/1: P(wait) = rho; M/M/2: 2 rho^2 / (1 + rho); Erlang C(3, 2) = 4/9
    assert erlang_c(1, 0.3) == pytest.approx(0.3)
    rho = 0.5
    assert erlang_c(2, 2 * rho) == pytest.approx(2 * rho**2 / (1 + rho))
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)


def test_erlang_b_textbook() -> None:
    # Erlang B tables: B(1, a) = a / (1 + a); B(2, 1) = 0.2; B(5, 2) = 0.0367 (4 d.p.)
    assert erlang_b(1, 0.5) == pytest.approx(1 / 3)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)
    assert erlang_b(5, 2.0) == pytest.approx(0.03670, abs=5e-5)


def test_erlang_c_call_centre_example() -> None:
    # The standard worked example (Call Centre Helper, "Erlang C formula - made simple"):
    # 100 calls per 30 minutes, 180 s handling time (10 Erlangs), 20 s answer target.
    # Published: 11 agents Pw 68.21 %, ASA 122.8 s, SL 39.0 %; 12: 44.94 %, 40.4 s,
    # 64.0 %; 13: SL 79.6 %; 14: SL 88.8 %.
    lam, minutes, target = 200.0, 3.0, 20 / 60
    pw = erlang_c([11, 12], 10.0)
    assert pw == pytest.approx([0.6821, 0.4494], abs=5e-5)
    asa_s = 60 * mean_wait_minutes([11, 12], lam, session_minutes=minutes)
    assert asa_s == pytest.approx([122.8, 40.4], abs=0.05)
    sl = 1 - wait_exceed_probability([11, 12, 13, 14], lam, session_minutes=minutes,
                                     wait_minutes=target)
    assert sl == pytest.approx([0.390, 0.640, 0.796, 0.888], abs=5e-4)


@pytest.mark.parametrize("c", [1, 2, 5, 17, 60, 250])
@pytest.mark.parametrize("load", [0.1, 0.5, 0.9, 0.99])
def test_erlang_c_matches_defining_sum(c: int, load: float) -> None:
    a = load * c
    assert float(erlang_c(c, a)) == pytest.approx(_erlang_c_sum(c, a), rel=1e-10)


def test_unstable_and_idle_queues() -> None:
    assert erlang_c(3, 3.0) == 1.0
    assert wait_exceed_probability(2, 10.0, session_minutes=60, wait_minutes=5) == 1.0
    assert wait_exceed_probability(2, 0.0, session_minutes=60, wait_minutes=5) == 0.0
    assert mean_wait_minutes(2, 3.0, session_minutes=60) == math.inf
    assert mean_wait_minutes(2, 0.0, session_minutes=60) == 0.0
    assert utilisation(0, 0.0, session_minutes=60) == 0.0
    assert utilisation(4, 2.0, session_minutes=60) == pytest.approx(0.5)


def test_mean_wait_mm1() -> None:
    # M/M/1: E[Wq] = rho / (mu - lambda); mu = 1/h, lambda = 0.5/h -> 1 h
    assert mean_wait_minutes(1, 0.5, session_minutes=60) == pytest.approx(60.0)


def test_simulated_queue_agrees() -> None:
    """A seeded FCFS M/M/c simulation (Kiefer-Wolfowitz) agrees with P(Wq > W)."""
    rng = np.random.default_rng(7)
    c, lam, minutes, wait = 4, 5.0, 40.0, 5.0
    n = 60_000
    arrivals = np.cumsum(rng.exponential(60.0 / lam, n))  # minutes
    service = rng.exponential(minutes, n)
    free = np.zeros(c)
    waits = np.empty(n)
    for k in range(n):
        i = int(np.argmin(free))
        start = max(arrivals[k], free[i])
        waits[k] = start - arrivals[k]
        free[i] = start + service[k]
    simulated = float((waits[5000:] > wait).mean())
    exact = float(wait_exceed_probability(c, lam, session_minutes=minutes, wait_minutes=wait))
    assert simulated == pytest.approx(exact, abs=0.02)
    assert float(waits[5000:].mean()) == pytest.approx(
        float(mean_wait_minutes(c, lam, session_minutes=minutes)), rel=0.1)


# ----------------------------------------------------------------- capacity table


def test_capacity_table_meets_the_service_level_tightly() -> None:
    t = capacity_table(60, session_minutes=300, max_wait_minutes=10, wait_probability=0.2,
                       operating_hours=16)
    assert t[0] == 0 and t.size == 61
    c = np.arange(1, 61)
    lam = t[1:] / 16
    p = wait_exceed_probability(c, lam, session_minutes=300, wait_minutes=10)
    assert np.all(p <= 0.2 + 1e-12)
    p_more = wait_exceed_probability(c, lam + 1e-6, session_minutes=300, wait_minutes=10)
    assert np.all(p_more > 0.2 - 1e-6)
    # the default scenario's slow piles, as quoted in the docs
    assert t[1] == pytest.approx(0.657, abs=1e-3)
    assert t[10] == pytest.approx(22.39, abs=1e-2)
    assert t.flags.writeable is False


def test_capacity_is_convex_for_the_scenario_pile_types(scenario) -> None:
    c = scenario.chargers
    for pile in (c.slow, c.fast):
        t = capacity_table(c.max_piles_per_station, session_minutes=pile.session_minutes,
                           max_wait_minutes=c.max_wait_minutes,
                           wait_probability=c.wait_probability,
                           operating_hours=c.operating_hours)
        concave_part, convex_part = convexity_defect(t)
        assert concave_part < 1e-6 < convex_part  # economies of scale, not concave


@settings(max_examples=40, deadline=None)
@given(minutes=st.floats(5, 600), wait=st.floats(0, 120), alpha=st.floats(0.01, 0.95),
       hours=st.floats(1, 24), n=st.integers(1, 40))
def test_capacity_table_properties(minutes: float, wait: float, alpha: float, hours: float,
                                   n: int) -> None:
    t = capacity_table(n, session_minutes=minutes, max_wait_minutes=wait,
                       wait_probability=alpha, operating_hours=hours)
    per_pile_max = np.arange(n + 1) * hours * 60 / minutes
    assert np.all(np.diff(t) > 0)  # strictly increasing
    assert np.all(t <= per_pile_max + 1e-9)  # never above full utilisation
    assert convexity_defect(t)[0] < 1e-6 * max(1.0, float(t[-1]))  # convex


def test_convexity_defect() -> None:
    assert convexity_defect([0, 1, 3, 6]) == (0.0, 1.0)
    assert convexity_defect([0, 3, 5, 6]) == (1.0, 0.0)
    assert convexity_defect([0, 1]) == (0.0, 0.0)


# ----------------------------------------------------------------- errors


def test_bad_arguments() -> None:
    with pytest.raises(InputError, match="servers must be >= 0"):
        erlang_c(-1, 1.0)
    with pytest.raises(InputError, match="whole numbers"):
        erlang_b(1.5, 1.0)
    with pytest.raises(InputError, match="load_erlang"):
        erlang_c(2, -1.0)
    with pytest.raises(InputError, match="session_minutes"):
        mean_wait_minutes(2, 1.0, session_minutes=0)
    with pytest.raises(InputError, match="wait_minutes"):
        wait_exceed_probability(2, 1.0, session_minutes=10, wait_minutes=-1)
    with pytest.raises(InputError, match="arrivals_per_h"):
        utilisation(2, -1.0, session_minutes=10)
    with pytest.raises(InputError, match=r"(?s)3 problems.*max_piles.*session_minutes.*"
                                         r"wait_probability"):
        capacity_table(-1, session_minutes=0, max_wait_minutes=5, wait_probability=1.0,
                       operating_hours=16)
    with pytest.raises(InputError, match="max_wait_minutes"):
        capacity_table(3, session_minutes=10, max_wait_minutes=-2, wait_probability=0.1,
                       operating_hours=16)
