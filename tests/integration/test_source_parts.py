"""A files source is read file by file, and a file unchanged since it was read, without a row of the
window's days, is skipped (assets/sources/parts.py): a nightly run reads this month's file, not the
history's. Real files, real modification times."""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

import polars as pl

from assets.sources.assets import extract_source, gate_source_rows
from connectors import ExtractWindow
from kpi.config import load_config
from tests.conftest import write_config

HEADER = "id,day,customer,total\n"


def company(directory: Path, customer_column: str = "customer") -> Path:
    return write_config(
        directory,
        {
            "start_date": "2026-01-01",
            "warehouse": "duckdb:///warehouse.duckdb",
            "sources": [
                {
                    "name": "shop",
                    "connector": "files",
                    "options": {"path": "sales/*.csv"},
                    "entity": "revenue_transactions",
                    "columns": {
                        "transaction_id": "id",
                        "booked_on": "day",
                        "customer_id": customer_column,
                        "amount": "total",
                    },
                }
            ],
        },
    )


def write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(line + "\n" for line in lines))


def extract(config_path: Path, day: date, today: date = date(2026, 2, 28)):
    """The source's rows of `day`, run on `today` (a row dated after it is of no day yet)."""
    config = load_config(config_path)
    mapped = extract_source(config, config.sources[0], ExtractWindow(day, day), not_after=today)
    assert mapped.record_parts is not None
    mapped.record_parts()  # as the raw asset does once the rows of no day are quarantined
    return mapped


def test_unchanged_files_without_the_window_s_days_are_skipped(tmp_path: Path) -> None:
    config = company(tmp_path)
    january, february = tmp_path / "sales" / "2026-01.csv", tmp_path / "sales" / "2026-02.csv"
    write(
        january,
        [
            "j1,2026-01-05,c1,10.00",
            "j2,2026-01-20,c2,20.00",
            "j3,not a date,c3,30.00",  # of no day: quarantined
            "j4,2026-03-01,c4,40.00",  # dated after the runs' today until March
        ],
    )
    write(february, ["f1,2026-02-10,c1,5.00", "f2,2026-02-11,c5,6.00"])

    # First read: both files, nothing known of them yet.
    first = extract(config, date(2026, 2, 10))
    assert first.complete and first.note is None
    assert first.rows["transaction_id"].to_list() == ["f1"]
    assert sorted(first.undated["raw_row"].str.contains("j3|j4").to_list()) == [True, True]

    # The next day: January is unchanged and holds no row of 02-11: skipped, and said so.
    second = extract(config, date(2026, 2, 11))
    assert second.rows["transaction_id"].to_list() == ["f2"]
    assert not second.complete and second.note is not None and "read 1 of 2 parts" in second.note
    assert second.undated.is_empty() and second.undated_replaced is not None
    assert second.undated_replaced.is_empty()  # January's rows of no day stay quarantined as they were

    # Skipped means not read: a change that keeps the size and the modification time goes unseen ...
    stamp = january.stat()
    january.write_text(january.read_text().replace("j2,2026-01-20", "j2,2026-02-11"))
    os.utime(january, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert extract(config, date(2026, 2, 11)).rows["transaction_id"].to_list() == ["f2"]
    # ... and one that moves the modification time is read: the row moved to 02-11 comes with it, and
    # the rows of no day found before in January are replaced by those found now.
    os.utime(january, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))
    moved = extract(config, date(2026, 2, 11))
    assert sorted(moved.rows["transaction_id"].to_list()) == ["f2", "j2"]
    assert moved.complete  # every part read
    assert sorted(moved.undated["raw_row"].str.contains("j3|j4").to_list()) == [True, True]

    # A file unchanged whose row was of a day after today then: read when that day comes.
    march = extract(config, date(2026, 3, 1), today=date(2026, 3, 1))
    assert march.rows["transaction_id"].to_list() == ["j4"]
    assert not march.complete and "read 1 of 2 parts" in (march.note or "")
    assert march.undated_replaced is not None
    assert sorted(march.undated_replaced.str.contains("j3|j4").to_list()) == [True, True]


def test_a_new_mapping_reads_every_file_again(tmp_path: Path) -> None:
    write(tmp_path / "sales" / "2026-01.csv", ["j1,2026-01-05,c1,10.00"])
    write(tmp_path / "sales" / "2026-02.csv", ["f1,2026-02-10,c1,5.00"])
    extract(company(tmp_path), date(2026, 2, 10))
    assert not extract(company(tmp_path), date(2026, 2, 10)).complete
    remapped = extract(company(tmp_path, customer_column="upper(customer)"), date(2026, 2, 10))
    assert remapped.complete
    assert remapped.rows.select("transaction_id", "customer_id").rows() == [("f1", "C1")]


