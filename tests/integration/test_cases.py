"""The small inputs of ../shared/cases (real sources' habits), and more of each kind, through the real
pipeline: each case's right outcome from the cases' README and DESIGN.md, with the values worked out by
hand beside each assertion.

The case folders are read-only: each is copied to a temporary folder first. Without the folder (or
without the local MariaDB / PostgreSQL a test needs) the test is skipped, and fails when CI=true.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa
import yaml

from kpi.runner import PartitionOutcome, run_partitions
from tests.conftest import POSTGRES, new_database, query, unavailable, write_config

CASES = Path(__file__).resolve().parents[3] / "shared" / "cases"
IGNORED_COLUMNS = {"computed_at", "run_id", "quarantined_at", "loaded_at", "checked_at"}
ENTITY_TABLES = ["revenue_transactions", "expenses", "customers", "survey_responses", "employees"]
D = date  # short dates in the hand arithmetic below


# ---------------------------------------------------------------------------------------------------
# Reading the warehouse


def kpi_row(
    directory: Path,
    kpi_id: str,
    grain: str,
    start: date,
    columns: str = "value",
    database: str = "warehouse.duckdb",
) -> tuple | None:
    """The KPI's total row for (grain, period_start), the given columns; None when it is not published."""
    rows = query(
        directory,
        f"SELECT {columns} FROM kpi_values WHERE kpi_id = '{kpi_id}' AND grain = '{grain}' "
        f"AND period_start = '{start}'",
        database=database,
    )
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def value(directory: Path, kpi_id: str, grain: str, start: date, database: str = "warehouse.duckdb"):
    row = kpi_row(directory, kpi_id, grain, start, database=database)
    assert row is not None, f"{kpi_id} {grain} {start} is not published"
    return row[0]


def quarantined(directory: Path, database: str = "warehouse.duckdb") -> list[tuple[str, str, str | None]]:
    """(rule, raw_row, partition) of every quarantined row."""
    return query(
        directory, 'SELECT rule, raw_row, "partition" FROM quarantine ORDER BY raw_row', database=database
    )


def raw_values(raw_row: str) -> set[str]:
    """The values of a quarantined raw row: a JSON object's values, or a raw CSV line's fields."""
    try:
        parsed = json.loads(raw_row)
    except json.JSONDecodeError:
        return set(raw_row.split(","))
    if isinstance(parsed, dict):
        return {str(item) for item in parsed.values() if item is not None}
    return {raw_row}


def row_id(raw_row: str, pattern: str) -> str:
    """The one value of a quarantined row matching `pattern` (its key)."""
    [key] = [item for item in raw_values(raw_row) if re.fullmatch(pattern, item)]
    return key


# ---------------------------------------------------------------------------------------------------
# Running


def copy_folder(source: Path, target: Path) -> Path:
    """Copy a (read-only) folder to a writable one."""
    for path in sorted(source.rglob("*")):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
    target.mkdir(parents=True, exist_ok=True)
    return target


def edit_config(path: Path, change: Callable[[dict], None], new_path: Path | None = None) -> Path:
    data = yaml.safe_load(path.read_text())
    change(data)
    target = new_path or path
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def run(
    config: Path, first: date, last: date | None = None, instance=None, single_run: bool = False
) -> list[PartitionOutcome]:
    if instance is not None:
        return run_partitions(config, first, last or first, instance=instance, single_run=single_run)
    with dg.DagsterInstance.ephemeral() as ephemeral:
        return run_partitions(config, first, last or first, instance=ephemeral, single_run=single_run)


def succeeded(outcomes: list[PartitionOutcome]) -> None:
    assert all(outcome.success for outcome in outcomes), [
        (outcome.partition, outcome.error) for outcome in outcomes if not outcome.success
    ]


@dataclass
class Played:
    """A case played through: its folder, every run's outcomes, and what its last run was."""

    directory: Path
    config: Path
    steps: list[list[PartitionOutcome]]
    last_run: tuple[date, date, bool]
    """(first, last, single_run) of the last run: the idempotency test repeats it on a copy."""
    before_last: Callable[[Path], None] = lambda directory: None
    """Sets the copied sources up as they were for the last run (nothing to do for most cases)."""
    notes: dict[str, object] = field(default_factory=dict)
    """Warehouse readings taken between the runs."""


def play(directory: Path, config: Path, runs: list[tuple[date, date, bool]]) -> Played:
    steps = [run(config, first, last, single_run=single) for first, last, single in runs]
    return Played(directory, config, steps, runs[-1])


def run_sql_script(url: str, script: str) -> None:
    """Each statement of `script` on one connection (a session setting holds for the rest)."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            text = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
            for statement in text.split(";"):
                if statement.strip():
                    connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


class Cases:
    """The README's cases, each played once per session (the case tests read it, the idempotency test
    repeats its last run on a copy)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.played: dict[str, Played] = {}
        self.databases = ExitStack()  # the databases the cases made, dropped when the module is done

    def copy(self, case: str, name: str) -> Path:
        if not CASES.is_dir():
            unavailable(f"the cases are not at {CASES}")
        return copy_folder(CASES / case, self.base / name)

    def get(self, name: str) -> Played:
        if name not in self.played:
            self.played[name] = getattr(self, "play_" + name.replace("-", "_").replace("/", "__"))()
        return self.played[name]

    def play_fractional_scores(self) -> Played:
        directory = self.copy("fractional-scores", "fractional-scores")
        return play(directory, directory / "kpi.yaml", [(D(2026, 1, 5), D(2026, 1, 5), False)])

    def _null_markers(self, name: str, config: str, day: date, with_markers: bool) -> Played:
        directory = self.copy("null-markers", name)

        def change(data: dict) -> None:
            if with_markers:
                data["sources"][0]["null_values"] = ["", "NULL", "N/A", "\\N"]

        path = edit_config(directory / config, change)
        return play(directory, path, [(day, day, False)])

    def play_null_markers__with(self) -> Played:
        return self._null_markers("null-markers-with", "kpi.yaml", D(2026, 1, 5), True)

    def play_null_markers__without(self) -> Played:
        return self._null_markers("null-markers-without", "kpi.yaml", D(2026, 1, 5), False)

    def play_null_markers__customers_with(self) -> Played:
        return self._null_markers("null-markers-customers-with", "kpi_customers.yaml", D(2026, 1, 31), True)

    def play_null_markers__customers_without(self) -> Played:
        return self._null_markers(
            "null-markers-customers-without", "kpi_customers.yaml", D(2026, 1, 31), False
        )

    def play_sql_text_dates(self) -> Played:
        directory = self.copy("sql-text-dates", "sql-text-dates")
        return play(directory, directory / "kpi.yaml", [(D(2026, 1, 5), D(2026, 1, 5), False)])

    def play_mysql_zero_dates(self) -> Played:
        directory = self.copy("mysql-zero-dates", "mysql-zero-dates")
        url = self.databases.enter_context(new_database("mariadb"))
        database = url.rsplit("/", 1)[1]
        script = (directory / "setup.sql").read_text().replace("legacy_crm", database)
        run_sql_script(url, script)
        path = edit_config(
            directory / "kpi.yaml",
            lambda data: data["sources"][0]["options"].update(
                url=data["sources"][0]["options"]["url"].replace("legacy_crm", database)
            ),
        )
        return play(directory, path, [(D(2026, 1, 31), D(2026, 1, 31), False)])

    def play_restated_row(self) -> Played:
        directory = self.copy("restated-row", "restated-row")
        config = directory / "kpi.yaml"
        (directory / "export").mkdir()
        shutil.copyfile(directory / "invoices_v1.csv", directory / "export" / "invoices.csv")
        first = run(config, D(2026, 1, 31), D(2026, 2, 1))
        notes = {
            "january": value(directory, "revenue", "month", D(2026, 1, 1)),
            "february": value(directory, "revenue", "month", D(2026, 2, 1)),
        }
        shutil.copyfile(directory / "invoices_v2.csv", directory / "export" / "invoices.csv")
        second = run(config, D(2026, 2, 1))
        return Played(directory, config, [first, second], (D(2026, 2, 1), D(2026, 2, 1), False), notes=notes)

    def play_same_keys_two_sources(self) -> Played:
        directory = self.copy("same-keys-two-sources", "same-keys-two-sources")
        config = directory / "kpi.yaml"
        first = run(config, D(2026, 1, 5), D(2026, 1, 6))
        notes = {"january": kpi_row(directory, "revenue", "month", D(2026, 1, 1))}
        second = run(config, D(2026, 1, 5))
        return Played(directory, config, [first, second], (D(2026, 1, 5), D(2026, 1, 5), False), notes=notes)

    def play_month_with_failed_day(self) -> Played:
        directory = self.copy("month-with-failed-day", "month-with-failed-day")
        return play(
            directory,
            directory / "kpi.yaml",
            [
                (D(2026, 1, 1), D(2026, 1, 9), True),
                (D(2026, 1, 11), D(2026, 1, 31), True),
                (D(2026, 1, 10), D(2026, 1, 10), False),
            ],
        )

    def play_undated_row(self) -> Played:
        directory = self.copy("undated-row", "undated-row")
        played = play(directory, directory / "kpi.yaml", [(D(2026, 1, 5), D(2026, 1, 14), False)])
        played.last_run = (D(2026, 1, 14), D(2026, 1, 14), False)  # one run a day: the last is 01-14
        return played


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cases]:
    played = Cases(tmp_path_factory.mktemp("cases"))
    try:
        yield played
    finally:
        from kpi.warehouse import dispose_all

        dispose_all()
        played.databases.close()


