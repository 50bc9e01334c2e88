"""map_to_entity / column_expressions: a source's frame mapped onto a canonical entity, typed, and cut
to the window; values that do not fit come back as rejects, never dropped."""

from __future__ import annotations

import json
from datetime import date, datetime

import polars as pl
import pytest

from assets.sources.transforms import MappedRows, MappingError, column_expressions, map_to_entity
from kpi.entities import ENTITIES

REVENUE = ENTITIES["revenue_transactions"]
EXPENSES = ENTITIES["expenses"]
CUSTOMERS = ENTITIES["customers"]
SURVEYS = ENTITIES["survey_responses"]

REVENUE_COLUMNS = {"transaction_id": "id", "booked_on": "day", "amount": "total", "customer_id": "cust"}


def revenue(days: list[str], timezone: str = "UTC", **kwargs) -> MappedRows:
    """Revenue rows t0, t1, ... booked on `days` (text), amount 1.0 each."""
    frame = pl.DataFrame(
        {
            "id": [f"t{i}" for i in range(len(days))],
            "day": days,
            "total": ["1"] * len(days),
            "cust": ["c"] * len(days),
        }
    )
    return map_to_entity(frame, REVENUE, REVENUE_COLUMNS, source_name="erp", timezone=timezone, **kwargs)


def booked_on(mapped: MappedRows) -> dict[str, date]:
    return dict(zip(mapped.rows["transaction_id"], mapped.rows["booked_on"], strict=True))


# --- column mapping ------------------------------------------------------------------------------


def test_plain_columns_are_renamed_and_typed_in_the_entity_order() -> None:
    frame = pl.DataFrame(
        {
            "cust": ["c1", "c2"],
            "total": ["120.50", "-20"],
            "id": ["inv-1", "inv-2"],
            "day": ["2026-01-02", "2026-01-03"],
            "ignored": ["a", "b"],
        }
    )
    mapped = map_to_entity(frame, REVENUE, REVENUE_COLUMNS, source_name="erp", timezone="UTC")

    assert mapped.rows.schema == pl.Schema(
        {"transaction_id": pl.String, "booked_on": pl.Date, "customer_id": pl.String, "amount": pl.Float64}
    )
    assert mapped.rows.to_dicts() == [
        {"transaction_id": "inv-1", "booked_on": date(2026, 1, 2), "customer_id": "c1", "amount": 120.5},
        {"transaction_id": "inv-2", "booked_on": date(2026, 1, 3), "customer_id": "c2", "amount": -20.0},
    ]
    assert mapped.rejects.is_empty()


def test_an_unmapped_nullable_column_is_null() -> None:
    frame = pl.DataFrame({"id": ["inv-1"], "day": ["2026-01-02"], "total": ["5"]})
    columns = {"transaction_id": "id", "booked_on": "day", "amount": "total"}
    mapped = map_to_entity(frame, REVENUE, columns, source_name="erp", timezone="UTC")

    assert mapped.rows["customer_id"].dtype == pl.String
    assert mapped.rows["customer_id"].to_list() == [None]
    assert mapped.rows["amount"].to_list() == [5.0]


def test_sql_expressions_case_and_lower() -> None:
    frame = pl.DataFrame(
        {
            "no": ["e1", "e2", "e3"],
            "d": ["2026-01-02", "2026-01-02", "2026-01-03"],
            "cat": ["COGS", "Operating", "TAX"],
            "total": ["10.5", "4", "2.25"],
            "kind": ["credit", "debit", "debit"],
        }
    )
    columns = {
        "expense_id": "no",
        "booked_on": "d",
        "category": "lower(cat)",
        "amount": "CASE WHEN kind = 'credit' THEN -CAST(total AS DOUBLE) ELSE CAST(total AS DOUBLE) END",
    }
    mapped = map_to_entity(frame, EXPENSES, columns, source_name="ledger", timezone="UTC")

    assert mapped.rows["category"].to_list() == ["cogs", "operating", "tax"]
    assert mapped.rows["amount"].to_list() == [-10.5, 4.0, 2.25]
    assert mapped.rejects.is_empty()


