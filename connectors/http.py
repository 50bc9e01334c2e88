"""The `http` connector: records from a JSON API (billing, CRM and HR SaaS APIs and the like).

Requests go through httpx, retried by tenacity: a timeout, a connection failure, a 429 or a 5xx is
tried again (`max_attempts` tries in all) after an exponential backoff with jitter, or after the
response's Retry-After when that is longer; `requests_per_second` bounds the pace. Pages are followed
by page number, offset, a cursor in the body, a next-page URL in the body, or the Link header
(RFC 8288), and a page that was already read (the same request, or the same records again) is an
error, never an endless loop. Credentials come from environment variables named in the config (bearer
token, basic auth, an API key header or parameter) and never appear in a message: every error names
the source, the page and the URL without its query, with any secret's value masked.

Records are JSON objects at `records_path` in each page. Nested objects are flattened into columns
named `parent__child`; lists are kept as their JSON text. Without `fields`, each column takes the type
its values have (a column of mixed types, or of integers a float cannot hold among floats, is delivered
as the values' exact texts, which the mapping types row by row). With `fields`, every frame has exactly
the declared columns and types, and a record whose value does not fit is a bad record (quarantined
with its raw JSON). `incremental` asks the API for the window's records only (see `Incremental`).

Not dlt's REST API source: it installs with our pins, but it is built to run inside a dlt pipeline
(its own state, normalizer and destinations) and yields dicts, not frames; its retries and timeouts are
set through dlt's global configuration rather than per source; it has no bound on requests per second;
its incremental cursor is state kept between runs, where a partition here asks for its own days; and it
brings a second HTTP stack (requests) and about 130 packages beside httpx, which the alerts use already.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import Annotated, Any, Literal
from urllib.parse import quote, quote_plus, urljoin, urlsplit, urlunsplit

import polars as pl
from pydantic import Field, field_validator, model_validator

from connectors.base import (
    RAW_RECORD_COLUMN,
    RECORD_PROBLEM_COLUMN,
    Connector,
    ConnectorOptions,
    ExtractWindow,
    SourceError,
)
from connectors.values import EXACT_FLOAT_INTEGER, exact_text, sample

FIELD_SEPARATOR = "__"
"""Joins the keys of a nested object into one column name (`customer__id`), as dlt does."""
SECRET_NAME = re.compile(r"password|passwd|pwd|secret|token|api[_-]?key|apikey|authorization|cookie", re.I)
"""A query parameter or header that carries a credential: it belongs in `auth`, from the environment."""
MASK = "***"
MAX_REDIRECTS = 5
BODY_EXCERPT = 120
"""Characters of a response body quoted in an error (masked), to show what the API said."""
FIELD_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "integer": pl.Int64(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
}
INT64_RANGE = (-(2**63), 2**63 - 1)

# httpx logs every request's URL at INFO, an API key sent as a query parameter with it: never shown.
logging.getLogger("httpx").setLevel(logging.WARNING)


# --- options ---------------------------------------------------------------------------------------


class BearerAuth(ConnectorOptions):
    """`Authorization: Bearer <token>`."""

    type: Literal["bearer"]
    token_env: str
    """The environment variable holding the token."""


class BasicAuth(ConnectorOptions):
    """HTTP basic auth."""

    type: Literal["basic"]
    username: str
    """The user name (not a secret)."""
    password_env: str
    """The environment variable holding the password."""


class ApiKeyAuth(ConnectorOptions):
    """An API key sent as a header (`header`, default X-API-Key) or as a query parameter (`param`)."""

    type: Literal["api_key"]
    key_env: str
    """The environment variable holding the key."""
    header: str | None = None
    """The header carrying the key; default X-API-Key."""
    param: str | None = None
    """The query parameter carrying the key instead of a header."""

    @model_validator(mode="after")
    def header_or_param(self) -> ApiKeyAuth:
        if self.header is not None and self.param is not None:
            raise ValueError("give header or param, not both")
        return self


class NoPaging(ConnectorOptions):
    """One request: the API answers with every record at once."""

    type: Literal["none"] = "none"


class PageNumberPaging(ConnectorOptions):
    """`?page=1`, `?page=2`, ... until a page without records or the last of `total_pages_path`."""

    type: Literal["page_number"]
    page_param: str = "page"
    """The parameter naming the page."""
    first_page: int = 1
    """The first page's number (0 or 1)."""
    size_param: str | None = "per_page"
    """The parameter asking for `page_size` records a page; null: the API's own page size."""
    page_size: int = Field(default=100, gt=0)
    """Records a page asked for."""
    total_pages_path: str | None = None
    """Where the body says how many pages there are (`meta.total_pages`), saving the last request."""