# ---------------------------------------------------------------------------------------------------
# The README's cases


def test_fractional_scores_are_quarantined_not_truncated(cases: Cases) -> None:
    played = cases.get("fractional-scores")
    [outcome] = played.steps[0]
    directory = played.directory
    # r2 9.5, r3 6.5, r4 8.9 (nps) and r5 3.5 (csat) lose their fraction as integers; r1 10 and r6 5
    # (read as 10.0 and 5.0 next to the fractions) convert without loss. 4 of 6 rows: the day fails.
    assert not outcome.success
    assert "4 of 6 rows quarantined" in (outcome.error or ""), outcome.error
    rules = {row_id(raw, r"r\d"): (rule, partition) for rule, raw, partition in quarantined(directory)}
    assert rules == {response: ("type:score", "2026-01-05") for response in ("r2", "r3", "r4", "r5")}
    # Nothing of the day is published: not the truncated nps of 25 (9, 6, 8 -> (1 - 1) ... of today).
    assert query(directory, "SELECT count(*) FROM survey_responses") == [(0,)]
    assert kpi_row(directory, "nps", "day", D(2026, 1, 5)) is None
    assert kpi_row(directory, "csat", "day", D(2026, 1, 5)) is None


def test_null_markers_declared_on_the_source_mean_null(cases: Cases) -> None:
    played = cases.get("null-markers/with")
    directory = played.directory
    succeeded(played.steps[0])
    # Receipts 20 + 30 + 15 + 12 + 8 + 5 = 90; R-3..R-6 are anonymous: customers C-01 and C-02 only.
    assert value(directory, "revenue", "day", D(2026, 1, 5)) == pytest.approx(90.0)
    assert value(directory, "active_customers", "day", D(2026, 1, 5)) == 2
    assert value(directory, "average_revenue_per_customer", "day", D(2026, 1, 5)) == pytest.approx(45.0)
    assert query(
        directory, "SELECT transaction_id, customer_id FROM revenue_transactions ORDER BY transaction_id"
    ) == [("R-1", "C-01"), ("R-2", "C-02"), ("R-3", None), ("R-4", None), ("R-5", None), ("R-6", None)]
    assert quarantined(directory) == []


def test_undeclared_null_markers_are_quarantined_not_customers(cases: Cases) -> None:
    played = cases.get("null-markers/without")
    directory = played.directory
    [outcome] = played.steps[0]
    # Without null_values only the empty string is null: NULL, N/A and \N are
    # quarantined as null markers, 3 of 6 rows: the day fails and active_customers is not 2 + 3 = 5.
    assert not outcome.success
    rules = {row_id(raw, r"R-\d"): rule for rule, raw, _ in quarantined(directory)}
    assert sorted(rules) == ["R-3", "R-4", "R-6"]
    assert all(rule.startswith("null_marker:") for rule in rules.values()), rules
    assert kpi_row(directory, "active_customers", "day", D(2026, 1, 5)) is None
    assert query(directory, "SELECT count(*) FROM revenue_transactions") == [(0,)]


def test_null_markers_in_a_date_column_with_null_values(cases: Cases) -> None:
    played = cases.get("null-markers/customers-with")
    directory = played.directory
    succeeded(played.steps[0])
    database = "warehouse_customers.duckdb"
    assert query(
        directory, "SELECT customer_id, churned_on FROM customers ORDER BY customer_id", database=database
    ) == [("C-01", None), ("C-02", D(2026, 1, 20)), ("C-03", None), ("C-04", None)]
    # January: active on 12-31: C-01, C-02, C-03 (S = 3); C-04 signs up on 01-10 (new 1); C-02 churns
    # on 01-20 (churned 1); retained: C-01, C-03: 2 / 3; churn 1 / 3.
    january = D(2026, 1, 1)
    assert value(directory, "new_customers", "month", january, database) == 1
    assert value(directory, "churned_customers", "month", january, database) == 1
    assert value(directory, "customer_retention_rate", "month", january, database) == pytest.approx(2 / 3)
    assert value(directory, "customer_churn_rate", "month", january, database) == pytest.approx(1 / 3)


def test_null_markers_in_a_date_column_without_null_values(cases: Cases) -> None:
    played = cases.get("null-markers/customers-without")
    directory = played.directory
    [outcome] = played.steps[0]
    database = "warehouse_customers.duckdb"
    # NULL (C-01), \N (C-03), N/A (C-04) in closed_on: null markers not declared, 3 of 4 rows.
    assert not outcome.success
    rules = {row_id(raw, r"C-\d\d"): rule for rule, raw, _ in quarantined(directory, database)}
    assert sorted(rules) == ["C-01", "C-03", "C-04"]
    assert all(rule.startswith("null_marker:") for rule in rules.values()), rules
    assert query(directory, "SELECT count(*) FROM customers", database=database) == [(0,)]


def test_sql_text_dates_are_not_compared_as_text_at_the_source(cases: Cases) -> None:
    played = cases.get("sql-text-dates")
    directory = played.directory
    succeeded(played.steps[0])
    # 01/05/2026: INV-1002 250.0 + INV-1003 120.5 + INV-1004 -20.5 = 350.0, customers C-01..C-03;
    # INV-1001 (01/04) and INV-1005 (01/06) are other days.
    assert value(directory, "revenue", "day", D(2026, 1, 5)) == pytest.approx(350.0)
    assert value(directory, "active_customers", "day", D(2026, 1, 5)) == 3
    assert query(directory, "SELECT transaction_id FROM revenue_transactions ORDER BY 1") == [
        ("INV-1002",),
        ("INV-1003",),
        ("INV-1004",),
    ]


