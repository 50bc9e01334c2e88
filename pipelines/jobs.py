"""The pipeline's one job: every asset, one daily partition (or a range of them) per run."""

from __future__ import annotations

import dagster as dg

JOB_NAME = "kpi_pipeline"


def build_kpi_job(partitions: dg.PartitionsDefinition) -> dg.UnresolvedAssetJobDefinition:
    # In process: the embedded warehouse is a single DuckDB file that one process writes at a time.
    return dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.all(),
        partitions_def=partitions,
        executor_def=dg.in_process_executor,
        description="Extract every source, load the canonical entities, compute KPIs and key results.",
    )
