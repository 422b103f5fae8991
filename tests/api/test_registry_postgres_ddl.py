"""The registry's schema and upsert compile for PostgreSQL (no server here; SQLite runs everything else)."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from ganlink.registry import metadata


def test_every_table_and_index_compiles_for_postgresql() -> None:
    dialect = postgresql.dialect()
    for table in metadata.sorted_tables:
        ddl = str(CreateTable(table).compile(dialect=dialect))
        assert f"CREATE TABLE {table.name}" in ddl
        for index in table.indexes:
            assert "CREATE INDEX" in str(CreateIndex(index).compile(dialect=dialect))
    sensors = metadata.tables["sensors"]
    assert "FOREIGN KEY(plant, area, line, device) REFERENCES devices" in str(
        CreateTable(sensors).compile(dialect=dialect)
    )


def test_upsert_compiles_to_on_conflict_for_postgresql() -> None:
    table = metadata.tables["sensors"]
    statement = postgresql.insert(table)
    upsert = statement.on_conflict_do_update(
        index_elements=["sensor_id"], set_={"unit": statement.excluded["unit"]}
    )
    sql = str(upsert.compile(dialect=postgresql.dialect()))
    assert "ON CONFLICT (sensor_id) DO UPDATE SET unit = excluded.unit" in sql
