from __future__ import annotations

import pytest

from common.atomic import atomic_directory, atomic_path


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_failed_directory_leaves_nothing_and_keeps_old(tmp_path):
    target = tmp_path / "cohort"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("v1")
    with pytest.raises(RuntimeError), atomic_directory(target, overwrite=True) as tmp:
        (tmp / "a.txt").write_text("v2")
        raise RuntimeError("boom")
    assert (target / "a.txt").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort"]


def test_existing_directory_needs_overwrite(tmp_path):
    (tmp_path / "cohort").mkdir()
    with pytest.raises(FileExistsError, match="--force"), atomic_directory(tmp_path / "cohort"):
        pass
