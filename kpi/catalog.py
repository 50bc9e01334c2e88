"""The KPI catalog: entities, measures and KPIs declared in YAML, checked and compiled to Polars.

DESIGN.md "Declaring measures and KPIs": the built-in catalog is `kpi/catalog.yaml`, in the same
format a config uses (`entities:`, `measures:`, `kpis:`); a config adds its own and may override a
built-in measure or KPI by name. `build_catalog` checks every reference (entity, column, measure,
dimension) before anything runs and raises CatalogError naming the key; `Catalog` is what the
transforms, the docs, `kpi kpis list` and the kpi_definitions table read.

Expressions (`column`, `where`, a KPI's `numerator` and `denominator`) are SQL in the dialect the
column mapping already uses: Polars SQL (`pl.sql_expr`).

No I/O here but reading the shipped catalog.yaml once.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kpi.entities import (
    BUILT_IN,
    BUILT_IN_ENTITIES,
    ColumnType,
    Derivation,
    Entity,
    derived,
    new_entity,
    with_dimensions,
)

NAME = r"^[a-z][a-z0-9_]*$"
CATALOG_FILE = Path(__file__).with_name("catalog.yaml")
Unit = Literal["currency", "ratio", "count", "percent", "score"]
Direction = Literal["higher_is_better", "lower_is_better"]
Aggregation = Literal[
    "sum",
    "count",
    "count_distinct",
    "mean",
    "min",
    "max",
    "active_at_start",
    "active_at_end",
    "started",
    "ended",
    "retained",
    "ended_from_start",
]
FLOW_AGGREGATIONS: tuple[str, ...] = ("sum", "count", "count_distinct", "mean", "min", "max")
SPAN_AGGREGATIONS: tuple[str, ...] = (
    "active_at_start",
    "active_at_end",
    "started",
    "ended",
    "retained",
    "ended_from_start",
)
# An aggregation over no row: a sum or a count is 0, a mean, min or max has no value.
ZERO_WHEN_EMPTY = frozenset({"sum", "count", "count_distinct", *SPAN_AGGREGATIONS})
MAX_DIMENSION_VALUES = 1000
# The columns of a period's measures frame: a measure cannot be named like one of them.
RESERVED_MEASURE_NAMES = frozenset(
    {"grain", "period_start", "period_end", "is_complete", "days_covered", "dimension", "dimension_value"}
)
NONE_VALUE = "(none)"
"""The dimension_value of rows whose dimension column is null."""


class CatalogError(ValueError):
    """A declaration names something that does not exist or cannot be computed; the message names the key."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ----------------------------------------------------------------------------------------------------
# Declarations: the YAML, as pydantic models (the config's sections and catalog.yaml alike).


class EntityDeclaration(StrictModel):
    """`entities.<name>`: dimension columns for a built-in entity, a new dated or span entity, or a
    built-in span entity derived from a dated one."""

    key: str | None = Field(default=None, description="a new entity's key column")
    date: str | None = Field(default=None, description="a dated entity's date column (daily partitions)")
    span: tuple[str, str] | None = Field(
        default=None, description="a span entity's [start, end] date columns; end null = still active"
    )
    columns: dict[str, ColumnType] = Field(default_factory=dict, description="a new entity's columns: type")
    dimensions: dict[str, ColumnType] = Field(
        default_factory=dict, description="columns added to a built-in entity: type"
    )
    derived_from: str | None = Field(
        default=None, description="customers only: derive them from this dated entity (revenue_transactions)"
    )
    churn_after_days: int | None = Field(
        default=None,
        ge=1,
        description="with derived_from: a customer churns this many days after its last purchase",
    )


class MeasureDeclaration(StrictModel):
    """`measures.<name>`: an aggregation of one entity's rows per period."""

    entity: str
    agg: Aggregation
    column: str | None = Field(
        default=None, description="a column or SQL expression over the entity's columns"
    )
    where: str | None = Field(default=None, description="a SQL condition on the entity's rows")
    description: str | None = None


