"""`homefeed train`, `eval` and `recommend` end to end on a small generated folder."""

import csv
import json
import math
from pathlib import Path

import pytest

from streams.cli import main
from tests.unit.click_factory import write_taste_folder

TINY_TRAIN = [
    "--kind",
    "click",
    "--epochs",
    "1",
    "--examples-per-epoch",
    "128",
    "--batch-size",
    "32",
    "--threads",
    "1",
    "--device",
    "cpu",
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("click")
    write_taste_folder(root / "ml", users=24)
    return root


@pytest.fixture(autouse=True)
def _state_dir(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEFEED_DATA_DIR", str(workspace / "var"))


@pytest.fixture(scope="module")
def llo_model(workspace: Path) -> Path:
    import os

    os.environ.setdefault("HOMEFEED_DATA_DIR", str(workspace / "var"))
    out = workspace / "model-llo"
    assert (
        main(
            [
                "train",
                "--data",
                str(workspace / "ml"),
                "--out",
                str(out),
                "--protocol",
                "leave-last-out",
                *TINY_TRAIN,
            ]
        )
        == 0
    )
    return out


def test_eval_writes_the_report_json_and_plot(
    workspace: Path, llo_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = workspace / "eval-llo.json"
    assert (
        main(
            [
                "eval",
                "--data",
                str(workspace / "ml"),
                "--model",
                str(llo_model),
                "--protocol",
                "leave-last-out",
                "--list-negatives",
                "20",
                "--out",
                str(report_path),
            ]
        )
        == 0
    )
    report = json.loads(report_path.read_text())
    assert set(report["models"]) == {"model", "random", "popularity", "zero_shot_bert", "item_knn"}
    for metrics in report["models"].values():
        assert {"auc", "mrr", "ndcg@5", "ndcg@10", "hit@10", "full_ndcg@10"} <= set(metrics)
        assert all(0.0 <= value <= 1.0 for value in metrics.values())
    assert report["split"]["protocol"] == "leave-last-out"
    assert report["data"]["users"] == 24
    assert report_path.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "zero_shot_bert" in capsys.readouterr().out


def test_eval_refuses_a_model_trained_for_another_protocol(
    workspace: Path, llo_model: Path
) -> None:
    with pytest.raises(ValueError, match="trained for --protocol leave-last-out"):
        main(
            [
                "eval",
                "--data",
                str(workspace / "ml"),
                "--model",
                str(llo_model),
                "--protocol",
                "temporal",
                "--out",
                str(workspace / "x.json"),
            ]
        )


def _recomputed(recs_path: Path) -> tuple[float, float, int]:
    """Hit@10 and NDCG@10 from recs.jsonl alone, written independently of ranker.eval.metrics."""
    hits, gains, users = 0.0, 0.0, 0
    for line in recs_path.read_text().splitlines():
        record = json.loads(line)
        top = record["items"][:10]
        users += 1
        if record["test_item_id"] in top:
            hits += 1
            gains += 1 / math.log2(top.index(record["test_item_id"]) + 2)
    return hits / users, gains / users, users


@pytest.mark.parametrize("ranker", ["model", "popularity", "item_knn", "random"])
def test_recommend_lists_reproduce_the_eval_figures(
    workspace: Path, llo_model: Path, ranker: str
) -> None:
    data = str(workspace / "ml")
    report_path = workspace / f"eval-{ranker}.json"
    name = "model" if ranker == "model" else ranker
    eval_args = ["--model", str(llo_model)] if ranker == "model" else []
    assert (
        main(
            [
                "eval",
                "--data",
                data,
                *eval_args,
                "--rankers",
                name,
                "--protocol",
                "leave-last-out",
                "--out",
                str(report_path),
            ]
        )
        == 0
    )
    recs = workspace / f"recs-{ranker}.jsonl"
    model_arg = str(llo_model) if ranker == "model" else ranker
    assert (
        main(
            [
                "recommend",
                "--data",
                data,
                "--model",
                model_arg,
                "--protocol",
                "leave-last-out",
                "--k",
                "20",
                "--out",
                str(recs),
            ]
        )
        == 0
    )
    records = [json.loads(line) for line in recs.read_text().splitlines()]
    assert all(len(r["items"]) == 20 and r["test_item_id"] not in r["items"][20:] for r in records)
    assert all(isinstance(r["user_id"], str) for r in records)
    # Nothing the user already rated before the held-out item is recommended again.
    rated: dict[str, list[tuple[int, str]]] = {}
    with (workspace / "ml" / "ratings.csv").open() as handle:
        for row in csv.DictReader(handle):
            rated.setdefault(row["userId"], []).append((int(row["timestamp"]), row["movieId"]))
    for record in records:
        history = {movie for _, movie in sorted(rated[record["user_id"]])[:-1]}
        assert not history & set(record["items"])
    hit, ndcg, users = _recomputed(recs)
    reported = json.loads(report_path.read_text())["models"][name]
    assert users == json.loads(report_path.read_text())["split"]["test_moments"]
    assert hit == pytest.approx(reported["hit@10"], abs=1e-12)
    assert ndcg == pytest.approx(reported["full_ndcg@10"], abs=1e-12)
