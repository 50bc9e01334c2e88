"""The pipeline on public data sets nobody here wrote (../shared/realdata), through the configs a user
copies (examples/superstore, examples/hr), checked against the data sets' published figures and an
independent reading of the CSVs with Polars. Skipped, with the reason, where the data sets are absent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from kpi.config import load_config
from kpi.runner import run_partitions
from tests.conftest import query, unavailable, write_config

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata"
HR = REALDATA / "hrdataset_v14" / "HRDataset_v14.csv"
SUPERSTORE = REALDATA / "superstore" / "Sample - Superstore.csv"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HR_EXAMPLE = EXAMPLES / "hr" / "kpi.yaml"
SUPERSTORE_EXAMPLE = EXAMPLES / "superstore" / "kpi.yaml"

SUPERSTORE_FIRST, SUPERSTORE_LAST = date(2016, 1, 1), date(2019, 12, 30)
"""The example's start_date, and the last order day: the whole data, 2016-01-03 .. 2019-12-30."""
YEAR_2017 = date(2017, 1, 1)


@pytest.fixture(autouse=True, scope="module")
def public_data_sets() -> None:
    if not REALDATA.is_dir():
        unavailable(f"the public data sets are not at {REALDATA}")


def example_config(example: Path, directory: Path, **settings) -> Path:
    """The example config copied into `directory` (a test's own folder): its sources' paths made
    absolute, its warehouse (and its extracts and run history, always beside the config) in that folder
    so the repository stays clean; `settings` replace top-level keys."""
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    for source in data["sources"]:
        source["options"]["path"] = str((example.parent / source["options"]["path"]).resolve())
    return write_config(directory, {**data, "warehouse": "duckdb:///warehouse.duckdb", **settings})


def kpi(
    directory: Path,
    kpi_id: str,
    grain: str,
    period_start: date,
    dimension: str = "",
    dimension_value: str = "",
) -> float | None:
    """The KPI's value: its total row, or its row for one dimension value."""
    rows = query(
        directory,
        "SELECT value FROM kpi_values WHERE kpi_id = ? AND grain = ? AND period_start = ? AND dimension = ? "
        "AND dimension_value = ?",
        kpi_id,
        grain,
        period_start,
        dimension,
        dimension_value,
    )
    assert len(rows) == 1, f"{kpi_id} {grain} {period_start} {dimension}={dimension_value!r}: {rows}"
    return rows[0][0]


def kpi_rows(directory: Path, kpi_id: str, grain: str, period_start: date, dimension: str) -> pl.DataFrame:
    """The KPI's rows for each value of `dimension`: dimension_value, value, numerator, denominator."""
    rows = query(
        directory,
        "SELECT dimension_value, value, numerator, denominator FROM kpi_values WHERE kpi_id = ? AND grain = ? "
        "AND period_start = ? AND dimension = ? ORDER BY dimension_value",
        kpi_id,
        grain,
        period_start,
        dimension,
    )
    return pl.DataFrame(
        rows,
        schema={
            "dimension_value": pl.String,
            "value": pl.Float64,
            "numerator": pl.Float64,
            "denominator": pl.Float64,
        },
        orient="row",
    )


def order_lines() -> pl.DataFrame:
    """Superstore's order lines read independently of the pipeline: dates and numbers typed."""
    return pl.read_csv(SUPERSTORE, infer_schema=False).with_columns(
        pl.col("Order Date").str.to_date("%m/%d/%Y"), pl.col("Sales", "Profit").cast(pl.Float64)
    )


def employees_csv() -> pl.DataFrame:
    """HRDataset_v14 read independently of the pipeline: dates typed, departments unpadded."""
    return pl.read_csv(HR, infer_schema=False).with_columns(
        pl.col("DateofHire", "DateofTermination").str.strip_chars().str.to_date("%m/%d/%Y"),
        pl.col("Department").str.strip_chars(),
    )


def employed_on(day: date) -> pl.Expr:
    return (pl.col("DateofHire") <= day) & (
        pl.col("DateofTermination").is_null() | (pl.col("DateofTermination") > day)
    )


