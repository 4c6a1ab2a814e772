"""Bus depots and taxi hubs sized for the electrified fleets.

The carbon-peak plan electrifies urban buses (``fleet.bus_nev_share_2025``, 100%) and
cruise taxis (``fleet.taxi_nev_share_2025``, 80%) by 2025. :func:`plan_fleet` sizes
the charging those fleets need at given points (bus depots; taxi hubs) and reports
how much of each fleet the plan charges, which is what the fleet targets measure.

**Vehicles.** ``E = ceil(N x share)`` electric vehicles of a fleet of ``N``
(``fleet.buses``, ``fleet.taxis``) are split over districts in proportion to
``weights_by_district`` (population) by largest remainder (ties: district name
order), so district counts are whole and sum to ``E``. A district with weight but no
depot (hub) hands its weight to the district of the depot (hub) nearest to its
representative point (``districts`` polygons needed; otherwise an error). Within a
district vehicles are split evenly over its depots (hubs), taken in coordinate order
(x, then y); the first ``E_d mod n_d`` get one more.

**Depots** (overnight, not queued): ``piles = ceil(buses / buses_per_depot_pile)``;
each bus charges once a night (``sessions_day = buses``); the depot charges
``min(buses, floor(piles x buses_per_depot_pile))`` buses.

**Hubs** (DC fast, queued): ``sessions_day = taxis x taxi_sessions_per_day``; in the
peak hour ``λ = taxi_peak_hour_share x sessions_day`` sessions arrive per hour. The
hub gets the smallest ``c`` with ``P(Wq > chargers.max_wait_minutes) <=
chargers.wait_probability`` for an M/M/c queue at ``λ`` with mean session
``chargers.fast.session_minutes`` (:func:`siting.chargers.queueing.capacity_table`
with ``operating_hours = 1``: the sessions per hour ``c`` piles serve at the service
level). Its daily capacity is that hourly capacity over the peak share, and it charges
``min(taxis, floor(capacity / taxi_sessions_per_day))`` taxis.

**Shares.** ``bus_charged_share`` = buses charged / ``fleet.buses``; the same for
taxis. With every fleet vehicle placed, they equal ``ceil(N x share) / N``, i.e. the
plan's share (rounded up to whole vehicles).

Ids are ``chg-fleet-bus-<district>-<k>`` and ``chg-fleet-taxi-<district>-<k>``
(district lower-cased, non-word characters as ``-``; ``k`` from 1 in coordinate
order), so the same points give the same ids whatever their input order.

Example:
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> from siting.config import load_scenario
    >>> s = load_scenario()
    >>> pts = gpd.GeoDataFrame({"district": ["A", "B"]},
    ...                        geometry=[Point(0, 0), Point(9000, 0)], crs="EPSG:32650")
    >>> plan = plan_fleet(depots=pts, hubs=pts, weights_by_district={"A": 3, "B": 1},
    ...                   fleet=s.fleet.model_copy(update={"buses": 100, "taxis": 100}),
    ...                   chargers=s.chargers)
    >>> plan.sites[["id", "vehicles", "piles"]].values.tolist()[:2]
    [['chg-fleet-bus-a-1', 75, 38], ['chg-fleet-bus-b-1', 25, 13]]
    >>> plan.kpis()["bus_charged_share"], plan.kpis()["taxi_charged_share"]
    (1.0, 0.8)
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from siting.chargers.queueing import capacity_table, wait_exceed_probability
from siting.config import ChargerSettings, FleetSettings
from siting.crs import require_metric
from siting.errors import CRSError, InputError

logger = logging.getLogger(__name__)

__all__ = ["FLEET_SITE_COLUMNS", "FleetPlan", "hub_piles", "plan_fleet"]

FLEET_SITE_COLUMNS = (
    "id", "fleet", "name", "district", "vehicles", "sessions_day", "piles", "kw",
    "capacity_vehicles", "vehicles_charged", "capacity_sessions_day",
    "peak_arrivals_per_h", "peak_wait_probability", "geometry")
"""Columns of :attr:`FleetPlan.sites`, in order."""

FleetKind = Literal["bus", "taxi"]
_LAYER = {"bus": "layer 'bus_depots'", "taxi": "layer 'taxi_hubs'"}
_NOUN = {"bus": "bus depot", "taxi": "taxi hub"}
_EPS = 1e-9


@dataclass(frozen=True)
class FleetPlan:
    """Depots and hubs with their piles (:data:`FLEET_SITE_COLUMNS`) and the fleets.

    ``buses``/``taxis``: whole fleets (``fleet.buses``/``fleet.taxis``); 0 means that
    fleet is not modelled (its share is ``None``). ``notes``: what was assumed
    (districts merged, districts without weight).
    """

    sites: gpd.GeoDataFrame
    buses: int
    taxis: int
    buses_per_depot_pile: float
    taxi_sessions_per_day: float
    notes: tuple[str, ...] = ()

    def _part(self, kind: FleetKind) -> pd.DataFrame:
        return self.sites[self.sites["fleet"] == kind]

    def kpis(self) -> dict[str, Any]:
        """Fleet totals and shares (see the module docstring and ``definition``).

        Keys: ``buses``, ``buses_electric``, ``bus_depot_capacity`` (buses the depot
        piles can charge), ``buses_charged``, ``bus_charged_share``, ``bus_piles``,
        ``bus_kw_mw``; ``taxis``, ``taxis_electric``, ``taxi_hub_capacity``,
        ``taxis_charged``, ``taxi_charged_share``, ``taxi_sessions_day``,
        ``taxi_piles``, ``taxi_kw_mw``, ``taxi_peak_wait_probability_max``; ``piles``,
        ``kw_total_mw``, ``definition``, ``notes``.
        """
        bus, taxi = self._part("bus"), self._part("taxi")
        out: dict[str, Any] = {}
        for kind, part, total in (("bus", bus, self.buses), ("taxi", taxi, self.taxis)):
            plural = "buses" if kind == "bus" else "taxis"
            charged = int(np.minimum(part["vehicles"], part["capacity_vehicles"]).sum())
            out[plural] = int(total)
            out[f"{plural}_electric"] = int(part["vehicles"].sum())
            out[f"{kind}_{'depot' if kind == 'bus' else 'hub'}_capacity"] = int(
                part["capacity_vehicles"].sum())
            out[f"{plural}_charged"] = charged
            out[f"{kind}_charged_share"] = charged / total if total > 0 else None
            out[f"{kind}_piles"] = int(part["piles"].sum())
            out[f"{kind}_kw_mw"] = float(part["kw"].sum()) / 1000.0
        out["taxi_sessions_day"] = float(taxi["sessions_day"].sum())
        p = taxi["peak_wait_probability"]
        out["taxi_peak_wait_probability_max"] = float(p.max()) if len(p) else 0.0
        out["piles"] = int(self.sites["piles"].sum())
        out["kw_total_mw"] = float(self.sites["kw"].sum()) / 1000.0
        out["definition"] = (
            "bus_charged_share = electric urban buses whose overnight depot charging the "
            "plan provides (per depot min(buses assigned, floor(piles x "
            f"{self.buses_per_depot_pile:g} buses per pile))) / all urban buses; "
            "taxi_charged_share = electric cruise taxis whose fast charging the hubs serve "
            "at the Erlang-C service level in the peak hour (per hub min(taxis assigned, "
            f"floor(daily capacity / {self.taxi_sessions_per_day:g} sessions per taxi))) "
            "/ all cruise taxis; electric vehicles = ceil(fleet x 2025 NEV share), split "
            "over districts by population and evenly over each district's depots or hubs")
        out["notes"] = list(self.notes)
        return out


def hub_piles(arrivals_per_h: np.ndarray, *, session_minutes: float, max_wait_minutes: float,
              wait_probability: float) -> tuple[np.ndarray, np.ndarray]:
    """Smallest pile counts meeting ``P(Wq > max_wait_minutes) <= wait_probability`` at
    ``arrivals_per_h`` (0 where no arrivals), and the sessions/hour each count serves
    at that level (:func:`~siting.chargers.queueing.capacity_table`)."""
    lam = np.asarray(arrivals_per_h, dtype=np.float64)
    if lam.size and (not np.all(np.isfinite(lam)) or np.any(lam < 0)):
        raise InputError("hub_piles: arrivals_per_h must be finite and >= 0")
    if not lam.size:
        return np.zeros(0, np.int64), np.zeros(0)
    load = float(lam.max()) * session_minutes / 60.0
    size = max(4, int(2 * load) + 10)
    while True:
        table = capacity_table(size, session_minutes=session_minutes,
                               max_wait_minutes=max_wait_minutes,
                               wait_probability=wait_probability, operating_hours=1.0)
        if table[-1] >= lam.max():
            break
        size *= 2
    piles = np.searchsorted(table, lam, side="left").astype(np.int64)
    return piles, table[piles]


def _apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Whole numbers summing to ``total`` in proportion to ``weights`` (largest
    remainder; ties to the earlier entry)."""
    if total == 0 or not weights.size:
        return np.zeros(weights.size, np.int64)
    quota = total * weights / weights.sum()
    base = np.floor(quota + _EPS).astype(np.int64)
    short = total - int(base.sum())
    order = np.argsort(-(quota - base), kind="stable")
    base[order[:short]] += 1
    return base


