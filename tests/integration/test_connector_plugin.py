"""The example plug-in (examples/crm-connector) as a data engineer uses it: installed with pip into an
environment of its own, registered through the `kpi.connectors` entry point group, listed by
`kpi connectors list`, passing its own contract tests, and run through the pipeline by `kpi run`
against its local API; a plug-in that fails to import is reported without hiding the others."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path
from types import ModuleType

import duckdb
import pytest
import yaml

REPOSITORY = Path(__file__).parents[2]
EXAMPLE = REPOSITORY / "examples" / "crm-connector"
KPI = Path(sys.executable).parent / "kpi"
TOKEN = "plugin-test-token-9f2"


def pip_install(package: Path, target: Path) -> None:
    """`pip install PACKAGE` into `target`, as a user would (an isolated build, no dependencies:
    the pipeline it needs is this environment's)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(package),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder with the example package (`crm-connector/`) and where it is installed (`site/`)."""
    work = tmp_path_factory.mktemp("plugin")
    shutil.copytree(
        EXAMPLE,
        work / "crm-connector",
        ignore=shutil.ignore_patterns("build", "*.egg-info", ".dagster", ".kpi_storage", "warehouse.duckdb*"),
    )
    pip_install(work / "crm-connector", work / "site")
    return work


def environment(plugin: Path, **variables: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(plugin / "site"), "DAGSTER_HOME": "", **variables}


def fake_crm(plugin: Path) -> ModuleType:
    """The example's stand-in for the CRM API, imported from the copied package folder."""
    spec = importlib.util.spec_from_file_location("fake_crm", plugin / "crm-connector" / "fake_crm.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_installed_plugin_is_listed_with_its_options(plugin: Path) -> None:
    listed = subprocess.run(
        [KPI, "connectors", "list"], capture_output=True, text=True, env=environment(plugin)
    )
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    crm = next(line for line in lines if line.startswith("crm "))
    assert crm.startswith("crm (kpi-crm-connector 0.1.0, kpi_crm:CrmConnector): Deals from the Example CRM")
    options = lines[lines.index(crm) + 1 : lines.index(crm) + 6]
    assert [line.split(" (")[0].strip() for line in options] == [
        "base_url",
        "token_env",
        "status",
        "currency",
        "requests_per_second",
    ]
    assert any(line.startswith("http (built-in)") for line in lines)
    # the built-ins once each (this project's own entry points name them too)
    assert [line.split(":")[0] for line in lines if line.split(" ")[0] in ("files", "sql", "http")] == [
        "files (built-in)",
        "sql (built-in)",
        "http (built-in)",
    ]


def test_the_plugin_passes_its_own_contract_tests(plugin: Path) -> None:
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(plugin / "crm-connector" / "tests"),
        ],
        capture_output=True,
        text=True,
        env=environment(plugin),
        cwd=plugin,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout


def test_the_plugin_runs_through_the_pipeline(plugin: Path, tmp_path: Path) -> None:
    api = fake_crm(plugin)
    server = api.serve(token=TOKEN)
    try:
        config = yaml.safe_load((EXAMPLE / "kpi.yaml").read_text())
        config["sources"][0]["options"]["base_url"] = f"http://127.0.0.1:{server.server_address[1]}/api/v2"
        (tmp_path / "kpi.yaml").write_text(yaml.safe_dump(config))
        run = subprocess.run(
            [
                KPI,
                "run",
                "--config",
                str(tmp_path / "kpi.yaml"),
                "--from",
                "2026-03-01",
                "--to",
                "2026-03-14",
                "--single-run",
            ],
            capture_output=True,
            text=True,
            env=environment(plugin, CRM_TOKEN=TOKEN),
        )
    finally:
        server.shutdown()
    assert run.returncode == 0, run.stdout + run.stderr
    assert TOKEN not in run.stdout + run.stderr

    # revenue by day, worked out from the API's own data: won deals in EUR, by the day they closed
    expected: dict[date, float] = defaultdict(float)
    usd = []
    for deal in api.all_deals():
        day = date.fromisoformat(deal["closed_at"][:10])
        if deal["status"] != "won" or not date(2026, 3, 1) <= day <= date(2026, 3, 14):
            continue
        if deal["value"]["currency"] == "EUR":
            expected[day] += float(deal["value"]["amount"])
        else:
            usd.append(str(deal["id"]))
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as warehouse:
        revenue = dict(
            warehouse.sql(
                "SELECT period_start, value FROM kpi_values WHERE kpi_id = 'revenue' AND grain = 'day' "
                "AND dimension = '' AND period_start <= DATE '2026-03-14'"
            ).fetchall()
        )
        quarantined = warehouse.sql("SELECT source, rule, raw_row FROM quarantine").fetchall()
    assert set(revenue) == {date(2026, 3, d) for d in range(1, 15)}
    for day, value in revenue.items():
        assert value == pytest.approx(expected.get(day, 0.0), abs=1e-6), day
    assert len(usd) == 1
    assert [(source, rule) for source, rule, _ in quarantined] == [("crm_deals", "currency USD is not EUR")]
    assert f'"deal_id":"{usd[0]}"' in quarantined[0][2]


def test_plugins_that_fail_to_load_are_named_and_the_others_still_load(plugin: Path, tmp_path: Path) -> None:
    package = tmp_path / "broken-connector"
    for module, text in {
        "kpi_broken": "import no_such_module_anywhere\n",
        "kpi_half": "from connectors.base import Connector\n\n\nclass Half(Connector):\n    name = 'half'\n",
    }.items():
        (package / "src" / module).mkdir(parents=True)
        (package / "src" / module / "__init__.py").write_text(text)
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "broken-connector"\nversion = "0.0.1"\n'
        '[project.entry-points."kpi.connectors"]\n'
        'broken = "kpi_broken:Connector"\nhalf = "kpi_half:Half"\nhttp = "kpi_half:Half"\n'
        '[tool.setuptools.packages.find]\nwhere = ["src"]\n'
    )
    pip_install(package, tmp_path / "site")
    listed = subprocess.run(
        [KPI, "connectors", "list"],
        capture_output=True,
        text=True,
        env={**environment(plugin), "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{plugin / 'site'}"},
    )
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert (
        "broken (broken-connector 0.0.1, kpi_broken:Connector): could not be imported "
        "(ModuleNotFoundError: No module named 'no_such_module_anywhere')"
    ) in lines
    assert (
        "half (broken-connector 0.0.1, kpi_half:Half): does not set description, Options (a "
        "connectors.base.ConnectorOptions model)"
    ) in lines
    assert "http (broken-connector 0.0.1, kpi_half:Half): not loaded: 'http' is a built-in's name" in lines
    assert any(line.startswith("http (built-in): A JSON API") for line in lines)
    assert any(line.startswith("crm (kpi-crm-connector") for line in lines)


def test_the_walk_through_shows_the_example_package_as_it_is() -> None:
    """docs/adding-a-connector.md quotes the example's files whole: each quoted file is the file."""
    doc = (REPOSITORY / "docs" / "adding-a-connector.md").read_text()
    quoted = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)\n```\n", doc, flags=re.DOTALL)
    assert [name for name, _ in quoted] == [
        "pyproject.toml",
        "src/kpi_crm/__init__.py",
        "src/kpi_crm/connector.py",
        "tests/test_contract.py",
        "kpi.yaml",
    ]
    for name, text in quoted:
        assert text == (EXAMPLE / name).read_text().rstrip(), name
