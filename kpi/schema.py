"""The warehouse's shape, in one place: every table and view with what it means for a BI user.

Tables are SQLAlchemy tables on one `metadata`, each table and column with a `comment=` that the
warehouse receives (COMMENT ON / ALTER TABLE ... COMMENT) and docs/warehouse.md renders. The Polars
schemas of the rows the pipeline computes (kpi_values, key_results) live here too, below the assets
that build them. A change here is a change of the BI contract: it needs a migration in
kpi/migrations.py that brings an existing warehouse to it.

No I/O here: this module is imported by every Dagster process.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from kpi.entities import ENTITIES, Entity

TEXT = sa.String(255)
TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
"""A moment in UTC, to the microsecond on every warehouse (MariaDB's plain DATETIME keeps whole seconds,
and two stamps of one second, a load and the computation after it, would compare equal)."""
metadata = sa.MetaData()

# The Polars schemas of the rows the KPI and OKR transforms compute (in the tables' column order).
KPI_VALUE_SCHEMA: dict[str, pl.DataType] = {
    "kpi_id": pl.String(),
    "grain": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "dimension": pl.String(),
    "dimension_value": pl.String(),
    "value": pl.Float64(),
    "numerator": pl.Float64(),
    "denominator": pl.Float64(),
    "previous_value": pl.Float64(),
    "year_ago_value": pl.Float64(),
    "unit": pl.String(),
    "days_covered": pl.Int64(),
    "is_complete": pl.Boolean(),
}

KEY_RESULT_SCHEMA: dict[str, pl.DataType] = {
    "objective_id": pl.String(),
    "key_result_id": pl.String(),
    "kpi_id": pl.String(),
    "as_of": pl.Date(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "baseline": pl.Float64(),
    "target": pl.Float64(),
    "actual": pl.Float64(),
    "days_covered": pl.Int64(),
    "progress_raw": pl.Float64(),
    "progress": pl.Float64(),
    "expected_progress": pl.Float64(),
    "status": pl.String(),
    # added by migration 5: last in the table too (after computed_at)
    "window_start": pl.Date(),
    "window_end": pl.Date(),
}
KEY_RESULT_COLUMNS_OF_MIGRATION_5 = ("window_start", "window_end")

OBJECTIVE_PROGRESS_SCHEMA: dict[str, pl.DataType] = {
    "objective_id": pl.String(),
    "as_of": pl.Date(),
    "progress": pl.Float64(),
    "expected_progress": pl.Float64(),
    "status": pl.String(),
    "key_results_known": pl.Int64(),
    "key_results_total": pl.Int64(),
}


def column_type(dtype: pl.DataType) -> sa.types.TypeEngine:
    """The warehouse type of a Polars column."""
    if isinstance(dtype, pl.String):
        return TEXT
    if isinstance(dtype, pl.Date):
        return sa.Date()
    if isinstance(dtype, pl.Float64):
        return sa.Double()
    if isinstance(dtype, pl.Int64):
        return sa.BigInteger()
    if isinstance(dtype, pl.Boolean):
        return sa.Boolean()
    raise TypeError(f"no warehouse type for {dtype}")


def frame_schema(table: sa.Table) -> dict[str, pl.DataType]:
    """The Polars schema of a table's rows, so empty reads keep their types."""
    types: dict[type, pl.DataType] = {
        sa.Text: pl.String(),
        sa.String: pl.String(),
        sa.Date: pl.Date(),
        sa.Double: pl.Float64(),
        sa.BigInteger: pl.Int64(),
        sa.Integer: pl.Int64(),
        sa.Boolean: pl.Boolean(),
        sa.DateTime: pl.Datetime("us", "UTC"),
    }
    return {
        column.name: next(v for k, v in types.items() if isinstance(column.type, k))
        for column in table.columns
    }


# ----------------------------------------------------------------------------------------------------
# Canonical entities: one table each, with the source that delivered the row.

ENTITY_COMMENTS = {
    "revenue_transactions": "Canonical revenue transactions, one row per transaction and source; refunds are negative.",
    "expenses": "Canonical expenses, one row per expense and source; a cost is positive.",
    "customers": "Canonical customers (a snapshot replaced whole on every run), one row per customer and source.",
    "survey_responses": "Canonical CSAT and NPS survey responses, one row per response and source.",
    "employees": "Canonical employees (a snapshot replaced whole on every run), one row per employee and source.",
}

