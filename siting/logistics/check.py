"""Independent checks of logistics park solutions.

Nothing here reuses the planner's code paths: distances are recomputed with plain
shapely geometry and networkx Dijkstra, shares and targets straight from the
scenario, so a bug in the model, the candidate screening or the layer assembly
shows up as a violation instead of being repeated.

- :func:`check_logistics_problem` verifies a :class:`~siting.models.base.Result`
  against a :class:`~siting.logistics.problem.LogisticsProblem` (arrays only).
- :func:`check_logistics_solution` verifies a planner's layers and KPIs against the
  region and scenario (geometry, access, constraint layers, flows, target, CO₂).

Both return a list of violations, empty when the solution is valid.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from siting.config import Scenario
from siting.logistics.problem import LogisticsProblem
from siting.models.base import Result
from siting.planners import NO_DECISIONS, ItemDecisions, PlannerOutput
from siting.region import Region

logger = logging.getLogger(__name__)

__all__ = ["check_logistics_problem", "check_logistics_solution"]

_MAJOR = ("motorway", "motorway_link", "trunk", "trunk_link")


def check_logistics_problem(pb: LogisticsProblem, result: Result, *, tol: float = 1e-6
                            ) -> list[str]:
    """Violations of ``result`` as a solution of ``pb`` (``[]`` when it is valid).

    Checks: exactly ``p`` open parks, fixed ones open and forbidden ones closed;
    every flow on an allowed pair, non-negative, only through open parks; supply,
    capacity and target rows; the assignment shares agree with the flows; the
    reported objective equals the one recomputed pair by pair (drayage + parks + value
    of the rail-suitable freight left on the road).
    """
    out: list[str] = []
    opened = {int(i) for i in result.selected}
    if len(opened) != pb.p:
        out.append(f"{len(opened)} parks open, expected exactly {pb.p}")
    out += [f"fixed park {int(i)} is closed" for i in pb.fixed if int(i) not in opened]
    out += [f"forbidden park {int(i)} is open" for i in pb.forbidden if int(i) in opened]
    allowed: dict[tuple[int, int], float] = {}
    indptr, site, cost = pb.costs.indptr, pb.costs.site, pb.costs.cost
    for j in range(pb.n_sources):
        for k in range(int(indptr[j]), int(indptr[j + 1])):
            allowed[(j, int(site[k]))] = float(cost[k])
    flows: dict[tuple[int, int], float] = {}
    for j, i, share in zip(result.assignment.client, result.assignment.site,
                           result.assignment.amount, strict=True):
        key = (int(j), int(i))
        if key not in allowed:
            out.append(f"source {key[0]} is served by park {key[1]}, which is beyond its reach")
            continue
        if share < -tol:
            out.append(f"negative flow {share} from source {key[0]} to park {key[1]}")
        flows[key] = flows.get(key, 0.0) + float(share) * float(pb.supply_mt[key[0]])
    shipped = np.zeros(pb.n_sources)
    handled = np.zeros(pb.n_parks)
    for (j, i), f in flows.items():
        shipped[j] += f
        handled[i] += f
        if f > tol and i not in opened:
            out.append(f"source {j} ships {f:.6g} Mt to park {i}, which is closed")
    over = np.flatnonzero(shipped > pb.supply_mt + tol * max(1.0, pb.supply_mt.max()))
    out += [f"source {s} ships {shipped[s]:.6g} Mt > its rail-suitable {pb.supply_mt[s]:.6g} Mt"
            for s in over]
    full = np.flatnonzero(handled > pb.capacity_mt + tol * max(1.0, pb.capacity_mt.max()))
    out += [f"park {p} handles {handled[p]:.6g} Mt > capacity {pb.capacity_mt[p]:.6g} Mt"
            for p in full]
    total = float(shipped.sum())
    if total < pb.target_mt - tol * max(1.0, pb.target_mt):
        out.append(f"multimodal freight {total:.6g} Mt < target {pb.target_mt:.6g} Mt")
    # drayage + parks + the value of rail-suitable freight left on the road (M CNY/yr)
    value = sum(f * pb.drayage_cny_per_tkm * allowed[key] / 1000.0 for key, f in flows.items())
    value += sum(float(pb.annual_cost_cny[i]) / 1e6 for i in opened)
    value += pb.shift_value_cny_per_t * float(np.sum(np.maximum(pb.supply_mt - shipped, 0.0)))
    if not math.isclose(value, result.objective, rel_tol=1e-6, abs_tol=1e-6):
        out.append(f"objective {result.objective:.9g} differs from the recomputed {value:.9g}")
    return out


# --------------------------------------------------------------------------- layers


def _freight_rail(region: Region) -> list[tuple[str, Any]]:
    feats = []
    for name in ("rail_stations", "rail_lines"):
        layer = region.layers.get(name)
        if layer is None:
            continue
        for _, row in layer.iterrows():
            flag = row.get("freight", True)
            if flag is True or str(flag).strip().lower() in ("true", "1", "yes", "y", "t"):
                feats.append((str(row.get("name", "")), row.geometry))
    return feats


# where a region has no motorway/trunk junction, the best class present (the planner's
# documented fallback): primary, then secondary
_FALLBACK = (("primary", "primary_link"), ("secondary", "secondary_link"))


def _junctions(graph: nx.MultiDiGraph) -> set[Any]:
    classes = set(_MAJOR)
    for extra in ((), *_FALLBACK):
        classes |= set(extra)
        touch_major: set[Any] = set()
        touch_other: set[Any] = set()
        for u, v, data in graph.edges(data=True):
            hw = data.get("highway")
            hws = hw if isinstance(hw, list) else [hw]
            target = touch_major if any(h in classes for h in hws) else touch_other
            target.add(u)
            target.add(v)
        if touch_major & touch_other:
            break
    return touch_major & touch_other


class _Roads:
    """Snapping (brute force) and networkx distances on the region's graph."""

    def __init__(self, graph: nx.MultiDiGraph) -> None:
        self.graph = graph
        self.nodes = list(graph.nodes)
        self.xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in self.nodes])
        self._from: dict[Any, dict[Any, float]] = {}

    def snap(self, x: float, y: float) -> tuple[Any, float]:
        d = np.hypot(self.xy[:, 0] - x, self.xy[:, 1] - y)
        k = int(np.argmin(d))
        return self.nodes[k], float(d[k])

    def access(self, junctions: set[Any]) -> tuple[dict[Any, float], dict[Any, float]]:
        there = nx.multi_source_dijkstra_path_length(self.graph.reverse(copy=False), junctions,
                                                     weight="length")
        back = nx.multi_source_dijkstra_path_length(self.graph, junctions, weight="length")
        return there, back

    def drive_m(self, a: Any, b: Any, cutoff: float) -> float:
        if a not in self._from:
            self._from[a] = nx.single_source_dijkstra_path_length(self.graph, a, cutoff=cutoff,
                                                                  weight="length")
        return self._from[a].get(b, math.inf)


