"""ASGI middleware of the API: a request-size limit, and request logging with metrics.

Both are plain ASGI middleware: no task per request, and only the size limit reads the body
(at most ``max_bytes`` of it), so they add microseconds, not milliseconds, to a request.
"""

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

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


async def _send_json(send: Send, status: int, document: dict[str, Any]) -> None:
    body = json.dumps(document).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413, before the application sees them.

    A declared ``Content-Length`` over the limit is refused at once. Otherwise the body is
    read here, counting as it arrives (a chunked upload has no length to declare), and
    refused as soon as it passes the limit; a body within it is handed on unchanged.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        """Wrap ``app``."""
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        detail = f"request body larger than {self.max_bytes} bytes"
        await _send_json(send, 413, {"detail": detail})


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
    """Log one line per request (method, path, status, latency) and record the metrics."""

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
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            seconds = time.perf_counter() - start
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
            self.metrics.requests.labels(method, path, str(status)).inc()
            self.metrics.latency.labels(method, path).observe(seconds)
            logger.info(
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
