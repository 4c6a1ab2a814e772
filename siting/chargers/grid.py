"""Substation headroom for new charging load, by voltage class.

Every site draws its new piles' nameplate kW from one substation, whose *headroom*
(new load it may take, MW, cumulative per stage) caps them. This module gives each
substation its headroom, in this order of precedence:

1. ``"column"``: the layer's own ``headroom_mw`` column (and ``headroom_mw_2030`` for a
   two-stage plan) where the row has a value: utility data beats any assumption;
2. ``"voltage class"``: the scenario's ``[chargers.substation_headroom_by_kv]`` table
   for the substation's voltage class;
3. ``"default"``: ``chargers.substation_headroom_mw`` / ``substation_headroom_mw_2030``
   (untagged voltage, or below the lowest class).

``headroom_assumed`` is False only for (1).

**Voltage.** Read from ``voltage_kv`` (the Zibo layer), else ``voltage`` (an OSM tag in
volts). A value is the *highest* of its parts separated by ``;``, ``,``, ``/`` or ``|``
(``"110000;35000"`` is 110 kV). Each part is a number with an optional unit: ``kV``
or ``V``. Parts without a unit are all in volts (OSM) when any of them is above 1,100,
otherwise all in kV (China's highest AC class is 1,000 kV, and no substation's
highest voltage is at or below 1,100 V): ``"10000;400"`` is 10 kV, ``"220"`` is
220 kV. Empty values are unknown; anything else that is not a positive number is an
error. Numbers in a numeric column follow the same unit rule.

**Class.** A voltage maps to the highest class at or below it (66 kV → 35 kV,
330 kV → 220 kV, 1,000 kV → 500 kV); below the lowest class it has none (default).
A class with 0 MW (transmission, e.g. 500 kV) takes no charging load:
:func:`nearest_supply` never ties a site to it.

Example:
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> from siting.config import load_scenario
    >>> c = load_scenario().chargers
    >>> subs = gpd.GeoDataFrame({"voltage": ["110000;35000", "500000", None]},
    ...                         geometry=[Point(0, 0), Point(1, 0), Point(2, 0)],
    ...                         crs="EPSG:32650")
    >>> out = substation_headroom(subs, c, stages=2)
    >>> out[["headroom_mw", "headroom_mw_2030", "headroom_source"]].values.tolist()
    [[30.0, 60.0, 'voltage class'], [0.0, 0.0, 'voltage class'], [30.0, 60.0, 'default']]
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from siting.config import ChargerSettings
from siting.crs import require_metric
from siting.errors import InputError

logger = logging.getLogger(__name__)

__all__ = [
    "HEADROOM_COLUMNS",
    "headroom_kw",
    "nearest_supply",
    "parse_voltage_kv",
    "substation_headroom",
    "voltage_class_kv",
]

HEADROOM_COLUMNS = ("headroom_mw", "headroom_mw_2030")
"""The layer's optional headroom columns (MW, cumulative), per stage."""

_LAYER = "layer 'substations'"
_SPLIT = re.compile(r"[;,/|]")
_PART = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(kv|v)?\s*$", re.IGNORECASE)
_VOLTS_ABOVE = 1100.0


def _to_kv(number: float, unit: str | None, *, volts: bool) -> float:
    if unit is not None:
        return number / 1000.0 if unit.lower() == "v" else number
    return number / 1000.0 if volts else number