ENTITY_COLUMN_COMMENTS = {
    "transaction_id": "The transaction's key in its source (keys are scoped by source).",
    "expense_id": "The expense's key in its source (keys are scoped by source).",
    "customer_id": "The customer's key in its source (null on a transaction: an anonymous sale).",
    "response_id": "The survey response's key in its source (keys are scoped by source).",
    "employee_id": "The employee's key in its source (keys are scoped by source).",
    "booked_on": "Day the amount was booked, in the reporting time zone.",
    "amount": "Amount in the reporting currency.",
    "category": "Expense category: cogs, operating, interest, tax or other.",
    "signed_up_on": "Day the customer signed up: active from this day on.",
    "churned_on": "Day the customer churned (no longer active from this day on); null: still a customer.",
    "segment": "The customer's segment, as the source names it; null when it has none.",
    "responded_on": "Day of the survey response, in the reporting time zone.",
    "survey": "Which survey: csat (score 1-5) or nps (score 0-10).",
    "score": "The response's score: csat 1-5, nps 0-10.",
    "hired_on": "Day the employee was hired: employed from this day on.",
    "terminated_on": "Day the employment ended (not employed from this day on); null: still employed.",
    "department": "The employee's department, as the source names it.",
    "termination_type": "voluntary or involuntary; null while employed.",
}


def _entity_comment(entity: str, column: str) -> str:
    if column == "amount" and entity == "revenue_transactions":
        return "Amount in the reporting currency; a refund is negative."
    if column == "amount" and entity == "expenses":
        return "Amount in the reporting currency; a cost is positive."
    if column == "customer_id" and entity == "customers":
        return "The customer's key in its source (keys are scoped by source)."
    if column == "customer_id" and entity == "survey_responses":
        return "The responding customer's key in the source."
    return ENTITY_COLUMN_COMMENTS.get(column, column)


ENTITY_TABLES = {
    name: sa.Table(
        name,
        metadata,
        *(
            sa.Column(column, column_type(dtype), comment=_entity_comment(name, column))
            for column, dtype in entity.schema.items()
        ),
        sa.Column(
            "source", TEXT, nullable=False, comment="Name of the configured source that delivered the row."
        ),
        comment=ENTITY_COMMENTS.get(name, f"Canonical {name}, one row per key and source."),
    )
    for name, entity in ENTITIES.items()
}

_DECLARED_TABLES: dict[tuple, sa.Table] = {}


def entity_table(entity: Entity) -> sa.Table:
    """The warehouse table of an entity: a built-in's release table, or (for a declared entity, or a
    built-in with dimension columns added by a config) a table of its own shape on a separate
    MetaData, created and extended by `Warehouse.create_tables(entities)`."""
    if entity.name in ENTITY_TABLES and not entity.dimensions:
        return ENTITY_TABLES[entity.name]
    signature = (entity.name, tuple((column, str(dtype)) for column, dtype in entity.schema.items()))
    if signature not in _DECLARED_TABLES:
        _DECLARED_TABLES[signature] = sa.Table(
            entity.name,
            sa.MetaData(),
            *(
                sa.Column(
                    column,
                    column_type(dtype),
                    comment=_entity_comment(entity.name, column)
                    if entity.name in ENTITY_TABLES and column in ENTITY_TABLES[entity.name].c
                    else f"{column} ({_TYPE_NAMES.get(type(dtype), str(dtype))}), declared in {entity.declared_in}.",
                )
                for column, dtype in entity.schema.items()
            ),
            sa.Column(
                "source",
                TEXT,
                nullable=False,
                comment="Name of the configured source that delivered the row.",
            ),
            comment=ENTITY_COMMENTS.get(entity.name)
            or f"Declared entity {entity.name}, one row per {entity.key} and source (declared in {entity.declared_in}).",
        )
    return _DECLARED_TABLES[signature]


_TYPE_NAMES = {pl.String: "str", pl.Date: "date", pl.Int64: "int", pl.Float64: "float", pl.Boolean: "bool"}

# ----------------------------------------------------------------------------------------------------
# Bookkeeping of loads.

