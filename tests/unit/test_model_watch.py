import os
from pathlib import Path

from ranker.model.model_watch import COMPLETE_MARKER, ModelWatcher


def artifact(root: Path, name: str, mtime: float, content: str = "ok") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "payload").write_text(content)
    marker = folder / COMPLETE_MARKER
    marker.write_text("{}")
    os.utime(marker, (mtime, mtime))
    return folder


def load(path: Path) -> str:
    content = (path / "payload").read_text()
    if content == "corrupt":
        raise ValueError("checksum mismatch in model.safetensors")
    return content


def test_newest_complete_artifact_is_loaded_and_swapped(tmp_path: Path) -> None:
    watcher = ModelWatcher(tmp_path, load)
    assert not watcher.check() and watcher.current is None
    artifact(tmp_path, "v1", 1000, "one")
    assert watcher.check() and watcher.current == "one"
    (tmp_path / "partial").mkdir()  # no marker yet: a trainer still writing
    assert not watcher.check()
    artifact(tmp_path, "v2", 2000, "two")
    assert watcher.check() and watcher.current == "two"


def test_a_corrupt_artifact_leaves_the_running_model_in_place(tmp_path: Path, caplog) -> None:
    watcher = ModelWatcher(tmp_path, load)
    artifact(tmp_path, "v1", 1000, "one")
    watcher.check()
    artifact(tmp_path, "v2", 2000, "corrupt")
    assert not watcher.check()
    assert watcher.current == "one"
    assert "checksum mismatch" in caplog.text
    assert not watcher.check()  # not retried until it changes