class OffsetPaging(ConnectorOptions):
    """`?offset=0&limit=100`, then offset by the records read, until a page without records or `total_path`."""

    type: Literal["offset"]
    offset_param: str = "offset"
    """The parameter naming the first record of a page (from 0)."""
    limit_param: str = "limit"
    """The parameter asking for `limit` records a page."""
    limit: int = Field(default=100, gt=0)
    """Records a page asked for."""
    total_path: str | None = None
    """Where the body says how many records there are in all (`meta.total`)."""


class CursorPaging(ConnectorOptions):
    """The body names the next page's cursor (`cursor_path`), sent back as `cursor_param`; no cursor: done."""

    type: Literal["cursor"]
    cursor_path: str
    """Dot path to the next page's cursor in the body (`meta.next_cursor`)."""
    cursor_param: str = "cursor"
    """The parameter the cursor is sent back in."""
    has_more_path: str | None = None
    """Dot path to a flag saying more pages follow (`has_more`); false: done, whatever the cursor."""


class NextUrlPaging(ConnectorOptions):
    """The body holds the next page's URL (`next_url_path`, relative or absolute); none: done."""

    type: Literal["next_url"]
    next_url_path: str
    """Dot path to the next page's URL in the body (`links.next`)."""


class LinkHeaderPaging(ConnectorOptions):
    """The `Link: <...>; rel="next"` header names the next page (GitHub-style APIs); none: done."""

    type: Literal["link_header"]


Auth = Annotated[BearerAuth | BasicAuth | ApiKeyAuth, Field(discriminator="type")]
PAGING_STYLES = ("none", "page_number", "offset", "cursor", "next_url", "link_header")
Paging = Annotated[
    NoPaging | PageNumberPaging | OffsetPaging | CursorPaging | NextUrlPaging | LinkHeaderPaging,
    Field(discriminator="type"),
]


class Incremental(ConnectorOptions):
    """Ask the API for a dated extract's window only: `start_param` gets the first day to read and
    `end_param` (when the API has one) the day after the last, both with one day of slack for time
    zones, formatted with `format` (strftime; default ISO date).

    The parameter should select records by the field mapped to the entity's date (`booked_on`). An
    updated-since parameter works too, with `lookback_days`: the window's records are then those
    changed on or after `lookback_days` before its first day, so a record entered (or last changed)
    more than `lookback_days` before the day it is dated on is not read. The mapping cuts the window
    after parsing the dates either way."""

    start_param: str
    """The parameter taking the first day to read (`updated_since`, `created[gte]`)."""
    end_param: str | None = None
    """The parameter taking the end of the days to read, if the API has one: the day after the last
    (exclusive, `created[lt]`), or the last day itself with `end_inclusive: true` (`opened_to`)."""
    end_inclusive: bool = False
    """The API's end parameter includes its day: send the last day to read, not the day after it."""
    format: str = "%Y-%m-%d"
    """strftime format of the days sent (`%Y-%m-%dT00:00:00Z` for a timestamp)."""
    lookback_days: int = Field(default=0, ge=0)
    """Days read before the window's first (besides the one of slack): see above."""