def _slug(name: str) -> str:
    return re.sub(r"[^\w]+", "-", name.strip().lower()).strip("-") or "district"


def _check_layer(layer: gpd.GeoDataFrame, kind: FleetKind, needed: int,
                 problems: list[str]) -> None:
    what = _LAYER[kind]
    if not len(layer):
        if needed > 0:
            hint = ("the district_centres layer on the Zibo demo" if kind == "bus" else
                    "rail_stations plus district_centres on the Zibo demo")
            problems.append(f"{what} is empty but {needed:,} electric "
                            f"{'buses' if kind == 'bus' else 'taxis'} need charging; add "
                            f"{_NOUN[kind]} points with a 'district' column (e.g. {hint}), "
                            f"or set fleet.{'buses' if kind == 'bus' else 'taxis'} = 0")
        return
    if "district" not in layer.columns:
        problems.append(f"{what} has no 'district' column; add each point's district name")
        return
    bad = layer["district"].isna() | ~layer["district"].map(lambda d: isinstance(d, str))
    if bad.any():
        rows = [repr(i) for i in layer.index[bad.to_numpy()][:5]]
        problems.append(f"{what} column 'district': {int(bad.sum())} row(s) without a district "
                        f"name (first rows {', '.join(rows)})")
    if not layer.geometry.geom_type.eq("Point").all():
        problems.append(f"{what} must hold points (got {sorted(set(layer.geom_type))})")


