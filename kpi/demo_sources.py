"""A deterministic generator of a fictional company's source systems, for the demo and for benchmarks.

The company sells to business customers (an ERP with invoices and expense lines), keeps its customers
and their satisfaction surveys in a CRM, and its staff in an HR system. The files written are the raw
shapes the pipeline's connectors read; the config maps their columns to the canonical entities:

- ``erp.sqlite``: ``invoices(invoice_no, invoice_date, customer_ref, total, doc_type)`` and
  ``expense_lines(line_id, posted_on, account, amount)``
- ``crm/customers.csv``: ``customer_ref,created_on,closed_on,tier``
- ``crm/surveys/responses-YYYY-MM.ndjson``: ``response_id, customer_ref, answered_at, survey_type, score``
- ``hr/employees.csv``: ``emp_no,hire_date,termination_date,department,termination_reason``

Dated data (invoices, expense lines, survey responses) covers exactly ``[end_date - days + 1, end_date]``.
Customers and employees start up to three years before that window, so there is an active base on its
first day; none of their dates is after ``end_date``. Everything is vectorized with numpy and polars
(no Python loop over transactions), and the same arguments give byte-identical files.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["DemoSummary", "generate_demo_sources", "main"]

# Customers and employees are hired / signed up at most this many days before the window.
HISTORY_DAYS = 3 * 365

_EPOCH = date(1970, 1, 1)
# A day number that no real date reaches: "not churned / not terminated".
_NEVER = np.iinfo(np.int64).max // 2

# Invoices: Monday..Sunday factors (mean 1 over a week, no sales on Sundays).
_WEEKDAY_SALES = np.array([1.25, 1.30, 1.30, 1.25, 1.20, 0.70, 0.0])
_YEARLY_AMPLITUDE = 0.12  # +-12 % over the year, peaking late November
_YEARLY_PEAK_DOY = 330
_ANNUAL_GROWTH = 0.20
_CREDIT_NOTE_SHARE = 0.04
_COUNTER_SALE_SHARE = 0.03

TIERS = ("SMB", "Mid-Market", "Enterprise")
_TIER_SHARE = np.array([0.70, 0.22, 0.08])
_TIER_MONTHLY_CHURN = np.array([0.035, 0.020, 0.010])  # about 3 % a month overall
_TIER_INVOICE_MEDIAN = np.array([250.0, 900.0, 3000.0])
_COUNTER_SALE_MEDIAN = 80.0
_INVOICE_SIGMA = 0.7
_CUSTOMERS_PER_DAILY_INVOICE = 20

ACCOUNTS = ("COGS", "OPEX", "INTEREST", "TAX", "OTHER")

# Surveys: Monday..Sunday factors (mean 1), answer hour weights (UTC) with an evening peak.
_WEEKDAY_SURVEYS = np.array([1.12, 1.12, 1.12, 1.12, 1.12, 0.70, 0.70])
_HOUR_WEIGHTS = np.array(
    [1.0, 0.5, 0.3, 0.2, 0.2, 0.4, 1.0, 2.0, 4.0, 6.0, 7.0, 7.0]
    + [6.0, 6.0, 6.0, 6.0, 6.0, 7.0, 8.0, 9.0, 9.0, 8.0, 6.0, 4.0]
)
_CSAT_SHARE = 0.6
_AT_RISK_DAYS = 45  # a customer who churns within this many days answers more negatively
_SCORE_PROBS = {
    # (survey type, at risk): probabilities of scores lowest..highest
    ("CSAT", False): [0.04, 0.06, 0.12, 0.36, 0.42],
    ("CSAT", True): [0.25, 0.25, 0.25, 0.15, 0.10],
    ("NPS", False): [0.02, 0.01, 0.02, 0.02, 0.03, 0.04, 0.06, 0.12, 0.18, 0.25, 0.25],
    ("NPS", True): [0.08, 0.07, 0.10, 0.10, 0.12, 0.13, 0.12, 0.10, 0.08, 0.06, 0.04],
}
_SCORE_MIN = {"CSAT": 1, "NPS": 0}

DEPARTMENTS = ("Engineering", "Sales", "Support", "Finance", "Operations")
_DEPARTMENT_SHARE = np.array([0.30, 0.25, 0.20, 0.10, 0.15])
TERMINATION_REASONS = ("Resigned", "Dismissed", "Laid off")
_REASON_SHARE = np.array([0.70, 0.15, 0.15])
_ANNUAL_ATTRITION = 0.15
_HEADCOUNT_GROWTH = 0.10  # a year
_FORMER_EMPLOYEE_SHARE = 0.35
_HIRE_WEEKDAY = np.array([3.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0])

ROW_COUNT_KEYS = ("invoices", "expense_lines", "customers", "survey_responses", "employees")


@dataclass(frozen=True)
class DemoSummary:
    out_dir: Path
    first_day: date
    last_day: date
    row_counts: dict[str, int]  # keys exactly ROW_COUNT_KEYS

    def __str__(self) -> str:
        counts = ", ".join(f"{name}={count:,}" for name, count in self.row_counts.items())
        return f"demo sources in {self.out_dir} for {self.first_day}..{self.last_day}: {counts}"


def generate_demo_sources(
    out_dir: Path,
    *,
    end_date: date,
    days: int = 90,
    seed: int = 42,
    invoices_per_day: int = 50,
) -> DemoSummary:
    """Write the demo source systems under ``out_dir`` and return what was written.

    The files this function owns are deleted and rewritten; other files in ``out_dir`` are left alone.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if invoices_per_day < 1:
        raise ValueError(f"invoices_per_day must be at least 1, got {invoices_per_day}")
    out_dir = Path(out_dir)
    first_day = end_date - timedelta(days=days - 1)
    first = _day_number(first_day)
    end = _day_number(end_date)

    # One independent stream per system, all from the one seed.
    streams = np.random.default_rng(seed).spawn(5)
    customers_rng, invoices_rng, expenses_rng, surveys_rng, employees_rng = streams
    window = _Window.of(first, end)

    customers = _customers(customers_rng, window, invoices_per_day)
    invoices, revenue_by_day, level = _invoices(invoices_rng, window, customers, invoices_per_day)
    expenses = _expense_lines(expenses_rng, window, revenue_by_day, level, invoices, invoices_per_day)
    responses = _survey_responses(surveys_rng, window, customers, invoices_per_day)
    employees = _employees(employees_rng, window, invoices_per_day)

    _remove_previous_outputs(out_dir)
    _write_erp(out_dir / "erp.sqlite", window, customers, invoices, expenses)
    _write_csv(out_dir / "crm" / "customers.csv", customers.frame())
    _write_surveys(out_dir / "crm" / "surveys", window, responses)
    _write_csv(out_dir / "hr" / "employees.csv", employees)

    return DemoSummary(
        out_dir=out_dir,
        first_day=first_day,
        last_day=end_date,
        row_counts={
            "invoices": len(invoices["day"]),
            "expense_lines": len(expenses["day"]),
            "customers": len(customers.created),
            "survey_responses": responses.height,
            "employees": employees.height,
        },
    )


