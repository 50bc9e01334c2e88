"""The whole pipeline through Dagster on demo data, into a temporary DuckDB file."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from kpi.runner import run_partitions
from tests.conftest import DEMO_END, demo_config_in, erp_rows
from tests.conftest import query as query_warehouse

FIRST = date(2026, 2, 27)
LAST = date(2026, 3, 2)


def query(config_path: Path, sql: str, *parameters: object) -> list[tuple]:
    """Query the run's DuckDB file, beside its config."""
    return query_warehouse(config_path.parent, sql, *parameters)


def kpi(config_path: Path, kpi_id: str, grain: str, period_start: date) -> tuple:
    rows = query(
        config_path,
        "SELECT value, numerator, denominator, period_end, is_complete, previous_value FROM kpi_values "
        "WHERE kpi_id = ? AND grain = ? AND period_start = ?",
        kpi_id,
        grain,
        period_start,
    )
    assert len(rows) == 1, f"{kpi_id} {grain} {period_start}: {len(rows)} rows"
    return rows[0]


def load(config_path: Path, instance: dg.DagsterInstance) -> Path:
    """FIRST .. LAST run into the config's warehouse: the config's path."""
    outcomes = run_partitions(config_path, FIRST, LAST, instance=instance)
    assert [outcome.success for outcome in outcomes] == [True] * 4, [outcome.error for outcome in outcomes]
    return config_path


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, demo_sources) -> Path:
    """The days loaded once, in a folder and instance of their own, for the tests that only read them."""
    directory = tmp_path_factory.mktemp("pipeline")
    with dg.DagsterInstance.ephemeral(tempdir=str(directory / "dagster_storage")) as instance:
        return load(demo_config_in(directory, demo_sources), instance)


@pytest.fixture
def loaded_here(demo_config_path: Path, instance) -> Path:
    """The days loaded into this test's own warehouse, on its `instance`: for the tests that run days
    again."""
    return load(demo_config_path, instance)


def test_entities_hold_exactly_the_source_rows_of_the_loaded_days(loaded: Path, demo_sources) -> None:
    source = erp_rows(
        demo_sources,
        "SELECT invoice_no, invoice_date, customer_ref, total FROM invoices WHERE invoice_date BETWEEN ? AND ? "
        "ORDER BY invoice_no",
        FIRST.isoformat(),
        LAST.isoformat(),
    )
    loaded_rows = query(
        loaded,
        "SELECT transaction_id, strftime(booked_on, '%Y-%m-%d'), customer_id, amount FROM revenue_transactions "
        "ORDER BY transaction_id",
    )
    assert loaded_rows == source
    customers_in_file = pl.read_csv(demo_sources.out_dir / "crm" / "customers.csv").height
    assert query(loaded, "SELECT count(*) FROM customers") == [(customers_in_file,)]
    assert query(loaded, "SELECT count(DISTINCT partition_date) FROM loaded_partitions") == [(4,)]


def test_loaded_partitions_counts_the_rows_each_dated_day_holds(loaded: Path, demo_sources) -> None:
    """row_count (docs/warehouse.md): a dated entity's rows on the day, counted again in its table and
    in the source database; 0 on the days kpi_values and key_results were computed for."""
    invoices = dict(
        erp_rows(
            demo_sources,
            "SELECT invoice_date, count(*) FROM invoices WHERE invoice_date BETWEEN ? AND ? GROUP BY 1",
            FIRST.isoformat(),
            LAST.isoformat(),
        )
    )
    recorded = query(
        loaded,
        "SELECT entity, partition_date, row_count FROM loaded_partitions ORDER BY entity, partition_date",
    )
    days = [FIRST + timedelta(days=offset) for offset in range((LAST - FIRST).days + 1)]
    revenue = [(day, count) for entity, day, count in recorded if entity == "revenue_transactions"]
    assert revenue == [(day, invoices.get(day.isoformat(), 0)) for day in days]
    for entity in ("revenue_transactions", "expenses", "survey_responses"):
        date_column = "responded_on" if entity == "survey_responses" else "booked_on"
        held = dict(query(loaded, f"SELECT {date_column}, count(*) FROM {entity} GROUP BY 1"))
        assert [(day, count) for name, day, count in recorded if name == entity] == [
            (day, held.get(day, 0)) for day in days
        ]
    assert [(day, count) for name, day, count in recorded if name in ("kpi_values", "key_results")] == [
        (day, 0) for day in days
    ] * 2


