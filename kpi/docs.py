"""docs/kpis.md and docs/warehouse.md, rendered from the KPI catalog and from kpi/schema.py so the docs
cannot drift from the code (`make docs` writes both; a test fails when one is out of date)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from kpi import schema
from kpi.catalog import Catalog, built_in_catalog
from kpi.entities import ENTITIES
from kpi.migrations import MIGRATIONS

DOCS = Path(__file__).resolve().parents[1] / "docs"
KPI_DOC = DOCS / "kpis.md"
WAREHOUSE_DOC = DOCS / "warehouse.md"


def render_kpi_catalog(catalog: Catalog | None = None) -> str:
    """docs/kpis.md: the built-in catalog (kpi/catalog.yaml), its KPIs and the measures they use."""
    catalog = catalog or built_in_catalog()
    lines = [
        "# KPI catalog",
        "",
        "Generated from `kpi/catalog.yaml` by `make docs`; a test fails when it is out of date.",
        "`kpi kpis list --config FILE` prints the same with a config's own KPIs, and how to declare",
        'them is in the README ("Your own KPIs").',
        "",
        "Every KPI is computed at day, week, month, quarter and year grain (a config's `grains` may",
        "limit them), for a period P = [start, end]. A KPI is numerator / denominator * scale over the",
        "period's own measures, never an average of finer grains; a zero denominator gives null. S and",
        "E are the customers active on start-1 and on end; H0 and H1 the employees employed on start-1",
        "and on end.",
        "",
        "| kpi_id | name | formula over P | numerator / denominator (measures) | unit | better when | needs |",
        "|---|---|---|---|---|---|---|",
    ]
    for kpi in catalog.kpis.values():
        direction = "higher" if kpi.direction == "higher_is_better" else "lower"
        expression = f"`{kpi.numerator}`"
        if kpi.denominator is not None:
            expression += f" / `{kpi.denominator}`"
        if kpi.scale != 1:
            expression += f" * {kpi.scale:g}"
        lines.append(
            f"| `{kpi.kpi_id}` | {kpi.name} | {_cell(kpi.formula)} | {expression} | {kpi.unit} | {direction} "
            f"| {', '.join(kpi.inputs)} |"
        )
    lines += [
        "",
        "## Measures",
        "",
        "Per period: flow aggregations over the rows dated in P, span aggregations over the snapshot",
        "(active on start-1, active on end, started or ended in P).",
        "",
        "| measure | entity | aggregation | column | where | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for measure in catalog.measures.values():
        lines.append(
            f"| `{measure.name}` | {measure.entity} | {measure.agg} | {_cell(measure.column)} "
            f"| {_cell(measure.where)} | {_cell(measure.description)} |"
        )
    lines += [
        "",
        "## Where this differs from the textbook formula",
        "",
        "`customer_retention_rate` is (E - N) / S with N counting only the new customers of P still active",
        "at its end, which is the customers active on start-1 and still active on end (the measure",
        "`retained_customers`) over S. In the textbook (E - N) / S, N would also count a customer who signed up and",
        "churned inside P; that customer is not in E, so subtracting them would count one loss twice and",
        "push retention below 1 - churn. With this reading, retention + churn = 1 over the customers of S.",
        "",
    ]
    return "\n".join(lines)


# SQL a BI user copies; a test runs each on DuckDB, PostgreSQL and MariaDB after a pipeline run.
WAREHOUSE_EXAMPLES = [
    (
        "The latest scorecard: every key result at its latest as-of day",
        """SELECT objective_title, owner, description, as_of, actual, target, progress, expected_progress, status
FROM okr_scorecard
ORDER BY objective_title, key_result_id;""",
    ),
    (
        "A KPI's monthly trend against its key result's target (here the key result kr-monthly-churn)",
        """SELECT v.period_start AS month, v.value, d.type, d.baseline, d.target, v.is_complete, v.days_covered
FROM kpi_values v
JOIN key_result_definitions d ON d.kpi_id = v.kpi_id
WHERE d.key_result_id = 'kr-monthly-churn' AND v.grain = 'month' AND v.dimension = ''
ORDER BY v.period_start;""",
    ),
    (
        "Month over month: each KPI's latest month against the month before, biggest movers first",
        """SELECT name, period_start, value, previous_value, change_pct, is_complete
FROM kpi_latest
WHERE grain = 'month' AND dimension = '' AND change_pct IS NOT NULL
ORDER BY abs(change_pct) DESC;""",
    ),
    (
        "The same for every month, from kpi_values (change_pct as kpi_latest computes it)",
        """SELECT kpi_id, period_start, value, previous_value,
    CASE WHEN previous_value <> 0 THEN (value - previous_value) / abs(previous_value) END AS change_pct
FROM kpi_values
WHERE grain = 'month' AND dimension = ''
ORDER BY kpi_id, period_start;""",
    ),
    (
        "Quarter over quarter by dimension: each value of a KPI's dimension (here revenue by region, "
        "when the config declares it) against the quarter before",
        """SELECT dimension_value AS region, period_start AS quarter, value, previous_value, is_complete