def test_column_expressions_gives_a_column_an_expression_or_a_null_for_each_canonical_column() -> None:
    expressions = column_expressions(
        REVENUE,
        {"transaction_id": "id", "booked_on": "day", "amount": "CAST(total AS DOUBLE) * 2"},
        ["id", "day", "total"],
        "erp",
    )
    assert list(expressions) == ["transaction_id", "booked_on", "customer_id", "amount"]

    frame = pl.DataFrame({"id": ["a"], "day": ["2026-01-02"], "total": ["1.5"]})
    result = frame.select(**expressions)
    assert result.to_dicts() == [
        {"transaction_id": "a", "booked_on": "2026-01-02", "customer_id": None, "amount": 3.0}
    ]


def test_a_missing_source_column_names_source_column_canonical_column_and_available_columns() -> None:
    frame = pl.DataFrame({"id": ["a"], "day": ["2026-01-02"], "total": ["1"], "cust": ["c"]})
    columns = {**REVENUE_COLUMNS, "amount": "totl"}

    with pytest.raises(MappingError) as raised:
        map_to_entity(frame, REVENUE, columns, source_name="erp_invoices", timezone="UTC")

    message = str(raised.value)
    assert "'erp_invoices'" in message
    assert "'totl'" in message
    assert "revenue_transactions.amount" in message
    assert "it has: id, day, total, cust" in message


def test_an_expression_using_a_missing_column_names_it_and_the_available_columns() -> None:
    frame = pl.DataFrame({"no": ["e1"], "d": ["2026-01-02"], "cat": ["cogs"], "total": ["1"]})
    columns = {"expense_id": "no", "booked_on": "d", "category": "lower(categ)", "amount": "total"}

    with pytest.raises(MappingError) as raised:
        column_expressions(EXPENSES, columns, frame.columns, "ledger")

    message = str(raised.value)
    assert "'ledger'" in message
    assert "expenses.category" in message
    assert "'lower(categ)'" in message
    assert "uses 'categ', not in the source" in message
    assert "it has: no, d, cat, total" in message


def test_an_expression_that_does_not_parse_names_source_and_column() -> None:
    with pytest.raises(MappingError) as raised:
        column_expressions(
            EXPENSES,
            {"expense_id": "no", "booked_on": "d", "category": "cat", "amount": "total *"},
            ["no", "d", "cat", "total"],
            "ledger",
        )
    message = str(raised.value)
    assert "'ledger'" in message
    assert "expenses.amount" in message
    assert "'total *'" in message
    assert "does not parse" in message


# --- dates ---------------------------------------------------------------------------------------


def test_iso_text_dates() -> None:
    mapped = revenue(["2026-01-02", "2025-12-31", "2024-02-29"])
    assert booked_on(mapped) == {"t0": date(2026, 1, 2), "t1": date(2025, 12, 31), "t2": date(2024, 2, 29)}
    assert mapped.rejects.is_empty()


def test_date_format_month_day_year() -> None:
    mapped = revenue(["01/04/2026", "12/31/2025"], date_format="%m/%d/%Y")
    assert booked_on(mapped) == {"t0": date(2026, 1, 4), "t1": date(2025, 12, 31)}
    assert mapped.rejects.is_empty()


@pytest.mark.parametrize(
    ("timezone", "expected"),
    [("Europe/Berlin", date(2026, 1, 5)), ("UTC", date(2026, 1, 4)), ("America/New_York", date(2026, 1, 4))],
)
def test_iso_timestamps_with_z_are_converted_to_the_reporting_time_zone(
    timezone: str, expected: date
) -> None:
    # 23:30 UTC is 00:30 the next day in Berlin (UTC+1 in winter), 18:30 the same day in New York.
    mapped = revenue(["2026-01-04T23:30:00Z"], timezone=timezone)
    assert booked_on(mapped) == {"t0": expected}


