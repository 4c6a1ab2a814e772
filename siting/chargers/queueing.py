"""Erlang-C (M/M/c) service levels for charging stations.

A station with ``c`` identical piles is modelled as an M/M/c queue: sessions arrive
as a Poisson stream at ``λ`` per hour spread evenly over the operating hours, a
session occupies a pile for an exponential time with mean ``session_minutes``
(service rate ``μ = 60 / session_minutes`` per hour), and drivers queue first come,
first served. With offered load ``a = λ / μ`` (Erlangs) and ``a < c``:

- Erlang B, by the stable recursion ``B(0) = 1``, ``B(k) = a B(k-1) / (k + a B(k-1))``;
- Erlang C, the probability that an arriving driver waits at all,
  ``C(c, a) = c B(c, a) / (c - a (1 - B(c, a)))``;
- the probability of waiting longer than ``W``,
  ``P(Wq > W) = C(c, a) exp(-(c μ - λ) W)``;
- the mean wait ``E[Wq] = C(c, a) / (c μ - λ)``.

:func:`capacity_table` inverts the service level: for ``c = 0..max_piles`` the
largest number of sessions per day that ``c`` piles serve with
``P(Wq > W) <= α``. ``P(Wq > W)`` increases strictly in ``λ``, so the inverse is
found by bisection, vectorised over ``c``; the value returned is on the feasible side
(at most ``tol`` sessions/day below the exact root).

**Shape of the table.** The capacity is increasing and, for every ``W >= 0`` and
``α`` tried, *convex* in ``c`` (not concave): pooling makes a large station serve
more sessions per pile than a small one (``λ_max(c) / c`` rises towards ``μ``, the
square-root staffing effect ``λ_max ≈ cμ - β√(cμ)``). At the default scenario a
single slow pile serves 0.66 sessions/day at the service level, ten slow piles
22.4 (2.24 per pile), sixty 169 (2.82 per pile). A concave "envelope" formulation
would therefore over-state the capacity of small stations; the charger model uses
an exact disjunctive formulation instead (see :mod:`siting.chargers.problem`).
:func:`convexity_defect` reports how far a table is from convex.

Example:
    >>> from siting.chargers.queueing import capacity_table, erlang_c
    >>> round(float(erlang_c(3, 2.0)), 4)                  # textbook: 4/9
    0.4444
    >>> t = capacity_table(4, session_minutes=40, max_wait_minutes=10,
    ...                    wait_probability=0.2, operating_hours=16)
    >>> [round(float(v), 2) for v in t]
    [0.0, 5.8, 20.94, 38.93, 58.29]
"""

from __future__ import annotations

import logging
import math

import numpy as np
from numpy.typing import ArrayLike

from siting.errors import InputError

logger = logging.getLogger(__name__)

__all__ = [
    "capacity_table",
    "convexity_defect",
    "erlang_b",
    "erlang_c",
    "mean_wait_minutes",
    "utilisation",
    "wait_exceed_probability",
]


