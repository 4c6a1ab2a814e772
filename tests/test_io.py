from __future__ import annotations

import os

import pytest

from siting.errors import InputError
from siting.io import atomic_dir, atomic_path, digest, write_json


def test_atomic_path_keeps_previous_file_on_failure(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"good": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text(encoding="utf-8").strip() == '{\n  "good": 1\n}'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_dir_moves_all_or_nothing(tmp_path):
    out = tmp_path / "run"
    with atomic_dir(out) as stage:
        (stage / "a.txt").write_text("1")
        (stage / "sub").mkdir()
        (stage / "sub" / "b.txt").write_text("2")
    assert (out / "a.txt").read_text() == "1" and (out / "sub" / "b.txt").read_text() == "2"
    with pytest.raises(ValueError), atomic_dir(out) as stage:
        (stage / "a.txt").write_text("new")
        raise ValueError("fail")
    assert (out / "a.txt").read_text() == "1"
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "sub"]


def test_digest_is_stable_and_sensitive():
    assert digest("a", 1, b"x") == digest("a", 1, b"x")
    assert digest("a", 1) != digest("a", 2)
    assert digest({"b": 1, "a": 2}) == digest({"a": 2, "b": 1})


def _run(target, kind, files):
    with atomic_dir(target, kind=kind) as stage:
        for name in files:
            (stage / name).write_text(kind, encoding="utf-8")


def test_a_folder_never_mixes_two_runs(tmp_path) -> None:
    out = tmp_path / "p"
    _run(out, "plan", ["plan.gpkg", "kpis.json", "provenance.json"])
    (out / "notes.txt").write_text("mine", encoding="utf-8")  # never written by siting
    _run(out, "review", ["review.html", "review.csv"])
    assert {p.name for p in out.iterdir()} >= {"plan.gpkg", "review.html", "notes.txt"}
    # a region run never writes beside a plan: refused before any work
    with pytest.raises(InputError, match=r"holds a plan run \(kpis.json, plan.gpkg, "
                                         r"provenance.json\); a region run would mix"):
        _run(out, "region", ["region.gpkg", "provenance.json"])
    # a new plan replaces the old one, and the old plan's review goes with it
    _run(out, "plan", ["plan.gpkg", "kpis.json", "provenance.json"])
    names = {p.name for p in out.iterdir()}
    assert names == {"plan.gpkg", "kpis.json", "provenance.json", "notes.txt",
                     ".siting-outputs.json"}
    # a second review replaces only the first review's files
    _run(out, "review", ["review.html"])
    _run(out, "review", ["review.csv"])
    assert not (out / "review.html").exists() and (out / "plan.gpkg").exists()


def test_a_second_run_into_a_busy_folder_is_refused(tmp_path) -> None:
    import subprocess
    import sys

    out = tmp_path / "p"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (out / ".siting.lock").write_text(str(sleeper.pid), encoding="utf-8")
        with pytest.raises(InputError, match=rf"being written by another run \(process "
                                             rf"{sleeper.pid}\)"):
            _run(out, "plan", ["plan.gpkg"])
    finally:
        sleeper.kill()
        sleeper.wait()
    _run(out, "plan", ["plan.gpkg"])  # its process is gone: the stale lock is taken over
    assert (out / "plan.gpkg").exists() and not (out / ".siting.lock").exists()


def test_a_killed_runs_staging_folder_is_removed_by_the_next_run(tmp_path) -> None:
    import subprocess
    import sys

    out = tmp_path / "p"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    left = out / f".staging.{dead.stdout.strip()}.abc123"  # a process that has exited
    left.mkdir()
    (left / "plan.gpkg").write_text("half", encoding="utf-8")
    live = out / f".staging.{os.getpid()}.xyz789"  # this process: a run in progress
    live.mkdir()
    _run(out, "plan", ["plan.gpkg"])
    assert not left.exists() and live.exists()
    assert (out / "plan.gpkg").read_text(encoding="utf-8") == "plan"


def test_prune_cache_removes_the_least_recently_used_first(tmp_path) -> None:
    from siting.io import prune_cache

    for k, name in enumerate(["old", "mid", "new"]):
        path = tmp_path / f"{name}.npz"
        path.write_bytes(b"x" * 400_000)
        os.utime(path, (1_000_000 + k, 1_000_000 + k))
    os.utime(tmp_path / "old.npz")  # read just now: the most recently used
    removed = prune_cache(tmp_path, max_mb=0.8)
    assert [p.name for p in removed] == ["mid.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.npz", "old.npz"]
    assert prune_cache(tmp_path, max_mb=10) == []


def test_no_cache_and_cache_clear(tmp_path, monkeypatch, capsys) -> None:
    from test_network import make_graph

    from siting.cli import main
    from siting.io import NO_CACHE_ENV, cache_enabled
    from siting.network import network_costs

    monkeypatch.setenv("SITING_CACHE_DIR", str(tmp_path / "cache"))
    g = make_graph([(0, 1, 100.0, 10.0), (1, 2, 100.0, 10.0), (2, 0, 150.0, 15.0)])
    nodes = [0, 1, 2]
    monkeypatch.setenv(NO_CACHE_ENV, "1")
    assert not cache_enabled()
    network_costs(g, nodes, nodes, cutoff_m=1e6)
    assert not list((tmp_path / "cache").rglob("*.npz"))
    monkeypatch.delenv(NO_CACHE_ENV)
    network_costs(g, nodes, nodes, cutoff_m=1e6)
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 1
    assert main(["cache", "clear"]) == 0
    assert "Removed 1 files" in capsys.readouterr().out
    assert not list((tmp_path / "cache").rglob("*.npz"))