def test_iso_timestamps_with_an_offset_are_converted_to_the_reporting_time_zone() -> None:
    # 23:30 at -05:00 is 04:30 UTC on the 5th; 22:30 at +00:00 is 23:30 in Berlin on the 4th;
    # 00:30 at +02:00 is 23:30 on the 4th in Berlin (UTC+1).
    mapped = revenue(
        ["2026-01-04T23:30:00-05:00", "2026-01-04T22:30:00+00:00", "2026-01-05T00:30:00+02:00"],
        timezone="Europe/Berlin",
    )
    assert booked_on(mapped) == {"t0": date(2026, 1, 5), "t1": date(2026, 1, 4), "t2": date(2026, 1, 4)}


def test_naive_timestamps_are_taken_as_local_time() -> None:
    # No offset: the wall clock is the reporting time zone's; 23:30 stays on the 4th.
    mapped = revenue(["2026-01-04T23:30:00", "2026-01-04 00:10:00"], timezone="Europe/Berlin")
    assert booked_on(mapped) == {"t0": date(2026, 1, 4), "t1": date(2026, 1, 4)}
    assert mapped.rejects.is_empty()


def test_naive_timestamps_in_daylight_saving_changes_keep_their_date() -> None:
    # 02:30 on 2026-10-25 happens twice in Berlin, 02:30 on 2026-03-29 not at all: both still name a day.
    mapped = revenue(["2026-10-25T02:30:00", "2026-03-29T02:30:00"], timezone="Europe/Berlin")
    assert booked_on(mapped) == {"t0": date(2026, 10, 25), "t1": date(2026, 3, 29)}
    assert mapped.rejects.is_empty()

    mapped = revenue(["10/25/2026 02:30"], timezone="Europe/Berlin", date_format="%m/%d/%Y %H:%M")
    assert booked_on(mapped) == {"t0": date(2026, 10, 25)}
    assert mapped.rejects.is_empty()


def test_a_column_mixing_dates_offset_and_naive_timestamps() -> None:
    mapped = revenue(["2026-01-04T23:30:00Z", "2026-01-04T23:30:00", "2026-01-04"], timezone="Europe/Berlin")
    assert booked_on(mapped) == {"t0": date(2026, 1, 5), "t1": date(2026, 1, 4), "t2": date(2026, 1, 4)}
    assert mapped.rejects.is_empty()


def test_native_datetimes_with_a_time_zone_are_converted_and_naive_ones_taken_as_local() -> None:
    frame = pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "utc": [datetime(2026, 1, 4, 23, 30), datetime(2026, 1, 4, 22, 59), datetime(2026, 1, 4, 12, 0)],
            "total": [1.0, 2.0, 3.0],
        }
    ).with_columns(pl.col("utc").dt.replace_time_zone("UTC"), local=pl.col("utc"))
    assert frame.schema["utc"] == pl.Datetime("us", "UTC")

    aware = map_to_entity(
        frame,
        REVENUE,
        {"transaction_id": "id", "booked_on": "utc", "amount": "total"},
        source_name="erp",
        timezone="Europe/Berlin",
    )
    assert booked_on(aware) == {"a": date(2026, 1, 5), "b": date(2026, 1, 4), "c": date(2026, 1, 4)}

    naive = frame.with_columns(pl.col("utc").dt.replace_time_zone(None))
    local = map_to_entity(
        naive,
        REVENUE,
        {"transaction_id": "id", "booked_on": "utc", "amount": "total"},
        source_name="erp",
        timezone="Europe/Berlin",
    )
    assert booked_on(local) == {"a": date(2026, 1, 4), "b": date(2026, 1, 4), "c": date(2026, 1, 4)}


def test_native_dates_pass_through() -> None:
    frame = pl.DataFrame({"id": ["a"], "d": [date(2026, 2, 28)], "total": [9.5]})
    mapped = map_to_entity(
        frame,
        REVENUE,
        {"transaction_id": "id", "booked_on": "d", "amount": "total"},
        source_name="erp",
        timezone="Asia/Tokyo",
    )
    assert mapped.rows.to_dicts() == [
        {"transaction_id": "a", "booked_on": date(2026, 2, 28), "customer_id": None, "amount": 9.5}
    ]


