"""Fixtures shared by the heat tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def zibo(scenario):
    """The coarse Zibo demo region and its demand cells, built once for the heat tests."""
    from siting.pipeline import region_demand
    from siting.region.zibo import build_zibo_region

    region = build_zibo_region(seed=scenario.seed, road_detail="coarse")
    return region, region_demand(region, scenario)
