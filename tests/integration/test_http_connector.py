"""The http connector against a real HTTP server on 127.0.0.1: each pagination style, each fault."""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from connectors.base import RAW_RECORD_COLUMN, RECORD_PROBLEM_COLUMN, ExtractWindow, SourceError
from connectors.http import HttpConnector, HttpOptions
from tests.fake_api import Reply, Request, fake_api, pages_of

INVOICES = [
    {
        "id": f"INV-{n}",
        "booked": f"2026-03-0{n}",
        "amount": amount,
        "customer": {"id": f"C{n % 3}", "tier": "smb"},
    }
    for n, amount in zip(range(1, 8), [100, 250.5, 80, 42.25, 10, 99.99, 7], strict=True)
]
TOKEN = "s3cr3t-token-value"


def connector(options: dict, name: str = "billing") -> HttpConnector:
    return HttpConnector(name, HttpOptions.model_validate(options), Path("."))


def extract(options: dict, window: ExtractWindow | None = None) -> pl.DataFrame:
    frames = list(connector(options).extract(window, "booked"))
    assert len(frames) == 1
    return frames[0]


def fast(options: dict) -> dict:
    """Retries without the production waits (the waits themselves are tested apart)."""
    return {"backoff_seconds": 0.01, "max_wait_seconds": 2, **options}


def test_page_number_pages_until_an_empty_page_and_flattens_nested_objects() -> None:
    def answer(request: Request) -> Reply:
        page, size = int(request.query["page"]), int(request.query["per_page"])
        return Reply({"data": pages_of(INVOICES, size, page)})

    with fake_api(answer) as api:
        frame = extract(
            {
                "url": api.url("/v1/invoices"),
                "records_path": "data",
                "pagination": {"type": "page_number", "page_size": 3},
            }
        )
        pages = [request.query["page"] for request in api.requests]
    assert pages == ["1", "2", "3", "4"]  # 3 + 3 + 1 records, then an empty page
    assert frame.columns == ["id", "booked", "amount", "customer__id", "customer__tier"]
    assert frame["id"].to_list() == [record["id"] for record in INVOICES]
    # integers among floats are floats (none beyond 2**53); each value as the API wrote it
    assert frame.schema["amount"] == pl.Float64()
    assert frame["amount"].to_list() == [100.0, 250.5, 80.0, 42.25, 10.0, 99.99, 7.0]
    assert frame["customer__id"].to_list() == ["C1", "C2", "C0", "C1", "C2", "C0", "C1"]


def test_page_number_stops_at_total_pages_without_asking_for_an_empty_page() -> None:
    def answer(request: Request) -> Reply:
        page = int(request.query["pg"])
        return Reply({"items": pages_of(INVOICES, 4, page, first=0), "meta": {"pages": 2}})

    with fake_api(answer) as api:
        options = {
            "url": api.url("/invoices"),
            "records_path": "items",
            "pagination": {
                "type": "page_number",
                "page_param": "pg",
                "first_page": 0,
                "size_param": "size",
                "page_size": 4,
                "total_pages_path": "meta.pages",
            },
        }
        frame = extract(options)
        assert [request.query["pg"] for request in api.requests] == ["0", "1"]
    assert frame.height == 7


def test_offset_pages_by_the_records_read_up_to_the_total() -> None:
    def answer(request: Request) -> Reply:
        offset = int(request.query["offset"])
        # the API caps its pages at 2 records, whatever limit asks for
        return Reply({"results": INVOICES[offset : offset + 2], "total": len(INVOICES)})

    with fake_api(answer) as api:
        frame = extract(
            {
                "url": api.url("/invoices"),
                "records_path": "results",
                "pagination": {"type": "offset", "limit": 5, "total_path": "total"},
            }
        )
        assert [request.query["offset"] for request in api.requests] == ["0", "2", "4", "6"]
        assert {request.query["limit"] for request in api.requests} == {"5"}
    assert frame["id"].to_list() == [record["id"] for record in INVOICES]


