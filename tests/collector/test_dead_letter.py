"""Dead-letter bodies: reason, detail, original topic and payload survive a round trip."""

from __future__ import annotations

import base64
import json

import pytest

from collector.dead_letter import MAX_KEPT_PAYLOAD_BYTES, DeadLetter, decode_dead_letter

TOPIC = "ganlink/v1/p/a/l/d/telemetry"


def test_utf8_payload_is_kept_as_text() -> None:
    letter = DeadLetter("not-json", "payload is not JSON", TOPIC, b"{oops \xc3\xa9", 1_800_000_000_000_000_000)
    body = json.loads(letter.encode())
    assert body["reason"] == "not-json"
    assert body["detail"] == "payload is not JSON"
    assert body["topic"] == TOPIC
    assert body["payload"] == "{oops é"
    assert body["payload_encoding"] == "utf-8"
    assert letter.publish_topic == "ganlink/v1/_deadletter/not-json"


def test_invalid_utf8_payload_is_kept_as_base64_and_decodes_back() -> None:
    raw = b"\xff\xfe\x00bad"
    letter = DeadLetter("not-utf8", "payload is not UTF-8 at byte 0", TOPIC, raw, 0)
    body = json.loads(letter.encode())
    assert body["payload_encoding"] == "base64"
    assert base64.b64decode(body["payload"]) == raw
    assert decode_dead_letter(letter.encode()).payload == raw


def test_huge_payload_is_kept_truncated_with_its_size() -> None:
    letter = DeadLetter.of_message("too-large", "big", TOPIC, b"x" * (MAX_KEPT_PAYLOAD_BYTES + 10), 0)
    body = json.loads(letter.encode())
    assert body["truncated"] is True
    assert body["original_size"] == MAX_KEPT_PAYLOAD_BYTES + 10
    assert len(body["payload"]) == MAX_KEPT_PAYLOAD_BYTES


def test_reason_must_be_a_slug() -> None:
    with pytest.raises(ValueError, match="slug"):
        DeadLetter("Not A Slug", "", TOPIC, b"", 0)


def test_decode_refuses_a_body_that_is_not_a_dead_letter() -> None:
    with pytest.raises(ValueError, match="not a dead-letter"):
        decode_dead_letter(b'{"hello": 1}')
