"""Every model's docstring example runs and prints what it says: the core's and each
planner's array problem."""

from __future__ import annotations

import doctest

import pytest

from siting.chargers import problem as chargers_problem
from siting.heat import problem as heat_problem
from siting.logistics import problem as logistics_problem
from siting.models import cflp, coverage, finance, modular, pmedian


@pytest.mark.parametrize("module", [pmedian, coverage, cflp, modular, finance,
                                    chargers_problem, logistics_problem, heat_problem],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module: object) -> None:
    failures, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0, f"{module} has no runnable example"
    assert failures == 0