FROM kpi_values
WHERE kpi_id = 'revenue' AND grain = 'quarter' AND dimension = 'region'
ORDER BY dimension_value, period_start;""",
    ),
    (
        "Each objective's progress day by day against the progress expected by then, with its parent",
        """SELECT o.title, o.parent_objective_id, p.as_of, p.progress, p.expected_progress, p.status,
    p.key_results_known, p.key_results_total
FROM objective_progress p
JOIN objectives o ON o.objective_id = p.objective_id
ORDER BY o.title, p.as_of;""",
    ),
    (
        "Alerts not delivered yet, and why",
        """SELECT webhook_env, key_result_id, as_of, previous_status, status, attempts, last_error
FROM alerts
WHERE sent_at IS NULL
ORDER BY created_at;""",
    ),
]

_TYPE_NAMES: list[tuple[type, str]] = [
    (sa.Text, "text"),
    (sa.String, "text"),
    (sa.Date, "date"),
    (sa.DateTime, "timestamp (UTC)"),
    (sa.Double, "float"),
    (sa.BigInteger, "integer"),
    (sa.Integer, "integer"),
    (sa.Boolean, "boolean"),
]


def _type_name(column: sa.Column) -> str:
    name = next(text for kind, text in _TYPE_NAMES if isinstance(column.type, kind))
    if isinstance(column.type, sa.String) and not isinstance(column.type, sa.Text) and column.type.length:
        name += f" ({column.type.length})"
    return name


def _view_column_type(name: str) -> str:
    if name in ("change", "change_pct"):
        return "float"
    if name == "objective_title":
        return "text (255)"
    if name.startswith("objective_") and name.removeprefix("objective_") in schema.objective_progress.c:
        return _type_name(schema.objective_progress.c[name.removeprefix("objective_")])
    for table in (schema.key_results, schema.kpi_values, schema.kpi_definitions, schema.objectives):
        if name in table.c:
            return _type_name(table.c[name])
    return _type_name(schema.key_result_definitions.c[name])


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|")


def _table_section(table: sa.Table) -> list[str]:
    key = [column.name for column in table.primary_key.columns]
    lines = [f"### `{table.name}`", "", _cell(table.comment)]
    if table.name in ENTITIES:
        key = [ENTITIES[table.name].key, "source"]  # not enforced: a load replaces a source's rows
    lines += ["", f"Key: {', '.join(key)}.", ""] if key else [""]
    lines += ["| column | type | null | meaning |", "|---|---|---|---|"]
    for column in table.columns:
        lines.append(
            f"| `{column.name}` | {_type_name(column)} | {'yes' if column.nullable else 'no'} | {_cell(column.comment)} |"
        )
    return [*lines, ""]


def render_warehouse_reference() -> str:
    bookkeeping = {table.name for table in schema.BOOKKEEPING_TABLES}
    entities = set(schema.ENTITY_TABLES)
    contract = [
        table
        for table in schema.metadata.tables.values()
        if table.name not in bookkeeping and table.name not in entities
    ]
    lines = [
        "# Warehouse tables and views",
        "",
        "Generated from `kpi/schema.py` by `make docs`; a test fails when it is out of date. The same",
        "descriptions are in the warehouse as table and column comments (PostgreSQL, MariaDB, DuckDB; views",
        "too, except on MariaDB), so a BI tool's catalog shows them.",
        "",
        "Names and columns are stable: a release that changes a table migrates the existing warehouse in",
        "place (`schema_version` records the migrations applied), and a column added to a view is added at",
        "its end, so a view you build on ours keeps working. Dates are calendar dates in the reporting time",
        "zone; amounts are in the reporting currency; timestamps are UTC, to the microsecond.",
        "",
        "## Views",
        "",
    ]
    for view in schema.VIEWS.values():
        lines += [f"### `{view.name}` (view)", "", _cell(view.comment), ""]
        lines += ["| column | type | meaning |", "|---|---|---|"]
        lines += [
            f"| `{name}` | {_view_column_type(name)} | {_cell(comment)} |"
            for name, comment in view.columns.items()
        ]
        lines.append("")
    lines += [
        "`change` is a reserved word in MariaDB and MySQL: write `` `change` `` there.",
        "",
        "## Tables",
        "",
    ]
    for table in contract:
        lines += _table_section(table)
    lines += ["## Canonical entities", ""]
    for name in schema.ENTITY_TABLES:
        lines += _table_section(schema.metadata.tables[name])
    lines += ["## Schema bookkeeping", ""]
    for table in schema.BOOKKEEPING_TABLES:
        lines += _table_section(table)
    lines += ["Migrations:", "", "| version | change |", "|---|---|"]
    lines += [f"| {migration.version} | {migration.name} |" for migration in MIGRATIONS]
    lines += ["", "## Example queries", ""]
    for title, sql in WAREHOUSE_EXAMPLES:
        lines += [f"{title}:", "", "```sql", sql, "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    DOCS.mkdir(exist_ok=True)
    for path, text in ((KPI_DOC, render_kpi_catalog()), (WAREHOUSE_DOC, render_warehouse_reference())):
        path.write_text(text)
        print(f"wrote {path}")
