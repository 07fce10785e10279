"""The homepage service against the real broker: what it reads, what it produces, what it streams.

Rankings, vectors and trending lists are produced straight to their topics
(no worker), so these tests run in seconds; the browser test covers the whole
loop with a real worker.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import msgpack
import numpy as np
import pytest
import uvicorn

from deploy.kafka import free_ports
from streams.homepage.app import build_app
from streams.wire import Event, ItemVector, RankedItem, Ranking, now_ms
from tests.live import LiveEnv, TopicReader, fresh_env, produce, wait_for

pytestmark = pytest.mark.integration

CATALOG = [
    ("m1", "The Matrix", "sci-fi"),
    ("m2", "Alien", "sci-fi"),
    ("m3", "Amélie", "romance"),
    ("m4", "Heat", "crime"),
]


@dataclass
class RunningService:
    live: LiveEnv
    url: str
    server: uvicorn.Server


@pytest.fixture(scope="module")
def service(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    live = fresh_env(kafka_bootstrap, tmp_path_factory.mktemp("homepage-api"))
    topics = live.topics
    dim = 8
    produce(
        kafka_bootstrap,
        topics.item_vectors,
        [
            (
                item_id.encode(),
                ItemVector(
                    item_id, np.full(dim, n, np.float32), "enc-test", title, category
                ).encode(),
            )
            for n, (item_id, title, category) in enumerate(CATALOG)
        ],
    )
    produce(
        kafka_bootstrap,
        topics.rankings,
        [
            (b"ann", ranking("ann", ["m1", "m2", "m3"], generated_at=1_000).encode()),
            (b"bob", ranking("bob", ["m3"], generated_at=1_000).encode()),
        ],
    )
    produce(
        kafka_bootstrap,
        topics.trending,
        [
            (
                b"worker-a",
                msgpack.packb(
                    {
                        "schema": 1,
                        "generated_at": now_ms(),
                        "items": [{"item_id": "m4", "score": 9.0}, {"item_id": "m1", "score": 3.0}],
                    }
                ),
            )
        ],
    )

    port = free_ports(1)[0]
    app = build_app(live.settings.model_copy(update={"max_request_bytes": 2048}))
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _status(f"{url}/readyz") == 200, 30, "the service to catch up")
        yield RunningService(live, url, server)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def ranking(user_id: str, items: list[str], generated_at: int, event_id: str = "e0") -> Ranking:
    return Ranking(
        user_id,
        [RankedItem(i, 1.0 - n / 10, "because you liked The Matrix") for n, i in enumerate(items)],
        "dot@enc-test",
        generated_at,
        event_id,
        generated_at - 10,
        "click",
        "m1",
    )


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_ready_service_serves_rankings_with_titles(service: RunningService) -> None:
    ready = httpx.get(f"{service.url}/readyz").json()
    assert ready["ready"] and ready["users"] == 2 and ready["catalog_items"] == 4
    body = httpx.get(f"{service.url}/v1/homepage/ann", params={"limit": 2}).json()
    assert body["source"] == "ranking"
    assert [(i["title"], i["category"]) for i in body["items"]] == [
        ("The Matrix", "sci-fi"),
        ("Alien", "sci-fi"),
    ]
    newcomer = httpx.get(f"{service.url}/v1/homepage/zoe").json()
    assert newcomer["source"] == "trending"
    assert [i["title"] for i in newcomer["items"]] == ["Heat", "The Matrix"]


def test_posted_event_lands_on_the_events_topic_keyed_by_user(service: RunningService) -> None:
    response = httpx.post(
        f"{service.url}/v1/events", json={"user_id": "ann", "type": "click", "item_id": "m3"}
    )
    assert response.status_code == 202, response.text
    event_id = response.json()["event_id"]
    reader = TopicReader(service.live.settings.bootstrap_servers, service.live.topics.events)
    try:
        records = reader.read_until(
            lambda recs: any(v and Event.decode(v).event_id == event_id for _, v in recs), 30
        )
    finally:
        reader.close()
    key, value = next((k, v) for k, v in records if v and Event.decode(v).event_id == event_id)
    event = Event.decode(value)
    assert key == b"ann"
    assert (event.user_id, event.type, event.item_id) == ("ann", "click", "m3")
    assert abs(event.ts - now_ms()) < 60_000


def test_a_new_ranking_reaches_a_live_subscriber_within_a_second(service: RunningService) -> None:
    bootstrap = service.live.settings.bootstrap_servers
    with httpx.stream("GET", f"{service.url}/v1/homepage/bob/live", timeout=10) as stream:
        lines = stream.iter_lines()
        first = _next_homepage(lines)
        assert [i["item_id"] for i in first["items"]] == ["m3"]
        sent = time.monotonic()
        produce(
            bootstrap,
            service.live.topics.rankings,
            [(b"bob", ranking("bob", ["m4", "m2"], now_ms(), "e-live").encode())],
        )
        update = _next_homepage(lines)
        delay = time.monotonic() - sent
    print(f"ranking produced → pushed to the page in {delay * 1000:.0f} ms")
    assert update["source_event"]["event_id"] == "e-live"
    assert [i["title"] for i in update["items"]] == ["Heat", "Alien"]
    assert delay < 1.0


def test_forgotten_user_falls_back_to_trending(service: RunningService) -> None:
    produce(
        service.live.settings.bootstrap_servers,
        service.live.topics.rankings,
        [(b"carl", ranking("carl", ["m2"], now_ms()).encode())],
    )
    wait_for(
        lambda: httpx.get(f"{service.url}/v1/homepage/carl").json()["source"] == "ranking",
        10,
        "carl's ranking",
    )
    produce(
        service.live.settings.bootstrap_servers, service.live.topics.rankings, [(b"carl", None)]
    )
    wait_for(
        lambda: httpx.get(f"{service.url}/v1/homepage/carl").json()["source"] == "trending",
        10,
        "carl to be forgotten",
    )


def test_oversized_request_is_refused(service: RunningService) -> None:
    response = httpx.post(
        f"{service.url}/v1/events", json={"user_id": "ann", "type": "search", "text": "x" * 5000}
    )
    assert response.status_code == 413


def test_metrics_show_consumption_lag_and_delivery(service: RunningService) -> None:
    text = httpx.get(f"{service.url}/metrics").text
    consumed = next(
        line for line in text.splitlines() if line.startswith("homefeed_rankings_consumed_total")
    )
    assert float(consumed.split()[-1]) >= 2
    lag = [line for line in text.splitlines() if line.startswith("homefeed_consumer_lag_messages{")]
    assert lag and all(float(line.split()[-1]) == 0 for line in lag)
    assert "homefeed_ranking_delivery_seconds_count" in text
    assert "homefeed_ready 1.0" in text


def _next_homepage(lines: Iterator[str], timeout_s: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout_s
    for line in lines:
        if line.startswith("data: "):
            return json.loads(line[len("data: ") :])
        if time.monotonic() > deadline:
            break
    raise AssertionError("no homepage event on the live stream")
