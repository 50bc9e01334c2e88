"""Alerts: a message per key result whose status changed, posted once to a webhook.

When key results are published, the changes an alert rule of the config matches are written to the
`alerts` table in the same transaction (`alert_rows`): it is the outbox and the record of what was sent.
`deliver_alerts` (called by the okr_alerts sensor, and by `kpi run` after each run) posts each unsent one
as Slack's incoming-webhook JSON (`{"text": ...}`), retrying a failing webhook with exponential backoff,
and marks it sent. A message is sent once: a rerun that finds the same change finds its row. Delivery
never fails a run; a webhook that stays down leaves its rows unsent (`attempts`, `last_error`) for the
next delivery, up to MAX_ATTEMPTS. The webhook URL is a secret: it is read from the environment variable
the config names and never written to a log, a table or an error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
import sqlalchemy as sa

from kpi.config import PipelineConfig
from kpi.formats import format_target, format_value, status_label
from kpi.locks import ALERTS_LOCK, warehouse_lock
from kpi.schema import alerts, key_results
from kpi.warehouse import Warehouse

RULES = ("status_change", "off_track")
OFF_TRACK = ("off_track", "missed")
MAX_ATTEMPTS = 8
"""Deliveries of one message tried (each with TRIES posts) before it is left unsent for good."""
TRIES = 4
"""Posts per delivery: the first and three retries, waiting BACKOFF_SECONDS, then twice, then four times."""
BACKOFF_SECONDS = 0.25
MAX_WAIT_SECONDS = 30.0
TIMEOUT_SECONDS = 10.0

ALERT_SCHEMA: dict[str, pl.DataType] = {
    "webhook_env": pl.String(),
    "key_result_id": pl.String(),
    "as_of": pl.Date(),
    "status": pl.String(),
    "previous_status": pl.String(),
    "objective_id": pl.String(),
    "rule": pl.String(),
    "message": pl.String(),
    "created_at": pl.Datetime("us", "UTC"),
    "attempts": pl.Int64(),
}


def matches(rule: str, previous_status: str | None, status: str) -> bool:
    """Whether a change from `previous_status` (None on a key result's first as-of day) to `status`
    is one `rule` alerts on: `status_change` any change from a status; `off_track` a change to
    off_track or missed, a first day included."""
    if rule == "status_change":
        return previous_status is not None and previous_status != status
    return status in OFF_TRACK and previous_status != status


def message(config: PipelineConfig, change: dict) -> str:
    """The text of one change (a key_results row with previous_status): the objective, the key result,
    old and new status, actual against target and the as-of day, in Slack's mrkdwn."""
    objective = next(o for o in config.objectives if o.id == change["objective_id"])
    kr = next(k for k in objective.key_results if k.id == change["key_result_id"])
    unit = config.catalog.kpis[kr.kpi_id].unit
    dimension = f" ({', '.join(f'{k} {v}' for k, v in kr.dimension.items())})" if kr.dimension else ""
    was = (
        f"was {status_label(change['previous_status'])}"
        if change["previous_status"] is not None
        else "first evaluated"
    )
    return (
        f"*{objective.title}* › {kr.description}{dimension} is now *{status_label(change['status'])}* "
        f"({was}) as of {change['as_of']}: actual {format_value(change['actual'], unit)} "
        f"({kr.measure.label}) against a target of {format_target(kr.target, unit, kr.kind)}."
    )


def alert_rows(changes: pl.DataFrame, config: PipelineConfig, created_at: datetime) -> pl.DataFrame:
    """Rows of the alerts table (ALERT_SCHEMA) for the changes (KEY_RESULT_SCHEMA with previous_status,
    `assets.okr.transforms.status_changes`) that an alert rule of the config matches: one per webhook,
    key result, as-of day and new status (the first rule matching names it)."""
    rows: dict[tuple, tuple] = {}
    for change in changes.iter_rows(named=True):
        for alert in config.alerts:
            key = (alert.webhook_env, change["key_result_id"], change["as_of"], change["status"])
            if key in rows or not matches(alert.on, change["previous_status"], change["status"]):
                continue
            rows[key] = (
                *key,
                change["previous_status"],
                change["objective_id"],
                alert.on,
                message(config, change),
                created_at,
                0,
            )
    return pl.DataFrame(list(rows.values()), schema=ALERT_SCHEMA, orient="row")


def previous_statuses(warehouse: Warehouse, day) -> pl.DataFrame:
    """The published key results' statuses as of `day` (key_result_id, as_of, status)."""
    return warehouse.read(
        sa.select(key_results.c.key_result_id, key_results.c.as_of, key_results.c.status).where(
            key_results.c.as_of == day
        ),
        {"key_result_id": pl.String(), "as_of": pl.Date(), "status": pl.String()},
    )


class DeliveryFailed(Exception):
    """A webhook refused a message or could not be reached; the message names no URL."""

    def __init__(self, reason: str, retry: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry, self.retry_after = retry, retry_after


def _retry_after(response) -> float | None:
    try:
        return min(float(response.headers.get("retry-after", "")), MAX_WAIT_SECONDS)
    except ValueError:
        return None


def post(client, url: str, text: str) -> None:
    """POST {"text": text} to `url` through the httpx `client`, retrying a timeout, a connection
    failure, a 429 (after its Retry-After) or a 5xx with exponential backoff, TRIES posts in all.
    Raises DeliveryFailed (naming the HTTP status or the kind of failure, never the URL)."""
    import httpx
    import tenacity

    def once() -> None:
        try:
            response = client.post(url, json={"text": text})
        except httpx.TimeoutException:
            raise DeliveryFailed(f"no answer within {TIMEOUT_SECONDS:.0f} s", retry=True) from None
        except httpx.TransportError as error:
            raise DeliveryFailed(f"could not connect ({type(error).__name__})", retry=True) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise DeliveryFailed(
                f"HTTP {response.status_code}", retry=True, retry_after=_retry_after(response)
            )
        if response.status_code >= 300:
            raise DeliveryFailed(f"HTTP {response.status_code}: refused", retry=False)

    backoff = tenacity.wait_exponential(multiplier=BACKOFF_SECONDS, max=MAX_WAIT_SECONDS)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        after = error.retry_after if isinstance(error, DeliveryFailed) else None
        return max(backoff(state), after or 0.0)

    tenacity.Retrying(
        stop=tenacity.stop_after_attempt(TRIES),
        wait=wait,
        retry=tenacity.retry_if_exception(lambda error: isinstance(error, DeliveryFailed) and error.retry),
        reraise=True,
    )(once)


@dataclass(frozen=True)
class Delivery:
    sent: int
    failed: dict[str, str]
    """Why each webhook (by its variable's name) failed this time."""
    pending: int
    """Messages still unsent that a later delivery tries again."""


def deliver_alerts(
    warehouse: Warehouse, config: PipelineConfig, log: Callable[[str], None] = lambda _: None
) -> Delivery:
    """Post every unsent alert of the config's webhooks, oldest first, marking each sent when its
    webhook accepted it; a webhook that fails (after `post`'s retries) is left for the next delivery,
    with the rest of its messages. Never raises for a webhook; each outcome is committed at once."""
    import httpx

    webhooks = sorted({alert.webhook_env for alert in config.alerts})
    if not webhooks:
        return Delivery(0, {}, 0)
    unsent = (
        (alerts.c.sent_at.is_(None)) & (alerts.c.attempts < MAX_ATTEMPTS) & alerts.c.webhook_env.in_(webhooks)
    )
    key = [alerts.c.webhook_env, alerts.c.key_result_id, alerts.c.as_of, alerts.c.status]
    sent, failed = 0, {}
    with warehouse_lock(warehouse.engine, lock=ALERTS_LOCK), httpx.Client(timeout=TIMEOUT_SECONDS) as client:
        with warehouse.engine.connect() as connection:
            pending = connection.execute(
                sa.select(*key, alerts.c.message, alerts.c.attempts)
                .where(unsent)
                .order_by(alerts.c.created_at, alerts.c.as_of, alerts.c.key_result_id)
            ).all()
        for *values, text, attempts in pending:
            webhook_env = values[0]
            if webhook_env in failed:
                continue
            outcome: dict = {"attempts": attempts + 1}
            try:
                url = os.environ.get(webhook_env)
                if not url:
                    raise DeliveryFailed(f"environment variable {webhook_env} is not set", retry=False)
                post(client, url, text)
                outcome |= {"sent_at": datetime.now(UTC), "last_error": None}
                sent += 1
            except DeliveryFailed as error:
                failed[webhook_env] = str(error)
                outcome["last_error"] = str(error)
                log(f"alert webhook {webhook_env}: {error}; its unsent messages wait for the next delivery")
            with warehouse.transaction() as connection:
                connection.execute(
                    alerts.update()
                    .where(*(column == value for column, value in zip(key, values, strict=True)))
                    .values(**outcome)
                )
        with warehouse.engine.connect() as connection:
            left = connection.execute(sa.select(sa.func.count()).select_from(alerts).where(unsent)).scalar()
    return Delivery(sent, failed, int(left or 0))
