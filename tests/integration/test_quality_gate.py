"""The data-quality gate on a catalog of bad inputs, each through the real pipeline.

Every case first loads a good day, then breaks the source and runs the same day again: the run's
outcome, its message, the quarantine and dq_results rows, and the warehouse's values are asserted.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
import yaml

from kpi.config import load_config
from kpi.report import write_report
from kpi.runner import PartitionOutcome, open_warehouse, rows_loaded, run_partitions
from kpi.schema import quarantine
from tests.conftest import SERVERS, new_database, query, shop_config, write_config

DAY = date(2026, 3, 2)
GOOD_REVENUE = [  # transaction_id, booked_on, customer_id, amount
    (f"T{index:03d}", DAY.isoformat(), f"C{index % 4}", f"{100 + index}.50") for index in range(20)
]
GOOD_REVENUE_TOTAL = sum(100 + index + 0.5 for index in range(20))  # 2000 + 190 + 10 = 2200.0
HEADER = "id,day,customer,total"


def csv_text(rows: list[tuple]) -> str:
    return "".join(line + "\n" for line in [HEADER, *(",".join(row) for row in rows)])


def config(directory: Path) -> dict:
    return {
        "timezone": "UTC",
        "start_date": "2026-03-01",
        "warehouse": "duckdb:///warehouse.duckdb",
        "sources": [
            {
                "name": "shop",
                "connector": "files",
                "options": {"path": "exports/revenue.csv"},
                "entity": "revenue_transactions",
                "columns": {
                    "transaction_id": "id",
                    "booked_on": "day",
                    "customer_id": "customer",
                    "amount": "total",
                },
                "quality": {"min_rows_per_day": 1},
            },
            {
                "name": "ledger",
                "connector": "files",
                "options": {"path": "exports/expenses.csv"},
                "entity": "expenses",
                "columns": {"expense_id": "id", "booked_on": "day", "category": "kind", "amount": "cost"},
            },
            {
                "name": "surveys",
                "connector": "files",
                "options": {"path": "exports/surveys.csv"},
                "entity": "survey_responses",
                "columns": {
                    "response_id": "id",
                    "customer_id": "customer",
                    "responded_on": "day",
                    "survey": "survey",
                    "score": "score",
                },
            },
        ],
    }


def write_sources(directory: Path) -> None:
    exports = directory / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    (exports / "revenue.csv").write_text(csv_text(GOOD_REVENUE))
    (exports / "expenses.csv").write_text(
        "id,day,kind,cost\n"
        + "\n".join(f"E{i},{DAY},{'cogs' if i % 2 else 'operating'},{10 * (i + 1)}" for i in range(10))
        + "\n"
    )
    (exports / "surveys.csv").write_text(
        "id,customer,day,survey,score\n"
        + "\n".join(f"S{i},C{i},{DAY},{'nps' if i % 2 else 'csat'},{(i % 5) + 1}" for i in range(10))
        + "\n"
    )


@pytest.fixture(scope="module")
def good_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose warehouse holds one good day; each test works on a copy of it."""
    import dagster as dg

    directory = tmp_path_factory.mktemp("good_day")
    write_sources(directory)
    path = write_config(directory, config(directory))
    with dg.DagsterInstance.ephemeral() as instance:
        outcomes = run_partitions(path, DAY, DAY, instance=instance)
    assert outcomes[0].success, outcomes[0].error
    return directory


@pytest.fixture
def project(good_day: Path, tmp_path: Path) -> Path:
    shutil.copytree(good_day, tmp_path / "project")
    return tmp_path / "project"


def rerun(project: Path, instance) -> PartitionOutcome:
    return run_partitions(project / "kpi.yaml", DAY, DAY, instance=instance)[0]


def revenue_today(project: Path) -> float:
    return query(
        project,
        f"SELECT value FROM kpi_values WHERE kpi_id = 'revenue' AND grain = 'day' AND period_start = '{DAY}'",
    )[0][0]


def quarantined(project: Path, source: str = "shop") -> list[tuple[str, dict]]:
    rows = query(project, f"SELECT rule, raw_row FROM quarantine WHERE source = '{source}' ORDER BY raw_row")
    return [(rule, json.loads(raw)) for rule, raw in rows]


