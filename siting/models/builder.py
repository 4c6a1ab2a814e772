"""A small sparse model builder: variables as index ranges, constraints as COO blocks.

Models in :mod:`siting.models` are assembled from small named constraint functions
(``_add_assignment(builder, data)``, ``_add_capacity(...)``) that each append one
block of rows given as coordinate arrays. Nothing is built one variable or one
coefficient at a time, so building a model with a million nonzeros takes
milliseconds instead of the ~14 µs per variable pulp needs (and ~41 µs plus ~3 KB
per variable inside spopt). The finished :class:`LinearModel` holds the constraint
matrix in compressed-column form, ready for HiGHS's ``passModel`` or a vectorised
MPS writer for CBC.

Every problem's ``extra_constraints`` hook receives the builder and the named
variable blocks, so a planner can add rows (or whole new variable blocks, e.g. a
second planning stage with ``n_2030 >= n_2025``) without touching the model code::

    def staged(b: ModelBuilder, v: Mapping[str, VarBlock]) -> None:
        n1 = v["units"]
        n2 = b.add_vars("units_2030", n1.size, ub=40, integer=True, cost=0.0)
        k = np.arange(n1.size)
        b.add_rows("stage_monotone", rows=np.r_[k, k], cols=np.r_[n2.index(), n1.index()],
                   vals=np.r_[np.ones(k.size), -np.ones(k.size)], lower=0.0, upper=np.inf,
                   n_rows=n1.size)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from siting.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["ExtraConstraints", "LinearModel", "ModelBuilder", "RowBlock", "VarBlock"]


@dataclass(frozen=True)
class VarBlock:
    """A named, contiguous range of columns ``[start, start + size)``."""

    name: str
    start: int
    size: int

    def index(self, local: ArrayLike | None = None) -> np.ndarray:
        """Global column indices of the block (or of the ``local`` positions in it)."""
        if local is None:
            return np.arange(self.start, self.start + self.size, dtype=np.int64)
        loc = np.asarray(local, dtype=np.int64)
        if loc.size and (loc.min() < 0 or loc.max() >= self.size):
            raise InputError(
                f"variable block {self.name!r}: local index out of range 0..{self.size - 1}"
            )
        return loc + self.start

    @property
    def slice(self) -> slice:
        return slice(self.start, self.start + self.size)


@dataclass(frozen=True)
class RowBlock:
    """A named, contiguous range of rows ``[start, start + size)``."""

    name: str
    start: int
    size: int

    @property
    def slice(self) -> slice:
        return slice(self.start, self.start + self.size)


@dataclass(frozen=True)
class LinearModel:
    """A finished (MI)LP in arrays: ``min/max c·x + offset  s.t.  lo <= A x <= hi``.

    ``matrix`` is a scipy CSC matrix with sorted indices and no duplicates;
    ``integer`` flags integer columns. ``objective_integral`` records that every
    integer-feasible solution has an integral objective (integer costs on integer
    variables only, or a model that guarantees it), which lets backends stop at an
    absolute gap just under 1 and stay exact.
    """

    name: str
    sense: Literal["min", "max"]
    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray
    matrix: sp.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    offset: float
    vars: Mapping[str, VarBlock]
    rows: Mapping[str, RowBlock]
    objective_integral: bool = False

    @property
    def n_cols(self) -> int:
        return int(self.cost.size)

    @property
    def n_rows(self) -> int:
        return int(self.row_lower.size)

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    @property
    def is_mip(self) -> bool:
        return bool(self.integer.any())

    def stats(self) -> dict[str, int]:
        return {"rows": self.n_rows, "cols": self.n_cols, "nnz": self.nnz,
                "integer_cols": int(self.integer.sum())}

    def values(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Split a full solution vector into its named blocks."""
        return {name: np.asarray(x[b.slice]) for name, b in self.vars.items()}

    def objective_of(self, x: np.ndarray) -> float:
        return float(self.cost @ x + self.offset)


