"""The Dagster code location: `defs`, built from the config named by KPI_CONFIG (the demo's by default).

Nothing is read at import time: Dagster calls `defs()` when it loads the code location.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import dagster as dg

from assets.entities.assets import build_entity_asset
from assets.kpis.assets import build_kpi_definitions_asset, build_kpi_values_asset
from assets.okr.assets import build_okr_assets
from assets.sources.assets import build_raw_asset
from kpi.config import PipelineConfig, load_config
from pipelines.io_managers import DailyParquetIOManager
from pipelines.jobs import build_kpi_job
from pipelines.partitions import daily_partitions
from pipelines.resources import WarehouseResource
from pipelines.schedules import build_nightly_schedule
from pipelines.sensors import build_alert_sensor

CONFIG_VARIABLE = "KPI_CONFIG"


def build_definitions(config: PipelineConfig) -> dg.Definitions:
    with warnings.catch_warnings():
        # Single-run backfill policies and partitioned checks are "beta"/"preview" in Dagster 1.13.
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return _build_definitions(config)


def _build_definitions(config: PipelineConfig) -> dg.Definitions:
    partitions = daily_partitions(config)
    sources = dg.Definitions(
        assets=[build_raw_asset(config, source, partitions) for source in config.sources]
    )
    entities = dg.Definitions(
        assets=[build_entity_asset(config, name, partitions) for name in config.provided_entities]
    )
    kpis = dg.Definitions(
        assets=[build_kpi_definitions_asset(config), build_kpi_values_asset(config, partitions)]
    )
    okr = dg.Definitions(assets=build_okr_assets(config, partitions))
    job = build_kpi_job(partitions)
    orchestration = dg.Definitions(
        # Every run in one process, the UI's asset backfills too: the embedded warehouse is a DuckDB
        # file that one process writes at a time.
        executor=dg.in_process_executor,
        jobs=[job],
        schedules=[build_nightly_schedule(job)],
        sensors=[build_alert_sensor(config)] if config.alerts else [],
        resources={
            "io_manager": DailyParquetIOManager(base_dir=str(config.storage_path())),
            "warehouse": WarehouseResource(
                url=config.warehouse_url(with_password=False).render_as_string(hide_password=False),
                password_env=config.warehouse_password_env,
            ),
        },
    )
    return dg.Definitions.merge(sources, entities, kpis, okr, orchestration)


def config_path() -> Path:
    """KPI_CONFIG, or the demo's config (written if missing, so the UI opens before `make demo`)."""
    if os.environ.get(CONFIG_VARIABLE):
        return Path(os.environ[CONFIG_VARIABLE])
    from kpi.demo import ensure_demo_config

    return ensure_demo_config()


@dg.definitions
def defs() -> dg.Definitions:
    config = load_config(config_path())
    config.check_environment()  # a variable the config names and the UI's process lacks: say so now
    return build_definitions(config)
