"""The one YAML config of DESIGN.md, loaded into typed settings and checked before anything runs."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, Field, PrivateAttr, ValidationError, field_validator, model_validator

from kpi.catalog import (
    NAME,
    Catalog,
    CatalogError,
    EntityDeclaration,
    KpiDeclaration,
    MeasureDeclaration,
    StrictModel,
    build_catalog,
)
from kpi.entities import Entity
from kpi.formats import measure_label
from kpi.periods import GRAINS, Calendar, Grain
from kpi.schema import TEXT

SLUG = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class ConfigError(Exception):
    """The config file is unreadable or invalid; the message names the file, the key and what is expected."""


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class QualityConfig(StrictModel):
    """How strict the data-quality gate is for one source."""

    min_rows_per_day: int = Field(default=0, ge=0, description="a dated day with fewer rows fails its check")
    days_without_data: list[str] = Field(
        default_factory=list, description="weekdays (sunday) or dates (12-25) where no rows is normal"
    )
    quarantine_threshold: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="the share of a day's rows that may be quarantined before it fails",
    )
    expectations: list[dict[str, Any]] = Field(
        default_factory=list,
        description="more Great Expectations for this source's rows: {type: expect_..., column: ..., ...}",
    )

    @field_validator("days_without_data")
    @classmethod
    def days_are_weekdays_or_dates(cls, days: list[str]) -> list[str]:
        for day in days:
            if day.lower() not in WEEKDAYS and not re.fullmatch(r"\d{2}-\d{2}", day):
                raise ValueError(f"{day!r} is neither a weekday ({', '.join(WEEKDAYS)}) nor a MM-DD date")
        return [day.lower() for day in days]

    @field_validator("expectations")
    @classmethod
    def expectations_are_known(cls, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from expectations.suites import build_expectation

        for spec in specs:
            if "type" not in spec:
                raise ValueError(f"expectation {spec} has no `type`")
            try:
                build_expectation(spec)
            except Exception as error:  # GX raises pydantic and value errors alike for bad arguments
                raise ValueError(f"expectation {spec['type']}: {str(error).splitlines()[0]}") from None
        return specs

    def min_rows_on(self, day: date) -> int:
        if (
            WEEKDAYS[day.weekday()] in self.days_without_data
            or day.strftime("%m-%d") in self.days_without_data
        ):
            return 0
        return self.min_rows_per_day


class SourceConfig(StrictModel):
    name: str = Field(
        pattern=NAME, max_length=TEXT.length, description="Unique; becomes part of the raw asset's key."
    )
    connector: str
    options: dict[str, Any] = Field(default_factory=dict)
    entity: str = Field(description="a built-in or declared entity")
    columns: dict[str, str] = Field(description="canonical column: source column or expression")
    date_format: str | None = Field(
        default=None, description="strftime format of text dates, e.g. '%m/%d/%Y'; ISO by default"
    )
    null_values: list[str] | None = Field(
        default=None,
        description="text values that mean null in every column (default: the empty string); when not "
        "given, a value that looks like a null marker (NULL, N/A, \\N, ...) quarantines its row",
    )
    decimal_separator: str | None = Field(
        default=None, min_length=1, max_length=1, description="of text numbers: `,` for 1.234,56"
    )
    thousands_separator: str | None = Field(
        default=None, min_length=1, max_length=1, description="of text numbers: `.` for 1.234,56"
    )
    quality: QualityConfig = Field(default_factory=QualityConfig)
    source_columns: dict[str, Literal["text", "integer", "float", "date", "datetime", "boolean"]] | None = (
        Field(
            default=None,
            description="the source's columns and types, when declared: a missing, new or retyped column stops the extract",
        )
    )

    def columns_fit(self, entity: Entity) -> None:
        """Raise ValueError unless the mapped columns are the entity's, its required ones all mapped."""
        unknown = sorted(set(self.columns) - set(entity.schema))
        if unknown:
            raise ValueError(
                f"columns: {', '.join(unknown)} not a column of {self.entity}; "
                f"expected some of: {', '.join(entity.schema)}"
            )
        missing = [column for column in entity.required_columns if column not in self.columns]
        if missing:
            raise ValueError(f"columns: {self.entity} needs a mapping for {', '.join(missing)}")

    @model_validator(mode="after")
    def separators_differ(self) -> SourceConfig:
        for key in ("decimal_separator", "thousands_separator"):
            separator = getattr(self, key)
            if separator is not None and (separator.isdigit() or separator in "+-eE"):
                raise ValueError(f"{key}: {separator!r} cannot separate the digits of a number")
        if (self.decimal_separator or ".") == self.thousands_separator:
            raise ValueError(
                f"decimal_separator and thousands_separator are both {self.thousands_separator!r} "
                "(the decimal separator is `.` unless given): a number like 1.234 would be ambiguous"
            )
        return self

    @model_validator(mode="after")
    def expressions_parse(self) -> SourceConfig:
        import polars as pl

        from assets.sources.transforms import IDENTIFIER

        for canonical, spec in self.columns.items():
            if IDENTIFIER.match(spec):
                continue
            try:
                pl.sql_expr(spec)
            except pl.exceptions.PolarsError as error:
                raise ValueError(
                    f"columns.{canonical}: {spec!r} is neither a column name nor a SQL expression that parses: "
                    f"{str(error).splitlines()[0]}"
                ) from None
        return self

    @model_validator(mode="after")
    def connector_and_options_are_known(self) -> SourceConfig:
        from connectors import get_connector

        try:
            connector = get_connector(self.connector)
        except KeyError as error:  # unknown, or a plug-in that could not be loaded: the message says which
            raise ValueError(f"connector: {error.args[0]}") from None
        try:
            connector.Options.model_validate(self.options)
        except ValidationError as error:
            options_model = connector.Options
            raise ValueError("; ".join(_problems(error, prefix="options", model=options_model))) from None
        return self


