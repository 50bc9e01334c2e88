"""The demo's key results and objectives through the pipeline, checked against the warehouse by plain
SQL: a monthly stay_below read from the latest complete month, a trailing window's NPS counted from
the survey rows, objective progress as the weighted mean of its key results, aligned objectives."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from kpi.runner import run_partitions
from tests.conftest import DEMO_DAYS, DEMO_END
from tests.conftest import query as query_warehouse

FIRST = DEMO_END - timedelta(days=DEMO_DAYS - 1)  # 2026-01-25


def query(config_path: Path, sql: str, *parameters: object) -> list[tuple]:
    return query_warehouse(config_path.parent, sql, *parameters)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, demo_sources) -> Path:
    import dagster as dg

    from kpi.demo import demo_config
    from tests.conftest import write_config

    directory = tmp_path_factory.mktemp("okr")
    data = demo_config(DEMO_END, DEMO_DAYS, 12)
    data["warehouse"] = f"duckdb:///{directory / 'warehouse.duckdb'}"
    for source in data["sources"]:
        options = source["options"]
        if "path" in options:
            options["path"] = str(demo_sources.out_dir.parent / options["path"])
        if "url" in options:
            options["url"] = options["url"].replace("sqlite:///", f"sqlite:///{demo_sources.out_dir.parent}/")
    config = write_config(directory, data)
    with dg.DagsterInstance.ephemeral(tempdir=str(directory / "dagster")) as instance:
        outcomes = run_partitions(config, FIRST, DEMO_END, instance=instance, single_run=True)
    assert all(outcome.success for outcome in outcomes), [outcome.error for outcome in outcomes]
    return config


def key_result(config: Path, kr_id: str, as_of: date) -> dict:
    columns = "actual, window_start, window_end, days_covered, progress, expected_progress, status, baseline"
    (row,) = query(
        config, f"SELECT {columns} FROM key_results WHERE key_result_id = ? AND as_of = ?", kr_id, as_of
    )
    return dict(zip(columns.split(", "), row, strict=True))


def test_monthly_churn_is_the_latest_complete_months(loaded: Path) -> None:
    # The objective runs from 1 February (the demo's first whole month) to the end of March.
    assert key_result(loaded, "kr-monthly-churn", date(2026, 2, 27))["status"] == "unknown"  # no month yet
    for as_of in (date(2026, 2, 28), date(2026, 3, 1), DEMO_END):
        row = key_result(loaded, "kr-monthly-churn", as_of)
        ((february,),) = query(
            loaded,
            "SELECT value FROM kpi_values WHERE kpi_id = 'customer_churn_rate' AND grain = 'month' "
            "AND period_start = '2026-02-01' AND dimension = ''",
        )
        assert (row["window_start"], row["window_end"]) == (date(2026, 2, 1), date(2026, 2, 28))
        assert row["actual"] == pytest.approx(february)
        assert row["days_covered"] == 28
        assert row["baseline"] is None
        assert row["status"] == ("on_track" if february <= 0.03 else "off_track")
        assert row["progress"] == (1.0 if february <= 0.03 else 0.0)


def test_trailing_nps_is_counted_from_the_survey_rows(loaded: Path) -> None:
    as_of = DEMO_END
    start = as_of - timedelta(days=29)
    ((promoters, detractors, responses),) = query(
        loaded,
        "SELECT count(*) FILTER (WHERE score >= 9), count(*) FILTER (WHERE score <= 6), count(*) FROM survey_responses "
        "WHERE survey = 'nps' AND responded_on BETWEEN ? AND ?",
        start,
        as_of,
    )
    row = key_result(loaded, "kr-nps", as_of)
    assert (row["window_start"], row["window_end"]) == (start, as_of)
    assert row["actual"] == pytest.approx(100 * (promoters - detractors) / responses)
    assert row["status"] == ("on_track" if row["actual"] >= 25 else "off_track")
    # 30 days back from 20 February reaches 22 January, before the first loaded day: not covered.
    early = key_result(loaded, "kr-nps", date(2026, 2, 20))
    assert early["window_start"] == date(2026, 1, 22)
    assert early["days_covered"] == (date(2026, 2, 20) - FIRST).days + 1
    assert early["status"] == "unknown"


def test_objective_progress_is_the_weighted_mean_of_its_known_key_results(loaded: Path) -> None:
    rows = query(
        loaded,
        "SELECT p.objective_id, p.as_of, p.progress, p.key_results_known, p.key_results_total, expected.mean, "
        "expected.known, expected.total FROM objective_progress p JOIN ("
        "  SELECT r.objective_id, r.as_of, sum(r.progress * d.weight) FILTER (WHERE r.status <> 'unknown') "
        "    / sum(d.weight) FILTER (WHERE r.status <> 'unknown') AS mean, "
        "    count(*) FILTER (WHERE r.status <> 'unknown') AS known, count(*) AS total "
        "  FROM key_results r JOIN key_result_definitions d USING (key_result_id) GROUP BY ALL"
        ") expected USING (objective_id, as_of)",
    )
    assert len(rows) == len(query(loaded, "SELECT * FROM objective_progress"))
    assert {objective for objective, *_ in rows} == {"profitable-growth", "happy-customers", "strong-team"}
    for objective, as_of, progress, known, total, mean, expected_known, expected_total in rows:
        assert (known, total) == (expected_known, expected_total), (objective, as_of)
        assert progress == (None if mean is None else pytest.approx(mean)), (objective, as_of)
    # The weighted objective: revenue counts twice.
    ((weight,),) = query(
        loaded, "SELECT weight FROM key_result_definitions WHERE key_result_id = 'kr-quarter-revenue'"
    )
    assert weight == 2.0


def test_aligned_objectives_and_the_scorecard_view(loaded: Path) -> None:
    assert query(loaded, "SELECT objective_id, parent_objective_id FROM objectives ORDER BY 1") == [
        ("happy-customers", "profitable-growth"),
        ("profitable-growth", None),
        ("strong-team", "profitable-growth"),
    ]
    scorecard = query(
        loaded,
        "SELECT key_result_id, type, measure, as_of, objective_status, parent_objective_id FROM okr_scorecard "
        "ORDER BY key_result_id",
    )
    assert {row[3] for row in scorecard} == {DEMO_END}
    by_id = {row[0]: row for row in scorecard}
    assert by_id["kr-monthly-churn"][1:3] == ("stay_below", "latest_complete: month")
    assert by_id["kr-nps"][1:3] == ("stay_above", "trailing_days: 30")
    assert by_id["kr-turnover"][1] == "decrease"
    ((status,),) = query(
        loaded,
        "SELECT status FROM objective_progress WHERE objective_id = 'happy-customers' AND as_of = ?",
        DEMO_END,
    )
    assert by_id["kr-nps"][4] == status and by_id["kr-nps"][5] == "profitable-growth"


def test_key_results_on_a_kpis_total_and_on_one_dimension_value(tmp_path: Path) -> None:
    import dagster as dg

    from tests.conftest import shop_config

    sales = [  # id, day, customer, total, region: 1 January is a Thursday
        ("s1", "2026-01-01", "c1", 100, "EU"),
        ("s2", "2026-01-01", "c2", 50, "US"),
        ("s3", "2026-01-02", "c1", 30, "EU"),
        ("s4", "2026-01-03", "c2", 20, "US"),
        ("s5", "2026-01-04", "c3", 10, "EU"),
        ("s6", "2026-01-05", "c1", 40, "EU"),
    ]
    config = shop_config(
        tmp_path,
        [",".join(map(str, sale)) for sale in sales],
        entities={"revenue_transactions": {"dimensions": {"region": "str"}}},
        kpis=[
            {
                "id": "revenue",
                "name": "Revenue",
                "numerator": "revenue",
                "unit": "currency",
                "direction": "higher_is_better",
                "dimensions": ["region"],
            }
        ],
        objectives=[
            {
                "id": "o",
                "title": "Sell in Europe",
                "owner": "me",
                "start": "2026-01-01",
                "end": "2026-01-31",
                "key_results": [
                    {
                        "id": "kr-total",
                        "description": "d",
                        "kpi_id": "revenue",
                        "baseline": 0,
                        "target": 1000,
                    },
                    {
                        "id": "kr-eu",
                        "description": "d",
                        "kpi_id": "revenue",
                        "baseline": 0,
                        "target": 620,
                        "dimension": {"region": "EU"},
                        "weight": 3,
                    },
                    {
                        "id": "kr-eu-2-days",
                        "description": "d",
                        "kpi_id": "revenue",
                        "type": "stay_above",
                        "target": 40,
                        "dimension": {"region": "EU"},
                        "measure": {"trailing_days": 2},
                    },
                ],
            }
        ],
    )
    # the shop's export with a region column, mapped to the declared dimension
    (tmp_path / "sales.csv").write_text(
        "id,day,customer,total,region\n" + "".join(",".join(map(str, sale)) + "\n" for sale in sales)
    )
    data = yaml.safe_load(config.read_text())
    data["sources"][0]["columns"]["region"] = "region"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster")) as instance:
        outcomes = run_partitions(config, date(2026, 1, 1), date(2026, 1, 5), instance=instance)
    assert all(outcome.success for outcome in outcomes), [outcome.error for outcome in outcomes]
    rows = {
        kr_id: (actual, start, end, status)
        for kr_id, actual, start, end, status in query(
            config,
            "SELECT key_result_id, actual, window_start, window_end, status FROM key_results WHERE as_of = '2026-01-05'",
        )
    }
    assert rows == {
        "kr-total": (250.0, date(2026, 1, 1), date(2026, 1, 5), "on_track"),  # 0.25 >= 5/31 - 0.10
        "kr-eu": (180.0, date(2026, 1, 1), date(2026, 1, 5), "on_track"),  # 180 / 620 = 0.29
        "kr-eu-2-days": (50.0, date(2026, 1, 4), date(2026, 1, 5), "on_track"),  # 10 + 40 >= 40
    }
    # (1 * 0.25 + 3 * 180/620 + 1 * 1) / 5
    ((progress, known),) = query(
        config, "SELECT progress, key_results_known FROM objective_progress WHERE as_of = '2026-01-05'"
    )
    assert progress == pytest.approx((0.25 + 3 * 180 / 620 + 1.0) / 5)
    assert known == 3
    # 3 January: the EU sold nothing on the 3rd, 30 on the 2nd: 30 < 40
    ((status,),) = query(
        config, "SELECT status FROM key_results WHERE key_result_id = 'kr-eu-2-days' AND as_of = '2026-01-03'"
    )
    assert status == "off_track"


# ----------------------------------------------------------------------------------------------------
# The HTML report and the scorecard in the Dagster UI's metadata


def test_the_report_is_one_self_contained_file_with_what_a_manager_reads_first(
    loaded: Path, tmp_path: Path
) -> None:
    import re
    import subprocess
    import sys

    from kpi.warehouse import dispose_all

    dispose_all()  # the DuckDB file is this process's until then
    done = subprocess.run(
        [Path(sys.executable).parent / "kpi", "report", "--config", loaded, "--out", tmp_path / "out"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    page = (tmp_path / "out" / "okr-report.html").read_text()
    # Nothing outside the file: no script, style, image or font fetched from anywhere (plotly.js itself
    # holds links in its strings; the browser test records that the page makes no request).
    markup = re.sub(r"<script>.*?</script>", "", page, flags=re.DOTALL)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", markup)
    assert "<script>" in page and "Plotly.newPlot" in page
    # First what matters: the objectives, in the order of the tree, before any KPI tile.
    titles = [m.group(1) for m in re.finditer(r"<h2>([^<]+)</h2>", page)]
    assert titles[:3] == ["Grow revenue profitably", "Keep customers happy and loyal", "Build a stable team"]
    assert page.index("Grow revenue profitably") < page.index('class="tiles"')
    # One chart per key result, each the key result's; the key result's actual as the warehouse has it.
    key_results = query(
        loaded, "SELECT key_result_id, actual, status FROM key_results WHERE as_of = ?", DEMO_END
    )
    assert sorted(re.findall(r'id="chart-([^"]+)"', page)) == sorted(kr for kr, _, _ in key_results)
    assert page.count("Plotly.newPlot(") == len(key_results)
    ((churn, status),) = [(actual, status) for kr, actual, status in key_results if kr == "kr-monthly-churn"]
    section = page[page.index('data-key-result="kr-monthly-churn"') :][:2000]
    assert f"actual <b>{churn:.1%}</b>" in section and "target at most 3.0%" in section
    assert status.replace("_", " ") in section
    # The data-quality footer counts what the warehouse holds over the objectives' periods.
    ((quarantined,),) = query(
        loaded, "SELECT count(*) FROM quarantine WHERE partition BETWEEN '2026-01-01' AND ?", str(DEMO_END)
    )
    assert f"Rows quarantined: {quarantined:,}." in page
    # ... and the days the run covered of them: FIRST to DEMO_END, each entity and the KPIs.
    first, last = (
        date.fromisoformat(day) for day in re.findall(r"Data quality</b>, (\S+) to (\S+):", page)[0]
    )
    days, covered = (last - first).days + 1, (DEMO_END - max(first, FIRST)).days + 1
    assert f"revenue_transactions {covered} of {days} days" in page
    assert f"KPIs computed for {covered} of {days} days." in page


def test_the_report_as_of_an_earlier_day(loaded: Path, tmp_path: Path) -> None:
    from kpi.config import load_config
    from kpi.report import report_data, write_report
    from kpi.runner import open_warehouse

    config = load_config(loaded)
    warehouse = open_warehouse(config)
    try:
        data = report_data(warehouse, config.loaded_dated_entities, date(2026, 3, 1))
        assert data.as_of == date(2026, 3, 1)
        assert data.history["as_of"].max() == date(2026, 3, 1)  # no day after it in any chart
        path = write_report(warehouse, tmp_path, config.loaded_dated_entities, date(2026, 3, 1))
    finally:
        warehouse.dispose()
    assert "As of 2026-03-01" in path.read_text()


def test_the_key_results_metadata_carries_the_scorecard_and_the_report(
    tmp_path: Path, demo_config_path: Path
) -> None:
    import dagster as dg

    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster")) as instance:
        outcomes = run_partitions(demo_config_path, DEMO_END, DEMO_END, instance=instance)
        assert outcomes[0].success, outcomes[0].error
        event = instance.get_latest_materialization_event(dg.AssetKey(["okr", "key_results"]))
        assert event is not None and event.asset_materialization is not None
        metadata = event.asset_materialization.metadata
        kpi_event = instance.get_latest_materialization_event(dg.AssetKey(["kpi", "kpi_values"]))
        assert kpi_event is not None and kpi_event.asset_materialization is not None
        kpi_metadata = kpi_event.asset_materialization.metadata
    table = metadata["scorecard"].value
    assert table.startswith("| objective / key result | actual | target | progress (expected) | status |")
    assert "| ↳ **Keep customers happy and loyal** (VP Customer Success) |" in table
    assert "Monthly churn at or below 3% |" in table and "at most 3.0%" in table
    report = Path(metadata["report"].value.removeprefix("file://"))
    assert report.exists() and report.name == "okr-report.html"
    # Numbers for people: money to cents, a ratio as a percentage to 0.1.
    ((revenue, margin),) = query(
        demo_config_path,
        "SELECT max(value) FILTER (WHERE kpi_id = 'revenue'), max(value) FILTER (WHERE kpi_id = 'net_profit_margin') "
        "FROM kpi_values WHERE grain = 'day' AND period_start = ? AND dimension = ''",
        DEMO_END,
    )
    assert kpi_metadata["revenue (day)"].value == round(revenue, 2)
    assert kpi_metadata["net_profit_margin (day) (%)"].value == round(margin * 100, 1)