def test_cursor_pages_until_the_body_names_no_cursor() -> None:
    def answer(request: Request) -> Reply:
        start = int(request.query.get("starting_after", "0"))
        chunk = INVOICES[start : start + 3]
        following = str(start + 3) if start + 3 < len(INVOICES) else None
        return Reply({"data": chunk, "paging": {"next": following}})

    with fake_api(answer) as api:
        frame = extract(
            {
                "url": api.url("/invoices"),
                "records_path": "data",
                "pagination": {
                    "type": "cursor",
                    "cursor_path": "paging.next",
                    "cursor_param": "starting_after",
                },
            }
        )
        assert [request.query.get("starting_after") for request in api.requests] == [None, "3", "6"]
    assert frame.height == 7


def test_cursor_pages_stop_when_the_body_says_no_more_follow() -> None:
    def answer(request: Request) -> Reply:  # a cursor on every page, as some APIs send
        start = int(request.query.get("cursor", "0"))
        return Reply({"data": INVOICES[start : start + 4], "next": str(start + 4), "has_more": start + 4 < 7})

    with fake_api(answer) as api:
        paging = {"type": "cursor", "cursor_path": "next", "has_more_path": "has_more"}
        frame = extract({"url": api.url("/x"), "records_path": "data", "pagination": paging})
        assert len(api.requests) == 2
    assert frame.height == 7


def test_next_url_in_the_body_and_the_link_header_are_followed() -> None:
    def answer(request: Request) -> Reply:
        page = int(request.query.get("p", "1"))
        chunk = pages_of(INVOICES, 4, page)
        if request.path == "/body":
            return Reply({"records": chunk, "next": f"/body?p={page + 1}" if page < 2 else None})
        link = {"Link": f'<{api.url("/link")}?p={page + 1}>; rel="next"'} if page < 2 else {}
        return Reply(chunk, headers=link)

    with fake_api(answer) as api:
        body = extract(
            {
                "url": api.url("/body"),
                "records_path": "records",
                "pagination": {"type": "next_url", "next_url_path": "next"},
            }
        )
        linked = extract({"url": api.url("/link"), "pagination": "link_header"})
    assert body["id"].to_list() == linked["id"].to_list() == [record["id"] for record in INVOICES]


def test_a_500_then_success_is_retried_and_reads_every_record() -> None:
    calls = []

    def answer(request: Request) -> Reply:
        calls.append(request)
        return Reply({"error": "boom"}, status=500) if len(calls) == 1 else Reply(INVOICES)

    with fake_api(answer) as api:
        frame = extract(fast({"url": api.url("/invoices")}))
    assert len(calls) == 2
    assert frame.height == 7


def test_a_429_waits_as_long_as_retry_after_says() -> None:
    def answer(request: Request) -> Reply:
        first = len(api.requests) == 1
        return (
            Reply({"error": "slow down"}, status=429, headers={"Retry-After": "1"})
            if first
            else Reply(INVOICES)
        )

    with fake_api(answer) as api:
        frame = extract(fast({"url": api.url("/invoices")}))
        waited = api.requests[1].at - api.requests[0].at
    assert frame.height == 7
    assert waited >= 0.95  # Retry-After outweighs the 0.01 s backoff


def test_a_timeout_is_retried_and_one_that_lasts_is_a_transient_error_naming_the_source() -> None:
    def answer(request: Request) -> Reply:
        slow = request.path == "/always" or len(api.requests) == 1
        return Reply(INVOICES, delay=1.0 if slow else 0.0)

    with fake_api(answer) as api:
        assert extract(fast({"url": api.url("/once"), "timeout_seconds": 0.3})).height == 7
        with pytest.raises(SourceError) as failure:
            extract(fast({"url": api.url("/always"), "timeout_seconds": 0.3, "max_attempts": 2}))
    assert failure.value.transient
    message = str(failure.value)
    assert "'billing'" in message and "/always" in message and "no answer within 0.3 s" in message
    assert "2 tries" in message


def test_malformed_json_is_an_error_naming_the_page_and_quoting_the_body() -> None:
    def answer(request: Request) -> Reply:
        page = int(request.query["page"])
        return Reply({"data": INVOICES[:2]}) if page == 1 else Reply('{"data": [{"id": "INV-3",')

    with fake_api(answer) as api, pytest.raises(SourceError) as failure:
        extract(
            {
                "url": api.url("/invoices"),
                "records_path": "data",
                "pagination": {"type": "page_number", "size_param": None},
            }
        )
    message = str(failure.value)
    assert not failure.value.transient
    assert "page 2" in message and "not JSON" in message and '{"data": [{"id": "INV-3",' in message


