"""A tiny HTTP endpoint serving the collector's Prometheus metrics on ``GET /metrics``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

__all__ = ["serve_metrics"]

logger = logging.getLogger(__name__)


async def serve_metrics(render: Callable[[], str], host: str, port: int, stop: asyncio.Event) -> None:
    """Serve ``render()`` as text/plain until ``stop`` is set."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            if request.split(b" ")[1:2] == [b"/metrics"]:
                body, status = render().encode(), "200 OK"
            else:
                body, status = b"only /metrics here\n", "404 Not Found"
            head = f"HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {len(body)}\r\n"
            writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, host, port)
    logger.info("collector metrics on http://%s:%d/metrics", host, port)
    async with server:
        await stop.wait()