KeyResultType = Literal["increase", "decrease", "stay_above", "stay_below"]
STAY_TYPES = ("stay_above", "stay_below")
MEASURE_HELP = "to_date, {latest_complete: GRAIN} or {trailing_days: N}"


class Measure(StrictModel):
    """What a key result's actual is measured over, as of a day T (DESIGN.md "Key results"): `to_date`
    the objective's start to min(T, end); `latest_complete` the latest complete period of `grain`
    inside that; `trailing_days` the `days` days up to min(T, end)."""

    kind: Literal["to_date", "latest_complete", "trailing_days"] = "to_date"
    grain: Grain | None = None
    days: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def from_yaml(cls, value: Any) -> Any:
        """`to_date`, `{latest_complete: month}` or `{trailing_days: 90}`, as the config writes them."""
        if isinstance(value, Measure):
            return value
        if value == "to_date" or value == {"to_date": None}:
            return {"kind": "to_date"}
        if isinstance(value, dict) and len(value) == 1:
            ((key, argument),) = value.items()
            if key == "latest_complete":
                if argument not in GRAINS:
                    raise ValueError(
                        f"latest_complete: expected one of {', '.join(GRAINS)}, got {argument!r}"
                    )
                return {"kind": key, "grain": argument}
            if key == "trailing_days":
                if isinstance(argument, bool) or not isinstance(argument, int) or argument < 1:
                    raise ValueError(f"trailing_days: expected a whole number of days >= 1, got {argument!r}")
                return {"kind": key, "days": argument}
        if isinstance(value, dict) and "kind" in value:
            return value
        raise ValueError(f"expected {MEASURE_HELP}, got {value!r}")

    @model_validator(mode="after")
    def fields_fit_the_kind(self) -> Measure:
        needs = {"to_date": (False, False), "latest_complete": (True, False), "trailing_days": (False, True)}
        grain, days = needs[self.kind]
        if (self.grain is not None) != grain or (self.days is not None) != days:
            raise ValueError(f"expected {MEASURE_HELP}")
        return self

    @property
    def label(self) -> str:
        """How people read it: "to date", "latest complete month", "trailing 90 days"."""
        return measure_label(self.spec)

    @property
    def spec(self) -> str:
        """As the config writes it, in one string: to_date, latest_complete: month, trailing_days: 90."""
        if self.kind == "latest_complete":
            return f"latest_complete: {self.grain}"
        if self.kind == "trailing_days":
            return f"trailing_days: {self.days}"
        return "to_date"


