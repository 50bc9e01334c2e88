"""A warehouse that cannot be reached, refused credentials, a variable not set: `kpi run` and
`kpi scorecard` end with one line naming what failed and where (never the password), exit status 2,
and nothing runs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

from tests.conftest import POSTGRES_SERVER, shop_config, write_config

KPI = Path(sys.executable).parent / "kpi"
SECRET = "s3cret-Pa55"


def config(directory: Path, warehouse: str) -> Path:
    return shop_config(
        directory,
        ["S1,2026-01-05,C1,10.00"],
        warehouse,
        target=1,
        warehouse_password_env="KPI_TEST_WAREHOUSE_PASSWORD",
    )


def kpi(*arguments: str | Path, password: str | None = SECRET) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "KPI_TEST_WAREHOUSE_PASSWORD"}
    if password is not None:
        environment["KPI_TEST_WAREHOUSE_PASSWORD"] = password
    environment.pop("DAGSTER_HOME", None)  # the config's own history, beside it
    return subprocess.run([KPI, *arguments], capture_output=True, text=True, env=environment, timeout=120)


def error_line(result: subprocess.CompletedProcess) -> str:
    """The one line the command ended with; nothing like a traceback before it."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert SECRET not in output, output
    [line] = [line for line in output.splitlines() if line.startswith("error:")]
    return line


@pytest.mark.parametrize(
    ("warehouse", "expected"),
    [
        (
            "postgresql+psycopg://kpi@nohost.invalid:5432/analytics",
            "error: warehouse postgresql+psycopg://kpi:***@nohost.invalid:5432/analytics cannot be used: "
            "failed to resolve host 'nohost.invalid'",
        ),
        (
            f"{POSTGRES_SERVER.replace('postgres@', 'no_such_role@')}/test",
            'cannot be used: connection failed: connection to server at "127.0.0.1", port 5432 failed: '
            'FATAL:  role "no_such_role" does not exist',
        ),
        (
            "mysql+pymysql://root@127.0.0.1:1/test",  # nothing listens on port 1
            "error: warehouse mysql+pymysql://root:***@127.0.0.1:1/test cannot be used: (2003, \"Can't connect",
        ),
    ],
    ids=["unknown-host", "refused-credentials", "closed-port"],
)
def test_a_warehouse_that_cannot_be_used_is_one_line_and_exit_2(
    tmp_path: Path, warehouse: str, expected: str
) -> None:
    path = config(tmp_path, warehouse)
    for command in (
        ["run", "--config", path, "--from", "2026-01-05", "--to", "2026-01-06"],
        ["scorecard", "--config", path],
    ):
        result = kpi(*command)
        assert result.returncode == 2, result.stdout + result.stderr
        assert expected in error_line(result)
    assert not (tmp_path / ".dagster" / "kpi" / "history").exists()  # no run was even started


def test_a_variable_not_set_is_named_before_anything_runs(tmp_path: Path) -> None:
    path = config(tmp_path, "duckdb:///warehouse.duckdb")
    for command in (
        ["run", "--config", path, "--from", "2026-01-05", "--to", "2026-01-05"],
        ["scorecard", "--config", path],
    ):
        result = kpi(*command, password=None)
        assert result.returncode == 2
        assert error_line(result) == (
            f"error: {path}: environment variable(s) not set: KPI_TEST_WAREHOUSE_PASSWORD (warehouse_password_env)"
        )
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_the_code_location_names_a_variable_not_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kpi.config import ConfigError
    from pipelines.definitions import defs

    path = config(tmp_path, "duckdb:///warehouse.duckdb")
    monkeypatch.setenv("KPI_CONFIG", str(path))
    monkeypatch.delenv("KPI_TEST_WAREHOUSE_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="KPI_TEST_WAREHOUSE_PASSWORD \\(warehouse_password_env\\)"):
        defs()


def test_each_config_keeps_its_own_run_history_beside_it(tmp_path: Path) -> None:
    first = config(tmp_path / "first", "duckdb:///warehouse.duckdb")
    second = config(tmp_path / "second", "duckdb:///warehouse.duckdb")
    for path in (first, second):
        result = kpi("run", "--config", path, "--from", "2026-01-05", "--to", "2026-01-05", password="")
        assert result.returncode == 0, result.stdout + result.stderr
        home = path.parent / ".dagster" / "kpi"
        assert f"runs recorded in {home}; to see them: KPI_CONFIG={path} make ui" in result.stdout
    for path in (first, second):
        # its own run only: the Dagster instance beside the config holds one run
        count = subprocess.run(
            [
                sys.executable,
                "-c",
                "import dagster as dg; print(len(dg.DagsterInstance.get().get_run_records()))",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "DAGSTER_HOME": str(path.parent / ".dagster" / "kpi")},
        )
        assert count.stdout.strip() == "1", count.stderr


def test_a_source_that_cannot_be_reached_is_retried_with_backoff_then_named(tmp_path: Path, instance) -> None:
    """A connection refused may pass on the next try: the extract is retried (twice, with backoff),
    then the day fails with one line naming the source; the other days of the range still run."""
    import dagster as dg

    from kpi.runner import run_partitions

    data = yaml.safe_load(config(tmp_path, "duckdb:///warehouse.duckdb").read_text())
    del data["warehouse_password_env"]
    data["sources"].append(
        {
            "name": "crm",
            "connector": "sql",
            "options": {"url": "postgresql+psycopg://reader@127.0.0.1:1/crm", "table": "customers"},
            "entity": "customers",
            "columns": {"customer_id": "id", "signed_up_on": "since"},
        }
    )
    path = write_config(tmp_path, data)
    outcomes = run_partitions(path, date(2026, 1, 5), date(2026, 1, 6), instance=instance)
    assert [outcome.success for outcome in outcomes] == [False, False]  # both days tried
    for outcome in outcomes:
        assert outcome.error is not None and "\n" not in outcome.error
        assert "source 'crm': query on 'postgresql+psycopg://reader@127.0.0.1:1/crm' failed" in outcome.error
        retries = instance.get_records_for_run(
            outcome.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY
        ).records
        assert len(retries) == 2
