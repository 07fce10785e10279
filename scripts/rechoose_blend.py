"""Re-choose a saved sequence model's text blend on validation, then score it on test.

What ``homefeed train`` does after training (``choose_text_blend``), applied to
artifacts trained before the current blend grid; used for docs/evaluation.md
"Round 7". Prints one line per model and writes every figure to OUT.

    .venv/bin/python scripts/rechoose_blend.py DATA_DIR OUT.json MODEL_DIR [MODEL_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ranker.eval.evaluate import build_eval_set, evaluate_ranker
from ranker.eval.sequence_ranker import SequenceRanker
from ranker.model.sequence_artifact import load_sequence_artifact
from ranker.training.sequence_batches import history_from_eval
from ranker.training.sequence_fit import validation_moments
from ranker.training.sequence_train import choose_text_blend
from ranker.training.train import prepare

METRICS = ("hit@10", "full_ndcg@10")


def main(data: Path, out: Path, model_dirs: list[Path]) -> None:
    """Re-choose and score every model in ``model_dirs`` on ``data``'s leave-last-out split."""
    prepared = prepare(data, "leave-last-out")
    eval_set = build_eval_set(prepared, list_negatives=100, seed=0, max_history=200)
    report: dict[str, dict[str, object]] = {}
    for model_dir in model_dirs:
        model = load_sequence_artifact(model_dir).model
        seed = json.loads((model_dir / "config.json").read_text())["train"]["seed"]
        row: dict[str, object] = {
            "old_blend": (model.config.text_blend, model.config.profile_decay)
        }
        metrics = evaluate_ranker(SequenceRanker(model), eval_set, k=10, progress=False).metrics
        row["old"] = {name: metrics[name] for name in METRICS}
        if model.config.use_text:
            val = validation_moments(prepared, seed=seed)
            width = model.config.max_length
            history = history_from_eval(prepared.sequences.histories(val.positions, width), width)
            tried = choose_text_blend(model, history, val.seen, val.targets)
            row["new_blend"] = (model.config.text_blend, model.config.profile_decay)
            row["val_best"], row["val_plain"], row["tried"] = max(tried.values()), tried["0"], tried
            metrics = evaluate_ranker(SequenceRanker(model), eval_set, k=10, progress=False).metrics
            row["new"] = {name: metrics[name] for name in METRICS}
        report[str(model_dir)] = row
        print(model_dir, {key: value for key, value in row.items() if key != "tried"}, flush=True)
    out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), [Path(arg) for arg in sys.argv[3:]])
