"""An HTTP/1.1 load generator for the serving benchmark, run in a process of its own.

``load`` keeps ``--connections`` keep-alive connections busy, each sending one request as
soon as the answer to the previous one has arrived, and prints the answers per second by
status as JSON. ``flood`` plays clients without a token that send large bodies, one
connection per body, and prints how the requests ended.

It is written here rather than taken from a load tool because it has to cost less per
request than the server it measures (so the server, not the client, is the bottleneck),
run wherever the project runs, and send exactly the bytes the benchmark builds: each
request is encoded once and written as it is. Only answers with a ``Content-Length`` are
read, which is what the API sends.
"""

import argparse
import asyncio
import json
import time
from collections import Counter
from pathlib import Path

HOST = "127.0.0.1"
# How a flooding request ends when the server closes its connection before reading it all.
CLOSED = (ConnectionError, asyncio.IncompleteReadError)


def head(path: str, method: str, token: str | None, length: int | None) -> bytes:
    """Encode a request's head; ``length`` is its JSON body's, ``None`` without a body."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    if length is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {length}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def request(path: str, body: bytes | None, token: str | None) -> bytes:
    """Encode one request to ``path``: a GET without ``body``, a JSON POST with it."""
    if body is None:
        return head(path, "GET", token, None)
    return head(path, "POST", token, len(body)) + body


async def answer(reader: asyncio.StreamReader) -> int:
    """Read one answer; return its status code."""
    received = await reader.readuntil(b"\r\n\r\n")
    status_line, *headers = received.decode("latin-1").split("\r\n")
    length = next(
        int(value)
        for name, _, value in (header.partition(":") for header in headers)
        if name.lower() == "content-length"
    )
    await reader.readexactly(length)
    return int(status_line.split(" ", 2)[1])


async def keep_sending(
    port: int, message: bytes, start: float, end: float, statuses: Counter[int]
) -> None:
    """Send ``message`` on one connection until ``end``; count the answers after ``start``."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while time.monotonic() < end:
            writer.write(message)
            status = await answer(reader)
            if time.monotonic() >= start:
                statuses[status] += 1
    finally:
        writer.close()


async def load(
    port: int, message: bytes, connections: int, warmup: float, seconds: float
) -> dict[str, float]:
    """Run ``connections`` senders for ``warmup`` + ``seconds``; answers per second by status."""
    statuses: Counter[int] = Counter()
    start = time.monotonic() + warmup
    await asyncio.gather(
        *(keep_sending(port, message, start, start + seconds, statuses) for _ in range(connections))
    )
    return {str(status): count / seconds for status, count in sorted(statuses.items())}


async def flood_once(port: int, size: int, statuses: Counter[str]) -> None:
    """Send one request of ``size`` bytes without a token; count how it ended."""
    reader, writer = await asyncio.open_connection(HOST, port)
    chunk = b"[" * 65536
    try:
        writer.write(head("/predict", "POST", None, size))
        for offset in range(0, size, len(chunk)):
            writer.write(chunk[: size - offset])
            await writer.drain()
        statuses[str(await answer(reader))] += 1
    except CLOSED:  # refused before its body was read: the server closed the connection
        statuses["closed"] += 1
    finally:
        writer.close()


async def flood(port: int, clients: int, size: int, seconds: float) -> dict[str, int]:
    """Keep ``clients`` connections sending ``size``-byte bodies without a token.

    Returns how the requests ended, by status (or ``closed``).
    """
    statuses: Counter[str] = Counter()
    end = time.monotonic() + seconds

    async def client() -> None:
        while time.monotonic() < end:
            await flood_once(port, size, statuses)

    await asyncio.gather(*(client() for _ in range(clients)))
    return dict(sorted(statuses.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("mode", choices=["load", "flood"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/health")
    parser.add_argument("--body", type=Path, help="a file whose bytes are POSTed")
    parser.add_argument("--token")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--bytes", type=int, default=645_000)
    args = parser.parse_args()
    if args.mode == "flood":
        ended = asyncio.run(flood(args.port, args.connections, args.bytes, args.seconds))
        print(json.dumps(ended))
        return
    body = None if args.body is None else args.body.read_bytes()
    message = request(args.path, body, args.token)
    rates = asyncio.run(load(args.port, message, args.connections, args.warmup, args.seconds))
    print(json.dumps(rates))


if __name__ == "__main__":
    main()
