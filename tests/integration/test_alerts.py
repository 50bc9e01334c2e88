"""Alerts received by a real webhook on 127.0.0.1: one message per key result status change, none
repeated on a rerun, a failing webhook retried, a dead one leaving the run green, and the okr_alerts
sensor delivering what `kpi run` could not."""

from __future__ import annotations

import email.utils
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from kpi.alerts import post
from kpi.runner import run_partitions
from tests.conftest import query, shop_config

# The shop sells this much each day of January; the key result asks for at least 100 a day (the
# trailing 1 day), so its status is on_track on days 1, 2 and 5 and off_track on days 3 and 4.
DAILY_SALES = {1: 150.0, 2: 150.0, 3: 50.0, 4: 50.0, 5: 120.0, 6: 130.0}
HOOK = "OKR_TEST_WEBHOOK_URL"


class Webhook:
    """A webhook on a free port of 127.0.0.1 that records each POSTed JSON body and answers with the
    next of `statuses` (then 200)."""

    def __init__(self, statuses: list[int | tuple[int, dict[str, str]]] | None = None) -> None:
        self.received: list[dict] = []
        self.requests = 0
        self.arrivals: list[float] = []  # time.time() of each POST
        self.statuses = list(statuses or [])
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                webhook.arrivals.append(time.time())
                body = self.rfile.read(int(self.headers["Content-Length"]))
                webhook.requests += 1
                answer = webhook.statuses.pop(0) if webhook.statuses else 200
                status, headers = answer if isinstance(answer, tuple) else (answer, {})
                if status == 200:
                    webhook.received.append(json.loads(body))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"error")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def texts(self) -> list[str]:
        return [message["text"] for message in self.received]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def dead_url() -> Iterator[str]:
    """A webhook URL on a port of 127.0.0.1 bound but not listening, for the whole test: every
    connection is refused, and no other test's server can take the port meanwhile."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{probe.getsockname()[1]}/services/T000/B000/dead-token"


def shop(directory: Path, rules: list[str] = ["status_change"]) -> Path:  # noqa: B006
    return shop_config(
        directory,
        [f"s{day},2026-01-{day:02d},c{day},{total}" for day, total in DAILY_SALES.items()],
        objectives=[
            {
                "id": "sell-daily",
                "title": "Sell every day",
                "owner": "Shop manager",
                "start": "2026-01-01",
                "end": "2026-01-31",
                "key_results": [
                    {
                        "id": "kr-daily-sales",
                        "description": "Sales of at least 100 a day",
                        "kpi_id": "revenue",
                        "type": "stay_above",
                        "target": 100,
                        "measure": {"trailing_days": 1},
                    }
                ],
            }
        ],
        alerts=[{"on": rule, "webhook_env": HOOK} for rule in rules],
    )


def run(config: Path, first: int, last: int, instance: dg.DagsterInstance, single_run: bool = False):
    outcomes = run_partitions(
        config, date(2026, 1, first), date(2026, 1, last), instance=instance, single_run=single_run
    )
    assert all(outcome.success for outcome in outcomes), [outcome.error for outcome in outcomes]
    return outcomes


def alerts(config: Path) -> list[tuple]:
    return query(
        config.parent,
        "SELECT as_of, previous_status, status, rule, sent_at IS NOT NULL, attempts, last_error FROM alerts "
        "ORDER BY as_of",
    )


def test_one_message_per_status_change_and_none_again_on_a_rerun(
    tmp_path: Path, webhook: Webhook, instance, monkeypatch
) -> None:
    monkeypatch.setenv(HOOK, webhook.url)
    config = shop(tmp_path)
    outcomes = run(config, 1, 5, instance)
    # day 3: on_track -> off_track; day 5: off_track -> on_track (day 1 is no change: nothing before it)
    assert webhook.texts == [
        "*Sell every day* › Sales of at least 100 a day is now *off track* (was on track) as of 2026-01-03: "
        "actual 50.00 (trailing 1 day) against a target of at least 100.00.",
        "*Sell every day* › Sales of at least 100 a day is now *on track* (was off track) as of 2026-01-05: "
        "actual 120.00 (trailing 1 day) against a target of at least 100.00.",
    ]
    assert [outcome.alerts_sent for outcome in outcomes] == [0, 0, 1, 0, 1]  # each after its own run
    assert alerts(config) == [
        (date(2026, 1, 3), "on_track", "off_track", "status_change", True, 1, None),
        (date(2026, 1, 5), "off_track", "on_track", "status_change", True, 1, None),
    ]
    run(config, 1, 5, instance)  # the same range again: the same changes, already sent
    run(config, 3, 3, instance)
    assert len(webhook.received) == 2
    run(config, 6, 6, instance)  # the next day: still on track, nothing to say
    assert len(webhook.received) == 2


def test_off_track_rule_alerts_on_becoming_off_track_only(
    tmp_path: Path, webhook: Webhook, instance, monkeypatch
) -> None:
    monkeypatch.setenv(HOOK, webhook.url)
    config = shop(tmp_path, rules=["off_track"])
    run(config, 1, 5, instance)
    assert len(webhook.received) == 1
    assert "is now *off track* (was on track) as of 2026-01-03" in webhook.texts[0]


def test_a_webhook_answering_500_is_retried(tmp_path: Path, instance, monkeypatch) -> None:
    hook = Webhook(statuses=[500, 503])
    try:
        monkeypatch.setenv(HOOK, hook.url)
        config = shop(tmp_path)
        run(config, 1, 3, instance)
        assert hook.requests == 3  # 500, 503, then 200
        assert len(hook.received) == 1
        assert alerts(config) == [(date(2026, 1, 3), "on_track", "off_track", "status_change", True, 1, None)]
    finally:
        hook.close()


def test_a_429_with_retry_after_as_an_http_date_waits_until_that_time() -> None:
    """RFC 9110 §10.2.3: Retry-After is seconds or an HTTP date; the date is honoured, not read as
    no wait (the 0.25 s backoff)."""
    import httpx

    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    hook = Webhook(statuses=[(429, {"Retry-After": when})])  # 2 to 3 s ahead (whole seconds)
    try:
        with httpx.Client(timeout=5) as client:
            post(client, hook.url, "hello")
    finally:
        hook.close()
    assert hook.texts == ["hello"] and hook.requests == 2
    # The retry comes at the date or after it (a loaded machine only delays it); the 0.25 s backoff
    # alone would send it about 2 s before.
    assert hook.arrivals[1] >= email.utils.parsedate_to_datetime(when).timestamp() - 0.05


def test_a_dead_webhook_leaves_the_run_green_and_the_message_for_later(
    tmp_path: Path, instance, monkeypatch, dead_url: str
) -> None:
    dead = dead_url
    monkeypatch.setenv(HOOK, dead)
    config = shop(tmp_path)
    outcomes = run(config, 1, 3, instance)
    assert outcomes[-1].alerts_failed == f"{HOOK}: could not connect (ConnectError)"
    ((_, _, _, _, sent, attempts, error),) = alerts(config)
    assert (sent, attempts, error) == (False, 1, "could not connect (ConnectError)")
    assert "dead-token" not in (outcomes[-1].alerts_failed or "")  # the URL is a secret
    # The webhook is back: the next run sends what the last one could not, and its own change.
    hook = Webhook()
    try:
        monkeypatch.setenv(HOOK, hook.url)
        run(config, 4, 5, instance)
        assert [text.split(" as of ")[1][:10] for text in hook.texts] == ["2026-01-03", "2026-01-05"]
    finally:
        hook.close()


def test_kpi_run_with_a_dead_webhook_exits_zero_and_says_so(tmp_path: Path, dead_url: str) -> None:
    config = shop(tmp_path)
    done = subprocess.run(
        [
            Path(sys.executable).parent / "kpi",
            "run",
            "--config",
            config,
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-03",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, HOOK: dead_url, "DAGSTER_HOME": str(tmp_path / "home")},
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 succeeded, 0 failed" in done.stdout
    assert f"alerts not sent, kept for the next run: {HOOK}: could not connect (ConnectError)" in done.stdout
    assert "dead-token" not in done.stdout + done.stderr


def test_the_sensor_delivers_after_key_results_are_published(
    tmp_path: Path, webhook: Webhook, instance, monkeypatch, dead_url: str
) -> None:
    from kpi.config import load_config
    from pipelines.definitions import build_definitions

    monkeypatch.setenv(HOOK, dead_url)
    config_path = shop(tmp_path)
    run(config_path, 1, 3, instance)  # the day-3 change raised, not delivered
    defs = build_definitions(load_config(config_path))
    sensor = defs.resolve_sensor_def("okr_alerts")
    resources = {"warehouse": defs.resources["warehouse"]}  # type: ignore[index]
    monkeypatch.setenv(HOOK, webhook.url)
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = sensor.evaluate_tick(context)
    assert "sent 1 alert(s), 0 unsent" in (result.skip_message or "")
    assert len(webhook.received) == 1
    # The tick let go of the DuckDB file: a run in another process can open it.
    opened = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import duckdb; duckdb.connect({str(tmp_path / 'warehouse.duckdb')!r}).close()",
        ],
        capture_output=True,
        text=True,
    )
    assert opened.returncode == 0, opened.stderr
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=result.cursor) as context:
        again = sensor.evaluate_tick(context)
    assert "no key results published since the last check" in (again.skip_message or "")
    assert len(webhook.received) == 1


def sell(config: Path, **sales: float) -> None:
    """Restate the shop's sales of some days (d3=150.0: 3 January sold 150)."""
    daily = DAILY_SALES | {int(day.removeprefix("d")): total for day, total in sales.items()}
    (config.parent / "sales.csv").write_text(
        "id,day,customer,total\n"
        + "".join(f"s{day},2026-01-{day:02d},c{day},{total}\n" for day, total in daily.items())
    )


