"""Sparse client-by-site costs: validation and the sorted per-client layout models use.

Costs come as ``(i, j, cost)`` arrays (client, site, cost) or as a scipy sparse
matrix of shape ``(n_clients, n_sites)``. A pair that is absent is an assignment
that is not allowed (for example beyond a network cutoff). In a sparse matrix the
*stored* entries are the pairs, so an explicit stored zero is a zero-cost pair (a
site at the client's own location); build matrices from coordinates, not with
``csr_matrix(dense)``, which drops zeros.

Nothing here builds a dense ``n_clients x n_sites`` array.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Union

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from siting.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["CostInput", "SparseCosts", "as_index_array"]

CostInput = Union[tuple[ArrayLike, ArrayLike, ArrayLike], sp.spmatrix, sp.sparray, "SparseCosts"]


@dataclass(frozen=True)
class SparseCosts:
    """Costs in compressed rows by client, each row sorted by cost then site.

    ``site[indptr[j]:indptr[j+1]]`` are client ``j``'s allowed sites, nearest first,
    and ``cost[...]`` their costs. Arrays are read-only.
    """

    n_clients: int
    n_sites: int
    indptr: np.ndarray
    site: np.ndarray
    cost: np.ndarray

    @property
    def nnz(self) -> int:
        return int(self.site.size)

    @property
    def client(self) -> np.ndarray:
        """Client index of every stored pair."""
        return np.repeat(np.arange(self.n_clients), np.diff(self.indptr))

    def degree(self) -> np.ndarray:
        """Number of allowed sites per client."""
        return np.diff(self.indptr)

    def to_csr(self) -> sp.csr_matrix:
        """As a CSR matrix (explicit zeros kept)."""
        return sp.csr_matrix((self.cost, self.site, self.indptr),
                             shape=(self.n_clients, self.n_sites))

    def drop_sites(self, forbidden: np.ndarray) -> SparseCosts:
        """Remove every pair whose site is flagged in the boolean mask ``forbidden``."""
        keep = ~forbidden[self.site]
        if keep.all():
            return self
        counts = np.bincount(self.client[keep], minlength=self.n_clients)
        indptr = np.r_[0, np.cumsum(counts)]
        return SparseCosts._frozen(self.n_clients, self.n_sites, indptr, self.site[keep],
                                   self.cost[keep])

    @staticmethod
    def _frozen(n_clients: int, n_sites: int, indptr: np.ndarray, site: np.ndarray,
                cost: np.ndarray) -> SparseCosts:
        arrays = [np.ascontiguousarray(indptr, np.int64), np.ascontiguousarray(site, np.int64),
                  np.ascontiguousarray(cost, np.float64)]
        for a in arrays:
            a.setflags(write=False)
        return SparseCosts(int(n_clients), int(n_sites), *arrays)

    @classmethod
    def from_input(cls, costs: CostInput, *, n_clients: int | None = None,
                   n_sites: int | None = None, name: str = "costs",
                   allow_negative: bool = False) -> SparseCosts:
        """Validate ``costs`` and sort each client's pairs by cost.

        Raises :class:`~siting.errors.InputError` naming every problem: mismatched
        lengths, indices out of range, duplicate pairs, non-finite or negative costs.
        """
        if isinstance(costs, SparseCosts):
            if n_clients is not None and costs.n_clients != n_clients:
                raise InputError(f"{name}: has {costs.n_clients} clients, expected {n_clients}")
            if n_sites is not None and costs.n_sites != n_sites:
                raise InputError(f"{name}: has {costs.n_sites} sites, expected {n_sites}")
            return costs
        problems: list[str] = []
        if sp.issparse(costs):
            coo = sp.coo_matrix(costs)
            i, j, c = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
            shape_c, shape_s = coo.shape
            if n_clients is not None and n_clients != shape_c:
                problems.append(f"matrix has {shape_c} rows but there are {n_clients} clients")
            if n_sites is not None and n_sites != shape_s:
                problems.append(f"matrix has {shape_s} columns but there are {n_sites} sites")
            n_clients, n_sites = shape_c, shape_s
        elif isinstance(costs, tuple | list) and len(costs) == 3:
            i, j, c = (np.asarray(a).ravel() for a in costs)
            if not (i.size == j.size == c.size):
                raise InputError(f"{name}: (i, j, cost) arrays differ in length "
                                 f"({i.size}, {j.size}, {c.size})")
            for arr, what in ((i, "client index i"), (j, "site index j")):
                if (arr.size and not np.issubdtype(arr.dtype, np.integer)
                        and not np.all(np.mod(arr, 1) == 0)):
                    problems.append(f"{what} holds non-integer values")
            i, j = i.astype(np.int64), j.astype(np.int64)
            if n_clients is None:
                n_clients = int(i.max()) + 1 if i.size else 0
            if n_sites is None:
                n_sites = int(j.max()) + 1 if j.size else 0
        else:
            raise InputError(f"{name}: expected (i, j, cost) arrays or a scipy sparse matrix, "
                             f"got {type(costs).__name__}; a dense matrix must be converted "
                             f"explicitly (scipy.sparse.coo_matrix keeps only nonzeros)")
        c = np.asarray(c, dtype=np.float64)
        if i.size and (i.min() < 0 or i.max() >= n_clients):
            problems.append(f"client index outside 0..{n_clients - 1} "
                            f"(min {i.min()}, max {i.max()})")
        if j.size and (j.min() < 0 or j.max() >= n_sites):
            problems.append(f"site index outside 0..{n_sites - 1} (min {j.min()}, max {j.max()})")
        bad = ~np.isfinite(c)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            problems.append(f"{int(bad.sum())} non-finite costs (first: client {i[k]}, site "
                            f"{j[k]}, cost {c[k]}); leave impossible pairs out instead")
        if not allow_negative and (c < 0).any():
            k = int(np.flatnonzero(c < 0)[0])
            problems.append(f"{int((c < 0).sum())} negative costs (first: client {i[k]}, "
                            f"site {j[k]}, cost {c[k]})")
        if problems:
            raise InputError.collect(problems, context=name)
        order = np.lexsort((j, c, i))
        i, j, c = i[order], j[order], c[order]
        if i.size > 1:
            key = i * n_sites + j
            dup = np.unique(key, return_counts=True)
            if (dup[1] > 1).any():
                k = int(dup[0][dup[1] > 1][0])
                raise InputError(f"{name}: pair (client {k // n_sites}, site {k % n_sites}) "
                                 f"appears more than once; give each pair one cost")
        indptr = np.searchsorted(i, np.arange(n_clients + 1))
        return cls._frozen(n_clients, n_sites, indptr, j, c)


def as_index_array(values: ArrayLike | None, *, n: int, name: str) -> np.ndarray:
    """Site indices from indices or a boolean mask; validated, sorted, unique."""
    if values is None:
        return np.empty(0, np.int64)
    arr = np.asarray(values)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise InputError(f"{name}: boolean mask has shape {arr.shape}, expected ({n},)")
        return np.flatnonzero(arr).astype(np.int64)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"{name}: expected site indices (integers) or a boolean mask, got "
                         f"dtype {arr.dtype}")
    arr = arr.astype(np.int64).ravel()
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise InputError(f"{name}: site index outside 0..{n - 1} (got {arr.min()}..{arr.max()})")
    return np.unique(arr)