def _hits(point: Any, layer: gpd.GeoDataFrame | None, buffer_m: float) -> bool:
    if layer is None or len(layer) == 0:
        return False
    d = shapely.distance(layer.geometry.to_numpy(), point)
    return bool((d <= buffer_m).any()) if buffer_m > 0 else bool((d == 0).any())


def check_logistics_solution(output: PlannerOutput | Mapping[str, gpd.GeoDataFrame], *,
                             region: Region, scenario: Scenario,
                             decisions: ItemDecisions = NO_DECISIONS,
                             kpis: Mapping[str, Any] | None = None,
                             inputs: gpd.GeoDataFrame | None = None,
                             layer_shares: bool = False, tol_mt: float = 1e-6,
                             tol_m: float = 1.0) -> list[str]:
    """Violations of a logistics plan (``[]`` when it is valid).

    Recomputes from the region and scenario, independently of the planner: exactly
    ``[logistics].parks`` parks; each within ``rail_access_m`` of a freight station or
    line and ``road_access_m`` by road of an expressway/trunk junction (networkx; where
    the region has none, of the best class present: primary, then secondary),
    outside the red line, water (with ``[review]`` buffers), farmland and excluded
    land uses; reported access distances match; catchment flows within park capacity
    and each source's rail-suitable tonnage (shares from the scenario), on drayage
    routes within ``max_drayage_m`` whose lengths match networkx; throughputs and KPIs
    add up; freight meets the target of the target year; CO₂ saved recomputes;
    approved parks are built and rejected ones are not.

    ``inputs`` is the freight-source layer the plan was made from (default: the
    region's ``industrial_zones``); where its rows can be matched to the plan's
    sources (``zone_id`` as ``FS-<n>``, or ``id``), their tonnage and sector are checked
    and used. ``layer_shares=True`` accepts per-source ``rail_share`` values that differ from the
    scenario's sector shares (sources given with their own ``rail_share`` column).
    """
    layers = output.layers if isinstance(output, PlannerOutput) else output
    if kpis is None and isinstance(output, PlannerOutput):
        kpis = output.kpis
    s, rv = scenario.logistics, scenario.review
    parks, catch = layers["logistics_parks"], layers["logistics_catchments"]
    sources = layers["logistics_sources"]
    out: list[str] = []
    if len(parks) != s.parks:
        out.append(f"{len(parks)} parks, expected exactly {s.parks}")
    if parks["id"].duplicated().any():
        out.append("park ids are not unique")
    rail = _freight_rail(region)
    roads = _Roads(region.graph)
    there, back = roads.access(_junctions(region.graph))
    land = region.layers.get("land_use")
    excluded = land[land["land_use"].isin(s.excluded_land_use)] if land is not None else None
    for _, park in parks.iterrows():
        pid, pt = park["id"], park.geometry
        if not park.get("existing", False):
            expect = f"LP-{pt.x:.0f}-{pt.y:.0f}"
            if pid != expect:
                out.append(f"park {pid}: id does not match its location ({expect})")
        rail_m = min((float(g.distance(pt)) for _, g in rail), default=math.inf)
        if rail_m > s.rail_access_m + 1e-6:
            out.append(f"park {pid}: {rail_m:,.0f} m from freight rail > {s.rail_access_m:,.0f} m")
        if abs(rail_m - float(park["rail_access_m"])) > tol_m:
            out.append(f"park {pid}: rail_access_m {park['rail_access_m']:.1f} but {rail_m:.1f}")
        node, snap = roads.snap(pt.x, pt.y)
        road_m = snap + max(there.get(node, math.inf), back.get(node, math.inf))
        if road_m > s.road_access_m + 1e-6:
            out.append(f"park {pid}: road access {road_m:,.0f} m > {s.road_access_m:,.0f} m")
        if abs(road_m - float(park["road_access_m"])) > tol_m:
            out.append(f"park {pid}: road_access_m {park['road_access_m']:.1f} but {road_m:.1f}")
        for name, buf in (("red_line", rv.park_red_line_buffer_m),
                          ("water", rv.park_water_buffer_m), ("farmland", 0.0)):
            if _hits(pt, region.layers.get(name), buf):
                out.append(f"park {pid}: inside {name}" + (f" or within {buf:g} m" if buf else ""))
        if _hits(pt, excluded, 0.0):
            out.append(f"park {pid}: on excluded land use {s.excluded_land_use}")
        if not shapely.covers(shapely.union_all(region.boundary.geometry.to_numpy()), pt):
            out.append(f"park {pid}: outside the region")
    out += [f"approved park {a} was not built" for a in sorted(decisions.approved)
            if a not in set(parks["id"])]
    out += [f"rejected park {r} was built" for r in sorted(decisions.rejected)
            if r in set(parks["id"])]
    out += _check_sources(sources, inputs if inputs is not None
                          else region.layers.get("industrial_zones"), tol_mt)
    out += _check_flows(parks, catch, sources, roads, scenario, tol_mt, tol_m, layer_shares)
    if kpis is not None:
        out += _check_kpis(kpis, parks, catch, scenario, tol_mt)
    return out