def test_the_examples_read_the_public_data_sets_and_write_beside_themselves() -> None:
    for example, data_set in ((SUPERSTORE_EXAMPLE, SUPERSTORE), (HR_EXAMPLE, HR)):
        config = load_config(example)
        [source] = config.sources
        assert (config.config_dir / source.options["path"]).resolve() == data_set.resolve()
        assert config.warehouse_url().database == str(example.parent / "warehouse.duckdb")
        assert config.storage_path().parent == example.parent


# ----------------------------------------------------------------------------------------------------
# HR


def test_hr_dataset_headcount_and_leavers_match_the_published_figures(tmp_path: Path, instance) -> None:
    path = example_config(HR_EXAMPLE, tmp_path)
    outcomes = run_partitions(path, date(2018, 12, 31), date(2018, 12, 31), instance=instance)
    assert outcomes[0].success, outcomes[0].error
    # Published: 311 employees, 207 still active at the end of the data, 104 terminated (88 voluntary,
    # 16 for cause); every date in the file is before 2018-12-31.
    assert query(tmp_path, "SELECT count(*) FROM employees") == [(311,)]
    assert kpi(tmp_path, "headcount", "day", date(2018, 12, 31)) == 207
    assert query(tmp_path, "SELECT termination_type, count(*) FROM employees GROUP BY ALL ORDER BY ALL") == [
        ("involuntary", 16),
        ("voluntary", 88),
        (None, 207),
    ]
    # 2018's leavers and hires, read from the CSV independently of the pipeline.
    hr = employees_csv()
    in_2018 = pl.col("DateofTermination").dt.year() == 2018
    assert kpi(tmp_path, "terminations", "year", date(2018, 1, 1)) == hr.filter(in_2018).height
    assert (
        kpi(tmp_path, "hires", "year", date(2018, 1, 1))
        == hr.filter(pl.col("DateofHire").dt.year() == 2018).height
    )
    start_2018 = hr.filter(employed_on(date(2017, 12, 31))).height
    assert kpi(tmp_path, "employee_turnover_rate", "year", date(2018, 1, 1)) == pytest.approx(
        hr.filter(in_2018).height / ((start_2018 + 207) / 2)
    )


def test_hr_dataset_turnover_by_department_matches_the_csv(tmp_path: Path, instance) -> None:
    """The example's departments are trimmed ("Production       " is "Production"), and 2018's turnover of
    each is its leavers / ((employed on 2017-12-31 + employed on 2018-12-31) / 2)."""
    path = example_config(HR_EXAMPLE, tmp_path)
    [outcome] = run_partitions(path, date(2018, 12, 31), date(2018, 12, 31), instance=instance)
    assert outcome.success, outcome.error
    expected = (
        employees_csv()
        .group_by(pl.col("Department").alias("dimension_value"))
        .agg(
            terminations=(pl.col("DateofTermination").dt.year() == 2018).sum().cast(pl.Float64),
            at_start=employed_on(date(2017, 12, 31)).sum(),
            at_end=employed_on(date(2018, 12, 31)).sum(),
        )
        .with_columns(average=(pl.col("at_start") + pl.col("at_end")).cast(pl.Float64) / 2)
        .with_columns(value=pl.col("terminations") / pl.col("average"))
        .sort("dimension_value")
    )
    assert expected["dimension_value"].to_list() == [
        "Admin Offices",
        "Executive Office",
        "IT/IS",
        "Production",
        "Sales",
        "Software Engineering",
    ]
    assert expected["terminations"].sum() == 13  # so that the comparison below compares something
    turnover = kpi_rows(tmp_path, "employee_turnover_rate", "year", date(2018, 1, 1), "department")
    assert_frame_equal(
        turnover,
        expected.select("dimension_value", "value", numerator="terminations", denominator="average"),
    )
    headcount = kpi_rows(tmp_path, "headcount", "year", date(2018, 1, 1), "department")
    assert headcount["value"].to_list() == expected["at_end"].cast(pl.Float64).to_list()
    assert query(tmp_path, "SELECT DISTINCT department FROM employees ORDER BY 1") == [
        (name,) for name in expected["dimension_value"]
    ]


