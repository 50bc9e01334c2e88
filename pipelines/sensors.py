"""The okr_alerts sensor: after key results are published, post the alerts they raised (`kpi.alerts`).

Its cursor holds the storage id of the last okr/key_results materialization it has seen, and whether
messages were left unsent: it opens the warehouse only when key results were published since, or to
try a failed webhook again. What was sent is recorded in the warehouse's `alerts` table, which `kpi run`
delivers from as well, so a message goes once whichever of them sends it.
"""

from __future__ import annotations

import json

import dagster as dg
import sqlalchemy as sa

from kpi.config import PipelineConfig
from pipelines.resources import WarehouseResource

KEY_RESULTS = dg.AssetKey(["okr", "key_results"])
ALERT_INTERVAL_SECONDS = 60


def build_alert_sensor(config: PipelineConfig) -> dg.SensorDefinition:
    webhooks = ", ".join(sorted({alert.webhook_env for alert in config.alerts}))

    @dg.sensor(
        name="okr_alerts",
        minimum_interval_seconds=ALERT_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Posts a message per key result status change an alert rule matches, to {webhooks}, "
        "after okr/key_results is materialized; retries a failing webhook, never fails a run.",
    )
    def okr_alerts(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        from kpi.alerts import deliver_alerts

        cursor = json.loads(context.cursor) if context.cursor else {"after": None, "pending": 0}
        published = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=KEY_RESULTS, after_storage_id=cursor["after"]),
            limit=1,
            ascending=False,
        ).records
        if not published and not cursor["pending"]:
            return dg.SkipReason("no key results published since the last check, and nothing unsent")
        store = None
        try:
            store = warehouse.get(config)
            delivery = deliver_alerts(store, config, context.log.warning)
        except sa.exc.DBAPIError as error:  # a DuckDB file a run holds: the next tick tries again
            return dg.SkipReason(f"the warehouse cannot be read now ({type(error.orig or error).__name__})")
        finally:
            if store is not None:
                store.dispose()  # a DuckDB file stays locked while an engine holds it: runs need it
        after = published[0].storage_id if published else cursor["after"]
        context.update_cursor(json.dumps({"after": after, "pending": delivery.pending}))
        failed = "".join(f"; {env}: {reason}" for env, reason in delivery.failed.items())
        return dg.SkipReason(f"sent {delivery.sent} alert(s), {delivery.pending} unsent{failed}")

    return okr_alerts