def assert_kept_previous_values(project: Path) -> None:
    assert revenue_today(project) == pytest.approx(GOOD_REVENUE_TOTAL)
    assert query(project, "SELECT count(*) FROM revenue_transactions") == [(20,)]


def break_revenue(project: Path, rows: list[tuple]) -> None:
    (project / "exports" / "revenue.csv").write_text(csv_text(rows))


def assert_failed_check(outcome: PartitionOutcome, *fragments: str) -> None:
    assert not outcome.success
    message = outcome.error or ""
    assert "check 'quality' on raw/shop partition 2026-03-02 failed" in message
    for fragment in fragments:
        assert fragment in message, message


def test_the_good_day_is_loaded_and_its_checks_recorded(project: Path) -> None:
    assert_kept_previous_values(project)
    checks = query(
        project, 'SELECT "check", asset, "partition", passed FROM dq_results ORDER BY asset, "check"'
    )
    assert checks == [
        ("unique_keys", "entity/expenses", "2026-03-02", True),
        ("unique_keys", "entity/revenue_transactions", "2026-03-02", True),
        ("unique_keys", "entity/survey_responses", "2026-03-02", True),
        ("kpi_values_suite", "kpi/kpi_values", "2026-03-02", True),
        ("key_results_suite", "okr/key_results", "2026-03-02", True),
        ("objective_progress_suite", "okr/key_results", "2026-03-02", True),
        ("quality", "raw/ledger", "2026-03-02", True),
        ("quality", "raw/shop", "2026-03-02", True),
        ("quality", "raw/surveys", "2026-03-02", True),
    ]
    assert quarantined(project) == []


def test_duplicate_keys_are_quarantined_and_stop_the_day(project: Path, instance) -> None:
    break_revenue(project, [*GOOD_REVENUE[:19], (GOOD_REVENUE[0][0], DAY.isoformat(), "C9", "5.00")])
    outcome = rerun(project, instance)
    duplicates = "duplicate keys: the source delivered 1 transaction_id value(s) more than once, e.g. T000"
    assert_failed_check(outcome, "2 of 20 rows quarantined (10.000%, threshold 1.000%)", duplicates)
    rules = quarantined(project)
    assert [raw["transaction_id"] for _, raw in rules] == ["T000", "T000"]
    assert all(rule == "duplicate_key:transaction_id" for rule, _ in rules)
    assert_kept_previous_values(project)
    assert query(
        project,
        "SELECT passed, observed FROM dq_results WHERE asset = 'raw/shop' ORDER BY checked_at DESC LIMIT 1",
    ) == [(False, f"2 of 20 rows quarantined (10.000%, threshold 1.000%); {duplicates}")]


def test_one_duplicate_key_fails_the_day_whatever_the_threshold(project: Path, instance) -> None:
    """Which copy of a key is right is not the pipeline's to guess: even at a 100% threshold, a key
    delivered twice by one source stops its day, naming the key."""
    data = yaml.safe_load((project / "kpi.yaml").read_text())
    data["sources"][0]["quality"]["quarantine_threshold"] = 1.0
    (project / "kpi.yaml").write_text(yaml.safe_dump(data))
    break_revenue(project, [*GOOD_REVENUE, (GOOD_REVENUE[5][0], DAY.isoformat(), "C5", "105.50")])
    outcome = rerun(project, instance)
    assert_failed_check(outcome, "2 of 21 rows quarantined", "more than once, e.g. T005")
    assert_kept_previous_values(project)


def test_null_keys(project: Path, instance) -> None:
    break_revenue(
        project,
        [*GOOD_REVENUE[:18], ("", DAY.isoformat(), "C1", "3.00"), ("", DAY.isoformat(), "C2", "4.00")],
    )
    outcome = rerun(project, instance)
    assert_failed_check(outcome, "expect_column_values_to_not_be_null(transaction_id)")
    assert [raw["transaction_id"] for _, raw in quarantined(project)] == [None, None]
    assert_kept_previous_values(project)