def test_a_restatement_drops_an_unsent_alert_it_disproves(
    tmp_path: Path, instance, monkeypatch, dead_url: str
) -> None:
    monkeypatch.setenv(HOOK, dead_url)
    config = shop(tmp_path)
    run(config, 1, 4, instance)  # day 3 went off track: the alert waits, the webhook is down
    assert [row[:3] for row in alerts(config)] == [(date(2026, 1, 3), "on_track", "off_track")]
    sell(config, d3=150.0, d4=150.0)  # the shop's late refunds were a mistake: days 3 and 4 sold 150
    run(config, 3, 4, instance)
    assert alerts(config) == []  # the change it announced never happened


def test_a_restatement_of_an_announced_change_is_announced(
    tmp_path: Path, webhook: Webhook, instance, monkeypatch
) -> None:
    monkeypatch.setenv(HOOK, webhook.url)
    config = shop(tmp_path)
    run(config, 1, 4, instance)
    assert len(webhook.received) == 1  # day 3: off track
    sell(config, d3=150.0, d4=150.0)
    run(config, 3, 4, instance, single_run=True)  # now on track every day: no change left ...
    # ... but the shop was told "off track": it is told the key result is on track after all.
    assert webhook.texts[1] == (
        "*Sell every day* › Sales of at least 100 a day is now *on track* (was off track as last reported; "
        "its history was restated) as of 2026-01-04: actual 150.00 (trailing 1 day) against a target of "
        "at least 100.00."
    )
    run(config, 3, 4, instance, single_run=True)
    assert len(webhook.received) == 2


