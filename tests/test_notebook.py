"""The walkthrough notebook runs end to end (plan -> map -> review -> decisions -> re-plan
-> diff) on the coarse demo, through the same functions as the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"


@pytest.mark.slow
def test_walkthrough_notebook_executes(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("SITING_WALKTHROUGH_OUT", str(tmp_path))
    monkeypatch.setenv("SITING_WALKTHROUGH_DETAIL", "coarse")
    monkeypatch.setenv("SITING_WALKTHROUGH_TIME_LIMIT_S", "60")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    explore = next(c for c in nb.cells if c.cell_type == "code"
                   and c.source.startswith("m = plan_a.explore()"))
    html = "".join(o.get("data", {}).get("text/html", "") for o in explore.outputs)
    assert "leaflet" in html.lower(), "Plan.explore() should render a folium map in the notebook"
    assert (tmp_path / "A" / "plan.html").is_file()
    assert (tmp_path / "B" / "plan.gpkg").is_file()
    assert (tmp_path / "diff" / "diff.html").is_file()
