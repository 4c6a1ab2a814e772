"""Readers for OR-Library location instances (benchmarks and tests).

J.E. Beasley, "OR-Library: distributing test problems by electronic mail", JORS
41(11):1069-1072 (1990). Three families:

- ``pmed``: uncapacitated p-median (Beasley 1985). ``n m p`` then ``m`` undirected
  edges ``i j cost`` (1-based). Duplicate edges occur; the **last occurrence wins**
  (that reproduces the published optima). Costs are all-pairs shortest paths; every
  vertex is a client and a site with weight 1.
- ``cap``: capacitated warehouse location (Beasley 1988). ``m n``; ``m`` lines
  ``capacity fixed_cost``; then per customer ``demand`` and ``m`` costs of serving
  all of its demand from each warehouse. ``capa``/``capb``/``capc`` write the word
  ``capacity`` instead of a number and are solved for several capacities.
- ``scp``: weighted set covering. ``m n`` (rows, columns); ``n`` column costs; then
  per row ``k`` and ``k`` column indices (1-based).

Readers return plain arrays; they never build dense client-by-site matrices except
for ``pmed`` shortest paths, whose input is an all-pairs instance by nature.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from siting.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["CapInstance", "PMedInstance", "SCPInstance", "read_cap", "read_optima",
           "read_pmed", "read_scp"]


def _tokens(path: Path) -> list[str]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read OR-Library file ({exc})") from exc
    tokens = text.split()
    if not tokens:
        raise InputError(f"{path}: file is empty")
    return tokens


def _numbers(path: Path, tokens: list[str]) -> np.ndarray:
    try:
        return np.asarray(tokens, dtype=np.float64)
    except ValueError:
        bad = next(t for t in tokens if not _is_number(t))
        raise InputError(f"{path}: {bad!r} is not a number; is this an OR-Library file of "
                         f"the right family?") from None


def _is_number(t: str) -> bool:
    try:
        float(t)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class PMedInstance:
    """A pmed instance: ``n`` vertices, ``p`` medians and the road-like graph."""

    name: str
    n: int
    p: int
    graph: sp.csr_matrix  # symmetric edge costs, last duplicate wins

    def shortest_paths(self) -> np.ndarray:
        """All-pairs shortest-path costs (``n x n``; the instance is all-pairs by nature)."""
        d = csgraph.shortest_path(self.graph, method="D", directed=False)
        if not np.all(np.isfinite(d)):
            raise InputError(f"pmed instance {self.name}: graph is disconnected")
        return d


def read_pmed(path: str | Path) -> PMedInstance:
    """Read an OR-Library ``pmed`` file (duplicate edges: the last occurrence wins)."""
    path = Path(path)
    v = _numbers(path, _tokens(path))
    if v.size < 3:
        raise InputError(f"{path}: expected 'n m p' on the first line")
    n, m, p = (int(x) for x in v[:3])
    body = v[3:3 + 3 * m]
    if body.size != 3 * m:
        raise InputError(f"{path}: header says {m} edges but the file holds {body.size // 3}")
    e = body.reshape(m, 3)
    i, j = e[:, 0].astype(np.int64) - 1, e[:, 1].astype(np.int64) - 1
    if i.min() < 0 or j.min() < 0 or max(i.max(), j.max()) >= n:
        raise InputError(f"{path}: an edge names a vertex outside 1..{n}")
    a, b = np.minimum(i, j), np.maximum(i, j)
    key = a * n + b
    # last occurrence wins: keep the final index of each key
    _, last_rev = np.unique(key[::-1], return_index=True)
    last = m - 1 - last_rev
    a, b, c = a[last], b[last], e[last, 2]
    g = sp.coo_matrix((np.r_[c, c], (np.r_[a, b], np.r_[b, a])), shape=(n, n)).tocsr()
    return PMedInstance(path.stem, n, p, g)


@dataclass(frozen=True)
class CapInstance:
    """A capacitated warehouse location instance (costs serve ALL of a client's demand).

    ``capacity`` is ``nan`` for every warehouse when the file says ``capacity``
    (capa/capb/capc); substitute a value with :meth:`with_capacity`.
    """

    name: str
    capacity: np.ndarray  # (m,)
    fixed_cost: np.ndarray  # (m,)
    demand: np.ndarray  # (n,)
    cost: np.ndarray  # (n, m): cost of serving all of client j's demand from i

    def with_capacity(self, capacity: float) -> CapInstance:
        return CapInstance(f"{self.name}-{int(capacity)}", np.full_like(self.capacity, capacity),
                           self.fixed_cost, self.demand, self.cost)

    @property
    def symbolic_capacity(self) -> bool:
        return bool(np.isnan(self.capacity).all())


def read_cap(path: str | Path) -> CapInstance:
    """Read an OR-Library ``cap`` file; a literal ``capacity`` becomes ``nan``."""
    path = Path(path)
    tokens = _tokens(path)
    tokens = ["nan" if t.lower() == "capacity" else t for t in tokens]
    v = _numbers(path, tokens)
    m, n = int(v[0]), int(v[1])
    need = 2 + 2 * m + n * (1 + m)
    if v.size < need:
        raise InputError(f"{path}: header says {m} warehouses and {n} customers, which needs "
                         f"{need} numbers, but the file holds {v.size}")
    w = v[2:2 + 2 * m].reshape(m, 2)
    body = v[2 + 2 * m:need].reshape(n, 1 + m)
    return CapInstance(path.stem, w[:, 0].copy(), w[:, 1].copy(), body[:, 0].copy(),
                       body[:, 1:].copy())


@dataclass(frozen=True)
class SCPInstance:
    """A weighted set-covering instance: ``rows`` must each be covered by a column."""

    name: str
    cost: np.ndarray  # (n_cols,)
    cover: sp.csr_matrix  # (n_rows, n_cols) boolean incidence


def read_scp(path: str | Path) -> SCPInstance:
    """Read an OR-Library ``scp`` file."""
    path = Path(path)
    v = _numbers(path, _tokens(path)).astype(np.int64)
    m, n = int(v[0]), int(v[1])
    cost = v[2:2 + n].astype(np.float64)
    if cost.size != n:
        raise InputError(f"{path}: header says {n} column costs but the file ends early")
    pos = 2 + n
    rows, cols = [], []
    for r in range(m):
        if pos >= v.size:
            raise InputError(f"{path}: header says {m} rows but the file holds {r}")
        k = int(v[pos])
        idx = v[pos + 1:pos + 1 + k] - 1
        if idx.size != k or (k and (idx.min() < 0 or idx.max() >= n)):
            raise InputError(f"{path}: row {r + 1} names a column outside 1..{n} or ends early")
        rows.append(np.full(k, r))
        cols.append(idx)
        pos += 1 + k
    r_arr, c_arr = np.concatenate(rows), np.concatenate(cols)
    cover = sp.csr_matrix((np.ones(r_arr.size, bool), (r_arr, c_arr)), shape=(m, n))
    return SCPInstance(path.stem, cost, cover)


def read_optima(path: str | Path) -> dict[str, float]:
    """Read ``pmedopt.txt`` / ``capopt.txt``: name -> optimum (``capa-8000`` style for
    the symbolic-capacity instances)."""
    path = Path(path)
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read optima file ({exc})") from exc
    out: dict[str, float] = {}
    current = None
    for line in lines:
        m = re.match(r"^\s*(\S+)?\s+([-+]?\d+(?:\.\d*)?)\s*(?:\(capacity\s+(\d+)\))?\s*$", line)
        if not m:
            continue
        name, value, cap = m.groups()
        if name is not None:
            current = name
        if current is None:
            continue
        out[f"{current}-{cap}" if cap else current] = float(value)
    return out