class HttpOptions(ConnectorOptions):
    """The `http` connector's options; a credential in `url`, `params` or `headers` is a config error."""

    url: str
    """The endpoint, http(s)://host/path; fixed query parameters go in `params`."""
    params: dict[str, str | int | float | bool] = {}
    """Query parameters sent with the first request (and every page that is not a URL from the API)."""
    headers: dict[str, str] = {}
    """Extra request headers (not credentials: those go in `auth`)."""
    auth: Auth | None = None
    """{type: bearer, token_env}, {type: basic, username, password_env} or {type: api_key, key_env, header|param}."""
    records_path: str | None = None
    """Dot path to the list of records in each page (`data`, `result.items`); null: the page is the list."""
    pagination: Paging = NoPaging()
    """none, page_number, offset, cursor, next_url or link_header (a name, or a mapping with `type`)."""
    incremental: Incremental | None = None
    """Query parameters that select a dated extract's window at the API (see `Incremental`)."""
    fields: dict[str, Literal["string", "integer", "number", "boolean"]] | None = None
    """The record fields to deliver (flattened names) and their JSON types; null: every field, typed by its values."""
    timeout_seconds: float = Field(default=30.0, gt=0)
    """Per request: connecting, and waiting for each part of the answer."""
    max_attempts: int = Field(default=5, ge=1)
    """Tries per request when it times out, cannot connect, or gets a 429 or 5xx."""
    backoff_seconds: float = Field(default=1.0, ge=0)
    """The first wait before trying again; doubled each time, with jitter."""
    max_wait_seconds: float = Field(default=60.0, gt=0)
    """The longest wait between tries, a Retry-After included."""
    requests_per_second: float | None = Field(default=None, gt=0)
    """At most this many requests a second; null: no bound."""
    max_pages: int = Field(default=10_000, gt=0)
    """More pages than this is an error (an API whose pagination never ends)."""

    @field_validator("pagination", mode="before")
    @classmethod
    def pagination_by_name(cls, value: Any) -> Any:
        value = {"type": value} if isinstance(value, str) else value
        kind = value.get("type") if isinstance(value, dict) else None
        if isinstance(value, dict) and kind not in PAGING_STYLES:
            raise ValueError(
                f"unknown pagination {kind!r}; expected one of: {', '.join(PAGING_STYLES)} (a name, or a "
                "mapping with type)"
            )
        return value

    @field_validator("url")
    @classmethod
    def url_is_http(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"expected an http(s) URL like https://api.example.com/v1/invoices, got {url!r}")
        if "@" in parts.netloc:
            raise ValueError("url holds credentials: remove them and use auth, naming environment variables")
        if parts.query:
            raise ValueError("url holds a query: put its parameters in params")
        return url

    @field_validator("params", "headers")
    @classmethod
    def no_credentials(cls, values: dict[str, Any]) -> dict[str, Any]:
        secret = [name for name in values if SECRET_NAME.search(name)]
        if secret:
            raise ValueError(
                f"{', '.join(secret)} looks like a credential: use auth, naming the environment variable holding it"
            )
        return values


# --- the connector ---------------------------------------------------------------------------------


