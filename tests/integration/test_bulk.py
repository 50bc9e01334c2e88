"""The bulk paths of kpi.bulk on the running servers (a fresh database each): tricky values come back
exactly, a load that fails half-way leaves the partition as it was, and empty loads and reads work."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal
from sqlalchemy.dialects import mysql

from kpi.bulk import copy_into, insert_batched, load, read, read_columnar, read_frame
from tests.conftest import SERVERS, new_database

metadata = sa.MetaData()
# Every type the warehouse's tables use, and a name that needs quoting on both servers.
values_table = sa.Table(
    "tricky values",
    metadata,
    sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),  # (MariaDB: 0 is a key)
    sa.Column("day", sa.Date()),
    sa.Column("text", sa.String(20)),
    sa.Column("number", sa.Double()),
    sa.Column("at", sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")),
    sa.Column("flag", sa.Boolean()),
    sa.Column("change", sa.String(20)),  # a reserved word in MariaDB
)
SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "day": pl.Date(),
    "text": pl.String(),
    "number": pl.Float64(),
    "at": pl.Datetime("us", "UTC"),
    "flag": pl.Boolean(),
    "change": pl.String(),
}
DAY, OTHER_DAY = date(2026, 3, 2), date(2026, 3, 3)

TEXTS = ["", None, "a,b", 'say "hi"', "it's", "line\nbreak", "cr\r\nlf", "back\\slash", "\\N", "tab\there"]
TEXTS += ["é€ 😀 日本", "NULL", "  padded  ", "50%", "%(x)s", "\\", '"', ","]
NUMBERS: list[float | None] = [
    0.1,
    1e-300,
    -0.0,
    0.1234567890123456 + 1e-17,
    12345678901234567.0,
    2.0**-1074,
    1.7976931348623157e308,
]
NUMBERS += [None, 1.0, -2.5, 0.0, 3.141592653589793, 1 / 3, 2 / 3, 1e22, 5e-324, 123.456, 9007199254740993.0]


def tricky_rows() -> pl.DataFrame:
    count = len(TEXTS)
    return pl.DataFrame(
        {
            "id": list(range(count)),
            "day": [DAY + timedelta(days=index * 400) if index % 5 else None for index in range(count)],
            "text": TEXTS,
            "number": NUMBERS[:count],
            "at": [
                None
                if index == 3
                else datetime(2026, 3, 2, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5)))
                + timedelta(days=index, microseconds=index)
                for index in range(count)
            ],
            "flag": [None if index % 3 == 0 else index % 2 == 0 for index in range(count)],
            "change": [text[::-1] if text is not None else None for text in reversed(TEXTS)],
        },
        schema={**SCHEMA, "at": pl.Datetime("us", "UTC")},
    )


@pytest.fixture(params=list(SERVERS))
def server(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    """An engine on a new database of the server, with the test table; dropped afterwards."""
    with new_database(request.param) as url:
        engine = sa.create_engine(url)
        try:
            metadata.create_all(engine)
            yield engine
        finally:
            engine.dispose()


def read_all(connection: sa.Connection) -> pl.DataFrame:
    return read_frame(connection, sa.select(values_table).order_by(values_table.c.id), SCHEMA)


def bulk_insert(connection: sa.Connection, frame: pl.DataFrame) -> None:
    if connection.dialect.name == "postgresql":
        copy_into(connection, values_table, frame)
    else:
        insert_batched(connection, values_table, frame, batch_rows=4)  # several batches


def test_tricky_values_come_back_exactly(server: sa.Engine) -> None:
    frame = tricky_rows()
    with server.begin() as connection:
        bulk_insert(connection, frame)
    if server.dialect.name != "postgresql":
        # MariaDB keeps no negative zero: -0e0 is stored, and read, as 0.
        frame = frame.with_columns(number=pl.when(pl.col("number") == 0).then(0.0).otherwise("number"))
    with server.connect() as connection:
        assert_exactly_equal(read_all(connection), frame)
        # ... and pl.read_database, the path this replaces, agrees on what is stored.
        stored = pl.read_database(sa.select(values_table).order_by(values_table.c.id), connection)
    assert stored["text"].to_list() == TEXTS
    assert bits(stored["number"]) == bits(frame["number"])


def bits(numbers: pl.Series) -> list[int | None]:
    """Each float's 64 bits: == and assert_frame_equal take -0.0 for 0.0."""
    return [None if value is None else struct.unpack("<q", struct.pack("<d", value))[0] for value in numbers]