def test_a_record_that_cannot_be_read_reads_every_file(tmp_path: Path) -> None:
    write(tmp_path / "sales" / "2026-01.csv", ["j1,2026-01-05,c1,10.00"])
    write(tmp_path / "sales" / "2026-02.csv", ["f1,2026-02-10,c1,5.00"])
    config = company(tmp_path)
    extract(config, date(2026, 2, 10))
    record = tmp_path / ".kpi_storage" / "sources" / "shop.json"
    record.write_text("{not json")
    again = extract(config, date(2026, 2, 10))
    assert again.complete and again.rows["transaction_id"].to_list() == ["f1"]
    assert pl.read_json(record).columns == ["mapping", "parts"]


def verdict(config_path: Path, day: date) -> tuple[bool, list[tuple[str | None, str]], list[str]]:
    """The gate's verdict on `day` (passed; the quarantined rows' keys and rules; the kept keys)."""
    config = load_config(config_path)
    window = ExtractWindow(day, day)
    mapped = extract(config_path, day)
    gate = gate_source_rows(config, config.sources[0], mapped, window)
    quarantined = sorted(
        (row.get("transaction_id"), rule)
        for row, rule in zip(
            (json.loads(raw) for raw in gate.quarantined["raw_row"]), gate.quarantined["rule"], strict=True
        )
    )
    return gate.passed, quarantined, sorted(gate.kept["transaction_id"].to_list())


def test_a_skipping_read_gets_the_verdict_of_a_whole_read(tmp_path: Path) -> None:
    # January: twenty dated rows and key K; February: K again (a duplicate across files), one dated
    # row and three of no usable date (three of 26 rows: under the share that fails a day).
    january = [f"j{n},2026-01-{n:02d},c{n},1.00" for n in range(1, 21)] + ["K,2026-01-05,c1,9.00"]
    february = ["K,2026-02-20,c2,9.00", "f1,2026-02-01,c3,5.00", "u1,someday,c4,1.00", "u2,,c5,1.00"]
    february.append("u3,2026-13-45,c6,1.00")  # three of February's five rows: over half of the file
    whole, skipping = tmp_path / "whole", tmp_path / "skipping"
    for directory in (whole, skipping):
        write(directory / "sales" / "2026-01.csv", january)
    skipping_config = company(skipping)
    extract(skipping_config, date(2026, 1, 10))  # January read once and recorded
    for directory in (whole, skipping):
        write(directory / "sales" / "2026-02.csv", february)
    for day in (date(2026, 2, 1), date(2026, 2, 20)):
        (whole / ".kpi_storage").exists() and shutil.rmtree(whole / ".kpi_storage")  # always a whole read
        expected = verdict(company(whole), day)
        actual = verdict(skipping_config, day)
        assert "read 1 of 2 parts" in (extract(skipping_config, day).note or "")
        assert actual == expected, day
    # the duplicate K is caught across the files: 02-20 fails (not loaded as a move from 01-05); 02-01
    # passes with its three rows of no day quarantined
    passed, _, kept = verdict(skipping_config, date(2026, 2, 20))
    assert not passed and kept == []
    passed, quarantined, kept = verdict(skipping_config, date(2026, 2, 1))
    assert passed and kept == ["f1"] and [key for key, _ in quarantined] == ["u1", "u2", "u3"]


def test_the_rows_of_no_day_of_a_file_gone_are_replaced(tmp_path: Path) -> None:
    config = company(tmp_path)
    write(tmp_path / "sales" / "2025-12.csv", ["d1,2025-12-30,c1,1.00", "d2,not a date,c2,2.00"])
    write(tmp_path / "sales" / "2026-01.csv", ["j1,2026-01-05,c1,10.00"])
    write(tmp_path / "sales" / "2026-02.csv", ["f1,2026-02-10,c1,5.00"])
    extract(config, date(2026, 2, 10))
    (tmp_path / "sales" / "2025-12.csv").unlink()
    os.utime(tmp_path / "sales" / "2026-02.csv", ns=(0, 1_000_000_000))  # February changed, read again
    mapped = extract(config, date(2026, 2, 10))
    assert not mapped.complete and mapped.undated_replaced is not None
    assert [json.loads(row)["transaction_id"] for row in mapped.undated_replaced.to_list()] == ["d2"]