def test_mysql_zero_dates_are_null_or_one_named_error(cases: Cases) -> None:
    played = cases.get("mysql-zero-dates")
    directory = played.directory
    [outcome] = played.steps[0]
    if not outcome.success:
        # The other right outcome: one error naming the source, the column and the value.
        message = outcome.error or ""
        assert "crm_customers" in message and "closed_on" in message and "0000-00-00" in message, message
        assert "Traceback" not in message
        return
    assert query(directory, "SELECT customer_id, churned_on FROM customers ORDER BY 1") == [
        ("C-1", None),
        ("C-2", D(2026, 1, 20)),
        ("C-3", None),
        ("C-4", None),
    ]
    # January: S = C-1, C-2, C-4 (active on 12-31); new: C-3 (01-10); churned: C-2 (01-20);
    # retained C-1, C-4: 2 / 3; churn 1 / 3.
    january = D(2026, 1, 1)
    assert value(directory, "new_customers", "month", january) == 1
    assert value(directory, "churned_customers", "month", january) == 1
    assert value(directory, "customer_retention_rate", "month", january) == pytest.approx(2 / 3)
    assert value(directory, "customer_churn_rate", "month", january) == pytest.approx(1 / 3)


def test_a_restated_row_recomputes_its_old_month(cases: Cases) -> None:
    played = cases.get("restated-row")
    directory = played.directory
    for step in played.steps:
        succeeded(step)
    # v1: January INV-1 100 + INV-2 50 = 150; February INV-3 70.
    assert played.notes == {"january": pytest.approx(150.0), "february": pytest.approx(70.0)}
    # v2 moves INV-1 to 02-01: January 50, February 100 + 70 = 170, the year 220; its old day 50.
    assert value(directory, "revenue", "month", D(2026, 1, 1)) == pytest.approx(50.0)
    assert value(directory, "revenue", "month", D(2026, 2, 1)) == pytest.approx(170.0)
    assert value(directory, "revenue", "day", D(2026, 1, 31)) == pytest.approx(50.0)
    assert value(directory, "revenue", "day", D(2026, 2, 1)) == pytest.approx(170.0)
    assert value(directory, "revenue", "quarter", D(2026, 1, 1)) == pytest.approx(220.0)
    assert value(directory, "revenue", "year", D(2026, 1, 1)) == pytest.approx(220.0)
    assert value(directory, "active_customers", "month", D(2026, 1, 1)) == 1  # C-02 only
    assert query(
        directory, "SELECT transaction_id, booked_on FROM revenue_transactions ORDER BY transaction_id"
    ) == [("INV-1", D(2026, 2, 1)), ("INV-2", D(2026, 1, 31)), ("INV-3", D(2026, 2, 1))]


def test_the_same_keys_from_two_sources_are_two_rows(cases: Cases) -> None:
    played = cases.get("same-keys-two-sources")
    directory = played.directory
    for step in played.steps:
        succeeded(step)
    # North 100 + 40 on 01-05, south 200 + 60 on 01-06: January 400 after both runs.
    assert played.notes["january"] == (pytest.approx(400.0),)
    assert value(directory, "revenue", "month", D(2026, 1, 1)) == pytest.approx(400.0)
    assert value(directory, "revenue", "day", D(2026, 1, 5)) == pytest.approx(140.0)
    assert value(directory, "revenue", "day", D(2026, 1, 6)) == pytest.approx(260.0)
    assert value(directory, "active_customers", "month", D(2026, 1, 1)) == 4
    assert query(
        directory,
        "SELECT source, transaction_id, booked_on, amount FROM revenue_transactions ORDER BY 1, 2",
    ) == [
        ("erp_north", "INV-1001", D(2026, 1, 5), 100.0),
        ("erp_north", "INV-1002", D(2026, 1, 5), 40.0),
        ("erp_south", "INV-1001", D(2026, 1, 6), 200.0),
        ("erp_south", "INV-1002", D(2026, 1, 6), 60.0),
    ]


def test_a_month_with_a_failed_day_is_not_complete(cases: Cases) -> None:
    played = cases.get("month-with-failed-day")
    directory = played.directory
    succeeded(played.steps[0])
    succeeded(played.steps[1])
    [failed] = played.steps[2]
    # 01-10's "1.000,00" is not a number under the default separators: 1 of 1 row, the day fails.
    assert not failed.success
    [(rule, raw, partition)] = quarantined(directory)
    assert rule == "type:amount" and partition == "2026-01-10" and "INV-10" in raw_values(raw)
    # January: 30 loaded days of 100.00 = 3000, 30 of 31 days covered, not complete (nor the year).
    january = kpi_row(
        directory, "revenue", "month", D(2026, 1, 1), "value, days_covered, is_complete, period_end"
    )
    assert january == (pytest.approx(3000.0), 30, False, D(2026, 1, 31))
    assert kpi_row(directory, "revenue", "year", D(2026, 1, 1), "days_covered, is_complete") == (30, False)
    assert kpi_row(directory, "revenue", "day", D(2026, 1, 10)) is None
    results = {
        as_of: (status, days_covered)
        for as_of, status, days_covered in query(
            directory,
            "SELECT as_of, status, days_covered FROM key_results WHERE key_result_id = 'kr-jan-revenue'",
        )
    }
    # One as-of day per loaded day (01-10 never published); from 01-10 on the window [01-01, as_of]
    # misses 01-10: unknown, with as_of - 01-01 days covered (01-31: 30).
    assert sorted(results) == [D(2026, 1, day) for day in range(1, 32) if day != 10]
    assert results[D(2026, 1, 31)] == ("unknown", 30)
    assert all(results[D(2026, 1, day)] == ("unknown", day - 1) for day in range(11, 32))
    # As of 01-09 the window is whole: 900 / 3050 = 0.295 >= 9 / 31 - 0.10: on track.
    assert query(
        directory,
        "SELECT actual, progress, expected_progress, status, days_covered FROM key_results "
        "WHERE key_result_id = 'kr-jan-revenue' AND as_of = '2026-01-09'",
    ) == [(pytest.approx(900.0), pytest.approx(900 / 3050), pytest.approx(9 / 31), "on_track", 9)]


def test_an_undated_row_is_quarantined_once_under_no_day(cases: Cases) -> None:
    played = cases.get("undated-row")
    directory = played.directory
    [outcomes] = played.steps
    # Each day 01-05..01-14 has 10 + 20 + 30 = 60; INV-900's 13/45/2026 is no day: it does not count
    # in any day's share, so all ten days load.
    succeeded(outcomes)
    assert len(outcomes) == 10
    for day in range(5, 15):
        assert value(directory, "revenue", "day", D(2026, 1, day)) == pytest.approx(60.0)
    # January to date: 10 days x 60 = 600, 10 of [01-01, 01-14] covered.
    assert kpi_row(directory, "revenue", "month", D(2026, 1, 1), "value, days_covered, is_complete") == (
        pytest.approx(600.0),
        10,
        False,
    )
    [(rule, raw, partition)] = quarantined(directory)
    assert "booked_on" in rule and "INV-900" in raw_values(raw) and partition is None
    # Replaced by every run, not duplicated: the last run's row.
    assert query(directory, "SELECT run_id FROM quarantine") == [(outcomes[-1].run_id,)]