loaded_partitions = sa.Table(
    "loaded_partitions",
    metadata,
    sa.Column(
        "entity",
        TEXT,
        primary_key=True,
        comment="What was loaded: an entity's name, or kpi_values / key_results for the days they were computed for.",
    ),
    sa.Column("partition_date", sa.Date(), primary_key=True, comment="The day (daily partition) loaded."),
    sa.Column(
        "row_count",
        sa.BigInteger(),
        nullable=False,
        comment="Rows a dated entity's day holds after the load; 0 on the rows that record a computation "
        "or a change rather than a load (kpi_values, key_results, a snapshot entity's changed days).",
    ),
    sa.Column("run_id", TEXT, comment="The Dagster run that loaded the day."),
    sa.Column("loaded_at", TIMESTAMP, nullable=False, comment="When the day was loaded (UTC)."),
    sa.Column(
        "sources",
        sa.String(2000),
        comment="The sources whose rows the day holds, comma-separated (a source added later has not "
        "loaded it); null on days loaded before this was recorded.",
    ),
    comment="One row per entity (or kpi_values, key_results) and day loaded or computed; for a snapshot "
    "(span) entity, a day one of its rows started or ended on changed in a new snapshot (its periods are "
    "recomputed).",
)

# ----------------------------------------------------------------------------------------------------
# Measures kept per day, so that a run reads its new days' rows and not the year's
# (assets/kpis/store.py, assets/kpis/partials.py). Not for BI users: kpi_values is.

measure_sets = sa.Table(
    "measure_sets",
    metadata,
    sa.Column("entity", sa.String(100), primary_key=True, comment="A dated entity whose measures are kept."),
    sa.Column(
        "definition",
        sa.Text(),
        nullable=False,
        comment="What its kept measures were computed under (JSON: measures, dimensions, sources, "
        "calendar); when the config changes it, they are computed again.",
    ),
    sa.Column("defined_at", TIMESTAMP, nullable=False, comment="When (UTC)."),
    comment="One row per dated entity whose flow measures measure_days and measure_first_days keep.",
)


def _dimension_key() -> list[sa.Column]:
    """A kept measure's dimension and value columns, in its key (MariaDB: with the measure, grain,
    period and value, within InnoDB's 3,072 bytes)."""
    return [
        sa.Column("dimension", sa.String(100), primary_key=True, comment="The dimension; '' for the total."),
        sa.Column(
            "dimension_value",
            sa.String(255),
            primary_key=True,
            comment="The dimension's value; '' for the total.",
        ),
    ]


measure_days = sa.Table(
    "measure_days",
    metadata,
    sa.Column("measure", sa.String(100), primary_key=True, comment="The flow measure's name."),
    *_dimension_key(),
    sa.Column("day", sa.Date(), primary_key=True, comment="The day."),
    sa.Column("entity", sa.String(100), nullable=False, comment="The measure's entity."),
    sa.Column("rows", sa.BigInteger(), nullable=False, comment="The entity's rows that day (and value)."),
    sa.Column(
        "n",
        sa.BigInteger(),
        nullable=False,
        comment="A count: the count; a distinct count: the day's distinct values; otherwise the values counted.",
    ),
    sa.Column("total", sa.Double(), comment="A sum or mean: the values' sum; a min or max: theirs."),
    sa.Column("computed_at", TIMESTAMP, nullable=False, comment="When (UTC)."),
    comment="Per-day partials of every flow measure, which each period's and key result's measures add up.",
)

measure_first_days = sa.Table(
    "measure_first_days",
    metadata,
    sa.Column("measure", sa.String(100), primary_key=True, comment="The distinct count's name."),
    *_dimension_key(),
    sa.Column("grain", sa.String(16), primary_key=True, comment="The calendar period's grain."),
    sa.Column("period_start", sa.Date(), primary_key=True, comment="The calendar period's first day."),
    sa.Column(
        "value",
        # MySQL/MariaDB compare text by a collation that ignores case and trailing spaces: two
        # customers 'cus_AbC' and 'cus_abc' would be one key. Bytes compare as they are.
        sa.String(255).with_variant(mysql.VARBINARY(1020), "mysql", "mariadb"),
        primary_key=True,
        comment="A distinct value, as text (its UTF-8 bytes on MySQL/MariaDB).",
    ),
    sa.Column("entity", sa.String(100), nullable=False, comment="The measure's entity."),
    sa.Column("first_day", sa.Date(), nullable=False, comment="The value's first day in the period."),
    comment="Each distinct value of a distinct count with its first day in each calendar period: a "
    "period to date counts those on or before its end.",
)

# ----------------------------------------------------------------------------------------------------
# KPI values and key results: the BI contract.

