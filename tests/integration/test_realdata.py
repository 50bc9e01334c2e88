"""The pipeline on public data sets nobody here wrote (../shared/realdata), checked against their
published figures and an independent reading of the CSVs. Skipped, with the reason, where absent."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from kpi.runner import run_partitions
from tests.conftest import query, unavailable, write_config

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata"
HR = REALDATA / "hrdataset_v14" / "HRDataset_v14.csv"
SUPERSTORE = REALDATA / "superstore" / "Sample - Superstore.csv"


@pytest.fixture(autouse=True)
def public_data_sets() -> None:
    if not REALDATA.is_dir():
        unavailable(f"the public data sets are not at {REALDATA}")


def kpi(directory: Path, kpi_id: str, grain: str, period_start: date) -> float | None:
    rows = query(
        directory,
        f"SELECT value FROM kpi_values WHERE kpi_id = '{kpi_id}' AND grain = '{grain}' AND period_start = '{period_start}'",
    )
    return rows[0][0]


def test_hr_dataset_headcount_and_leavers_match_the_published_figures(tmp_path: Path, instance) -> None:
    config = {
        "start_date": "2018-12-01",
        "warehouse": "duckdb:///warehouse.duckdb",
        "sources": [
            {
                "name": "hr",
                "connector": "files",
                "options": {"path": str(HR)},
                "entity": "employees",
                "date_format": "%m/%d/%Y",
                "columns": {
                    "employee_id": "EmpID",
                    "hired_on": "DateofHire",
                    "terminated_on": "DateofTermination",
                    "department": "Department",
                    "termination_type": "CASE EmploymentStatus WHEN 'Voluntarily Terminated' THEN 'voluntary' "
                    "WHEN 'Terminated for Cause' THEN 'involuntary' END",
                },
            }
        ],
    }
    path = write_config(tmp_path, config)
    outcomes = run_partitions(path, date(2018, 12, 31), date(2018, 12, 31), instance=instance)
    assert outcomes[0].success, outcomes[0].error
    # Published: 311 employees, 207 still active at the end of the data, 104 terminated (88 voluntary,
    # 16 for cause); every date in the file is before 2018-12-31.
    assert query(tmp_path, "SELECT count(*) FROM employees") == [(311,)]
    assert kpi(tmp_path, "headcount", "day", date(2018, 12, 31)) == 207
    assert query(tmp_path, "SELECT termination_type, count(*) FROM employees GROUP BY ALL ORDER BY ALL") == [
        ("involuntary", 16),
        ("voluntary", 88),
        (None, 207),
    ]
    # 2018's leavers and hires, read from the CSV independently of the pipeline.
    hr = pl.read_csv(HR, infer_schema=False).with_columns(
        pl.col("DateofHire", "DateofTermination").str.strip_chars().str.to_date("%m/%d/%Y")
    )
    in_2018 = pl.col("DateofTermination").dt.year() == 2018
    assert kpi(tmp_path, "terminations", "year", date(2018, 1, 1)) == hr.filter(in_2018).height
    assert (
        kpi(tmp_path, "hires", "year", date(2018, 1, 1))
        == hr.filter(pl.col("DateofHire").dt.year() == 2018).height
    )
    start_2018 = hr.filter(
        (pl.col("DateofHire") <= date(2017, 12, 31))
        & (pl.col("DateofTermination").is_null() | (pl.col("DateofTermination") > date(2017, 12, 31)))
    ).height
    assert kpi(tmp_path, "employee_turnover_rate", "year", date(2018, 1, 1)) == pytest.approx(
        hr.filter(in_2018).height / ((start_2018 + 207) / 2)
    )


def superstore_config(**source_settings) -> dict:
    return {
        "start_date": "2019-12-01",
        "warehouse": "duckdb:///warehouse.duckdb",
        "sources": [
            {
                "name": "superstore",
                "connector": "files",
                "options": {"path": str(SUPERSTORE), "encoding": "utf8-lossy"},
                "entity": "revenue_transactions",
                "date_format": "%m/%d/%Y",
                "columns": {
                    "transaction_id": "Row ID",
                    "booked_on": "Order Date",
                    "customer_id": "Customer ID",
                    "amount": "Sales",
                },
                **source_settings,
            }
        ],
    }


def test_superstore_revenue_per_day_matches_the_order_lines(tmp_path: Path, instance) -> None:
    # Sales like 52.776 have three decimals: the source says its `.` is a decimal point, not thousands.
    path = write_config(tmp_path, superstore_config(decimal_separator="."))
    first, last = date(2019, 12, 28), date(2019, 12, 30)
    outcomes = run_partitions(path, first, last, instance=instance)
    assert all(outcome.success for outcome in outcomes), [outcome.error for outcome in outcomes]
    lines = pl.read_csv(SUPERSTORE, infer_schema=False, encoding="utf8-lossy").with_columns(
        pl.col("Order Date").str.to_date("%m/%d/%Y"), pl.col("Sales").cast(pl.Float64)
    )
    for day in (first, last):
        expected = lines.filter(pl.col("Order Date") == day)
        assert kpi(tmp_path, "revenue", "day", day) == pytest.approx(expected["Sales"].sum())
        assert kpi(tmp_path, "active_customers", "day", day) == expected["Customer ID"].n_unique()
    loaded = lines.filter(pl.col("Order Date").is_between(first, last))
    assert kpi(tmp_path, "revenue", "month", date(2019, 12, 1)) == pytest.approx(loaded["Sales"].sum())
    assert query(tmp_path, "SELECT count(*) FROM quarantine") == [(0,)]


def test_superstore_sales_with_three_decimals_are_not_guessed_without_separators(
    tmp_path: Path, instance
) -> None:
    """`52.776` is 52.776 in the US and 52776 in much of Europe: without the source's separators, those
    values are quarantined (type:amount), never read one way silently; the day then fails its gate."""
    path = write_config(tmp_path, superstore_config())
    day = date(2019, 12, 28)
    [outcome] = run_partitions(path, day, day, instance=instance)
    lines = pl.read_csv(SUPERSTORE, infer_schema=False, encoding="utf8-lossy").filter(
        pl.col("Order Date").str.to_date("%m/%d/%Y") == day
    )
    ambiguous = lines.filter(pl.col("Sales").str.contains(r"^[1-9]\d{0,2}\.\d{3}$"))
    assert 0 < ambiguous.height < lines.height
    assert not outcome.success
    assert f"{ambiguous.height} of {lines.height} rows quarantined" in (outcome.error or "")
    rows = query(tmp_path, "SELECT rule, count(*) FROM quarantine GROUP BY rule")
    assert rows == [("type:amount", ambiguous.height)]