# ---------------------------------------------------------------------------------------------------
# Re-running a case's last run changes nothing


def snapshot(directory: Path, database: str) -> dict[str, list[tuple]]:
    """Every published table's rows without their timestamps and run ids, floats rounded, sorted."""
    tables = {}
    present = {
        row[0]
        for row in query(directory, "SELECT table_name FROM information_schema.tables", database=database)
    }
    for table in ["kpi_values", "key_results", "objective_progress", "quarantine", *ENTITY_TABLES]:
        if table not in present:
            continue
        columns = [
            row[0]
            for row in query(
                directory,
                f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}' "
                "ORDER BY ordinal_position",
                database=database,
            )
            if row[0] not in IGNORED_COLUMNS
        ]
        selected = ", ".join(f'"{column}"' for column in columns)
        rows = query(directory, f"SELECT {selected} FROM {table}", database=database)
        tables[table] = sorted(
            (tuple(round(item, 9) if isinstance(item, float) else item for item in row) for row in rows),
            key=repr,
        )
    return tables


PLAYED_CASES = [
    "fractional-scores",
    "null-markers/with",
    "null-markers/without",
    "null-markers/customers-with",
    "null-markers/customers-without",
    "sql-text-dates",
    "mysql-zero-dates",
    "restated-row",
    "same-keys-two-sources",
    "month-with-failed-day",
    "undated-row",
]


@pytest.mark.parametrize("name", PLAYED_CASES)
def test_rerunning_a_cases_last_run_leaves_the_same_tables(
    cases: Cases, name: str, tmp_path: Path, instance
) -> None:
    played = cases.get(name)
    database = yaml.safe_load(played.config.read_text())["warehouse"].removeprefix("duckdb:///")
    from kpi.warehouse import dispose_all

    dispose_all()  # every write is committed: the file is copied whole
    copy = copy_folder(played.directory, tmp_path / "again")
    before = snapshot(copy, database)
    first, last, single_run = played.last_run
    again = run(copy / played.config.name, first, last, instance=instance, single_run=single_run)
    # The same outcome as the last run had (for a run a day, the last day's).
    assert [outcome.success for outcome in again] == [
        outcome.success for outcome in played.steps[-1][-len(again) :]
    ]
    after = snapshot(copy, database)
    assert after.keys() == before.keys()
    for table in before:
        assert after[table] == before[table], table
    assert "days_covered" in column_names_of(copy, database, "kpi_values")
    assert "year_ago_value" in column_names_of(copy, database, "kpi_values")
    if "key_results" in before:
        assert "days_covered" in column_names_of(copy, database, "key_results")


def column_names_of(directory: Path, database: str, table: str) -> list[str]:
    return [
        row[0]
        for row in query(
            directory,
            f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'",
            database=database,
        )
    ]


# ---------------------------------------------------------------------------------------------------
# More inputs of each kind: other formats, columns and connectors

REVENUE = {"transaction_id": "id", "booked_on": "day", "customer_id": "customer", "amount": "total"}
EXPENSES = {"expense_id": "id", "booked_on": "day", "category": "kind", "amount": "cost"}
SURVEYS = {
    "response_id": "id",
    "customer_id": "customer",
    "responded_on": "day",
    "survey": "survey",
    "score": "score",
}
CUSTOMERS = {"customer_id": "id", "signed_up_on": "since", "churned_on": "until", "segment": "tier"}
EMPLOYEES = {"employee_id": "id", "hired_on": "hired", "terminated_on": "left_at", "department": "team"}
LOOSE = {"quarantine_threshold": 0.5}  # a day with a bad row still loads: the values are checked


def files_source(name: str, path: str, entity: str, columns: dict, **extra: object) -> dict:
    return {
        "name": name,
        "connector": "files",
        "options": {"path": path},
        "entity": entity,
        "columns": columns,
        **extra,
    }


def sql_source(name: str, url: str, table: str, entity: str, columns: dict, **extra: object) -> dict:
    return {
        "name": name,
        "connector": "sql",
        "options": {"url": url, "table": table},
        "entity": entity,
        "columns": columns,
        **extra,
    }


def config_file(directory: Path, sources: list[dict], start: str = "2026-01-01", **extra: object) -> Path:
    return write_config(
        directory,
        {
            "timezone": "UTC",
            "start_date": start,
            "warehouse": "duckdb:///warehouse.duckdb",
            "sources": sources,
            **extra,
        },
    )


def lines(path: Path, *rows: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(row + "\n" for row in rows))


def ndjson(path: Path, rows: list[dict]) -> None:
    lines(path, *(json.dumps(row) for row in rows))


# Lossy type conversion ------------------------------------------------------------------------------


def test_csv_scores_are_integers_only_without_loss(tmp_path: Path, instance) -> None:
    lines(
        tmp_path / "surveys.csv",
        "id,customer,day,survey,score",
        "S1,C1,2026-01-05,csat,4.0",
        "S2,C2,2026-01-05,csat,5",
        "S3,C3,2026-01-05,csat,2",
        "S4,C4,2026-01-05,csat,4.5",
    )
    path = config_file(
        tmp_path, [files_source("web", "surveys.csv", "survey_responses", SURVEYS, quality=LOOSE)]
    )
    succeeded(run(path, D(2026, 1, 5), instance=instance))
    # "4.0" is 4 without loss; "4.5" is not an integer: quarantined (1 of 4 rows, within 50%).
    [(rule, raw, partition)] = quarantined(tmp_path)
    assert (rule, row_id(raw, r"S\d"), partition) == ("type:score", "S4", "2026-01-05")
    assert query(tmp_path, "SELECT response_id, score FROM survey_responses ORDER BY 1") == [
        ("S1", 4),
        ("S2", 5),
        ("S3", 2),
    ]
    # csat: scores 4, 5 of 4, 5, 2 are >= 4: 100 * 2 / 3.
    assert value(tmp_path, "csat", "day", D(2026, 1, 5)) == pytest.approx(200 / 3)


def test_parquet_float_scores_are_integers_only_without_loss(tmp_path: Path, instance) -> None:
    pl.DataFrame(
        {
            "id": ["P1", "P2", "P3", "P4", "P5"],
            "customer": ["C1", "C2", "C3", "C4", "C5"],
            "day": [D(2026, 1, 5)] * 5,
            "survey": ["nps"] * 5,
            "score": [10.0, 9.0, 3.0, 8.5, 7.0],
        }
    ).write_parquet(tmp_path / "nps.parquet")
    path = config_file(
        tmp_path, [files_source("app", "nps.parquet", "survey_responses", SURVEYS, quality=LOOSE)]
    )
    succeeded(run(path, D(2026, 1, 5), instance=instance))
    # 8.5 is quarantined, not truncated to 8. nps over 10, 9, 3, 7: (2 promoters - 1 detractor) / 4.
    [(rule, raw, _)] = quarantined(tmp_path)
    assert (rule, row_id(raw, r"P\d")) == ("type:score", "P4")
    assert value(tmp_path, "nps", "day", D(2026, 1, 5)) == pytest.approx(25.0)


