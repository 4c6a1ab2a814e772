"""A decisions file naming ids that cannot be the plan's is refused before any work."""

from __future__ import annotations

import json

from siting.cli import main


def test_ids_of_the_wrong_shape_are_refused_before_the_region_is_built(tmp_path, capsys,
                                                                        monkeypatch) -> None:
    import siting.pipeline

    def no_region(*args, **kwargs):
        raise AssertionError("the region was built before the decisions were checked")

    monkeypatch.setattr(siting.pipeline, "build_region", no_region)
    path = tmp_path / "decisions.geojson"
    feats = [{"type": "Feature", "geometry": None, "properties": {
        "layer": layer, "id": ident, "decision": "approved", "reviewer": "t"}}
        for layer, ident in (("logistics_parks", "park-7"), ("heat_pipes", "pipe-3"),
                             ("charging_stations", "chg-pp-1"))]
    path.write_text(json.dumps({"type": "FeatureCollection", "siting_decisions": 1,
                                "features": feats}), encoding="utf-8")
    assert main(["plan", "--decisions", str(path), "--out", str(tmp_path / "p"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "logistics_parks: ids ['park-7'] are not logistics_parks ids" in err
    assert "heat_pipes: ids ['pipe-3'] are not heat_pipes ids" in err
    assert "chg-pp-1" not in err  # a well-formed station id passes this check
    assert not (tmp_path / "p").exists()
