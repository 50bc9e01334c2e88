"""The demo: a fictional company's source systems made on the fly, and the config that reads them."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

from kpi.periods import Calendar

DEMO_DIR_VARIABLE = "KPI_DEMO_DIR"
DEMO_DAYS = 90
DEMO_SEED = 42
DEMO_INVOICES_PER_DAY = 50


def demo_dir() -> Path:
    """Where the demo lives: KPI_DEMO_DIR, or `.demo` in the current folder (the repository root)."""
    return Path(os.environ.get(DEMO_DIR_VARIABLE) or Path.cwd() / ".demo").resolve()


def default_end_date() -> date:
    """Yesterday in the demo config's time zone (UTC): the last daily partition that is over, whatever
    the machine's own time zone."""
    return datetime.now(UTC).date() - timedelta(days=1)


def demo_config(end_date: date, days: int = DEMO_DAYS, invoices_per_day: int = DEMO_INVOICES_PER_DAY) -> dict:
    """The demo config: five sources over three systems, and objectives touching every KPI family."""
    first_day = end_date - timedelta(days=days - 1)
    calendar = Calendar()  # the demo config sets no `calendar:`: calendar quarters
    quarter_start = calendar.period_start(end_date, "quarter")
    quarter_end = calendar.period_end(quarter_start, "quarter")
    # The first whole month of the demo's data (it starts on first_day), when a month of it is complete
    # by its last day; a shorter demo's customer objective starts with its data.
    season_start = first_day if first_day.day == 1 else calendar.next_period_start(first_day, "month")
    if calendar.period_end(season_start, "month") > end_date:
        season_start = first_day
    # About what a quarter of the demo company sells (an invoice averages about 900 over its tiers),
    # and its starting headcount (kpi/demo_sources.py): targets a demo run is on track for.
    quarter_days = (quarter_end - quarter_start).days + 1
    expected_revenue = round(invoices_per_day * 900 * quarter_days, -3)
    headcount = max(15, invoices_per_day // 2)
    return {
        "timezone": "UTC",
        "start_date": first_day.isoformat(),
        "warehouse": "duckdb:///warehouse.duckdb",
        "sources": [
            {
                "name": "erp_invoices",
                "connector": "sql",
                # invoice_date is ISO text (the ERP writes it so): the day window is filtered in the
                # query, without a scan of every invoice to check that each one is
                "options": {
                    "url": "sqlite:///sources/erp.sqlite",
                    "table": "invoices",
                    "filter_at_source": True,
                },
                "entity": "revenue_transactions",
                "columns": {
                    "transaction_id": "invoice_no",
                    "booked_on": "invoice_date",
                    "customer_id": "customer_ref",
                    "amount": "total",
                },
                "quality": {"min_rows_per_day": 1, "days_without_data": ["sunday", "01-01", "12-25"]},
            },
            {
                "name": "erp_expenses",
                "connector": "sql",
                "options": {
                    "url": "sqlite:///sources/erp.sqlite",
                    "query": "SELECT line_id, posted_on, account, amount FROM expense_lines",
                    # posted_on holds ISO dates: the day window can be filtered in the query
                    "filter_at_source": True,
                },
                "entity": "expenses",
                "columns": {
                    "expense_id": "line_id",
                    "booked_on": "posted_on",
                    "category": "CASE account WHEN 'COGS' THEN 'cogs' WHEN 'OPEX' THEN 'operating' "
                    "WHEN 'INTEREST' THEN 'interest' WHEN 'TAX' THEN 'tax' WHEN 'OTHER' THEN 'other' END",
                    "amount": "amount",
                },
                "quality": {"min_rows_per_day": 1},
            },
            {
                "name": "crm_customers",
                "connector": "files",
                "options": {"path": "sources/crm/customers.csv"},
                "entity": "customers",
                "columns": {
                    "customer_id": "customer_ref",
                    "signed_up_on": "created_on",
                    "churned_on": "closed_on",
                    "segment": "tier",
                },
            },
            {
                "name": "crm_surveys",
                "connector": "files",
                "options": {"path": "sources/crm/surveys/*.ndjson"},
                "entity": "survey_responses",
                "columns": {
                    "response_id": "response_id",
                    "customer_id": "customer_ref",
                    "responded_on": "answered_at",
                    "survey": "lower(survey_type)",
                    "score": "score",
                },
            },
            {
                "name": "hr_employees",
                "connector": "files",
                "options": {"path": "sources/hr/employees.csv"},
                "entity": "employees",
                "columns": {
                    "employee_id": "emp_no",
                    "hired_on": "hire_date",
                    "terminated_on": "termination_date",
                    "department": "department",
                    "termination_type": "CASE WHEN termination_reason = 'Resigned' THEN 'voluntary' "
                    "WHEN termination_reason IN ('Dismissed', 'Laid off') THEN 'involuntary' END",
                },
            },
        ],
        "objectives": [
            {
                "id": "profitable-growth",
                "title": "Grow revenue profitably",
                "owner": "CFO",
                "start": quarter_start.isoformat(),
                "end": quarter_end.isoformat(),
                "key_results": [
                    {
                        "id": "kr-quarter-revenue",
                        "description": f"Quarter revenue of {expected_revenue:,.0f}",
                        "kpi_id": "revenue",
                        "baseline": 0,
                        "target": expected_revenue,
                        "weight": 2,  # revenue counts twice as much as the margin in the objective
                    },
                    {
                        "id": "kr-net-margin",
                        "description": "Net profit margin up from 2% to 8%",
                        "kpi_id": "net_profit_margin",
                        "baseline": 0.02,
                        "target": 0.08,
                    },
                ],
            },
            {
                "id": "happy-customers",
                "title": "Keep customers happy and loyal",
                "owner": "VP Customer Success",
                "parent": "profitable-growth",
                # from the first whole month of data, so a month is complete by the demo's last day
                "start": season_start.isoformat(),
                "end": quarter_end.isoformat(),
                "key_results": [
                    {
                        "id": "kr-monthly-churn",
                        "description": "Monthly churn at or below 3%",
                        "kpi_id": "customer_churn_rate",
                        "type": "stay_below",
                        "target": 0.03,
                        "measure": {"latest_complete": "month"},
                    },
                    {
                        "id": "kr-nps",
                        "description": "NPS of 25 or more over the last 30 days",
                        "kpi_id": "nps",
                        "type": "stay_above",
                        "target": 25,
                        "measure": {"trailing_days": 30},
                    },
                    {
                        "id": "kr-csat",
                        "description": "CSAT from 75 to 85",
                        "kpi_id": "csat",
                        "baseline": 75,
                        "target": 85,
                    },
                ],
            },
            {
                "id": "strong-team",
                "title": "Build a stable team",
                "owner": "CHRO",
                "parent": "profitable-growth",
                "start": quarter_start.isoformat(),
                "end": quarter_end.isoformat(),
                "key_results": [
                    {
                        "id": "kr-headcount",
                        "description": f"Headcount from {headcount - 1} to {headcount + 3}",
                        "kpi_id": "headcount",
                        "baseline": headcount - 1,
                        "target": headcount + 3,
                    },
                    {
                        "id": "kr-turnover",
                        "description": "Monthly employee turnover down from 6% to 3%",
                        "kpi_id": "employee_turnover_rate",
                        "type": "decrease",
                        "baseline": 0.06,
                        "target": 0.03,
                        "measure": {"latest_complete": "month"},
                    },
                    {
                        "id": "kr-revenue-per-employee",
                        "description": f"Quarter revenue per employee of {round(expected_revenue / headcount, -3):,.0f}",
                        "kpi_id": "revenue_per_employee",
                        "baseline": 0,
                        "target": round(expected_revenue / headcount, -3),
                    },
                ],
            },
        ],
    }


def write_demo_config(directory: Path, end_date: date, days: int, invoices_per_day: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "kpi.yaml"
    header = "# The demo company's config, written by `kpi demo`. Copy it to start your own.\n"
    path.write_text(
        header + yaml.safe_dump(demo_config(end_date, days, invoices_per_day), sort_keys=False, width=120)
    )
    return path


def ensure_demo_config() -> Path:
    """The demo config, written with today's dates if `kpi demo` has not run yet."""
    path = demo_dir() / "kpi.yaml"
    if not path.exists():
        write_demo_config(path.parent, default_end_date(), DEMO_DAYS, DEMO_INVOICES_PER_DAY)
    return path