class KeyResultConfig(StrictModel):
    id: str = Field(pattern=SLUG, max_length=TEXT.length)
    description: str = Field(max_length=TEXT.length)
    kpi_id: str = Field(description="a KPI of the catalog (checked against it with the whole config)")
    type: KeyResultType | None = Field(
        default=None,
        description="increase | decrease (default: from baseline vs target) | stay_above | stay_below",
    )
    baseline: float | None = Field(
        default=None, allow_inf_nan=False, description="where progress starts; not for stay_*"
    )
    target: float = Field(allow_inf_nan=False)
    measure: Measure = Field(
        default_factory=lambda: Measure(kind="to_date"), description=MEASURE_HELP + " (default to_date)"
    )
    weight: float = Field(
        default=1.0, gt=0, allow_inf_nan=False, description="its share of its objective's progress"
    )
    dimension: dict[str, str] | None = Field(
        default=None, description="{dimension: value}: the KPI's row for one dimension value"
    )

    @model_validator(mode="after")
    def type_fits_baseline_and_target(self) -> KeyResultConfig:
        if self.type in STAY_TYPES:
            if self.baseline is not None:
                raise ValueError(
                    f"baseline {self.baseline}: a {self.type} key result has none (it compares its actual "
                    "with its target); remove it, or use increase or decrease"
                )
            return self
        if self.baseline is None:
            raise ValueError(
                f"baseline is missing: a{'n' if self.type != 'decrease' else ''} {self.type or 'increase or decrease'} "
                "key result moves from a baseline to its target (a stay_above or stay_below one needs none)"
            )
        if self.target == self.baseline:
            raise ValueError(f"target equals baseline ({self.target}): progress would be undefined")
        if self.type == "increase" and self.target < self.baseline:
            raise ValueError(
                f"type increase, but target {self.target} is below baseline {self.baseline}: use decrease"
            )
        if self.type == "decrease" and self.target > self.baseline:
            raise ValueError(
                f"type decrease, but target {self.target} is above baseline {self.baseline}: use increase"
            )
        return self

    @field_validator("dimension")
    @classmethod
    def one_dimension(cls, dimension: dict[str, str] | None) -> dict[str, str] | None:
        if dimension is not None and len(dimension) != 1:
            raise ValueError(
                f"expected one dimension and its value, like {{segment: enterprise}}; got {dimension}"
            )
        return dimension

    @property
    def kind(self) -> KeyResultType:
        """The type, the default worked out: increase when the target is above the baseline."""
        if self.type is not None:
            return self.type
        assert self.baseline is not None
        return "increase" if self.target > self.baseline else "decrease"

    @property
    def dimension_key(self) -> tuple[str, str]:
        """(dimension, dimension_value) of the KPI row it reads: ('', '') for the KPI's total."""
        if not self.dimension:
            return ("", "")
        ((name, value),) = self.dimension.items()
        return (name, value)


