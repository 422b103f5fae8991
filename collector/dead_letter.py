"""Dead letters: rejected input with its reason, as published on ``ganlink/v1/_deadletter/{reason}``.

A message that cannot be read is dead-lettered whole; a single bad reading is dead-lettered as a
one-reading telemetry message (same gateway and seq) so that replaying it after a fix is a publish.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from ganlink.schema import PAYLOAD_VERSION
from ganlink.timestamps import format_rfc3339
from ganlink.topics import deadletter_topic, is_slug

__all__ = ["MAX_KEPT_PAYLOAD_BYTES", "DeadLetter", "decode_dead_letter", "reading_payload"]

# Payloads above this are kept truncated: the dead letter must stay publishable and storable.
MAX_KEPT_PAYLOAD_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected message or reading: why, where it came from and its original bytes."""

    reason: str
    detail: str
    topic: str
    payload: bytes
    received_ns: int
    gateway: str | None = None
    seq: int | None = None
    original_size: int | None = None

    def __post_init__(self) -> None:
        if not is_slug(self.reason):
            raise ValueError(f"dead-letter reason {self.reason!r} must be a slug")

    @property
    def publish_topic(self) -> str:
        return deadletter_topic(self.reason)

    @property
    def truncated(self) -> bool:
        return self.original_size is not None and self.original_size > len(self.payload)

    @classmethod
    def of_message(
        cls,
        reason: str,
        detail: str,
        topic: str,
        payload: bytes,
        received_ns: int,
        *,
        gateway: str | None = None,
        seq: int | None = None,
    ) -> DeadLetter:
        """A whole message that could not be read or attributed (huge payloads kept truncated);
        ``gateway``/``seq`` when it was read but refused as a whole (e.g. ``wrong-plant``)."""
        kept = payload[:MAX_KEPT_PAYLOAD_BYTES]
        return cls(reason, detail, topic, kept, received_ns, original_size=len(payload), gateway=gateway, seq=seq)

    def encode(self) -> bytes:
        """The JSON body: reason, detail, original topic and payload (text when UTF-8, else base64)."""
        try:
            text: str = self.payload.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            text = base64.b64encode(self.payload).decode("ascii")
            encoding = "base64"
        body: dict[str, Any] = {
            "reason": self.reason,
            "detail": self.detail,
            "topic": self.topic,
            "payload": text,
            "payload_encoding": encoding,
            "received_at": format_rfc3339(self.received_ns),
        }
        if self.gateway is not None:
            body["gateway"] = self.gateway
        if self.seq is not None:
            body["seq"] = self.seq
        if self.truncated:
            body["original_size"] = self.original_size
            body["truncated"] = True
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def decode_dead_letter(body: bytes, received_ns: int = 0) -> DeadLetter:
    """Read a dead-letter body back (for replay and tests); raises ValueError when it is not one."""
    try:
        raw = json.loads(body)
        encoding = raw["payload_encoding"]
        payload_text = raw["payload"]
        if encoding == "utf-8":
            payload = payload_text.encode("utf-8")
        elif encoding == "base64":
            payload = base64.b64decode(payload_text, validate=True)
        else:
            raise ValueError(f"unknown payload_encoding {encoding!r}")
        return DeadLetter(
            reason=raw["reason"],
            detail=raw["detail"],
            topic=raw["topic"],
            payload=payload,
            received_ns=received_ns,
            gateway=raw.get("gateway"),
            seq=raw.get("seq"),
            original_size=raw.get("original_size"),
        )
    except (KeyError, TypeError, json.JSONDecodeError, binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"not a dead-letter body: {exc}") from None


def reading_payload(gateway: str, seq: int, raw_reading: object) -> bytes:
    """A one-reading telemetry payload carrying a rejected reading exactly as it came."""
    body = {"v": PAYLOAD_VERSION, "gateway": gateway, "seq": seq, "readings": [raw_reading]}
    # allow_nan: a NaN reading must be kept as it came so the record shows what was refused.
    return json.dumps(body, separators=(",", ":"), allow_nan=True, ensure_ascii=False).encode()
