"""``homefeed serve`` (the homepage service) and ``homefeed token`` (a signed user token)."""

from __future__ import annotations

import argparse
import socket
import sys

from streams.settings import Settings

# Open live-update streams never end on their own; don't let them hold a shutdown.
GRACEFUL_SHUTDOWN_S = 3


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the homepage service until stopped."""
    import uvicorn

    from streams.admin import create_topics
    from streams.homepage.app import build_app

    host = args.host or settings.serve_host
    port = settings.serve_port if args.port is None else args.port
    # Before waiting on Kafka: a taken port is known at once.
    check_port_free(host, port)
    create_topics(settings)
    app = build_app(settings)
    print(f"homepage service on http://{host}:{port}/", flush=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=args.uvicorn_log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        access_log=False,
    )
    return 0


def check_port_free(host: str, port: int) -> None:
    """A usage error (exit status 2) when ``host:port`` cannot be listened on."""
    from streams.usage import usage_error

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As uvicorn binds: a port left in TIME_WAIT is free, one with a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            usage_error(
                f"cannot listen on {host}:{port} ({error.strerror}); "
                "choose another port with --port or HOMEFEED_SERVE_PORT"
            )


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    """Print a token that lets its bearer act as one user."""
    from streams.homepage.auth import issue_token

    if settings.auth_secret is None:
        print("HOMEFEED_AUTH_SECRET is not set: the service runs without tokens", file=sys.stderr)
        return 2
    ttl_s = settings.auth_token_ttl_s if args.ttl is None else args.ttl
    print(issue_token(settings.auth_secret.get_secret_value().encode(), args.user_id, ttl_s))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``serve`` and ``token`` to the ``homefeed`` command."""
    serve = sub.add_parser(
        "serve",
        help="the homepage service: HTTP API and live page",
        description="Serves homepages from the rankings topic and takes events from the page. "
        "Env: HOMEFEED_SERVE_HOST, HOMEFEED_SERVE_PORT, HOMEFEED_AUTH_SECRET (turns on user "
        "tokens), HOMEFEED_MAX_REQUEST_BYTES, HOMEFEED_SERVED_USERS_MAX.",
    )
    serve.add_argument("--host", default=None, help="bind address (HOMEFEED_SERVE_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (HOMEFEED_SERVE_PORT, 8080)")
    serve.add_argument("--uvicorn-log-level", default="warning", help="uvicorn's log level")
    serve.set_defaults(func=cmd_serve)

    token = sub.add_parser(
        "token",
        help="print a signed token for one user (needs HOMEFEED_AUTH_SECRET)",
    )
    token.add_argument("user_id")
    token.add_argument(
        "--ttl",
        type=int,
        default=None,
        help="lifetime in seconds (HOMEFEED_AUTH_TOKEN_TTL_S, one day)",
    )
    token.set_defaults(func=cmd_token)
