"""Dagster resources: the warehouse, built from the config's URL and the name of its password variable."""

from __future__ import annotations

import os

import dagster as dg
import sqlalchemy as sa

from kpi.config import PipelineConfig
from kpi.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse the pipeline loads. The password, when there is one, is read from the environment
    variable `password_env` at run time: it is never part of the resource's config or metadata."""

    url: str
    password_env: str | None = None

    def get(self, config: PipelineConfig | None = None) -> Warehouse:
        """The warehouse, its tables created or migrated, with those of `config`'s declared entities."""
        url = sa.make_url(self.url)
        if self.password_env:
            if self.password_env not in os.environ:
                raise dg.Failure(
                    f"environment variable {self.password_env!r} (warehouse_password_env) is not set"
                )
            url = url.set(password=os.environ[self.password_env])
        warehouse = Warehouse(url)
        warehouse.create_tables(config.catalog.entities.values() if config is not None else ())
        return warehouse