def test_revenue_and_profit_match_the_erp(loaded: Path, demo_sources) -> None:
    for day in (date(2026, 2, 27), date(2026, 3, 1)):
        (revenue,) = erp_rows(
            demo_sources,
            "SELECT coalesce(sum(total), 0) FROM invoices WHERE invoice_date = ?",
            day.isoformat(),
        )[0:1][0]
        (expenses,) = erp_rows(
            demo_sources, "SELECT sum(amount) FROM expense_lines WHERE posted_on = ?", day.isoformat()
        )[0]
        (cogs,) = erp_rows(
            demo_sources,
            "SELECT sum(amount) FROM expense_lines WHERE posted_on = ? AND account = 'COGS'",
            day.isoformat(),
        )[0]
        assert kpi(loaded, "revenue", "day", day)[0] == pytest.approx(revenue)
        assert kpi(loaded, "expenses", "day", day)[0] == pytest.approx(expenses)
        assert kpi(loaded, "gross_profit", "day", day)[0] == pytest.approx(revenue - cogs)
        assert kpi(loaded, "net_profit", "day", day)[0] == pytest.approx(revenue - expenses)
        margin = kpi(loaded, "net_profit_margin", "day", day)
        assert margin[0] == pytest.approx((revenue - expenses) / revenue) if revenue else margin[0] is None


def test_a_month_is_computed_over_its_loaded_days_and_to_date(loaded: Path, demo_sources) -> None:
    (february_loaded,) = erp_rows(
        demo_sources,
        "SELECT sum(total) FROM invoices WHERE invoice_date BETWEEN '2026-02-27' AND '2026-02-28'",
    )[0]
    value, _, _, period_end, is_complete, _ = kpi(loaded, "revenue", "month", date(2026, 2, 1))
    assert value == pytest.approx(february_loaded)
    # February has ended, but only 2 of its 28 days were loaded: its value covers them, not the month.
    assert (period_end, is_complete) == (date(2026, 2, 28), False)
    assert query(
        loaded,
        "SELECT days_covered FROM kpi_values WHERE kpi_id = 'revenue' AND grain = 'month' AND period_start = ?",
        date(2026, 2, 1),
    ) == [(2,)]
    (march_to_date,) = erp_rows(
        demo_sources,
        "SELECT sum(total) FROM invoices WHERE invoice_date BETWEEN '2026-03-01' AND '2026-03-02'",
    )[0]
    value, _, _, period_end, is_complete, previous = kpi(loaded, "revenue", "month", date(2026, 3, 1))
    assert value == pytest.approx(march_to_date)
    assert (period_end, is_complete) == (LAST, False)
    assert previous is None  # February's partial value is no comparison for March
    value, _, _, period_end, is_complete, _ = kpi(loaded, "revenue", "quarter", date(2026, 1, 1))
    assert value == pytest.approx(february_loaded + march_to_date)
    assert (period_end, is_complete) == (LAST, False)


def test_headcount_is_the_employees_employed_on_the_last_day(loaded: Path, demo_sources) -> None:
    employees = pl.read_csv(demo_sources.out_dir / "hr" / "employees.csv", try_parse_dates=True)
    for day in (FIRST, LAST):
        employed = employees.filter(
            (pl.col("hire_date") <= day)
            & (pl.col("termination_date").is_null() | (pl.col("termination_date") > day))
        ).height
        assert kpi(loaded, "headcount", "day", day)[0] == employed
    assert kpi(loaded, "headcount", "month", date(2026, 3, 1))[0] == kpi(loaded, "headcount", "day", LAST)[0]


def test_running_a_day_twice_leaves_one_copy(loaded_here: Path, instance) -> None:
    before = query(loaded_here, "SELECT count(*) FROM revenue_transactions")
    kpi_rows_before = query(
        loaded_here, "SELECT kpi_id, grain, period_start, round(value, 6) FROM kpi_values ORDER BY ALL"
    )
    outcomes = run_partitions(loaded_here, date(2026, 2, 28), date(2026, 2, 28), instance=instance)
    assert outcomes[0].success, outcomes[0].error
    assert query(loaded_here, "SELECT count(*) FROM revenue_transactions") == before
    assert (
        query(loaded_here, "SELECT kpi_id, grain, period_start, round(value, 6) FROM kpi_values ORDER BY ALL")
        == kpi_rows_before
    )
    duplicates = query(
        loaded_here,
        "SELECT kpi_id, grain, period_start FROM kpi_values GROUP BY ALL HAVING count(*) > 1",
    )
    assert duplicates == []


def test_rerunning_an_earlier_day_keeps_its_month_complete(loaded_here: Path, instance) -> None:
    outcomes = run_partitions(loaded_here, date(2026, 2, 27), date(2026, 2, 27), instance=instance)
    assert outcomes[0].success
    _, _, _, period_end, is_complete, _ = kpi(loaded_here, "revenue", "month", date(2026, 2, 1))
    # Still up to the 28th over both loaded days, not cut at the 27th (and not complete: 2 of 28 days).
    assert (period_end, is_complete) == (date(2026, 2, 28), False)
    assert query(
        loaded_here,
        "SELECT days_covered FROM kpi_values WHERE kpi_id = 'revenue' AND grain = 'month' AND period_start = ?",
        date(2026, 2, 1),
    ) == [(2,)]
    _, _, _, period_end, is_complete, _ = kpi(loaded_here, "revenue", "year", date(2026, 1, 1))
    assert (period_end, is_complete) == (LAST, False)


