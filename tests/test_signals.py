"""A run that is terminated leaves the previous outputs and no staging litter."""

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