KPI_VALUE_COMMENTS = {
    "kpi_id": "The KPI's id (kpi_definitions.kpi_id), e.g. revenue or customer_churn_rate.",
    "grain": "The period's grain: day, week, month, quarter or year; quarters and years follow "
    "calendar.fiscal_year_start_month.",
    "period_start": "First day of the period.",
    "period_end": "Last day the value covers: the calendar end of an ended period, or the latest loaded "
    "day for a period computed to date.",
    "dimension": "The dimension this row is broken down by (a column of the KPI's entities, e.g. region); "
    "'' on the total row.",
    "dimension_value": "The dimension's value on this row; '(none)' for rows whose value is null; '' on the "
    "total row.",
    "value": "The KPI over the period: numerator / denominator * scale for a ratio; null when the "
    "denominator is zero or no day of an input was loaded. Unit in `unit`.",
    "numerator": "The period's own numerator (the value itself for a KPI that is not a ratio).",
    "denominator": "The period's own denominator; null for a KPI that is not a ratio.",
    "previous_value": "The same KPI over the calendar-aligned previous period; null when that period is "
    "not complete.",
    "year_ago_value": "The same KPI over the same period one year earlier (364 days for day grain, "
    "12 months for the others); null when that period is not complete.",
    "unit": "The value's unit: currency, ratio, percent, score or count.",
    "days_covered": "Days of [period_start, period_end] loaded for every dated input of the KPI; null on "
    "rows computed before this was recorded.",
    "is_complete": "True only when the calendar period has ended and every one of its days is covered.",
}

# kpi_values' key text columns are bounded: MariaDB/InnoDB limits a primary key to 3072 bytes, and with
# utf8mb4 (4 bytes a character) these take (100 + 16 + 100 + 255) * 4 = 1884 of them. A dimension's
# value comes from an entity's text column (255 characters), a dimension's name is a column name.
KPI_VALUE_KEY = ("kpi_id", "grain", "period_start", "dimension", "dimension_value")
KPI_VALUE_KEY_TYPES: dict[str, sa.types.TypeEngine] = {
    "kpi_id": sa.String(100),
    "grain": sa.String(16),
    "dimension": sa.String(100),
    "dimension_value": sa.String(255),
}
TOTAL_DIMENSION = ""
"""dimension and dimension_value on a KPI's total row (not broken down)."""

kpi_values = sa.Table(
    "kpi_values",
    metadata,
    *(
        sa.Column(
            name,
            KPI_VALUE_KEY_TYPES.get(name, column_type(dtype)),
            primary_key=name in KPI_VALUE_KEY,
            server_default=TOTAL_DIMENSION if name in ("dimension", "dimension_value") else None,
            comment=KPI_VALUE_COMMENTS[name],
        )
        for name, dtype in KPI_VALUE_SCHEMA.items()
    ),
    sa.Column(
        "computed_at",
        TIMESTAMP,
        nullable=False,
        comment="When the row was computed (UTC).",
    ),
    sa.Column("run_id", TEXT, comment="The Dagster run that computed the row."),
    comment="One row per KPI, grain, period and dimension value (the total row: dimension ''): the KPI's "
    "value, its parts and its comparisons.",
)

KEY_RESULT_COMMENTS = {
    "objective_id": "The key result's objective (objectives.objective_id).",
    "key_result_id": "The key result's id (key_result_definitions.key_result_id).",
    "kpi_id": "The KPI the key result measures (kpi_definitions.kpi_id).",
    "as_of": "The day the key result is evaluated as of.",
    "period_start": "First day of the objective's period.",
    "period_end": "Last day of the objective's period.",
    "baseline": "The KPI's value at the start, from which progress is measured (KPI's unit).",
    "target": "The KPI's target value (KPI's unit).",
    "actual": "The KPI over the key result's measure window as of `as_of` (KPI's unit); null when "
    "nothing was loaded.",
    "days_covered": "Days of the measure window loaded for every input of the KPI; null on rows computed "
    "before this was recorded.",
    "progress_raw": "(actual - baseline) / (target - baseline), unclamped; for stay_above / stay_below, "
    "1 or 0.",
    "progress": "progress_raw clamped to [0, 1] (a fraction: 0.5 is half way).",
    "expected_progress": "Days of the period elapsed up to as_of, inclusive, / days in the period (1 for "
    "stay_above / stay_below).",
    "status": "on_track, at_risk, off_track, achieved, missed or unknown (actual null, or its window not "
    "fully covered).",
    "window_start": "First day of the window the actual is measured over (the key result's measure): the "
    "objective's start (to_date), as_of's trailing days, or the latest complete calendar period; null "
    "when there is none yet, or on rows computed before this was recorded.",
    "window_end": "Last day of the window the actual is measured over.",
}


