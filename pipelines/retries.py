"""How steps retry: a transient error (a dropped connection, a warehouse restarting) is tried again
with exponential backoff and jitter; a failed check (`dg.Failure(allow_retries=False)`) never is."""

from __future__ import annotations

import dagster as dg

TRANSIENT_RETRY = dg.RetryPolicy(
    max_retries=2, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
