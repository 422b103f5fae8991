"""The registry's tables (SQLAlchemy Core); their columns are the contract other services write to.

``alarms``: one row per ganlink.alarms.Alarm (analytics raises and clears, the API acknowledges, shelves,
labels). ``pending_sensors``: sensors the collector saw but the registry does not know. ``audit_log``:
append-only.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "alarm_comments",
    "alarms",
    "api_keys",
    "areas",
    "audit_log",
    "devices",
    "lines",
    "metadata",
    "pending_sensors",
    "plants",
    "sensor_aliases",
    "sensors",
]

metadata = MetaData()

plants = Table(
    "plants",
    metadata,
    Column("id", String(63), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("industry", String(40), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("shifts", JSON, nullable=False),
    Column("nameplate_value", Float, nullable=False),
    Column("nameplate_unit", String(40), nullable=False),
    Column("gateway", String(63), nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
)
areas = Table(
    "areas",
    metadata,
    Column("plant", String(63), primary_key=True),
    Column("id", String(63), primary_key=True),
    Column("name", String(200), nullable=False),
    ForeignKeyConstraint(["plant"], ["plants.id"], ondelete="CASCADE"),
)
lines = Table(
    "lines",
    metadata,
    Column("plant", String(63), primary_key=True),
    Column("area", String(63), primary_key=True),
    Column("id", String(63), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    ForeignKeyConstraint(["plant", "area"], ["areas.plant", "areas.id"], ondelete="CASCADE"),
)
devices = Table(
    "devices",
    metadata,
    Column("plant", String(63), primary_key=True),
    Column("area", String(63), primary_key=True),
    Column("line", String(63), primary_key=True),
    Column("id", String(63), primary_key=True),
    Column("name", String(200), nullable=False),
    ForeignKeyConstraint(["plant", "area", "line"], ["lines.plant", "lines.area", "lines.id"], ondelete="CASCADE"),
)
sensors = Table(
    "sensors",
    metadata,
    Column("sensor_id", String(320), primary_key=True),  # dotted full path
    Column("plant", String(63), nullable=False),
    Column("area", String(63), nullable=False),
    Column("line", String(63), nullable=False),
    Column("device", String(63), nullable=False),
    Column("id", String(63), nullable=False),
    Column("name", String(200), nullable=False),
    Column("unit", String(40), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("range_min", Float, nullable=False),
    Column("range_max", Float, nullable=False),
    Column("sample_period_s", Float, nullable=False),
    Column("data_class", Integer, nullable=False),
    Column("description", Text, nullable=False),
    Column("key", Boolean, nullable=False),
    ForeignKeyConstraint(
        ["plant", "area", "line", "device"],
        ["devices.plant", "devices.area", "devices.line", "devices.id"],
        ondelete="CASCADE",
    ),
    Index("ix_sensors_line", "plant", "area", "line"),
)
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex of the token
    Column("role", String(20), nullable=False),
    Column("plants", JSON, nullable=False),  # ["*"] or a list of plant ids
    Column("created_ns", BigInteger, nullable=False),
    Column("revoked_ns", BigInteger, nullable=True),
)
# Alarms, one row per ganlink.alarms.Alarm (analytics raises and clears, the API acknowledges, shelves,
# labels); the state is derived from the *_ns columns as Alarm.status does. Comments live in alarm_comments.
alarms = Table(
    "alarms",
    metadata,
    Column("id", String(64), primary_key=True),  # AnomalyEvent.alarm_id
    Column("sensor_id", String(320), nullable=False),
    Column("plant", String(63), nullable=False),
    Column("area", String(63), nullable=False),
    Column("line", String(63), nullable=False),
    Column("detector", String(63), nullable=False),
    Column("model_version", String(63), nullable=False),
    Column("severity", String(20), nullable=False),  # ganlink.alarms.Severity
    Column("raised_ns", BigInteger, nullable=False),
    Column("details", JSON, nullable=False),
    Column("cleared_ns", BigInteger, nullable=True),
    Column("acknowledged_ns", BigInteger, nullable=True),
    Column("acknowledged_by", String(200), nullable=True),
    Column("shelved_until_ns", BigInteger, nullable=True),
    Column("shelved_by", String(200), nullable=True),
    Column("label", String(20), nullable=True),  # ganlink.alarms.Label
    Column("labeled_by", String(200), nullable=True),
    Column("updated_ns", BigInteger, nullable=False),
    Index("ix_alarms_line_raised", "plant", "area", "line", "raised_ns"),
    Index("ix_alarms_sensor_raised", "sensor_id", "raised_ns"),
)
alarm_comments = Table(
    "alarm_comments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alarm_id", String(64), nullable=False, index=True),
    Column("user", String(200), nullable=False),
    Column("time_ns", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
)
# Sensors the collector saw on the wire but the registry does not know (onboarding queue).
pending_sensors = Table(
    "pending_sensors",
    metadata,
    Column("sensor_id", String(320), primary_key=True),
    Column("plant", String(63), nullable=False),
    Column("area", String(63), nullable=False),
    Column("line", String(63), nullable=False),
    Column("device", String(63), nullable=False),
    Column("sensor", String(63), nullable=False),
    Column("first_seen_ns", BigInteger, nullable=False),
    Column("last_seen_ns", BigInteger, nullable=False),
    Column("seen_count", Integer, nullable=False),
    Column("last_value", Float, nullable=True),
    Column("status", String(20), nullable=False),  # pending | accepted | rejected
)
# Onboarding with a mapping: readings seen as wire_sensor_id are stored as sensor_id (the collector rewrites
# them) and the kept ones are moved there by a backfill job, whose state lives in the backfill_* columns.
sensor_aliases = Table(
    "sensor_aliases",
    metadata,
    Column("wire_sensor_id", String(320), primary_key=True),  # dotted path the readings arrive under
    Column("sensor_id", String(320), nullable=False, index=True),  # the registered sensor they become
    Column("plant", String(63), nullable=False),
    Column("approved_ns", BigInteger, nullable=False),
    Column("backfill_status", String(20), nullable=False),  # queued | running | done | failed
    Column("backfill_moved", BigInteger, nullable=False, server_default="0"),  # readings moved, all passes
    Column("backfill_passes", Integer, nullable=False, server_default="0"),  # finished passes
    Column("backfill_attempts", Integer, nullable=False, server_default="0"),  # failed attempts in a row
    Column("backfill_error", Text, nullable=True),
    Column("backfill_again", Boolean, nullable=False, server_default="0"),  # wire readings seen while running
    Column("backfill_worker", String(200), nullable=True),
    Column("backfill_lease_ns", BigInteger, nullable=True),  # a running job not renewed by then is retaken
    Column("backfill_not_before_ns", BigInteger, nullable=False, server_default="0"),
    Column("backfill_updated_ns", BigInteger, nullable=False),
)
# Append-only: rows are inserted, never updated or deleted.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time_ns", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),  # "key <id> <name>", "cli", "anonymous"
    Column("action", String(60), nullable=False),
    Column("target", String(320), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("source", String(100), nullable=False, server_default=""),  # client address
    Column("result", String(40), nullable=False, server_default="ok"),  # ok, denied, rejected, ...
)
