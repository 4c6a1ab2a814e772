"""Vertex-substitution local search for the p-median on sparse costs.

Teitz & Bart (1968) swaps, evaluated all at once with the gain / loss / extra
decomposition of Whitaker (1983) and Resende & Werneck (2007): closing open site
``a`` and opening closed site ``b`` changes the cost by

    delta(a, b) = loss[a] - gain[b] - extra[a, b]

where, with ``d1_j``/``d2_j`` the costs of client ``j``'s nearest and second-nearest
open sites and ``phi_j`` its nearest,

    gain[b]     = sum_j w_j max(0, d1_j - c_bj)
    loss[a]     = sum_{j: phi_j = a} w_j (d2_j - d1_j)
    extra[a, b] = sum_{j: phi_j = a, c_bj < d2_j} w_j (d2_j - max(c_bj, d1_j)).

``extra`` is sparse (only pairs closer than the second-nearest open site), so one
best-improvement step costs a few passes over the stored pairs, never a dense
clients-by-sites array. The search gives the exact algorithms their upper bound
and a MIP start; it never decides optimality on its own.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from siting.models.costs import SparseCosts
from siting.models.solvers import Deadline

logger = logging.getLogger(__name__)

__all__ = ["assignment_cost", "fast_interchange", "two_nearest"]


def two_nearest(costs: SparseCosts, is_open: np.ndarray, *, missing: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(d1, d2, phi)``: nearest and second-nearest open cost and nearest open site.

    Clients without an open allowed site get ``missing`` (and ``phi = -1``); clients
    with one get ``d2 = missing``.
    """
    n = costs.n_clients
    d1 = np.full(n, missing)
    d2 = np.full(n, missing)
    phi = np.full(n, -1, np.int64)
    hit = np.flatnonzero(is_open[costs.site])
    if hit.size == 0:
        return d1, d2, phi
    cl = costs.client[hit]
    first = np.r_[True, cl[1:] != cl[:-1]]
    q1 = hit[first]
    d1[cl[first]] = costs.cost[q1]
    phi[cl[first]] = costs.site[q1]
    second = np.r_[False, first[:-1] & ~first[1:]]
    d2[cl[second]] = costs.cost[hit[second]]
    return d1, d2, phi


def assignment_cost(costs: SparseCosts, weights: np.ndarray, is_open: np.ndarray) -> float:
    """Exact p-median cost of ``is_open``; ``inf`` if a client has no open allowed site."""
    d1, _, _ = two_nearest(costs, is_open, missing=math.inf)
    if not np.all(np.isfinite(d1)):
        return math.inf
    return float(np.dot(weights, d1))


def fast_interchange(costs: SparseCosts, weights: np.ndarray, is_open: np.ndarray, *,
                     locked_open: np.ndarray, locked_closed: np.ndarray,
                     deadline: Deadline | None = None, max_swaps: int | None = None,
                     tol: float = 1e-9) -> tuple[np.ndarray, float]:
    """Best-improvement swaps from ``is_open`` until no swap improves (a local optimum).

    ``locked_open`` sites are never closed and ``locked_closed`` never opened (boolean
    masks). Returns the new open mask and its exact cost (``inf`` if some client is
    still unserved).
    """
    is_open = is_open.copy()
    n_sites = costs.n_sites
    big = (float(costs.cost.max()) + 1.0) * 4.0 if costs.nnz else 1.0
    limit = max_swaps if max_swaps is not None else 50 * max(1, int(is_open.sum())) + 100
    client = costs.client
    w_pair = weights[client]
    swaps = 0
    while swaps < limit and not (deadline is not None and deadline.expired()):
        d1, d2, phi = two_nearest(costs, is_open, missing=big)
        closable = is_open & ~locked_open
        openable = ~is_open & ~locked_closed
        if not closable.any() or not openable.any():
            break
        d1p, d2p = d1[client], d2[client]
        c = costs.cost
        s = costs.site
        near = c < d1p
        gain = np.bincount(s[near], weights=w_pair[near] * (d1p[near] - c[near]),
                           minlength=n_sites)
        has = phi >= 0
        loss = np.bincount(phi[has], weights=weights[has] * (d2[has] - d1[has]),
                           minlength=n_sites)
        loss = np.where(closable, loss, np.inf)
        gain = np.where(openable, gain, -np.inf)
        a0, b0 = int(np.argmin(loss)), int(np.argmax(gain))
        # sparse extra[a, b] over pairs closer than the second-nearest open site
        mid = (c < d2p) & (phi[client] >= 0)
        mid &= openable[s] & closable[np.maximum(phi[client], 0)]
        best_delta, best = math.inf, (a0, b0)
        if mid.any():
            a = phi[client[mid]]
            b = s[mid]
            val = w_pair[mid] * (d2p[mid] - np.maximum(c[mid], d1p[mid]))
            key = a * n_sites + b
            uk, inv = np.unique(key, return_inverse=True)
            extra = np.bincount(inv, weights=val)
            ua, ub = np.divmod(uk, n_sites)
            delta = loss[ua] - gain[ub] - extra
            k = int(np.argmin(delta))
            best_delta, best = float(delta[k]), (int(ua[k]), int(ub[k]))
            hit0 = np.flatnonzero(uk == a0 * n_sites + b0)
            plain = loss[a0] - gain[b0] - (extra[hit0[0]] if hit0.size else 0.0)
        else:
            plain = loss[a0] - gain[b0]
        if plain < best_delta:
            best_delta, best = float(plain), (a0, b0)
        if not (best_delta < -tol * max(1.0, float(np.dot(weights, d1)))):
            break
        is_open[best[0]] = False
        is_open[best[1]] = True
        swaps += 1
    logger.debug("fast interchange: %d swaps", swaps)
    return is_open, assignment_cost(costs, weights, is_open)