def assert_exactly_equal(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert_frame_equal(actual, expected, check_exact=True)
    for name, dtype in expected.schema.items():
        if dtype.is_float():
            assert bits(actual[name]) == bits(expected[name]), name


def test_a_read_filters_on_literals_that_need_escaping(server: sa.Engine) -> None:
    with server.begin() as connection:
        bulk_insert(connection, tricky_rows())
    wanted = ["it's", "back\\slash", "50%", "%(x)s", "\\", '"', "", "é€ 😀 日本"]
    statement = (
        sa.select(values_table.c.id, values_table.c.text)
        .where(values_table.c.text.in_(wanted), values_table.c.id >= 0)
        .order_by(values_table.c.id)
    )
    with server.connect() as connection:
        frame = read_frame(connection, statement, SCHEMA)
    assert sorted(frame["text"].to_list()) == sorted(wanted)


def test_a_failed_load_keeps_the_partition_it_was_to_replace(server: sa.Engine) -> None:
    before = tricky_rows().head(6).with_columns(day=pl.lit(DAY), number=pl.col("number").abs())
    with server.begin() as connection:
        bulk_insert(connection, before)
    incoming = before.with_columns(id=pl.col("id") + 100, text=pl.lit("fits"))
    incoming = pl.concat(
        [incoming, incoming.head(1).with_columns(id=pl.lit(999, pl.Int64), text=pl.lit("x" * 21))]
    )
    with pytest.raises(sa.exc.DataError), server.begin() as connection:
        connection.execute(values_table.delete().where(values_table.c.day == DAY))
        bulk_insert(connection, incoming)
    with server.connect() as connection:
        assert_exactly_equal(read_all(connection), before)


def test_a_load_of_no_rows_still_replaces_the_partition(server: sa.Engine) -> None:
    rows = tricky_rows().head(4).with_columns(day=pl.Series([DAY, DAY, OTHER_DAY, OTHER_DAY]))
    with server.begin() as connection:
        bulk_insert(connection, rows)
    with server.begin() as connection:
        connection.execute(values_table.delete().where(values_table.c.day == DAY))
        assert load(connection, values_table, rows.clear()) is True
    with server.connect() as connection:
        assert_frame_equal(read_all(connection), rows.filter(pl.col("day") == OTHER_DAY))
        empty = read_frame(connection, sa.select(values_table).where(values_table.c.id < 0), SCHEMA)
    assert_frame_equal(empty, pl.DataFrame(schema=SCHEMA))


def test_a_load_of_a_subset_of_columns_leaves_the_others_null(server: sa.Engine) -> None:
    with server.begin() as connection:
        assert load(connection, values_table, pl.DataFrame({"text": ["a", None], "id": [1, 2]}))
    with server.connect() as connection:
        frame = read_all(connection)
    assert frame["text"].to_list() == ["a", None] and frame["number"].null_count() == 2


def test_nan_and_infinity(server: sa.Engine) -> None:
    frame = pl.DataFrame(
        {"id": [1, 2, 3], "number": [float("nan"), float("inf"), float("-inf")]},
        schema={"id": pl.Int64(), "number": pl.Float64()},
    )
    statement = sa.select(values_table.c.id, values_table.c.number).order_by(values_table.c.id)
    with server.begin() as connection:
        if connection.dialect.name == "postgresql":
            copy_into(connection, values_table, frame)
            assert_exactly_equal(read_frame(connection, statement, SCHEMA), frame)
        else:
            with pytest.raises(ValueError, match="NaN or infinity"):
                insert_batched(connection, values_table, frame)


def test_unknown_columns_and_types_are_refused(server: sa.Engine) -> None:
    with server.begin() as connection:
        with pytest.raises(ValueError, match="no columns"):
            load(connection, values_table, pl.DataFrame({"id": [1], "colour": ["red"]}))
        with pytest.raises(ValueError, match="no dtype"):
            read_frame(connection, sa.select(values_table.c.id), {"text": pl.String()})
        if connection.dialect.name == "postgresql":
            with pytest.raises(TypeError, match="no CSV form"):
                copy_into(connection, values_table, pl.DataFrame({"id": [1], "text": [["a"]]}))


def test_other_dialects_fall_back() -> None:
    engine = sa.create_engine("sqlite://")
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            assert load(connection, values_table, tricky_rows()) is False
            assert read(connection, sa.select(values_table), SCHEMA) is None
    finally:
        engine.dispose()


def test_a_frame_with_timestamps_in_another_zone_is_stored_as_the_same_instant(server: sa.Engine) -> None:
    instant = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
    frame = pl.DataFrame({"id": [1], "at": [instant]}).with_columns(
        pl.col("at").dt.convert_time_zone("Asia/Kolkata")
    )
    with server.begin() as connection:
        load(connection, values_table, frame)
    with server.connect() as connection:
        stored = read_frame(connection, sa.select(values_table.c.at), SCHEMA)
        assert stored["at"].to_list() == [instant]
        in_zone = read_frame(
            connection, sa.select(values_table.c.at), {"at": pl.Datetime("us", "Asia/Kolkata")}
        )
    assert_frame_equal(in_zone, frame.select("at"))


def test_columnar_reads_give_back_exactly_what_was_stored(server: sa.Engine) -> None:
    """read_columnar (connectorx, what Warehouse.read uses on servers) agrees value for value with the
    frame loaded, tricky text, nulls, timestamps and filters with literals needing escapes included."""
    frame = tricky_rows()
    with server.begin() as connection:
        bulk_insert(connection, frame)
    if server.dialect.name != "postgresql":
        frame = frame.with_columns(number=pl.when(pl.col("number") == 0).then(0.0).otherwise("number"))
    statement = sa.select(values_table).order_by(values_table.c.id)
    assert_exactly_equal(read_columnar(server.url, statement, SCHEMA), frame)
    wanted = ["it's", "back\\slash", "50%", "%(x)s", "\\", '"', "", "é€ 😀 日本"]
    filtered = read_columnar(
        server.url,
        sa.select(values_table.c.id, values_table.c.text).where(values_table.c.text.in_(wanted)),
        SCHEMA,
    )
    assert sorted(filtered["text"].to_list()) == sorted(wanted)
    empty = read_columnar(server.url, sa.select(values_table).where(values_table.c.id < 0), SCHEMA)
    assert empty.is_empty() and empty.schema == pl.Schema(SCHEMA)


def test_a_refused_columnar_read_names_the_warehouse_without_its_password(server: sa.Engine) -> None:
    url = server.url.set(password="s3cret-Pa55")
    with pytest.raises(RuntimeError) as raised:
        read_columnar(
            url, sa.select(sa.column("nope")).select_from(sa.table("no_such_table")), {"nope": pl.String()}
        )
    assert "s3cret-Pa55" not in str(raised.value)
    assert url.render_as_string(hide_password=True) in str(raised.value)
