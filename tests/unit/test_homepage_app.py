"""The homepage service's HTTP contract, with an in-memory state and event sink (no Kafka)."""

from __future__ import annotations

from collections.abc import Iterator

import msgpack
import pytest
from fastapi.testclient import TestClient

from streams.homepage.app import build_app, new_state
from streams.homepage.auth import issue_token
from streams.homepage.events import Produced
from streams.homepage.feed import HomepageState
from streams.settings import Settings
from streams.wire import Event, RankedItem, Ranking, TrendingList

SECRET = "unit-test-secret"


class MemoryEventSink:
    """Keeps produced events in a list."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, event: Event) -> Produced:
        self.events.append(event)
        return Produced("events", 0, len(self.events) - 1)


def seeded_state(settings: Settings) -> HomepageState:
    state = new_state(settings)
    for item_id, title, category in [
        ("n1", "Storm hits coast", "news"),
        ("s1", "Cup final tonight", "sports"),
        ("s2", "Transfer window opens", "sports"),
        ("f1", "Rates held steady", "finance"),
    ]:
        state.catalog.put(item_id, title, category)
    state.store.put(
        Ranking(
            "ann",
            [
                RankedItem("s1", 0.9, "because you liked Cup final"),
                RankedItem("s2", 0.7, "because you liked Cup final"),
                RankedItem("n1", 0.2, "trending"),
            ],
            "dot@minilm",
            1_700_000_000_500,
            "ev-1",
            1_700_000_000_000,
            "click",
            "s0",
        )
    )
    state.trending.put(
        b"worker-1",
        TrendingList.decode(
            msgpack.packb(
                {
                    "schema": 1,
                    "generated_at": 1_700_000_000_000,
                    "items": [{"item_id": "f1", "score": 4.0}, {"item_id": "n1", "score": 2.0}],
                }
            )
        ),
    )
    state.ready.set()
    return state


def client_for(**overrides: object) -> tuple[TestClient, MemoryEventSink]:
    settings = Settings(kafka_bootstrap="unused:9092", **overrides)  # type: ignore[arg-type]
    sink = MemoryEventSink()
    app = build_app(settings, state=seeded_state(settings), sink=sink, follow_topics=False)
    return TestClient(app), sink


@pytest.fixture
def client() -> Iterator[TestClient]:
    test_client, _ = client_for()
    with test_client:
        yield test_client


def test_homepage_of_a_ranked_user_has_titles_categories_and_reasons(client: TestClient) -> None:
    body = client.get("/v1/homepage/ann", params={"limit": 2}).json()
    assert body["source"] == "ranking"
    assert body["model_version"] == "dot@minilm"
    assert body["variant"] is None  # no experiment running
    assert body["source_event"] == {
        "event_id": "ev-1",
        "type": "click",
        "item_id": "s0",
        "ts": 1_700_000_000_000,
    }
    assert body["items"] == [
        {
            "item_id": "s1",
            "title": "Cup final tonight",
            "category": "sports",
            "score": 0.9,
            "reason": "because you liked Cup final",
            "model_version": "dot@minilm",
        },
        {
            "item_id": "s2",
            "title": "Transfer window opens",
            "category": "sports",
            "score": 0.7,
            "reason": "because you liked Cup final",
            "model_version": "dot@minilm",
        },
    ]


def test_unknown_user_gets_trending_and_is_told_so(client: TestClient) -> None:
    body = client.get("/v1/homepage/newcomer").json()
    assert body["source"] == "trending"
    assert "trending" in body["note"]
    assert [(i["item_id"], i["title"], i["reason"]) for i in body["items"]] == [
        ("f1", "Rates held steady", "trending"),
        ("n1", "Storm hits coast", "trending"),
    ]


def test_posted_click_is_completed_validated_and_produced() -> None:
    test_client, sink = client_for()
    with test_client:
        response = test_client.post(
            "/v1/events", json={"user_id": "ann", "type": "click", "item_id": "s2"}
        )
    assert response.status_code == 202, response.text
    body = response.json()
    [event] = sink.events
    assert (event.user_id, event.type, event.item_id) == ("ann", "click", "s2")
    assert event.event_id == body["event_id"] and len(event.event_id) == 32
    assert event.ts == body["ts"] > 1_700_000_000_000
    assert body["schema"] == 1


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"user_id": "ann", "type": "click"}, 400, "a 'click' event needs 'item_id'"),
        ({"user_id": "ann", "type": "buy", "item_id": "x"}, 400, "field 'type' must be one of"),
        ({"user_id": "a" * 300, "type": "click", "item_id": "x"}, 400, "longer than 256 bytes"),
        ({"user_id": "ann", "type": "search"}, 400, "a 'search' event needs 'text'"),
        ({"user_id": "ann", "type": "click", "item_id": "x", "ts": "yesterday"}, 422, "body.ts"),
        ({"user_id": "ann", "type": "click", "itemid": "x"}, 422, "body.itemid: Extra inputs"),
        ({"type": "click", "item_id": "x"}, 422, "body.user_id: Field required"),
    ],
)
def test_bad_events_get_a_4xx_that_says_what_is_wrong(
    client: TestClient, payload: dict[str, object], status: int, message: str
) -> None:
    response = client.post("/v1/events", json=payload)
    assert response.status_code == status
    assert message in response.json()["detail"]


def test_bad_homepage_requests_get_a_4xx(client: TestClient) -> None:
    assert client.get("/v1/homepage/ann", params={"limit": 0}).status_code == 422
    assert "limit" in client.get("/v1/homepage/ann", params={"limit": 1000}).json()["detail"]
    too_long = client.get("/v1/homepage/" + "u" * 300)
    assert too_long.status_code == 400 and "256 bytes" in too_long.json()["detail"]


def test_oversized_bodies_are_refused_before_parsing() -> None:
    test_client, sink = client_for(max_request_bytes=1024)
    with test_client:
        declared = test_client.post(
            "/v1/events",
            content=b"{" + b" " * 2000 + b"}",
            headers={"content-type": "application/json"},
        )

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts as it reads
            for _ in range(10):
                yield b" " * 200

        streamed = test_client.post(
            "/v1/events", content=chunks(), headers={"content-type": "application/json"}
        )
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["detail"] == "request body is larger than 1024 bytes"
    assert sink.events == []


def test_with_tokens_on_a_visitor_reads_and_acts_only_as_their_own_user() -> None:
    test_client, sink = client_for(auth_secret=SECRET)
    ann = issue_token(SECRET.encode(), "ann", ttl_s=60)
    click = {"user_id": "ann", "type": "click", "item_id": "s1"}
    with test_client:
        assert test_client.get("/v1/homepage/ann").status_code == 401
        own = test_client.get("/v1/homepage/ann", headers={"Authorization": f"Bearer {ann}"})
        assert own.status_code == 200 and own.json()["source"] == "ranking"
        assert (
            test_client.get(
                "/v1/homepage/bob", headers={"Authorization": f"Bearer {ann}"}
            ).status_code
            == 403
        )
        forged = test_client.get(
            "/v1/homepage/ann", headers={"Authorization": f"Bearer {ann[:-2]}xx"}
        )
        assert forged.status_code == 401 and "signature" in forged.json()["detail"]
        assert test_client.post("/v1/events", json=click).status_code == 401
        assert (
            test_client.post(
                "/v1/events",
                json={**click, "user_id": "bob"},
                headers={"Authorization": f"Bearer {ann}"},
            ).status_code
            == 403
        )
        assert (
            test_client.post(
                "/v1/events", json=click, headers={"Authorization": f"Bearer {ann}"}
            ).status_code
            == 202
        )
        assert test_client.get("/v1/users").status_code == 403
        assert test_client.get("/v1/config").json()["auth"] is True
    assert [e.user_id for e in sink.events] == ["ann"]


def test_readiness_waits_for_the_topics() -> None:
    settings = Settings(kafka_bootstrap="unused:9092")
    state = new_state(settings)
    state.caught_up = {"rankings": True, "item-vectors": False}
    app = build_app(settings, state=state, sink=MemoryEventSink(), follow_topics=False)
    with TestClient(app) as test_client:
        waiting = test_client.get("/readyz")
        assert waiting.status_code == 503 and waiting.json()["waiting_for"] == ["item-vectors"]
        assert test_client.get("/healthz").status_code == 200
        state.caught_up["item-vectors"] = True
        state.ready.set()
        assert test_client.get("/readyz").status_code == 200


def test_metrics_report_latency_by_route_and_homepages_by_source(client: TestClient) -> None:
    client.get("/v1/homepage/ann")
    client.get("/v1/homepage/someone-new")
    text = client.get("/metrics").text
    assert (
        'homefeed_http_request_duration_seconds_count{method="GET",'
        'route="/v1/homepage/{user_id}",status="200"} 2.0'
    ) in text
    assert 'homefeed_homepages_served_total{source="ranking"} 1.0' in text
    assert 'homefeed_homepages_served_total{source="trending"} 1.0' in text
    assert "homefeed_ranking_freshness_seconds" in text
    assert "homefeed_ranking_delivery_seconds" in text


def test_the_page_and_its_assets_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "Homefeed" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/v1/users").json() == {"users": ["ann"], "total": 1}
