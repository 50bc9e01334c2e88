"""The demo source generator: deterministic, consistent across its files, and shaped like a real company."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from kpi.demo_sources import DemoSummary, generate_demo_sources, main

# The window 2025-10-28 .. 2026-01-10 crosses a year end: it holds Dec 25, Jan 1 and four calendar months.
END = date(2026, 1, 10)
DAYS = 75
FIRST = END - timedelta(days=DAYS - 1)
IPD = 30
WINDOW_MONTHS = ["2025-10", "2025-11", "2025-12", "2026-01"]
_CUSTOMER_COLUMNS = ["customer_ref", "created_on", "closed_on", "tier"]
_EMPLOYEE_COLUMNS = ["emp_no", "hire_date", "termination_date", "department", "termination_reason"]
_RESPONSE_SCHEMA = {
    "response_id": pl.String(),
    "customer_ref": pl.String(),
    "answered_at": pl.String(),
    "survey_type": pl.String(),
    "score": pl.Int64(),
    "file": pl.String(),
}


def _generate(out_dir: Path, **overrides) -> DemoSummary:
    arguments = {"end_date": END, "days": DAYS, "seed": 7, "invoices_per_day": IPD} | overrides
    return generate_demo_sources(out_dir, **arguments)


def _files(out_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out_dir)): p.read_bytes() for p in sorted(out_dir.rglob("*")) if p.is_file()}


def _table(out_dir: Path, sql: str, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    connection = sqlite3.connect(out_dir / "erp.sqlite")
    try:
        rows = connection.execute(sql).fetchall()
    finally:
        connection.close()
    return pl.DataFrame(rows, schema=schema, orient="row")


def _invoices(out_dir: Path) -> pl.DataFrame:
    schema = {
        "invoice_no": pl.String(),
        "invoice_date": pl.String(),
        "customer_ref": pl.String(),
        "total": pl.Float64(),
        "doc_type": pl.String(),
    }
    frame = _table(
        out_dir, "SELECT invoice_no, invoice_date, customer_ref, total, doc_type FROM invoices", schema
    )
    return frame.with_columns(day=pl.col("invoice_date").str.to_date("%Y-%m-%d"))


def _expenses(out_dir: Path) -> pl.DataFrame:
    schema = {
        "line_id": pl.String(),
        "posted_on": pl.String(),
        "account": pl.String(),
        "amount": pl.Float64(),
    }
    frame = _table(out_dir, "SELECT line_id, posted_on, account, amount FROM expense_lines", schema)
    return frame.with_columns(day=pl.col("posted_on").str.to_date("%Y-%m-%d"))


def _customers(out_dir: Path) -> pl.DataFrame:
    return pl.read_csv(
        out_dir / "crm" / "customers.csv", schema=dict.fromkeys(_CUSTOMER_COLUMNS, pl.String())
    ).with_columns(pl.col("created_on", "closed_on").str.to_date("%Y-%m-%d"))


def _employees(out_dir: Path) -> pl.DataFrame:
    return pl.read_csv(
        out_dir / "hr" / "employees.csv", schema=dict.fromkeys(_EMPLOYEE_COLUMNS, pl.String())
    ).with_columns(pl.col("hire_date", "termination_date").str.to_date("%Y-%m-%d"))


def _responses(out_dir: Path) -> pl.DataFrame:
    rows = []
    for path in sorted((out_dir / "crm" / "surveys").glob("responses-*.ndjson")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            rows.append(record | {"file": path.name})
    return pl.DataFrame(rows, schema=_RESPONSE_SCHEMA, orient="row").with_columns(
        day=pl.col("answered_at").str.slice(0, 10).str.to_date("%Y-%m-%d"),
        hour=pl.col("answered_at").str.slice(11, 2).cast(pl.Int32),
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary]:
    out_dir = tmp_path_factory.mktemp("demo")
    return out_dir, _generate(out_dir)


def test_summary_reports_the_window_and_the_rows_in_the_files(demo: tuple[Path, DemoSummary]) -> None:
    out_dir, summary = demo
    assert summary.out_dir == out_dir
    assert (summary.first_day, summary.last_day) == (FIRST, END)
    assert summary.row_counts == {
        "invoices": _invoices(out_dir).height,
        "expense_lines": _expenses(out_dir).height,
        "customers": _customers(out_dir).height,
        "survey_responses": _responses(out_dir).height,
        "employees": _employees(out_dir).height,
    }
    assert all(count > 0 for count in summary.row_counts.values())
    assert sorted(_files(out_dir)) == [
        "crm/customers.csv",
        *(f"crm/surveys/responses-{month}.ndjson" for month in WINDOW_MONTHS),
        "erp.sqlite",
        "hr/employees.csv",
    ]


def test_file_headers_and_sqlite_schema(demo: tuple[Path, DemoSummary]) -> None:
    out_dir, _ = demo
    assert (out_dir / "crm" / "customers.csv").read_text().splitlines()[0] == ",".join(_CUSTOMER_COLUMNS)
    assert (out_dir / "hr" / "employees.csv").read_text().splitlines()[0] == ",".join(_EMPLOYEE_COLUMNS)
    first_line = (out_dir / "crm" / "surveys" / "responses-2025-11.ndjson").read_text().splitlines()[0]
    assert list(json.loads(first_line)) == [
        "response_id",
        "customer_ref",
        "answered_at",
        "survey_type",
        "score",
    ]

    connection = sqlite3.connect(out_dir / "erp.sqlite")
    try:
        columns = {
            table: [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
            for table in ("invoices", "expense_lines")
        }
        indexed = {
            (table, row[2])
            for table in ("invoices", "expense_lines")
            for (index,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,)
            )
            for row in connection.execute(f"PRAGMA index_info({index})")
        }
        typeof = connection.execute("SELECT DISTINCT typeof(total) FROM invoices").fetchall()
    finally:
        connection.close()
    assert columns == {
        "invoices": ["invoice_no", "invoice_date", "customer_ref", "total", "doc_type"],
        "expense_lines": ["line_id", "posted_on", "account", "amount"],
    }
    assert {("invoices", "invoice_date"), ("expense_lines", "posted_on")} <= indexed
    assert {("invoices", "invoice_no"), ("expense_lines", "line_id")} <= indexed  # primary keys
    assert typeof == [("real",)]


def test_same_arguments_give_byte_identical_files(tmp_path: Path, demo: tuple[Path, DemoSummary]) -> None:
    out_dir, _ = demo
    again = _generate(tmp_path / "again")
    assert _files(tmp_path / "again") == _files(out_dir)
    assert again.row_counts == demo[1].row_counts


def test_another_seed_gives_different_data(tmp_path: Path, demo: tuple[Path, DemoSummary]) -> None:
    out_dir, _ = demo
    _generate(tmp_path / "other", seed=8)
    original, other = _files(out_dir), _files(tmp_path / "other")
    assert sorted(original) == sorted(other)
    assert all(original[name] != other[name] for name in original)


def test_rerun_replaces_its_files_and_keeps_others(tmp_path: Path) -> None:
    _generate(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "erp.sqlite-journal").write_bytes(b"stale")
    summary = _generate(tmp_path, days=5)  # 2026-01-06 .. 2026-01-10: only January is left
    assert sorted(p.name for p in (tmp_path / "crm" / "surveys").iterdir()) == ["responses-2026-01.ndjson"]
    assert not (tmp_path / "erp.sqlite-journal").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert summary.row_counts["invoices"] == _invoices(tmp_path).height
    assert summary.row_counts["survey_responses"] == _responses(tmp_path).height
    assert _invoices(tmp_path)["day"].min() >= date(2026, 1, 6)


def test_dated_rows_are_inside_the_window(demo: tuple[Path, DemoSummary]) -> None:
    out_dir, _ = demo
    invoices, expenses, responses = _invoices(out_dir), _expenses(out_dir), _responses(out_dir)
    for frame in (invoices, expenses, responses):
        assert frame["day"].min() >= FIRST
        assert frame["day"].max() <= END
    # Expense lines every single day, Sundays included; invoices on most days.
    assert expenses["day"].n_unique() == DAYS
    assert invoices["day"].n_unique() > DAYS * 0.8
    # Each monthly survey file holds exactly that month's responses.
    expected_file = pl.format("responses-{}.ndjson", pl.col("answered_at").str.slice(0, 7))
    assert responses.select((pl.col("file") == expected_file).all()).item()


def test_no_invoices_on_sundays_or_holidays_and_saturdays_are_quiet(demo: tuple[Path, DemoSummary]) -> None:
    invoices = _invoices(demo[0])
    weekdays = invoices["day"].dt.weekday()  # Monday 1 .. Sunday 7
    assert (weekdays != 7).all()
    assert not invoices["day"].is_in([date(2025, 12, 25), date(2026, 1, 1)]).any()
    per_weekday = invoices.group_by(weekdays.alias("weekday")).agg(pl.len()).sort("weekday")["len"].to_list()
    assert len(per_weekday) == 6
    assert per_weekday[5] < 0.75 * min(per_weekday[:5])  # Saturday


def test_invoice_signs_ids_and_shares(demo: tuple[Path, DemoSummary]) -> None:
    invoices = _invoices(demo[0])
    assert set(invoices["doc_type"].unique()) == {"invoice", "credit_note"}
    credit = invoices.filter(pl.col("doc_type") == "credit_note")
    sales = invoices.filter(pl.col("doc_type") == "invoice")
    assert (credit["total"] < 0).all()
    assert (sales["total"] > 0).all()
    assert credit["customer_ref"].null_count() == 0
    assert 0.02 < credit.height / invoices.height < 0.07
    assert 0.01 < invoices["customer_ref"].null_count() / invoices.height < 0.06
    assert invoices["invoice_no"].is_unique().all()
    assert invoices["invoice_no"].str.contains(r"^INV-\d{7}$").all()
    assert invoices["invoice_date"].str.contains(r"^\d{4}-\d{2}-\d{2}$").all()
    assert sales["total"].max() > 5 * sales["total"].median()  # lognormal: a long right tail


def test_every_customer_reference_is_a_customer_active_that_day(demo: tuple[Path, DemoSummary]) -> None:
    out_dir, _ = demo
    customers = _customers(out_dir)
    for frame in (_invoices(out_dir).drop_nulls("customer_ref"), _responses(out_dir)):
        joined = frame.join(customers, on="customer_ref", how="left")
        assert joined["created_on"].null_count() == 0, "unknown customer"
        assert (joined["created_on"] <= joined["day"]).all()
        assert joined.select(
            (pl.col("closed_on").is_null() | (pl.col("closed_on") > pl.col("day"))).all()
        ).item()


def test_customer_lifecycles(demo: tuple[Path, DemoSummary]) -> None:
    customers = _customers(demo[0])
    assert customers["customer_ref"].is_unique().all()
    assert set(customers["tier"].unique()) == {"SMB", "Mid-Market", "Enterprise"}
    assert 0.5 * IPD * 20 < customers.height < 2 * IPD * 20
    closed = customers.drop_nulls("closed_on")
    assert (closed["closed_on"] > closed["created_on"]).all()
    assert closed["closed_on"].max() <= END
    assert customers["created_on"].max() <= END
    assert customers["created_on"].min() >= FIRST - timedelta(days=3 * 366)
    assert customers["created_on"].min() < FIRST - timedelta(days=365)  # a history before the window
    assert closed["closed_on"].min() < FIRST  # some churned before the window
    active_on_first = customers.filter(
        (pl.col("created_on") <= FIRST) & (pl.col("closed_on").is_null() | (pl.col("closed_on") > FIRST))
    )
    assert active_on_first.height > 0.3 * customers.height
    churned_in_window = closed.filter(pl.col("closed_on") >= FIRST).height
    monthly_churn = churned_in_window / active_on_first.height / (DAYS / 30.44)
    assert 0.005 < monthly_churn < 0.08
    same_month = closed.filter(
        (pl.col("created_on") >= FIRST)
        & (pl.col("created_on").dt.month_start() == pl.col("closed_on").dt.month_start())
    )
    assert same_month.height >= 1


def test_employee_lifecycles(demo: tuple[Path, DemoSummary]) -> None:
    employees = _employees(demo[0])
    assert employees["emp_no"].is_unique().all()
    assert set(employees["department"].unique()) <= {
        "Engineering",
        "Sales",
        "Support",
        "Finance",
        "Operations",
    }
    employed = employees.filter(pl.col("termination_date").is_null())
    gone = employees.filter(pl.col("termination_date").is_not_null())
    assert employed["termination_reason"].null_count() == employed.height
    assert gone["termination_reason"].null_count() == 0
    assert set(gone["termination_reason"].unique()) <= {"Resigned", "Dismissed", "Laid off"}
    assert (gone["termination_reason"] == "Resigned").mean() > 0.5
    assert (gone["termination_date"] > gone["hire_date"]).all()
    assert gone["termination_date"].max() <= END
    assert employees["hire_date"].max() <= END
    assert employees["hire_date"].min() >= FIRST - timedelta(days=3 * 366)

    def headcount(on: date) -> int:
        return employees.filter(
            (pl.col("hire_date") <= on)
            & (pl.col("termination_date").is_null() | (pl.col("termination_date") > on))
        ).height

    assert headcount(FIRST) == max(15, IPD // 2)
    assert headcount(FIRST) <= headcount(END) <= headcount(FIRST) * 1.2
    same_month = gone.filter(
        (pl.col("hire_date") >= FIRST)
        & (pl.col("hire_date").dt.month_start() == pl.col("termination_date").dt.month_start())
    )
    assert same_month.height >= 1


def test_survey_responses(demo: tuple[Path, DemoSummary]) -> None:
    responses = _responses(demo[0])
    assert responses["response_id"].is_unique().all()
    assert responses["answered_at"].str.contains(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$").all()
    assert set(responses["survey_type"].unique()) == {"CSAT", "NPS"}
    csat = responses.filter(pl.col("survey_type") == "CSAT")["score"]
    nps = responses.filter(pl.col("survey_type") == "NPS")["score"]
    assert csat.min() >= 1 and csat.max() <= 5
    assert nps.min() >= 0 and nps.max() <= 10
    assert set(csat.unique()) == {1, 2, 3, 4, 5}  # the whole scale is used
    assert nps.min() <= 1 and nps.max() == 10
    assert csat.mean() > 3.5  # skewed positive ...
    assert (nps <= 6).sum() > 0 and (csat <= 2).sum() > 0  # ... with detractors
    assert (responses["hour"] >= 22).sum() > 0  # late in the UTC evening
    assert 0.5 * IPD / 5 < responses.height / DAYS < 2 * IPD / 5


def test_profit_is_positive_but_thin(demo: tuple[Path, DemoSummary]) -> None:
    out_dir, _ = demo
    revenue = _invoices(out_dir)["total"].sum()
    by_account = dict(_expenses(out_dir).group_by("account").agg(pl.col("amount").sum()).iter_rows())
    assert set(by_account) == {"COGS", "OPEX", "INTEREST", "TAX", "OTHER"}
    assert (_expenses(out_dir)["amount"] > 0).all()
    assert 0.40 <= by_account["COGS"] / revenue <= 0.50
    assert by_account["OPEX"] > by_account["COGS"] * 0.9
    assert 0.0 < (revenue - sum(by_account.values())) / revenue < 0.15


def test_doubling_invoices_per_day_roughly_doubles_invoices(tmp_path: Path) -> None:
    single = _generate(tmp_path / "single", invoices_per_day=20, days=60).row_counts
    double = _generate(tmp_path / "double", invoices_per_day=40, days=60).row_counts
    assert 1.7 < double["invoices"] / single["invoices"] < 2.3
    assert 1.7 < double["customers"] / single["customers"] < 2.3
    assert 1.7 < double["survey_responses"] / single["survey_responses"] < 2.3


@pytest.mark.parametrize("bad", [{"days": 0}, {"invoices_per_day": 0}])
def test_rejects_empty_windows_and_volumes(tmp_path: Path, bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        _generate(tmp_path, **bad)


def test_command_line_prints_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--out", str(tmp_path), "--end-date", "2026-03-31", "--days", "10", "--seed", "3"]
    summary = main([*argv, "--invoices-per-day", "12"])
    printed = capsys.readouterr().out
    assert (summary.first_day, summary.last_day) == (date(2026, 3, 22), date(2026, 3, 31))
    assert "2026-03-22" in printed and "2026-03-31" in printed
    assert f"invoices: {summary.row_counts['invoices']:,}" in printed


@pytest.mark.parametrize("zone", ["Etc/GMT-14", "Etc/GMT+12"])  # UTC+14 and UTC-12: one is a day off
def test_the_demo_ends_yesterday_in_utc_whatever_the_machine_s_time_zone(zone: str) -> None:
    """Partitions are UTC days: a demo ending on the local yesterday would end on a day not over yet
    (ahead of UTC) or leave one out (behind it)."""
    code = "from kpi.demo import default_end_date; print(default_end_date())"
    for _ in range(2):  # (once more if UTC midnight passed between the two readings)
        before = datetime.now(UTC).date()
        done = subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "TZ": zone}, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        if datetime.now(UTC).date() == before:
            break
    assert date.fromisoformat(done.stdout.strip()) == before - timedelta(days=1)