# --- text clean-up -------------------------------------------------------------------------------


def test_padded_text_is_trimmed_and_empty_strings_become_null() -> None:
    frame = pl.DataFrame(
        {
            "ref": [" c1", "c2 ", "c3"],
            "created": ["2026-01-01 ", "2026-01-02", "2026-01-03"],
            "closed": ["", "   ", "2026-02-01"],
            "tier": ["M ", "", "  L"],
        }
    )
    columns = {"customer_id": "ref", "signed_up_on": "created", "churned_on": "closed", "segment": "tier"}
    mapped = map_to_entity(frame, CUSTOMERS, columns, source_name="crm", timezone="UTC")

    assert mapped.rows.to_dicts() == [
        {"customer_id": "c1", "signed_up_on": date(2026, 1, 1), "churned_on": None, "segment": "M"},
        {"customer_id": "c2", "signed_up_on": date(2026, 1, 2), "churned_on": None, "segment": None},
        {
            "customer_id": "c3",
            "signed_up_on": date(2026, 1, 3),
            "churned_on": date(2026, 2, 1),
            "segment": "L",
        },
    ]
    # An empty value is missing, not malformed: no reject for it.
    assert mapped.rejects.is_empty()


# --- rejects -------------------------------------------------------------------------------------


def test_unparseable_values_come_back_as_rejects_with_the_rule_and_raw_row() -> None:
    frame = pl.DataFrame(
        {
            "id": ["ok", "bad-date", "bad-amount", "feb-30"],
            "day": ["2026-01-02", "2026-13-01", "2026-01-02", "2026-02-30"],
            "total": ["1.5", "2", "x", "3"],
            "cust": ["c1", "c2", "c3", "c4"],
        }
    )
    mapped = map_to_entity(frame, REVENUE, REVENUE_COLUMNS, source_name="erp", timezone="UTC")

    assert mapped.rows["transaction_id"].to_list() == ["ok"]
    assert mapped.rejects.columns == ["rule", "column", "raw_row", "day"]
    assert mapped.rejects["rule"].to_list() == ["type:booked_on", "type:amount", "type:booked_on"]
    assert mapped.rejects["column"].to_list() == ["booked_on", "amount", "booked_on"]
    # A row whose date cannot be read belongs to no day; the bad amount keeps its own.
    assert mapped.rejects["day"].to_list() == [None, date(2026, 1, 2), None]
    assert [json.loads(row) for row in mapped.rejects["raw_row"]] == [
        {"transaction_id": "bad-date", "booked_on": "2026-13-01", "customer_id": "c2", "amount": "2"},
        {"transaction_id": "bad-amount", "booked_on": "2026-01-02", "customer_id": "c3", "amount": "x"},
        {"transaction_id": "feb-30", "booked_on": "2026-02-30", "customer_id": "c4", "amount": "3"},
    ]
    # Every source row is either kept or rejected.
    assert mapped.rows.height + mapped.rejects.height == frame.height


def test_a_decimal_score_for_an_integer_column_is_rejected() -> None:
    frame = pl.DataFrame(
        {
            "rid": ["r1", "r2", "r3"],
            "cust": ["c1", "c2", "c3"],
            "on": ["2026-01-02", "2026-01-02", "2026-01-02"],
            "kind": ["csat", "nps", "nps"],
            "score": ["4", "3.5", " 9 "],
        }
    )
    columns = {
        "response_id": "rid",
        "customer_id": "cust",
        "responded_on": "on",
        "survey": "kind",
        "score": "score",
    }
    mapped = map_to_entity(frame, SURVEYS, columns, source_name="surveys", timezone="UTC")

    assert mapped.rows.select("response_id", "score").to_dicts() == [
        {"response_id": "r1", "score": 4},
        {"response_id": "r3", "score": 9},
    ]
    assert mapped.rows["score"].dtype == pl.Int64
    assert mapped.rejects["rule"].to_list() == ["type:score"]
    assert json.loads(mapped.rejects["raw_row"][0]) == {
        "response_id": "r2",
        "customer_id": "c2",
        "responded_on": "2026-01-02",
        "survey": "nps",
        "score": "3.5",
    }


