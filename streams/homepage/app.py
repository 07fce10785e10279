"""The homepage service as a FastAPI app, built from settings by :func:`build_app`.

Routes: ``/`` (the live page), ``/dashboard`` (operators' page) and its
``/v1/dashboard`` JSON, ``/v1/homepage/{user_id}`` (JSON) and its ``/live``
stream (server-sent events), ``/v1/items/{item_id}/similar``, ``/v1/events``
(the web backend's event intake), ``/v1/users``, ``/v1/config``, ``/healthz``,
``/readyz``, ``/metrics``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from aiokafka.errors import KafkaError
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.homepage.auth import InvalidToken, verify_token
from streams.homepage.dashboard import RECENT_MS, dashboard_view
from streams.homepage.events import EventIn, EventSink, KafkaEventSink, to_event
from streams.homepage.feed import HomepageFeed, HomepageState, OnlineMetricsFeed
from streams.homepage.middleware import BodySizeLimit, RequestTimer
from streams.homepage.similar import SimilarService, similar_view
from streams.homepage.store import RankingStore
from streams.homepage.views import homepage_view
from streams.settings import Settings
from streams.topics import TopicNames
from streams.wire import MAX_ID_BYTES, SCHEMA_VERSION, InvalidMessage, now_ms

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
MAX_LIMIT = 100
# A comment line every few seconds keeps proxies from closing an idle stream.
KEEPALIVE_S = 15.0


def check_user_id(user_id: str) -> str:
    """Refuse user ids the wire contract would refuse."""
    if not user_id or len(user_id.encode()) > MAX_ID_BYTES:
        raise HTTPException(400, f"user_id must be 1 to {MAX_ID_BYTES} bytes")
    return user_id


# Module level: FastAPI resolves these annotations by name at import time.
UserId = Annotated[str, Depends(check_user_id)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Cards to return.")]


def new_state(settings: Settings) -> HomepageState:
    """Create an empty state sized by settings."""
    return HomepageState(
        store=RankingStore(settings.served_users_max),
        similar=SimilarService(settings.click_model_dir, settings.model_poll_s),
    )


def build_app(
    settings: Settings,
    *,
    state: HomepageState | None = None,
    sink: EventSink | None = None,
    follow_topics: bool = True,
) -> FastAPI:
    """Build the service; ``state``, ``sink`` and ``follow_topics`` let tests skip Kafka."""
    topics = TopicNames.from_settings(settings)
    state = state or new_state(settings)
    sink = sink or KafkaEventSink(settings.kafka, topics.events)
    secret = settings.auth_secret.get_secret_value().encode() if settings.auth_secret else None
    metrics = state.metrics

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await sink.start()
        tasks = []
        if follow_topics:
            feed = HomepageFeed(settings.kafka, topics, state)
            online = OnlineMetricsFeed(settings.kafka, topics.online_metrics, state)
            tasks = [
                asyncio.create_task(feed.run_forever(), name="homepage-feed"),
                asyncio.create_task(online.run_forever(), name="online-metrics-feed"),
            ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await sink.stop()

    app = FastAPI(
        title="Homefeed homepage service",
        summary="Personalized homepages from the rankings topic, and the events that change them.",
        lifespan=lifespan,
    )
    app.state.homepage = state

    def authorize(request: Request, user_id: str) -> None:
        """With auth on, the request's token must name ``user_id``."""
        if secret is None:
            return
        header = request.headers.get("authorization", "")
        # EventSource cannot set headers, so the live stream passes ?token=.
        token = (
            header[7:]
            if header.lower().startswith("bearer ")
            else request.query_params.get("token")
        )
        if not token:
            raise HTTPException(
                401,
                "a user token is required (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            token_user = verify_token(secret, token)
        except InvalidToken as error:
            raise HTTPException(401, str(error), headers={"WWW-Authenticate": "Bearer"}) from None
        if token_user != user_id:
            raise HTTPException(403, "this token belongs to another user")

    def homepage_of(user_id: str, limit: int) -> dict[str, Any]:
        ranking = state.store.get(user_id)
        view = homepage_view(user_id, ranking, state.catalog, state.trending, limit)
        metrics.homepages.labels(view["source"]).inc()
        return view

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "dashboard.html")

    @app.get("/v1/dashboard", tags=["ops"])
    def dashboard() -> dict[str, Any]:
        """Online CTR per variant (last hour, all kept, per window), freshness, lag, top items."""
        # A plain function: summing windows runs in FastAPI's thread pool.
        return dashboard_view(
            state.online, state.freshness, state.lag, state.trending, state.catalog, now_ms()
        )

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Report that the process is up (says nothing about Kafka)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        """200 once caught up with the rankings and item-vectors topics as of start, else 503."""
        ready = state.ready.is_set()
        body = {
            "ready": ready,
            "waiting_for": [topic for topic, done in state.caught_up.items() if not done],
            "users": len(state.store),
            "catalog_items": len(state.catalog),
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"])
    async def prometheus_metrics() -> Response:
        """Prometheus text format."""
        metrics.live_clients.set(state.store.subscriber_count)
        for variant, figures in state.online.by_variant(now_ms() - RECENT_MS).items():
            metrics.online_judged.labels(variant).set(figures.judged)
            metrics.online_clicked.labels(variant).set(figures.clicked)
            metrics.online_ctr.labels(variant).set(figures.ctr.value)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/config", tags=["homepage"])
    async def config() -> dict[str, Any]:
        """Tell the page how this service is configured."""
        return {
            "auth": secret is not None,
            "max_limit": MAX_LIMIT,
            "homepage_size": settings.homepage_size,
        }

    @app.get("/v1/users", tags=["homepage"])
    async def users(limit: Limit = 20) -> dict[str, Any]:
        """Users with the most recently updated homepages (for choosing one on the page)."""
        if secret is not None:
            raise HTTPException(403, "listing users is disabled when user tokens are required")
        return {"users": state.store.recent_users(limit), "total": len(state.store)}

    @app.get("/v1/homepage/{user_id}", tags=["homepage"])
    async def homepage(request: Request, user_id: UserId, limit: Limit = 10) -> dict[str, Any]:
        """Return the user's latest ranking, or trending (``source`` says which)."""
        authorize(request, user_id)
        return homepage_of(user_id, limit)

    @app.get("/v1/items/{item_id}/similar", tags=["items"])
    def similar_items(item_id: str, limit: Limit = 10) -> dict[str, Any]:
        """Items most like this one by the model's item vectors (text vectors without a model)."""
        # A plain function: FastAPI runs it in its thread pool, off the event loop.
        version, hits = state.similar.similar(item_id, limit)
        if hits is None:
            raise HTTPException(404, f"unknown item {item_id!r}")
        return similar_view(state.catalog, item_id, version, hits)

    @app.get("/v1/homepage/{user_id}/live", tags=["homepage"])
    async def homepage_live(
        request: Request, user_id: UserId, limit: Limit = 10
    ) -> StreamingResponse:
        """Server-sent events: the homepage now, then again each time it changes."""
        authorize(request, user_id)

        async def stream() -> AsyncIterator[str]:
            with state.store.subscribe(user_id) as updates:
                yield _sse(homepage_of(user_id, limit))
                # Starlette cancels this generator when the client goes away.
                while True:
                    try:
                        await asyncio.wait_for(updates.get(), timeout=KEEPALIVE_S)
                    except TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    yield _sse(homepage_of(user_id, limit))

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.post("/v1/events", status_code=202, tags=["events"])
    async def post_event(request: Request, posted: EventIn) -> dict[str, Any]:
        """Validate an event, fill ``event_id``/``ts``/``schema``, produce it keyed by user."""
        try:
            event = to_event(posted)
        except InvalidMessage as error:
            metrics.events_rejected.inc()
            raise HTTPException(400, str(error)) from None
        authorize(request, event.user_id)
        try:
            produced = await sink.send(event)
        except KafkaError as error:
            log.warning("could not produce event %s: %s", event.event_id, error)
            raise HTTPException(503, "the events topic is unavailable; retry later") from None
        metrics.events_produced.labels(event.type).inc()
        return {
            "event_id": event.event_id,
            "user_id": event.user_id,
            "type": event.type,
            "item_id": event.item_id,
            "ts": event.ts,
            "schema": SCHEMA_VERSION,
            "topic": produced.topic,
            "partition": produced.partition,
            "offset": produced.offset,
        }

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # One readable sentence first; the structured list stays for programs.
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
            for issue in error.errors()
        )
        if request.url.path == "/v1/events":
            metrics.events_rejected.inc()
        return JSONResponse(
            {"detail": problems, "errors": jsonable_encoder(error.errors())}, status_code=422
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestTimer, histogram=metrics.request_seconds)
    return app


def _sse(view: dict[str, Any]) -> str:
    return f"event: homepage\ndata: {json.dumps(view, separators=(',', ':'))}\n\n"