class _TryAgain(Exception):
    """A request that may succeed when tried again (after `retry_after` seconds when the API said)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class HttpConnector(Connector):
    """Reads every page of a JSON API endpoint into one frame (see the module's docstring).

    Frame out: one row per record, in the API's order; columns as `fields` declares (String, Int64,
    Float64, Boolean), else the records' flattened fields typed by their values; plus the bad-record
    columns when `fields` is declared and a record does not fit it.

    Raises SourceError naming the source, the page and the URL (no query, no secret): transient for a
    timeout, a connection failure, a 429 or a 5xx still failing after `max_attempts` tries; at once for
    refused credentials, another HTTP error, a body that is not JSON, records that are not a list of
    objects, a page already read, or more than `max_pages` pages."""

    name = "http"
    description = (
        "A JSON API: page-number, offset, cursor, next-URL or Link-header pages; bearer, basic or API-key "
        "auth from environment variables; retries with backoff; incremental by a query parameter."
    )
    Options = HttpOptions
    options: HttpOptions
    _secret: str | None = None
    """The credential of the extract under way (`secret`), masked in every message."""
    _next_request_at = 0.0
    """time.monotonic() before which the next request waits (`requests_per_second`)."""

    def declared_schema(self) -> dict[str, pl.DataType] | None:
        if self.options.fields is None:
            return None
        return {name: FIELD_TYPES[kind] for name, kind in self.options.fields.items()}

    def extract(self, window: ExtractWindow | None, source_date_column: str | None) -> Iterator[pl.DataFrame]:
        import httpx

        params: dict[str, Any] = dict(self.options.params)
        incremental = self.options.incremental
        if incremental is not None and window is not None:
            first_day, after_last = window.source_bounds()
            first = datetime.combine(first_day - timedelta(days=incremental.lookback_days), dt_time())
            end = datetime.combine(after_last, dt_time())
            if incremental.end_inclusive:  # the last second of the last day: its date in a date format
                end -= timedelta(seconds=1)
            params[incremental.start_param] = first.strftime(incremental.format)
            if incremental.end_param is not None:
                params[incremental.end_param] = end.strftime(incremental.format)
            self.window_pushed_down = True
            self.window_note = (
                f"asked the API for {incremental.start_param}={params[incremental.start_param]}"
                + (
                    f", {incremental.end_param}={params[incremental.end_param]}"
                    if incremental.end_param
                    else ""
                )
            )
        else:
            self.window_pushed_down = False
            self.window_note = (
                "read every record; the mapping cuts the window" if window is not None else None
            )
        self._secret = self.secret()
        self._next_request_at = 0.0
        with httpx.Client(
            timeout=self.options.timeout_seconds,
            headers={"Accept": "application/json", **self.options.headers},
            follow_redirects=False,  # followed by `get`, on the API's own origin only
        ) as client:
            records = [record for page in self.pages(client, params) for record in page]
        yield self.frame(records)

    # --- credentials ---

    def secret(self) -> str | None:
        """The credential's value (None without auth); a variable not set, empty or holding a line
        break is a SourceError naming it."""
        name = self.credential_variable()
        if name is None:
            return None
        if name not in os.environ:
            raise SourceError(f"source {self.source_name!r}: environment variable {name!r} is not set")
        value = os.environ[name]
        if not value.strip() or any(character in value for character in "\r\n"):
            problem = (
                "is empty" if not value.strip() else "holds a line break (a secret file's last newline?)"
            )
            raise SourceError(
                f"source {self.source_name!r}: the value of environment variable {name!r} {problem}"
            )
        return value

    def credential_variable(self) -> str | None:
        """The name of the environment variable holding the credential (not a secret)."""
        auth = self.options.auth
        if auth is None:
            return None
        return str(
            getattr(auth, {"bearer": "token_env", "basic": "password_env", "api_key": "key_env"}[auth.type])
        )

    def credentials(self) -> tuple[dict[str, str], dict[str, str]]:
        """The headers and query parameters carrying the credential (`secret`), for every request."""
        auth, secret = self.options.auth, self._secret
        if isinstance(auth, BearerAuth):
            return {"Authorization": f"Bearer {secret}"}, {}
        if isinstance(auth, BasicAuth):
            pair = base64.b64encode(f"{auth.username}:{secret}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}, {}
        if isinstance(auth, ApiKeyAuth) and secret is not None:
            return ({}, {auth.param: secret}) if auth.param else ({auth.header or "X-API-Key": secret}, {})
        return {}, {}

    def masked(self, text: str) -> str:
        """`text` with every secret masked, as written or as a URL or JSON would escape it."""
        secret = self._secret
        if secret:
            escaped = json.dumps(secret)[1:-1]
            for form in {
                secret,
                quote(secret, safe=""),
                quote_plus(secret),
                escaped,
                escaped.replace("/", "\\/"),
            }:
                text = text.replace(form, MASK)
        return text

    # --- pages ---

    def pages(self, client: Any, params: dict[str, Any]) -> Iterator[list[dict]]:
        """Each page's records, following the pagination until it ends."""
        paging = self.options.pagination
        url: str = self.options.url
        query: dict[str, Any] | None = dict(params)
        if isinstance(paging, PageNumberPaging):
            query = {**params, paging.page_param: paging.first_page}
            if paging.size_param:
                query[paging.size_param] = paging.page_size
        elif isinstance(paging, OffsetPaging):
            query = {**params, paging.offset_param: 0, paging.limit_param: paging.limit}
        headers, auth_params = self.credentials()
        requested: set[str] = set()
        previous_digest: str | None = None
        read = 0
        for number in range(1, self.options.max_pages + 1):
            request_key = url + "?" + json.dumps(sorted((query or {}).items()), default=str)
            if request_key in requested:
                raise SourceError(
                    f"{self.where(number)}: the API's pagination points back to a page already read "
                    f"({self.page_label(paging, query)}): stopped instead of reading it again"
                )
            requested.add(request_key)
            # (httpx merges these with a next-page URL's own query)
            response = self.get(client, url, {**(query or {}), **auth_params} or None, headers, number)
            body = self.json_body(response, number)
            records = self.records(body, number)
            digest = (
                hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest() if records else None
            )
            if digest is not None and digest == previous_digest:
                raise SourceError(
                    f"{self.where(number)}: page {number} holds the same records as page {number - 1} "
                    f"({self.page_label(paging, query)}): the API does not page as configured; stopped"
                )
            previous_digest = digest
            read += len(records)
            yield records
            next_page = self.next_page(paging, body, response, url, query, records, number, read)
            if next_page is None:
                return
            url, query = next_page
        raise SourceError(
            f"{self.where(self.options.max_pages)}: more than {self.options.max_pages} pages (max_pages): "
            "the API's pagination does not end"
        )

    def next_page(
        self,
        paging: Any,
        body: Any,
        response: Any,
        url: str,
        query: dict[str, Any] | None,
        records: list[dict],
        number: int,
        read: int,
    ) -> tuple[str, dict[str, Any] | None] | None:
        """The next request's URL and query, or None when the last page was read."""
        assert query is not None or isinstance(paging, NextUrlPaging | LinkHeaderPaging)
        if isinstance(paging, PageNumberPaging):
            assert query is not None
            page = query[paging.page_param]
            total = self.number_at(body, paging.total_pages_path, number)
            short = f"{paging.page_param}={page} is empty, but the API said there are {total} pages"
            if self.pages_end(records, page - paging.first_page + 1, total, number, short):
                return None
            return url, {**query, paging.page_param: page + 1}
        if isinstance(paging, OffsetPaging):
            assert query is not None
            total = self.number_at(body, paging.total_path, number)
            short = f"the pages ended after {read} records, but the API said there are {total}"
            if self.pages_end(records, read, total, number, short):
                return None
            return url, {**query, paging.offset_param: query[paging.offset_param] + len(records)}
        if isinstance(paging, CursorPaging):
            assert query is not None
            cursor = value_at(body, paging.cursor_path)
            if cursor in (None, "") or (
                paging.has_more_path and value_at(body, paging.has_more_path) is False
            ):
                return None
            return url, {**query, paging.cursor_param: cursor}
        if isinstance(paging, NoPaging):
            if any("next" in str(link.get("rel", "")).lower().split() for link in response.links.values()):
                raise SourceError(
                    f"{self.where(number)}: the API's Link header names a next page, but the source reads one "
                    "page (pagination: none): set pagination: link_header, or the other records are not read"
                )
            return None
        if isinstance(paging, NextUrlPaging | LinkHeaderPaging):
            if isinstance(paging, NextUrlPaging):
                target = value_at(body, paging.next_url_path)
            else:  # rel holds space-separated relation types, compared without case (RFC 8288)
                target = next(
                    (
                        link.get("url")
                        for link in response.links.values()
                        if "next" in str(link.get("rel", "")).lower().split()
                    ),
                    None,
                )
            if target in (None, ""):
                return None
            if not isinstance(target, str):
                raise SourceError(f"{self.where(number)}: the next page's URL is not text: {sample(target)}")
            try:
                joined = urljoin(url, target)
            except ValueError:
                raise SourceError(
                    f"{self.where(number)}: the next page's address is not an http(s) URL"
                ) from None
            return self.same_api(joined, number), None
        return None

    def same_api(self, target: str, number: int) -> str:
        """`target`, a next page's URL or a redirect's, when it is an http(s) URL that may be asked:
        one on another origin than `url` is refused when the source sends credentials (they would go
        to that host). Raises SourceError (naming the host, never the URL)."""
        try:
            parts = urlsplit(target)
            elsewhere = origin(target) != origin(self.options.url)
        except ValueError:  # a port out of range, a bracketed host that is not an address
            elsewhere, parts = True, urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SourceError(f"{self.where(number)}: the next page's address is not an http(s) URL")
        if self.options.auth is not None and elsewhere:
            raise SourceError(
                f"{self.where(number)}: the API sends the next page to another host ({parts.hostname}); the "
                "credentials are not sent there"
            )
        return target

    def pages_end(self, records: list[dict], done: int, total: int | None, number: int, short: str) -> bool:
        """Whether the last page was read: it had no records, or `done` (pages or records read)
        reached the `total` the API gave. Raises SourceError (transient: `short`) for a page without
        records before that total, rather than return part of the records."""
        if not records and total is not None and done < total:
            raise SourceError(
                f"{self.where(number)}: {short}: stopped rather than return part of the records",
                transient=True,
            )
        return not records or (total is not None and done >= total)

    def number_at(self, body: Any, path: str | None, number: int) -> int | None:
        if path is None:
            return None
        value = value_at(body, path)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise SourceError(f"{self.where(number)}: {path} is not a whole number: {sample(value)}")
        return value

    @staticmethod
    def page_label(paging: Any, query: dict[str, Any] | None) -> str:
        if isinstance(paging, PageNumberPaging) and query:
            return f"{paging.page_param}={query[paging.page_param]}"
        if isinstance(paging, OffsetPaging) and query:
            return f"{paging.offset_param}={query[paging.offset_param]}"
        if isinstance(paging, CursorPaging) and query and paging.cursor_param in query:
            return f"{paging.cursor_param}={sample(query[paging.cursor_param])}"
        return "a next-page link"

    def where(self, number: int) -> str:
        parts = urlsplit(self.options.url)
        return f"source {self.source_name!r}: GET {urlunsplit((parts.scheme, parts.netloc, parts.path, '', ''))} page {number}"

    # --- one request ---

    def get(
        self, client: Any, url: str, query: dict[str, Any] | None, headers: dict[str, str], number: int
    ) -> Any:
        """The response to GET url (retried as the module's docstring says), 2xx only."""
        import httpx
        import tenacity

        options = self.options

        def once() -> httpx.Response:
            self.throttle()
            try:
                response = client.get(url, params=query, headers=headers)
                for _ in range(MAX_REDIRECTS):  # followed on the API's own origin only
                    if response.next_request is None:
                        break
                    self.same_api(str(response.next_request.url), number)
                    response = client.send(response.next_request)
            except httpx.TimeoutException:
                raise _TryAgain(f"no answer within {options.timeout_seconds:g} s") from None
            except httpx.TransportError as error:
                raise _TryAgain(f"could not connect ({type(error).__name__})") from None
            if response.status_code == 429 or response.status_code >= 500:
                raise _TryAgain(f"HTTP {response.status_code}", retry_after(response))
            return response

        backoff = tenacity.wait_exponential_jitter(
            initial=options.backoff_seconds, max=options.max_wait_seconds, jitter=options.backoff_seconds
        )

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            after = error.retry_after if isinstance(error, _TryAgain) else None
            return min(max(backoff(state), after or 0.0), options.max_wait_seconds)

        try:
            response = tenacity.Retrying(
                stop=tenacity.stop_after_attempt(options.max_attempts),
                wait=wait,
                retry=tenacity.retry_if_exception_type(_TryAgain),
                reraise=True,
            )(once)
        except _TryAgain as error:
            raise SourceError(
                f"{self.where(number)}: {error} (after {options.max_attempts} tries)", transient=True
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, UnicodeError) as error:
            # (its message may quote the URL, with a key in its query)
            raise SourceError(f"{self.where(number)}: the request failed ({type(error).__name__})") from None
        if response.status_code in (401, 403):
            auth = options.auth
            hint = (
                f": check the {auth.type} credentials in the environment variable {self.credential_variable()!r}"
                if auth
                else ": the source sends none"
            )
            raise SourceError(
                f"{self.where(number)}: HTTP {response.status_code}, the API refused the credentials{hint}"
            )
        if response.status_code >= 400:
            raise SourceError(
                f"{self.where(number)}: HTTP {response.status_code}: {self.excerpt(response.text)}"
            )
        return response

    def throttle(self) -> None:
        """Sleep until the next request keeps to `requests_per_second`."""
        if self.options.requests_per_second is None:
            return
        now = time.monotonic()
        if self._next_request_at > now:
            time.sleep(self._next_request_at - now)
            now = self._next_request_at
        self._next_request_at = now + 1.0 / self.options.requests_per_second

    def excerpt(self, text: str) -> str:
        text = self.masked(" ".join(text.split()))
        return repr(text if len(text) <= BODY_EXCERPT else text[: BODY_EXCERPT - 3] + "...")

    def json_body(self, response: Any, number: int) -> Any:
        try:
            return json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            reason = (
                f"line {error.lineno} column {error.colno}: {error.msg}"
                if isinstance(error, json.JSONDecodeError)
                else "not UTF-8"
            )
            raise SourceError(
                f"{self.where(number)}: the answer is not JSON ({reason}); it begins {self.excerpt(response.text)}"
            ) from None

    def records(self, body: Any, number: int) -> list[dict]:
        path = self.options.records_path
        records = value_at(body, path) if path else body
        if path and isinstance(body, list):
            raise SourceError(
                f"{self.where(number)}: the page is itself a list of records, not an object holding one at "
                f"{path}: remove records_path"
            )
        if not isinstance(records, list):
            found = type(records).__name__ if records is not None else "nothing"
            keys = f" (its keys: {', '.join(map(str, body))})" if isinstance(body, dict) else ""
            raise SourceError(
                f"{self.where(number)}: expected a list of records at {path or 'the top of the page'}, found "
                f"{found}{keys}; set records_path"
            )
        bad = next((record for record in records if not isinstance(record, dict)), None)
        if bad is not None:
            raise SourceError(f"{self.where(number)}: a record is not a JSON object: {sample(bad)}")
        return records

    # --- records to a frame ---

    def frame(self, records: list[dict]) -> pl.DataFrame:
        """The records as one frame (see `frame_of`), with the declared schema when there is one."""
        return frame_of(records, self.declared_schema())


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port: where credentials may be sent."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def value_at(body: Any, path: str | None) -> Any:
    """The value at dot path `path` in a JSON body (`meta.next`), None when any step is missing."""
    value = body
    for step in (path or "").split(".") if path else []:
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


