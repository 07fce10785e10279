"""The live page in real headless Chromium, against a real broker, worker and service.

A reader with a mixed history opens their homepage, clicks a card, and the page
must show, without a reload and within about a second, a homepage where the
clicked story is gone and stories like it have moved up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from deploy.kafka import free_ports
from streams.admin import topic_size
from streams.kafka_connection import KafkaConnection
from streams.wire import ItemVector
from tests.factories import REPO_ROOT, make_event, msn_items
from tests.live import LiveEnv, TopicReader, fresh_env, produce, running_worker, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CATALOG = msn_items()
CATEGORY = {item.item_id: item.category or "" for item in CATALOG}
READER = "reader-1"
TOP = 6  # the cards above the fold: where "moved up" is judged
CARDS = 12  # what the page shows


def _history() -> list[str]:
    # Three stories each from three sections: a homepage with more than one interest.
    by_category: dict[str, list[str]] = {}
    for item in CATALOG:
        by_category.setdefault(item.category or "", []).append(item.item_id)
    return [
        item_id
        for section in ("finance", "sports", "travel")
        for item_id in by_category[section][:3]
    ]


@dataclass
class Stack:
    live: LiveEnv
    url: str
    vectors: dict[str, np.ndarray]


def _serve(live: LiveEnv, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "serve", "--port", str(port)],
        cwd=REPO_ROOT,
        env=live.env(),
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def _item_vectors(live: LiveEnv) -> dict[str, np.ndarray]:
    reader = TopicReader(live.settings.bootstrap_servers, live.topics.item_vectors)
    try:
        records = reader.read_until(lambda recs: len(recs) >= len(CATALOG), 30)
    finally:
        reader.close()
    vectors = {}
    for _, value in records:
        if value is not None:
            decoded = ItemVector.decode(value)
            vectors[decoded.item_id] = decoded.vector / np.linalg.norm(decoded.vector)
    return vectors


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is needed: apt-get update && apt-get install -y chromium")
    folder = tmp_path_factory.mktemp("browser")
    live = fresh_env(kafka_bootstrap, folder / "state")
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    logs = [folder / "worker.log", folder / "serve.log"]
    with running_worker(live, logs[0]) as worker:
        service = _serve(live, port, logs[1])
        try:
            produce(
                kafka_bootstrap,
                live.topics.items,
                [(item.item_id.encode(), item.encode()) for item in CATALOG],
            )

            def indexed() -> bool:
                assert worker.poll() is None, "worker exited early"
                return topic_size(
                    KafkaConnection(kafka_bootstrap), live.topics.item_vectors
                ) >= len(CATALOG)

            wait_for(indexed, timeout_s=180, what="the indexer to publish every item vector")
            history = [
                make_event(READER, item_id, ts=int(time.time() * 1000) - 60_000 + n)
                for n, item_id in enumerate(_history())
            ]
            produce(
                kafka_bootstrap,
                live.topics.events,
                [(e.user_id.encode(), e.encode()) for e in history],
            )

            def reader_ranked() -> bool:
                assert service.poll() is None, "homepage service exited early"
                response = _get(f"{url}/v1/homepage/{READER}")
                return (
                    response is not None
                    and response.status_code == 200
                    and (response.json()["source_event"] or {}).get("event_id")
                    == history[-1].event_id
                )

            wait_for(reader_ranked, timeout_s=60, what="the reader's homepage at the service")
            assert _get(f"{url}/readyz").status_code == 200  # type: ignore[union-attr]
            yield Stack(live, url, _item_vectors(live))
        except BaseException:
            for log_path in logs:
                print(f"--- {log_path.name}\n{log_path.read_text()[-4000:]}")
            raise
        finally:
            _stop(service)


@contextmanager
def _chromium_page(height: int) -> Iterator[Any]:
    """A page in Debian's headless Chromium, 1280 wide; the browser closes after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser.new_page(viewport={"width": 1280, "height": height})
        finally:
            browser.close()


def _cards(page: object) -> list[str]:
    return page.eval_on_selector_all(  # type: ignore[attr-defined, no-any-return]
        "#cards .card", "cards => cards.map(card => card.dataset.itemId)"
    )


