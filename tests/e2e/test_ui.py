"""The Dagster UI and the HTML report in a real browser (Playwright driving Debian's Chromium).

`dagster dev` (webserver and daemon) runs on a free port of 127.0.0.1 against a temporary instance and a
14-day demo; the tests open the asset graph, launch a backfill of seven daily partitions from it, wait
for it to succeed and read the key results of those days from the warehouse; open the nightly schedule
and see it on; read the scorecard in okr/key_results' metadata; and open the generated report as a
person would. Screenshots go to test-artifacts/e2e/ (or $E2E_ARTIFACTS).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.conftest import unavailable

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS") or REPO / "test-artifacts" / "e2e")
DEMO_DAYS = 14
BACKFILL_DAYS = 7
STARTUP_SECONDS = 180
BACKFILL_SECONDS = 420


def chromium_path() -> str:
    """Debian's Chromium (`apt-get install chromium`), or $KPI_CHROMIUM."""
    path = os.environ.get("KPI_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        unavailable(
            "Chromium is not installed: `sudo apt-get install chromium` (Debian) for the browser tests"
        )
    return path


@dataclass(frozen=True)
class UI:
    url: str
    config: Path
    home: Path
    end: date


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    from kpi.demo import default_end_date, write_demo_config
    from kpi.demo_sources import generate_demo_sources

    directory = tmp_path_factory.mktemp("e2e")
    end = default_end_date()
    config = write_demo_config(directory, end, DEMO_DAYS, 5)
    generate_demo_sources(directory / "sources", end_date=end, days=DEMO_DAYS, seed=3, invoices_per_day=5)
    # The config's own instance, with the dagster.yaml `kpi run` and `make ui` write (`python -m kpi.runner`).
    home = Path(
        subprocess.run(
            [sys.executable, "-m", "kpi.runner", str(config)],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        ).stdout.strip()
    )
    # Dagster's first-visit newsletter dialog opens a second or so after the page, over whatever the
    # test clicks then: marked seen, as after a user's first "Skip".
    (home / ".nux").mkdir(exist_ok=True)
    (home / ".nux" / "nux.yaml").write_text("seen: 1\n")
    port = free_port()
    log = (directory / "dagster-dev.log").open("w")
    server = subprocess.Popen(
        [Path(sys.executable).parent / "dagster", "dev", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env={**os.environ, "KPI_CONFIG": str(config), "DAGSTER_HOME": str(home)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its webserver, daemon and code server: stopped together
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                urllib.request.urlopen(f"{url}/server_info", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"dagster dev did not start: {(directory / 'dagster-dev.log').read_text()[-3000:]}"
                    )
                time.sleep(1)
        yield UI(url, config, home, end)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        # --no-sandbox: Chromium refuses to run as root with its sandbox (CI runs as root)
        browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def backfill_status(home: Path) -> list[str]:
    """The statuses of the instance's backfills, read through Dagster in a child process."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import dagster as dg; i = dg.DagsterInstance.get(); "
            "print(' '.join(b.status.value for b in i.get_backfills()))",
        ],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return done.stdout.split()


def warehouse_rows(config: Path, sql: str) -> list[tuple]:
    import duckdb

    connection = duckdb.connect(str(config.parent / "warehouse.duckdb"), read_only=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def backfilled(ui: UI, browser) -> list[date]:
    """Seven daily partitions backfilled from the asset graph, as a person would: the days."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    days = [ui.end - timedelta(days=offset) for offset in range(BACKFILL_DAYS - 1, -1, -1)]
    page.goto(f"{ui.url}/asset-groups")
    page.get_by_role("button", name="Materialize all…").wait_for()
    page.screenshot(path=ARTIFACTS / "asset-graph.png")
    page.get_by_role("button", name="Materialize all…").click()
    dialog = page.get_by_role("dialog")
    selection = dialog.locator("input[type=text]").first
    selection.fill(f"[{days[0]}...{days[-1]}]")
    selection.press("Enter")
    dialog.get_by_text(f"{BACKFILL_DAYS} partitions").wait_for()
    page.screenshot(path=ARTIFACTS / "backfill-dialog.png")
    dialog.get_by_role("button", name="Launch backfill").click()
    deadline = time.monotonic() + BACKFILL_SECONDS
    while (statuses := backfill_status(ui.home)) != ["COMPLETED_SUCCESS"]:
        assert not {"FAILED", "COMPLETED_FAILED", "CANCELED"} & set(statuses), statuses
        assert time.monotonic() < deadline, f"the backfill did not finish in {BACKFILL_SECONDS} s: {statuses}"
        time.sleep(3)
    page.goto(f"{ui.url}/runs?tab=backfills")
    page.get_by_text(f"{BACKFILL_DAYS} partitions").first.wait_for()
    page.screenshot(path=ARTIFACTS / "backfill-completed.png")
    context.close()
    return days


def test_a_backfill_launched_from_the_asset_graph_loads_the_key_results_of_its_days(
    ui: UI, backfilled
) -> None:
    from kpi.config import load_config

    config = load_config(ui.config)
    expected = {
        day: sum(len(o.key_results) for o in config.objectives if o.start <= day) for day in backfilled
    }
    rows = dict(warehouse_rows(ui.config, "SELECT as_of, count(*) FROM key_results GROUP BY as_of"))
    assert {day: rows.get(day, 0) for day in backfilled} == expected
    assert all(count > 0 for count in expected.values())
    loaded = warehouse_rows(
        ui.config,
        "SELECT DISTINCT partition_date FROM loaded_partitions WHERE entity = 'revenue_transactions' ORDER BY 1",
    )
    assert [day for (day,) in loaded] == backfilled  # exactly the seven days, nothing else


def test_the_nightly_schedule_is_on(ui: UI, page) -> None:
    page.goto(f"{ui.url}/locations/pipelines.definitions/schedules/nightly")
    page.get_by_text("Running", exact=True).wait_for()
    assert page.locator("input[type=checkbox]").first.is_checked()
    assert page.get_by_text("At 02:00 AM UTC").first.is_visible()
    page.screenshot(path=ARTIFACTS / "nightly-schedule.png")


def test_the_key_results_asset_shows_the_scorecard(ui: UI, backfilled, page) -> None:
    page.goto(f"{ui.url}/assets/okr/key_results")
    page.get_by_text("Latest materialization").first.wait_for()
    page.get_by_text("scorecard", exact=True).first.wait_for()
    assert page.get_by_text("okr-report.html").first.is_visible()  # the link to the report
    page.screenshot(path=ARTIFACTS / "key-results-asset.png", full_page=True)
    if page.get_by_text("[Show Markdown]").is_visible():  # a long table opens in a dialog
        page.get_by_text("[Show Markdown]").click()
    page.get_by_text("Grow revenue profitably").first.wait_for()  # in the scorecard's Markdown table
    page.get_by_role("button", name="Close").wait_for()
    page.wait_for_timeout(800)  # the dialog fades in
    page.screenshot(path=ARTIFACTS / "key-results-scorecard.png")


def test_the_report_reads_as_a_manager_needs_it(ui: UI, backfilled, page, tmp_path: Path) -> None:
    from kpi.config import load_config

    done = subprocess.run(
        [Path(sys.executable).parent / "kpi", "report", "--config", ui.config, "--out", tmp_path],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto((tmp_path / "okr-report.html").as_uri())
    key_results = warehouse_rows(
        ui.config, f"SELECT key_result_id, status FROM key_results WHERE as_of = '{backfilled[-1]}'"
    )
    page.locator(".chart .main-svg").nth(len(key_results) - 1).wait_for()
    config = load_config(ui.config)
    started = [o for o in config.objectives if o.start <= backfilled[-1]]
    for objective in started:
        assert page.get_by_role("heading", name=objective.title).is_visible()
    for key_result_id, status in key_results:
        section = page.locator(f'[data-key-result="{key_result_id}"]')
        assert section.locator(".status").inner_text() == status.replace("_", " ")
        assert section.locator(".chart .main-svg").count() >= 1  # its chart, drawn
    assert page.locator(".chart").count() == len(key_results)
    assert page.locator(".tile").count() >= 1
    assert "Data quality" in page.locator("footer").inner_text()
    assert errors == []
    assert [url for url in requests if not url.startswith(("file:", "data:", "blob:"))] == []
    page.screenshot(path=ARTIFACTS / "report-top.png")
    page.screenshot(path=ARTIFACTS / "report-full.png", full_page=True)
    # Printed to PDF, as a manager forwards it: every objective and chart on its pages.
    page.emulate_media(media="print")
    page.pdf(path=ARTIFACTS / "report.pdf", format="A4", print_background=True)
    assert (ARTIFACTS / "report.pdf").stat().st_size > 50_000