def assert_loaded_without_the_row_of_no_day(project: Path, outcome: PartitionOutcome) -> None:
    """The day's own 19 rows load; the 20th, which belongs to no day, waits in quarantine under a null
    partition, not counted against the day (0 of its 19 rows quarantined)."""
    assert outcome.success, outcome.error
    assert revenue_today(project) == pytest.approx(GOOD_REVENUE_TOTAL - 119.5)  # T019 was 100 + 19 + 0.5
    assert query(project, "SELECT count(*) FROM revenue_transactions") == [(19,)]
    assert query(project, 'SELECT "partition" FROM quarantine') == [(None,)]
    observed = query(
        project,
        "SELECT passed, observed FROM dq_results WHERE asset = 'raw/shop' ORDER BY checked_at DESC LIMIT 1",
    )
    assert observed == [
        (
            True,
            "0 of 19 rows quarantined (0.000%, threshold 1.000%); "
            "1 row(s) of the source belong to no day (quarantined once, partition null)",
        )
    ]


def test_unparseable_dates_belong_to_no_day(project: Path, instance) -> None:
    break_revenue(project, [*GOOD_REVENUE[:19], ("T999", "2026-13-45", "C1", "3.00")])
    outcome = rerun(project, instance)
    assert quarantined(project) == [
        (
            "type:booked_on",
            {"transaction_id": "T999", "booked_on": "2026-13-45", "customer_id": "C1", "amount": "3.00"},
        )
    ]
    assert_loaded_without_the_row_of_no_day(project, outcome)


def test_future_dates_are_quarantined_not_left_behind(project: Path, instance) -> None:
    break_revenue(project, [*GOOD_REVENUE[:19], ("T999", "2099-01-01", "C1", "3.00")])
    outcome = rerun(project, instance)
    assert [rule for rule, _ in quarantined(project)] == ["future_date:booked_on"]
    assert_loaded_without_the_row_of_no_day(project, outcome)


def test_most_rows_without_a_readable_date_fail_the_day(project: Path, instance) -> None:
    """A wrong date_format makes every day empty, not a few rows undated: more than half of the
    extract without a usable date fails the day, naming the column."""
    rows = [(id_, "02.03.2026", customer, amount) for id_, _, customer, amount in GOOD_REVENUE]
    break_revenue(project, rows[:15] + GOOD_REVENUE[15:])
    outcome = rerun(project, instance)
    assert_failed_check(
        outcome,
        "15 of the extract's 20 rows have no usable booked_on (more than 50%): check the source's date_format",
    )
    assert query(project, 'SELECT count(*) FROM quarantine WHERE "partition" IS NULL') == [(15,)]
    assert_kept_previous_values(project)


def test_a_negative_expense(project: Path, instance) -> None:
    expenses = project / "exports" / "expenses.csv"
    expenses.write_text(expenses.read_text().replace("E3,2026-03-02,cogs,40", "E3,2026-03-02,cogs,-40"))
    outcome = rerun(project, instance)
    assert not outcome.success
    assert "check 'quality' on raw/ledger partition 2026-03-02 failed" in (outcome.error or "")
    assert "expect_column_values_to_be_between(amount)" in (outcome.error or "")
    assert [raw["expense_id"] for _, raw in quarantined(project, "ledger")] == ["E3"]
    assert_kept_previous_values(project)


def test_a_survey_score_of_eleven(project: Path, instance) -> None:
    surveys = project / "exports" / "surveys.csv"
    surveys.write_text(surveys.read_text().replace("S1,C1,2026-03-02,nps,2", "S1,C1,2026-03-02,nps,11"))
    outcome = rerun(project, instance)
    assert 'expect_column_values_to_be_between(score, where survey=="nps")' in (outcome.error or "")
    [(rule, raw)] = quarantined(project, "surveys")
    assert raw["score"] == "11" and 'survey=="nps"' in rule
    assert_kept_previous_values(project)


def test_an_empty_file(project: Path, instance) -> None:
    (project / "exports" / "revenue.csv").write_text("")
    outcome = rerun(project, instance)
    assert not outcome.success
    assert "source 'shop': file" in (outcome.error or "") and "revenue.csv' is empty" in (outcome.error or "")
    assert_kept_previous_values(project)


def test_a_header_only_file_fails_the_minimum_row_count(project: Path, instance) -> None:
    break_revenue(project, [])
    outcome = rerun(project, instance)
    assert_failed_check(outcome, "min_rows_per_day(2026-03-02): observed 0 rows, expected at least 1")
    assert_kept_previous_values(project)