def _computed_columns(
    schema: dict[str, pl.DataType], comments: dict[str, str], key: tuple[str, ...], added: tuple[str, ...]
) -> list[sa.Column]:
    """The table columns of rows the pipeline computes: `schema`'s, then computed_at, then the columns
    a migration `added` later (where ALTER TABLE puts them)."""

    def column(name: str) -> sa.Column:
        return sa.Column(name, column_type(schema[name]), primary_key=name in key, comment=comments[name])

    return [
        *(column(name) for name in schema if name not in added),
        sa.Column(
            "computed_at",
            TIMESTAMP,
            nullable=False,
            comment="When the row was computed (UTC).",
        ),
        *(column(name) for name in added),
    ]


key_results = sa.Table(
    "key_results",
    metadata,
    *_computed_columns(
        KEY_RESULT_SCHEMA, KEY_RESULT_COMMENTS, ("key_result_id", "as_of"), KEY_RESULT_COLUMNS_OF_MIGRATION_5
    ),
    comment="One row per key result and as-of day: its actual, progress and status.",
)

OBJECTIVE_PROGRESS_COMMENTS = {
    "objective_id": "The objective (objectives.objective_id).",
    "as_of": "The day the objective is evaluated as of.",
    "progress": "The weight-weighted mean of the progress of its key results whose status is not unknown "
    "(a fraction); null when all are unknown.",
    "expected_progress": "Days of the objective's period elapsed up to as_of, inclusive, / days in the "
    "period.",
    "status": "By the increase rule on progress: achieved, on_track, at_risk, off_track, missed, or unknown "
    "when every key result is.",
    "key_results_known": "Its key results as of as_of whose status is not unknown: those progress counts.",
    "key_results_total": "Its key results as of as_of.",
}

objective_progress = sa.Table(
    "objective_progress",
    metadata,
    *_computed_columns(OBJECTIVE_PROGRESS_SCHEMA, OBJECTIVE_PROGRESS_COMMENTS, ("objective_id", "as_of"), ()),
    comment="One row per objective and as-of day: its progress from its key results, and its status.",
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column(
        "webhook_env",
        sa.String(100),
        primary_key=True,
        comment="The environment variable naming the webhook the message goes to (the config's alerts).",
    ),
    sa.Column("key_result_id", TEXT, primary_key=True, comment="The key result whose status changed."),
    sa.Column("as_of", sa.Date(), primary_key=True, comment="The as-of day the status changed on."),
    sa.Column("status", sa.String(16), primary_key=True, comment="Its new status."),
    sa.Column(
        "previous_status", sa.String(16), comment="Its status the as-of day before; null on its first day."
    ),
    sa.Column("objective_id", TEXT, nullable=False, comment="Its objective (objectives.objective_id)."),
    sa.Column(
        "rule",
        sa.String(32),
        nullable=False,
        comment="The alert rule it matched: status_change or off_track.",
    ),
    sa.Column("message", sa.String(2000), nullable=False, comment="The text posted (Slack's `text`)."),
    sa.Column(
        "created_at",
        TIMESTAMP,
        nullable=False,
        comment="When the key results were published (UTC).",
    ),
    sa.Column("sent_at", TIMESTAMP, comment="When the webhook accepted it (UTC); null: not yet."),
    sa.Column(
        "attempts", sa.Integer(), nullable=False, comment="Deliveries tried (each retried with backoff)."
    ),
    sa.Column("last_error", sa.String(1000), comment="Why the last delivery failed (never the webhook URL)."),
    comment="One row per key result status change an alert rule matched, sent once to its webhook by the "
    "okr_alerts sensor (or `kpi run`): the outbox and the record of what was sent.",
)

