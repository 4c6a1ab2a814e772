from __future__ import annotations

import pytest

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
