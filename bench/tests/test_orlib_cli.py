"""Checks of ``bench/orlib.py`` itself, run apart from the test suite
(``python -m pytest bench/tests``): its command-line interface, JSON rows and
RESULTS.md section, on tiny instance files written here (the peer is not run)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "orlib.py"


@pytest.fixture(scope="module")
def orlib() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_orlib", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_orlib"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    (tmp_path / "pmed").mkdir()
    (tmp_path / "cap").mkdir()
    (tmp_path / "scp").mkdir()
    # path 1-2-3-4 with costs 1, 5, 1 (edge 2-3 first 9, then 5: last wins); p=2 -> {1,3} or
    # {2,4}..., optimum 1 + 1 = 2
    (tmp_path / "pmed" / "pmed91.txt").write_text("4 4 2\n1 2 1\n2 3 9\n3 4 1\n2 3 5\n")
    (tmp_path / "pmed" / "pmedopt.txt").write_text("pmed91 2\n")
    # two warehouses (capacity 10, fixed 3 and 4), two customers of demand 6
    (tmp_path / "cap" / "cap91.txt").write_text("2 2\n10 3\n10 4\n6\n 1 5\n6\n 5 1\n")
    (tmp_path / "cap" / "capa.txt").write_text(
        "2 2\n capacity 3.\n capacity 4.\n6\n 1 5\n6\n 5 1\n")
    (tmp_path / "cap" / "capopt.txt").write_text("cap91 9.0\ncapa 9.0 (capacity 8000)\n")
    (tmp_path / "scp" / "scp41.txt").write_text("2 3\n 2 2 3\n2\n 1 2\n2\n 2 3\n")
    return tmp_path


def test_cli_json_rows_and_results_section(orlib: ModuleType, data: Path,
                                           tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n<!-- network:start -->\nkeep me\n"
                       "<!-- network:end -->\n")
    argv = ["--data", str(data), "--no-peer", "--time-limit", "30", "--json", str(out),
            "--results", str(results)]
    assert orlib.main(argv) == 0
    rows = {r["instance"]: r for r in json.loads(out.read_text())}
    assert set(rows) == {"pmed91", "cap91", "capa-8000", "capa-10000", "capa-12000",
                         "capa-14000", "scp41"}
    keys = {"instance", "family", "objective", "known_optimum", "gap", "status", "seconds",
            "spopt_seconds", "solver"}
    for r in rows.values():
        assert keys <= set(r)
        assert r["status"] == "optimal" and r["spopt_seconds"] is None
        assert r["solver"].startswith("highs")
    assert rows["pmed91"]["objective"] == rows["pmed91"]["known_optimum"] == 2.0
    assert rows["cap91"]["objective"] == pytest.approx(9.0)  # open both: 3 + 4 + 1 + 1
    assert rows["capa-8000"]["objective"] == pytest.approx(9.0)  # 3 + 1 + 5 or 3 + 4 + 1 + 1
    assert rows["capa-10000"]["known_optimum"] is None
    assert rows["scp41"]["objective"] == 2.0 and rows["scp41"]["known_optimum"] == 429.0
    text = results.read_text()
    assert "keep me" in text and text.count("<!-- orlib:start -->") == 1
    assert "Command: `python bench/orlib.py --data" in text
    # a second run replaces its own block and leaves the other sections alone
    assert orlib.main(argv) == 0
    again = results.read_text()
    assert again.count("orlib-run:highs-pmed+cap+scp -->") == 1 and "keep me" in again


def test_only_and_family_filters(orlib: ModuleType, data: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rows.json"
    assert orlib.main(["--data", str(data), "--family", "cap", "--only", "capa-8000",
                       "--no-peer", "--json", str(out)]) == 0
    assert [r["instance"] for r in json.loads(out.read_text())] == ["capa-8000"]
    assert orlib.main(["--data", str(data / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