def _broadcast(value: ArrayLike, n: int, what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise InputError(f"{what}: expected a scalar or {n} values, got shape {arr.shape}")
    return arr.copy()


@dataclass
class ModelBuilder:
    """Collects variable blocks and COO row blocks, then assembles a :class:`LinearModel`.

    Columns and rows are numbered in the order blocks are added. All inputs are
    arrays; there is no per-coefficient Python loop anywhere.
    """

    name: str
    sense: Literal["min", "max"] = "min"
    offset: float = 0.0
    objective_integral: bool = False
    _vars: dict[str, VarBlock] = field(default_factory=dict)
    _rows: dict[str, RowBlock] = field(default_factory=dict)
    _cost: list[np.ndarray] = field(default_factory=list)
    _lb: list[np.ndarray] = field(default_factory=list)
    _ub: list[np.ndarray] = field(default_factory=list)
    _int: list[np.ndarray] = field(default_factory=list)
    _coo: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    _rlo: list[np.ndarray] = field(default_factory=list)
    _rhi: list[np.ndarray] = field(default_factory=list)
    _n_cols: int = 0
    _n_rows: int = 0

    @property
    def n_cols(self) -> int:
        return self._n_cols

    @property
    def n_rows(self) -> int:
        return self._n_rows

    @property
    def vars(self) -> Mapping[str, VarBlock]:
        return dict(self._vars)

    def add_vars(self, name: str, size: int, *, lb: ArrayLike = 0.0, ub: ArrayLike = np.inf,
                 cost: ArrayLike = 0.0, integer: bool = False) -> VarBlock:
        """Append ``size`` columns named ``name`` with bounds and objective costs."""
        if name in self._vars:
            raise InputError(f"model {self.name!r}: variable block {name!r} already exists")
        size = int(size)
        block = VarBlock(name, self._n_cols, size)
        lo = _broadcast(lb, size, f"{name}.lb")
        hi = _broadcast(ub, size, f"{name}.ub")
        if np.any(lo > hi):
            k = int(np.flatnonzero(lo > hi)[0])
            raise InputError(f"model {self.name!r}: variable {name}[{k}] has lb {lo[k]} > ub "
                             f"{hi[k]}")
        self._cost.append(_broadcast(cost, size, f"{name}.cost"))
        self._lb.append(lo)
        self._ub.append(hi)
        self._int.append(np.full(size, bool(integer)))
        self._vars[name] = block
        self._n_cols += size
        return block

    def add_rows(self, name: str, *, rows: ArrayLike, cols: ArrayLike, vals: ArrayLike,
                 lower: ArrayLike, upper: ArrayLike, n_rows: int | None = None) -> RowBlock:
        """Append a block of rows ``lower <= A_block x <= upper`` given in COO form.

        ``rows`` are local row numbers ``0..n_rows-1``; ``cols`` are global column
        indices (from :meth:`VarBlock.index`). Duplicate (row, col) pairs are summed.
        ``n_rows`` defaults to the length of ``lower`` when that is an array.
        """
        if name in self._rows:
            raise InputError(f"model {self.name!r}: row block {name!r} already exists")
        r = np.asarray(rows, dtype=np.int64).ravel()
        c = np.asarray(cols, dtype=np.int64).ravel()
        v = np.asarray(vals, dtype=np.float64).ravel()
        if n_rows is None:
            lo_arr = np.asarray(lower)
            if lo_arr.ndim == 0:
                raise InputError(f"row block {name!r}: give n_rows when lower is a scalar")
            n_rows = int(lo_arr.size)
        if not (r.size == c.size == v.size):
            raise InputError(f"row block {name!r}: rows, cols and vals differ in length "
                             f"({r.size}, {c.size}, {v.size})")
        if r.size and (r.min() < 0 or r.max() >= n_rows):
            raise InputError(f"row block {name!r}: row index outside 0..{n_rows - 1}")
        if c.size and (c.min() < 0 or c.max() >= self._n_cols):
            raise InputError(f"row block {name!r}: column index outside 0..{self._n_cols - 1}")
        if not np.all(np.isfinite(v)):
            raise InputError(f"row block {name!r}: coefficients must be finite")
        lo = _broadcast(lower, n_rows, f"{name}.lower")
        hi = _broadcast(upper, n_rows, f"{name}.upper")
        block = RowBlock(name, self._n_rows, n_rows)
        self._coo.append((r + self._n_rows, c, v))
        self._rlo.append(lo)
        self._rhi.append(hi)
        self._rows[name] = block
        self._n_rows += n_rows
        return block

    def add_sparse_rows(self, name: str, matrix: sp.spmatrix | sp.sparray, *, cols: ArrayLike,
                        lower: ArrayLike, upper: ArrayLike) -> RowBlock:
        """Append rows from a scipy sparse matrix whose column ``k`` is variable ``cols[k]``."""
        coo = sp.coo_matrix(matrix)
        col_map = np.asarray(cols, dtype=np.int64)
        return self.add_rows(name, rows=coo.row, cols=col_map[coo.col], vals=coo.data,
                             lower=lower, upper=upper, n_rows=coo.shape[0])

    def set_bounds(self, block: VarBlock, local: ArrayLike, *, lb: ArrayLike | None = None,
                   ub: ArrayLike | None = None) -> None:
        """Change bounds of some columns of ``block`` (fixing, forbidding)."""
        k = self._block_pos(block)
        idx = np.asarray(local, dtype=np.int64)
        if lb is not None:
            self._lb[k][idx] = lb
        if ub is not None:
            self._ub[k][idx] = ub

    def _block_pos(self, block: VarBlock) -> int:
        return list(self._vars).index(block.name)

    def build(self) -> LinearModel:
        """Assemble the compressed-column matrix and freeze everything."""
        def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype)

        if self._coo:
            r = np.concatenate([p[0] for p in self._coo])
            c = np.concatenate([p[1] for p in self._coo])
            v = np.concatenate([p[2] for p in self._coo])
        else:
            r = c = np.empty(0, np.int64)
            v = np.empty(0)
        a = sp.csc_matrix((v, (r, c)), shape=(self._n_rows, self._n_cols))
        a.sum_duplicates()
        a.sort_indices()
        lb, ub = cat(self._lb, np.float64), cat(self._ub, np.float64)
        rlo, rhi = cat(self._rlo, np.float64), cat(self._rhi, np.float64)
        if np.any(rlo > rhi):
            k = int(np.flatnonzero(rlo > rhi)[0])
            raise InputError(f"model {self.name!r}: row {self._row_name(k)} has lower bound "
                             f"{rlo[k]} > upper bound {rhi[k]}")
        arrays = [cat(self._cost, np.float64), lb, ub, cat(self._int, bool), rlo, rhi]
        for arr in arrays:
            arr.setflags(write=False)
        return LinearModel(
            name=self.name, sense=self.sense, cost=arrays[0], col_lower=lb, col_upper=ub,
            integer=arrays[3], matrix=a, row_lower=rlo, row_upper=rhi, offset=float(self.offset),
            vars=dict(self._vars), rows=dict(self._rows),
            objective_integral=self.objective_integral,
        )

    def _row_name(self, k: int) -> str:
        for b in self._rows.values():
            if b.start <= k < b.start + b.size:
                return f"{b.name}[{k - b.start}]"
        return str(k)


ExtraConstraints = Callable[[ModelBuilder, Mapping[str, VarBlock]], None]
"""``extra_constraints(builder, vars)``: a hook that adds rows (and variable blocks) to a
model after its own constraints, on the named blocks in ``vars`` (PyPSA's
``extra_functionality``). Every model of the core and every planner takes one."""