def parse_voltage_kv(value: Any) -> float:
    """The highest voltage in ``value`` in kV; NaN when empty (see the module docstring).

    >>> parse_voltage_kv("110000;35000;10000"), parse_voltage_kv(220), parse_voltage_kv("35 kV")
    (110.0, 220.0, 35.0)

    Raises:
        ValueError: not a positive number (with an optional kV/V unit) in some part.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{value!r} is not a voltage")
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        if not (math.isfinite(number) and number > 0):
            raise ValueError(f"{value!r} is not a positive voltage")
        return _to_kv(number, None, volts=number > _VOLTS_ABOVE)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a voltage")
    parts = [p for p in _SPLIT.split(value) if p.strip()]
    if not parts:
        return math.nan
    found = []
    for part in parts:
        m = _PART.match(part)
        if m is None or float(m.group(1)) <= 0:
            raise ValueError(f"{value!r}: part {part.strip()!r} is not a positive voltage "
                             "(a number, optionally with kV or V)")
        found.append((float(m.group(1)), m.group(2)))
    volts = any(unit is None and number > _VOLTS_ABOVE for number, unit in found)
    return max(_to_kv(number, unit, volts=volts) for number, unit in found)


def voltage_class_kv(voltage_kv: ArrayLike, classes_kv: ArrayLike) -> np.ndarray:
    """The highest class at or below each voltage (kV); NaN below the lowest or unknown.

    >>> voltage_class_kv([66, 330, 1000, 6, np.nan], [10, 35, 110, 220, 500]).tolist()
    [35.0, 220.0, 500.0, nan, nan]
    """
    v = np.asarray(voltage_kv, dtype=np.float64)
    cls = np.sort(np.asarray(classes_kv, dtype=np.float64))
    out = np.full(v.shape, np.nan)
    if not cls.size:
        return out
    # tolerance: 110 kV tagged as 109999.999 V still maps to 110
    k = np.searchsorted(cls, np.nan_to_num(v, nan=-np.inf) * (1 + 1e-9), side="right") - 1
    ok = np.isfinite(v) & (k >= 0)
    out[ok] = cls[k[ok]]
    return out


def _row(index: pd.Index, k: int | np.integer) -> str:
    return f"row {index[int(k)]!r}"


def _voltages(subs: gpd.GeoDataFrame, problems: list[str]) -> np.ndarray:
    column = "voltage_kv" if "voltage_kv" in subs.columns else (
        "voltage" if "voltage" in subs.columns else None)
    out = np.full(len(subs), np.nan)
    if column is None:
        return out
    for k, value in enumerate(subs[column].tolist()):
        try:
            out[k] = parse_voltage_kv(value)
        except ValueError as exc:
            problems.append(f"{_LAYER} column {column!r} {_row(subs.index, k)}: {exc}")
    return out


def _user_headroom(subs: gpd.GeoDataFrame, column: str, problems: list[str]) -> np.ndarray:
    raw = subs[column]
    if pd.api.types.is_bool_dtype(raw):
        problems.append(f"{_LAYER} column {column!r} is boolean; it must hold MW numbers")
        return np.full(len(subs), np.nan)
    blank = raw.isna() | raw.map(lambda x: isinstance(x, str) and not x.strip())
    values = pd.to_numeric(raw.where(~blank), errors="coerce").to_numpy(np.float64)
    for k in range(len(subs)):
        if blank.iloc[k]:
            continue
        v = values[k]
        if math.isnan(v):
            problems.append(f"{_LAYER} column {column!r} {_row(subs.index, k)}: "
                            f"{raw.iloc[k]!r} is not a number (MW)")
        elif not math.isfinite(v) or v < 0:
            problems.append(f"{_LAYER} column {column!r} {_row(subs.index, k)}: headroom "
                            f"{v:g} MW must be finite and >= 0")
    return values


def substation_headroom(substations: gpd.GeoDataFrame, settings: ChargerSettings, *,
                        stages: int) -> gpd.GeoDataFrame:
    """A copy of ``substations`` (same index and CRS) with each one's headroom.

    Added columns: ``voltage_class_kv`` (the class its voltage maps to; NaN: none),
    ``headroom_mw`` (2025), ``headroom_mw_2030`` (when ``stages == 2``; cumulative),
    ``headroom_source`` (``"column"``, ``"voltage class"`` or ``"default"``) and
    ``headroom_assumed`` (True unless ``"column"``). Precedence and the voltage rule
    are in the module docstring. A two-stage plan takes a row's own values only
    when it has both ``headroom_mw`` and ``headroom_mw_2030``.

    Raises:
        InputError: ``stages`` not 1 or 2; an unreadable voltage; a non-numeric,
            negative or infinite ``headroom_mw`` / ``headroom_mw_2030``; a row with
            only one of the two in a two-stage plan, or with 2030 below 2025; a
            layer with ``headroom_mw`` but no ``headroom_mw_2030`` in a two-stage
            plan. Every problem is listed, by column and row.
    """
    if isinstance(stages, bool) or stages not in (1, 2):
        raise InputError(f"substation_headroom: stages={stages!r} must be 1 or 2")
    subs = substations.copy()
    problems: list[str] = []
    kv = _voltages(subs, problems)
    table = settings.substation_headroom_by_kv
    classes = np.array(sorted(float(k) for k in table), dtype=np.float64)
    by_class = {float(k): v for k, v in table.items()}
    cls = voltage_class_kv(kv, classes)
    d25 = float(settings.substation_headroom_mw)
    d30 = float(settings.substation_headroom_mw_2030 or settings.substation_headroom_mw)
    has_class = np.isfinite(cls)
    h25, h30 = np.full(len(subs), d25), np.full(len(subs), d30)
    for k in np.flatnonzero(has_class):
        entry = by_class[float(cls[k])]
        h25[k] = entry.mw
        h30[k] = entry.mw if entry.mw_2030 is None else entry.mw_2030
    source = np.where(has_class, "voltage class", "default").astype(object)

    present = [c for c in HEADROOM_COLUMNS[:stages] if c in subs.columns]
    user = {c: _user_headroom(subs, c, problems) for c in present}
    if HEADROOM_COLUMNS[0] in user:
        u25 = user[HEADROOM_COLUMNS[0]]
        if stages == 2 and HEADROOM_COLUMNS[1] not in user:
            if np.isfinite(u25).any():
                problems.append(f"{_LAYER} has column 'headroom_mw' but not 'headroom_mw_2030'; "
                                "a two-stage plan needs both (cumulative MW by 2030), or "
                                "plan one stage")
            own = np.zeros(len(subs), bool)
        else:
            u30 = user[HEADROOM_COLUMNS[1]] if stages == 2 else u25
            ok25, ok30 = np.isfinite(u25), np.isfinite(u30)
            for k in np.flatnonzero(ok25 != ok30):
                have, lack = (("headroom_mw", "headroom_mw_2030") if ok25[k]
                              else ("headroom_mw_2030", "headroom_mw"))
                problems.append(f"{_LAYER} {_row(subs.index, k)}: has {have} but no {lack}; "
                                "give both or neither")
            own = ok25 & ok30
            for k in np.flatnonzero(own & (u30 < u25)):
                problems.append(f"{_LAYER} {_row(subs.index, k)}: headroom_mw_2030 "
                                f"({u30[k]:g}) must be >= headroom_mw ({u25[k]:g}); "
                                "2030 headroom is cumulative")
            h25 = np.where(own, u25, h25)
            h30 = np.where(own, u30, h30)
            source = np.where(own, "column", source)
    elif HEADROOM_COLUMNS[1] in subs.columns and stages == 2:
        problems.append(f"{_LAYER} has column 'headroom_mw_2030' but not 'headroom_mw'; "
                        "add the 2025 headroom too")
    if problems:
        raise InputError.collect(problems, context="substation headroom")

    subs["voltage_class_kv"] = cls
    subs["headroom_mw"] = h25.astype(np.float64)
    if stages == 2:
        subs["headroom_mw_2030"] = h30.astype(np.float64)
    elif "headroom_mw_2030" in subs.columns:
        subs = subs.drop(columns="headroom_mw_2030")
    subs["headroom_source"] = pd.array(source, dtype=object)
    subs["headroom_assumed"] = source != "column"
    counts = pd.Series(source).value_counts().to_dict()
    logger.info("substations: headroom %s; total %.0f MW (2025)%s", counts,
                float(h25.sum()), f", {float(h30.sum()):.0f} MW (2030)" if stages == 2 else "")
    return subs


def headroom_kw(substations: gpd.GeoDataFrame, *, stages: int) -> np.ndarray:
    """``(stages, n)`` headroom in kW from :func:`substation_headroom`'s columns, as
    :class:`~siting.chargers.problem.ChargerProblem` takes it."""
    cols = HEADROOM_COLUMNS[:stages]
    missing = [c for c in cols if c not in substations.columns]
    if missing or stages not in (1, 2):
        raise InputError(f"{_LAYER} lacks {missing} for {stages} stage(s); pass it through "
                         "siting.chargers.grid.substation_headroom first")
    return np.vstack([substations[c].to_numpy(np.float64) for c in cols]) * 1000.0


def nearest_supply(sites_xy: ArrayLike, substations: gpd.GeoDataFrame, *,
                   max_distance_m: float = math.inf) -> np.ndarray:
    """Positional index of each site's nearest substation with headroom > 0 in the last
    stage (``headroom_mw_2030`` if present, else ``headroom_mw``); -1 where there is
    none (within ``max_distance_m``, straight line).

    ``sites_xy`` is an ``(n, 2)`` array of metric coordinates in ``substations``' CRS;
    ``substations`` is :func:`substation_headroom`'s output.

    Raises:
        InputError: ``sites_xy`` is not ``(n, 2)`` finite, or the layer lacks the
            headroom columns; CRSError: ``substations`` is not in a metric CRS.
    """
    xy = np.asarray(sites_xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or not np.all(np.isfinite(xy)):
        raise InputError(f"nearest_supply: sites_xy must be a finite (n, 2) array of metric "
                         f"coordinates (got shape {xy.shape})")
    last = next((c for c in reversed(HEADROOM_COLUMNS) if c in substations.columns), None)
    if last is None:
        raise InputError(f"{_LAYER} has no 'headroom_mw' column; pass it through "
                         "siting.chargers.grid.substation_headroom first")
    out = np.full(len(xy), -1, np.int64)
    if not len(substations) or not len(xy):
        return out
    require_metric(substations, what=_LAYER)
    live = np.flatnonzero(substations[last].to_numpy(np.float64) > 0)
    if not live.size:
        logger.warning("substations: none has headroom > 0 in %s; no site is tied", last)
        return out
    pts = substations.geometry.iloc[live].representative_point()
    dist, k = cKDTree(np.column_stack([pts.x, pts.y])).query(
        xy, distance_upper_bound=max_distance_m)
    hit = np.isfinite(dist)
    out[hit] = live[k[hit]]
    return out