objectives = sa.Table(
    "objectives",
    metadata,
    sa.Column("objective_id", TEXT, primary_key=True, comment="The objective's id in the OKR config."),
    sa.Column("title", TEXT, nullable=False, comment="The objective's title."),
    sa.Column("owner", TEXT, nullable=False, comment="Who owns the objective."),
    sa.Column("period_start", sa.Date(), nullable=False, comment="First day of the objective's period."),
    sa.Column("period_end", sa.Date(), nullable=False, comment="Last day of the objective's period."),
    sa.Column(
        "parent_objective_id",
        TEXT,
        comment="The objective this one is aligned under (objectives.objective_id); null for a top one.",
    ),
    comment="One row per objective of the OKR config, for BI joins and labels.",
)

key_result_definitions = sa.Table(
    "key_result_definitions",
    metadata,
    sa.Column("key_result_id", TEXT, primary_key=True, comment="The key result's id in the OKR config."),
    sa.Column("objective_id", TEXT, nullable=False, comment="Its objective (objectives.objective_id)."),
    sa.Column("description", TEXT, nullable=False, comment="The key result's description."),
    sa.Column("kpi_id", TEXT, nullable=False, comment="The KPI it measures (kpi_definitions.kpi_id)."),
    sa.Column(
        "baseline", sa.Double(), comment="Baseline value (KPI's unit); null for stay_above / stay_below."
    ),
    sa.Column("target", sa.Double(), nullable=False, comment="Target value (KPI's unit)."),
    sa.Column(
        "type",
        sa.String(16),
        comment="increase, decrease, stay_above or stay_below (null on rows before it).",
    ),
    sa.Column(
        "measure",
        sa.String(64),
        comment="What the actual is measured over: to_date, latest_complete: GRAIN or trailing_days: N.",
    ),
    sa.Column("weight", sa.Double(), comment="Its weight in its objective's progress (default 1)."),
    sa.Column(
        "dimension",
        sa.String(100),
        comment="The KPI dimension it reads one value of; '' for the KPI's total.",
    ),
    sa.Column(
        "dimension_value", TEXT, comment="The dimension value whose KPI row it reads; '' for the total."
    ),
    comment="One row per key result of the OKR config: its label, KPI, type, measure, weight, baseline and "
    "target.",
)

kpi_definitions = sa.Table(
    "kpi_definitions",
    metadata,
    sa.Column("kpi_id", TEXT, primary_key=True, comment="The KPI's id, as in kpi_values.kpi_id."),
    sa.Column("name", TEXT, nullable=False, comment="The KPI's display name."),
    sa.Column("formula", sa.String(1000), nullable=False, comment="The KPI's formula over a period."),
    sa.Column(
        "unit", TEXT, nullable=False, comment="The KPI's unit: currency, ratio, percent, score or count."
    ),
    sa.Column("direction", TEXT, nullable=False, comment="higher_is_better or lower_is_better."),
    sa.Column(
        "inputs", TEXT, nullable=False, comment="The entities the KPI is computed from, comma-separated."
    ),
    sa.Column(
        "is_ratio", sa.Boolean(), nullable=False, comment="True when the KPI is numerator / denominator."
    ),
    sa.Column(
        "numerator",
        sa.String(1000),
        comment="The KPI's numerator: its expression over measures (the whole KPI when it is not a ratio).",
    ),
    sa.Column(
        "denominator",
        sa.String(1000),
        comment="The KPI's denominator: its expression over measures; null when the KPI is not a ratio.",
    ),
    sa.Column(
        "scale",
        sa.Double(),
        comment="The factor numerator / denominator is multiplied by for a ratio (e.g. 100 for a percent); "
        "1 when none.",
    ),
    sa.Column(
        "dimensions",
        sa.String(1000),
        comment="The dimensions kpi_values breaks the KPI down by, comma-separated; '' when none.",
    ),
    sa.Column(
        "declared_in",
        sa.String(1000),
        comment="Where the KPI is declared: 'built-in', or the path of the config file that declares or "
        "overrides it.",
    ),
    comment="One row per KPI of the catalog and the config, for BI joins and labels.",
)