def _district_weights(layer: gpd.GeoDataFrame, kind: FleetKind, weights: Mapping[str, float],
                      districts: gpd.GeoDataFrame | None, notes: list[str],
                      problems: list[str]) -> dict[str, float]:
    """Weights of the districts that have points, with orphans' weight merged in."""
    have = sorted(set(map(str, layer["district"])))
    out = {d: float(weights.get(d, 0.0)) for d in have}
    lacking = [d for d in have if d not in weights]
    if lacking:
        notes.append(f"{_NOUN[kind]}s in district(s) {', '.join(lacking)} with no weight: "
                     "no vehicles assigned there")
    orphans = sorted(d for d, w in weights.items() if w > 0 and d not in out)
    if not orphans:
        return out
    known = (set(map(str, districts["name"])) if districts is not None
             and "name" in districts.columns else set())
    missing = [d for d in orphans if d not in known]
    if missing:
        problems.append(
            f"{_LAYER[kind]} has no {_NOUN[kind]} in district(s) {', '.join(missing)}; add "
            f"one there, or pass districts= (polygons with a 'name' column) so their "
            "vehicles go to the nearest district's")
        return out
    assert districts is not None
    polys = districts.to_crs(layer.crs)
    polys = polys.set_index(polys["name"].astype(str))
    xy = np.column_stack([layer.geometry.x, layer.geometry.y])
    tree = cKDTree(xy)
    for d in orphans:
        p = polys.loc[[d]].geometry.iloc[0].representative_point()
        _, k = tree.query([p.x, p.y])
        to = str(layer["district"].iloc[int(k)])
        out[to] += float(weights[d])
        notes.append(f"district {d} has no {_NOUN[kind]}: its vehicles go to {to}'s "
                     "(nearest)")
    return out


