"""The `crm` connector: deals from the Example CRM's REST API (`GET /deals`).

The API (see `fake_crm.py` beside this package for a local copy of it):
    GET {base_url}/deals?status=won&closed_since=2026-03-01&closed_before=2026-03-03&page=1&per_page=100
    Authorization: Bearer <token>
    -> {"deals": [{"id": 101, "closed_at": "2026-03-01T14:12:00Z",
                   "value": {"amount": "1200.00", "currency": "EUR"},
                   "account": {"id": "ACME", "name": "Acme"}}, ...],
        "pagination": {"page": 1, "total_pages": 3}}

The transport (pages, retries, rate limit, credentials) is the built-in http connector's; this one
gives the API a name, its defaults, and a fixed schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import polars as pl
from pydantic import Field

from connectors.base import (
    RAW_RECORD_COLUMN,
    RECORD_PROBLEM_COLUMN,
    Connector,
    ConnectorOptions,
    ExtractWindow,
)
from connectors.http import HttpConnector, HttpOptions

SCHEMA = {
    "deal_id": pl.String(),
    "closed_at": pl.String(),
    "amount": pl.String(),
    "currency": pl.String(),
    "account_id": pl.String(),
}
"""What every frame holds: the API's values as text, exactly as sent, for the mapping to type."""
PROTOCOL = (RECORD_PROBLEM_COLUMN, RAW_RECORD_COLUMN)


class CrmOptions(ConnectorOptions):
    """The `crm` connector's options."""

    base_url: str
    """The API's root, e.g. https://acme.example-crm.com/api/v2."""
    token_env: str = "CRM_TOKEN"
    """The environment variable holding the API token."""
    status: Literal["won", "lost", "open"] = "won"
    """Which deals to read."""
    currency: str = "EUR"
    """The reporting currency: a deal in another one is a bad record, quarantined."""
    requests_per_second: float = Field(default=5.0, gt=0)
    """The API allows 5 requests a second per token."""


class CrmConnector(Connector):
    """Deals of one status, one row per deal; columns as SCHEMA (all String), plus the bad-record
    columns for a deal in another currency. The window is asked of the API (closed_since/closed_before)."""

    name = "crm"
    description = (
        "Deals from the Example CRM's API (won, lost or open), with their amount, currency and account."
    )
    Options = CrmOptions
    options: CrmOptions

    def declared_schema(self) -> dict[str, pl.DataType]:
        return dict(SCHEMA)

    def extract(self, window: ExtractWindow | None, source_date_column: str | None) -> Iterator[pl.DataFrame]:
        http = HttpConnector(
            self.source_name,
            HttpOptions.model_validate(
                {
                    "url": self.options.base_url.rstrip("/") + "/deals",
                    "params": {"status": self.options.status},
                    "auth": {"type": "bearer", "token_env": self.options.token_env},
                    "records_path": "deals",
                    "pagination": {"type": "page_number", "total_pages_path": "pagination.total_pages"},
                    "incremental": {"start_param": "closed_since", "end_param": "closed_before"},
                    "fields": {
                        "id": "integer",
                        "closed_at": "string",
                        "value__amount": "string",
                        "value__currency": "string",
                        "account__id": "string",
                    },
                    "requests_per_second": self.options.requests_per_second,
                }
            ),
            self.base_dir,
        )
        for page in http.extract(window, "closed_at"):
            yield self.deals(page)
        self.window_pushed_down, self.window_note = http.window_pushed_down, http.window_note

    def deals(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The http connector's frame in SCHEMA, with the bad-record columns: a deal in another
        currency becomes a bad record (its columns null, the rule and its JSON in those columns)."""
        if RECORD_PROBLEM_COLUMN not in frame.columns:  # (the http connector found no bad record)
            frame = frame.with_columns(pl.lit(None, pl.String).alias(name) for name in PROTOCOL)
        problem, raw = (pl.col(name) for name in PROTOCOL)
        currency = self.options.currency
        other_currency = (
            problem.is_null() & pl.col("currency").is_not_null() & (pl.col("currency") != currency)
        )
        return (
            frame.select(
                pl.col("id").cast(pl.String).alias("deal_id"),
                "closed_at",
                pl.col("value__amount").alias("amount"),
                pl.col("value__currency").alias("currency"),
                pl.col("account__id").alias("account_id"),
                *PROTOCOL,
            )
            .with_columns(
                pl.when(other_currency)
                .then(pl.format("currency {} is not {}", "currency", pl.lit(currency)))
                .otherwise(problem)
                .alias(RECORD_PROBLEM_COLUMN),
                pl.when(other_currency)
                .then(pl.struct(*SCHEMA).struct.json_encode())
                .otherwise(raw)
                .alias(RAW_RECORD_COLUMN),
            )
            .with_columns(pl.when(problem.is_null()).then(pl.col(name)).alias(name) for name in SCHEMA)
        )