def test_declared_separators_read_numbers_with_thousands(tmp_path: Path, instance) -> None:
    lines(
        tmp_path / "eu.csv",
        "id,day,customer,total",
        'E1,2026-01-05,C1,"1.234,56"',
        'E2,2026-01-05,C2,"20,00"',
        'E3,2026-01-05,C3,"-3,50"',
        "E4,2026-01-05,C4,1.000",
    )
    ndjson(
        tmp_path / "us.ndjson",
        [
            {"id": "U1", "day": "2026-01-05", "customer": "C5", "total": "1,250.00"},
            {"id": "U2", "day": "2026-01-05", "customer": "C6", "total": "99.99"},
        ],
    )
    path = config_file(
        tmp_path,
        [
            files_source(
                "eu_shop",
                "eu.csv",
                "revenue_transactions",
                REVENUE,
                decimal_separator=",",
                thousands_separator=".",
            ),
            files_source("us_shop", "us.ndjson", "revenue_transactions", REVENUE, thousands_separator=","),
        ],
    )
    succeeded(run(path, D(2026, 1, 5), instance=instance))
    assert quarantined(tmp_path) == []
    amounts = dict(query(tmp_path, "SELECT transaction_id, amount FROM revenue_transactions"))
    # 1.234,56 = 1234.56; 20,00 = 20; -3,50 = -3.5; 1.000 = 1000 (a thousands group); 1,250.00 = 1250.
    assert amounts == {
        "E1": pytest.approx(1234.56),
        "E2": pytest.approx(20.0),
        "E3": pytest.approx(-3.5),
        "E4": pytest.approx(1000.0),
        "U1": pytest.approx(1250.0),
        "U2": pytest.approx(99.99),
    }
    # 1234.56 + 20 - 3.5 + 1000 + 1250 + 99.99 = 3601.05
    assert value(tmp_path, "revenue", "day", D(2026, 1, 5)) == pytest.approx(3601.05)


def test_a_csv_row_with_more_or_fewer_fields_than_its_header_is_quarantined(tmp_path: Path, instance) -> None:
    lines(
        tmp_path / "shop.csv",
        "id,day,customer,total",
        "T1,2026-01-05,C1,10.00",
        "T2,2026-01-05,C2",
        "T3,2026-01-05,C3,5.00,extra",
        "T4,2026-01-05,C4,7.50",
    )
    path = config_file(
        tmp_path, [files_source("shop", "shop.csv", "revenue_transactions", REVENUE, quality=LOOSE)]
    )
    succeeded(run(path, D(2026, 1, 5), instance=instance))
    # T2 has 3 fields, T3 5, the header 4: both quarantined with their raw lines (2 of 4, within 50%).
    rows = quarantined(tmp_path)
    assert sorted(raw for _, raw, _ in rows) == ["T2,2026-01-05,C2", "T3,2026-01-05,C3,5.00,extra"]
    assert all(rule.startswith("csv_fields") for rule, _, _ in rows), rows
    assert value(tmp_path, "revenue", "day", D(2026, 1, 5)) == pytest.approx(17.5)  # 10.00 + 7.50


# Null markers ------------------------------------------------------------------------------------------


def test_ndjson_survey_customer_ids_that_say_null(tmp_path: Path, instance) -> None:
    rows = [
        {"id": "N1", "customer": "C1", "day": "2026-01-05", "survey": "csat", "score": 5},
        {"id": "N2", "customer": "NULL", "day": "2026-01-05", "survey": "csat", "score": 1},
        {"id": "N3", "customer": "C3", "day": "2026-01-05", "survey": "csat", "score": 4},
    ]
    for variant, extra in (("with", {"null_values": ["", "NULL"]}), ("without", {})):
        directory = tmp_path / variant
        ndjson(directory / "surveys.ndjson", rows)
        source = files_source("app", "surveys.ndjson", "survey_responses", SURVEYS, quality=LOOSE, **extra)
        succeeded(run(config_file(directory, [source]), D(2026, 1, 5), instance=instance))
        # N2's customer is null (declared) or an undeclared null marker: either way not a customer
        # called "NULL": its row is quarantined (a response needs its customer), 1 of 3 rows.
        [(rule, raw, _)] = quarantined(directory)
        assert row_id(raw, r"N\d") == "N2" and "customer_id" in rule, rule
        if variant == "without":
            assert rule.startswith("null_marker:"), rule
        assert query(directory, "SELECT count(*) FROM survey_responses WHERE customer_id = 'NULL'") == [(0,)]
        # csat over N1 5 and N3 4: 100 * 2 / 2.
        assert value(directory, "csat", "day", D(2026, 1, 5)) == pytest.approx(100.0)


def test_parquet_customer_ids_that_say_n_a(tmp_path: Path, instance) -> None:
    frame = pl.DataFrame(
        {
            "id": ["R1", "R2", "R3"],
            "day": ["2026-01-05"] * 3,
            "customer": ["C1", "N/A", "C2"],
            "total": [10.0, 5.0, 7.0],
        }
    )
    for variant, extra in (("with", {"null_values": ["", "N/A"]}), ("without", {})):
        directory = tmp_path / variant
        directory.mkdir()
        frame.write_parquet(directory / "pos.parquet")
        source = files_source("pos", "pos.parquet", "revenue_transactions", REVENUE, **extra)
        [outcome] = run(config_file(directory, [source]), D(2026, 1, 5), instance=instance)
        if variant == "with":
            # 10 + 5 + 7 = 22 from C1, an anonymous receipt and C2: 2 customers, 11 each.
            assert outcome.success, outcome.error
            assert value(directory, "revenue", "day", D(2026, 1, 5)) == pytest.approx(22.0)
            assert value(directory, "active_customers", "day", D(2026, 1, 5)) == 2
            assert query(
                directory, "SELECT customer_id FROM revenue_transactions WHERE transaction_id = 'R2'"
            ) == [(None,)]
        else:
            # Undeclared: R2 is quarantined as a null marker, 1 of 3 rows: the day fails, no 3rd customer.
            assert not outcome.success
            [(rule, raw, _)] = quarantined(directory)
            assert row_id(raw, r"R\d") == "R2" and rule.startswith("null_marker:"), rule
            assert kpi_row(directory, "active_customers", "day", D(2026, 1, 5)) is None


def test_a_declared_null_marker_in_an_employee_date(tmp_path: Path, instance) -> None:
    lines(
        tmp_path / "staff.csv",
        "id,hired,left_at,team",
        "E1,2025-01-01,-,ops",
        "E2,2025-06-01,2026-01-20,ops",
        "E3,2026-01-05,-,sales",
    )
    source = files_source("hr", "staff.csv", "employees", EMPLOYEES, null_values=["", "-"])
    succeeded(run(config_file(tmp_path, [source]), D(2026, 1, 31), instance=instance))
    assert query(tmp_path, "SELECT employee_id, terminated_on FROM employees ORDER BY 1") == [
        ("E1", None),
        ("E2", D(2026, 1, 20)),
        ("E3", None),
    ]
    # Employed on 01-31: E1, E3 (E2 left on 01-20); January: 1 hire (E3), 1 termination (E2).
    assert value(tmp_path, "headcount", "day", D(2026, 1, 31)) == 2
    assert value(tmp_path, "hires", "month", D(2026, 1, 1)) == 1
    assert value(tmp_path, "terminations", "month", D(2026, 1, 1)) == 1


# A filter pushed to a source that cannot evaluate it ----------------------------------------------------