def test_a_truncated_csv(project: Path, instance) -> None:
    text = csv_text(GOOD_REVENUE)
    (project / "exports" / "revenue.csv").write_text(text[: text.rindex(",2026-03-02") + 8])  # cut mid-date
    outcome = rerun(project, instance)
    # The last line has 2 fields where the header has 4: a bad record, kept as its raw line, of no day.
    rows = query(project, "SELECT rule, raw_row FROM quarantine WHERE source = 'shop'")
    assert rows == [("csv_fields: 2 fields where the header has 4 (line 21)", "T019,2026-03")]
    assert_loaded_without_the_row_of_no_day(project, outcome)


def test_a_column_renamed_upstream(project: Path, instance) -> None:
    revenue = project / "exports" / "revenue.csv"
    revenue.write_text(revenue.read_text().replace(HEADER, "id,day,customer,gross_total"))
    outcome = rerun(project, instance)
    assert not outcome.success
    assert (
        "source 'shop': column 'total' (mapped to revenue_transactions.amount) is not in the source; "
        "it has: id, day, customer, gross_total"
    ) in (outcome.error or "")
    assert_kept_previous_values(project)


def test_text_where_a_number_was(project: Path, instance) -> None:
    break_revenue(project, [*GOOD_REVENUE[:19], ("T999", DAY.isoformat(), "C1", "twelve")])
    outcome = rerun(project, instance)
    assert_failed_check(outcome, "1 of 20 rows quarantined")
    assert [(rule, raw["amount"]) for rule, raw in quarantined(project)] == [("type:amount", "twelve")]
    assert_kept_previous_values(project)


def test_an_all_null_day(project: Path, instance) -> None:
    break_revenue(project, [("", DAY.isoformat(), "", "")] * 5)
    outcome = rerun(project, instance)
    assert_failed_check(outcome, "5 of 5 rows quarantined (100.000%")
    assert len(quarantined(project)) == 5
    assert_kept_previous_values(project)


def test_three_bad_rows_in_a_hundred_thousand_are_quarantined_and_the_day_loads(
    project: Path, instance
) -> None:
    amounts = [float(index % 1000) for index in range(100_000)]
    frame = pl.DataFrame(
        {
            "id": [f"B{index:06d}" for index in range(100_000)],
            "day": [DAY.isoformat()] * 100_000,
            "customer": [f"C{index % 500}" for index in range(100_000)],
            "total": [f"{amount:.2f}" for amount in amounts],
        }
    )
    bad = {7: ("id", ""), 50_000: ("total", "n/a"), 99_999: ("day", "2026-02-30")}
    for index, (column, value) in bad.items():
        frame[index, column] = value
    frame.write_csv(project / "exports" / "revenue.csv")
    outcome = rerun(project, instance)
    assert outcome.success, outcome.error
    # n/a is a null marker the source did not declare; 02-30 is no day
    assert sorted(rule for rule, _ in quarantined(project)) == [
        "expect_column_values_to_not_be_null(transaction_id)",
        "null_marker:amount",
        "type:booked_on",
    ]
    good_total = sum(amounts) - amounts[7] - amounts[50_000] - amounts[99_999]
    assert revenue_today(project) == pytest.approx(good_total)
    assert query(project, "SELECT count(*) FROM revenue_transactions") == [(99_997,)]
    assert query(
        project,
        "SELECT passed, observed FROM dq_results WHERE asset = 'raw/shop' ORDER BY checked_at DESC LIMIT 1",
    ) == [
        (
            True,
            "2 of 99999 rows quarantined (0.002%, threshold 1.000%); "
            "1 row(s) of the source belong to no day (quarantined once, partition null)",
        )
    ]


def declare_columns(project: Path, columns: dict[str, str], path: str | None = None) -> None:
    data = yaml.safe_load((project / "kpi.yaml").read_text())
    data["sources"][0]["source_columns"] = columns
    if path:
        data["sources"][0]["options"]["path"] = path
    (project / "kpi.yaml").write_text(yaml.safe_dump(data))


def test_a_new_column_upstream_is_schema_drift_when_columns_are_declared(project: Path, instance) -> None:
    declare_columns(project, {"id": "text", "day": "date", "customer": "text", "total": "float"})
    assert rerun(project, instance).success  # the declared columns match the export
    revenue = project / "exports" / "revenue.csv"
    revenue.write_text(
        "\n".join(
            line + (",discount" if index == 0 else ",0")
            for index, line in enumerate(revenue.read_text().splitlines())
        )
        + "\n"
    )
    outcome = rerun(project, instance)
    assert not outcome.success
    assert "source 'shop': schema drift: column 'discount' is new (not in source_columns)" in (
        outcome.error or ""
    )
    assert_kept_previous_values(project)