def _servers_load(servers: ArrayLike, load_erlang: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(servers)
    a = np.asarray(load_erlang, dtype=np.float64)
    problems = []
    if c.size and not np.issubdtype(c.dtype, np.integer) and (
            not np.all(np.isfinite(c)) or not np.all(np.mod(c, 1) == 0)):
        problems.append("servers must be whole numbers of piles")
    if c.size and np.any(c < 0):
        problems.append(f"servers must be >= 0 (got min {np.min(c)})")
    if a.size and (not np.all(np.isfinite(a)) or np.any(a < 0)):
        problems.append("load_erlang must be finite and >= 0")
    if problems:
        raise InputError.collect(problems, context="Erlang formula")
    c, a = np.broadcast_arrays(c.astype(np.int64), a)
    return c, a


def erlang_b(servers: ArrayLike, load_erlang: ArrayLike) -> np.ndarray:
    """Blocking probability ``B(c, a)`` of an M/M/c/c system (element-wise)."""
    c, a = _servers_load(servers, load_erlang)
    out = np.ones(c.shape)
    if c.size == 0:
        return out
    b = np.ones(c.shape)
    for k in range(1, int(c.max()) + 1):
        b = a * b / (k + a * b)
        out = np.where(c == k, b, out)
    return out


def erlang_c(servers: ArrayLike, load_erlang: ArrayLike) -> np.ndarray:
    """Probability ``C(c, a)`` that an arrival waits; 1 where ``a >= c`` (unstable)."""
    c, a = _servers_load(servers, load_erlang)
    b = erlang_b(c, a)
    stable = a < c
    with np.errstate(divide="ignore", invalid="ignore"):
        val = c * b / (c - a * (1.0 - b))
    return np.where(stable, np.clip(val, 0.0, 1.0), 1.0)


def _rates(arrivals_per_h: ArrayLike, session_minutes: float) -> tuple[np.ndarray, float]:
    if not (isinstance(session_minutes, int | float) and math.isfinite(session_minutes)
            and session_minutes > 0):
        raise InputError(f"session_minutes={session_minutes!r} must be a number > 0")
    lam = np.asarray(arrivals_per_h, dtype=np.float64)
    if lam.size and (not np.all(np.isfinite(lam)) or np.any(lam < 0)):
        raise InputError("arrivals_per_h must be finite and >= 0")
    return lam, 60.0 / float(session_minutes)


def wait_exceed_probability(servers: ArrayLike, arrivals_per_h: ArrayLike, *,
                            session_minutes: float, wait_minutes: float) -> np.ndarray:
    """``P(Wq > W)`` for ``c`` piles, ``λ`` sessions/hour and mean session length.

    1 where the queue is unstable (``λ >= c μ``), 0 where there are no arrivals.
    """
    if not (math.isfinite(wait_minutes) and wait_minutes >= 0):
        raise InputError(f"wait_minutes={wait_minutes!r} must be a number >= 0")
    lam, mu = _rates(arrivals_per_h, session_minutes)
    c, lam = np.broadcast_arrays(np.asarray(servers), lam)
    cc = erlang_c(c, lam / mu)
    decay = np.exp(-np.maximum(c * mu - lam, 0.0) * (wait_minutes / 60.0))
    out = np.where(lam < c * mu, cc * decay, 1.0)
    return np.where(lam == 0, 0.0, out)


def mean_wait_minutes(servers: ArrayLike, arrivals_per_h: ArrayLike, *,
                      session_minutes: float) -> np.ndarray:
    """Mean queueing delay ``E[Wq]`` in minutes; ``inf`` where unstable, 0 without arrivals."""
    lam, mu = _rates(arrivals_per_h, session_minutes)
    c, lam = np.broadcast_arrays(np.asarray(servers), lam)
    cc = erlang_c(c, lam / mu)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = 60.0 * cc / (c * mu - lam)
    out = np.where(lam < c * mu, w, np.inf)
    return np.where(lam == 0, 0.0, out)


def utilisation(servers: ArrayLike, arrivals_per_h: ArrayLike, *,
                session_minutes: float) -> np.ndarray:
    """Share of pile time busy, ``λ / (c μ)``; 0 where there are no piles."""
    lam, mu = _rates(arrivals_per_h, session_minutes)
    c, lam = np.broadcast_arrays(np.asarray(servers, dtype=np.float64), lam)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(c > 0, lam / (c * mu), 0.0)


def capacity_table(max_piles: int, *, session_minutes: float, max_wait_minutes: float,
                   wait_probability: float, operating_hours: float,
                   tol: float = 1e-9) -> np.ndarray:
    """Sessions per day that ``c = 0..max_piles`` piles serve at the service level.

    Entry ``c`` is the largest ``λ × operating_hours`` with
    ``P(Wq > max_wait_minutes) <= wait_probability`` (M/M/c, see the module
    docstring), rounded down to within ``tol`` sessions/day. Entry 0 is 0.

    Raises:
        InputError: ``max_piles`` < 0, or a non-positive time, or ``wait_probability``
            outside (0, 1).
    """
    problems = []
    if isinstance(max_piles, bool) or not isinstance(max_piles, int | np.integer) \
            or max_piles < 0:
        problems.append(f"max_piles={max_piles!r} must be an integer >= 0")
    for name, value in (("session_minutes", session_minutes),
                        ("operating_hours", operating_hours)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            problems.append(f"{name}={value!r} must be a number > 0")
    if not (isinstance(max_wait_minutes, int | float) and math.isfinite(max_wait_minutes)
            and max_wait_minutes >= 0):
        problems.append(f"max_wait_minutes={max_wait_minutes!r} must be a number >= 0")
    if not (isinstance(wait_probability, int | float) and 0 < wait_probability < 1):
        problems.append(f"wait_probability={wait_probability!r} must be in (0, 1)")
    if problems:
        raise InputError.collect(problems, context="capacity_table")
    mu = 60.0 / float(session_minutes)
    c = np.arange(1, int(max_piles) + 1)
    lo = np.zeros(c.size)
    hi = c * mu  # P -> 1 > alpha as lambda -> c mu
    # bisection to an absolute tolerance in sessions/day
    top = max(float(hi.max(initial=1.0)) * operating_hours, 1.0)
    steps = math.ceil(math.log2(top / tol)) + 1
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        ok = wait_exceed_probability(c, mid, session_minutes=session_minutes,
                                     wait_minutes=max_wait_minutes) <= wait_probability
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    table = np.r_[0.0, lo * float(operating_hours)]
    table.setflags(write=False)
    return table


def convexity_defect(table: ArrayLike) -> tuple[float, float]:
    """``(worst concavity, worst convexity)`` of a table's second differences.

    The first number is ``max(-Δ²)`` (0 for a convex table), the second ``max(Δ²)``
    (0 for a concave one); both are in the table's units.
    """
    t = np.asarray(table, dtype=np.float64)
    if t.size < 3:
        return 0.0, 0.0
    d2 = np.diff(t, 2)
    return float(max(0.0, -d2.min())), float(max(0.0, d2.max()))