def _check_sources(sources: gpd.GeoDataFrame, inputs: gpd.GeoDataFrame | None,
                   tol_mt: float) -> list[str]:
    if inputs is None:
        return []
    if "zone_id" in inputs.columns:
        ids = [f"FS-{v}" for v in inputs["zone_id"]]
    elif "id" in inputs.columns:
        ids = [str(v) for v in inputs["id"]]
    else:
        return []
    if "freight_mt_yr" in inputs.columns:
        tonnes = inputs["freight_mt_yr"].astype(float).to_numpy()
    elif "freight_t_yr" in inputs.columns:
        tonnes = inputs["freight_t_yr"].astype(float).to_numpy() / 1e6
    else:
        return []
    given = dict(zip(ids, tonnes, strict=True))
    sectors = dict(zip(ids, inputs["sector"].astype(str), strict=True)) \
        if "sector" in inputs.columns else {}
    out = []
    matched = 0
    for _, row in sources.iterrows():
        sid = row["id"]
        if sid not in given:
            continue
        matched += 1
        if abs(float(row["freight_mt"]) - given[sid]) > tol_mt:
            out.append(f"source {sid}: freight_mt {row['freight_mt']:.6f} but the input layer "
                       f"has {given[sid]:.6f}")
        if sid in sectors and str(row["sector"]) != sectors[sid]:
            out.append(f"source {sid}: sector {row['sector']!r} but the input layer has "
                       f"{sectors[sid]!r}")
    if matched != len(given) and matched:
        out.append(f"{len(given) - matched} input sources are missing from the plan")
    return out