def test_a_changed_type_in_a_typed_export(project: Path, instance) -> None:
    frame = pl.read_csv(project / "exports" / "revenue.csv", try_parse_dates=True)
    frame.write_parquet(project / "exports" / "revenue.parquet")
    declare_columns(
        project,
        {"id": "text", "day": "date", "customer": "text", "total": "float"},
        "exports/revenue.parquet",
    )
    assert rerun(project, instance).success
    frame.with_columns(pl.col("total").cast(pl.String())).write_parquet(
        project / "exports" / "revenue.parquet"
    )
    outcome = rerun(project, instance)
    assert not outcome.success
    assert "source 'shop': schema drift: column 'total' is text, expected float" in (outcome.error or "")
    assert_kept_previous_values(project)


def test_a_source_tunes_its_own_expectations_in_config(project: Path, instance) -> None:
    data = yaml.safe_load((project / "kpi.yaml").read_text())
    data["sources"][0]["quality"]["expectations"] = [
        {"type": "expect_column_values_to_be_between", "column": "amount", "min_value": 0, "max_value": 115}
    ]
    data["sources"][0]["quality"]["quarantine_threshold"] = 0.5
    (project / "kpi.yaml").write_text(yaml.safe_dump(data))
    outcome = rerun(project, instance)
    assert outcome.success, outcome.error  # 5 of 20 rows (115.50 .. 119.50) above 115: 25% <= 50%
    assert sorted(raw["transaction_id"] for _, raw in quarantined(project)) == [
        "T015",
        "T016",
        "T017",
        "T018",
        "T019",
    ]
    assert revenue_today(project) == pytest.approx(sum(100 + index + 0.5 for index in range(15)))


def test_a_transaction_moved_to_another_day_upstream_is_not_counted_twice(project: Path, instance) -> None:
    moved = ("T000", "2026-03-03", "C0", "100.50")
    break_revenue(project, [moved, *GOOD_REVENUE[1:]])
    outcome = run_partitions(project / "kpi.yaml", date(2026, 3, 3), date(2026, 3, 3), instance=instance)[0]
    assert outcome.success, outcome.error
    assert query(project, "SELECT booked_on FROM revenue_transactions WHERE transaction_id = 'T000'") == [
        (date(2026, 3, 3),)
    ]
    assert query(project, "SELECT count(*) FROM revenue_transactions") == [(20,)]
    # March so far is both days, each transaction once.
    march = query(project, "SELECT value FROM kpi_values WHERE kpi_id = 'revenue' AND grain = 'month'")
    assert march == [(pytest.approx(GOOD_REVENUE_TOTAL),)]


