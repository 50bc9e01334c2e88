"""docs/kpis.md, rendered from the KPI catalog so the docs cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from assets.kpis.definitions import KPI_LIST

KPI_DOC = Path(__file__).resolve().parents[1] / "docs" / "kpis.md"


def render_kpi_catalog() -> str:
    lines = [
        "# KPI catalog",
        "",
        "Generated from `assets/kpis/definitions.py` by `make docs`; a test fails when it is out of date.",
        "",
        "Every KPI is computed at day, month, quarter and year grain, for a period P = [start, end]. A ratio",
        "is the period's own numerator over its own denominator (never an average of finer grains); a zero",
        "denominator gives null. S and E are the customers active on start-1 and on end; H0 and H1 the",
        "employees employed on start-1 and on end.",
        "",
        "| kpi_id | name | formula over P | unit | better when | needs |",
        "|---|---|---|---|---|---|",
    ]
    for kpi in KPI_LIST:
        direction = "higher" if kpi.direction == "higher_is_better" else "lower"
        lines.append(
            f"| `{kpi.kpi_id}` | {kpi.name} | {kpi.formula} | {kpi.unit} | {direction} | {', '.join(kpi.inputs)} |"
        )
    lines += [
        "",
        "## Where this differs from a literal reading of DESIGN.md",
        "",
        "`customer_retention_rate` is (E - N) / S with N counting only the new customers of P still active",
        "at its end. Read literally, N would also count a customer who signed up and churned inside P; that",
        "customer is not in E, so subtracting them would count one loss twice and push retention below",
        "1 - churn. With this reading, retention + churn = 1 over the customers of S.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    KPI_DOC.parent.mkdir(exist_ok=True)
    KPI_DOC.write_text(render_kpi_catalog())
    print(f"wrote {KPI_DOC}")
