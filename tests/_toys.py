"""Toy inputs shared by the map, review, diff and browser tests.

``make_plan`` builds a small seeded plan in the DESIGN.md contract (stations, parks,
pipes, heat sources/sinks, districts, demand cells, constraint layers) near Zibo.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from shapely.geometry import LineString, Point, box

__all__ = ["CRS", "EVIL", "EVIL2", "KPIS", "X0", "Y0", "make_plan", "plant_violations"]

CRS = "EPSG:32650"
X0, Y0 = 560_000.0, 4_070_000.0     # near Zhangdian, UTM 50N
EVIL = '<img src=x onerror=alert(1)>'
EVIL2 = '</script><script>alert(2)</script>'


def make_plan(seed: int = 7, *, n_stations: int = 40, evil_names: bool = False
              ) -> dict[str, gpd.GeoDataFrame]:
    """A seeded toy plan (metric CRS) with every contract layer.

    The constraint layers sit away from the items except where a test plants a
    violation: all stations lie in x in [0, 8 km], y in [0, 8 km]; the red line is
    at x in [20, 24 km]; water at y in [-6, -4 km]; farmland at x in [10, 12 km].
    """
    rng = np.random.default_rng(seed)
    xs = X0 + rng.uniform(0, 8000, n_stations)
    ys = Y0 + rng.uniform(0, 8000, n_stations)
    piles = rng.integers(4, 40, n_stations)
    fast = (piles * 0.3).astype(int)
    names = [f"Station {i}" for i in range(n_stations)]
    if evil_names:
        names[0], names[1] = EVIL, EVIL2
    stations = gpd.GeoDataFrame({
        "id": [f"cs-{i:04d}" for i in range(n_stations)], "name": names,
        "piles": piles, "piles_fast": fast, "piles_slow": piles - fast,
        "kw": fast * 120 + (piles - fast) * 7, "district": "Zhangdian",
        "stage": np.where(np.arange(n_stations) % 3 == 0, "2030", "2025"),
        "nev_served": piles * 3, "utilisation": rng.uniform(0.2, 0.9, n_stations).round(3),
        "wait_minutes": rng.uniform(0, 12, n_stations).round(1)},
        geometry=gpd.points_from_xy(xs, ys), crs=CRS)
    parks = gpd.GeoDataFrame({
        "id": ["lp-1", "lp-2"], "name": ["North park", "East park"],
        "capacity_mt": [3.0, 2.5], "throughput_mt": [2.4, 2.0],
        "rail_access_m": [1200.0, 800.0]},
        geometry=[Point(X0 + 2000, Y0 + 9000).buffer(300), Point(X0 + 9000, Y0 + 2000)],
        crs=CRS)
    pipes = gpd.GeoDataFrame({
        "id": ["hp-1", "hp-2", "hp-3"], "dn": [300, 500, 700],
        "flow_mw": [12.0, 40.0, 85.0], "loss_mw": [0.2, 0.5, 0.9], "cost": [1e6, 3e6, 5e6],
        "kind": ["trunk", "trunk", "trunk"]},
        geometry=[LineString([(X0, Y0 - 1000), (X0 + 3000, Y0 - 1000)]),
                  LineString([(X0 + 3000, Y0 - 1000), (X0 + 6000, Y0 - 1500)]),
                  LineString([(X0 + 6000, Y0 - 1500), (X0 + 9000, Y0 - 1000)])], crs=CRS)
    sources = gpd.GeoDataFrame({"id": ["hs-1"], "name": ["Qilu olefin plant"],
                                "used_mw": [85.0]},
                               geometry=[Point(X0 + 9000, Y0 - 1000)], crs=CRS)
    sinks = gpd.GeoDataFrame({"id": ["sk-1", "sk-2"], "name": ["Zhangdian net", "Zhoucun net"],
                              "demand_mw": [50.0, 30.0]},
                             geometry=[Point(X0, Y0 - 1000), Point(X0 + 3000, Y0 - 1000)],
                             crs=CRS)
    districts = gpd.GeoDataFrame({"name": ["West", "East"], "population": [600_000, 400_000]},
                                 geometry=[box(X0 - 5000, Y0 - 8000, X0 + 5000, Y0 + 12000),
                                           box(X0 + 5000, Y0 - 8000, X0 + 26000, Y0 + 12000)],
                                 crs=CRS)
    cx, cy = np.meshgrid(np.arange(X0, X0 + 8000, 500), np.arange(Y0, Y0 + 8000, 500))
    cells = gpd.GeoDataFrame({"population": rng.integers(0, 3000, cx.size),
                              "ev_sessions_day": rng.uniform(0, 30, cx.size).round(2)},
                             geometry=[box(x, y, x + 500, y + 500)
                                       for x, y in zip(cx.ravel(), cy.ravel(), strict=True)],
                             crs=CRS)
    red = gpd.GeoDataFrame({"name": ["Lushan reserve"]},
                           geometry=[box(X0 + 20000, Y0, X0 + 24000, Y0 + 4000)], crs=CRS)
    water = gpd.GeoDataFrame({"name": ["Taihe reservoir"]},
                             geometry=[box(X0 - 2000, Y0 - 6000, X0 + 12000, Y0 - 4000)], crs=CRS)
    farmland = gpd.GeoDataFrame({"name": ["Basic farmland 1"]},
                                geometry=[box(X0 + 10000, Y0 - 500, X0 + 12000, Y0 + 10000)],
                                crs=CRS)
    return {"districts": districts, "demand_cells": cells, "charging_stations": stations,
            "logistics_parks": parks, "heat_pipes": pipes, "heat_sources": sources,
            "heat_sinks": sinks, "red_line": red, "water": water, "farmland": farmland}


KPIS = {"chargers": {"piles_total": 1000, "stations": 40, "coverage_share": 0.934,
                     "mean_distance_m": 1234.5, "status": "optimal", "mip_gap": 0.004,
                     "solve_seconds": 3.21},
        "heat": {"pipes_km": 9.2, "heat_delivered_mw": 85.0}}


def plant_violations(layers: dict[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    """Four violations and two conditions, each worked out by hand."""
    layers = {k: v.copy() for k, v in layers.items()}
    st_ = layers["charging_stations"]
    st_.loc[1, "geometry"] = Point(X0 + 22_000, Y0 + 2_000)         # inside the red line
    st_.loc[2, "geometry"] = Point(X0 + 11_000, Y0 + 5_000)         # on farmland
    parks = layers["logistics_parks"]
    parks.loc[1, "geometry"] = Point(X0 + 5_000, Y0 - 3_700)        # 300 m from water
    pipes = layers["heat_pipes"]
    pipes.loc[0, "geometry"] = LineString([(X0 + 1_000, Y0 - 3_000), (X0 + 1_000, Y0 - 7_000)])
    pipes.loc[1, "geometry"] = LineString([(X0 + 19_000, Y0 + 1_000), (X0 + 25_000, Y0 + 1_000)])
    pipes.loc[2, "geometry"] = LineString([(X0 + 6_000, Y0 - 400), (X0 + 13_000, Y0 - 300)])
    return layers
