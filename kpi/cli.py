"""The `kpi` command."""

from __future__ import annotations

import gc
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Nothing heavier at import: the console script imports this module before `run_cli` sets the process
# up (kpi.config, Polars, SQLAlchemy and Dagster are imported by the commands that use them).

console = Console(soft_wrap=True)


def _fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    sys.exit(2)


@click.group()
def main() -> None:
    """KPI pipeline: source systems -> canonical entities -> KPI values -> OKR key results."""


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--from", "first", required=True, type=click.DateTime(["%Y-%m-%d"]), help="first day, YYYY-MM-DD"
)
@click.option("--to", "last", required=True, type=click.DateTime(["%Y-%m-%d"]), help="last day, YYYY-MM-DD")
@click.option(
    "--single-run",
    is_flag=True,
    help="the whole range in one Dagster run: much faster for a backfill, but one bad day fails the range",
)
def run(config_path: Path, first, last, single_run: bool) -> None:
    """Run every daily partition from --from to --to through Dagster (one run per day by default)."""
    outcomes = _run(config_path, first.date(), last.date(), single_run)
    if not all(outcome.success for outcome in outcomes):
        sys.exit(1)


def _run(config_path: Path, first: date, last: date, single_run: bool = False):
    from kpi.config import ConfigError, load_config

    try:  # a bad config is its own one line, before anything else is said
        config = load_config(config_path)
    except ConfigError as error:
        _fail(str(error))
    # Dagster only now, the config read: validating it defines the connectors' option models, whose
    # field docs pydantic finds by mapping every loaded module to its file (inspect.getmodule), and
    # Dagster loads as many modules again (measured: 0.04 s of a nightly day's start).
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from kpi.runner import CannotStart, ensure_dagster_home, rows_loaded, run_partitions

    days = (last - first).days + 1
    # Partitions done, rows loaded, time left: on a terminal, below the lines of the days done (a
    # single run over the range is one step: a spinner and the time it has taken).
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days, {task.fields[rows]:,} rows,"),
        TimeElapsedColumn(),
        TextColumn("elapsed,"),
        TimeRemainingColumn(),
        TextColumn("left"),
        console=console,
        transient=True,
    )
    task = progress.add_task("one run over the range" if single_run else "running", total=days, rows=0)

    done = []

    def report(outcome) -> None:
        done.append(outcome)
        progress.update(task, advance=outcome.days, rows=rows_loaded(done))
        counts = [
            f"{outcome.quarantined} row(s) quarantined" if outcome.quarantined else "",
            f"{outcome.undated} row(s) without a usable date" if outcome.undated else "",
        ]
        note = f" ({', '.join(filter(None, counts))}: see table quarantine)" if any(counts) else ""
        rows = f" {outcome.rows_loaded:,} rows" if outcome.rows_loaded else ""
        if outcome.alerts_sent:
            note += f"; {outcome.alerts_sent} alert(s) sent"
        if outcome.alerts_failed:
            note += f"; alerts not sent, kept for the next run: {outcome.alerts_failed}"
        if outcome.success:
            progress.console.print(
                f"  {outcome.partition} [green]ok[/green]{escape(rows)}{escape(note)}", highlight=False
            )
        else:
            progress.console.print(
                f"  {outcome.partition} [red]failed[/red]: {escape(outcome.error or '')}{escape(note)}",
                highlight=False,
            )

    home = ensure_dagster_home(config_path)
    resolved = config_path.resolve()
    console.print(
        f"runs recorded in {home}; to see them: KPI_CONFIG={resolved} make ui "
        f"(or DAGSTER_HOME={home} KPI_CONFIG={resolved} .venv/bin/dagster dev, from the repository root)",
        highlight=False,
        markup=False,
    )
    started = time.monotonic()
    try:
        with progress:
            outcomes = run_partitions(
                config_path,
                first,
                last,
                on_outcome=report,
                single_run=single_run,
                config=config,
                on_start=_collect_garbage_again,
            )
    except (ConfigError, CannotStart) as error:
        _fail(str(error))
    failed = [outcome.partition for outcome in outcomes if not outcome.success]
    console.print(
        f"{days} day(s) in {len(outcomes)} run(s), {rows_loaded(outcomes):,} rows loaded, "
        f"{time.monotonic() - started:.1f} s: {len(outcomes) - len(failed)} succeeded, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else ""),
        highlight=False,
        markup=False,
    )
    return outcomes