@pytest.mark.parametrize("style", ["cursor", "page_number"])
def test_a_page_that_repeats_stops_with_an_error_instead_of_looping(style: str) -> None:
    def answer(request: Request) -> Reply:
        # a cursor that points back to itself; a page parameter the API ignores
        return Reply({"data": INVOICES[:2], "next": "abc"})

    options = {
        "cursor": {"type": "cursor", "cursor_path": "next"},
        "page_number": {"type": "page_number"},
    }[style]
    with fake_api(answer) as api:
        with pytest.raises(SourceError) as failure:
            extract({"url": api.url("/invoices"), "records_path": "data", "pagination": options})
        assert len(api.requests) <= 3
    assert "already read" in str(failure.value) or "same records" in str(failure.value)


def test_max_pages_bounds_an_api_that_never_ends() -> None:
    def answer(request: Request) -> Reply:
        page = int(request.query["page"])
        return Reply({"data": [{"id": f"X{page}"}]})

    with fake_api(answer) as api, pytest.raises(SourceError, match="more than 5 pages"):
        extract({"url": api.url("/x"), "records_path": "data", "pagination": "page_number", "max_pages": 5})


def test_bearer_basic_and_api_key_credentials_are_sent_and_a_refusal_names_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BILLING_TOKEN", TOKEN)
    seen: list[dict[str, str]] = []

    def answer(request: Request) -> Reply:
        seen.append({**request.headers, **request.query})
        if request.path == "/refuse":
            return Reply({"error": f"token {TOKEN} expired"}, status=401)
        return Reply(INVOICES[:1])

    with fake_api(answer) as api:
        extract({"url": api.url("/ok"), "auth": {"type": "bearer", "token_env": "BILLING_TOKEN"}})
        extract(
            {
                "url": api.url("/ok"),
                "auth": {"type": "basic", "username": "me", "password_env": "BILLING_TOKEN"},
            }
        )
        extract({"url": api.url("/ok"), "auth": {"type": "api_key", "key_env": "BILLING_TOKEN"}})
        extract(
            {"url": api.url("/ok"), "auth": {"type": "api_key", "key_env": "BILLING_TOKEN", "param": "key"}}
        )
        with pytest.raises(SourceError) as failure:
            extract(
                {
                    "url": api.url("/refuse"),
                    "auth": {"type": "api_key", "key_env": "BILLING_TOKEN", "param": "key"},
                }
            )
    assert seen[0]["authorization"] == f"Bearer {TOKEN}"
    assert seen[1]["authorization"] == "Basic " + base64.b64encode(f"me:{TOKEN}".encode()).decode()
    assert seen[2]["x-api-key"] == TOKEN
    assert seen[3]["key"] == TOKEN
    message = str(failure.value)
    assert "HTTP 401" in message and "refused the credentials" in message and "'billing'" in message
    assert "check the api_key credentials in the environment variable 'BILLING_TOKEN'" in message
    assert TOKEN not in message and "key=" not in message


def test_an_http_error_body_is_quoted_with_secrets_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_TOKEN", TOKEN)
    refusal = Reply(f"bad request for key {TOKEN}", status=400)
    with fake_api(lambda request: refusal) as api, pytest.raises(SourceError) as failure:
        extract({"url": api.url("/x"), "auth": {"type": "api_key", "key_env": "BILLING_TOKEN", "param": "k"}})
    assert "HTTP 400" in str(failure.value) and "bad request for key ***" in str(failure.value)
    assert TOKEN not in str(failure.value)


def test_a_missing_credential_variable_is_named_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    with fake_api(lambda request: Reply([])) as api:
        with pytest.raises(SourceError, match="environment variable 'NO_SUCH_TOKEN' is not set"):
            extract({"url": api.url("/x"), "auth": {"type": "bearer", "token_env": "NO_SUCH_TOKEN"}})
        assert api.requests == []


