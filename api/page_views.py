"""Dashboard use: how often pages opened each plant, counted per plant, page and hour.

A small table of its own (``page_views``) beside the registry's tables, on the registry's engine;
it is additive and created on first use. :class:`PageViewMiddleware` counts a view when a page
fetches a plant's asset tree (``GET /api/v1/plants/{plant}``, what the workshop page does for each
plant it shows) or a plant's KPIs (``GET /api/v1/plants/{plant}/kpi``, the comparison page).
"""

from __future__ import annotations

import re
import time
from typing import Any

from sqlalchemy import BigInteger, Column, Engine, Integer, MetaData, String, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ganlink.registry import Registry

__all__ = ["PageViewMiddleware", "PageViews", "page_views"]

_NS_PER_H = 3600 * 1_000_000_000
_PAGE_OF_PATH = (
    (re.compile(r"^/api/v1/plants/([a-z0-9][a-z0-9-]{0,62})$"), "workshop"),
    (re.compile(r"^/api/v1/plants/([a-z0-9][a-z0-9-]{0,62})/kpi$"), "compare"),
)

metadata = MetaData()
page_views = Table(
    "page_views",
    metadata,
    Column("plant", String(63), primary_key=True),
    Column("page", String(40), primary_key=True),
    Column("hour", BigInteger, primary_key=True),  # epoch hours (UTC)
    Column("views", Integer, nullable=False),
)


class PageViews:
    """The page-view counter on a registry's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    @classmethod
    def of(cls, registry: Registry) -> PageViews:
        return cls(registry.engine)

    def record(self, plant: str, page: str, at_ns: int | None = None) -> None:
        hour = (at_ns if at_ns is not None else time.time_ns()) // _NS_PER_H
        dialect: Any = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(page_views).values(plant=plant, page=page, hour=hour, views=1)
        statement = statement.on_conflict_do_update(
            index_elements=["plant", "page", "hour"], set_={"views": page_views.c.views + 1}
        )
        with self.engine.begin() as conn:
            conn.execute(statement)

    def count(self, plant: str, start_ns: int, end_ns: int) -> int:
        """Views of the plant in the hours that start inside [start_ns, end_ns)."""
        query = select(func.coalesce(func.sum(page_views.c.views), 0)).where(
            page_views.c.plant == plant,
            page_views.c.hour >= -(-start_ns // _NS_PER_H),
            page_views.c.hour < -(-end_ns // _NS_PER_H),
        )
        with self.engine.begin() as conn:
            return int(conn.execute(query).scalar_one())


def page_of(method: str, path: str) -> tuple[str, str] | None:
    """(plant, page) when a request counts as a page view."""
    if method != "GET":
        return None
    for pattern, page in _PAGE_OF_PATH:
        match = pattern.match(path)
        if match:
            return match.group(1), page
    return None


class PageViewMiddleware:
    """Counts successful page-view requests (pure ASGI, so streaming responses pass untouched)."""

    def __init__(self, app: ASGIApp, *, registry: Registry) -> None:
        self.app = app
        self.views = PageViews.of(registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        viewed = page_of(scope.get("method", ""), scope.get("path", "")) if scope["type"] == "http" else None
        if viewed is None:
            await self.app(scope, receive, send)
            return

        async def send_counting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                self.views.record(*viewed)
            await send(message)

        await self.app(scope, receive, send_counting)
