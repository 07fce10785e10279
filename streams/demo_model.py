"""The model the demo ranks with: trained once per data set and training code, then reused.

``homefeed demo`` trains the default sequence model on the temporal split, so
the replay's last tenth — the test period — holds clicks the model never saw,
and the prequential HitRate@10 the demo ends with is an honest one. The
artifact is cached under a key made of the data files, the training code and
the training budget: a second demo starts at once, and changing any of them
trains again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import indexer
import ranker

log = logging.getLogger(__name__)

DOT_PRODUCT = "dot-product"
TRAINED = "trained"
DEMO_PROTOCOL = "temporal"
# Training budget of the demo's model (``homefeed demo --train-seconds``):
# on the shared sets validation peaks well within it.
DEMO_TRAIN_SECONDS = 240.0
# Code whose change changes the model: the model and training packages, and the
# data loaders and encoder they read items through.
TRAINING_CODE = (Path(ranker.__file__).parent, Path(indexer.__file__).parent)


def training_key(data: Path, max_seconds: float) -> str:
    """A digest of the data folder's CSV files, the training code and the budget."""
    digest = hashlib.sha256(f"{DEMO_PROTOCOL}|{max_seconds:g}".encode())
    for csv in sorted(data.glob("*.csv")):
        digest.update(csv.name.encode())
        digest.update(csv.read_bytes())
    for package in TRAINING_CODE:
        for source in sorted(package.rglob("*.py")):
            digest.update(str(source.relative_to(package.parent)).encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def cached_model(models_dir: Path, data: Path, max_seconds: float) -> Path:
    """The demo model for ``data``: the cached artifact, or a new one trained now."""
    target = models_dir / f"demo-{training_key(data, max_seconds)}"
    if (target / "config.json").is_file():
        print(f"[demo] model: cached {target}", flush=True)
        return target
    print(
        f"[demo] training the default model on {data.name} ({DEMO_PROTOCOL} split; "
        f"at most {max_seconds:.0f}s, less when validation stops improving) — "
        f"first run only, cached in {target}",
        flush=True,
    )
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "streams.cli",
        "--log-level",
        "WARNING",
        "train",
        "--data",
        str(data),
        "--protocol",
        DEMO_PROTOCOL,
        "--max-seconds",
        str(max_seconds),
        "--out",
        str(partial),
        "--progress",
    ]
    subprocess.run(command, check=True)
    # Renamed only when complete: an interrupted training never passes for a cached model.
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def resolve_model(choice: str, models_dir: Path, data: Path, max_seconds: float) -> Path | None:
    """``--model``: "trained" (train or reuse), "dot-product" (no model), or an artifact folder."""
    if choice == DOT_PRODUCT:
        return None
    if choice == TRAINED:
        return cached_model(models_dir, data, max_seconds)
    return Path(choice)


def scored_from_s(model_dir: Path | None, data: Path) -> int:
    """Where the replay's scored period starts: the model's test cut, else the data's.

    Without a model (or with one trained on another split) the temporal split's
    test cut of ``data`` is used, so every ranker is scored on the same clicks.
    """
    if model_dir is not None:
        split = json.loads((model_dir / "config.json").read_text()).get("split", {})
        if int(split.get("test_cut_ts", 0)) > 0:
            return int(split["test_cut_ts"])
        log.warning("%s was not trained on a temporal split: its test may overlap", model_dir)
    from ranker.training.data import load_movielens, temporal_split

    _, interaction_log = load_movielens(data)
    return temporal_split(interaction_log).test_cut_ts