def test_sqlite_text_dates_day_first(tmp_path: Path, instance) -> None:
    with sqlite3.connect(tmp_path / "till.sqlite") as connection:
        connection.execute("CREATE TABLE sales (id TEXT, day TEXT, customer TEXT, total REAL)")
        connection.executemany(
            "INSERT INTO sales VALUES (?, ?, ?, ?)",
            [
                ("A", "04.01.2026", "C1", 100.0),
                ("B", "05.01.2026", "C1", 30.0),
                ("C", "05.01.2026", "C2", 12.5),
                ("D", "06.01.2026", "C3", 7.0),
                ("E", "05.02.2026", "C4", 1000.0),  # 5 February, not 5 January
            ],
        )
    source = sql_source(
        "till", "sqlite:///till.sqlite", "sales", "revenue_transactions", REVENUE, date_format="%d.%m.%Y"
    )
    succeeded(run(config_file(tmp_path, [source]), D(2026, 1, 5), instance=instance))
    # 05.01.2026: B 30 + C 12.5 = 42.5 from C1, C2.
    assert query(tmp_path, "SELECT transaction_id FROM revenue_transactions ORDER BY 1") == [("B",), ("C",)]
    assert value(tmp_path, "revenue", "day", D(2026, 1, 5)) == pytest.approx(42.5)
    assert value(tmp_path, "active_customers", "day", D(2026, 1, 5)) == 2


def test_postgresql_mixed_case_table_and_date_column(
    tmp_path: Path, instance, postgres_schema: tuple[sa.Engine, str]
) -> None:
    engine, schema = postgres_schema
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f'CREATE TABLE {schema}."Invoices" ("InvoiceNo" text, "InvoiceDate" date, "Customer" text, '
            '"Total" double precision)'
        )
        connection.exec_driver_sql(
            f"INSERT INTO {schema}.\"Invoices\" VALUES ('P-1', '2026-01-04', 'C1', 80), "
            "('P-2', '2026-01-05', 'C1', 45.5), ('P-3', '2026-01-05', 'C2', 80), ('P-4', '2026-01-06', 'C3', 9)"
        )
    columns = {
        "transaction_id": "InvoiceNo",
        "booked_on": "InvoiceDate",
        "customer_id": "Customer",
        "amount": "Total",
    }
    source = sql_source("erp", POSTGRES, f"{schema}.Invoices", "revenue_transactions", columns)
    succeeded(run(config_file(tmp_path, [source]), D(2026, 1, 5), instance=instance))
    # 2026-01-05: P-2 45.5 + P-3 80 = 125.5 from C1, C2.
    assert query(tmp_path, "SELECT transaction_id FROM revenue_transactions ORDER BY 1") == [
        ("P-2",),
        ("P-3",),
    ]
    assert value(tmp_path, "revenue", "day", D(2026, 1, 5)) == pytest.approx(125.5)
    assert value(tmp_path, "active_customers", "day", D(2026, 1, 5)) == 2


# Driver values that escape the connector's errors ------------------------------------------------------


def test_mariadb_zero_datetimes_in_an_employee_table(tmp_path: Path, instance, mariadb_database: str) -> None:
    run_sql_script(
        mariadb_database,
        "SET SESSION sql_mode = '';"
        "CREATE TABLE staff (id VARCHAR(10), hired DATE, left_at DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00', "
        "team VARCHAR(10));"
        "INSERT INTO staff VALUES ('E1', '2025-03-01', '0000-00-00 00:00:00', 'ops'), "
        "('E2', '2025-06-01', '2026-01-20 17:00:00', 'ops'), ('E3', '2026-01-05', '0000-00-00 00:00:00', 'sales')",
    )
    source = sql_source("hr_staff", mariadb_database, "staff", "employees", EMPLOYEES)
    [outcome] = run(config_file(tmp_path, [source]), D(2026, 1, 31), instance=instance)
    if not outcome.success:  # the other right outcome: one error naming source, column and value
        message = outcome.error or ""
        assert "hr_staff" in message and "left_at" in message and "0000-00-00" in message, message
        assert "Traceback" not in message
        return
    assert query(tmp_path, "SELECT employee_id, terminated_on FROM employees ORDER BY 1") == [
        ("E1", None),
        ("E2", D(2026, 1, 20)),
        ("E3", None),
    ]
    # Employed on 01-31: E1, E3; January: hired E3, terminated E2.
    assert value(tmp_path, "headcount", "day", D(2026, 1, 31)) == 2
    assert value(tmp_path, "hires", "month", D(2026, 1, 1)) == 1
    assert value(tmp_path, "terminations", "month", D(2026, 1, 1)) == 1


def test_postgresql_infinite_dates_in_a_customer_table(
    tmp_path: Path, instance, postgres_schema: tuple[sa.Engine, str]
) -> None:
    engine, schema = postgres_schema
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE {schema}.accounts (id text, since date, until date, tier text)"
        )
        connection.exec_driver_sql(
            f"INSERT INTO {schema}.accounts VALUES ('K1', '2025-12-01', 'infinity', 'gold'), "
            "('K2', '2025-12-10', '2026-01-20', 'silver'), ('K3', '2026-01-10', 'infinity', 'silver'), "
            "('K4', '2025-11-01', NULL, 'gold')"
        )
    source = sql_source("crm_accounts", POSTGRES, f"{schema}.accounts", "customers", CUSTOMERS)
    [outcome] = run(config_file(tmp_path, [source]), D(2026, 1, 31), instance=instance)
    if not outcome.success:  # one error naming source, column and value
        message = outcome.error or ""
        assert "crm_accounts" in message and "until" in message and "infinity" in message, message
        assert "Traceback" not in message
        return
    assert query(tmp_path, "SELECT customer_id, churned_on FROM customers ORDER BY 1") == [
        ("K1", None),
        ("K2", D(2026, 1, 20)),
        ("K3", None),
        ("K4", None),
    ]
    # January: S = K1, K2, K4; new K3; churned K2; retained K1, K4: 2 / 3; churn 1 / 3.
    assert value(tmp_path, "new_customers", "month", D(2026, 1, 1)) == 1
    assert value(tmp_path, "customer_retention_rate", "month", D(2026, 1, 1)) == pytest.approx(2 / 3)
    assert value(tmp_path, "customer_churn_rate", "month", D(2026, 1, 1)) == pytest.approx(1 / 3)


# A reload that moves a row to another day ----------------------------------------------------------------


def test_a_survey_response_redated_into_the_next_month(tmp_path: Path, instance) -> None:
    header = "id,customer,day,survey,score"
    lines(
        tmp_path / "surveys.csv",
        header,
        "S1,C1,2026-01-31,csat,5",
        "S2,C2,2026-01-31,csat,2",
        "S3,C3,2026-02-01,csat,4",
    )
    path = config_file(tmp_path, [files_source("web", "surveys.csv", "survey_responses", SURVEYS)])
    succeeded(run(path, D(2026, 1, 31), D(2026, 2, 1), instance=instance))
    # Before: January S1 5, S2 2: 100 * 1 / 2 = 50.
    assert value(tmp_path, "csat", "month", D(2026, 1, 1)) == pytest.approx(50.0)
    lines(
        tmp_path / "surveys.csv",
        header,
        "S1,C1,2026-02-01,csat,5",
        "S2,C2,2026-01-31,csat,2",
        "S3,C3,2026-02-01,csat,4",
    )
    succeeded(run(path, D(2026, 2, 1), instance=instance))
    # After S1 moves: January S2 2: 0 of 1 = 0; its old day 0; February S1 5, S3 4: 100; the year 2 of 3.
    assert kpi_row(tmp_path, "csat", "month", D(2026, 1, 1), "value, numerator, denominator") == (
        0.0,
        0.0,
        1.0,
    )
    assert value(tmp_path, "csat", "day", D(2026, 1, 31)) == pytest.approx(0.0)
    assert value(tmp_path, "csat", "month", D(2026, 2, 1)) == pytest.approx(100.0)
    assert value(tmp_path, "csat", "year", D(2026, 1, 1)) == pytest.approx(200 / 3)