def test_requests_per_second_spaces_the_requests() -> None:
    def answer(request: Request) -> Reply:
        return Reply({"data": pages_of(INVOICES, 2, int(request.query["page"]))})

    with fake_api(answer) as api:
        extract(
            {
                "url": api.url("/x"),
                "records_path": "data",
                "pagination": {"type": "page_number", "page_size": 2},
                "requests_per_second": 3,
            }
        )
        starts = [request.at for request in api.requests]
    assert len(starts) == 5
    # 1/3 s apart as sent, on a fixed schedule: 4/3 s from the first to the fifth. The server notes an
    # arrival some tens of ms late on a loaded machine (a gap of 0.083 s was seen at 10 per second):
    # only the first's lateness shortens the span, each gap feels two. Unpaced requests come ms apart.
    assert starts[-1] - starts[0] >= 1.2
    assert min(b - a for a, b in zip(starts, starts[1:], strict=False)) >= 0.15


def test_incremental_asks_for_the_window_with_slack_and_lookback() -> None:
    def answer(request: Request) -> Reply:
        since, until = (
            date.fromisoformat(request.query["updated_since"]),
            date.fromisoformat(request.query["until"]),
        )
        return Reply([r for r in INVOICES if since <= date.fromisoformat(r["booked"]) < until])

    with fake_api(answer) as api:
        http = connector(
            {
                "url": api.url("/x"),
                "incremental": {"start_param": "updated_since", "end_param": "until", "lookback_days": 2},
            }
        )
        frame = pl.concat(list(http.extract(ExtractWindow(date(2026, 3, 5), date(2026, 3, 5)), "booked")))
        assert api.requests[0].query == {"updated_since": "2026-03-02", "until": "2026-03-07"}
        inclusive = connector(
            {
                "url": api.url("/x"),
                "incremental": {"start_param": "updated_since", "end_param": "until", "end_inclusive": True},
            }
        )
        list(inclusive.extract(ExtractWindow(date(2026, 3, 5), date(2026, 3, 5)), "booked"))
        assert api.requests[1].query == {"updated_since": "2026-03-04", "until": "2026-03-06"}
    assert http.window_pushed_down
    assert "updated_since=2026-03-02" in (http.window_note or "")
    assert frame["booked"].to_list() == ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06"]


def test_mixed_types_become_exact_texts_and_lists_their_json() -> None:
    records = [
        {"id": 1, "amount": "12,50", "tags": ["a", "b"], "big": 2**70},
        {"id": 2, "amount": 3, "tags": [], "big": 1},
        {"id": "3", "amount": None, "extra": True},
    ]
    with fake_api(lambda request: Reply(records)) as api:
        frame = extract({"url": api.url("/x")})
    assert frame.schema == {
        "id": pl.String(),
        "amount": pl.String(),
        "tags": pl.String(),
        "big": pl.String(),
        "extra": pl.Boolean(),
    }
    assert frame.rows() == [
        ("1", "12,50", '["a", "b"]', str(2**70), None),
        ("2", "3", "[]", "1", None),
        ("3", None, None, None, True),
    ]


def test_declared_fields_give_their_schema_even_empty_and_make_misfits_bad_records() -> None:
    records = [
        {"id": "A", "amount": 5, "customer": {"id": "C1"}},
        {"id": "B", "amount": "5.5", "customer": {"id": "C2"}},
        {"id": "C", "amount": 1.5},
    ]
    fields = {"id": "string", "amount": "number", "customer__id": "string"}
    with fake_api(lambda request: Reply(records if request.path == "/full" else [])) as api:
        full = extract({"url": api.url("/full"), "fields": fields})
        empty = extract({"url": api.url("/empty"), "fields": fields})
    assert empty.height == 0 and empty.schema == {
        "id": pl.String(),
        "amount": pl.Float64(),
        "customer__id": pl.String(),
    }
    assert full.select("id", "amount", "customer__id").rows() == [
        ("A", 5.0, "C1"),
        (None, None, None),
        ("C", 1.5, None),
    ]
    assert full[RECORD_PROBLEM_COLUMN].to_list() == [None, "field 'amount' is not a number: '5.5'", None]
    assert json.loads(full[RAW_RECORD_COLUMN][1]) == records[1]


