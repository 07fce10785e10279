"""Index snapshots on disk: FAISS file, ``.npy`` vectors, and a JSON sidecar with checksums.

The sidecar is written last and holds the other files' SHA-256, so a crash
mid-save or a file from another snapshot is caught by :func:`load_index`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

from indexer.checksums import sha256_file
from indexer.index import IndexState, ItemIndex

FORMAT = 1
META_FILE, VECTORS_FILE, INDEX_FILE = "index.json", "vectors.npy", "index.faiss"


def save_index(index: ItemIndex, folder: str | Path) -> None:
    """Write ``index`` to ``folder`` (replacing a snapshot there, file by file, atomically)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = index.state()
    with _replacing(folder / VECTORS_FILE) as tmp, tmp.open("wb") as file:
        np.save(file, state.store, allow_pickle=False)
    with _replacing(folder / INDEX_FILE) as tmp:
        faiss.write_index(state.faiss_index, str(tmp))
    meta = {
        "format": FORMAT,
        "dim": state.dim,
        "factory": state.factory,
        "active_factory": state.built_factory,
        "options": state.options,
        "index_rows": int(state.faiss_index.ntotal),
        "tombstones": state.tombstones,
        "sha256": {name: sha256_file(folder / name) for name in (VECTORS_FILE, INDEX_FILE)},
        "item_ids": state.row_ids,
    }
    with _replacing(folder / META_FILE) as tmp:
        tmp.write_text(json.dumps(meta), encoding="utf-8")


def load_index(folder: str | Path) -> ItemIndex:
    """Read an index written by :func:`save_index`; a corrupt file raises ValueError."""
    folder = Path(folder)
    meta_path = folder / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta["format"] != FORMAT:
            raise ValueError(f"{meta_path}: format {meta['format']}, expected {FORMAT}")
        dim, row_ids, index_rows = int(meta["dim"]), meta["item_ids"], int(meta["index_rows"])
        factory, options = meta["factory"], dict(meta["options"])
        ItemIndex(dim, factory, **options)  # the settings must make a valid index
        built_factory, tombstones = str(meta["active_factory"]), int(meta["tombstones"])
        checksums = {name: meta["sha256"][name] for name in (VECTORS_FILE, INDEX_FILE)}
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{meta_path}: not a valid index sidecar ({error!r})") from error
    if not isinstance(row_ids, list) or not all(
        item_id is None or isinstance(item_id, str) for item_id in row_ids
    ):
        raise ValueError(f"{meta_path}: item_ids must be a list of strings or nulls")
    for name, checksum in checksums.items():
        if sha256_file(folder / name) != checksum:
            raise ValueError(f"{folder / name}: checksum differs from {meta_path.name}")
    vectors_path, index_path = folder / VECTORS_FILE, folder / INDEX_FILE
    try:
        store = np.load(vectors_path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise ValueError(f"{vectors_path}: not a readable .npy file ({error})") from error
    if store.dtype != np.float32 or store.shape != (len(row_ids), dim):
        shape = f"{store.dtype}{store.shape}"
        raise ValueError(f"{vectors_path}: {shape} does not fit {meta_path.name}")
    try:
        faiss_index = faiss.read_index(str(index_path))
    except RuntimeError as error:
        raise ValueError(f"{index_path}: not a readable FAISS index") from error
    if (
        not isinstance(faiss_index, faiss.IndexIDMap)
        or faiss_index.d != dim
        or faiss_index.ntotal != index_rows
    ):
        raise ValueError(f"{index_path}: shape does not fit {meta_path.name}")
    return ItemIndex.from_state(
        IndexState(dim, factory, options, store, row_ids, faiss_index, built_factory, tombstones)
    )


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path that replaces ``path`` atomically once written."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