dq_results = sa.Table(
    "dq_results",
    metadata,
    sa.Column("check", TEXT, nullable=False, comment="The check's name."),
    sa.Column("asset", TEXT, nullable=False, comment="The Dagster asset checked, e.g. kpi/kpi_values."),
    sa.Column("partition", TEXT, comment="The day (YYYY-MM-DD) checked; null for an unpartitioned check."),
    sa.Column("passed", sa.Boolean(), nullable=False, comment="Whether the check passed."),
    sa.Column("observed", sa.String(4000), nullable=False, comment="What the check saw (JSON text)."),
    sa.Column("run_id", TEXT, comment="The Dagster run that ran the check."),
    sa.Column("checked_at", TIMESTAMP, nullable=False, comment="When the check ran (UTC)."),
    comment="One row per data-quality check run, per partition: the record of every check.",
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("source", TEXT, nullable=False, comment="The source that delivered the row."),
    sa.Column("entity", TEXT, nullable=False, comment="The entity the row was mapped to."),
    sa.Column("partition", TEXT, comment="The day (YYYY-MM-DD) of the row; null: a row of no day."),
    sa.Column("rule", sa.String(2000), nullable=False, comment="The rule the row broke."),
    sa.Column(
        "raw_row",
        sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"),  # (MariaDB's TEXT: 64 KB)
        nullable=False,
        comment="The raw row as the source delivered it (a NUL character written \\u0000).",
    ),
    sa.Column("run_id", TEXT, comment="The Dagster run that quarantined the row."),
    sa.Column(
        "quarantined_at",
        TIMESTAMP,
        nullable=False,
        comment="When the row was quarantined (UTC).",
    ),
    comment="One row per source row kept out of the entities by a row-level rule: nothing is silently dropped.",
)

# ----------------------------------------------------------------------------------------------------
# The schema's own bookkeeping (kpi/migrations.py).

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column(
        "version",
        sa.Integer(),
        primary_key=True,
        autoincrement=False,
        comment="A migration's number (kpi/migrations.py).",
    ),
    sa.Column("name", TEXT, nullable=False, comment="What the migration changed."),
    sa.Column(
        "applied_at",
        TIMESTAMP,
        nullable=False,
        comment="When it was applied to this warehouse (UTC).",
    ),
    comment="One row per schema migration applied to this warehouse; the highest version is its shape.",
)

schema_objects = sa.Table(
    "schema_objects",
    metadata,
    sa.Column(
        "object_name",
        TEXT,
        primary_key=True,
        comment="A view (view:NAME) or the comments (comments) the pipeline manages.",
    ),
    sa.Column("definition_hash", TEXT, nullable=False, comment="SHA-256 of the definition last applied."),
    sa.Column(
        "applied_at",
        TIMESTAMP,
        nullable=False,
        comment="When it was last applied (UTC).",
    ),
    comment="The definitions of the views and comments last applied, so unchanged ones are left alone.",
)

BOOKKEEPING_TABLES = (schema_version, schema_objects)

# ----------------------------------------------------------------------------------------------------
# Views. Their columns are listed explicitly, in an order that only ever grows at the end: PostgreSQL's
# CREATE OR REPLACE VIEW keeps a BI user's views on ours only when the new column list extends the old
# one. A column added by a later migration goes at the end of the list.


@dataclass(frozen=True)
class View:
    """A view: its SQL (`{name}` placeholders for identifiers quoted per dialect) and its columns'
    meanings, in the order the SELECT lists them."""

    name: str
    comment: str
    sql: str
    columns: dict[str, str]

    def render(self, dialect: sa.Dialect) -> str:
        return " ".join(self.sql.format_map(_Quoted(dialect)).split())


class _Quoted(dict[str, str]):
    """`{name}` -> the identifier quoted for the dialect where it must be (CHANGE is reserved in MariaDB)."""

    def __init__(self, dialect: sa.Dialect) -> None:
        super().__init__()
        self.dialect = dialect

    def __missing__(self, name: str) -> str:
        return self.dialect.identifier_preparer.quote(name)


_KEY_RESULT_VIEW_COLUMNS = [
    "objective_id",
    "key_result_id",
    "kpi_id",
    "as_of",
    "period_start",
    "period_end",
    "baseline",
    "target",
    "actual",
    "days_covered",
    "progress_raw",
    "progress",
    "expected_progress",
    "status",
    "computed_at",
]

_KPI_VALUE_VIEW_COLUMNS = [
    "kpi_id",
    "grain",
    "period_start",
    "period_end",
    "value",
    "numerator",
    "denominator",
    "previous_value",
    "year_ago_value",
    "unit",
    "days_covered",
    "is_complete",
    "computed_at",
    "run_id",
]


def _listed(alias: str, columns: list[str]) -> str:
    return ", ".join(f"{alias}.{{{name}}}" for name in columns)


