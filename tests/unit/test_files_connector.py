"""The `files` connector on real files: CSV rows without loss (bad records instead of padded or cut
lines), NDJSON and Parquet with their own types, and errors that name the source, file, column and line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from connectors.base import RAW_RECORD_COLUMN, RECORD_PROBLEM_COLUMN, SourceError
from connectors.files import FilesConnector, FilesOptions


def read(tmp_path: Path, path: str, **options: str) -> list[pl.DataFrame]:
    connector = FilesConnector("exports", FilesOptions(path=path, **options), tmp_path)
    return [frame.lazy().collect() for frame in connector.extract(None, None)]


def read_one(tmp_path: Path, path: str, **options: str) -> pl.DataFrame:
    [frame] = read(tmp_path, path, **options)
    return frame


def read_error(tmp_path: Path, path: str, **options: str) -> str:
    with pytest.raises(SourceError) as raised:
        read(tmp_path, path, **options)
    return str(raised.value)


def text_frame(columns: list[str], rows: list[tuple[str | None, ...]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String()), orient="row")


PROTOCOL = [RECORD_PROBLEM_COLUMN, RAW_RECORD_COLUMN]


# --- CSV -----------------------------------------------------------------------------------------


def test_a_short_and_a_long_row_are_bad_records_and_the_good_rows_are_intact(tmp_path: Path) -> None:
    (tmp_path / "revenue.csv").write_text(
        "id,name,amount,note\n"  # line 1
        "1,a,10,x\n"
        "2,b,20\n"  # line 3: 3 fields
        "3,c,30,y\n"
        "4,d,40,z,extra\n"  # line 5: 5 fields
        "5,e,50,w\n"
    )

    frame = read_one(tmp_path, "revenue.csv")

    expected = text_frame(
        ["id", "name", "amount", "note", *PROTOCOL],
        [
            ("1", "a", "10", "x", None, None),
            ("3", "c", "30", "y", None, None),
            ("5", "e", "50", "w", None, None),
            (None, None, None, None, "csv_fields: 3 fields where the header has 4 (line 3)", "2,b,20"),
            (
                None,
                None,
                None,
                None,
                "csv_fields: 5 fields where the header has 4 (line 5)",
                "4,d,40,z,extra",
            ),
        ],
    )
    assert_frame_equal(frame, expected)


def test_bad_record_lines_count_blank_lines_and_quoted_newlines(tmp_path: Path) -> None:
    # pyarrow numbers records; the connector reports the physical line the bad record starts on.
    (tmp_path / "notes.csv").write_text(
        'id,note\n1,"a\nb"\n\n2\n3,"x,y"\n'
        # line 1: header; lines 2-3: one record; line 4: blank; line 5: "2" (1 field); line 6: ok
    )

    frame = read_one(tmp_path, "notes.csv")

    expected = text_frame(
        ["id", "note", *PROTOCOL],
        [
            ("1", "a\nb", None, None),
            ("3", "x,y", None, None),
            (None, None, "csv_fields: 1 field where the header has 2 (line 5)", "2"),
        ],
    )
    assert_frame_equal(frame, expected)


def test_quoted_separators_and_newlines_are_values_and_empty_fields_stay_empty_text(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text(
        'id,name,segment,note\nc1,"Smith, Jane",,"first line\nsecond line"\nc2,"",  ,NULL\n'
    )

    frame = read_one(tmp_path, "customers.csv")

    # No bad record, so no protocol columns; nothing is null: null markers are the mapping's job.
    expected = text_frame(
        ["id", "name", "segment", "note"],
        [("c1", "Smith, Jane", "", "first line\nsecond line"), ("c2", "", "  ", "NULL")],
    )
    assert_frame_equal(frame, expected)


def test_windows_line_endings_are_not_part_of_values_or_raw_records(tmp_path: Path) -> None:
    (tmp_path / "revenue.csv").write_bytes(b"id,amount\r\n1,10\r\n2\r\n3,30\r\n")

    frame = read_one(tmp_path, "revenue.csv")

    expected = text_frame(
        ["id", "amount", *PROTOCOL],
        [
            ("1", "10", None, None),
            ("3", "30", None, None),
            (None, None, "csv_fields: 1 field where the header has 2 (line 3)", "2"),
        ],
    )
    assert_frame_equal(frame, expected)


def test_a_value_longer_than_a_read_block_is_read_whole(tmp_path: Path) -> None:
    note = "x" * 2_000_000  # pyarrow's default block is 1 MiB
    (tmp_path / "notes.csv").write_text(f'id,note\n1,"{note}"\n2,ok\n')

    frame = read_one(tmp_path, "notes.csv")

    assert_frame_equal(frame, text_frame(["id", "note"], [("1", note), ("2", "ok")]))


def test_a_semicolon_separated_file(tmp_path: Path) -> None:
    (tmp_path / "revenue.csv").write_text('id;amount;note\na;1,5;x\nb;2;"p;q"\nc;3\n')

    frame = read_one(tmp_path, "revenue.csv", separator=";")

    expected = text_frame(
        ["id", "amount", "note", *PROTOCOL],
        [
            ("a", "1,5", "x", None, None),
            ("b", "2", "p;q", None, None),
            (None, None, None, "csv_fields: 2 fields where the header has 3 (line 4)", "c;3"),
        ],
    )
    assert_frame_equal(frame, expected)


@pytest.mark.parametrize("content", ["id,amount\n", "id,amount", "\ufeffid,amount\r\n\r\n"])
def test_a_header_only_file_is_an_empty_frame_with_its_columns(tmp_path: Path, content: str) -> None:
    (tmp_path / "revenue.csv").write_text(content, newline="")

    frame = read_one(tmp_path, "revenue.csv")

    assert_frame_equal(frame, text_frame(["id", "amount"], []))


def test_invalid_utf8_names_the_source_the_file_the_column_and_the_line(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_bytes(b"id,name\nc1,Ann\nc2,Caf\xe9\n")

    message = read_error(tmp_path, "customers.csv")

    assert message == (
        f"source 'exports': file {str(tmp_path / 'customers.csv')!r} is not valid UTF-8 in column 'name', "
        f"line 3: value b'Caf\\xe9'; set options.encoding to utf8-lossy to replace undecodable bytes"
    )


# pyarrow cannot decode the bad row's text for the handler and reports it as unraisable; the read then
# fails and the connector names the undecodable value.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_invalid_utf8_in_a_bad_row_is_still_named_as_invalid_utf8(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_bytes(b"id,name\nc1,Ann,\xff\n")

    message = read_error(tmp_path, "customers.csv")

    assert "is not valid UTF-8 in field 3 of line 2 (beyond the header): value b'\\xff'" in message


def test_invalid_utf8_in_the_header_is_named(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_bytes(b"id,n\xe4me\nc1,Ann\n")

    message = read_error(tmp_path, "customers.csv")

    assert "is not valid UTF-8 in its header (line 1): column name b'n\\xe4me'" in message


def test_utf8_lossy_replaces_undecodable_bytes(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_bytes(b"id,name\nc1,Caf\xe9\nc2,\n")

    frame = read_one(tmp_path, "customers.csv", encoding="utf8-lossy")

    assert_frame_equal(frame, text_frame(["id", "name"], [("c1", "Caf\ufffd"), ("c2", "")]))


def test_a_header_with_duplicate_names_names_them(tmp_path: Path) -> None:
    (tmp_path / "revenue.csv").write_text("id,amount,id,note,note\n1,2,3,4,5\n")

    message = read_error(tmp_path, "revenue.csv")

    assert message == (
        f"source 'exports': file {str(tmp_path / 'revenue.csv')!r} names the columns 'id', 'note' more "
        f"than once in its header ['id', 'amount', 'id', 'note', 'note']: every column needs its own name"
    )


def test_an_empty_csv_file_is_still_an_error(tmp_path: Path) -> None:
    (tmp_path / "revenue.csv").write_text("")

    message = read_error(tmp_path, "revenue.csv")

    assert message == (
        f"source 'exports': file {str(tmp_path / 'revenue.csv')!r} is empty (no header, no rows): "
        f"expected a csv export; a day without data still has a header"
    )


def test_a_glob_of_two_csv_files_gives_one_frame_each_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "b.csv").write_text("id,amount\nb1,2\n")
    (tmp_path / "exports" / "a.csv").write_text("id,amount\na1,1\na2\n")

    first, second = read(tmp_path, "exports/*.csv")

    assert_frame_equal(
        first,
        text_frame(
            ["id", "amount", *PROTOCOL],
            [
                ("a1", "1", None, None),
                (None, None, "csv_fields: 1 field where the header has 2 (line 3)", "a2"),
            ],
        ),
    )
    assert_frame_equal(second, text_frame(["id", "amount"], [("b1", "2")]))


def test_the_separator_must_be_one_ascii_character() -> None:
    with pytest.raises(ValueError, match="separator '::' must be one ASCII character"):
        FilesOptions(path="a.csv", separator="::")


# --- NDJSON --------------------------------------------------------------------------------------


def test_ndjson_keeps_the_types_it_reads(tmp_path: Path) -> None:
    (tmp_path / "responses.ndjson").write_text(
        '{"id": "r1", "score": 10, "amount": 9.5, "ratio": 10}\n'
        "\n"
        '{"id": "r2", "score": 7, "amount": 10, "ratio": 0.25}\n'
    )

    frame = read_one(tmp_path, "responses.ndjson")

    expected = pl.DataFrame(
        {"id": ["r1", "r2"], "score": [10, 7], "amount": [9.5, 10.0], "ratio": [10.0, 0.25]},
        schema={"id": pl.String, "score": pl.Int64, "amount": pl.Float64, "ratio": pl.Float64},
    )
    assert_frame_equal(frame, expected)


def test_ndjson_lines_that_are_not_json_objects_are_bad_records(tmp_path: Path) -> None:
    (tmp_path / "responses.ndjson").write_text(
        '{"id": "r1", "n": 1}\n'  # line 1
        '{"id": "r2", "n": }\n'  # line 2: the value is missing at column 19
        "\n"  # line 3: blank, skipped
        "[1, 2]\n"  # line 4
        '{"id": "r5", "n": NaN}\n'  # line 5: NaN is not JSON
        '{"id": "r6", "n": 6}\n'
    )

    frame = read_one(tmp_path, "responses.ndjson")

    expected = pl.DataFrame(
        [
            ("r1", 1, None, None),
            ("r6", 6, None, None),
            (
                None,
                None,
                "ndjson_line: not valid JSON: Expecting value at column 19 (line 2)",
                '{"id": "r2", "n": }',
            ),
            (None, None, "ndjson_line: an array where a JSON object was expected (line 4)", "[1, 2]"),
            (None, None, "ndjson_line: not valid JSON: NaN is not JSON (line 5)", '{"id": "r5", "n": NaN}'),
        ],
        schema={
            "id": pl.String,
            "n": pl.Int64,
            RECORD_PROBLEM_COLUMN: pl.String,
            RAW_RECORD_COLUMN: pl.String,
        },
        orient="row",
    )
    assert_frame_equal(frame, expected)


def test_ndjson_values_polars_cannot_unify_name_the_source_the_file_and_the_value(tmp_path: Path) -> None:
    (tmp_path / "responses.ndjson").write_text('{"id": "r1", "n": 1}\n{"id": "r2", "n": {"x": 1}}\n')

    message = read_error(tmp_path, "responses.ndjson")

    assert message.startswith(
        f"source 'exports': file {str(tmp_path / 'responses.ndjson')!r} cannot be read as NDJSON: "
    )
    assert "found value of type UInt64: 1" in message


# --- Parquet -------------------------------------------------------------------------------------


def test_parquet_keeps_its_types(tmp_path: Path) -> None:
    source = pl.DataFrame({"id": ["a", "b"], "day": [date(2026, 1, 2), None], "total": [1.5, 2.0]})
    source.write_parquet(tmp_path / "revenue.parquet")

    assert_frame_equal(read_one(tmp_path, "revenue.parquet"), source)


def test_a_file_that_is_not_parquet_names_the_source_and_the_file(tmp_path: Path) -> None:
    (tmp_path / "revenue.parquet").write_text("id,total\na,1\n")

    message = read_error(tmp_path, "revenue.parquet")

    assert message.startswith(
        f"source 'exports': file {str(tmp_path / 'revenue.parquet')!r} cannot be read as Parquet: "
    )