def test_clicking_a_card_updates_the_homepage_live(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _chromium_page(height=860) as page:
        page.goto(stack.url + "/")
        page.wait_for_selector(f"#user-select option[value='{READER}']", state="attached")
        page.select_option("#user-select", READER)
        page.wait_for_function(
            f"document.querySelectorAll('#cards .card').length === {CARDS}"
            " && document.getElementById('homepage').dataset.source === 'ranking'"
        )
        before = _cards(page)
        assert not set(before) & set(_history()), "a clicked story is on the homepage"

        # Click the best-placed card of the least represented section above the fold:
        # the change a click makes is clearest there.
        shown = Counter(CATEGORY[item_id] for item_id in before[:TOP])
        clicked = min(before[:TOP], key=lambda i: (shown[CATEGORY[i]], before.index(i)))
        page.click(f"#cards .card[data-item-id='{clicked}']")
        page.wait_for_function(
            "() => { const s = document.getElementById('homepage');"
            " return s.dataset.lastClickEventId"
            " && s.dataset.sourceEventId === s.dataset.lastClickEventId; }",
            timeout=10_000,
        )
        after = _cards(page)
        latency_ms = int(page.get_attribute("#homepage", "data-click-to-update-ms") or -1)
        # "More like this" lists a card's neighbours in place, without a click event.
        last_click_event_id = page.get_attribute("#homepage", "data-last-click-event-id")
        first = f"#cards .card[data-item-id='{after[0]}']"
        page.click(f"{first} .more-like")
        page.wait_for_selector(f"{first} .similar li[data-item-id]", timeout=10_000)
        similar = page.eval_on_selector_all(
            f"{first} .similar li", "entries => entries.map(e => e.dataset.itemId)"
        )
        click_after_more = page.get_attribute("#homepage", "data-last-click-event-id")
        screenshot = tmp_path / "homepage.png"
        page.screenshot(path=str(screenshot), full_page=True)
        page_url = page.url

    def likeness(items: list[str]) -> float:
        return float(np.mean([stack.vectors[i] @ stack.vectors[clicked] for i in items]))

    others_before = [item_id for item_id in before if item_id != clicked][:TOP]
    section = CATEGORY[clicked]
    with capsys.disabled():
        print(
            f"\n[e2e] screenshot: {screenshot}"
            f"\n[e2e] page: {page_url}; clicked {clicked} ({section}); "
            f"click → new homepage on screen in {latency_ms} ms"
            f"\n[e2e] top {TOP} likeness to the clicked story: "
            f"{likeness(others_before):.3f} → {likeness(after[:TOP]):.3f}; "
            f"'{section}' cards in the top {TOP}: "
            f"{sum(CATEGORY[i] == section for i in others_before)} → "
            f"{sum(CATEGORY[i] == section for i in after[:TOP])}"
        )
    assert clicked not in after
    assert len(similar) == 4 and after[0] not in similar, similar
    assert click_after_more == last_click_event_id
    assert len(after) == CARDS
    assert likeness(after[:TOP]) > likeness(others_before)
    assert 0 <= latency_ms < 2_000
    assert screenshot.stat().st_size > 10_000


def test_dashboard_shows_online_ctr_freshness_and_top_items(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reader's homepages, judged by their next clicks, reach the operators' page."""
    with _chromium_page(height=1000) as page:
        page.goto(stack.url + "/dashboard")
        # Online figures are published every few seconds by the worker.
        page.wait_for_selector("#variants tr[data-judged]", timeout=30_000)
        page.wait_for_selector("#ctr-chart polyline[data-series]", state="attached")
        page.wait_for_selector("#freshness-chart polyline", state="attached")
        page.wait_for_selector("#top-items li[data-item-id]")
        judged = int(page.get_attribute("#variants tr[data-judged]", "data-judged") or 0)
        row = page.inner_text("#variants tr[data-judged]")
        top = page.eval_on_selector_all(
            "#top-items li", "items => items.map(i => i.dataset.itemId)"
        )
        screenshot = tmp_path / "dashboard.png"
        page.screenshot(path=str(screenshot), full_page=True)
    with capsys.disabled():
        print(f"\n[e2e] dashboard screenshot: {screenshot}\n[e2e] dashboard row: {row}")
    assert judged >= 1
    assert set(top) <= {item.item_id for item in CATALOG} and top
    assert screenshot.stat().st_size > 10_000
