"""What a run left in the warehouse, for the terminal."""

from __future__ import annotations

import sqlalchemy as sa

from kpi.config import PipelineConfig
from kpi.warehouse import Warehouse, metadata


def table_counts(config: PipelineConfig) -> dict[str, int]:
    warehouse = Warehouse(config.warehouse_url())
    try:
        with warehouse.engine.connect() as connection:
            existing = set(sa.inspect(connection).get_table_names())
            return {
                table.name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for table in metadata.sorted_tables
                if table.name in existing
            }
    finally:
        warehouse.dispose()