class KpiDeclaration(StrictModel):
    """An item of `kpis:`: numerator (and denominator) expressions over measure names."""

    id: str = Field(pattern=NAME, max_length=100, description="lower_case_words; at most 100 characters")
    name: str
    numerator: str
    denominator: str | None = None
    scale: float = 1.0
    unit: Unit
    direction: Direction
    dimensions: list[str] = Field(default_factory=list)
    formula: str | None = Field(default=None, description="the formula in words, for docs and BI labels")
    bounds: tuple[float | None, float | None] | None = Field(
        default=None,
        description="[lowest, highest] values it can take (null: unbounded); a value outside fails the day",
    )


class CatalogFile(StrictModel):
    entities: dict[str, EntityDeclaration] = Field(default_factory=dict)
    measures: dict[str, MeasureDeclaration] = Field(default_factory=dict)
    kpis: list[KpiDeclaration] = Field(default_factory=list)


# ----------------------------------------------------------------------------------------------------
# Compiled: what the transforms evaluate.


def _present_on(start_column: str, end_column: str, day: date) -> pl.Expr:
    """Active on `day`: started on or before it, and not ended on or before it (DESIGN.md "KPIs")."""
    return (pl.col(start_column) <= day) & (pl.col(end_column).is_null() | (pl.col(end_column) > day))


@dataclass(frozen=True)
class Measure:
    """A declared measure: `agg` of `column` over the rows of `entity` that meet `where`, per period."""

    name: str
    entity: str
    agg: str
    column: str | None
    where: str | None
    description: str
    declared_in: str

    @property
    def is_span(self) -> bool:
        return self.agg in SPAN_AGGREGATIONS

    @property
    def empty_value(self) -> int | None:
        """Its value over no row: 0 for sums and counts, null for a mean, min or max."""
        return 0 if self.agg in ZERO_WHEN_EMPTY else None

    def condition(self) -> pl.Expr | None:
        """Its `where` as a Polars condition (a null counts as false); None: every row."""
        return pl.sql_expr(self.where).fill_null(False) if self.where else None

    def values(self) -> pl.Expr | None:
        """Its `column` on the rows meeting its condition; None for a count of rows."""
        if self.column is None:
            return None
        values, condition = pl.sql_expr(self.column), self.condition()
        return values if condition is None else values.filter(condition)

    def distinct_rows(self) -> pl.Expr:
        """The rows a distinct count counts: its column not null, its condition met."""
        present = pl.sql_expr(self.column).is_not_null()  # type: ignore[arg-type]
        condition = self.condition()
        return present if condition is None else present & condition

    def aggregation(self) -> pl.Expr:
        """A flow measure over the rows of one group (a period, or a period and dimension value);
        output name: the measure's name. SQL semantics: nulls are not counted, summed or averaged."""
        condition, values = self.condition(), self.values()
        if values is None:  # a count of rows
            counted = condition.sum() if condition is not None else pl.len()
            return counted.cast(pl.Int64()).alias(self.name)
        aggregated = {
            "sum": lambda: values.sum(),
            "count": lambda: values.count(),
            "count_distinct": lambda: values.drop_nulls().n_unique(),
            "mean": lambda: values.mean(),
            "min": lambda: values.min(),
            "max": lambda: values.max(),
        }[self.agg]()
        return aggregated.alias(self.name)

    def span_aggregation(self, entity: Entity, start: date, end: date) -> pl.Expr:
        """A span measure over the period [start, end] (DESIGN.md's span aggregations): the count of
        the entity's rows active on start-1 and/or on end, or starting or ending in the period."""
        assert entity.span is not None, f"{entity.name} is not a span entity"
        start_column, end_column = entity.span
        active_before = _present_on(start_column, end_column, start - timedelta(days=1))
        active_at_end = _present_on(start_column, end_column, end)
        ends_in_period = pl.col(end_column).is_between(start, end).fill_null(False)
        rows = {
            "active_at_start": active_before,
            "active_at_end": active_at_end,
            "started": pl.col(start_column).is_between(start, end).fill_null(False),
            "ended": ends_in_period,
            "retained": active_before & active_at_end,
            "ended_from_start": active_before & ends_in_period,
        }[self.agg]
        condition = self.condition()
        if condition is not None:
            rows = rows & condition
        return rows.sum().cast(pl.Int64()).alias(self.name)