def _place(layer: gpd.GeoDataFrame, kind: FleetKind, electric: int,
           weights: dict[str, float]) -> pd.DataFrame:
    """One row per point: id, name, district and whole vehicles, in id order."""
    names = sorted(weights)
    per_district = dict(zip(names, _apportion(electric, np.array([weights[d] for d in names]))
                            .tolist(), strict=True)) if names else {}
    frame = pd.DataFrame({"district": layer["district"].astype(str).to_numpy(),
                          "x": np.round(layer.geometry.x.to_numpy(), 3),
                          "y": np.round(layer.geometry.y.to_numpy(), 3),
                          "pos": np.arange(len(layer))})
    rows = []
    for d, part in frame.groupby("district", sort=True):
        part = part.sort_values(["x", "y", "pos"], kind="stable")
        q, r = divmod(int(per_district.get(str(d), 0)), len(part))
        for k, pos in enumerate(part["pos"].tolist()):
            src = layer.iloc[pos]
            label = next((str(src[c]) for c in ("name", "name_zh") if c in layer.columns
                          and isinstance(src[c], str) and src[c].strip()),
                         f"{d} {_NOUN[kind]} {k + 1}")
            rows.append({"id": f"chg-fleet-{kind}-{_slug(str(d))}-{k + 1}", "fleet": kind,
                         "name": label, "district": str(d), "vehicles": q + (k < r),
                         "geometry": layer.geometry.iloc[pos]})
    return pd.DataFrame(rows, columns=["id", "fleet", "name", "district", "vehicles",
                                       "geometry"])


