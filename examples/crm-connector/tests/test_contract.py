"""The crm connector against the local Example CRM API (fake_crm.py): the pipeline's connector
contract, and the deals it reads."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest
from kpi_crm import CrmConnector, CrmOptions

from connectors.base import RAW_RECORD_COLUMN, RECORD_PROBLEM_COLUMN, ExtractWindow
from connectors.testing import check_contract

sys.path.insert(0, str(Path(__file__).parents[1]))
import fake_crm  # noqa: E402

TOKEN = "test-token-123"


@pytest.fixture
def api_url(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CRM_TOKEN", TOKEN)
    monkeypatch.setenv("WRONG_CRM_TOKEN", "wrong-token-456")
    server = fake_crm.serve(token=TOKEN)
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v2"
    server.shutdown()


def crm(url: str, token_env: str = "CRM_TOKEN") -> CrmConnector:
    return CrmConnector("crm_deals", CrmOptions(base_url=url, token_env=token_env), Path("."))


def test_the_crm_connector_keeps_the_contract(api_url: str) -> None:
    check_contract(
        crm(api_url),
        window=ExtractWindow(date(2026, 3, 9), date(2026, 3, 11)),
        empty_window=ExtractWindow(date(2025, 1, 1), date(2025, 1, 2)),
        date_column="closed_at",
        broken=crm(api_url, token_env="WRONG_CRM_TOKEN"),
        secrets=[TOKEN, "wrong-token-456"],
    )


def test_won_deals_of_the_window_with_a_deal_in_another_currency_set_apart(api_url: str) -> None:
    frames = list(crm(api_url).extract(ExtractWindow(date(2026, 3, 10), date(2026, 3, 10)), "closed_at"))
    deals = frames[0]
    # one day of slack each side: 2026-03-09 .. 2026-03-11, won deals only
    expected = [
        deal
        for deal in fake_crm.all_deals()
        if deal["status"] == "won" and "2026-03-09" <= deal["closed_at"][:10] <= "2026-03-11"
    ]
    assert deals.height == len(expected) > 0
    usd = [deal for deal in expected if deal["value"]["currency"] == "USD"]
    assert deals[RECORD_PROBLEM_COLUMN].drop_nulls().to_list() == ["currency USD is not EUR"] * len(usd)
    good = deals.filter(deals[RECORD_PROBLEM_COLUMN].is_null())
    assert good["amount"].to_list() == [
        d["value"]["amount"] for d in expected if d["value"]["currency"] == "EUR"
    ]
    assert deals[RAW_RECORD_COLUMN].drop_nulls().len() == len(usd)
