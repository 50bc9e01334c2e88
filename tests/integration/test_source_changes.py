"""What happens when the sources themselves change between runs: a source renamed or added, and an
entity loaded without its KPIs (a step that failed, or an entity materialized alone from the UI)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg

from kpi.config import load_config
from kpi.runner import run_partitions
from pipelines.definitions import build_definitions
from tests.conftest import query, write_config

COLUMNS = {"transaction_id": "id", "booked_on": "day", "customer_id": "customer", "amount": "total"}


def source(name: str, path: str) -> dict:
    return {
        "name": name,
        "connector": "files",
        "options": {"path": path},
        "entity": "revenue_transactions",
        "columns": COLUMNS,
    }


def write_csv(path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    path.write_text("id,day,customer,total\n" + "".join(",".join(row) + "\n" for row in rows))


def revenue(directory: Path, grain: str, start: str) -> tuple:
    [row] = query(
        directory,
        "SELECT value, days_covered, is_complete FROM kpi_values "
        f"WHERE kpi_id = 'revenue' AND grain = '{grain}' AND period_start = '{start}'",
    )
    return row


def run(config: Path, first: date, last: date, instance, single_run: bool = False) -> None:
    outcomes = run_partitions(config, first, last, instance=instance, single_run=single_run)
    assert all(outcome.success for outcome in outcomes), [outcome.error for outcome in outcomes]


def test_a_renamed_source_does_not_count_its_old_rows_twice(tmp_path: Path, instance) -> None:
    write_csv(tmp_path / "sales.csv", [("S1", "2026-01-05", "C1", "100.00")])
    data = {"start_date": "2026-01-01", "sources": [source("finance_export", "sales.csv")]}
    run(write_config(tmp_path, data), date(2026, 1, 5), date(2026, 1, 5), instance)
    data["sources"] = [source("finance_csv", "sales.csv")]  # the same file, under a new name
    run(write_config(tmp_path, data), date(2026, 1, 5), date(2026, 1, 5), instance)
    # The old source's row stays in the table (nothing of one source deletes another's), but only the
    # configured sources count: 100, not 200.
    assert query(tmp_path, "SELECT source FROM revenue_transactions ORDER BY 1") == [
        ("finance_csv",),
        ("finance_export",),
    ]
    assert revenue(tmp_path, "day", "2026-01-05") == (100.0, 1, True)


def test_a_source_added_later_has_not_covered_the_days_before_it(tmp_path: Path, instance) -> None:
    north = [(f"N{day}", f"2026-01-{day:02d}", "C1", "10.00") for day in range(1, 32)]
    south = [(f"S{day}", f"2026-01-{day:02d}", "C2", "1.00") for day in range(1, 32)]
    write_csv(tmp_path / "north.csv", north)
    write_csv(tmp_path / "south.csv", south)
    data = {"start_date": "2026-01-01", "sources": [source("north", "north.csv")]}
    config = write_config(tmp_path, data)
    run(config, date(2026, 1, 1), date(2026, 1, 31), instance, single_run=True)
    assert revenue(tmp_path, "month", "2026-01-01") == (310.0, 31, True)  # 31 days x 10
    # South joins the config; only 01-31 is run with both. The other January days hold north's rows
    # alone: they are not covered by every source of revenue, so January is 01-31's 10 + 1 over the
    # one day both loaded, not 310 + 1 over "31 days" that lack south's 30.
    data["sources"].append(source("south", "south.csv"))
    config = write_config(tmp_path, data)
    run(config, date(2026, 1, 31), date(2026, 1, 31), instance)
    assert revenue(tmp_path, "month", "2026-01-01") == (11.0, 1, False)
    # Backfilling January with both sources makes it complete again: 31 x 11.
    run(config, date(2026, 1, 1), date(2026, 1, 31), instance, single_run=True)
    assert revenue(tmp_path, "month", "2026-01-01") == (341.0, 31, True)


def materialize_entities_only(config: Path, day: date, instance: dg.DagsterInstance) -> None:
    """raw and entity assets for one day, without kpi_values: as a user may from the asset graph."""
    definitions = build_definitions(load_config(config))
    job = definitions.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        partition_key=day.isoformat(),
        asset_selection=[dg.AssetKey(["raw", "erp"]), dg.AssetKey(["entity", "revenue_transactions"])],
    )
    assert result.success


def test_a_restatement_loaded_without_its_kpis_is_recomputed_by_the_next_run(
    tmp_path: Path, instance
) -> None:
    export = tmp_path / "invoices.csv"
    write_csv(export, [("INV-1", "2026-01-30", "C1", "100.00"), ("INV-2", "2026-01-31", "C2", "50.00")])
    config = write_config(tmp_path, {"start_date": "2026-01-01", "sources": [source("erp", "invoices.csv")]})
    run(config, date(2026, 1, 30), date(2026, 1, 31), instance)
    assert revenue(tmp_path, "day", "2026-01-30") == (100.0, 1, True)
    # INV-1 moves to 02-01, and only the entity is materialized for 02-01: INV-1 leaves 01-30, but no
    # KPI is computed in that run.
    write_csv(export, [("INV-1", "2026-02-01", "C1", "100.00"), ("INV-2", "2026-01-31", "C2", "50.00")])
    materialize_entities_only(config, date(2026, 2, 1), instance)
    assert revenue(tmp_path, "day", "2026-01-30") == (100.0, 1, True)  # stale until a run computes it
    # The next run (02-02) recomputes 01-30's periods too: its rows changed since its KPIs.
    write_csv(export, [*[("INV-1", "2026-02-01", "C1", "100.00")], ("INV-3", "2026-02-02", "C3", "7.00")])
    run(config, date(2026, 2, 2), date(2026, 2, 2), instance)
    assert revenue(tmp_path, "day", "2026-01-30") == (0.0, 1, True)
    assert revenue(tmp_path, "month", "2026-01-01")[0] == 50.0  # INV-2 only
    assert revenue(tmp_path, "month", "2026-02-01")[0] == 107.0  # INV-1 100 + INV-3 7
    # Key results were recomputed from 01-30 too: the as-of days 01-30..02-02 are all recorded.
    days = query(
        tmp_path, "SELECT partition_date FROM loaded_partitions WHERE entity = 'key_results' ORDER BY 1"
    )
    assert [day for (day,) in days] == [
        date(2026, 1, 30),
        date(2026, 1, 31),
        date(2026, 2, 1),
        date(2026, 2, 2),
    ]


def test_rows_of_a_source_removed_from_the_config_stay_but_do_not_count(tmp_path: Path, instance) -> None:
    write_csv(tmp_path / "a.csv", [("A1", "2026-01-05", "C1", "10.00")])
    write_csv(tmp_path / "b.csv", [("B1", "2026-01-05", "C2", "5.00")])
    data = {"start_date": "2026-01-01", "sources": [source("a", "a.csv"), source("b", "b.csv")]}
    run(write_config(tmp_path, data), date(2026, 1, 5), date(2026, 1, 5), instance)
    assert revenue(tmp_path, "day", "2026-01-05") == (15.0, 1, True)
    data["sources"] = [source("a", "a.csv")]
    run(write_config(tmp_path, data), date(2026, 1, 5), date(2026, 1, 5), instance)
    assert revenue(tmp_path, "day", "2026-01-05") == (10.0, 1, True)