# ---------------------------------------------------------------------------------------------- calendar


def _day_number(day: date) -> int:
    return (day - _EPOCH).days


def _to_datetime64(day_numbers: np.ndarray) -> np.ndarray:
    return day_numbers.astype("datetime64[D]")


def _date_series(name: str, day_numbers: np.ndarray, missing: np.ndarray | None = None) -> pl.Series:
    """Day numbers as a polars Date series, null where ``missing``."""
    series = pl.Series(name, day_numbers.astype(np.int32)).cast(pl.Date)
    if missing is not None and missing.any():
        series = series.scatter(np.flatnonzero(missing), None)
    return series


@dataclass(frozen=True)
class _Window:
    first: int
    end: int
    days: np.ndarray  # day numbers first..end
    weekday: np.ndarray  # Monday 0 .. Sunday 6
    month_start: np.ndarray  # day number of the first of each day's month
    month_of_year: np.ndarray
    day_of_month: np.ndarray
    day_of_year: np.ndarray
    strings: np.ndarray  # 'YYYY-MM-DD' of each day, object array

    @classmethod
    def of(cls, first: int, end: int) -> _Window:
        days = np.arange(first, end + 1, dtype=np.int64)
        as_dates = _to_datetime64(days)
        months = as_dates.astype("datetime64[M]")
        years = as_dates.astype("datetime64[Y]")
        return cls(
            first=first,
            end=end,
            days=days,
            weekday=(days + 3) % 7,  # 1970-01-01 was a Thursday
            month_start=months.astype("datetime64[D]").astype(np.int64),
            month_of_year=months.astype(np.int64) % 12 + 1,
            day_of_month=(as_dates - months.astype("datetime64[D]")).astype(np.int64) + 1,
            day_of_year=(as_dates - years.astype("datetime64[D]")).astype(np.int64) + 1,
            strings=np.datetime_as_string(as_dates, unit="D").astype(object),
        )

    @property
    def size(self) -> int:
        return len(self.days)

    def trend(self) -> np.ndarray:
        """Yearly sinusoid times growth, centred on the window (mean about 1)."""
        yearly = 1.0 + _YEARLY_AMPLITUDE * np.cos(
            2.0 * np.pi * (self.day_of_year - _YEARLY_PEAK_DOY) / 365.25
        )
        middle = (self.first + self.end) / 2.0
        growth = (1.0 + _ANNUAL_GROWTH) ** ((self.days - middle) / 365.25)
        return yearly * growth

    def same_month_span(self) -> tuple[int, int] | None:
        """First and last day of the latest calendar month with at least two days in the window."""
        for month in np.unique(self.month_start)[::-1]:
            in_month = self.days[self.month_start == month]
            if len(in_month) >= 2:
                return int(in_month[0]), int(in_month[-1])
        return None


