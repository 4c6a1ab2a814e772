"""Every model's docstring example runs and prints what it says."""

from __future__ import annotations

import doctest

import pytest

from siting.models import cflp, coverage, modular, pmedian


@pytest.mark.parametrize("module", [pmedian, coverage, cflp, modular],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module: object) -> None:
    failures, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0, f"{module} has no runnable example"
    assert failures == 0
