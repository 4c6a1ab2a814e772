"""A hand-solvable toy region for the logistics tests (checked in
tests/logistics/test_toy_region.py).

Coordinates are metres in EPSG:32650 relative to ``(X0, Y0)``. The region is a 10 x 10
km square with a 1 km street lattice; the row ``y = 5 km`` is a trunk road, so every
node on it is a junction and a node's road access is ``|y - 5 km|``. A freight
station stands at (5, 5) km, a passenger-only one at (9, 9) km.

With ``rail_access_m = 3000``, ``road_access_m = 2500`` and a 1 km grid, the sites
within 3 km of the station are the 29 lattice points with ``dx² + dy² <= 9``;
road access removes (5, 2) and (5, 8); then:

- red line ``box(6.6, 3.6, 8.4, 6.4)`` removes (7, 4), (7, 5), (7, 6), (8, 5);
- water ``box(1.9, 4.9, 2.1, 5.1)`` with the 500 m buffer removes (2, 5);
- farmland ``box(3.5, 6.5, 6.5, 7.5)`` removes (4, 7), (5, 7), (6, 7);
- urban-core land ``box(3.5, 2.5, 4.5, 3.5)`` removes (4, 3);

leaving :data:`EXPECTED_SITES` (18 sites).
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import shapely

from siting.region import Region

X0, Y0 = 500_000.0, 4_000_000.0
CRS = "EPSG:32650"

EXPECTED_SITES = sorted(
    (x, y)
    for x in range(2, 9) for y in range(2, 9)
    if (x - 5) ** 2 + (y - 5) ** 2 <= 9 and abs(y - 5) <= 2
    and (x, y) not in {(7, 4), (7, 5), (7, 6), (8, 5), (2, 5), (4, 7), (5, 7), (6, 7), (4, 3)}
)


def km_box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.box(X0 + x0 * 1000, Y0 + y0 * 1000, X0 + x1 * 1000, Y0 + y1 * 1000)


def pid(x_km: float, y_km: float) -> str:
    return f"LP-{X0 + x_km * 1000:.0f}-{Y0 + y_km * 1000:.0f}"


def toy_graph(*, trunk_row_km: int = 5, size_km: int = 10) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(crs=CRS)
    for i in range(size_km + 1):
        for j in range(size_km + 1):
            g.add_node(i * 100 + j, x=X0 + i * 1000.0, y=Y0 + j * 1000.0, street_count=4)
    for i in range(size_km + 1):
        for j in range(size_km + 1):
            for di, dj in ((1, 0), (0, 1)):
                a, b = (i, j), (i + di, j + dj)
                if b[0] > size_km or b[1] > size_km:
                    continue
                hw = "trunk" if dj == 0 and j == trunk_row_km else "residential"
                kph = 60.0 if hw == "trunk" else 30.0
                attrs = dict(length=1000.0, highway=hw, speed_kph=kph,
                             travel_time=1000.0 / (kph / 3.6))
                u, v = a[0] * 100 + a[1], b[0] * 100 + b[1]
                g.add_edge(u, v, **attrs)
                g.add_edge(v, u, **attrs)
    return g


def toy_region(*, with_land_use: bool = True) -> Region:
    def layer(geoms: list[shapely.Geometry], **cols: list[object]) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(cols, geometry=geoms, crs=CRS)

    boundary = layer([km_box(0, 0, 10, 10)], name=["Toy"])
    districts = layer([km_box(0, 0, 5, 10), km_box(5, 0, 10, 10)], code=[1, 2],
                      name=["West", "East"], population=[1000, 1000])
    stations = layer([shapely.Point(X0 + 5000, Y0 + 5000), shapely.Point(X0 + 9000, Y0 + 9000)],
                     name=["Freight Yard", "Passenger Halt"], freight=[True, False])
    layers = {
        "rail_stations": stations,
        "red_line": layer([km_box(6.6, 3.6, 8.4, 6.4)], name=["red line"]),
        "water": layer([km_box(1.9, 4.9, 2.1, 5.1)], name=["pond"], kind=["lake"]),
        "farmland": layer([km_box(3.5, 6.5, 6.5, 7.5)], name=["farmland"]),
    }
    if with_land_use:
        layers["land_use"] = layer([km_box(3.5, 2.5, 4.5, 3.5), km_box(0, 0, 1, 1)],
                                   land_use=["urban_core", "industrial"])
    return Region(name="Toy", crs=CRS, boundary=boundary, districts=districts,
                  graph=toy_graph(), layers=layers)


def toy_sources(points_km: list[tuple[float, float]], tonnes_mt: list[float],
                sectors: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [f"S{k}" for k in range(len(points_km))], "freight_mt_yr": tonnes_mt,
         "sector": sectors},
        geometry=[shapely.Point(X0 + x * 1000, Y0 + y * 1000) for x, y in points_km], crs=CRS)
