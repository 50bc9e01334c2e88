"""Where raw extracts wait between their asset and the entity's: one Parquet file per day.

A run may cover one day (the nightly run) or a range (a single-run backfill): a dated extract is
split into its days when stored, and the days a run asks for are read back and concatenated, so any
range can read what any other range wrote. A snapshot (undated) extract is one file.
"""

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

DATE_COLUMN = "date_column"
"""Output metadata naming the column a dated extract is split by."""


class DailyParquetIOManager(dg.ConfigurableIOManager):
    base_dir: str
    """The config's `storage_dir`."""

    def _folder(self, context: dg.OutputContext | dg.InputContext) -> Path:
        return Path(self.base_dir).joinpath(*context.asset_key.path)

    def handle_output(self, context: dg.OutputContext, frame: pl.DataFrame) -> None:
        folder = self._folder(context)
        folder.mkdir(parents=True, exist_ok=True)
        if not context.has_asset_partitions:
            frame.write_parquet(folder / "snapshot.parquet")
            return
        date_column = context.definition_metadata[DATE_COLUMN]
        for key in context.asset_partition_keys:
            frame.filter(pl.col(date_column) == date.fromisoformat(key)).write_parquet(
                folder / f"{key}.parquet"
            )

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        folder = self._folder(context)
        if not context.has_asset_partitions:
            return pl.read_parquet(folder / "snapshot.parquet")
        files = [folder / f"{key}.parquet" for key in context.asset_partition_keys]
        missing = [file.name for file in files if not file.exists()]
        if missing:
            raise dg.Failure(
                f"{context.asset_key.to_user_string()} has no extract for {', '.join(missing[:5])}: "
                "materialize it for those days first"
            )
        return pl.concat([pl.read_parquet(file) for file in files])