def test_an_expense_redated_into_the_next_quarter(tmp_path: Path, instance) -> None:
    def ledger(moved_to: str) -> None:
        ndjson(
            tmp_path / "ledger.ndjson",
            [
                {"id": "X1", "day": moved_to, "kind": "cogs", "cost": 40.0},
                {"id": "X2", "day": "2026-03-31", "kind": "operating", "cost": 10.0},
                {"id": "X3", "day": "2026-04-01", "kind": "cogs", "cost": 5.0},
            ],
        )

    ledger("2026-03-31")
    path = config_file(
        tmp_path, [files_source("ledger", "ledger.ndjson", "expenses", EXPENSES)], start="2026-03-01"
    )
    succeeded(run(path, D(2026, 3, 31), D(2026, 4, 1), instance=instance, single_run=True))
    assert value(tmp_path, "expenses", "quarter", D(2026, 1, 1)) == pytest.approx(50.0)  # 40 + 10
    ledger("2026-04-01")
    succeeded(run(path, D(2026, 4, 1), instance=instance))
    # X1 moves to 04-01: Q1 and March 10, Q2 and April 40 + 5 = 45, the year 55.
    assert value(tmp_path, "expenses", "quarter", D(2026, 1, 1)) == pytest.approx(10.0)
    assert value(tmp_path, "expenses", "month", D(2026, 3, 1)) == pytest.approx(10.0)
    assert value(tmp_path, "expenses", "day", D(2026, 3, 31)) == pytest.approx(10.0)
    assert value(tmp_path, "expenses", "quarter", D(2026, 4, 1)) == pytest.approx(45.0)
    assert value(tmp_path, "expenses", "month", D(2026, 4, 1)) == pytest.approx(45.0)
    assert value(tmp_path, "expenses", "year", D(2026, 1, 1)) == pytest.approx(55.0)
    assert query(tmp_path, "SELECT count(*) FROM expenses") == [(3,)]


def test_a_sql_row_redated_to_an_earlier_day(tmp_path: Path, instance) -> None:
    database = tmp_path / "erp.sqlite"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE inv (id TEXT, day TEXT, customer TEXT, total REAL)")
        connection.executemany(
            "INSERT INTO inv VALUES (?, ?, ?, ?)",
            [
                ("A", "2026-01-31", "C1", 10.0),
                ("B", "2026-02-01", "C2", 20.0),
                ("C", "2026-02-01", "C3", 5.0),
            ],
        )
    path = config_file(
        tmp_path, [sql_source("erp", "sqlite:///erp.sqlite", "inv", "revenue_transactions", REVENUE)]
    )
    succeeded(run(path, D(2026, 1, 31), D(2026, 2, 1), instance=instance, single_run=True))
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE inv SET day = '2026-01-31' WHERE id = 'B'")
    succeeded(run(path, D(2026, 1, 31), instance=instance))
    # Re-running 01-31 moves B there: January 10 + 20 = 30; February (its old month) and 02-01: C 5.
    assert value(tmp_path, "revenue", "month", D(2026, 1, 1)) == pytest.approx(30.0)
    assert value(tmp_path, "revenue", "month", D(2026, 2, 1)) == pytest.approx(5.0)
    assert value(tmp_path, "revenue", "day", D(2026, 2, 1)) == pytest.approx(5.0)
    assert value(tmp_path, "revenue", "year", D(2026, 1, 1)) == pytest.approx(35.0)
    assert value(tmp_path, "active_customers", "month", D(2026, 2, 1)) == 1


# The same keys from two sources --------------------------------------------------------------------------


def test_two_survey_sources_sharing_response_ids(tmp_path: Path, instance) -> None:
    lines(
        tmp_path / "web.csv",
        "id,customer,day,survey,score",
        "R1,W1,2026-01-05,csat,5",
        "R2,W2,2026-01-05,csat,1",
    )
    ndjson(
        tmp_path / "app.ndjson",
        [
            {"id": "R1", "customer": "A1", "day": "2026-01-05", "survey": "csat", "score": 4},
            {"id": "R2", "customer": "A2", "day": "2026-01-05", "survey": "csat", "score": 4},
        ],
    )
    sources = [
        files_source("web", "web.csv", "survey_responses", SURVEYS),
        files_source("app", "app.ndjson", "survey_responses", SURVEYS),
    ]
    succeeded(run(config_file(tmp_path, sources), D(2026, 1, 5), instance=instance))
    # Four responses: 5, 1, 4, 4; three are >= 4: 100 * 3 / 4 = 75.
    assert query(tmp_path, "SELECT source, response_id, score FROM survey_responses ORDER BY 1, 2") == [
        ("app", "R1", 4),
        ("app", "R2", 4),
        ("web", "R1", 5),
        ("web", "R2", 1),
    ]
    assert value(tmp_path, "csat", "day", D(2026, 1, 5)) == pytest.approx(75.0)


def test_two_expense_sources_sharing_ids_on_different_days(tmp_path: Path, instance) -> None:
    pl.DataFrame(
        {"id": ["E-1", "E-2"], "day": [D(2026, 1, 5)] * 2, "kind": ["cogs", "operating"], "cost": [30.0, 8.0]}
    ).write_parquet(tmp_path / "ledger_a.parquet")
    with sqlite3.connect(tmp_path / "ledger_b.sqlite") as connection:
        connection.execute("CREATE TABLE costs (id TEXT, day TEXT, kind TEXT, cost REAL)")
        connection.executemany(
            "INSERT INTO costs VALUES (?, ?, ?, ?)",
            [("E-1", "2026-01-06", "operating", 12.0), ("E-2", "2026-01-06", "cogs", 3.0)],
        )
    path = config_file(
        tmp_path,
        [
            files_source("ledger_a", "ledger_a.parquet", "expenses", EXPENSES),
            sql_source("ledger_b", "sqlite:///ledger_b.sqlite", "costs", "expenses", EXPENSES),
        ],
    )
    succeeded(run(path, D(2026, 1, 5), D(2026, 1, 6), instance=instance))
    succeeded(run(path, D(2026, 1, 5), instance=instance))
    # All four kept: 01-05 30 + 8 = 38, 01-06 12 + 3 = 15, January 53.
    assert query(tmp_path, "SELECT source, expense_id, booked_on FROM expenses ORDER BY 1, 2") == [
        ("ledger_a", "E-1", D(2026, 1, 5)),
        ("ledger_a", "E-2", D(2026, 1, 5)),
        ("ledger_b", "E-1", D(2026, 1, 6)),
        ("ledger_b", "E-2", D(2026, 1, 6)),
    ]
    assert value(tmp_path, "expenses", "day", D(2026, 1, 5)) == pytest.approx(38.0)
    assert value(tmp_path, "expenses", "day", D(2026, 1, 6)) == pytest.approx(15.0)
    assert value(tmp_path, "expenses", "month", D(2026, 1, 1)) == pytest.approx(53.0)