def test_a_change_across_a_night_that_never_ran_is_seen(
    tmp_path: Path, webhook: Webhook, instance, monkeypatch
) -> None:
    monkeypatch.setenv(HOOK, webhook.url)
    config = shop(tmp_path)
    run(config, 1, 2, instance)
    run(config, 4, 4, instance)  # the night of the 3rd failed: the 4th is off track, the 2nd was not
    assert [text.split(" as of ")[0].split("is now ")[1] for text in webhook.texts] == [
        "*off track* (was on track)"
    ]


def test_a_webhook_url_that_is_no_url_fails_alone_and_is_not_quoted(
    tmp_path: Path, instance, monkeypatch
) -> None:
    monkeypatch.setenv(HOOK, "http://127.0.0.1:SECRETPORT/hook")
    config = shop(tmp_path)
    outcomes = run(config, 1, 3, instance)
    assert outcomes[-1].alerts_failed == f"{HOOK}: not a usable webhook URL (InvalidURL)"
    assert "SECRETPORT" not in str(alerts(config))


def test_a_webhook_url_with_a_trailing_newline_works(
    tmp_path: Path, webhook: Webhook, instance, monkeypatch
) -> None:
    monkeypatch.setenv(HOOK, webhook.url + "\n")  # as a secret mounted from a file often ends
    run(shop(tmp_path), 1, 3, instance)
    assert len(webhook.received) == 1
