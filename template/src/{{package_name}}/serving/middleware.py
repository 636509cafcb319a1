"""ASGI middleware of the API: bearer tokens, a request-size and time limit, request logging.

All are plain ASGI middleware: no task per request, so they add microseconds, not
milliseconds, to a request. The token is checked before anything reads the body, and a
refused request's connection is closed, so a client without one costs the server a header,
not a megabyte; only the size limit reads the body, at most ``max_bytes`` of it, within
``timeout_seconds``. The probes (``/health``, ``/ready``, ``/metrics``) are counted in the
metrics like every request but logged at DEBUG: an orchestrator calls them every few
seconds.
"""

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection, MutableMapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from .auth import TokenVerifier

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Paths that get their own metric labels; any other path is counted as "other", so that
# probing random URLs cannot blow up the number of time series.
KNOWN_PATHS = frozenset({"/health", "/ready", "/predict", "/metrics", "/docs", "/openapi.json"})
# The same for methods: the server accepts any token as a method name.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Requests logged at DEBUG while they succeed: what orchestrators and scrapers call.
PROBES = frozenset({"/health", "/ready", "/metrics"})
# The methods whose requests the endpoints read a body of.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Closes the connection of a refused request instead of reading the rest of its body.
CLOSE = ((b"connection", b"close"),)
# The status counted and logged for a request whose client left before it was answered:
# nginx's "client closed request".
CLIENT_CLOSED_REQUEST = 499
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_LOGGED_PATH = 200


def loggable(path: str) -> str:
    """Return ``path`` safe for a log line: escaped and cut to ``MAX_LOGGED_PATH``.

    The ASGI path is percent-decoded, so a client can put a newline or a terminal escape in
    it (``/%0A...``); logged as is, that forges log lines. Non-printable characters are
    written as Python escapes instead.
    """
    if len(path) > MAX_LOGGED_PATH:
        path = path[:MAX_LOGGED_PATH] + "..."
    return path if path.isprintable() else repr(path)[1:-1]


async def _send_json(
    send: Send, status: int, document: dict[str, Any], extra: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    body = json.dumps(document).encode()
    length = str(len(body)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", length), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BearerAuth:
    """Answer 401 without a bearer token and 403 with a wrong one, on the ``protected`` paths.

    It runs before the size limit, so the body of a request it refuses is never read: its
    answer closes the connection instead.
    """

    def __init__(self, app: ASGIApp, verifier: TokenVerifier, protected: Collection[str]) -> None:
        """Wrap ``app``."""
        self.app = app
        self.verifier = verifier
        self.protected = frozenset(protected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass an authenticated request on, or answer 401 or 403."""
        if scope["type"] == "http" and scope["path"] in self.protected:
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                extra = [(b"www-authenticate", b"Bearer"), *CLOSE]
                await _send_json(send, 401, {"detail": "missing bearer token"}, extra)
                return
            if not self.verifier.accepts(token):
                await _send_json(send, 403, {"detail": "invalid token"}, CLOSE)
                return
        await self.app(scope, receive, send)


class BodySizeLimit:
    """Refuse bodies over ``max_bytes`` with 413, and bodies slower than ``timeout_seconds`` with 408.

    A declared ``Content-Length`` over the limit is refused at once. Otherwise the body is
    read here, counting as it arrives (a chunked upload has no length to declare), and
    refused as soon as it passes the limit or its time; a body within both is handed on
    unchanged. A client that sends a body a byte at a time holds a connection for
    ``timeout_seconds`` at most; a request whose client leaves before its body is complete
    is dropped unanswered.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_seconds: float) -> None:
        """Wrap ``app``."""
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413."""
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            # No endpoint reads the body of these: the server discards it as it arrives.
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        messages: list[Message] = []
        try:
            async with asyncio.timeout(self.timeout_seconds):
                too_large = await self._read(receive, messages)
        except TimeoutError:
            detail = f"request body not received within {self.timeout_seconds:g} seconds"
            await _send_json(send, 408, {"detail": detail}, CLOSE)
            return
        if too_large:
            await self._refuse(send)
            return
        if messages[-1]["type"] == "http.disconnect":
            # The client left before its body arrived: no one is waiting for an answer.
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive, messages: list[Message]) -> bool:
        """Receive the body into ``messages``; tell whether it passed ``max_bytes``."""
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return False
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return True
            if not message.get("more_body", False):
                return False

    async def _refuse(self, send: Send) -> None:
        detail = f"request body larger than {self.max_bytes} bytes"
        await _send_json(send, 413, {"detail": detail}, CLOSE)


class ServingMetrics:
    """Prometheus metrics of the API, in a registry of their own (one per application)."""

    def __init__(self) -> None:
        """Create the registry and the metrics."""
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by method, path and status code.",
            ["method", "path", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from receiving a request to the end of its response, by method and path.",
            ["method", "path"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "predictions", "Rows classified by /predict.", registry=self.registry
        )


class RequestLogger:
    """Log one line per request (method, path, status, latency) and record the metrics.

    A request the application fails on before answering counts as 500; one it returns from
    without answering, because the client left, as 499.
    """

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        """Wrap ``app``."""
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and account for it once its response has started."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0  # until the response starts
        failed = True

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
            failed = False
        finally:
            seconds = time.perf_counter() - start
            if not status:
                status = 500 if failed else CLIENT_CLOSED_REQUEST
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
            self.metrics.requests.labels(method, path, str(status)).inc()
            self.metrics.latency.labels(method, path).observe(seconds)
            level = logging.DEBUG if path in PROBES and status < 400 else logging.INFO
            if logger.isEnabledFor(level):
                logger.log(
                    level,
                    "%s %s %d %.1f ms",
                    method,
                    loggable(scope["path"]),
                    status,
                    seconds * 1000,
                    extra={
                        "method": method,
                        "path": path,
                        "status": status,
                        "latency_ms": seconds * 1000,
                    },
                )