@dataclass(frozen=True)
class KpiDefinition:
    """A KPI: numerator / denominator * scale, both expressions over the period's own measures, never
    an average of finer grains; a zero denominator gives null."""

    kpi_id: str
    name: str
    formula: str
    """The formula over the period P, in words."""
    unit: str
    direction: str
    numerator: str
    denominator: str | None
    scale: float
    dimensions: tuple[str, ...]
    bounds: tuple[float | None, float | None] | None
    """The values it can take (lowest, highest; None: unbounded); the kpi_values check enforces them."""
    measures: tuple[str, ...]
    """The measures its expressions name."""
    inputs: tuple[str, ...]
    """The entities of its measures: without all of them provided it is skipped, with a message."""
    declared_in: str

    @property
    def is_ratio(self) -> bool:
        return self.denominator is not None

    def numerator_expression(self) -> pl.Expr:
        """Over Float64 measure columns."""
        return pl.sql_expr(self.numerator).cast(pl.Float64())

    def denominator_expression(self) -> pl.Expr | None:
        return None if self.denominator is None else pl.sql_expr(self.denominator).cast(pl.Float64())


@dataclass(frozen=True)
class Catalog:
    """The entities, measures and KPIs a config can compute: the built-ins with the config's own."""

    entities: dict[str, Entity]
    measures: dict[str, Measure]
    kpis: dict[str, KpiDefinition]

    def computable(self, provided: list[str] | set[str]) -> tuple[list[KpiDefinition], dict[str, list[str]]]:
        """The KPIs whose input entities are all provided, and for the others the entities they miss."""
        available = set(provided)
        computable, skipped = [], {}
        for kpi in self.kpis.values():
            missing = [entity for entity in kpi.inputs if entity not in available]
            if missing:
                skipped[kpi.kpi_id] = missing
            else:
                computable.append(kpi)
        return computable, skipped

    def dated_inputs(self, kpi: KpiDefinition) -> tuple[str, ...]:
        """The KPI's dated input entities: the days it covers are the days all of them were loaded."""
        return tuple(sorted(name for name in kpi.inputs if self.entities[name].is_dated))

    def measures_of(self, kpis: list[KpiDefinition]) -> list[Measure]:
        """The measures `kpis` name, in catalog order."""
        names = {name for kpi in kpis for name in kpi.measures}
        return [measure for name, measure in self.measures.items() if name in names]

    def definition_rows(self) -> pl.DataFrame:
        """The catalog as rows of the kpi_definitions table."""
        return pl.DataFrame(
            [
                (
                    kpi.kpi_id,
                    kpi.name,
                    kpi.formula,
                    kpi.unit,
                    kpi.direction,
                    ", ".join(kpi.inputs),
                    kpi.is_ratio,
                    kpi.numerator,
                    kpi.denominator,
                    kpi.scale,
                    ", ".join(kpi.dimensions),
                    kpi.declared_in,
                )
                for kpi in self.kpis.values()
            ],
            schema={
                "kpi_id": pl.String(),
                "name": pl.String(),
                "formula": pl.String(),
                "unit": pl.String(),
                "direction": pl.String(),
                "inputs": pl.String(),
                "is_ratio": pl.Boolean(),
                "numerator": pl.String(),
                "denominator": pl.String(),
                "scale": pl.Float64(),
                "dimensions": pl.String(),
                "declared_in": pl.String(),
            },
            orient="row",
        )


# ----------------------------------------------------------------------------------------------------
# Building and checking.


def _parse(expression: str, where: str) -> pl.Expr:
    try:
        return pl.sql_expr(expression)
    except pl.exceptions.PolarsError as error:
        raise CatalogError(
            f"{where}: {expression!r} does not parse as SQL: {str(error).splitlines()[0]}"
        ) from None


def _check_names(
    expression: pl.Expr, known: list[str] | dict[str, Any], what: str, where: str, text: str
) -> None:
    unknown = [name for name in expression.meta.root_names() if name not in known]
    if unknown:
        raise CatalogError(
            f"{where}: {text!r} names {', '.join(map(repr, unknown))}, not {what}; expected some of: "
            f"{', '.join(known)}"
        )


def _evaluate(frame: pl.DataFrame, expression: pl.Expr, where: str, text: str) -> pl.DataType:
    """The type of `expression` over `frame`'s columns: a type error is a config error now, not a
    failed run later."""
    try:  # run, not only planned: Polars finds a comparison of text with a number when it runs
        return frame.select(expression).dtypes[0]
    except pl.exceptions.PolarsError as error:
        raise CatalogError(f"{where}: {text!r} cannot be computed: {str(error).splitlines()[0]}") from None