class ObjectiveConfig(StrictModel):
    id: str = Field(pattern=SLUG, max_length=TEXT.length)
    title: str = Field(max_length=TEXT.length)
    owner: str = Field(max_length=TEXT.length)
    start: date
    end: date
    parent: str | None = Field(default=None, description="the objective this one is aligned under")
    key_results: list[KeyResultConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def period_is_ordered(self) -> ObjectiveConfig:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class StatusRules(StrictModel):
    """How far behind expected progress a key result may be and still be on track, or at risk."""

    on_track_slack: float = Field(default=0.10, ge=0, le=1)
    at_risk_slack: float = Field(default=0.25, ge=0, le=1)

    @model_validator(mode="after")
    def at_risk_is_looser(self) -> StatusRules:
        if self.at_risk_slack < self.on_track_slack:
            raise ValueError(
                f"at_risk_slack {self.at_risk_slack} is below on_track_slack {self.on_track_slack}: "
                "at risk starts where on track ends"
            )
        return self


class AlertConfig(StrictModel):
    """A webhook posted a JSON message ({"text": ...}, Slack's incoming-webhook shape) when key results
    change: `status_change` for every change of status from the previous as-of day, `off_track` when
    one becomes off_track or missed."""

    on: Literal["status_change", "off_track"]
    webhook_env: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="the environment variable holding the webhook URL (a secret: never in the file)",
    )

    @model_validator(mode="before")
    @classmethod
    def yaml_on_key(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `on:` key as the boolean true.
        if isinstance(value, dict) and True in value and "on" not in value:
            value = {("on" if key is True else key): item for key, item in value.items()}
        return value


class CalendarConfig(StrictModel):
    fiscal_year_start_month: int = Field(
        default=1, ge=1, le=12, description="the month fiscal years (and their quarters) start: 4 for April"
    )


class PipelineConfig(StrictModel):
    timezone: str = "UTC"
    start_date: date
    warehouse: str = "duckdb:///warehouse.duckdb"
    warehouse_password_env: str | None = Field(
        default=None, description="environment variable holding the warehouse password"
    )
    storage_dir: str = Field(
        default=".kpi_storage", description="where raw extracts wait for their entity; relative to this file"
    )
    sources: list[SourceConfig] = Field(min_length=1)
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)
    grains: list[Grain] = Field(
        default_factory=lambda: list(GRAINS),
        min_length=1,
        description="the grains computed (all five by default)",
    )
    entities: dict[str, EntityDeclaration] = Field(
        default_factory=dict,
        description="dimension columns for built-in entities, new entities, derived ones",
    )
    measures: dict[str, MeasureDeclaration] = Field(default_factory=dict)
    kpis: list[KpiDeclaration] = Field(default_factory=list)
    objectives: list[ObjectiveConfig] = Field(default_factory=list)
    objectives_file: str | None = None
    status_rules: StatusRules = Field(default_factory=StatusRules)
    alerts: list[AlertConfig] = Field(default_factory=list)
    config_dir: Path = Field(default=Path("."), exclude=True)
    """The folder of the config file: relative paths in it are relative to this."""
    config_file: Path | None = Field(default=None, exclude=True)
    """The config file itself, when loaded from one."""

    @field_validator("timezone")
    @classmethod
    def timezone_exists(cls, timezone: str) -> str:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {timezone!r}; expected an IANA name like Europe/Berlin"
            ) from None
        return timezone

    @field_validator("warehouse")
    @classmethod
    def warehouse_is_a_url(cls, warehouse: str) -> str:
        try:
            url = sa.make_url(warehouse)
        except sa.exc.ArgumentError:
            raise ValueError("expected a SQLAlchemy URL like duckdb:///warehouse.duckdb") from None
        if url.password is not None:
            raise ValueError(
                "the URL holds a password: remove it, and name the environment variable holding it in "
                "warehouse_password_env"
            )
        return warehouse

    @model_validator(mode="after")
    def names_are_unique(self) -> PipelineConfig:
        _require_unique("sources", [source.name for source in self.sources])
        _require_unique("objectives", [objective.id for objective in self.objectives])
        key_results = [kr.id for objective in self.objectives for kr in objective.key_results]
        _require_unique("key_results", key_results)
        if self.objectives and self.objectives_file:
            raise ValueError("give objectives inline or objectives_file, not both")
        if len(set(self.grains)) < len(self.grains):
            raise ValueError("grains: a grain is listed twice")
        return self

    _catalog: Catalog | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def references_resolve(self) -> PipelineConfig:
        """Build the catalog (the built-ins with this config's entities, measures and KPIs) and check
        every reference to it: sources' entities and columns, key results' KPIs."""
        try:
            catalog = build_catalog(
                self.entities, self.measures, self.kpis, str(self.config_file or "config")
            )
        except CatalogError as error:
            raise ValueError(str(error)) from None
        for index, source in enumerate(self.sources):
            where = f"sources[{index}] ({source.name})"
            entity = catalog.entities.get(source.entity)
            if entity is None:
                raise ValueError(
                    f"{where}.entity: unknown entity {source.entity!r}; expected one of: "
                    f"{', '.join(catalog.entities)} (or declare it under entities:)"
                )
            if entity.derivation is not None:
                raise ValueError(
                    f"{where}.entity: {entity.name} are derived from {entity.derivation.from_entity} "
                    f"(entities.{entity.name}.derived_from): a source cannot deliver them as well"
                )
            try:
                source.columns_fit(entity)
            except ValueError as error:
                raise ValueError(f"{where}.{error}") from None
        for index, objective in enumerate(self.objectives):
            for number, kr in enumerate(objective.key_results):
                self._check_key_result(catalog, kr, f"objectives[{index}].key_results[{number}]")
        self._check_parents()
        self._catalog = catalog
        return self

    def _check_key_result(self, catalog: Catalog, kr: KeyResultConfig, where: str) -> None:
        """The key result's KPI, dimension and latest_complete grain are ones this config computes."""
        kpi = catalog.kpis.get(kr.kpi_id)
        if kpi is None:
            raise ValueError(
                f"{where}.kpi_id: unknown KPI {kr.kpi_id!r}; expected one of: {', '.join(catalog.kpis)}"
            )
        if kr.dimension:
            dimension, _ = kr.dimension_key
            if dimension not in kpi.dimensions:
                having = (
                    ", ".join(kpi.dimensions) if kpi.dimensions else "none (declare dimensions: on the KPI)"
                )
                raise ValueError(
                    f"{where}.dimension: KPI {kpi.kpi_id} has no dimension {dimension!r}; its dimensions: {having}"
                )
        if kr.measure.kind == "latest_complete" and kr.measure.grain not in self.grains:
            raise ValueError(
                f"{where}.measure: latest_complete {kr.measure.grain}, but the config computes only "
                f"grains {', '.join(self.grains)} (grains:)"
            )

    def _check_parents(self) -> None:
        """Every `parent` names another objective, and following parents never comes back."""
        parents = {objective.id: objective.parent for objective in self.objectives}
        for index, objective in enumerate(self.objectives):
            if objective.parent is None:
                continue
            if objective.parent not in parents:
                raise ValueError(
                    f"objectives[{index}].parent: unknown objective {objective.parent!r}; expected one of: "
                    f"{', '.join(o.id for o in self.objectives if o.id != objective.id) or 'none'}"
                )
            chain = [objective.id]
            current: str | None = objective.parent
            while current is not None:
                if current in chain:
                    raise ValueError(
                        f"objectives[{index}].parent: objectives aligned in a cycle: "
                        f"{' -> '.join([*chain[chain.index(current) :], current])}"
                    )
                chain.append(current)
                current = parents[current]

    @property
    def catalog(self) -> Catalog:
        """The entities, measures and KPIs this config can compute: the built-ins with its own."""
        assert self._catalog is not None
        return self._catalog

    @property
    def reporting_calendar(self) -> Calendar:
        """The calendar periods are computed in: fiscal quarters and years, and the grains asked for."""
        return Calendar(self.calendar.fiscal_year_start_month, tuple(g for g in GRAINS if g in self.grains))

    def named_variables(self) -> dict[str, str]:
        """Every environment variable the config names (a key ending in `_env`), by the key naming it."""
        names = {"warehouse_password_env": self.warehouse_password_env} if self.warehouse_password_env else {}
        for index, source in enumerate(self.sources):
            for key, value in _env_keys(source.options):
                names[f"sources[{index}].options.{key} ({source.name})"] = value
        for index, alert in enumerate(self.alerts):
            names[f"alerts[{index}].webhook_env"] = alert.webhook_env
        return names

    def check_environment(self) -> None:
        """Raise ConfigError naming every variable the config names that is not set: checked before
        anything runs, so a missing password is one line, not a failed run per day."""
        missing = [
            f"{variable} ({key})"
            for key, variable in self.named_variables().items()
            if variable not in os.environ
        ]
        if missing:
            where = f"{self.config_file}: " if self.config_file else ""
            raise ConfigError(f"{where}environment variable(s) not set: {', '.join(missing)}")

    def sources_for(self, entity: str) -> list[SourceConfig]:
        return [source for source in self.sources if source.entity == entity]

    def sources_by_entity(self) -> dict[str, list[str]]:
        """The names of each provided entity's sources, entities in catalog order. A derived entity's
        rows carry the source of the rows they were derived from."""
        return {
            name: [source.name for source in self.sources_for(self._derived_from(name))]
            for name in self.provided_entities
        }

    def _derived_from(self, name: str) -> str:
        derivation = self.catalog.entities[name].derivation
        return name if derivation is None else derivation.from_entity

    @property
    def provided_entities(self) -> list[str]:
        """The entities some source provides, or derived from one a source provides, in catalog order."""
        return [name for name in self.catalog.entities if self.sources_for(self._derived_from(name))]

    @property
    def loaded_dated_entities(self) -> list[str]:
        """The dated entities some source loads (a derived entity is computed, not loaded), in catalog
        order: those whose days loaded_partitions records."""
        return [
            name
            for name, entity in self.catalog.entities.items()
            if entity.is_dated and entity.derivation is None and self.sources_for(name)
        ]

    def entity(self, name: str) -> Entity:
        return self.catalog.entities[name]

    def storage_path(self) -> Path:
        path = Path(self.storage_dir).expanduser()
        return path if path.is_absolute() else self.config_dir / path

    def warehouse_url(self, with_password: bool = True) -> sa.URL:
        """The warehouse URL with relative DuckDB/SQLite paths made absolute, and the password from
        `warehouse_password_env` filled in unless with_password is False."""
        url = sa.make_url(self.warehouse)
        database = url.database
        if url.get_backend_name() in ("duckdb", "sqlite") and database not in (None, "", ":memory:"):
            path = Path(database).expanduser()
            url = url.set(database=str(path if path.is_absolute() else self.config_dir / path))
        if self.warehouse_password_env and with_password:
            if self.warehouse_password_env not in os.environ:
                raise ConfigError(
                    f"environment variable {self.warehouse_password_env!r} (warehouse_password_env) is not set"
                )
            url = url.set(password=os.environ[self.warehouse_password_env])
        return url