# ----------------------------------------------------------------------------------------------------
# Superstore: a few days, one run per day


def superstore_example(directory: Path, **source_settings) -> Path:
    """The Superstore example in `directory`, its source's settings replaced (None: removed)."""
    path = example_config(SUPERSTORE_EXAMPLE, directory)
    data = yaml.safe_load(path.read_text())
    source = data["sources"][0]
    for key, value in source_settings.items():
        if value is None:
            source.pop(key, None)
        else:
            source[key] = value
    return write_config(directory, data)


def test_superstore_revenue_per_day_matches_the_order_lines(tmp_path: Path, instance) -> None:
    # Sales like 52.776 have three decimals: the source says its `.` is a decimal point, not thousands.
    path = superstore_example(tmp_path)
    first, last = date(2019, 12, 28), date(2019, 12, 30)
    outcomes = run_partitions(path, first, last, instance=instance)
    assert all(outcome.success for outcome in outcomes), [outcome.error for outcome in outcomes]
    lines = order_lines()
    for day in (first, last):
        expected = lines.filter(pl.col("Order Date") == day)
        assert kpi(tmp_path, "revenue", "day", day) == pytest.approx(expected["Sales"].sum())
        assert kpi(tmp_path, "active_customers", "day", day) == expected["Customer ID"].n_unique()
    loaded = lines.filter(pl.col("Order Date").is_between(first, last))
    assert kpi(tmp_path, "revenue", "month", date(2019, 12, 1)) == pytest.approx(loaded["Sales"].sum())
    assert query(tmp_path, "SELECT count(*) FROM quarantine") == [(0,)]


def test_superstore_sales_with_three_decimals_are_not_guessed_without_separators(
    tmp_path: Path, instance
) -> None:
    """`52.776` is 52.776 in the US and 52776 in much of Europe: without the source's separators, those
    values are quarantined (type:amount), never read one way silently; the day then fails its gate.
    (Profit, as ambiguous, is left unmapped here so that the quarantine holds the amounts alone.)"""
    data = yaml.safe_load(superstore_example(tmp_path, decimal_separator=None).read_text())
    del data["sources"][0]["columns"]["profit"]
    path = write_config(tmp_path, data)
    day = date(2019, 12, 28)
    [outcome] = run_partitions(path, day, day, instance=instance)
    lines = pl.read_csv(SUPERSTORE, infer_schema=False).filter(
        pl.col("Order Date").str.to_date("%m/%d/%Y") == day
    )
    ambiguous = lines.filter(pl.col("Sales").str.contains(r"^[1-9]\d{0,2}\.\d{3}$"))
    assert 0 < ambiguous.height < lines.height
    assert not outcome.success
    assert f"{ambiguous.height} of {lines.height} rows quarantined" in (outcome.error or "")
    rows = query(tmp_path, "SELECT rule, count(*) FROM quarantine GROUP BY rule")
    assert rows == [("type:amount", ambiguous.height)]


# ----------------------------------------------------------------------------------------------------
# Superstore: the whole data, in one run