def _check_flows(parks: gpd.GeoDataFrame, catch: gpd.GeoDataFrame, sources: gpd.GeoDataFrame,
                 roads: _Roads, scenario: Scenario, tol_mt: float, tol_m: float,
                 layer_shares: bool) -> list[str]:
    s = scenario.logistics
    out: list[str] = []
    park_by_id = {r["id"]: r for _, r in parks.iterrows()}
    src_by_id = {r["id"]: r for _, r in sources.iterrows()}
    through: dict[str, float] = {}
    shipped: dict[str, float] = {}
    # net kg CO2 per tonne before drayage, and gross (see siting.logistics.outputs)
    per_t = (s.linehaul_km * (s.co2_road_kg_per_tkm - s.co2_rail_kg_per_tkm)
             - s.delivery_km * s.co2_road_kg_per_tkm - s.co2_handling_kg_per_t)
    gross_per_t = s.linehaul_km * s.co2_road_kg_per_tkm
    for _, c in catch.iterrows():
        pid, sid, f = c["park_id"], c["source_id"], float(c["freight_mt"])
        if pid not in park_by_id:
            out.append(f"catchment {sid}->{pid}: the park is not built")
            continue
        if sid not in src_by_id:
            out.append(f"catchment {sid}->{pid}: unknown source")
            continue
        if f < -tol_mt:
            out.append(f"catchment {sid}->{pid}: negative freight {f}")
        through[pid] = through.get(pid, 0.0) + f
        shipped[sid] = shipped.get(sid, 0.0) + f
        park, src = park_by_id[pid], src_by_id[sid]
        a = src.geometry.representative_point()
        na, sa = roads.snap(a.x, a.y)
        nb, sb = roads.snap(park.geometry.x, park.geometry.y)
        drive = sa + roads.drive_m(na, nb, s.max_drayage_m) + sb
        if drive > s.max_drayage_m + 1e-6:
            out.append(f"catchment {sid}->{pid}: drayage {drive:,.0f} m > {s.max_drayage_m:,.0f} m")
        if abs(drive - 1000.0 * float(c["drayage_km"])) > tol_m:
            out.append(f"catchment {sid}->{pid}: drayage_km {c['drayage_km']:.4f} but the road "
                       f"network gives {drive / 1000:.4f}")
        co2 = f * 1e6 * (per_t - drive / 1000.0 * s.co2_road_kg_per_tkm) / 1000.0
        if not math.isclose(co2, float(c["co2_saved_t_yr"]), rel_tol=1e-6, abs_tol=1e-3):
            out.append(f"catchment {sid}->{pid}: co2_saved_t_yr {c['co2_saved_t_yr']:.3f} but "
                       f"{co2:.3f}")
        if "co2_saved_gross_t_yr" in c.index and not math.isclose(
                f * 1e3 * gross_per_t, float(c["co2_saved_gross_t_yr"]), rel_tol=1e-6,
                abs_tol=1e-3):
            out.append(f"catchment {sid}->{pid}: co2_saved_gross_t_yr "
                       f"{c['co2_saved_gross_t_yr']:.3f} but {f * 1e3 * gross_per_t:.3f}")
        end = shapely.get_coordinates(c.geometry)[-1]
        if math.hypot(end[0] - park.geometry.x, end[1] - park.geometry.y) > 1e-6:
            out.append(f"catchment {sid}->{pid}: line does not end at the park")
    for pid, park in park_by_id.items():
        t = through.get(pid, 0.0)
        if t > float(park["capacity_mt"]) + tol_mt:
            out.append(f"park {pid}: {t:.6f} Mt > capacity {park['capacity_mt']:.6f} Mt")
        if abs(t - float(park["throughput_mt"])) > tol_mt:
            out.append(f"park {pid}: throughput_mt {park['throughput_mt']:.6f} but flows sum "
                       f"to {t:.6f}")
    for sid, src in src_by_id.items():
        share = s.rail_share_max.get(str(src.get("sector")), s.rail_share_default)
        if "rail_share" in src.index and not math.isclose(float(src["rail_share"]), share):
            if not layer_shares:
                out.append(f"source {sid}: rail_share {src['rail_share']} but the scenario "
                           f"gives {share} for sector {src.get('sector')!r}")
            share = float(src["rail_share"])
        limit = float(src["freight_mt"]) * share
        got = shipped.get(sid, 0.0)
        if got > limit + tol_mt:
            out.append(f"source {sid}: ships {got:.6f} Mt > rail-suitable {limit:.6f} Mt")
    total = sum(shipped.values())
    target = s.freight_mt_2025 * (1.0 + s.freight_growth) ** (s.target_year - 2025)
    if total < target - tol_mt:
        out.append(f"multimodal freight {total:.4f} Mt < target {target:.4f} Mt "
                   f"({s.target_year})")
    return out