@main.command()
@click.option("--days", default=90, show_default=True, help="days of history to generate and run")
@click.option("--seed", default=42, show_default=True)
@click.option("--invoices-per-day", default=50, show_default=True, help="size of the demo company")
def demo(days: int, seed: int, invoices_per_day: int) -> None:
    """Make the demo company's source systems, run the pipeline over them, print a summary."""
    import shutil

    from kpi.config import load_config
    from kpi.demo import default_end_date, demo_dir, write_demo_config
    from kpi.demo_sources import generate_demo_sources
    from kpi.summary import table_counts

    directory = demo_dir()
    end_date = default_end_date()
    first_day = end_date - timedelta(days=days - 1)
    for stale in ("warehouse.duckdb", "warehouse.duckdb.wal", "sources"):
        path = directory / stale
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    config_path = write_demo_config(directory, end_date, days, invoices_per_day)
    summary = generate_demo_sources(
        directory / "sources", end_date=end_date, days=days, seed=seed, invoices_per_day=invoices_per_day
    )
    console.print(
        f"demo sources in {directory / 'sources'}: "
        + ", ".join(f"{n:,} {t}" for t, n in summary.row_counts.items())
    )
    console.print(f"config {config_path}; running {first_day} .. {end_date}")
    outcomes = _run(config_path, first_day, end_date, single_run=True)
    counts = table_counts(load_config(config_path))
    table = Table(title="warehouse tables")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    if not all(outcome.success for outcome in outcomes):
        sys.exit(1)
    _print_scorecard(config_path, None)


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), help="as of this day; default: the latest"
)
def scorecard(config_path: Path, as_of) -> None:
    """Print each key result's actual, target, progress and status."""
    _print_scorecard(config_path, as_of.date() if as_of else None)


def _okr_warehouse(config_path: Path):
    """The config (with objectives) and its warehouse; exits with one line when there is none to read."""
    from kpi.config import ConfigError, load_config
    from kpi.runner import CannotStart, open_warehouse

    try:
        config = load_config(config_path)
        if not config.objectives:
            _fail(f"{config_path}: no objectives configured")
        return config, open_warehouse(config)
    except (ConfigError, CannotStart) as error:
        _fail(str(error))


def _print_scorecard(config_path: Path, as_of: date | None) -> None:
    from kpi.scorecard import scorecard_rows, scorecard_table

    _, warehouse = _okr_warehouse(config_path)
    rows = scorecard_rows(warehouse, as_of)
    warehouse.dispose()
    if rows.is_empty():
        when = f"as of {as_of}" if as_of else "yet"
        _fail(
            f"no key results {when} in {warehouse.display_url}: run `kpi run --config {config_path} --from ... --to ...`"
        )
    # A scorecard is read at a glance: never squeeze it below a readable width, even in a pipe.
    Console(width=console.width if console.is_terminal else 150).print(scorecard_table(rows))


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), help="as of this day; default: the latest"
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="folder to write to",
)
def report(config_path: Path, as_of, out_dir: Path) -> None:
    """Write the OKR report: one self-contained HTML file (okr-report.html) to open offline."""
    from kpi.report import NoKeyResults, write_report

    config, warehouse = _okr_warehouse(config_path)
    try:
        path = write_report(warehouse, out_dir, config.loaded_dated_entities, as_of.date() if as_of else None)
    except NoKeyResults as error:
        _fail(f"{error} in {warehouse.display_url}: run `kpi run --config {config_path} --from ... --to ...`")
    finally:
        warehouse.dispose()
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, opens offline)", highlight=False)


@main.group()
def kpis() -> None:
    """The KPI catalog: built-in KPIs and a config's own."""


