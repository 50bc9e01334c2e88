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

import logging
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl
import sqlalchemy as sa

from kpi.config import PipelineConfig
from kpi.formats import format_target, format_value, status_label
from kpi.locks import ALERTS_LOCK, warehouse_lock
from kpi.schema import alerts, key_results
from kpi.warehouse import Warehouse

# httpx logs each request's URL at INFO: a webhook URL is a secret.
logging.getLogger("httpx").setLevel(logging.WARNING)

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


def message(config: PipelineConfig, change: dict, restated: bool = False) -> str:
    """The text of one change (a key_results row with previous_status): the objective, the key result,
    old and new status, actual against target and the as-of day, in Slack's mrkdwn. `restated`: the
    previous status is the one last announced, which restated history no longer holds."""
    objective = next(o for o in config.objectives if o.id == change["objective_id"])
    kr = next(k for k in objective.key_results if k.id == change["key_result_id"])
    unit = config.catalog.kpis[kr.kpi_id].unit
    dimension = f" ({', '.join(f'{k} {v}' for k, v in kr.dimension.items())})" if kr.dimension else ""
    was = (
        f"was {status_label(change['previous_status'])}"
        if change["previous_status"] is not None
        else "first evaluated"
    )
    if restated:
        was += " as last reported; its history was restated"
    return (
        f"*{objective.title}* › {kr.description}{dimension} is now *{status_label(change['status'])}* "
        f"({was}) as of {change['as_of']}: actual {format_value(change['actual'], unit)} "
        f"({kr.measure.label}) against a target of {format_target(kr.target, unit, kr.kind)}."
    )


def alert_rows(
    changes: pl.DataFrame, config: PipelineConfig, created_at: datetime, restated: bool = False
) -> pl.DataFrame:
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
                "restated" if restated else alert.on,
                message(config, change, restated),
                created_at,
                0,
            )
    return pl.DataFrame(list(rows.values()), schema=ALERT_SCHEMA, orient="row")


def previous_statuses(warehouse: Warehouse, first_day: date) -> pl.DataFrame:
    """Each key result's latest published status before `first_day` (key_result_id, as_of, status),
    dated the day before `first_day`: the status a change on `first_day` is a change from, even when
    the days between were never computed (a failed night)."""
    r = key_results.alias("r")
    latest = (
        sa.select(sa.func.max(key_results.c.as_of))
        .where(key_results.c.key_result_id == r.c.key_result_id, key_results.c.as_of < first_day)
        .scalar_subquery()
    )
    rows = warehouse.read(
        sa.select(r.c.key_result_id, r.c.status).where(r.c.as_of == latest),
        {"key_result_id": pl.String(), "status": pl.String()},
    )
    return rows.select("key_result_id", pl.lit(first_day - timedelta(days=1)).alias("as_of"), "status")


def _told(connection: sa.Connection, webhooks: list[str]) -> pl.DataFrame:
    """The alerts kept for `webhooks` (webhook_env, key_result_id, as_of, status, sent)."""
    rows = connection.execute(
        sa.select(
            alerts.c.webhook_env,
            alerts.c.key_result_id,
            alerts.c.as_of,
            alerts.c.status,
            alerts.c.sent_at.is_not(None),
        ).where(alerts.c.webhook_env.in_(webhooks))
    ).all()
    return pl.DataFrame(
        [tuple(row) for row in rows],
        schema={
            "webhook_env": pl.String(),
            "key_result_id": pl.String(),
            "as_of": pl.Date(),
            "status": pl.String(),
            "sent": pl.Boolean(),
        },
        orient="row",
    )


