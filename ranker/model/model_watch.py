"""Hot reload: find the newest click-model artifact and swap it in without a restart.

A models folder holds one sub-folder per artifact (or is itself one). The
newest complete artifact wins; one that fails to load is logged, remembered
so it is not retried every poll, and the running model stays in place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Model = TypeVar("Model")
# Written last by the trainer, so its presence marks a complete artifact.
COMPLETE_MARKER = "manifest.json"


def newest_artifact(root: Path) -> Path | None:
    """The newest complete artifact under ``root`` (or ``root`` itself), if any."""
    if (root / COMPLETE_MARKER).is_file():
        return root
    candidates = (
        [p for p in root.iterdir() if (p / COMPLETE_MARKER).is_file()] if root.is_dir() else []
    )
    if not candidates:
        return None
    return max(candidates, key=lambda p: (p / COMPLETE_MARKER).stat().st_mtime)


class ModelWatcher(Generic[Model]):
    """Holds the current model and replaces it when a newer artifact appears."""

    def __init__(self, root: Path, load: Callable[[Path], Model]) -> None:
        self._root = root
        self._load = load
        self.current: Model | None = None
        self.current_path: Path | None = None
        self._failed: dict[Path, float] = {}

    def check(self) -> bool:
        """Load a newer artifact if there is one; True when the model changed."""
        path = newest_artifact(self._root)
        if path is None or path == self.current_path:
            return False
        stamp = (path / COMPLETE_MARKER).stat().st_mtime
        if self._failed.get(path) == stamp:
            return False
        try:
            model = self._load(path)
        except Exception as error:  # any failure must leave the running model in place
            self._failed[path] = stamp
            log.error("not loading model %s: %s; keeping %s", path, error, self.current_path)
            return False
        self.current, self.current_path = model, path
        log.info("loaded click model from %s", path)
        return True