def _check_kpis(kpis: Mapping[str, Any], parks: gpd.GeoDataFrame, catch: gpd.GeoDataFrame,
                scenario: Scenario, tol_mt: float) -> list[str]:
    out = []
    for key in ("parks", "freight_mt", "rail_access_max_m", "co2_saved_t", "status",
                "mip_gap", "solve_seconds"):
        if key not in kpis:
            out.append(f"KPI {key!r} is missing")
    if kpis.get("parks") != len(parks):
        out.append(f"KPI parks {kpis.get('parks')} but {len(parks)} parks")
    freight = float(catch["freight_mt"].sum())
    if abs(float(kpis.get("freight_mt", math.nan)) - freight) > 1e-3:
        out.append(f"KPI freight_mt {kpis.get('freight_mt')} but catchments sum to {freight:.4f}")
    rail_max = float(parks["rail_access_m"].max()) if len(parks) else 0.0
    if abs(float(kpis.get("rail_access_max_m", math.nan)) - rail_max) > 0.1:
        out.append(f"KPI rail_access_max_m {kpis.get('rail_access_max_m')} but {rail_max:.1f}")
    co2 = float(catch["co2_saved_t_yr"].sum())
    if abs(float(kpis.get("co2_saved_t", math.nan)) - co2) > 0.1:
        out.append(f"KPI co2_saved_t {kpis.get('co2_saved_t')} but catchments sum to {co2:.1f}")
    if "co2_saved_gross_t_yr" in catch.columns and "co2_saved_gross_t" in kpis:
        gross = float(catch["co2_saved_gross_t_yr"].sum())
        if abs(float(kpis["co2_saved_gross_t"]) - gross) > 0.1:
            out.append(f"KPI co2_saved_gross_t {kpis['co2_saved_gross_t']} but catchments sum "
                       f"to {gross:.1f}")
    terms = ("co2_rail_t", "co2_drayage_t", "co2_delivery_t", "co2_handling_t")
    if all(k in kpis for k in ("co2_saved_gross_t", *terms)):
        net = float(kpis["co2_saved_gross_t"]) - sum(float(kpis[k]) for k in terms)
        if abs(net - float(kpis.get("co2_saved_t", math.nan))) > 0.5:
            out.append(f"KPI co2_saved_t {kpis.get('co2_saved_t')} but gross less the rail, "
                       f"drayage, delivery and handling terms is {net:.1f}")
    return out