@dataclass
class Flat:
    """One record flattened: its fields by flattened name, the names that held objects, and what made
    it unreadable as a row (two fields flattened to one name), if anything."""

    values: dict[str, Any] = field(default_factory=dict)
    objects: set[str] = field(default_factory=set)
    problem: str | None = None


def flatten(record: dict, prefix: str = "", flat: Flat | None = None) -> Flat:
    """A record's nested objects as `parent__child` fields, a list as its JSON text. A name reached
    twice (a key `a__b` beside an object `a` holding `b`) is a problem, not an overwrite."""
    flat = flat if flat is not None else Flat()
    for key, value in record.items():
        name = f"{prefix}{key}"
        if name in flat.values or name in flat.objects:
            flat.problem = flat.problem or f"field {name!r} is both a field and the field of a nested object"
            continue
        if isinstance(value, dict):
            flat.objects.add(name)
            flatten(value, name + FIELD_SEPARATOR, flat)
        else:
            flat.values[name] = json.dumps(value, ensure_ascii=False) if isinstance(value, list) else value
    return flat


def frame_of(records: list[dict], declared: dict[str, pl.DataType] | None) -> pl.DataFrame:
    """Records as a frame: the declared columns, or without a declaration every flattened field typed
    by its values (`typed_column`). A record that cannot be read as a row is a bad record, its columns
    null, its rule and raw JSON in the protocol columns: two fields flattened to one name; with a
    declaration, a value that does not fit its column's type, or an object where a value is declared
    (or the reverse); without, a field that is an object in some records and a value in others."""
    flats = [flatten(record) for record in records]
    if declared is not None:
        problems = [flat.problem or declared_problem(flat, declared) for flat in flats]
        names = list(declared)
    else:
        valued = {name for flat in flats for name, value in flat.values.items() if value is not None}
        both = valued & {name for flat in flats for name in flat.objects}
        problems = [flat.problem or shape_problem(flat, both) for flat in flats]
        names = list(dict.fromkeys(name for flat in flats for name in flat.values))
    columns = {
        name: [
            None if problem else flat.values.get(name) for flat, problem in zip(flats, problems, strict=True)
        ]
        for name in names
    }
    if declared is not None:
        frame = pl.DataFrame(
            [pl.Series(name, values, dtype=declared[name], strict=False) for name, values in columns.items()],
            schema=declared,
        )
    else:
        frame = pl.DataFrame([typed_column(name, values) for name, values in columns.items()])
    if not any(problems):
        return frame
    raw = [
        json.dumps(record, ensure_ascii=False) if problem else None
        for record, problem in zip(records, problems, strict=True)
    ]
    return frame.with_columns(
        pl.Series(RECORD_PROBLEM_COLUMN, problems, dtype=pl.String()),
        pl.Series(RAW_RECORD_COLUMN, raw, dtype=pl.String()),
    )


