"""Validation helpers for the heat model's array inputs (every problem collected)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from siting.models.base import frozen_array as frozen

__all__ = ["bounds", "check_index", "frozen", "mask", "vector"]


def vector(value: ArrayLike, n: int, what: str, problems: list[str], *,
            low: float | None) -> NDArray[np.float64]:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    arr = arr.ravel()
    if arr.size != n:
        problems.append(f"{what} has {arr.size} values, expected {n}")
        return np.zeros(n)
    if not np.all(np.isfinite(arr)):
        k = int(np.flatnonzero(~np.isfinite(arr))[0])
        problems.append(f"{what} must be finite (got {arr[k]!r} at {k})")
    elif low is not None and (arr < low).any():
        k = int(np.flatnonzero(arr < low)[0])
        problems.append(f"{what} must be >= {low:g} (got {arr[k]!r} at {k})")
    return arr


def bounds(value: ArrayLike | None, n: int, what: str, problems: list[str]) -> np.ndarray:
    arr = np.asarray(np.inf if value is None else value, dtype=np.float64)
    arr = np.full(n, float(arr)) if arr.ndim == 0 else arr.ravel()
    if arr.size != n:
        problems.append(f"{what} has {arr.size} values, expected {n}")
        return np.full(n, np.inf)
    if np.isnan(arr).any() or (arr < 0).any():
        problems.append(f"{what} must be >= 0 (inf for no bound)")
    return arr


def check_index(arr: np.ndarray, n: int, what: str, problems: list[str]) -> None:
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        problems.append(f"{what} must hold integer indices (got dtype {arr.dtype})")
    elif arr.size and (arr.min() < 0 or arr.max() >= n):
        problems.append(f"{what} holds indices outside 0..{n - 1} "
                        f"(min {arr.min()}, max {arr.max()})")


def mask(values: ArrayLike | None, n: int, what: str, problems: list[str]) -> np.ndarray:
    out = np.zeros(n, bool)
    if values is None:
        return out
    arr = np.asarray(values)
    if arr.dtype == bool:
        if arr.shape != (n,):
            problems.append(f"{what}: boolean mask has shape {arr.shape}, expected ({n},)")
            return out
        return arr.copy()
    arr = arr.ravel()
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        problems.append(f"{what}: expected link indices or a boolean mask (got {arr.dtype})")
        return out
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        problems.append(f"{what}: link index outside 0..{n - 1}")
        return out
    out[arr.astype(np.int64)] = True
    return out