def _entities(declarations: dict[str, EntityDeclaration], declared_in: str) -> dict[str, Entity]:
    entities = dict(BUILT_IN_ENTITIES)
    for name, declaration in declarations.items():
        where = f"entities.{name}"
        if name in BUILT_IN_ENTITIES:
            entities[name] = _built_in_entity(entities[name], declaration, where, declared_in)
        else:
            entities[name] = _new_entity(name, declaration, where, declared_in)
    for name, entity in entities.items():
        if entity.derivation is not None:
            source = entity.derivation.from_entity
            if source != "revenue_transactions":
                raise CatalogError(
                    f"entities.{name}.derived_from: customers are derived from revenue_transactions, not {source!r}"
                )
    return entities


def _built_in_entity(entity: Entity, declaration: EntityDeclaration, where: str, declared_in: str) -> Entity:
    given = [key for key in ("key", "date", "span", "columns") if getattr(declaration, key)]
    if given:
        raise CatalogError(
            f"{where}: {entity.name} is a built-in entity: its {', '.join(given)} are fixed; declare "
            "`dimensions` to add columns to it"
        )
    clashing = [column for column in declaration.dimensions if column in entity.schema]
    if clashing:
        raise CatalogError(
            f"{where}.dimensions: {', '.join(clashing)} already a column of {entity.name} (usable as a "
            "dimension as it is)"
        )
    _check_column_names(declaration.dimensions, f"{where}.dimensions")
    if declaration.dimensions:
        entity = with_dimensions(entity, dict(declaration.dimensions), declared_in)
    if declaration.derived_from is not None or declaration.churn_after_days is not None:
        if entity.name != "customers":
            raise CatalogError(f"{where}: only customers can be derived (from revenue_transactions)")
        if declaration.derived_from is None or declaration.churn_after_days is None:
            raise CatalogError(f"{where}: a derived entity needs both derived_from and churn_after_days")
        entity = derived(
            entity, Derivation(declaration.derived_from, declaration.churn_after_days), declared_in
        )
    return entity


def _check_column_names(columns: dict[str, Any], where: str) -> None:
    bad = [
        column for column in columns if not re.match(NAME, column) or column == "source" or len(column) > 63
    ]
    if bad:
        raise CatalogError(
            f"{where}: column name(s) {', '.join(map(repr, bad))}: expected lower_case names of at most 63 "
            "characters (and not `source`, which the warehouse uses)"
        )


def _new_entity(name: str, declaration: EntityDeclaration, where: str, declared_in: str) -> Entity:
    if not re.match(NAME, name):
        raise CatalogError(f"{where}: entity names are lower_case words joined by _")
    from kpi.schema import metadata  # the warehouse's own tables and views

    taken = {*metadata.tables, "okr_scorecard", "kpi_latest"}
    if name in taken:
        raise CatalogError(
            f"{where}: {name} is a table or view of the warehouse itself; name the entity otherwise"
        )
    if declaration.dimensions or declaration.derived_from or declaration.churn_after_days:
        raise CatalogError(
            f"{where}: dimensions, derived_from and churn_after_days are for built-in entities; every "
            "column of a declared entity can be a dimension"
        )
    if declaration.key is None or not declaration.columns:
        raise CatalogError(f"{where}: a new entity needs `key` and `columns`")
    if (declaration.date is None) == (declaration.span is None):
        raise CatalogError(
            f"{where}: a new entity is either dated (`date: column`) or a span (`span: [start, end]`)"
        )
    columns = declaration.columns
    _check_column_names(columns, f"{where}.columns")
    if declaration.key not in columns:
        raise CatalogError(
            f"{where}.key: {declaration.key!r} is not one of its columns: {', '.join(columns)}"
        )
    dates = [declaration.date] if declaration.date else list(declaration.span or ())
    for column in dates:
        if columns.get(column) != "date":
            raise CatalogError(
                f"{where}.{'date' if declaration.date else 'span'}: {column!r} must be one of its columns, of "
                f"type date (columns: {', '.join(f'{c}: {t}' for c, t in columns.items())})"
            )
    return new_entity(name, declaration.key, dict(columns), declared_in, declaration.date, declaration.span)