# Added by migration 5, so listed after computed_at.
_KEY_RESULT_VIEW_COLUMNS_5 = ["window_start", "window_end"]
_DEFINITION_VIEW_COLUMNS_5 = ["type", "measure", "weight", "dimension", "dimension_value"]
_OBJECTIVE_VIEW_COLUMNS_5 = {
    "objective_progress": "progress",
    "objective_expected_progress": "expected_progress",
    "objective_status": "status",
}

okr_scorecard = View(
    name="okr_scorecard",
    comment="Each key result at its latest as-of day, with its objective's title, owner, parent and progress "
    "that day, and its description, type and measure.",
    sql=f"""
        SELECT o.{{title}} AS {{objective_title}}, o.{{owner}}, d.{{description}},
            {_listed("r", _KEY_RESULT_VIEW_COLUMNS)},
            {_listed("r", _KEY_RESULT_VIEW_COLUMNS_5)},
            {_listed("d", _DEFINITION_VIEW_COLUMNS_5)},
            o.{{parent_objective_id}},
            {", ".join(f"p.{{{column}}} AS {{{name}}}" for name, column in _OBJECTIVE_VIEW_COLUMNS_5.items())}
        FROM key_results r
        JOIN objectives o ON o.objective_id = r.objective_id
        JOIN key_result_definitions d ON d.key_result_id = r.key_result_id
        LEFT JOIN objective_progress p ON p.objective_id = r.objective_id AND p.as_of = r.as_of
        WHERE r.as_of = (SELECT max(l.as_of) FROM key_results l WHERE l.key_result_id = r.key_result_id)
    """,
    columns={
        "objective_title": "The objective's title (objectives.title).",
        "owner": "The objective's owner (objectives.owner).",
        "description": "The key result's description (key_result_definitions.description).",
        **{
            name: KEY_RESULT_COMMENTS.get(name, "When the row was computed (UTC).")
            for name in _KEY_RESULT_VIEW_COLUMNS
        },
        **{name: KEY_RESULT_COMMENTS[name] for name in _KEY_RESULT_VIEW_COLUMNS_5},
        **{
            name: f"{key_result_definitions.c[name].comment} (key_result_definitions.{name})"
            for name in _DEFINITION_VIEW_COLUMNS_5
        },
        "parent_objective_id": objectives.c.parent_objective_id.comment or "",
        **{
            name: f"{OBJECTIVE_PROGRESS_COMMENTS[column]} (objective_progress.{column}, as of the same day)"
            for name, column in _OBJECTIVE_VIEW_COLUMNS_5.items()
        },
    },
)

# Added by migration 3, so listed after change and change_pct (see above).
_KPI_VALUE_DIMENSION_VIEW_COLUMNS = ["dimension", "dimension_value"]

kpi_latest = View(
    name="kpi_latest",
    comment="Each KPI, grain and dimension value at its latest period (the KPI's total: dimension ''), with "
    "its name and direction and its change on the previous period.",
    sql=f"""
        SELECT d.{{name}}, d.{{direction}}, {_listed("v", _KPI_VALUE_VIEW_COLUMNS)},
            v.value - v.previous_value AS {{change}},
            CASE WHEN v.previous_value <> 0 THEN (v.value - v.previous_value) / abs(v.previous_value) END
                AS {{change_pct}},
            {_listed("v", _KPI_VALUE_DIMENSION_VIEW_COLUMNS)}
        FROM kpi_values v
        JOIN kpi_definitions d ON d.kpi_id = v.kpi_id
        WHERE v.period_start = (
            SELECT max(l.period_start) FROM kpi_values l
            WHERE l.kpi_id = v.kpi_id AND l.grain = v.grain AND l.{{dimension}} = v.{{dimension}}
                AND l.{{dimension_value}} = v.{{dimension_value}}
        )
    """,
    columns={
        "name": "The KPI's display name (kpi_definitions.name).",
        "direction": "higher_is_better or lower_is_better (kpi_definitions.direction).",
        **{
            name: KPI_VALUE_COMMENTS.get(name, kpi_values.c[name].comment or name)
            for name in _KPI_VALUE_VIEW_COLUMNS
        },
        "change": "value - previous_value, in the KPI's unit; null when either is null.",
        "change_pct": "change / abs(previous_value), a fraction (0.05 is +5%); null when previous_value is "
        "0 or null.",
        **{name: KPI_VALUE_COMMENTS[name] for name in _KPI_VALUE_DIMENSION_VIEW_COLUMNS},
    },
)

VIEWS = {view.name: view for view in (okr_scorecard, kpi_latest)}
