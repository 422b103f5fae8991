"""The ganlink error hierarchy, translated once at each outside boundary.

    GanlinkError
    ├── ConfigError          a plant/gateway file or a setting is wrong (file, line, what to fix)
    ├── MessageRejected      an MQTT message cannot be read or attributed (dead-lettered whole)
    │   └── TopicError       the topic does not follow the ganlink/v1 tree
    └── StoreError           the time-series store did not take or give data
        ├── StoreUnavailable the store cannot be reached (connection refused, timeout, 5xx)
        ├── StoreAuthFailed  the store refused our credentials (401/403)
        └── WriteRejected    the store refused (part of) a write (400/413/422), with its message
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "GanlinkError",
    "MessageRejected",
    "StoreAuthFailed",
    "StoreError",
    "StoreUnavailable",
    "TopicError",
    "WriteRejected",
]


class GanlinkError(Exception):
    """Base of every error ganlink raises on purpose."""


class ConfigError(GanlinkError):
    """A configuration file or setting is invalid; says where and what to fix."""

    def __init__(self, what: str, *, path: str | None = None, line: int | None = None) -> None:
        self.what = what
        self.path = path
        self.line = line
        where = path or "<config>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {what}")


class MessageRejected(GanlinkError):
    """A whole message was rejected; ``reason`` is the dead-letter topic's reason slug."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class TopicError(MessageRejected):
    """A topic outside the ganlink/v1 tree or with an invalid id in it."""

    def __init__(self, topic: str, detail: str) -> None:
        self.topic = topic
        super().__init__("bad-topic", f"{topic!r}: {detail}")


class StoreError(GanlinkError):
    """The time-series store failed; ``url`` names which one."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(f"{message} (store {url})")


class StoreUnavailable(StoreError):
    """The store cannot be reached or answered with a transient failure; retry later."""

    def __init__(self, message: str, *, url: str, retry_after_s: float | None = None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, url=url)


class StoreAuthFailed(StoreError):
    """The store refused our credentials; a person must act, nothing is dropped."""

    def __init__(self, message: str, *, url: str, status: int) -> None:
        self.status = status
        super().__init__(message, url=url)


class WriteRejected(StoreError):
    """The store refused a write; ``status`` and the server's ``server_message`` say why."""

    def __init__(self, *, url: str, status: int, server_message: str) -> None:
        self.status = status
        self.server_message = server_message
        super().__init__(f"write rejected with HTTP {status}: {server_message}", url=url)