def _ramp_offsets(rng: np.random.Generator, size: int, span: int) -> np.ndarray:
    """Offsets in [0, span) with a density rising linearly (a growing business): f(x) ~ 0.5 + x."""
    u = rng.random(size)
    x = -0.5 + np.sqrt(0.25 + 2.0 * u)
    return np.minimum(np.floor(x * span).astype(np.int64), span - 1)


def _lognormal_noise(rng: np.random.Generator, sigma: float, size: int) -> np.ndarray:
    """Multiplicative noise with mean 1."""
    return rng.lognormal(mean=-sigma * sigma / 2.0, sigma=sigma, size=size)


def _formatted_ids(prefix: str, count: int, width: int) -> list[str]:
    if count == 0:
        return []
    return (
        pl.select(pl.format(prefix + "{}", pl.int_range(1, count + 1).cast(pl.String).str.zfill(width)))
        .to_series()
        .to_list()
    )


# ---------------------------------------------------------------------------------------------- customers


@dataclass(frozen=True)
class _Customers:
    """Customers sorted by sign-up day; ``closed`` is ``_NEVER`` while still a customer."""

    created: np.ndarray
    closed: np.ndarray
    tier: np.ndarray  # index into TIERS
    refs: np.ndarray  # object array of 'CUST-000001'

    def frame(self) -> pl.DataFrame:
        open_ = self.closed == _NEVER
        return pl.DataFrame(
            [
                pl.Series("customer_ref", self.refs.tolist(), dtype=pl.String),
                _date_series("created_on", self.created),
                _date_series("closed_on", np.where(open_, 0, self.closed), missing=open_),
                pl.Series("tier", np.asarray(TIERS, dtype=object)[self.tier].tolist(), dtype=pl.String),
            ]
        )

    def pick_active(self, rng: np.random.Generator, on_day: np.ndarray, max_rounds: int = 64) -> np.ndarray:
        """For each day, the index of a customer active on it (signed up on or before, closed after); -1
        when none was found. Uniform over the active customers: rejection sampling among those signed up."""
        signed_up = np.searchsorted(self.created, on_day, side="right")
        picked = np.full(on_day.shape, -1, dtype=np.int64)
        todo = np.flatnonzero(signed_up > 0)
        for _ in range(max_rounds):
            if todo.size == 0:
                break
            candidate = (rng.random(todo.size) * signed_up[todo]).astype(np.int64)
            active = self.closed[candidate] > on_day[todo]
            picked[todo[active]] = candidate[active]
            todo = todo[~active]
        return picked