def test_kpi_run_command_exits_non_zero_when_a_partition_fails(
    demo_config_path: Path, dagster_home: Path
) -> None:
    kpi_command = Path(sys.executable).parent / "kpi"
    ok = subprocess.run(
        [kpi_command, "run", "--config", demo_config_path, "--from", str(DEMO_END), "--to", str(DEMO_END)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 succeeded, 0 failed" in ok.stdout
    # The day's line and the summary count the rows loaded: the dated entities' rows of the day, and
    # the snapshots (customers, employees) loaded whole.
    [(loaded_rows, snapshot_rows)] = query(
        demo_config_path,
        "SELECT (SELECT count(*) FROM revenue_transactions WHERE booked_on = $1) "
        "+ (SELECT count(*) FROM expenses WHERE booked_on = $1) "
        "+ (SELECT count(*) FROM survey_responses WHERE responded_on = $1), "
        "(SELECT count(*) FROM customers) + (SELECT count(*) FROM employees)",
        DEMO_END,
    )
    assert loaded_rows > 0 and snapshot_rows > 0
    loaded_rows += snapshot_rows
    assert f"{DEMO_END} ok {loaded_rows:,} rows" in ok.stdout
    assert f"1 day(s) in 1 run(s), {loaded_rows:,} rows loaded" in ok.stdout
    # The run shows in the persistent instance the UI opens.
    with dg.DagsterInstance.get() as instance:  # DAGSTER_HOME: the instance the UI opens
        runs = instance.get_runs()
    assert [(run.job_name, run.tags.get("dagster/partition")) for run in runs] == [
        ("kpi_pipeline", str(DEMO_END))
    ]
    # On a terminal, a progress bar: days done of the range, rows, time elapsed and left.
    on_terminal = subprocess.run(
        [kpi_command, "run", "--config", demo_config_path, "--from", str(DEMO_END), "--to", str(DEMO_END)],
        capture_output=True,
        text=True,
        env={**os.environ, "TTY_COMPATIBLE": "1", "NO_COLOR": "1"},
    )
    assert on_terminal.returncode == 0, on_terminal.stdout + on_terminal.stderr
    assert f"1/1 days, {loaded_rows:,} rows," in on_terminal.stdout
    assert "elapsed," in on_terminal.stdout and "left" in on_terminal.stdout

    broken = demo_config_path.read_text().replace("hire_date", "hired")
    broken_path = demo_config_path.with_name("broken.yaml")
    broken_path.write_text(broken)
    failed = subprocess.run(
        [kpi_command, "run", "--config", broken_path, "--from", str(DEMO_END), "--to", str(DEMO_END)],
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 1
    assert (
        "source 'hr_employees': column 'hired' (mapped to employees.hired_on) is not in the source"
        in failed.stdout
    )
    assert "0 succeeded, 1 failed" in failed.stdout


def test_key_results_as_of_each_day_and_the_bi_views(loaded: Path, demo_sources) -> None:
    # The demo's objectives run over 2026 Q1; only 2026-02-27 .. 2026-03-02 are loaded.
    as_of_days = query(loaded, "SELECT DISTINCT as_of FROM key_results ORDER BY as_of")
    assert [day for (day,) in as_of_days] == [date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1), LAST]
    (revenue_to_date,) = erp_rows(
        demo_sources,
        "SELECT sum(total) FROM invoices WHERE invoice_date BETWEEN '2026-02-27' AND '2026-03-01'",
    )[0]
    actual, expected, period = query(
        loaded,
        "SELECT actual, expected_progress, period_end FROM key_results "
        "WHERE key_result_id = 'kr-quarter-revenue' AND as_of = '2026-03-01'",
    )[0]
    assert actual == pytest.approx(revenue_to_date)
    assert expected == pytest.approx(60 / 90)  # 2026-01-01 .. 03-01 is day 60 of Q1's 90
    assert period == date(2026, 3, 31)
    scorecard = query(
        loaded, "SELECT key_result_id, as_of, objective_title, owner FROM okr_scorecard ORDER BY 1"
    )
    assert len(scorecard) == 8
    assert {row[1] for row in scorecard} == {LAST}
    assert ("kr-monthly-churn", LAST, "Keep customers happy and loyal", "VP Customer Success") in scorecard
    latest = query(
        loaded, "SELECT grain, period_start FROM kpi_latest WHERE kpi_id = 'revenue' ORDER BY grain"
    )
    assert latest == [
        ("day", LAST),
        ("month", date(2026, 3, 1)),
        ("quarter", date(2026, 1, 1)),
        ("week", LAST - timedelta(days=LAST.weekday())),  # the ISO week's Monday
        ("year", date(2026, 1, 1)),
    ]
    assert query(loaded, "SELECT count(*) FROM kpi_definitions") == [(19,)]
    assert query(loaded, "SELECT count(*) FROM objectives") == [(3,)]
