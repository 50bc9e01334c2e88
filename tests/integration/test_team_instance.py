"""The example team instance (examples/dagster.yaml): runs, events and schedules in PostgreSQL, shared
by every process; tested against the running server."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from kpi.runner import run_partitions
from tests.conftest import new_database, shop_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dagster.yaml"


def test_runs_of_the_example_team_instance_are_recorded_in_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = shop_config(tmp_path, ["S1,2026-01-05,C1,12.50", "S2,2026-01-05,C2,7.50"])
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(EXAMPLE, home / "dagster.yaml")
    with new_database("postgresql") as url:
        parts = sa.make_url(url)
        for name, value in {
            "DAGSTER_PG_HOST": parts.host,
            "DAGSTER_PG_PORT": str(parts.port),
            "DAGSTER_PG_DB": parts.database,
            "DAGSTER_PG_USER": parts.username,
            "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
        }.items():
            monkeypatch.setenv(name, str(value))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            [outcome] = run_partitions(config, date(2026, 1, 5), date(2026, 1, 5), instance=instance)
            assert outcome.success, outcome.error
            assert instance.run_monitoring_enabled
        engine = sa.create_engine(url)
        try:
            with engine.connect() as connection:
                runs = connection.exec_driver_sql("SELECT run_id, status FROM runs").all()
                materialized = connection.exec_driver_sql(
                    "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
                ).scalar_one()
        finally:
            engine.dispose()
    assert runs == [(outcome.run_id, "SUCCESS")]
    # raw/shop, entity/revenue_transactions, kpi/kpi_definitions, kpi/kpi_values, okr/objectives,
    # okr/key_results: six assets, one materialization each
    assert materialized == 6