@kpis.command("list")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="add this config's entities, measures and KPIs to the built-in catalog",
)
@click.option("--measures", "show_measures", is_flag=True, help="also list the measures the KPIs use")
def kpis_list(config_path: Path | None, show_measures: bool) -> None:
    """Every KPI with its formula, unit, inputs and dimensions (and where it is declared)."""
    from kpi.catalog import CatalogError, built_in_catalog
    from kpi.config import ConfigError

    try:
        if config_path is None:
            catalog, provided = built_in_catalog(), None
        else:
            from kpi.config import load_config

            config = load_config(config_path)
            catalog, provided = config.catalog, set(config.provided_entities)
    except (ConfigError, CatalogError) as error:
        _fail(str(error))
    table = Table(title="KPI catalog" + (f" of {config_path}" if config_path else " (built-in)"))
    for column in (
        "kpi_id",
        "name",
        "formula over P",
        "unit",
        "better",
        "inputs",
        "dimensions",
        "declared in",
    ):
        table.add_column(column, overflow="fold")
    for kpi in catalog.kpis.values():
        inputs = ", ".join(kpi.inputs)
        if provided is not None and not set(kpi.inputs) <= provided:
            inputs += " [dim](not provided: skipped)[/dim]"
        table.add_row(
            kpi.kpi_id,
            escape(kpi.name),
            escape(kpi.formula),
            kpi.unit,
            "higher" if kpi.direction == "higher_is_better" else "lower",
            inputs,
            ", ".join(kpi.dimensions),
            escape(kpi.declared_in if config_path is None else _relative(kpi.declared_in)),
        )
    Console(width=console.width if console.is_terminal else 200).print(table)
    if show_measures:
        measures = Table(title="measures")
        for column in ("measure", "entity", "agg", "column", "where", "declared in"):
            measures.add_column(column, overflow="fold")
        for measure in catalog.measures.values():
            measures.add_row(
                measure.name,
                measure.entity,
                measure.agg,
                escape(measure.column or ""),
                escape(measure.where or ""),
                escape(_relative(measure.declared_in)),
            )
        Console(width=console.width if console.is_terminal else 200).print(measures)


def _relative(path: str) -> str:
    """A config path as the user is likely to know it (relative to the working folder when inside it)."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


@main.group()
def connectors() -> None:
    """The connectors this installation has."""


@connectors.command("list")
def connectors_list() -> None:
    """Built-in and plug-in connectors with their options."""
    from rich.markup import escape

    from connectors import describe_options, refused_registrations, registrations

    for name, found in [
        *registrations().items(),
        *((found.name, found) for found in refused_registrations()),
    ]:
        if found.connector is None:
            console.print(
                f"[bold]{name}[/bold] ({escape(found.origin)}): [red]{escape(found.error or '')}[/red]"
            )
            continue
        console.print(
            f"[bold]{name}[/bold] ({escape(found.origin)}): {escape(found.connector.description)}",
            highlight=False,
        )
        for line in describe_options(found.connector.Options):
            requirement = f" ({line.requirement})" if line.requirement else ""
            console.print(
                f"{'  ' * (line.depth + 1)}{escape(line.name)}{requirement}: {escape(line.description)}",
                highlight=False,
            )


def _collect_garbage_again() -> None:
    """The runs start: what start-up built (modules, config, Dagster's instance and definitions) lives
    as long as the process, so it is set apart from the cyclic GC's passes (gc.freeze), which then
    collect again, over what the runs make."""
    gc.freeze()
    gc.enable()


def run_cli() -> None:
    """The console script: `main`, then a hard exit once output is flushed.

    Start-up runs without the cyclic GC: importing Dagster, Polars and SQLAlchemy and opening the
    instance make millions of objects that live until exit, and the GC walked them over and over
    (550 passes, 4 of them over everything: 0.4 s of a 4 s nightly day). `kpi run` turns it back on
    when its runs start (`_collect_garbage_again`); the other commands are short and end with it off.

    DuckDB's bindings print reference-leak warnings at interpreter shutdown when Great Expectations
    has been imported beside them; the work is done and committed by then, so skip the teardown.
    """
    gc.disable()
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if not isinstance(exit_.code, int | None):
            print(exit_.code, file=sys.stderr)
    warehouse = sys.modules.get("kpi.warehouse")  # (not imported for a command that opened no warehouse)
    if warehouse is not None:
        warehouse.dispose_all()  # DuckDB checkpoints its file on close: no .wal left beside it
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