def _customers(rng: np.random.Generator, window: _Window, invoices_per_day: int) -> _Customers:
    count = max(50, invoices_per_day * _CUSTOMERS_PER_DAILY_INVOICE)
    history_start = window.first - HISTORY_DAYS
    created = history_start + _ramp_offsets(rng, count, window.end - history_start + 1)
    tier = rng.choice(len(TIERS), size=count, p=_TIER_SHARE)
    daily_hazard = -np.log1p(-_TIER_MONTHLY_CHURN) / 30.44
    lifetime = np.maximum(1, np.ceil(rng.exponential(1.0 / daily_hazard[tier]))).astype(np.int64)
    closed = created + lifetime

    # One customer who signs up and churns within the same month, inside the window.
    span = window.same_month_span()
    if span is not None:
        month_first, month_last = span
        signed = int(rng.integers(month_first, month_last))  # leaves at least one day to churn on
        churned = int(rng.integers(signed + 1, month_last + 1))
        created = np.append(created, signed)
        closed = np.append(closed, churned)
        tier = np.append(tier, 0)

    closed = np.where(closed > window.end, _NEVER, closed)
    order = np.lexsort((closed, created))
    refs = np.asarray(_formatted_ids("CUST-", len(order), 6), dtype=object)
    return _Customers(created=created[order], closed=closed[order], tier=tier[order], refs=refs)


# ---------------------------------------------------------------------------------------------- ERP