@pytest.fixture(scope="module")
def superstore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The folder of the Superstore example run over its whole data in one run (one run per day would
    take half an hour), yearly periods only (the checks below read years; the day-by-day runs above
    cover the other grains), with one more key result: orders over the four years, a distinct count
    across years that no sum of periods gives. Its warehouse: `warehouse.duckdb` in that folder."""
    directory = tmp_path_factory.mktemp("superstore")
    data = yaml.safe_load(SUPERSTORE_EXAMPLE.read_text(encoding="utf-8"))
    four_years = {
        "id": "orders-2016-2019",
        "title": "Orders over the four years",
        "owner": "test",
        "start": "2016-01-01",
        "end": "2019-12-31",
        "key_results": [
            {
                "id": "kr-orders",
                "description": "5,000 orders",
                "kpi_id": "orders",
                "baseline": 0,
                "target": 5000,
            }
        ],
    }
    path = example_config(
        SUPERSTORE_EXAMPLE, directory, grains=["year"], objectives=[*data["objectives"], four_years]
    )
    with dg.DagsterInstance.ephemeral(tempdir=str(directory / "dagster_storage")) as instance:
        [outcome] = run_partitions(
            path, SUPERSTORE_FIRST, SUPERSTORE_LAST, instance=instance, single_run=True
        )
    assert outcome.success, outcome.error
    yield directory


def test_superstore_whole_data_matches_the_published_figures(superstore: Path) -> None:
    """Published: 9,994 order lines, 5,009 orders, 793 customers, sales 2,297,200.86, profit 286,397.02."""
    assert query(superstore, "SELECT count(*) FROM quarantine") == [(0,)]
    assert query(superstore, "SELECT count(*) FROM revenue_transactions") == [(9994,)]
    years = [date(year, 1, 1) for year in range(2016, 2020)]
    assert sum(kpi(superstore, "revenue", "year", year) or 0 for year in years) == pytest.approx(
        2_297_200.86, abs=0.005
    )
    assert sum(kpi(superstore, "profit", "year", year) or 0 for year in years) == pytest.approx(
        286_397.02, abs=0.005
    )
    assert query(superstore, "SELECT count(*) FROM customers") == [(793,)]
    # Distinct orders over the four years, computed by the pipeline over one window: the key result's
    # actual as of the last day.
    assert query(
        superstore,
        "SELECT actual FROM key_results WHERE key_result_id = 'kr-orders' AND as_of = ?",
        SUPERSTORE_LAST,
    ) == [(5009.0,)]
    # Each year's orders; their sum is the total only because every order's lines share one date.
    lines = order_lines()
    assert (
        lines.group_by("Order ID")
        .agg(pl.col("Order Date").n_unique())
        .filter(pl.col("Order Date") > 1)
        .is_empty()
    )
    per_year = (
        lines.group_by(pl.col("Order Date").dt.year()).agg(pl.col("Order ID").n_unique()).sort("Order Date")
    )
    assert [kpi(superstore, "orders", "year", year) for year in years] == per_year["Order ID"].to_list()
    assert sum(per_year["Order ID"]) == 5009
    # 2017 is complete, 2019 is not: its 31 December is not in the data.
    assert query(
        superstore,
        "SELECT period_start, days_covered, is_complete FROM kpi_values WHERE kpi_id = 'revenue' AND dimension = '' "
        "ORDER BY period_start",
    ) == [
        (date(2016, 1, 1), 366, True),
        (date(2017, 1, 1), 365, True),
        (date(2018, 1, 1), 365, True),
        (date(2019, 1, 1), 364, False),
    ]


def test_superstore_2017_by_region_matches_the_order_lines(superstore: Path) -> None:
    lines = order_lines().filter(pl.col("Order Date").dt.year() == 2017)
    by_region = (
        lines.group_by(pl.col("Region").alias("dimension_value"))
        .agg(sales=pl.col("Sales").sum(), orders=pl.col("Order ID").n_unique(), profit=pl.col("Profit").sum())
        .sort("dimension_value")
    )
    assert by_region["dimension_value"].to_list() == ["Central", "East", "South", "West"]
    revenue = kpi_rows(superstore, "revenue", "year", YEAR_2017, "region")
    assert_frame_equal(
        revenue,
        by_region.select(
            "dimension_value", value="sales", numerator="sales", denominator=pl.lit(None, pl.Float64)
        ),
        check_exact=False,
        abs_tol=1e-6,
    )
    # The total row is the sum of the regions' numerators, and the CSV's sum.
    assert kpi(superstore, "revenue", "year", YEAR_2017) == pytest.approx(
        revenue["numerator"].sum(), abs=1e-6
    )
    assert kpi(superstore, "revenue", "year", YEAR_2017) == pytest.approx(lines["Sales"].sum(), abs=1e-6)
    average_order_value = kpi_rows(superstore, "average_order_value", "year", YEAR_2017, "region")
    assert_frame_equal(
        average_order_value,
        by_region.select(
            "dimension_value",
            value=pl.col("sales") / pl.col("orders"),
            numerator="sales",
            denominator=pl.col("orders").cast(pl.Float64),
        ),
        check_exact=False,
        abs_tol=1e-6,
    )
    margin = kpi_rows(superstore, "profit_margin", "year", YEAR_2017, "region")
    assert margin["value"].to_list() == pytest.approx((by_region["profit"] / by_region["sales"]).to_list())
    by_category = lines.group_by("Category").agg(pl.col("Sales").sum()).sort("Category")
    assert kpi_rows(superstore, "revenue", "year", YEAR_2017, "category")["value"].to_list() == pytest.approx(
        by_category["Sales"].to_list()
    )


def customers_csv(latest_day: date, churn_after_days: int) -> pl.DataFrame:
    """Customers from the order lines, by the example's definition, computed apart from the pipeline:
    signed up on their first order, churned churn_after_days + 1 days after their last one when that
    day is on or before the latest day loaded."""
    return (
        order_lines()
        .group_by(pl.col("Customer ID").alias("customer_id"))
        .agg(signed_up_on=pl.col("Order Date").min(), last_order_on=pl.col("Order Date").max())
        .with_columns(churn_day=pl.col("last_order_on") + timedelta(days=churn_after_days + 1))
        .with_columns(churned_on=pl.when(pl.col("churn_day") <= latest_day).then(pl.col("churn_day")))
        .sort("customer_id")
    )


def test_superstore_derived_customers_follow_their_orders(superstore: Path) -> None:
    derivation = load_config(SUPERSTORE_EXAMPLE).entity("customers").derivation
    assert derivation is not None and derivation.churn_after_days == 365  # the hand-worked days below
    expected = customers_csv(SUPERSTORE_LAST, derivation.churn_after_days)
    derived = pl.DataFrame(
        query(superstore, "SELECT customer_id, signed_up_on, churned_on FROM customers ORDER BY customer_id"),
        schema={"customer_id": pl.String, "signed_up_on": pl.Date, "churned_on": pl.Date},
        orient="row",
    )
    assert_frame_equal(derived, expected.select("customer_id", "signed_up_on", "churned_on"))
    # A few customers, worked out by hand from their lines in the CSV (the last loaded day: 2019-12-30):
    spot = query(
        superstore,
        "SELECT customer_id, signed_up_on, churned_on FROM customers WHERE customer_id IN "
        "('CG-12520', 'CJ-11875', 'NB-18580', 'RE-19405') ORDER BY customer_id",
    )
    assert spot == [
        # orders on 2017-10-15, 2018-11-08, 2019-01-26: would churn on 2020-01-27
        ("CG-12520", date(2017, 10, 15), None),
        # one order, 2018-12-30: would churn on 2019-12-31, the day after the last loaded day
        ("CJ-11875", date(2018, 12, 30), None),
        # orders on 2016-09-26 and 2016-10-22: 365 days without one after 2016-10-22 end on 2017-10-22
        ("NB-18580", date(2016, 9, 26), date(2017, 10, 23)),
        # one order, 2016-12-29
        ("RE-19405", date(2016, 12, 29), date(2017, 12, 30)),
    ]
    churned = expected.filter(pl.col("churned_on").is_not_null())
    assert 0 < churned.height < expected.height
    # 2017: new customers are those whose first order is in 2017.
    assert (
        kpi(superstore, "new_customers", "year", YEAR_2017)
        == expected.filter(pl.col("signed_up_on").dt.year() == 2017).height
    )
    # 2017's churn rate: of the customers active on 2016-12-31, those whose churned_on is in 2017.
    at_start = expected.filter(
        (pl.col("signed_up_on") <= date(2016, 12, 31))
        & (pl.col("churned_on").is_null() | (pl.col("churned_on") > date(2016, 12, 31)))
    )
    churned_in_2017 = at_start.filter(pl.col("churned_on").dt.year() == 2017).height
    assert churned_in_2017 > 0
    assert kpi(superstore, "customer_churn_rate", "year", YEAR_2017) == pytest.approx(
        churned_in_2017 / at_start.height
    )
    assert kpi(superstore, "customer_retention_rate", "year", YEAR_2017) == pytest.approx(
        1 - churned_in_2017 / at_start.height
    )


def test_superstore_served_as_a_json_api_gives_the_files_run_s_values(
    superstore: Path, tmp_path: Path
) -> None:
    """The same public data through the http connector: the order lines as a paginated JSON API (numbers
    as JSON numbers, nested order and customer objects, ISO dates, an offset and a total, a date window
    as query parameters), run the same way: every kpi_values row equals the files run's."""
    from tests.fake_api import Reply, Request, fake_api

    lines = order_lines()
    records = [
        {
            "id": int(line["Row ID"]),
            "order": {"id": line["Order ID"], "date": line["Order Date"].isoformat()},
            "customer": {"id": line["Customer ID"], "segment": line["Segment"]},
            "region": line["Region"],
            "category": line["Category"],
            "sales": line["Sales"],
            "profit": line["Profit"],
        }
        for line in lines.iter_rows(named=True)
    ]

    def answer(request: Request) -> Reply:
        chosen = [r for r in records if request.query["from"] <= r["order"]["date"] < request.query["until"]]
        offset = int(request.query["offset"])
        return Reply(
            {"items": chosen[offset : offset + min(int(request.query["limit"]), 1000)], "total": len(chosen)}
        )

    data = yaml.safe_load(superstore_example(tmp_path).read_text())
    data["grains"] = ["year"]  # as the files run
    data["objectives"] = yaml.safe_load((superstore / "kpi.yaml").read_text())["objectives"]
    with fake_api(answer) as api:
        data["sources"][0] = {
            "name": "superstore",
            "connector": "http",
            "options": {
                "url": api.url("/orders"),
                "records_path": "items",
                "pagination": {"type": "offset", "limit": 5000, "total_path": "total"},
                "incremental": {"start_param": "from", "end_param": "until"},
            },
            "entity": "revenue_transactions",
            "columns": {
                "transaction_id": "id",
                "booked_on": "order__date",
                "customer_id": "customer__id",
                "amount": "sales",
                "order_id": "order__id",
                "region": "region",
                "category": "category",
                "segment": "customer__segment",
                "profit": "profit",
            },
        }
        path = write_config(tmp_path, data)
        with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster_storage")) as instance:
            [outcome] = run_partitions(
                path, SUPERSTORE_FIRST, SUPERSTORE_LAST, instance=instance, single_run=True
            )
        assert outcome.success, outcome.error
        # 9,994 records in pages of 1,000 (the API caps `limit`): 10 pages, the last ending at the total
        assert [r.query["offset"] for r in api.requests] == [str(n * 1000) for n in range(10)]
    columns = (
        "kpi_id, grain, period_start, dimension, dimension_value, value, numerator, denominator, days_covered"
    )
    statement = (
        f"SELECT {columns} FROM kpi_values ORDER BY kpi_id, grain, period_start, dimension, dimension_value"
    )
    over_http, from_files = query(tmp_path, statement), query(superstore, statement)
    assert len(over_http) == len(from_files) > 100
    for http_row, files_row in zip(over_http, from_files, strict=True):
        # the same keys and days; the same sums, up to the order the rows were added in
        assert http_row[:5] + http_row[8:] == files_row[:5] + files_row[8:]
        for over, files in zip(http_row[5:8], files_row[5:8], strict=True):
            assert over == files if over is None or files is None else over == pytest.approx(files, rel=1e-12)
    assert query(tmp_path, "SELECT count(*) FROM quarantine") == [(0,)]