def publish_alerts(
    warehouse: Warehouse,
    connection: sa.Connection,
    config: PipelineConfig,
    key_result_rows: pl.DataFrame,
    changes: pl.DataFrame,
    created_at: datetime,
) -> int:
    """Bring the alerts table in line with key results just republished for the as-of days of
    `key_result_rows` (KEY_RESULT_SCHEMA; the days from the first through the latest), inside the
    caller's transaction. Returns the alerts added.

    - the changes an alert rule matches (`alert_rows`) are added, once each;
    - an unsent alert of those days whose change the new rows no longer hold (a restated day) is
      dropped: it would announce what history no longer says;
    - for a `status_change` webhook, a key result whose latest status now differs from the last one
      its webhook was told (a restatement moved a change it had announced) gets one alert, as of the
      latest day, saying so.
    """
    webhooks = sorted({alert.webhook_env for alert in config.alerts})
    days = key_result_rows["as_of"].unique().to_list()
    if not webhooks or not days:
        return 0
    new = alert_rows(changes, config, created_at)
    key = ["webhook_env", "key_result_id", "as_of", "status"]
    told = _told(connection, webhooks)
    gone = told.filter(~pl.col("sent") & pl.col("as_of").is_in(days)).join(new, on=key, how="anti")
    for webhook_env, key_result_id, as_of, status in gone.select(key).iter_rows():
        connection.execute(
            alerts.delete().where(
                alerts.c.webhook_env == webhook_env,
                alerts.c.key_result_id == key_result_id,
                alerts.c.as_of == as_of,
                alerts.c.status == status,
            )
        )
    kept = pl.concat([told.join(gone, on=key, how="anti").select(key), new.select(key)]).unique(key)
    last_told = (
        kept.sort("as_of")
        .group_by("webhook_env", "key_result_id")
        .agg(pl.col("as_of").last(), pl.col("status").last().alias("told"))
    )
    latest = key_result_rows.filter(pl.col("as_of") == max(days))
    restated = (
        last_told.filter(
            pl.col("webhook_env").is_in([a.webhook_env for a in config.alerts if a.on == "status_change"])
        )
        .drop("as_of")
        .join(latest, on="key_result_id")
        .filter(pl.col("told") != pl.col("status"))
    )
    corrections = alert_rows(
        restated.with_columns(previous_status=pl.col("told")).drop("told", "webhook_env"),
        config,
        created_at,
        restated=True,
    ).join(restated.select("webhook_env", "key_result_id"), on=["webhook_env", "key_result_id"], how="semi")
    added = pl.concat([new, corrections]).unique(key, keep="first")
    if not added.is_empty():
        warehouse.insert_new(connection, alerts, added)  # a change already raised stays one
    return added.height


class DeliveryFailed(Exception):
    """A webhook refused a message or could not be reached; the message names no URL."""

    def __init__(self, reason: str, retry: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry, self.retry_after = retry, retry_after


def post(client, url: str, text: str) -> None:
    """POST {"text": text} to `url` through the httpx `client`, retrying a timeout, a connection
    failure, a 429 (after its Retry-After) or a 5xx with exponential backoff, TRIES posts in all.
    Raises DeliveryFailed (naming the HTTP status or the kind of failure, never the URL)."""
    import httpx
    import tenacity

    from connectors.http import retry_after

    def once() -> None:
        try:
            response = client.post(url.strip(), json={"text": text})
        except httpx.TimeoutException:
            raise DeliveryFailed(f"no answer within {TIMEOUT_SECONDS:.0f} s", retry=True) from None
        except httpx.TransportError as error:
            raise DeliveryFailed(f"could not connect ({type(error).__name__})", retry=True) from None
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as error:  # its message may quote the URL
            raise DeliveryFailed(f"not a usable webhook URL ({type(error).__name__})", retry=False) from None
        if response.status_code == 429 or response.status_code >= 500:
            after = retry_after(response)  # seconds or an HTTP date
            raise DeliveryFailed(
                f"HTTP {response.status_code}",
                retry=True,
                retry_after=min(after, MAX_WAIT_SECONDS) if after is not None else None,
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
    warehouse: Warehouse,
    config: PipelineConfig,
    log: Callable[[str], None] = lambda _: None,
    skip: Collection[str] = (),
) -> Delivery:
    """Post every unsent alert of the config's webhooks (but those named in `skip`: failed already in
    this invocation), oldest first, marking each sent when its webhook accepted it; a webhook that
    fails (after `post`'s retries) is left for the next delivery, with the rest of its messages.
    Never raises for a webhook; each outcome is committed at once."""
    import httpx

    webhooks = sorted({alert.webhook_env for alert in config.alerts} - set(skip))
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
            except Exception as error:  # whatever it is, one webhook never stops the others
                if not isinstance(error, DeliveryFailed):
                    error = DeliveryFailed(f"delivery failed ({type(error).__name__})", retry=False)
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
