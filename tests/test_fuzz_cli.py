"""Generated bad input through the real CLI in CI: 200 cases of ``bench/fuzz.py``.

Every case must exit 0, 2, 3 or 4 (never 1), print no traceback, and leave the output
folder unchanged or complete; ``bench/fuzz.py --cases 1000`` is the longer run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.slow
def test_two_hundred_generated_cli_cases_never_crash(shared_data: Path, tmp_path: Path,
                                                     capsys) -> None:
    osm = shared_data / "osm" / "West-Oakland.osm.bz2"
    if not osm.exists():
        pytest.skip(f"{osm} not found")
    sys.path.insert(0, str(BENCH))
    try:
        import fuzz
    finally:
        sys.path.remove(str(BENCH))
    code = fuzz.main_(["--cases", "200", "--seed", "11", "--osm", str(osm),
                       "--work", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "| 200 |" in out and "crashes" in out