def _invoices(
    rng: np.random.Generator, window: _Window, customers: _Customers, invoices_per_day: int
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The invoices and credit notes, the net revenue of each window day, and the smooth daily level
    (expected invoices a day without the weekday pattern)."""
    level = invoices_per_day * window.trend()
    holiday = ((window.month_of_year == 1) & (window.day_of_month == 1)) | (
        (window.month_of_year == 12) & (window.day_of_month == 25)
    )
    expected = np.where(holiday, 0.0, level * _WEEKDAY_SALES[window.weekday])
    per_day = rng.poisson(expected)
    day_index = np.repeat(np.arange(window.size), per_day)
    count = len(day_index)

    is_credit = rng.random(count) < _CREDIT_NOTE_SHARE
    is_counter = ~is_credit & (rng.random(count) < _COUNTER_SALE_SHARE)
    customer = np.full(count, -1, dtype=np.int64)
    needs_customer = np.flatnonzero(~is_counter)
    customer[needs_customer] = customers.pick_active(rng, window.days[day_index[needs_customer]])
    # A credit note without an active customer to refund cannot exist; an invoice becomes a counter sale.
    keep = ~(is_credit & (customer < 0))
    day_index, is_credit, customer = day_index[keep], is_credit[keep], customer[keep]
    count = len(day_index)

    has_customer = customer >= 0
    median = np.full(count, _COUNTER_SALE_MEDIAN)
    median[has_customer] = _TIER_INVOICE_MEDIAN[customers.tier[customer[has_customer]]]
    amount = rng.lognormal(mean=np.log(median), sigma=_INVOICE_SIGMA)
    refund_share = rng.uniform(0.1, 0.6, size=count)
    total = np.where(
        is_credit,
        np.minimum(-np.round(amount * refund_share, 2), -0.01),
        np.maximum(np.round(amount, 2), 0.01),
    )
    revenue_by_day = np.bincount(day_index, weights=total, minlength=window.size)
    return (
        {"day": day_index, "customer": customer, "total": total, "is_credit": is_credit},
        revenue_by_day,
        level,
    )


def _expense_lines(
    rng: np.random.Generator,
    window: _Window,
    revenue_by_day: np.ndarray,
    level: np.ndarray,
    invoices: dict[str, np.ndarray],
    invoices_per_day: int,
) -> dict[str, np.ndarray]:
    """Daily expense totals per account, split over a few lines each.

    COGS follows the day's sales (plus a small fixed part, so there are lines on Sundays), OPEX, interest
    and tax follow the smooth revenue level: COGS about 43 % of revenue, OPEX about 45 %, the rest about
    5 %, which leaves a thin (about 7 %), varying profit.
    """
    n_invoices = len(invoices["total"])
    mean_net = float(invoices["total"].sum()) / n_invoices if n_invoices else 500.0
    smooth_revenue = level * max(mean_net, 1.0)
    sales = np.maximum(revenue_by_day, 0.0)
    n = window.size
    totals = {
        "COGS": 0.415 * sales * _lognormal_noise(rng, 0.08, n)
        + 0.02 * smooth_revenue * _lognormal_noise(rng, 0.2, n),
        "OPEX": 0.45 * smooth_revenue * _lognormal_noise(rng, 0.12, n),
        "INTEREST": 0.012 * smooth_revenue * _lognormal_noise(rng, 0.03, n),
        "TAX": 0.02 * smooth_revenue * _lognormal_noise(rng, 0.05, n),
        "OTHER": np.where(rng.random(n) < 0.4, 0.025 * smooth_revenue * _lognormal_noise(rng, 0.5, n), 0.0),
    }
    lines = {
        "COGS": 1 + rng.poisson(invoices_per_day / 25.0, size=n),
        "OPEX": 1 + rng.poisson(invoices_per_day / 30.0, size=n),
        "INTEREST": np.ones(n, dtype=np.int64),
        "TAX": np.ones(n, dtype=np.int64),
        "OTHER": np.ones(n, dtype=np.int64),
    }
    group_day, group_account, group_total, group_lines = [], [], [], []
    for account_index, account in enumerate(ACCOUNTS):
        present = totals[account] > 0
        group_day.append(np.flatnonzero(present))
        group_account.append(np.full(int(present.sum()), account_index))
        group_total.append(totals[account][present])
        group_lines.append(lines[account][present])
    day_of_group = np.concatenate(group_day)
    account_of_group = np.concatenate(group_account)
    total_of_group = np.concatenate(group_total)
    lines_of_group = np.concatenate(group_lines)

    group = np.repeat(np.arange(len(day_of_group)), lines_of_group)
    weight = rng.gamma(2.0, size=len(group))
    share = weight / np.bincount(group, weights=weight)[group]
    amount = np.maximum(np.round(total_of_group[group] * share, 2), 0.01)
    order = np.lexsort((rng.random(len(group)), day_of_group[group]))
    return {
        "day": day_of_group[group][order],
        "account": account_of_group[group][order],
        "amount": amount[order],
    }


def _write_erp(
    path: Path,
    window: _Window,
    customers: _Customers,
    invoices: dict[str, np.ndarray],
    expenses: dict[str, np.ndarray],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    invoice_refs = np.full(len(invoices["customer"]), None, dtype=object)
    has_customer = invoices["customer"] >= 0
    invoice_refs[has_customer] = customers.refs[invoices["customer"][has_customer]]
    invoice_rows = zip(
        _formatted_ids("INV-", len(invoices["day"]), 7),
        window.strings[invoices["day"]].tolist(),
        invoice_refs.tolist(),
        invoices["total"].tolist(),
        np.where(invoices["is_credit"], "credit_note", "invoice").tolist(),
        strict=True,
    )
    expense_rows = zip(
        _formatted_ids("EXP-", len(expenses["day"]), 7),
        window.strings[expenses["day"]].tolist(),
        np.asarray(ACCOUNTS, dtype=object)[expenses["account"]].tolist(),
        expenses["amount"].tolist(),
        strict=True,
    )
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("BEGIN")
        connection.execute(
            "CREATE TABLE invoices (invoice_no TEXT PRIMARY KEY, invoice_date TEXT NOT NULL, "
            "customer_ref TEXT NULL, total REAL NOT NULL, doc_type TEXT NOT NULL)"
        )
        connection.execute(
            "CREATE TABLE expense_lines (line_id TEXT PRIMARY KEY, posted_on TEXT NOT NULL, "
            "account TEXT NOT NULL, amount REAL NOT NULL)"
        )
        connection.executemany("INSERT INTO invoices VALUES (?, ?, ?, ?, ?)", invoice_rows)
        connection.executemany("INSERT INTO expense_lines VALUES (?, ?, ?, ?)", expense_rows)
        connection.execute("CREATE INDEX invoices_invoice_date ON invoices (invoice_date)")
        connection.execute("CREATE INDEX expense_lines_posted_on ON expense_lines (posted_on)")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()


# ---------------------------------------------------------------------------------------------- surveys


def _survey_responses(
    rng: np.random.Generator, window: _Window, customers: _Customers, invoices_per_day: int
) -> pl.DataFrame:
    """Survey responses of active customers, every day, sorted by time, with ``day`` (window index)."""
    per_day = rng.poisson(invoices_per_day / 5.0 * _WEEKDAY_SURVEYS[window.weekday])
    day_index = np.repeat(np.arange(window.size), per_day)
    customer = customers.pick_active(rng, window.days[day_index])
    answered = customer >= 0
    day_index, customer = day_index[answered], customer[answered]
    count = len(day_index)

    hour = rng.choice(24, size=count, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    second_of_day = hour * 3600 + rng.integers(0, 3600, size=count)
    is_csat = rng.random(count) < _CSAT_SHARE
    at_risk = customers.closed[customer] - window.days[day_index] <= _AT_RISK_DAYS
    u = rng.random(count)
    score = np.empty(count, dtype=np.int64)
    for (survey_type, risky), probs in _SCORE_PROBS.items():
        rows = (is_csat == (survey_type == "CSAT")) & (at_risk == risky)
        cumulative = np.cumsum(probs)
        drawn = np.searchsorted(cumulative / cumulative[-1], u[rows], side="right")
        score[rows] = _SCORE_MIN[survey_type] + np.minimum(drawn, len(probs) - 1)

    order = np.lexsort((second_of_day, day_index))
    day_index, customer, second_of_day = day_index[order], customer[order], second_of_day[order]
    is_csat, score = is_csat[order], score[order]
    return pl.DataFrame(
        [
            pl.Series("response_id", _formatted_ids("R-", count, 7), dtype=pl.String),
            pl.Series("customer_ref", customers.refs[customer].tolist(), dtype=pl.String),
            (
                _date_series("answered_on", window.days[day_index]).cast(pl.Datetime("us"))
                + pl.Series(second_of_day * 1_000_000).cast(pl.Duration("us"))
            )
            .dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            .alias("answered_at"),
            pl.Series("survey_type", np.where(is_csat, "CSAT", "NPS").tolist(), dtype=pl.String),
            pl.Series("score", score, dtype=pl.Int64),
            pl.Series("month_start", window.month_start[day_index], dtype=pl.Int64),
        ]
    )


def _write_surveys(directory: Path, window: _Window, responses: pl.DataFrame) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for month in np.unique(window.month_start):
        month_name = np.datetime_as_string(np.int64(month).astype("datetime64[D]"), unit="M")
        rows = responses.filter(pl.col("month_start") == int(month)).drop("month_start")
        rows.write_ndjson(directory / f"responses-{month_name}.ndjson")


# ---------------------------------------------------------------------------------------------- HR


def _employees(rng: np.random.Generator, window: _Window, invoices_per_day: int) -> pl.DataFrame:
    """Staff active on the window's first day, former staff, and hires inside the window."""
    headcount = max(15, invoices_per_day // 2)
    history_start = window.first - HISTORY_DAYS
    mean_tenure = 365.25 / _ANNUAL_ATTRITION

    # Employed on the first day: hired before it, leaving (if at all) after it.
    current_hire = history_start + _ramp_offsets(rng, headcount, window.first - history_start)
    current_term = window.first + 1 + np.floor(rng.exponential(mean_tenure, size=headcount)).astype(np.int64)

    # Former staff: hired and gone before the window.
    former = int(rng.poisson(headcount * _FORMER_EMPLOYEE_SHARE))
    former_hire = history_start + _ramp_offsets(rng, former, window.first - 1 - history_start)
    former_term = (
        former_hire + 1 + np.floor(rng.random(former) * (window.first - 1 - former_hire)).astype(np.int64)
    )

    # Hires in the window replace leavers and grow the headcount a little: mostly Mondays, no weekends.
    # Every leaver among the current staff is replaced, plus a few more (and some of those leave again).
    leavers = int(np.count_nonzero(current_term <= window.end))
    growth = headcount * _HEADCOUNT_GROWTH * window.size / 365.25
    hires = leavers + max(1, round(growth)) + int(rng.poisson(growth / 2.0))
    weight = _HIRE_WEEKDAY[window.weekday]
    weight = weight / weight.sum() if weight.sum() > 0 else np.full(window.size, 1.0 / window.size)
    new_hire = window.days[rng.choice(window.size, size=hires, p=weight)]
    new_term = new_hire + 1 + np.floor(rng.exponential(mean_tenure, size=hires)).astype(np.int64)

    hire = np.concatenate([current_hire, former_hire, new_hire])
    term = np.concatenate([current_term, former_term, new_term])
    # One employee hired and gone within the same month, inside the window.
    span = window.same_month_span()
    if span is not None:
        month_first, month_last = span
        hired = int(rng.integers(month_first, month_last))
        hire = np.append(hire, hired)
        term = np.append(term, int(rng.integers(hired + 1, month_last + 1)))

    count = len(hire)
    employed = term > window.end
    department = rng.choice(len(DEPARTMENTS), size=count, p=_DEPARTMENT_SHARE)
    reason = rng.choice(len(TERMINATION_REASONS), size=count, p=_REASON_SHARE)
    order = np.lexsort((term, hire))
    hire, term, employed, department, reason = (
        hire[order],
        term[order],
        employed[order],
        department[order],
        reason[order],
    )
    reasons = np.asarray(TERMINATION_REASONS, dtype=object)[reason]
    reasons[employed] = None
    return pl.DataFrame(
        [
            pl.Series("emp_no", _formatted_ids("E", count, 5), dtype=pl.String),
            _date_series("hire_date", hire),
            _date_series("termination_date", np.where(employed, 0, term), missing=employed),
            pl.Series(
                "department", np.asarray(DEPARTMENTS, dtype=object)[department].tolist(), dtype=pl.String
            ),
            pl.Series("termination_reason", reasons.tolist(), dtype=pl.String),
        ]
    )


# ---------------------------------------------------------------------------------------------- files


def _remove_previous_outputs(out_dir: Path) -> None:
    """Delete the files a previous run wrote (only those), so a new run never mixes with an old one."""
    targets = [
        out_dir / "erp.sqlite",
        out_dir / "erp.sqlite-journal",
        out_dir / "erp.sqlite-wal",
        out_dir / "erp.sqlite-shm",
        out_dir / "crm" / "customers.csv",
        out_dir / "hr" / "employees.csv",
    ]
    surveys = out_dir / "crm" / "surveys"
    if surveys.is_dir():
        targets.extend(sorted(surveys.glob("responses-*.ndjson")))
    for target in targets:
        target.unlink(missing_ok=True)


def _write_csv(path: Path, frame: pl.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path)


# ---------------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> DemoSummary:
    parser = argparse.ArgumentParser(
        prog="python -m kpi.demo_sources", description="Generate the demo company's source systems."
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument(
        "--end-date",
        type=date.fromisoformat,
        default=datetime.now(UTC).date() - timedelta(days=1),
        help="last day of data, YYYY-MM-DD (default: yesterday, UTC)",
    )
    parser.add_argument("--days", type=int, default=90, help="days of dated data (default: 90)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    parser.add_argument("--invoices-per-day", type=int, default=50, help="mean invoices a day (default: 50)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    summary = generate_demo_sources(
        args.out,
        end_date=args.end_date,
        days=args.days,
        seed=args.seed,
        invoices_per_day=args.invoices_per_day,
    )
    elapsed = time.perf_counter() - started
    print(f"Demo sources written to {summary.out_dir} in {elapsed:.2f}s")
    print(f"  window: {summary.first_day} .. {summary.last_day}")
    for name, count in summary.row_counts.items():
        print(f"  {name}: {count:,}")
    return summary


if __name__ == "__main__":
    main()