def test_a_row_with_several_bad_values_is_rejected_once_named_by_its_first_bad_column() -> None:
    mapped = map_to_entity(
        pl.DataFrame({"id": ["a"], "day": ["someday"], "total": ["lots"], "cust": ["c"]}),
        REVENUE,
        REVENUE_COLUMNS,
        source_name="erp",
        timezone="UTC",
    )
    assert mapped.rows.is_empty()
    assert mapped.rejects["rule"].to_list() == ["type:booked_on"]


# --- window --------------------------------------------------------------------------------------


def test_the_window_keeps_exactly_its_days() -> None:
    days = ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05", "2026-01-06", "2026-01-07"]
    mapped = revenue(days, window=(date(2026, 1, 3), date(2026, 1, 5)))
    assert booked_on(mapped) == {"t1": date(2026, 1, 3), "t2": date(2026, 1, 4), "t3": date(2026, 1, 5)}
    assert mapped.rejects.is_empty()

    one_day = revenue(days, window=(date(2026, 1, 7), date(2026, 1, 7)))
    assert booked_on(one_day) == {"t5": date(2026, 1, 7)}


def test_the_window_cuts_on_the_reporting_time_zone_date() -> None:
    # 23:30Z on the 4th is the 5th in Berlin: in the 5th's window, not the 4th's.
    stamps = ["2026-01-04T23:30:00Z", "2026-01-04T22:30:00Z"]
    fourth = revenue(stamps, timezone="Europe/Berlin", window=(date(2026, 1, 4), date(2026, 1, 4)))
    fifth = revenue(stamps, timezone="Europe/Berlin", window=(date(2026, 1, 5), date(2026, 1, 5)))
    assert booked_on(fourth) == {"t1": date(2026, 1, 4)}
    assert booked_on(fifth) == {"t0": date(2026, 1, 5)}


def test_a_window_does_not_cut_an_undated_entity() -> None:
    frame = pl.DataFrame({"ref": ["c1", "c2"], "created": ["2020-01-01", "2026-06-01"]})
    mapped = map_to_entity(
        frame,
        CUSTOMERS,
        {"customer_id": "ref", "signed_up_on": "created"},
        source_name="crm",
        timezone="UTC",
        window=(date(2026, 1, 1), date(2026, 1, 1)),
    )
    assert mapped.rows["customer_id"].to_list() == ["c1", "c2"]


# --- empty input ---------------------------------------------------------------------------------


def test_an_empty_frame_without_columns_gives_an_empty_typed_frame() -> None:
    mapped = map_to_entity(pl.DataFrame(), SURVEYS, {}, source_name="surveys", timezone="UTC")

    assert mapped.rows.height == 0
    assert mapped.rows.schema == pl.Schema(
        {
            "response_id": pl.String,
            "customer_id": pl.String,
            "responded_on": pl.Date,
            "survey": pl.String,
            "score": pl.Int64,
        }
    )
    assert mapped.rejects.height == 0
    assert mapped.rejects.schema == pl.Schema(
        {"rule": pl.String, "column": pl.String, "raw_row": pl.String, "day": pl.Date}
    )


def test_an_empty_frame_with_its_header_gives_an_empty_typed_frame() -> None:
    frame = pl.DataFrame(schema={"id": pl.String, "day": pl.String, "total": pl.String, "cust": pl.String})
    mapped = map_to_entity(frame.lazy(), REVENUE, REVENUE_COLUMNS, source_name="erp", timezone="UTC")
    assert mapped.rows.height == 0
    assert mapped.rows.schema == REVENUE.empty_frame().schema
    assert mapped.rejects.is_empty()
