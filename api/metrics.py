"""Request counters and latency histograms of the API, exposed in the Prometheus text format."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ApiMetrics", "MetricsMiddleware"]

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class ApiMetrics:
    """Requests by route template, method and status, and latency per route template."""

    requests: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    latency_counts: dict[str, list[int]] = field(default_factory=dict)
    latency_sum_s: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            counts = self.latency_counts.setdefault(route, [0] * (len(LATENCY_BUCKETS_S) + 1))
            for index, bound in enumerate(LATENCY_BUCKETS_S):
                if seconds <= bound:
                    counts[index] += 1
            counts[-1] += 1
            self.latency_sum_s[route] = self.latency_sum_s.get(route, 0.0) + seconds

    def prometheus(self) -> str:
        """Prometheus text format 0.0.4."""
        lines = [
            "# HELP ganlink_api_requests_total HTTP requests answered, by route template and status.",
            "# TYPE ganlink_api_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), count in sorted(self.requests.items()):
                labels = f'method="{method}",route="{route}",status="{status}"'
                lines.append(f"ganlink_api_requests_total{{{labels}}} {count}")
            lines += [
                "# HELP ganlink_api_request_seconds Time to answer a request, by route template.",
                "# TYPE ganlink_api_request_seconds histogram",
            ]
            for route, counts in sorted(self.latency_counts.items()):
                for bound, count in zip(LATENCY_BUCKETS_S, counts, strict=False):
                    lines.append(f'ganlink_api_request_seconds_bucket{{route="{route}",le="{bound}"}} {count}')
                lines.append(f'ganlink_api_request_seconds_bucket{{route="{route}",le="+Inf"}} {counts[-1]}')
                lines.append(f'ganlink_api_request_seconds_sum{{route="{route}"}} {self.latency_sum_s[route]:.6f}')
                lines.append(f'ganlink_api_request_seconds_count{{route="{route}"}} {counts[-1]}')
        lines += [
            "# HELP ganlink_api_start_time_seconds When this API process started (epoch s).",
            "# TYPE ganlink_api_start_time_seconds gauge",
            f"ganlink_api_start_time_seconds {self.started:.3f}",
        ]
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Times every HTTP request and records it under its route template (never the raw path)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            route = getattr(scope.get("route"), "path_format", None) or "unmatched"
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)
