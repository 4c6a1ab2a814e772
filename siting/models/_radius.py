"""Distance levels and nearest-open-site helpers shared by the p-median reduction.

For client ``j`` with allowed sites sorted by cost, the *levels* are its distinct
costs ``D_j^0 < D_j^1 < ... < D_j^{L_j-1}`` and ``G_j^l`` the sites at cost
``D_j^l``. Road-network and OR-Library costs have many ties, so ``L_j`` is far
smaller than the number of sites (pmed39: 38 levels for 900 sites), which is what
makes the radius formulation of Elloumi (2010) and García, Labbé & Marín (2011)
small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from siting.models.costs import SparseCosts

__all__ = ["Levels", "nearest_open"]


@dataclass(frozen=True)
class Levels:
    """Per-client distance levels over a :class:`SparseCosts` (pairs sorted by cost).

    ``pair_level[q]``: level of stored pair ``q`` within its client.
    ``ptr[j]:ptr[j+1]``: client ``j``'s levels in ``value`` (their costs) and in
    ``first_pair`` (position of the first pair of that level within the client's row).
    """

    pair_level: np.ndarray
    ptr: np.ndarray
    value: np.ndarray
    first_pair: np.ndarray

    @property
    def count(self) -> np.ndarray:
        """``L_j``: number of levels per client."""
        return np.diff(self.ptr)

    @classmethod
    def of(cls, costs: SparseCosts) -> Levels:
        client = costs.client
        new = np.ones(costs.nnz, bool)
        if costs.nnz > 1:
            new[1:] = (client[1:] != client[:-1]) | (costs.cost[1:] != costs.cost[:-1])
        level_global = np.cumsum(new) - 1  # running level id over all clients
        starts = np.flatnonzero(new)
        counts = np.bincount(client[starts], minlength=costs.n_clients)
        ptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
        pair_level = level_global - ptr[client]
        first_pair = starts - costs.indptr[client[starts]]
        return cls(pair_level, ptr, costs.cost[starts], first_pair)

    def sites_within(self, k: np.ndarray, costs: SparseCosts) -> np.ndarray:
        """Number of pairs in levels ``0..k_j-1`` of each client (``k_j <= L_j``)."""
        count = self.count
        out = np.zeros(costs.n_clients, np.int64)
        full = k >= count
        out[full] = np.diff(costs.indptr)[full]
        part = ~full & (k > 0)
        out[part] = self.first_pair[self.ptr[:-1][part] + k[part]]
        return out


def nearest_open(costs: SparseCosts, is_open: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position (within the client's row) and site of each client's nearest open site.

    Ties go to the lower site index (rows are sorted by cost, then site). Clients
    with no open allowed site get position and site ``-1``.
    """
    pos = np.full(costs.n_clients, -1, np.int64)
    site = np.full(costs.n_clients, -1, np.int64)
    hit = np.flatnonzero(is_open[costs.site])
    if hit.size:
        client = costs.client[hit]
        uniq, first = np.unique(client, return_index=True)
        q = hit[first]
        pos[uniq] = q - costs.indptr[uniq]
        site[uniq] = costs.site[q]
    return pos, site
