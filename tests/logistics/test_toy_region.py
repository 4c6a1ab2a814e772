"""The logistics toy region (tests/_logistics_toys.py) is what its docstring works out."""

from __future__ import annotations

from _logistics_toys import EXPECTED_SITES


def test_expected_sites_are_the_18_worked_out_in_the_docstring():
    assert len(EXPECTED_SITES) == 18
    assert (5, 5) in EXPECTED_SITES and (5, 8) not in EXPECTED_SITES