def test_with_snapshot_sources_only_rerunning_an_earlier_day_keeps_the_month_complete(
    tmp_path: Path, instance
) -> None:
    (tmp_path / "staff.csv").write_text(
        "id,hired,left,team\nE1,2025-01-01,,ops\nE2,2025-06-01,2026-02-20,ops\n"
    )
    config = {
        "start_date": "2026-02-01",
        "warehouse": "duckdb:///warehouse.duckdb",
        "sources": [
            {
                "name": "hr",
                "connector": "files",
                "options": {"path": "staff.csv"},
                "entity": "employees",
                "columns": {
                    "employee_id": "id",
                    "hired_on": "hired",
                    "terminated_on": "left",
                    "department": "team",
                },
            }
        ],
    }
    config["objectives"] = [
        {
            "id": "team",
            "title": "Keep the team",
            "owner": "hr",
            "start": "2026-02-01",
            "end": "2026-02-28",
            "key_results": [
                {"id": "kr-headcount", "description": "d", "kpi_id": "headcount", "baseline": 0, "target": 2}
            ],
        }
    ]
    path = write_config(tmp_path, config)
    for day in (date(2026, 2, 28), date(2026, 2, 10)):
        [outcome] = run_partitions(path, day, day, instance=instance)
        assert outcome.success and outcome.snapshot_rows == {"employees": 2}  # loaded whole each run
    february = query(
        tmp_path,
        "SELECT value, period_end, days_covered, is_complete FROM kpi_values "
        "WHERE kpi_id = 'headcount' AND grain = 'month'",
    )
    # E2 left on 02-20. A KPI over snapshots only covers the days its runs covered: 2 of 28.
    assert february == [(1.0, date(2026, 2, 28), 2, False)]
    # A new snapshot where E2 never left changes 02-28 (recorded in loaded_partitions for employees);
    # the report's days loaded are still none: the config loads no dated entity.
    (tmp_path / "staff.csv").write_text("id,hired,left,team\nE1,2025-01-01,,ops\nE2,2025-06-01,,ops\n")
    assert run_partitions(path, date(2026, 2, 28), date(2026, 2, 28), instance=instance)[0].success
    assert query(tmp_path, "SELECT partition_date FROM loaded_partitions WHERE entity = 'employees'") == [
        (date(2026, 2, 28),)
    ]
    loaded_config = load_config(path)
    warehouse = open_warehouse(loaded_config)
    try:
        page = write_report(warehouse, tmp_path / "report", loaded_config.loaded_dated_entities).read_text()
    finally:
        warehouse.dispose()
    assert "days loaded: none (the config loads snapshots only); KPIs computed for 2 of 19 days." in page
    # Two days' runs load the snapshot twice; the range loaded its two rows (what `kpi run` prints).
    outcomes = run_partitions(path, date(2026, 2, 11), date(2026, 2, 12), instance=instance)
    assert [outcome.rows_loaded for outcome in outcomes] == [2, 2]
    assert rows_loaded(outcomes) == 2


@pytest.mark.parametrize("kind", ["duckdb", *SERVERS])
def test_a_text_no_warehouse_holds_as_it_is_is_quarantined_on_every_warehouse(
    kind: str, tmp_path: Path, instance
) -> None:
    """Text columns hold 255 characters (docs/warehouse.md), and PostgreSQL no NUL character: the
    server refused such a value with a database error that failed the day and named no source or row,
    DuckDB kept it. Now the row is quarantined (too_long:<column>, nul_character:<column>), whole, on
    each, and the rest of the day loads."""
    long_customer = "C-" + "x" * 254  # 256 characters; 255 still fit, of 2 bytes each in UTF-8 too
    rows = [f"T{index},2026-01-02,C{index},{index}.5" for index in range(398)]
    rows += [
        f"T398,2026-01-02,{'é' * 255},1",
        f"T399,2026-01-02,{long_customer},7",
        "T400,2026-01-02,C\x00D,3",
        "T401,2026-01-02,C\x00E,3,extra",  # a bad record (5 fields), its raw line holding a NUL
    ]
    with contextlib.ExitStack() as stack:
        url = "duckdb:///warehouse.duckdb" if kind == "duckdb" else stack.enter_context(new_database(kind))
        path = shop_config(tmp_path, rows, url)
        [outcome] = run_partitions(path, date(2026, 1, 2), date(2026, 1, 2), instance=instance)
        assert outcome.success, outcome.error
        assert outcome.quarantined == 2 and outcome.undated == 1 and outcome.rows == 399
        engine = sa.create_engine(url if kind != "duckdb" else f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
        try:
            with engine.connect() as connection:
                of_no_day = quarantine.c.partition.is_(None)  # (a reserved word in MariaDB: quoted)
                quarantined = connection.execute(
                    sa.select(quarantine.c.rule, quarantine.c.raw_row)
                    .where(~of_no_day)
                    .order_by(quarantine.c.rule)
                ).all()
                [(bad_rule, bad_line)] = connection.execute(
                    sa.select(quarantine.c.rule, quarantine.c.raw_row).where(of_no_day)
                ).all()
                [(held,)] = connection.exec_driver_sql(
                    "SELECT customer_id FROM revenue_transactions WHERE transaction_id = 'T398'"
                ).all()
        finally:
            engine.dispose()
    assert [(rule, json.loads(raw_row)["customer_id"]) for rule, raw_row in quarantined] == [
        ("nul_character:customer_id", "C\x00D"),
        ("too_long:customer_id", long_customer),
    ]
    assert held == "é" * 255
    # (a bad record's raw line keeps its NUL as JSON writes it, \u0000: PostgreSQL's text holds none)
    assert bad_rule.startswith("csv_fields") and bad_line == "T401,2026-01-02,C\\u0000E,3,extra"
