"""A local stand-in for the Example CRM's deals API, to try the `crm` connector without an account.

    python fake_crm.py --port 8765          # token: $CRM_TOKEN, else demo-token

It serves `GET /api/v2/deals` as `kpi_crm/connector.py` describes: deals closed from 2026-03-01 to
2026-05-31 (two or three a day, one of them in USD on each 10th), filtered by status, closed_since and
closed_before, 25 a page. Only the standard library: copy it, change it, use it in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

FIRST_DAY, LAST_DAY = date(2026, 3, 1), date(2026, 5, 31)
PER_PAGE = 25
STATUSES = ("won", "won", "lost", "open")


def all_deals() -> list[dict]:
    """Every deal the API holds, the same each time."""
    deals, number, day = [], 100, FIRST_DAY
    while day <= LAST_DAY:
        for hour in range(2 + day.day % 2):
            number += 1
            deals.append(
                {
                    "id": number,
                    "title": f"Deal {number}",
                    "status": STATUSES[number % len(STATUSES)],
                    "closed_at": f"{day.isoformat()}T{9 + 3 * hour:02d}:30:00Z",
                    "value": {
                        "amount": f"{(number * 37) % 2000 + 150}.{number % 100:02d}",
                        "currency": "USD" if day.day == 10 and hour == 0 else "EUR",
                    },
                    "account": {"id": f"ACC-{number % 17:03d}", "name": f"Account {number % 17}"},
                }
            )
        day += timedelta(days=1)
    return deals


def answer(path: str, query: dict[str, str], authorization: str | None, token: str) -> tuple[int, dict]:
    """The API's status and body for one GET."""
    if path.rstrip("/") != "/api/v2/deals":
        return 404, {"error": "not found"}
    if authorization != f"Bearer {token}":
        return 401, {"error": "invalid or missing token"}
    deals = [deal for deal in all_deals() if deal["status"] == query.get("status", "won")]
    if "closed_since" in query:
        deals = [deal for deal in deals if deal["closed_at"][:10] >= query["closed_since"]]
    if "closed_before" in query:
        deals = [deal for deal in deals if deal["closed_at"][:10] < query["closed_before"]]
    page, size = int(query.get("page", "1")), min(int(query.get("per_page", PER_PAGE)), PER_PAGE)
    pages = max((len(deals) + size - 1) // size, 1)
    return 200, {
        "deals": deals[(page - 1) * size : page * size],
        "pagination": {"page": page, "total_pages": pages},
    }


def serve(port: int = 0, token: str | None = None) -> ThreadingHTTPServer:
    """Start the API on 127.0.0.1:`port` (0: any free port) in a thread; `server.server_address` says where."""
    token = token or os.environ.get("CRM_TOKEN", "demo-token")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            status, body = answer(
                parts.path, dict(parse_qsl(parts.query)), self.headers.get("Authorization"), token
            )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    server = serve(parser.parse_args().port)
    print(f"Example CRM API on http://127.0.0.1:{server.server_address[1]}/api/v2/deals (Ctrl-C stops it)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