def plan_fleet(*, depots: gpd.GeoDataFrame, hubs: gpd.GeoDataFrame,
               weights_by_district: Mapping[str, float], fleet: FleetSettings,
               chargers: ChargerSettings,
               districts: gpd.GeoDataFrame | None = None) -> FleetPlan:
    """Bus-depot and taxi-hub piles for the 2025 electrified fleets.

    ``depots`` and ``hubs``: point layers (metric CRS) with a ``district`` column (and
    optionally ``name``/``name_zh``); ``weights_by_district``: each district's share
    weight (population); ``districts``: polygons with ``name``, needed only when a
    weighted district has no depot or hub. Rules are in the module docstring.

    Returns:
        :class:`FleetPlan`; ``sites`` has :data:`FLEET_SITE_COLUMNS` (buses first, then
        taxis, each in id order) in the layers' CRS; every point gets a row (piles 0
        where no vehicles were assigned); ``peak_wait_probability`` and
        ``peak_arrivals_per_h`` are NaN for depots.

    Raises:
        InputError: an empty layer while its fleet has electric vehicles (naming the
            layer to add), a layer without ``district`` names or with non-points, bad
            weights, a weighted district with no point and no ``districts`` polygon;
            CRSError: a geographic layer or the two layers in different CRSs.
    """
    problems: list[str] = []
    bad_w = [f"{d}={w!r}" for d, w in weights_by_district.items()
             if isinstance(w, bool) or not isinstance(w, int | float | np.integer | np.floating)
             or not math.isfinite(float(w)) or float(w) < 0]
    if bad_w:
        problems.append(f"weights_by_district: weights must be finite numbers >= 0 "
                        f"(got {', '.join(bad_w[:5])})")
    e_bus = math.ceil(fleet.buses * fleet.bus_nev_share_2025 - _EPS)
    e_taxi = math.ceil(fleet.taxis * fleet.taxi_nev_share_2025 - _EPS)
    if not bad_w and (e_bus or e_taxi) and sum(map(float, weights_by_district.values())) <= 0:
        problems.append("weights_by_district: weights sum to 0; give each district its "
                        "population")
    jobs: tuple[tuple[gpd.GeoDataFrame, FleetKind, int], ...] = (
        (depots, "bus", e_bus), (hubs, "taxi", e_taxi))
    for layer, kind, need in jobs:
        _check_layer(layer, kind, need, problems)
    if problems:
        raise InputError.collect(problems, context="fleet plan")
    live = [g for g in (depots, hubs) if len(g)]
    for layer, kind, _ in jobs:
        if len(layer):
            require_metric(layer, what=_LAYER[kind])
    if len(live) == 2 and not depots.crs.equals(hubs.crs):
        raise CRSError(f"{_LAYER['bus']} ({depots.crs}) and {_LAYER['taxi']} ({hubs.crs}) "
                       "must share one CRS; reproject one with .to_crs(...)")
    crs = live[0].crs if live else (depots.crs or hubs.crs)

    notes: list[str] = []
    weights = {str(d): float(w) for d, w in weights_by_district.items()}
    parts = []
    for layer, kind, electric in jobs:
        if not len(layer):
            continue
        w = _district_weights(layer, kind, weights, districts, notes, problems)
        if not problems:
            parts.append(_place(layer, kind, electric, w))
    if problems:
        raise InputError.collect(problems, context="fleet plan")

    frame = (pd.concat(parts, ignore_index=True) if parts else
             pd.DataFrame(columns=["id", "fleet", "name", "district", "vehicles", "geometry"]))
    frame["vehicles"] = frame["vehicles"].astype(np.int64)
    veh = frame["vehicles"].to_numpy(np.float64)
    is_bus = (frame["fleet"] == "bus").to_numpy()
    n = len(frame)
    piles = np.zeros(n, np.int64)
    sessions = np.where(is_bus, veh, veh * fleet.taxi_sessions_per_day)
    cap_veh = np.zeros(n, np.int64)
    cap_sessions = np.zeros(n)
    lam = np.full(n, np.nan)
    p_wait = np.full(n, np.nan)
    kw = np.zeros(n)

    bpp = fleet.buses_per_depot_pile
    piles[is_bus] = np.ceil(veh[is_bus] / bpp - _EPS).astype(np.int64)
    cap_veh[is_bus] = np.floor(piles[is_bus] * bpp + _EPS).astype(np.int64)
    cap_sessions[is_bus] = cap_veh[is_bus]
    kw[is_bus] = piles[is_bus] * fleet.depot_pile_kw

    t = ~is_bus
    if t.any():
        sm = chargers.fast.session_minutes
        lam[t] = fleet.taxi_peak_hour_share * sessions[t]
        c, per_h = hub_piles(lam[t], session_minutes=sm,
                             max_wait_minutes=chargers.max_wait_minutes,
                             wait_probability=chargers.wait_probability)
        piles[t] = c
        cap_sessions[t] = per_h / fleet.taxi_peak_hour_share
        cap_veh[t] = np.floor(cap_sessions[t] / fleet.taxi_sessions_per_day + _EPS)
        p_wait[t] = wait_exceed_probability(c, lam[t], session_minutes=sm,
                                            wait_minutes=chargers.max_wait_minutes)
        kw[t] = c * fleet.hub_pile_kw

    frame["sessions_day"] = sessions
    frame["piles"] = piles
    frame["kw"] = kw
    frame["capacity_vehicles"] = cap_veh
    frame["vehicles_charged"] = np.minimum(frame["vehicles"].to_numpy(np.int64), cap_veh)
    frame["capacity_sessions_day"] = cap_sessions
    frame["peak_arrivals_per_h"] = lam
    frame["peak_wait_probability"] = p_wait
    sites = gpd.GeoDataFrame(frame[list(FLEET_SITE_COLUMNS)], geometry="geometry", crs=crs)
    plan = FleetPlan(sites, int(fleet.buses), int(fleet.taxis), float(bpp),
                     float(fleet.taxi_sessions_per_day), tuple(notes))
    k = plan.kpis()
    logger.info("fleet: %d depot piles for %d electric buses, %d hub piles for %d electric "
                "taxis (%.1f MW)", k["bus_piles"], k["buses_electric"], k["taxi_piles"],
                k["taxis_electric"], k["kw_total_mw"])
    return plan
