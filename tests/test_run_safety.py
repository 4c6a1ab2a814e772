"""Runs that are killed or terminated, and folders that hold one run: previous outputs are
kept byte for byte, no staging litter survives the next run, no run overwrites a fuller one."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sigterm_keeps_the_previous_result_and_leaves_no_staging(tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "provenance.json").write_text('{"good": 1}', encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "region", "--out", str(out),
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while not list(out.glob(".staging.*")) and proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run never started staging its outputs")
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be terminated")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated; no outputs were changed" in err and "Traceback" not in err
    assert (out / "provenance.json").read_text(encoding="utf-8") == '{"good": 1}'
    assert not list(out.glob(".staging.*"))


def test_a_single_planner_never_replaces_a_fuller_plan(tmp_path, capsys) -> None:
    import json

    from siting.cli import main

    out = tmp_path / "plan"
    out.mkdir()
    kpis = {"targets": [], "chargers": {}, "logistics": {}, "heat": {}}
    (out / "kpis.json").write_text(json.dumps(kpis), encoding="utf-8")
    (out / ".siting-outputs.json").write_text(
        json.dumps({"runs": {"plan": ["kpis.json", "plan.gpkg"]}}), encoding="utf-8")
    before = (out / "kpis.json").read_bytes()
    assert main(["logistics", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "holds a plan of chargers, logistics, heat; writing only logistics there would " \
           "drop chargers, heat" in err
    assert (out / "kpis.json").read_bytes() == before


def _hashes(folder: Path) -> dict[str, str]:
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file() and p.name != ".siting.lock"}


@pytest.mark.slow
def test_sigkill_at_several_moments_keeps_the_previous_result(tmp_path) -> None:
    out = tmp_path / "region"
    cmd = [sys.executable, str(REPO / "cli.py"), "region", "--out", str(out), "--quiet"]
    subprocess.run(cmd, check=True, capture_output=True, cwd=tmp_path, timeout=300)
    good = _hashes(out)
    for delay in (0.3, 1.5, 3.0, 5.0):  # reading, building, writing (or already done)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                cwd=tmp_path)
        time.sleep(delay)
        proc.kill()
        proc.wait(timeout=60)
        now = _hashes(out)
        # either untouched, or (if the run had finished) a complete new result
        assert now == good or (proc.returncode == 0 and set(now) == set(good))
        good = now
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not list(out.glob(".staging.*")) and not (out / ".siting.lock").exists()
