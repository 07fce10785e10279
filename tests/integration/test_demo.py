"""`homefeed demo` end to end on a small folder: trained model live, summary from the topic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from deploy.kafka import free_ports
from streams.follow import decoded_rankings
from tests.factories import REPO_ROOT
from tests.live import read_to_end
from tests.unit.click_factory import write_taste_folder

pytestmark = pytest.mark.integration

DEMO_TIMEOUT_S = 420


@pytest.mark.timeout(2 * DEMO_TIMEOUT_S + 60)
def test_demo_trains_ranks_live_and_sums_up_the_rankings_topic(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    data = write_taste_folder(tmp_path / "taste", users=48)
    summary_path = tmp_path / "summary.json"
    (serve_port,) = free_ports(1)
    env = {
        **os.environ,
        "HOMEFEED_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "HOMEFEED_DATA_DIR": str(tmp_path / "var"),
        "HOMEFEED_SERVE_PORT": str(serve_port),
        "HOMEFEED_PARTITIONS": "4",
        "HOMEFEED_STANDBY_REPLICAS": "0",
    }
    command = [sys.executable, "-m", "streams.cli", "demo", "--data", str(data)]
    command += ["--train-seconds", "20", "--rate", "400", "--summary-json", str(summary_path)]
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "training the default model" in output
    assert "BERT encoding the catalog" in output
    assert "[demo] summary of" in output

    summary = json.loads(summary_path.read_text())
    versions = summary["model_versions"]
    assert versions and all(version.startswith("seq-") for version in versions), versions
    # Every figure is the rankings topic's: recount it independently.
    rankings = list(
        decoded_rankings(
            value for _, value in read_to_end(kafka_bootstrap, summary["rankings_topic"])
        )
    )
    assert summary["homepages"] == len(rankings) > 0
    holding = Counter(
        item_id for ranking in rankings for item_id in {item.item_id for item in ranking.items[:5]}
    )
    assert summary["all"]["distinct_items"] == len(holding)
    assert summary["all"]["most_shown_share"] == pytest.approx(
        holding.most_common(1)[0][1] / len(rankings), abs=1e-4
    )
    # The scored period (the temporal test tenth) was replayed, and the model
    # — trained on the time before it — beats trending on these genre fans.
    prequential = summary["prequential"]
    assert prequential["positives"] > 0
    assert prequential["hit@10_pipeline"] > prequential["hit@10_trending"], prequential

    # A second demo on the same data and code reuses the trained model.
    again = subprocess.run(
        [*command, "--limit", "50"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
    )
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert "[demo] model: cached" in again.stdout
    assert "training the default model" not in again.stdout