# Completeness that ignores which days loaded ---------------------------------------------------------


def test_a_failed_expense_day_leaves_gross_profit_incomplete_and_revenue_complete(
    tmp_path: Path, instance
) -> None:
    lines(
        tmp_path / "revenue.csv",
        "id,day,customer,total",
        *(f"T{day:02d},2026-01-{day:02d},C1,10.00" for day in range(1, 32)),
    )
    lines(
        tmp_path / "costs.csv",
        "id,day,kind,cost",
        *(f"X{day:02d},2026-01-{day:02d},cogs,{'abc' if day == 15 else '2.00'}" for day in range(1, 32)),
    )
    objective = {
        "id": "january",
        "title": "January",
        "owner": "CFO",
        "start": "2026-01-01",
        "end": "2026-01-31",
        "key_results": [
            {
                "id": "kr-revenue",
                "description": "Revenue 300",
                "kpi_id": "revenue",
                "baseline": 0,
                "target": 300,
            },
            {
                "id": "kr-gross",
                "description": "Gross profit 200",
                "kpi_id": "gross_profit",
                "baseline": 0,
                "target": 200,
            },
        ],
    }
    path = config_file(
        tmp_path,
        [
            files_source("shop", "revenue.csv", "revenue_transactions", REVENUE),
            files_source("ledger", "costs.csv", "expenses", EXPENSES),
        ],
        objectives=[objective],
    )
    succeeded(run(path, D(2026, 1, 1), D(2026, 1, 14), instance=instance, single_run=True))
    [failed] = run(path, D(2026, 1, 15), instance=instance)
    assert not failed.success  # the ledger's 01-15 ("abc") fails its gate; the shop's 01-15 loads
    succeeded(run(path, D(2026, 1, 16), D(2026, 1, 31), instance=instance, single_run=True))
    columns = "value, days_covered, is_complete"
    # revenue: 31 days x 10 = 310, every day covered. expenses: 30 days x 2 = 60, 01-15 missing.
    assert kpi_row(tmp_path, "revenue", "month", D(2026, 1, 1), columns) == (pytest.approx(310.0), 31, True)
    assert kpi_row(tmp_path, "expenses", "month", D(2026, 1, 1), columns) == (pytest.approx(60.0), 30, False)
    # gross profit over the 30 days both cover: 300 - 60 = 240 (not 310 - 60), not complete.
    assert kpi_row(tmp_path, "gross_profit", "month", D(2026, 1, 1), columns) == (
        pytest.approx(240.0),
        30,
        False,
    )
    assert kpi_row(tmp_path, "net_profit", "month", D(2026, 1, 1), columns) == (
        pytest.approx(240.0),
        30,
        False,
    )
    results = query(
        tmp_path,
        "SELECT key_result_id, actual, progress, status, days_covered FROM key_results "
        "WHERE as_of = '2026-01-31' ORDER BY 1",
    )
    # As of 01-31: revenue 310 of 300: progress 1, achieved; gross profit's window misses 01-15: unknown.
    assert results[1] == ("kr-revenue", pytest.approx(310.0), pytest.approx(1.0), "achieved", 31)
    assert results[0][0] == "kr-gross" and results[0][3:] == ("unknown", 30)


def test_a_day_never_run_leaves_its_month_incomplete_until_it_runs(tmp_path: Path, instance) -> None:
    ndjson(
        tmp_path / "surveys.ndjson",
        [
            {
                "id": f"S{day:02d}",
                "customer": "C1",
                "day": f"2026-01-{day:02d}",
                "survey": "csat",
                "score": 5 if day % 2 else 2,
            }
            for day in range(1, 32)
        ],
    )
    path = config_file(tmp_path, [files_source("app", "surveys.ndjson", "survey_responses", SURVEYS)])
    succeeded(run(path, D(2026, 1, 1), D(2026, 1, 20), instance=instance, single_run=True))
    succeeded(run(path, D(2026, 1, 22), D(2026, 1, 31), instance=instance, single_run=True))
    columns = "value, days_covered, is_complete"
    # Without 01-21 (an odd day, score 5): 15 odd days of 30 score >= 4: 50, 30 days covered.
    assert kpi_row(tmp_path, "csat", "month", D(2026, 1, 1), columns) == (pytest.approx(50.0), 30, False)
    assert kpi_row(tmp_path, "csat", "quarter", D(2026, 1, 1), "days_covered, is_complete") == (30, False)
    succeeded(run(path, D(2026, 1, 21), instance=instance))
    # With it: 16 odd days of 31: 100 * 16 / 31, complete.
    assert kpi_row(tmp_path, "csat", "month", D(2026, 1, 1), columns) == (pytest.approx(1600 / 31), 31, True)
    assert kpi_row(tmp_path, "csat", "quarter", D(2026, 1, 1), "days_covered, is_complete") == (31, False)


# Rows that belong to no day --------------------------------------------------------------------------


def test_an_ndjson_response_with_an_unreadable_date(tmp_path: Path, instance) -> None:
    rows = [
        {"id": f"S{day}{score}", "customer": "C1", "day": f"2026-01-0{day}", "survey": "csat", "score": score}
        for day in (5, 6, 7)
        for score in (5, 3)
    ]
    rows.insert(3, {"id": "S99", "customer": "C9", "day": "2026-01-32", "survey": "csat", "score": 1})
    ndjson(tmp_path / "surveys.ndjson", rows)
    path = config_file(tmp_path, [files_source("app", "surveys.ndjson", "survey_responses", SURVEYS)])
    outcomes = run(path, D(2026, 1, 5), D(2026, 1, 7), instance=instance)
    # S99 (2026-01-32) is no day's row: each day has its 2 readable rows, none quarantined: all load.
    succeeded(outcomes)
    for day in (5, 6, 7):
        assert value(tmp_path, "csat", "day", D(2026, 1, day)) == pytest.approx(50.0)  # 5 and 3
    [(rule, raw, partition)] = quarantined(tmp_path)
    assert "responded_on" in rule and row_id(raw, r"S\d+") == "S99" and partition is None
    assert query(tmp_path, "SELECT run_id FROM quarantine") == [(outcomes[-1].run_id,)]


def test_a_parquet_row_with_an_impossible_date(tmp_path: Path, instance) -> None:
    pl.DataFrame(
        {
            "id": ["A", "B", "C", "D"],
            "day": ["2026-01-05", "2026-01-05", "2026-01-06", "2026-02-30"],
            "customer": ["C1", "C2", "C1", "C3"],
            "total": [10.0, 15.0, 20.0, 99.0],
        }
    ).write_parquet(tmp_path / "sales.parquet")
    path = config_file(tmp_path, [files_source("shop", "sales.parquet", "revenue_transactions", REVENUE)])
    succeeded(run(path, D(2026, 1, 5), D(2026, 1, 6), instance=instance, single_run=True))
    succeeded(run(path, D(2026, 1, 6), instance=instance))
    # D (02-30) is quarantined once, under no day, by the range run and again (replaced) by the day run.
    [(rule, raw, partition)] = quarantined(tmp_path)
    assert "booked_on" in rule and row_id(raw, r"[A-D]") == "D" and partition is None
    # January: 10 + 15 + 20 = 45.
    assert value(tmp_path, "revenue", "month", D(2026, 1, 1)) == pytest.approx(45.0)