def _measure(
    name: str, declaration: MeasureDeclaration, entities: dict[str, Entity], declared_in: str
) -> Measure:
    where = f"measures.{name}"
    entity = entities.get(declaration.entity)
    if entity is None:
        raise CatalogError(
            f"{where}.entity: unknown entity {declaration.entity!r}; expected one of: {', '.join(entities)}"
        )
    is_span = declaration.agg in SPAN_AGGREGATIONS
    if is_span and entity.span is None:
        raise CatalogError(
            f"{where}.agg: {declaration.agg} counts rows of a span entity; {entity.name} is dated: use one of "
            f"{', '.join(FLOW_AGGREGATIONS)}"
        )
    if not is_span and entity.date_column is None:
        raise CatalogError(
            f"{where}.agg: {declaration.agg} aggregates the rows dated in a period; {entity.name} is a span "
            f"entity: use one of {', '.join(SPAN_AGGREGATIONS)}"
        )
    if is_span and declaration.column is not None:
        raise CatalogError(f"{where}.column: {declaration.agg} counts rows; it takes no column")
    if not is_span and declaration.column is None and declaration.agg != "count":
        raise CatalogError(
            f"{where}.column: {declaration.agg} needs the column (or expression) it aggregates"
        )
    empty = entity.empty_frame()
    if declaration.column is not None:
        expression = _parse(declaration.column, f"{where}.column")
        _check_names(
            expression,
            list(entity.schema),
            f"a column of {entity.name}",
            f"{where}.column",
            declaration.column,
        )
        dtype = _evaluate(empty, expression, f"{where}.column", declaration.column)
        if declaration.agg in ("sum", "mean") and not dtype.is_numeric():
            raise CatalogError(
                f"{where}.column: {declaration.column!r} is {dtype}, not a number: it cannot be a {declaration.agg}"
            )
    if declaration.where is not None:
        condition = _parse(declaration.where, f"{where}.where")
        _check_names(
            condition, list(entity.schema), f"a column of {entity.name}", f"{where}.where", declaration.where
        )
        dtype = _evaluate(empty, condition, f"{where}.where", declaration.where)
        if not isinstance(dtype, pl.Boolean):
            raise CatalogError(
                f"{where}.where: {declaration.where!r} is {dtype}, not a condition (true or false)"
            )
    measure = Measure(
        name=name,
        entity=entity.name,
        agg=declaration.agg,
        column=declaration.column,
        where=declaration.where,
        description=declaration.description or _describe(declaration),
        declared_in=declared_in,
    )
    if not is_span:
        dtype = _evaluate(empty, measure.aggregation(), where, declaration.agg)
        if not dtype.is_numeric():
            raise CatalogError(
                f"{where}: {declaration.agg}({declaration.column}) is {dtype}, not a number: a KPI adds, "
                "subtracts and divides measures"
            )
    return measure


def _describe(declaration: MeasureDeclaration) -> str:
    what = f"{declaration.agg}({declaration.column})" if declaration.column else declaration.agg
    text = f"{what} of {declaration.entity}"
    return f"{text} where {declaration.where}" if declaration.where else text


def _kpi(
    index: int,
    declaration: KpiDeclaration,
    measures: dict[str, Measure],
    entities: dict[str, Entity],
    declared_in: str,
) -> KpiDefinition:
    where = f"kpis[{index}] ({declaration.id})"
    named: list[str] = []
    for key in ("numerator", "denominator"):
        text = getattr(declaration, key)
        if text is None:
            continue
        expression = _parse(text, f"{where}.{key}")
        _check_names(expression, measures, "a measure", f"{where}.{key}", text)
        named += [name for name in expression.meta.root_names() if name not in named]
        frame = pl.DataFrame(schema={name: pl.Float64() for name in measures})
        dtype = _evaluate(frame, expression, f"{where}.{key}", text)
        if not dtype.is_numeric():
            raise CatalogError(f"{where}.{key}: {text!r} is {dtype}, not a number")
    if not named:
        raise CatalogError(f"{where}.numerator: {declaration.numerator!r} names no measure")
    inputs = tuple(dict.fromkeys(measures[name].entity for name in named))
    for dimension in declaration.dimensions:
        lacking = [entity for entity in inputs if dimension not in entities[entity].schema]
        if lacking:
            raise CatalogError(
                f"{where}.dimensions: {dimension!r} is not a column of {', '.join(lacking)} (every entity of "
                f"the KPI's measures needs it; declare it with entities.<entity>.dimensions)"
            )
    if len(set(declaration.dimensions)) < len(declaration.dimensions):
        raise CatalogError(f"{where}.dimensions: listed twice")
    if declaration.bounds is not None:
        lowest, highest = declaration.bounds
        if lowest is not None and highest is not None and lowest > highest:
            raise CatalogError(f"{where}.bounds: lowest {lowest} is above highest {highest}")
    return KpiDefinition(
        kpi_id=declaration.id,
        name=declaration.name,
        formula=declaration.formula or _formula(declaration),
        unit=declaration.unit,
        direction=declaration.direction,
        numerator=declaration.numerator,
        denominator=declaration.denominator,
        scale=declaration.scale,
        dimensions=tuple(declaration.dimensions),
        bounds=declaration.bounds,
        measures=tuple(named),
        inputs=inputs,
        declared_in=declared_in,
    )