def _env_keys(options: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Every (dotted key, variable) of connector options, nested ones included, whose key ends in `_env`."""
    found = []
    for key, value in options.items():
        if isinstance(value, dict):
            found += _env_keys(value, f"{prefix}{key}.")
        elif str(key).endswith("_env") and isinstance(value, str):
            found.append((f"{prefix}{key}", value))
    return found


def _require_unique(what: str, names: list[str]) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{what}: ids must be unique; repeated: {', '.join(repeated)}")


def _location(loc: tuple[int | str, ...], prefix: str = "") -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _keys_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys the model nested at `loc` (the location of a key inside it) accepts; [] if unknown."""
    parts = list(loc[:-1])
    while parts:
        part = parts.pop(0)
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        if get_origin(annotation) is dict and parts:
            parts.pop(0)  # the next part is a key of the mapping (an entity's or a measure's name)
        nested = [
            t for t in (annotation, *get_args(annotation)) if isinstance(t, type) and issubclass(t, BaseModel)
        ]
        if not nested:
            return []
        model = nested[0]
    return [name for name, field in model.model_fields.items() if not field.exclude]


def _problems(error: ValidationError, prefix: str = "", model: type[BaseModel] | None = None) -> list[str]:
    messages = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            keys = _keys_at(model, tuple(problem["loc"])) if model else []
            message = "unknown key" + (f"; expected one of: {', '.join(keys)}" if keys else "")
        elif problem["type"] == "missing":
            message = "required key is missing"
        elif problem["type"] not in ("value_error",) and "input" in problem:
            message += f" (got {problem['input']!r})"
        location = _location(tuple(problem["loc"]), prefix)
        # A check of the whole config (model level) names its key in the message itself.
        messages.append(
            message
            if location == "(top level)" and problem["type"] == "value_error"
            else f"{location}: {message}"
        )
    return messages


def load_config(path: str | Path) -> PipelineConfig:
    """Read and validate a config file; every problem is a ConfigError naming the file and the key."""
    path = Path(path).expanduser().resolve()
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    objectives_file = data.get("objectives_file")
    # With inline objectives as well, both stay for validation to reject, rather than one being dropped.
    if isinstance(objectives_file, str) and "objectives" not in data:
        objectives_path = (path.parent / objectives_file).resolve()
        objectives = _read_yaml(objectives_path)
        if isinstance(objectives, dict) and "objectives" in objectives:
            objectives = objectives["objectives"]
        data = {**data, "objectives": objectives}
        del data["objectives_file"]
    try:
        return PipelineConfig.model_validate({**data, "config_dir": path.parent, "config_file": path})
    except ValidationError as error:
        problems = [f"{path}: {line}" for line in _problems(error, model=PipelineConfig)]
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that holds a key twice (YAML keeps the last silently:
    two `sources:` blocks pasted together would drop the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
