"""Pure Polars: the sources of one canonical entity combined into its rows, keyed and labelled."""

from __future__ import annotations

from datetime import date, timedelta

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


def derive_customers(
    purchases: pl.DataFrame, customers: Entity, churn_after_days: int, latest_day: date
) -> pl.DataFrame:
    """customers rows (the entity's schema and `source`) derived from purchases: `purchases` has one
    row per source and customer (source, customer_id: String; first_purchase_on, last_purchase_on:
    Date). A customer signs up on its first purchase and churns `churn_after_days` days without one
    later: churned_on = last purchase + churn_after_days + 1 day (active through the N days after its
    last purchase), null while that day is after `latest_day` (the latest day loaded: the customer
    may still buy). Other columns (segment, declared dimensions) are null: the purchases do not say."""
    churned_on = pl.col("last_purchase_on") + timedelta(days=churn_after_days + 1)
    derived = purchases.select(
        pl.col("customer_id").cast(pl.String()),
        pl.col("first_purchase_on").alias("signed_up_on"),
        pl.when(churned_on <= latest_day).then(churned_on).alias("churned_on"),
        pl.col("source").cast(pl.String()),
    )
    return derived.select(
        *(
            pl.col(name).cast(dtype) if name in derived.columns else pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in customers.schema.items()
        ),
        "source",
    ).sort("source", "customer_id")
