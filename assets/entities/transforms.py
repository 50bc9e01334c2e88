"""Pure Polars: the sources of one canonical entity combined into its rows, keyed and labelled."""

from __future__ import annotations

import polars as pl

from kpi.entities import Entity


def combine_sources(entity: Entity, frames_by_source: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The entity's rows from every source, each labelled with the source that delivered it."""
    frames = [
        frame.select(list(entity.schema)).with_columns(source=pl.lit(source, dtype=pl.String()))
        for source, frame in frames_by_source.items()
    ]
    if not frames:
        return entity.empty_frame().with_columns(source=pl.lit(None, dtype=pl.String()))
    return pl.concat(frames)


def duplicate_keys(entity: Entity, rows: pl.DataFrame) -> pl.DataFrame:
    """(source, key, occurrences) of the keys one source delivered more than once: keys are scoped
    by source, so the same key from two sources is two rows, not a duplicate."""
    return (
        rows.group_by("source", entity.key)
        .agg(pl.len().alias("occurrences"))
        .filter(pl.col("occurrences") > 1)
        .sort("source", entity.key)
    )
