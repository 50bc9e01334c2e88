"""The code location loads as `dagster dev` loads it, with the assets, job and schedule DESIGN.md names."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from kpi.docs import KPI_DOC, render_kpi_catalog


@pytest.fixture
def definitions(demo_config_path: Path, monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    monkeypatch.setenv("KPI_CONFIG", str(demo_config_path))
    from pipelines import definitions

    loaded = definitions.defs
    return loaded() if callable(loaded) and not isinstance(loaded, dg.Definitions) else loaded


def test_the_code_location_has_every_asset(definitions: dg.Definitions) -> None:
    keys = {key.to_user_string() for key in definitions.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {
        "raw/erp_invoices",
        "raw/erp_expenses",
        "raw/crm_customers",
        "raw/crm_surveys",
        "raw/hr_employees",
        "entity/revenue_transactions",
        "entity/expenses",
        "entity/customers",
        "entity/survey_responses",
        "entity/employees",
        "kpi/kpi_definitions",
        "kpi/kpi_values",
        "okr/objectives",
        "okr/key_results",
    }


def test_the_nightly_schedule_runs_at_two_in_the_reporting_time_zone(definitions: dg.Definitions) -> None:
    schedule = definitions.resolve_schedule_def("nightly")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == "kpi_pipeline"
    # Evaluated on 2026-03-11 at 02:00 it asks for the previous day's partition.
    with dg.build_schedule_context(
        scheduled_execution_time=__import__("datetime").datetime(2026, 3, 11, 2, 0)
    ) as context:
        requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert [request.partition_key for request in requests] == ["2026-03-10"]


def test_dated_assets_are_daily_partitioned_from_the_start_date(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    partitions = graph.get(dg.AssetKey(["raw", "erp_invoices"])).partitions_def
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    assert partitions.get_first_partition_key() == "2026-01-25"  # DEMO_END - 45 days + 1
    assert graph.get(dg.AssetKey(["raw", "crm_customers"])).partitions_def is None  # a snapshot


def test_workspace_yaml_names_the_code_location() -> None:
    workspace = (Path(__file__).parents[2] / "workspace.yaml").read_text()
    assert "module_name: pipelines.definitions" in workspace


def test_the_kpi_catalog_doc_is_up_to_date() -> None:
    assert KPI_DOC.read_text() == render_kpi_catalog(), "docs/kpis.md is stale: run `make docs`"


def test_backfills_from_the_ui_run_as_one_in_process_run(definitions: dg.Definitions) -> None:
    # The asset graph's backfills use the implicit asset job: it too must run in one process (one
    # DuckDB writer) and take a range of days in a single run.
    assert definitions.resolve_implicit_global_asset_job_def().executor_def.name == "in_process"
    graph = definitions.resolve_asset_graph()
    for key in ("raw/erp_invoices", "entity/revenue_transactions", "kpi/kpi_values", "okr/key_results"):
        policy = graph.get(dg.AssetKey(key.split("/"))).backfill_policy
        assert policy is not None and policy.max_partitions_per_run is None, key
