"""Online metrics in a live worker: the published CTR per variant is the homepages' true record.

Two variants (dot-product and trending, 50/50) rank 40 users who click within
a favourite category of the MSN catalog. Every homepage and every event is on
the broker, so the test recounts, from the rankings topic and the events it
sent, each variant's homepages, how many were followed by an event and how
many by a click on a shown item, and checks the online-metrics topic says
exactly that, across a worker restart on an empty state folder (the join's
tables come back from their changelogs). The report command prints it.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ranker.online.windows import combine, figures_by_variant
from streams.follow import decoded_rankings
from streams.online_report import latest_windows
from streams.served_log import topic_records
from streams.wire import Event, Ranking
from tests.factories import REPO_ROOT, make_event, msn_items
from tests.live import (
    LiveEnv,
    TopicReader,
    fresh_env,
    produce,
    read_to_end,
    running_worker,
    wait_for,
    wait_for_catalog,
)

pytestmark = pytest.mark.integration

CATALOG = msn_items()[:200]
USERS = [f"online-{n}" for n in range(40)]
ROUNDS = 12  # per worker; each round is one click per user, ranked before the next


@pytest.fixture
def live(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveEnv]:
    monkeypatch.setenv("HOMEFEED_EXPERIMENT_VARIANTS", "dot=dot-product:1,trend=trending:1")
    monkeypatch.setenv("HOMEFEED_EXPERIMENT_SALT", "online-test")
    monkeypatch.setenv("HOMEFEED_ONLINE_PUBLISH_S", "1")
    monkeypatch.setenv("HOMEFEED_EXPLORATION_SHARE", "0.1")
    yield fresh_env(kafka_bootstrap, tmp_path / "state-a")


def click_rounds(live: LiveEnv, rounds: int, rng: random.Random, ts: int) -> list[Event]:
    """``rounds`` clicks per user, each round ranked before the next is sent."""
    by_category: dict[str, list[str]] = defaultdict(list)
    for item in CATALOG:
        by_category[item.category or ""].append(item.item_id)
    categories = sorted(by_category, key=lambda c: -len(by_category[c]))[:4]
    sent: list[Event] = []
    reader = TopicReader(live.settings.bootstrap_servers, live.topics.rankings)
    try:
        for round_ in range(rounds):
            clicks = []
            for n, user in enumerate(USERS):
                taste = by_category[categories[n % len(categories)]]
                clicks.append(make_event(user, rng.choice(taste), ts=ts + round_ * 1000 + n))
            produce(
                live.settings.bootstrap_servers,
                live.topics.events,
                [(e.user_id.encode(), e.encode()) for e in clicks],
            )
            sent += clicks
            reader.read_until(_all_answered({e.event_id for e in clicks}), 90)
    finally:
        reader.close()
    return sent


def _all_answered(wanted: set[str]) -> Callable[[list[tuple[bytes | None, bytes | None]]], bool]:
    """A read_until predicate: every event in ``wanted`` has a ranking."""

    def answered(records: list[tuple[bytes | None, bytes | None]]) -> bool:
        ranked = {r.source_event_id for r in decoded_rankings(value for _, value in records)}
        return wanted <= ranked

    return answered


def true_counts(rankings: list[Ranking], events: list[Event]) -> dict[str, Counter[str]]:
    """Per variant: homepages served, judged by a next event, and clicked (the join's rule)."""
    following: dict[str, Event] = {}
    last: dict[str, Event] = {}
    for event in events:
        if event.user_id in last:
            following[last[event.user_id].event_id] = event
        last[event.user_id] = event
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for ranking in {(r.user_id, r.generated_at): r for r in rankings}.values():
        tally = counts[ranking.variant or ""]
        tally["served"] += 1
        after = following.get(ranking.source_event_id or "")
        if after is not None:
            tally["judged"] += 1
            tally["clicked"] += after.item_id in [item.item_id for item in ranking.items]
    return counts


def test_online_ctr_per_variant_matches_the_served_record(live: LiveEnv, tmp_path: Path) -> None:
    rng = random.Random(11)
    produce(
        live.settings.bootstrap_servers,
        live.topics.items,
        [(item.item_id.encode(), item.encode()) for item in CATALOG],
    )
    with running_worker(live, tmp_path / "worker-1.log"):
        wait_for_catalog(live, len(CATALOG))
        events = click_rounds(live, ROUNDS, rng, ts=1_700_000_000_000)
    # A new worker on an empty state folder: the join's tables come from their changelogs.
    with running_worker(live, tmp_path / "worker-2.log", data_dir=tmp_path / "state-b"):
        events += click_rounds(live, ROUNDS, rng, ts=1_700_000_100_000)
        rankings = list(
            decoded_rankings(
                v for _, v in read_to_end(live.settings.bootstrap_servers, live.topics.rankings)
            )
        )
        truth = true_counts(rankings, events)
        assert set(truth) == {"dot", "trend"}

        def published() -> dict[str, Counter[str]]:
            windows = latest_windows(topic_records(live.settings.kafka, live.topics.online_metrics))
            return {
                name: Counter(served=f.served, judged=f.judged, clicked=f.clicked)
                for name, f in figures_by_variant(windows).items()
            }

        wait_for(lambda: published() == truth, 90, f"online figures equal to {dict(truth)}")

        report = subprocess.run(
            [
                sys.executable,
                "-m",
                "streams.cli",
                "experiments",
                "online",
                "--json",
                str(tmp_path / "online.json"),
            ],
            env=live.env(),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert report.returncode == 0, report.stderr
    assert "| dot | dot-product |" in report.stdout and "| trend | trending |" in report.stdout
    windows = latest_windows(topic_records(live.settings.kafka, live.topics.online_metrics))
    for name in ("dot", "trend"):
        figures = combine(w for w in windows if w.variant == name)
        assert figures.clicked > 0 and figures.catalog_size == len(CATALOG)
        assert 0 < figures.coverage <= 1
        assert sum(figures.click_positions) == figures.clicked
    print(
        "online metrics: "
        + "; ".join(
            f"{name} {c['clicked']}/{c['judged']} homepages clicked "
            f"({c['clicked'] / c['judged']:.3f})"
            for name, c in sorted(truth.items())
        )
        + f"; report:\n{report.stdout}"
    )