def _formula(declaration: KpiDeclaration) -> str:
    formula = declaration.numerator
    if declaration.denominator is not None:
        formula = f"({formula}) / ({declaration.denominator})"
    if declaration.scale != 1:
        formula = f"{declaration.scale:g} * {formula}"
    return formula


def build_catalog(
    entities: dict[str, EntityDeclaration] | None = None,
    measures: dict[str, MeasureDeclaration] | None = None,
    kpis: list[KpiDeclaration] | None = None,
    declared_in: str = "config",
) -> Catalog:
    """The built-in catalog with a config's declarations added: a measure or KPI named like a built-in
    replaces it (in its place). Raises CatalogError naming the key of the first bad reference."""
    base = built_in_catalog()
    if not entities and not measures and not kpis:
        return base
    return _compile(
        CatalogFile(entities=entities or {}, measures=measures or {}, kpis=kpis or []),
        declared_in,
        base=_built_in_declarations(),
    )


def _compile(declarations: CatalogFile, declared_in: str, base: CatalogFile | None = None) -> Catalog:
    ids = [kpi.id for kpi in declarations.kpis]
    repeated = sorted({kpi_id for kpi_id in ids if ids.count(kpi_id) > 1})
    if repeated:
        raise CatalogError(f"kpis: ids must be unique; repeated: {', '.join(repeated)}")
    entities = _entities(declarations.entities, declared_in)
    measures: dict[str, Measure] = {}
    if base is not None:
        measures = {
            name: _measure(name, declaration, entities, BUILT_IN)
            for name, declaration in base.measures.items()
            if name not in declarations.measures
        }
    for name, declaration in declarations.measures.items():
        if not re.match(NAME, name):
            raise CatalogError(f"measures.{name}: measure names are lower_case words joined by _")
        if name in RESERVED_MEASURE_NAMES:
            raise CatalogError(
                f"measures.{name}: a reserved name (one of {', '.join(sorted(RESERVED_MEASURE_NAMES))}); choose another"
            )
        measures[name] = _measure(name, declaration, entities, declared_in)
    kpis: dict[str, KpiDefinition] = {}
    overrides = {kpi.id for kpi in declarations.kpis}
    if base is not None:
        for index, kpi in enumerate(base.kpis):
            if kpi.id not in overrides:
                kpis[kpi.id] = _kpi(index, kpi, measures, entities, BUILT_IN)
            else:
                kpis[kpi.id] = None  # type: ignore[assignment]  # keeps the built-in's place
    for index, kpi in enumerate(declarations.kpis):
        kpis[kpi.id] = _kpi(index, kpi, measures, entities, declared_in)
    return Catalog(entities=entities, measures=measures, kpis=kpis)


@functools.cache
def _built_in_declarations() -> CatalogFile:
    try:
        data = yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8"))
        return CatalogFile.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise CatalogError(f"{CATALOG_FILE}: the built-in catalog is broken: {error}") from None


@functools.cache
def built_in_catalog() -> Catalog:
    """The catalog shipped with the package (kpi/catalog.yaml): the 19 KPIs of DESIGN.md."""
    try:
        return _compile(_built_in_declarations(), BUILT_IN)
    except CatalogError as error:
        raise CatalogError(f"{CATALOG_FILE}: {error}") from None