def test_records_that_are_not_a_list_of_objects_name_the_path_and_the_keys() -> None:
    with fake_api(
        lambda request: Reply({"items": [1, 2]} if request.path == "/scalars" else {"items": []})
    ) as api:
        with pytest.raises(
            SourceError,
            match=r"expected a list of records at the top of the page, found dict \(its keys: items\)",
        ):
            extract({"url": api.url("/x")})
        with pytest.raises(SourceError, match="a record is not a JSON object: 1"):
            extract({"url": api.url("/scalars"), "records_path": "items"})


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"url": "https://me:pw@api.example.com/x"}, "url holds credentials"),
        ({"url": "https://api.example.com/x?api_key=1"}, "url holds a query"),
        ({"url": "ftp://api.example.com/x"}, "expected an http"),
        ({"url": "https://api.example.com/x", "params": {"api_key": "1"}}, "api_key looks like a credential"),
        (
            {"url": "https://api.example.com/x", "headers": {"Authorization": "Bearer 1"}},
            "Authorization looks like",
        ),
        ({"url": "https://api.example.com/x", "pagination": "pages"}, "pagination"),
        ({"url": "https://api.example.com/x", "page_size": 5}, "page_size"),
    ],
)
def test_options_refuse_credentials_in_the_file_and_unknown_settings(options: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        HttpOptions.model_validate(options)


def test_an_http_source_runs_through_the_pipeline_a_day_at_a_time(
    tmp_path: Path, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kpi.runner import run_partitions
    from tests.conftest import query, write_config

    monkeypatch.setenv("BILLING_TOKEN", TOKEN)
    answered: list[str] = []

    def answer(request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply({"error": "unauthorized"}, status=401)
        if not answered:  # the first request of the run fails once: retried, not a failed day
            answered.append("503")
            return Reply({"error": "busy"}, status=503)
        answered.append(request.query["paid_since"])
        since, before = request.query["paid_since"], request.query["paid_before"]
        chosen = [r for r in INVOICES if since <= r["booked"] < before]
        start = int(request.query.get("after", "0"))
        page = chosen[start : start + 2]
        following = str(start + 2) if start + 2 < len(chosen) else None
        return Reply({"data": page, "meta": {"next": following}})

    with fake_api(answer) as api:
        source = {
            "name": "billing",
            "connector": "http",
            "options": {
                "url": api.url("/v1/invoices"),
                "auth": {"type": "bearer", "token_env": "BILLING_TOKEN"},
                "records_path": "data",
                "pagination": {"type": "cursor", "cursor_path": "meta.next", "cursor_param": "after"},
                "incremental": {"start_param": "paid_since", "end_param": "paid_before"},
                "backoff_seconds": 0.01,
            },
            "entity": "revenue_transactions",
            "columns": {
                "transaction_id": "id",
                "booked_on": "booked",
                "customer_id": "customer__id",
                "amount": "amount",
            },
        }
        config = write_config(tmp_path, {"start_date": "2026-03-01", "sources": [source]})
        outcomes = run_partitions(config, date(2026, 3, 2), date(2026, 3, 4), instance=instance)
    assert all(outcome.success for outcome in outcomes), [outcome.error for outcome in outcomes]
    # one extract per nightly day, each asking for its day with a day of slack each side
    assert answered[0] == "503" and sorted(set(answered[1:])) == ["2026-03-01", "2026-03-02", "2026-03-03"]
    rows = query(
        tmp_path, "SELECT transaction_id, booked_on, customer_id, amount FROM revenue_transactions ORDER BY 1"
    )
    assert rows == [
        (r["id"], date.fromisoformat(r["booked"]), r["customer"]["id"], float(r["amount"]))
        for r in INVOICES
        if "2026-03-02" <= r["booked"] <= "2026-03-04"
    ]
    revenue = query(
        tmp_path,
        "SELECT period_start, value FROM kpi_values WHERE kpi_id = 'revenue' AND grain = 'day' ORDER BY 1",
    )
    assert revenue == [(date(2026, 3, 2), 250.5), (date(2026, 3, 3), 80.0), (date(2026, 3, 4), 42.25)]


def test_an_api_key_in_the_query_is_not_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BILLING_TOKEN", TOKEN)
    caplog.set_level("DEBUG", logger="")  # a root logger that shows everything, as a user may set
    with fake_api(lambda request: Reply(INVOICES)) as api:
        extract(
            {"url": api.url("/x"), "auth": {"type": "api_key", "key_env": "BILLING_TOKEN", "param": "key"}}
        )
    assert TOKEN not in caplog.text


def test_fields_that_flatten_to_one_name_or_change_shape_are_bad_records_not_overwrites() -> None:
    records = [
        {"id": "A", "customer__id": "FLAT", "customer": {"id": "NESTED"}},  # two fields, one name
        {"id": "B", "customer": {"id": "C2"}},
        {"id": "C", "customer": "C3"},  # an id where the others have an object
        {"id": "D", "customer": None},
    ]
    with fake_api(lambda request: Reply(records)) as api:
        inferred = extract({"url": api.url("/x")})
        declared = extract({"url": api.url("/x"), "fields": {"id": "string", "customer__id": "string"}})
        as_value = extract({"url": api.url("/x"), "fields": {"id": "string", "customer": "string"}})
    assert inferred[RECORD_PROBLEM_COLUMN].to_list() == [
        "field 'customer__id' is both a field and the field of a nested object",
        "field 'customer' is an object in some records and a value in others",
        "field 'customer' is an object in some records and a value in others",
        None,
    ]
    assert inferred.filter(pl.col(RECORD_PROBLEM_COLUMN).is_null())["id"].to_list() == ["D"]
    assert declared[RECORD_PROBLEM_COLUMN].to_list() == [
        "field 'customer__id' is both a field and the field of a nested object",
        None,
        "field 'customer' is a value, not an object holding 'customer__id': 'C3'",
        None,
    ]
    assert declared["customer__id"].to_list() == [None, "C2", None, None]
    assert as_value[RECORD_PROBLEM_COLUMN].to_list()[1:] == [
        "field 'customer' is an object, not a string",
        None,
        None,
    ]
    assert json.loads(declared[RAW_RECORD_COLUMN][2]) == records[2]


@pytest.mark.parametrize("rel", ['rel="next last"', 'rel="Next"', "rel=next"])
def test_the_link_header_next_is_found_among_relation_types_in_any_case(rel: str) -> None:
    def answer(request: Request) -> Reply:
        page = int(request.query.get("p", "1"))
        link = {"Link": f"<{api.url('/link')}?p={page + 1}>; {rel}"} if page < 2 else {}
        return Reply(pages_of(INVOICES, 4, page), headers=link)

    with fake_api(answer) as api:
        assert extract({"url": api.url("/link"), "pagination": "link_header"}).height == 7


def test_pages_that_end_before_the_total_the_api_gave_are_an_error_not_a_short_read() -> None:
    def answer(request: Request) -> Reply:
        if request.path == "/pages":  # says 4 pages, page 2 is empty
            page = int(request.query["page"])
            return Reply({"data": INVOICES[:3] if page == 1 else [], "meta": {"pages": 4}})
        if request.path == "/none":  # no records at all: one page of none, as many APIs say
            return Reply({"data": [], "meta": {"pages": 1}})
        offset = int(request.query["offset"])
        return Reply({"data": INVOICES[offset : min(offset + 3, 6)], "total": 10})

    pages = {"type": "page_number", "total_pages_path": "meta.pages"}
    with fake_api(answer) as api:
        with pytest.raises(SourceError, match="page=2 is empty, but the API said there are 4 pages") as short:
            extract({"url": api.url("/pages"), "records_path": "data", "pagination": pages})
        assert short.value.transient
        with pytest.raises(
            SourceError, match="the pages ended after 6 records, but the API said there are 10"
        ):
            extract(
                {
                    "url": api.url("/offset"),
                    "records_path": "data",
                    "pagination": {"type": "offset", "total_path": "total"},
                }
            )
        assert extract({"url": api.url("/none"), "records_path": "data", "pagination": pages}).height == 0


def test_an_inclusive_end_in_a_timestamp_format_covers_the_whole_last_day() -> None:
    with fake_api(lambda request: Reply([])) as api:
        http = connector(
            {
                "url": api.url("/x"),
                "incremental": {
                    "start_param": "created_min",
                    "end_param": "created_max",
                    "end_inclusive": True,
                    "format": "%Y-%m-%dT%H:%M:%SZ",
                },
            }
        )
        list(http.extract(ExtractWindow(date(2026, 3, 5), date(2026, 3, 5)), "created"))
        assert api.requests[0].query == {
            "created_min": "2026-03-04T00:00:00Z",
            "created_max": "2026-03-06T23:59:59Z",
        }


def test_credentials_never_go_to_another_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_TOKEN", TOKEN)
    with fake_api(lambda request: Reply(INVOICES)) as elsewhere:

        def answer(request: Request) -> Reply:
            if request.path == "/moved":
                return Reply(status=301, headers={"Location": "/v2/invoices"})
            if request.path == "/away":
                return Reply(status=302, headers={"Location": elsewhere.url("/steal")})
            if request.path == "/v2/invoices":
                return Reply({"data": INVOICES[:2], "next": None})
            return Reply({"data": INVOICES[:2], "next": elsewhere.url("/steal")})

        with fake_api(answer) as api:
            key = {"type": "api_key", "key_env": "BILLING_TOKEN"}
            moved = extract({"url": api.url("/moved"), "auth": key, "records_path": "data"})
            assert moved.height == 2  # a redirect on the API's own host is followed
            assert api.requests[-1].headers["x-api-key"] == TOKEN
            for path, paging in [
                ("/away", "none"),
                ("/first", {"type": "next_url", "next_url_path": "next"}),
            ]:
                with pytest.raises(
                    SourceError, match=r"another host \(127\.0\.0\.1\)|not sent there"
                ) as refused:
                    extract({"url": api.url(path), "auth": key, "records_path": "data", "pagination": paging})
                assert TOKEN not in str(refused.value)
        assert elsewhere.requests == []


def test_a_secret_echoed_url_encoded_or_json_escaped_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "k3y/With+Special=="
    monkeypatch.setenv("BILLING_TOKEN", secret)
    echo = 'not found: /x?key=k3y%2FWith%2BSpecial%3D%3D or "k3y\\/With+Special=="'
    with fake_api(lambda request: Reply(echo, status=404)) as api, pytest.raises(SourceError) as failure:
        extract(
            {"url": api.url("/x"), "auth": {"type": "api_key", "key_env": "BILLING_TOKEN", "param": "key"}}
        )
    message = str(failure.value)
    assert "not found: /x?key=*** or" in message and "k3y" not in message


def test_a_credential_with_a_line_break_is_named_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_TOKEN", TOKEN + "\n")
    with fake_api(lambda request: Reply([])) as api:
        with pytest.raises(SourceError, match="'BILLING_TOKEN' holds a line break") as failure:
            extract({"url": api.url("/x"), "auth": {"type": "bearer", "token_env": "BILLING_TOKEN"}})
        assert api.requests == [] and not failure.value.transient and TOKEN not in str(failure.value)


@pytest.mark.parametrize(
    "target", ["ftp://files.example.com/x", "http://[not-an-address/x", "http://127.0.0.1:99999/x"]
)
def test_a_next_page_address_that_is_no_usable_url_is_a_source_error(target: str) -> None:
    with (
        fake_api(lambda request: Reply({"data": INVOICES[:1], "next": target})) as api,
        pytest.raises(SourceError, match="'billing'") as failure,
    ):
        extract(
            fast(
                {
                    "url": api.url("/x"),
                    "records_path": "data",
                    "pagination": {"type": "next_url", "next_url_path": "next"},
                }
            )
        )
    assert not failure.value.transient


def test_one_page_read_from_an_api_whose_link_header_names_more_is_an_error() -> None:
    def answer(request: Request) -> Reply:
        return Reply(
            INVOICES[:2],
            headers={"Link": f'<{api.url("/x")}?page=2>; rel="next", <{api.url("/x")}?page=4>; rel="last"'},
        )

    with fake_api(answer) as api, pytest.raises(SourceError, match="set pagination: link_header"):
        extract({"url": api.url("/x")})


def test_records_path_on_a_page_that_is_itself_the_list_says_to_remove_it() -> None:
    with fake_api(lambda request: Reply(INVOICES)) as api, pytest.raises(SourceError) as failure:
        extract({"url": api.url("/x"), "records_path": "data"})
    assert (
        "the page is itself a list of records, not an object holding one at data: remove records_path"
        in str(failure.value)
    )


@pytest.mark.parametrize("pagination", ["link", {"type": "pages"}])
def test_an_unknown_pagination_names_the_styles(pagination: object) -> None:
    with pytest.raises(
        ValueError, match="unknown pagination '(link|pages)'; expected one of: none, page_number, offset"
    ):
        HttpOptions.model_validate({"url": "https://api.example.com/x", "pagination": pagination})
