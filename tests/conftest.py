"""Shared fixtures: the reference data folder, the default scenario, an isolated cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SITING_SHARED_DATA", REPO.parent / "shared" / "data"))


_OWN_CACHE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    # Tests never touch the user's cache; one cache per test session keeps reruns honest.
    if "SITING_CACHE_DIR" not in os.environ:
        import tempfile

        os.environ["SITING_CACHE_DIR"] = tempfile.mkdtemp(prefix="siting-test-cache-")
        _OWN_CACHE.append(os.environ["SITING_CACHE_DIR"])


def pytest_unconfigure(config: pytest.Config) -> None:
    # the session's own cache goes with it (a user-set SITING_CACHE_DIR is kept)
    import shutil

    for path in _OWN_CACHE:
        shutil.rmtree(path, ignore_errors=True)
        if os.environ.get("SITING_CACHE_DIR") == path:
            del os.environ["SITING_CACHE_DIR"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("SITING_ONLINE") == "1":
        return
    skip = pytest.mark.skip(reason="needs internet; set SITING_ONLINE=1 to run")
    for item in items:
        if "network" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repo (or $SITING_SHARED_DATA); skips if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (set SITING_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def scenario():
    from siting.config import load_scenario

    return load_scenario()