def declared_problem(flat: Flat, declared: dict[str, pl.DataType]) -> str | None:
    """Why a flattened record does not fit the declared columns, or None."""
    for name, kind in declared.items():
        article = "an" if kind == pl.Int64() else "a"
        if name in flat.objects:
            return f"field {name!r} is an object, not {article} {kind_name(kind)}"
        parts = name.split(FIELD_SEPARATOR)
        for end in range(1, len(parts)):
            parent = FIELD_SEPARATOR.join(parts[:end])
            if flat.values.get(parent) is not None:
                return f"field {parent!r} is a value, not an object holding {name!r}: {sample(flat.values[parent])}"
        if not fits(flat.values.get(name), kind):
            return f"field {name!r} is not {article} {kind_name(kind)}: {sample(flat.values[name])}"
    return None


def shape_problem(flat: Flat, both: set[str]) -> str | None:
    """Why a record's field cannot be read when other records of the extract hold it in another
    shape (an object in some, a value in others: which one a mapping means is not ours to guess)."""
    for name in sorted(both):
        if name in flat.objects or flat.values.get(name) is not None:
            return f"field {name!r} is an object in some records and a value in others"
    return None


def typed_column(name: str, values: list[Any]) -> pl.Series:
    """The values as a Series of the one type they have (String when all are null): integers mixed
    with floats become floats when no digit is lost; otherwise mixed types, or integers beyond Int64,
    become the values' exact texts."""
    present = [value for value in values if value is not None]
    if not present:
        return pl.Series(name, values, dtype=pl.String())
    kinds = {type(value) for value in present}
    if kinds == {int, float} and all(abs(v) <= EXACT_FLOAT_INTEGER for v in present if isinstance(v, int)):
        return pl.Series(name, [None if v is None else float(v) for v in values], dtype=pl.Float64())
    beyond = kinds == {int} and any(not INT64_RANGE[0] <= v <= INT64_RANGE[1] for v in present)
    if len(kinds) > 1 or beyond:
        return pl.Series(name, [None if v is None else exact_text(v) for v in values], dtype=pl.String())
    return pl.Series(name, values, strict=True)


def fits(value: Any, kind: pl.DataType) -> bool:
    """A JSON value can be held by a column of `kind` without loss (null always can)."""
    if value is None:
        return True
    if isinstance(kind, pl.String):
        return isinstance(value, str)
    if isinstance(kind, pl.Boolean):
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if isinstance(kind, pl.Int64):
        return isinstance(value, int) and INT64_RANGE[0] <= value <= INT64_RANGE[1]
    return isinstance(value, float) or (isinstance(value, int) and abs(value) <= EXACT_FLOAT_INTEGER)


def kind_name(kind: pl.DataType) -> str:
    return next(name for name, dtype in FIELD_TYPES.items() if dtype == kind)


def retry_after(response: Any) -> float | None:
    """Seconds the response's Retry-After asks to wait (a number of seconds or an HTTP date)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
