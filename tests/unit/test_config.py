"""load_config: a valid config file, and every kind of bad one rejected with a message naming the file,
the key and what is expected."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from kpi.config import ConfigError, PipelineConfig, load_config

VALID: dict[str, Any] = {
    "timezone": "Europe/Berlin",
    "start_date": date(2026, 1, 1),
    "warehouse": "duckdb:///wh/warehouse.duckdb",
    "sources": [
        {
            "name": "finance_export",
            "connector": "files",
            "options": {"path": "exports/revenue.csv", "format": "csv"},
            "entity": "revenue_transactions",
            "columns": {
                "transaction_id": "id",
                "booked_on": "date",
                "amount": "total",
                "customer_id": "customer",
            },
        },
        {
            "name": "crm",
            "connector": "sql",
            "options": {"url": "sqlite:///crm.sqlite", "table": "customers"},
            "entity": "customers",
            "columns": {"customer_id": "ref", "signed_up_on": "created_on"},
            "date_format": "%m/%d/%Y",
        },
    ],
    "objectives": [
        {
            "id": "grow-revenue",
            "title": "Grow revenue",
            "owner": "CFO",
            "start": date(2026, 1, 1),
            "end": date(2026, 6, 30),
            "key_results": [
                {
                    "id": "kr-revenue",
                    "description": "Half-year revenue of 1.5M",
                    "kpi_id": "revenue",
                    "baseline": 0,
                    "target": 1500000,
                },
                {
                    "id": "kr-churn",
                    "description": "Churn down to 3%",
                    "kpi_id": "customer_churn_rate",
                    "baseline": 0.05,
                    "target": 0.03,
                },
            ],
        }
    ],
}


def write(directory: Path, data: dict[str, Any], name: str = "kpi.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def changed(change) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    change(data)
    return data


def config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    return str(raised.value)


def error_for(tmp_path: Path, change) -> tuple[Path, str]:
    path = write(tmp_path, changed(change))
    return path, config_error(path)


# --- a valid config ------------------------------------------------------------------------------


def test_a_valid_config_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))

    assert isinstance(config, PipelineConfig)
    assert config.timezone == "Europe/Berlin"
    assert config.start_date == date(2026, 1, 1)
    assert config.config_dir == tmp_path
    assert [source.name for source in config.sources] == ["finance_export", "crm"]
    assert config.sources[0].options == {"path": "exports/revenue.csv", "format": "csv"}
    assert config.sources[1].date_format == "%m/%d/%Y"
    assert config.provided_entities == ["revenue_transactions", "customers"]
    assert [source.name for source in config.sources_for("customers")] == ["crm"]
    [objective] = config.objectives
    assert (objective.id, objective.start, objective.end) == (
        "grow-revenue",
        date(2026, 1, 1),
        date(2026, 6, 30),
    )
    assert [(kr.id, kr.kpi_id, kr.baseline, kr.target) for kr in objective.key_results] == [
        ("kr-revenue", "revenue", 0.0, 1500000.0),
        ("kr-churn", "customer_churn_rate", 0.05, 0.03),
    ]


def test_defaults(tmp_path: Path) -> None:
    data = {"start_date": "2026-01-01", "sources": VALID["sources"][:1]}
    config = load_config(write(tmp_path, data))
    assert config.timezone == "UTC"
    assert config.objectives == []
    # The default warehouse is a DuckDB file beside the config.
    assert config.warehouse_url() == sa.make_url(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")


def test_a_relative_warehouse_path_is_resolved_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    path = write(tmp_path / "conf", VALID)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    config = load_config("../conf/kpi.yaml")

    assert config.config_dir == tmp_path / "conf"
    assert config.warehouse_url().database == str(tmp_path / "conf" / "wh" / "warehouse.duckdb")
    assert config.warehouse_url().get_backend_name() == "duckdb"
    assert path.parent == config.config_dir


def test_an_absolute_or_in_memory_warehouse_is_left_alone(tmp_path: Path) -> None:
    absolute = tmp_path / "abs" / "w.duckdb"
    config = load_config(write(tmp_path, changed(lambda d: d.update(warehouse=f"duckdb:///{absolute}"))))
    assert config.warehouse_url().database == str(absolute)

    config = load_config(write(tmp_path, changed(lambda d: d.update(warehouse="duckdb:///:memory:"))))
    assert config.warehouse_url().database == ":memory:"


def test_the_warehouse_password_comes_from_the_named_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = changed(
        lambda d: d.update(
            warehouse="postgresql+psycopg://kpi@db.example:5432/kpi", warehouse_password_env="KPI_TEST_WH_PW"
        )
    )
    config = load_config(write(tmp_path, data))

    monkeypatch.setenv("KPI_TEST_WH_PW", "hunter2")
    assert config.warehouse_url().password == "hunter2"
    assert config.warehouse_url(with_password=False).password is None
    assert config.warehouse_url().render_as_string(hide_password=True) == (
        "postgresql+psycopg://kpi:***@db.example:5432/kpi"
    )

    monkeypatch.delenv("KPI_TEST_WH_PW")
    with pytest.raises(ConfigError) as raised:
        config.warehouse_url()
    assert "'KPI_TEST_WH_PW' (warehouse_password_env) is not set" in str(raised.value)
    assert config.warehouse_url(with_password=False).password is None


# --- objectives_file ----------------------------------------------------------------------------


def test_objectives_from_a_second_file(tmp_path: Path) -> None:
    (tmp_path / "okr").mkdir()
    write(tmp_path / "okr", {"objectives": VALID["objectives"]}, name="okrs.yaml")
    data = changed(lambda d: d.pop("objectives"))
    data["objectives_file"] = "okr/okrs.yaml"

    config = load_config(write(tmp_path, data))

    assert [objective.id for objective in config.objectives] == ["grow-revenue"]
    assert [kr.id for kr in config.objectives[0].key_results] == ["kr-revenue", "kr-churn"]
    assert config.objectives_file is None


def test_objectives_file_may_hold_a_bare_list(tmp_path: Path) -> None:
    (tmp_path / "okrs.yaml").write_text(yaml.safe_dump(VALID["objectives"]))
    data = changed(lambda d: d.pop("objectives"))
    data["objectives_file"] = "okrs.yaml"
    config = load_config(write(tmp_path, data))
    assert [kr.target for kr in config.objectives[0].key_results] == [1500000.0, 0.03]


def test_a_missing_objectives_file_is_named(tmp_path: Path) -> None:
    data = changed(lambda d: d.pop("objectives"))
    data["objectives_file"] = "okrs.yaml"
    message = config_error(write(tmp_path, data))
    assert f"{tmp_path / 'okrs.yaml'}: config file not found" in message


def test_inline_objectives_and_an_objectives_file_are_not_both_allowed(tmp_path: Path) -> None:
    write(tmp_path, {"objectives": []}, name="okrs.yaml")
    path, message = error_for(tmp_path, lambda d: d.update(objectives_file="okrs.yaml"))
    assert str(path) in message
    assert "give objectives inline or objectives_file, not both" in message


# --- bad configs: each message names the file, the key path and what is expected ----------------


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d.update(time_zone="UTC"))
    assert f"{path}: time_zone: unknown key; expected one of: timezone, start_date, warehouse," in message


def test_missing_start_date(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d.pop("start_date"))
    assert f"{path}: start_date: required key is missing" in message


def test_start_date_not_a_date(tmp_path: Path) -> None:
    path = tmp_path / "kpi.yaml"
    text = yaml.safe_dump(VALID, sort_keys=False).replace("start_date: 2026-01-01", "start_date: notadate")
    assert "notadate" in text
    path.write_text(text)
    message = config_error(path)
    assert f"{path}: start_date: Input should be a valid date" in message
    assert "(got 'notadate')" in message


def test_unknown_time_zone(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d.update(timezone="Mars/Olympus"))
    assert (
        f"{path}: timezone: unknown time zone 'Mars/Olympus'; expected an IANA name like Europe/Berlin"
        in message
    )


def test_warehouse_not_a_url(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d.update(warehouse="warehouse.duckdb"))
    assert f"{path}: warehouse: expected a SQLAlchemy URL like duckdb:///warehouse.duckdb" in message


def test_unknown_entity(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d["sources"][0].update(entity="invoices"))
    assert f"{path}: sources[0] (finance_export).entity: unknown entity 'invoices'" in message
    assert (
        "expected one of: revenue_transactions, expenses, customers, survey_responses, employees" in message
    )


def test_unknown_connector(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d["sources"][1].update(connector="ftp"))
    assert f"{path}: sources[1]: connector: unknown connector 'ftp'; expected one of: " in message
    expected = message.split("expected one of: ")[1].split(", ")
    assert {"files", "sql"} <= set(expected)


def test_unknown_connector_option(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d["sources"][0]["options"].update(sep=";"))
    assert (
        f"{path}: sources[0]: options.sep: unknown key; expected one of: path, format, separator, encoding"
        in message
    )


def test_bad_connector_option_value(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d["sources"][1]["options"].update(query="SELECT 1"))
    assert f"{path}: sources[1]: options: give exactly one of `table` or `query`" in message


def test_unknown_key_in_a_source(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d["sources"][0].update(format="csv"))
    assert (
        f"{path}: sources[0].format: unknown key; "
        "expected one of: name, connector, options, entity, columns, date_format" in message
    )


def test_missing_required_column_mapping(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d["sources"][0]["columns"].pop("amount"))
    assert (
        f"{path}: sources[0] (finance_export).columns: revenue_transactions needs a mapping for amount"
        in message
    )


def test_missing_mappings_are_all_named(tmp_path: Path) -> None:
    path, message = error_for(
        tmp_path, lambda d: d["sources"][1].update(entity="survey_responses", columns={"response_id": "rid"})
    )
    assert (
        f"{path}: sources[1] (crm).columns: survey_responses needs a mapping for "
        "customer_id, responded_on, survey, score" in message
    )


def test_a_column_not_of_the_entity(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d["sources"][0]["columns"].update(vat="tax", net="n"))
    assert (
        f"{path}: sources[0] (finance_export).columns: net, vat not a column of revenue_transactions; "
        "expected some of: transaction_id, booked_on, customer_id, amount" in message
    )


def test_duplicate_source_names(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d["sources"][1].update(name="finance_export"))
    assert f"{path}: sources: ids must be unique; repeated: finance_export" in message


def test_a_source_name_that_is_not_a_plain_name(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d["sources"][0].update(name="Finance Export"))
    assert f"{path}: sources[0].name: String should match pattern" in message
    assert "(got 'Finance Export')" in message


def test_key_result_with_unknown_kpi_id(tmp_path: Path) -> None:
    path, message = error_for(
        tmp_path, lambda d: d["objectives"][0]["key_results"][1].update(kpi_id="ebitda")
    )
    assert (
        f"{path}: objectives[0].key_results[1].kpi_id: unknown KPI 'ebitda'; "
        "expected one of: revenue, expenses, gross_profit," in message
    )


def test_baseline_equal_to_target(tmp_path: Path) -> None:
    path, message = error_for(
        tmp_path, lambda d: d["objectives"][0]["key_results"][0].update(baseline=100, target=100)
    )
    assert (
        f"{path}: objectives[0].key_results[0]: target equals baseline (100.0): progress would be undefined"
        in message
    )


def test_objective_end_before_start(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d["objectives"][0].update(end=date(2025, 12, 31)))
    assert f"{path}: objectives[0]: end 2025-12-31 is before start 2026-01-01" in message


def test_an_objective_without_key_results(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d["objectives"][0].update(key_results=[]))
    assert f"{path}: objectives[0].key_results: List should have at least 1 item" in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    def two_problems(data: dict[str, Any]) -> None:
        data.pop("start_date")
        data["timezone"] = "Nowhere/City"

    path, message = error_for(tmp_path, two_problems)
    assert f"{path}: start_date: required key is missing" in message
    assert f"{path}: timezone: unknown time zone 'Nowhere/City'" in message


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "kpi.yaml"
    path.write_text("timezone: UTC\nstart_date: 2026-01-01\nsources: [finance_export\n")
    message = config_error(path)
    assert f"{path}: not valid YAML" in message
    assert "line 3, column 10" in message


def test_a_config_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "kpi.yaml"
    path.write_text("- just\n- a list\n")
    assert config_error(path) == f"{path}: expected a mapping of settings at the top level"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "kpi.yaml"
    assert config_error(path) == f"{path}: config file not found"


def test_a_column_expression_that_does_not_parse(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d["sources"][0]["columns"].update(amount="lower(total"))
    assert (
        f"{path}: sources[0]: columns.amount: 'lower(total' is neither a column name nor a SQL expression"
        in message
    )


def test_quality_settings_are_checked(tmp_path: Path) -> None:
    path, message = error_for(
        tmp_path, lambda d: d["sources"][0].update(quality={"days_without_data": ["sundays"]})
    )
    assert f"{path}: sources[0].quality.days_without_data:" in message
    assert "'sundays' is neither a weekday (monday, " in message and "nor a MM-DD date" in message
    path, message = error_for(tmp_path, lambda d: d["sources"][0].update(quality={"quarantine_threshold": 2}))
    assert (
        f"{path}: sources[0].quality.quarantine_threshold: Input should be less than or equal to 1" in message
    )


def test_a_password_in_the_config_file_is_refused(tmp_path: Path) -> None:
    path, message = error_for(
        tmp_path, lambda d: d.update(warehouse="postgresql+psycopg://kpi:s3cret@db/kpi")
    )
    assert f"{path}: warehouse: the URL holds a password" in message and "warehouse_password_env" in message
    assert "s3cret" not in message
    path, message = error_for(
        tmp_path,
        lambda d: d["sources"].__setitem__(
            0,
            {
                "name": "erp",
                "connector": "sql",
                "options": {"url": "postgresql+psycopg://reader:s3cret@erp/erp", "table": "invoices"},
                "entity": "revenue_transactions",
                "columns": {"transaction_id": "id", "booked_on": "day", "amount": "total"},
            },
        ),
    )
    assert f"{path}: sources[0]: options: url holds a password" in message and "password_env" in message
    assert "s3cret" not in message


# --- declared entities, measures and KPIs: every bad reference named before anything runs ---------

TICKETS = {
    "key": "ticket_id",
    "date": "opened_on",
    "columns": {"ticket_id": "str", "opened_on": "date", "priority": "str", "first_reply_hours": "float"},
}
MEASURES = {
    "orders": {"entity": "revenue_transactions", "agg": "count", "where": "amount > 0"},
    "positive_sales": {
        "entity": "revenue_transactions",
        "agg": "sum",
        "column": "amount",
        "where": "amount > 0",
    },
    "urgent_tickets": {"entity": "support_tickets", "agg": "count", "where": "priority = 'urgent'"},
}
AOV = {
    "id": "average_order_value",
    "name": "Average order value",
    "numerator": "positive_sales",
    "denominator": "orders",
    "unit": "currency",
    "direction": "higher_is_better",
}


def declared(data: dict, entities=None, measures=None, kpis=None) -> None:
    data["entities"] = copy.deepcopy(entities if entities is not None else {"support_tickets": TICKETS})
    data["measures"] = copy.deepcopy(measures if measures is not None else MEASURES)
    data["kpis"] = copy.deepcopy(kpis if kpis is not None else [AOV])


def test_declared_entities_measures_and_kpis_load_into_the_catalog(tmp_path: Path) -> None:
    def change(data: dict) -> None:
        declared(
            data,
            entities={"support_tickets": TICKETS, "revenue_transactions": {"dimensions": {"region": "str"}}},
        )
        data["kpis"].append(
            {
                **AOV,
                "id": "revenue",
                "name": "Revenue",
                "numerator": "revenue",
                "denominator": None,
                "dimensions": ["region"],
            }
        )
        data["calendar"] = {"fiscal_year_start_month": 4}
        data["grains"] = ["month", "day"]

    path = write(tmp_path, changed(change))
    config = load_config(path)
    catalog = config.catalog
    assert catalog.entities["support_tickets"].date_column == "opened_on"
    assert "region" in catalog.entities["revenue_transactions"].schema
    assert list(catalog.kpis)[:2] == ["revenue", "expenses"]  # an override keeps the built-in's place
    assert catalog.kpis["revenue"].dimensions == ("region",)
    assert catalog.kpis["revenue"].declared_in == str(path)
    assert catalog.kpis["expenses"].declared_in == "built-in"
    assert list(catalog.kpis)[-1] == "average_order_value"
    assert catalog.kpis["average_order_value"].inputs == ("revenue_transactions",)
    assert config.reporting_calendar.fiscal_year_start_month == 4
    assert config.reporting_calendar.grains == ("day", "month")  # in calendar order


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: declared(d, measures={**MEASURES, "bad": {"entity": "tickets", "agg": "count"}}),
            "measures.bad.entity: unknown entity 'tickets'; expected one of: revenue_transactions,",
        ),
        (
            lambda d: declared(
                d,
                measures={
                    **MEASURES,
                    "bad": {"entity": "revenue_transactions", "agg": "sum", "column": "amout"},
                },
            ),
            "measures.bad.column: 'amout' names 'amout', not a column of revenue_transactions; expected some "
            "of: transaction_id, booked_on, customer_id, amount",
        ),
        (
            lambda d: declared(
                d,
                measures={
                    **MEASURES,
                    "bad": {"entity": "support_tickets", "agg": "count", "where": "priorty = 'urgent'"},
                },
            ),
            "measures.bad.where: \"priorty = 'urgent'\" names 'priorty', not a column of support_tickets",
        ),
        (
            lambda d: declared(
                d,
                measures={
                    **MEASURES,
                    "bad": {"entity": "support_tickets", "agg": "count", "where": "priority = "},
                },
            ),
            "measures.bad.where: 'priority = ' does not parse as SQL",
        ),
        (
            lambda d: declared(
                d,
                measures={
                    **MEASURES,
                    "bad": {"entity": "support_tickets", "agg": "sum", "column": "priority"},
                },
            ),
            "measures.bad.column: 'priority' is String, not a number: it cannot be a sum",
        ),
        (
            lambda d: declared(
                d,
                measures={
                    **MEASURES,
                    "bad": {"entity": "support_tickets", "agg": "count", "where": "first_reply_hours"},
                },
            ),
            "measures.bad.where: 'first_reply_hours' is Float64, not a condition",
        ),
        (
            lambda d: declared(
                d, measures={**MEASURES, "bad": {"entity": "revenue_transactions", "agg": "active_at_end"}}
            ),
            "measures.bad.agg: active_at_end counts rows of a span entity; revenue_transactions is dated",
        ),
        (
            lambda d: declared(
                d,
                measures={**MEASURES, "bad": {"entity": "customers", "agg": "sum", "column": "customer_id"}},
            ),
            "measures.bad.agg: sum aggregates the rows dated in a period; customers is a span entity",
        ),
        (
            lambda d: declared(d, measures={**MEASURES, "bad": {"entity": "support_tickets", "agg": "mean"}}),
            "measures.bad.column: mean needs the column (or expression) it aggregates",
        ),
        (
            lambda d: declared(d, kpis=[{**AOV, "denominator": "ordrs"}]),
            "kpis[0] (average_order_value).denominator: 'ordrs' names 'ordrs', not a measure; expected some of: revenue,",
        ),
        (
            lambda d: declared(d, kpis=[{**AOV, "dimensions": ["region"]}]),
            "kpis[0] (average_order_value).dimensions: 'region' is not a column of revenue_transactions",
        ),
        (
            lambda d: declared(
                d,
                entities={"support_tickets": {**TICKETS, "columns": {**TICKETS["columns"], "region": "str"}}},
                measures={**MEASURES, "region_tickets": {"entity": "support_tickets", "agg": "count"}},
                kpis=[{**AOV, "numerator": "positive_sales + region_tickets", "dimensions": ["region"]}],
            ),
            "kpis[0] (average_order_value).dimensions: 'region' is not a column of revenue_transactions (every "
            "entity of the KPI's measures needs it",
        ),
        (
            lambda d: declared(d, kpis=[AOV, AOV]),
            "kpis: ids must be unique; repeated: average_order_value",
        ),
        (
            lambda d: declared(d, entities={"customers": {"key": "id", "columns": {"id": "str"}}}),
            "entities.customers: customers is a built-in entity: its key, columns are fixed",
        ),
        (
            lambda d: declared(d, entities={"support_tickets": {**TICKETS, "date": None}}),
            "entities.support_tickets: a new entity is either dated (`date: column`) or a span",
        ),
        (
            lambda d: declared(d, entities={"support_tickets": {**TICKETS, "date": "priority"}}),
            "entities.support_tickets.date: 'priority' must be one of its columns, of type date",
        ),
        (
            lambda d: declared(
                d,
                entities={
                    "support_tickets": {**TICKETS, "columns": {**TICKETS["columns"], "size": "decimal"}}
                },
            ),
            "entities.support_tickets.columns.size: Input should be 'str', 'date', 'int', 'float' or 'bool'",
        ),
        (
            lambda d: declared(d, entities={"revenue_transactions": {"dimensions": {"amount": "float"}}}),
            "entities.revenue_transactions.dimensions: amount already a column of revenue_transactions",
        ),
        (
            lambda d: declared(
                d,
                entities={
                    "support_tickets": TICKETS,
                    "customers": {"derived_from": "revenue_transactions", "churn_after_days": 90},
                },
            ),
            "sources[1] (crm).entity: customers are derived from revenue_transactions (entities.customers.derived_from)",
        ),
        (
            lambda d: declared(
                d, entities={"employees": {"derived_from": "revenue_transactions", "churn_after_days": 90}}
            ),
            "entities.employees: only customers can be derived (from revenue_transactions)",
        ),
        (
            lambda d: d["objectives"][0]["key_results"][0].update(kpi_id="average_order_value"),
            "objectives[0].key_results[0].kpi_id: unknown KPI 'average_order_value'; expected one of: revenue,",
        ),
        (
            lambda d: d.update(grains=["day", "fortnight"]),
            "grains[1]: Input should be 'day', 'week', 'month', 'quarter' or 'year' (got 'fortnight')",
        ),
        (
            lambda d: d.update(calendar={"fiscal_year_start_month": 13}),
            "calendar.fiscal_year_start_month: Input should be less than or equal to 12",
        ),
    ],
)
def test_a_bad_declaration_names_the_file_and_the_key(tmp_path: Path, change, expected: str) -> None:
    path, message = error_for(tmp_path, change)
    assert f"{path}: {expected}" in message


def test_a_key_result_may_measure_a_declared_kpi(tmp_path: Path) -> None:
    def change(data: dict) -> None:
        declared(data)
        data["objectives"][0]["key_results"][0].update(kpi_id="average_order_value")

    config = load_config(write(tmp_path, changed(change)))
    assert config.objectives[0].key_results[0].kpi_id == "average_order_value"


# --- key result types, measures, weights, dimensions; aligned objectives; status rules; alerts ----


def kr_error(tmp_path: Path, **settings) -> tuple[Path, str]:
    return error_for(tmp_path, lambda d: d["objectives"][0]["key_results"][1].update(settings))


def test_key_result_settings_load(tmp_path: Path) -> None:
    def change(d: dict) -> None:
        d["objectives"][0]["key_results"][1] = {
            "id": "kr-churn",
            "description": "Monthly churn at or below 3%",
            "kpi_id": "customer_churn_rate",
            "type": "stay_below",
            "target": 0.03,
            "measure": {"latest_complete": "month"},
            "weight": 2,
        }
        d["objectives"][0]["key_results"][0]["measure"] = {"trailing_days": 90}
        d["objectives"].append({**copy.deepcopy(d["objectives"][0]), "id": "child", "parent": "grow-revenue"})
        for number, kr in enumerate(d["objectives"][1]["key_results"]):
            kr["id"] = f"child-{number}"
        d["status_rules"] = {"on_track_slack": 0.05, "at_risk_slack": 0.2}

    config = load_config(write(tmp_path, changed(change)))
    revenue, churn = config.objectives[0].key_results
    assert (revenue.kind, revenue.measure.kind, revenue.measure.days, revenue.weight) == (
        "increase",
        "trailing_days",
        90,
        1.0,
    )
    assert (churn.kind, churn.baseline, churn.measure.grain, churn.weight) == (
        "stay_below",
        None,
        "month",
        2.0,
    )
    assert (churn.measure.label, churn.measure.spec) == ("latest complete month", "latest_complete: month")
    assert config.objectives[1].parent == "grow-revenue"
    assert (config.status_rules.on_track_slack, config.status_rules.at_risk_slack) == (0.05, 0.2)


def test_the_default_type_is_worked_out_from_baseline_and_target(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    assert [kr.kind for kr in config.objectives[0].key_results] == ["increase", "decrease"]
    assert config.status_rules.on_track_slack == 0.10 and config.status_rules.at_risk_slack == 0.25


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"baseline": None},
            "objectives[0].key_results[1]: baseline is missing: an increase or decrease key result moves",
        ),
        ({"type": "increase"}, "type increase, but target 0.03 is below baseline 0.05: use decrease"),
        ({"type": "grow"}, "objectives[0].key_results[1].type: Input should be 'increase', 'decrease'"),
        (
            {"measure": "monthly"},
            "objectives[0].key_results[1].measure: expected to_date, {latest_complete: GRAIN}",
        ),
        ({"measure": {"latest_complete": "fortnight"}}, "latest_complete: expected one of day, week, month"),
        ({"measure": {"trailing_days": 0}}, "trailing_days: expected a whole number of days >= 1, got 0"),
        ({"weight": 0}, "objectives[0].key_results[1].weight: Input should be greater than 0"),
        ({"dimension": {"segment": "smb", "region": "eu"}}, "expected one dimension and its value"),
        ({"target": float("nan")}, "objectives[0].key_results[1].target: Input should be a finite number"),
        (  # the warehouse's key_result_definitions.description holds 255 characters
            {"description": "d" * 256},
            "objectives[0].key_results[1].description: String should have at most 255 characters",
        ),
        ({"weight": float("inf")}, "objectives[0].key_results[1].weight: Input should be a finite number"),
        (
            {"type": "stay_below"},
            "baseline 0.05: a stay_below key result has none (it compares its actual with its target)",
        ),
        (
            {"dimension": {"segment": "smb"}},
            "objectives[0].key_results[1].dimension: KPI customer_churn_rate has no dimension 'segment'; "
            "its dimensions: none",
        ),
    ],
)
def test_bad_key_result_settings_are_named(tmp_path: Path, settings: dict, expected: str) -> None:
    path, message = kr_error(tmp_path, **settings)
    assert f"{path}: " in message
    assert expected in message


def test_a_latest_complete_grain_the_config_does_not_compute(tmp_path: Path) -> None:
    def change(d: dict) -> None:
        d["grains"] = ["day", "month"]
        d["objectives"][0]["key_results"][1]["measure"] = {"latest_complete": "quarter"}

    _, message = error_for(tmp_path, change)
    assert (
        "objectives[0].key_results[1].measure: latest_complete quarter, but the config computes only "
        "grains day, month (grains:)" in message
    )


def test_stay_key_results_need_no_baseline(tmp_path: Path) -> None:
    def change(d: dict) -> None:
        del d["objectives"][0]["key_results"][1]["baseline"]
        d["objectives"][0]["key_results"][1]["type"] = "stay_above"

    assert load_config(write(tmp_path, changed(change))).objectives[0].key_results[1].baseline is None


def objective_copy(d: dict, objective_id: str, parent: str | None) -> dict:
    objective = copy.deepcopy(d["objectives"][0])
    objective.update(id=objective_id, parent=parent)
    for kr in objective["key_results"]:
        kr["id"] = f"{objective_id}-{kr['id']}"
    return objective


def test_an_unknown_parent_is_named(tmp_path: Path) -> None:
    path, message = error_for(tmp_path, lambda d: d["objectives"][0].update(parent="grow-profit"))
    assert f"{path}: objectives[0].parent: unknown objective 'grow-profit'" in message


def test_objectives_aligned_in_a_cycle_are_refused(tmp_path: Path) -> None:
    def change(d: dict) -> None:
        d["objectives"][0]["parent"] = "c"
        d["objectives"] += [objective_copy(d, "b", "grow-revenue"), objective_copy(d, "c", "b")]

    _, message = error_for(tmp_path, change)
    assert (
        "objectives[0].parent: objectives aligned in a cycle: grow-revenue -> c -> b -> grow-revenue"
        in message
    )
    _, message = error_for(tmp_path, lambda d: d["objectives"][0].update(parent="grow-revenue"))
    assert "objectives aligned in a cycle: grow-revenue -> grow-revenue" in message


def test_status_rules_are_checked(tmp_path: Path) -> None:
    _, message = error_for(
        tmp_path, lambda d: d.update(status_rules={"on_track_slack": 0.3, "at_risk_slack": 0.2})
    )
    assert "at_risk_slack 0.2 is below on_track_slack 0.3" in message


def test_alerts_read_yaml_on_keys_and_name_their_variable(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "kpi.yaml"
    path.write_text(
        yaml.safe_dump(VALID, sort_keys=False)
        + "alerts:\n  - {on: status_change, webhook_env: OKR_WEBHOOK_URL}\n  - on: off_track\n    webhook_env: PAGER_URL\n"
    )
    config = load_config(path)
    assert [(alert.on, alert.webhook_env) for alert in config.alerts] == [
        ("status_change", "OKR_WEBHOOK_URL"),
        ("off_track", "PAGER_URL"),
    ]
    monkeypatch.delenv("OKR_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("PAGER_URL", "http://127.0.0.1:1/hook")
    with pytest.raises(ConfigError) as raised:
        config.check_environment()
    assert "environment variable(s) not set: OKR_WEBHOOK_URL (alerts[0].webhook_env)" in str(raised.value)


def test_an_unknown_alert_rule_is_named(tmp_path: Path) -> None:
    _, message = error_for(tmp_path, lambda d: d.update(alerts=[{"on": "weekly", "webhook_env": "X"}]))
    assert "alerts[0].on: Input should be 'status_change' or 'off_track'" in message


def test_the_readme_config_is_valid_and_names_every_credential_variable(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## Point it at your own sources") :]
    block = section[
        section.index("```yaml\n") + len("```yaml\n") : section.index("\n```", section.index("```yaml"))
    ]
    (tmp_path / "kpi.yaml").write_text(block)
    config = load_config(tmp_path / "kpi.yaml")
    assert [source.connector for source in config.sources] == ["sql", "http", "files"]
    # nested options ending in _env (the http source's auth.token_env) are checked before a run too
    assert set(config.named_variables().values()) == {
        "KPI_WAREHOUSE_PASSWORD",
        "ERP_PASSWORD",
        "BILLING_TOKEN",
        "OKR_WEBHOOK_URL",
    }


@pytest.mark.parametrize(
    ("key", "change"),
    [
        ("sources[0].name", lambda d: d["sources"][0].update(name="s" * 256)),
        ("objectives[0].title", lambda d: d["objectives"][0].update(title="t" * 256)),
        ("objectives[0].owner", lambda d: d["objectives"][0].update(owner="o" * 256)),
    ],
)
def test_a_name_longer_than_its_warehouse_column_is_a_config_error(tmp_path: Path, key: str, change) -> None:
    """The warehouse's text columns hold 255 characters: a longer name is refused before anything runs,
    not by the database in the middle of a run."""
    path, message = error_for(tmp_path, change)
    assert f"{path}: " in message
    assert f"{key}: String should have at most 255 characters" in message
